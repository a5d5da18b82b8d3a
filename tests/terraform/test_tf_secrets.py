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


def test_the_secrets_two_always_four_optional(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    secrets = tf["locals"]["secrets"]
    assert {name: spec["enabled"] for name, spec in secrets.items()} == {
        "drift_verification_token": True,
        "drift_access_token": True,
        "crm_api_token": "var.enable_crm_api_token",
        "crm_signing_secret": "var.enable_crm_signing_secret",
        "crm_oauth_client_secret": "var.enable_crm_oauth_client_secret",
        "crm_oauth_refresh_token": "var.enable_crm_oauth_refresh_token",
    }
    secret = resources["google_secret_manager_secret"]["this"]
    assert secret["for_each"] == "local.enabled_secrets"


def test_env_names_match_the_contract(tf: dict[str, Any]) -> None:
    envs = {name: spec["env"] for name, spec in tf["locals"]["secrets"].items()}
    assert envs == {
        "drift_verification_token": "DRIFT_VERIFICATION_TOKEN_SECRET",
        "drift_access_token": "DRIFT_ACCESS_TOKEN_SECRET",
        "crm_api_token": "CRM_API_TOKEN_SECRET",
        "crm_signing_secret": "CRM_SIGNING_SECRET_SECRET",
        "crm_oauth_client_secret": "CRM_OAUTH_CLIENT_SECRET_SECRET",
        "crm_oauth_refresh_token": "CRM_OAUTH_REFRESH_TOKEN_SECRET",
    }
    worker_optional = tf["locals"]["worker_optional_env"]
    for name, spec in tf["locals"]["secrets"].items():
        if spec["reader"] == "worker" and name != "drift_access_token":
            assert f'"{name}"' in worker_optional[spec["env"]], name


def test_the_oauth_secrets_are_readable_by_the_worker_only(tf: dict[str, Any]) -> None:
    secrets = tf["locals"]["secrets"]
    for name in ("crm_oauth_client_secret", "crm_oauth_refresh_token"):
        assert secrets[name]["reader"] == "worker"


def test_replication_can_stay_in_the_functions_region(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # GIVEN an organisation whose gcp.resourceLocations refuses global (automatic) replication
    assert tf["locals"]["secret_replica_locations"] == (
        'var.secret_replication == "user_managed" ? [var.region] : []'
    )
    # THEN user_managed puts the one replica in the region; automatic otherwise
    replication = resources["google_secret_manager_secret"]["this"]["replication"][0]
    dynamic = {name: body for item in replication["dynamic"] for name, body in item.items()}
    assert (
        dynamic["auto"]["for_each"] == "length(local.secret_replica_locations) == 0 ? [true] : []"
    )
    user = dynamic["user_managed"]
    assert user["for_each"] == "length(local.secret_replica_locations) == 0 ? [] : [true]"
    replicas = user["content"][0]["dynamic"][0]["replicas"]
    assert replicas["for_each"] == "local.secret_replica_locations"
    assert replicas["content"][0]["location"] == "replicas.value"


def test_readme_shows_how_to_add_the_values() -> None:
    readme = (ROOT / "terraform" / "README.md").read_text(encoding="utf-8")
    assert 'printf %s "$TOKEN" | gcloud secrets versions add' in readme
    assert "--data-file=-" in readme
