"""secrets.tf: the secrets exist, empty; no secret value can reach Terraform state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


def test_no_secret_version_resource_anywhere(resources: dict[str, dict[str, Any]]) -> None:
    assert "google_secret_manager_secret_version" not in resources
    assert "google_secret_manager_secret_version" not in {
        dtype for dtype in resources if dtype.startswith("data.")
    }


def test_no_secret_values_in_the_configuration(tf_sources: dict[str, str]) -> None:
    for name, text in tf_sources.items():
        assert not re.search(r"\bsecret_data\b", text), f"{name} writes a secret value"
        assert "google_secret_manager_secret_version" not in text, name
        assert not re.search(r"sensitive\s*=\s*true", text), f"{name} handles a secret value"


def test_no_data_source_reads_a_secret(tf: dict[str, Any]) -> None:
    assert not any("secret" in dtype for dtype in tf.get("data", {}))


def test_the_four_secrets_two_of_them_optional(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    secrets = tf["locals"]["secrets"]
    assert set(secrets) == {
        "drift_verification_token",
        "drift_access_token",
        "crm_api_token",
        "crm_signing_secret",
    }
    assert secrets["drift_verification_token"]["enabled"] is True
    assert secrets["drift_access_token"]["enabled"] is True
    assert secrets["crm_api_token"]["enabled"] == "var.enable_crm_api_token"
    assert secrets["crm_signing_secret"]["enabled"] == "var.enable_crm_signing_secret"
    secret = resources["google_secret_manager_secret"]["this"]
    assert secret["for_each"] == "local.enabled_secrets"
    assert secret["replication"][0]["auto"] == [{}]


def test_env_names_match_the_contract(tf: dict[str, Any]) -> None:
    envs = {name: spec["env"] for name, spec in tf["locals"]["secrets"].items()}
    assert envs == {
        "drift_verification_token": "DRIFT_VERIFICATION_TOKEN_SECRET",
        "drift_access_token": "DRIFT_ACCESS_TOKEN_SECRET",
        "crm_api_token": "CRM_API_TOKEN_SECRET",
        "crm_signing_secret": "CRM_SIGNING_SECRET_SECRET",
    }


def test_readme_shows_how_to_add_the_values() -> None:
    readme = (ROOT / "terraform" / "README.md").read_text(encoding="utf-8")
    assert 'printf %s "$TOKEN" | gcloud secrets versions add' in readme
    assert "--data-file=-" in readme
