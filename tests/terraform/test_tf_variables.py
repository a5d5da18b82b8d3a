"""variables.tf: every input described, typed and, where a wrong value is possible, validated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import tfparse  # scripts/, put on sys.path by conftest.py

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]

# Inputs where a wrong value is possible: each must carry a validation block.
MUST_VALIDATE = {
    "alert_email",
    "bundle_dir",
    "crm_endpoint_url",
    "crm_mapping_file",
    "dead_letter_retention_days",
    "dead_letter_topic_name",
    "drift_api_base_url",
    "events_retention_days",
    "events_topic_name",
    "labels",
    "log_level",
    "max_delivery_attempts",
    "max_event_age_seconds",
    "name_prefix",
    "notification_channels",
    "project_id",
    "pubsub_kms_key_name",
    "region",
    "retry_maximum_backoff_seconds",
    "retry_minimum_backoff_seconds",
    "runtime",
    "webhook_concurrency",
    "webhook_max_instances",
    "webhook_memory_mb",
    "webhook_min_instances",
    "webhook_timeout_seconds",
    "worker_concurrency",
    "worker_extra_env",
    "worker_ingress_settings",
    "worker_max_instances",
    "worker_memory_mb",
    "worker_timeout_seconds",
}
REQUIRED = {"crm_endpoint_url", "project_id"}
SECRET_LIKE = re.compile(r"token|secret|password|credential|(?<!kms_)key(?!_name)", re.IGNORECASE)


@pytest.fixture(scope="module")
def variables(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return tf["variable"]


def test_every_variable_is_described_and_typed(variables: dict[str, dict[str, Any]]) -> None:
    # GIVEN every variable block WHEN read THEN each has a real description and a type
    for name, body in variables.items():
        assert len(body.get("description", "")) >= 20, f"{name}: description missing or too short"
        assert body.get("type"), f"{name}: type missing"


def test_variables_that_can_be_wrong_are_validated(variables: dict[str, dict[str, Any]]) -> None:
    missing = sorted(name for name in MUST_VALIDATE if not variables[name].get("validation"))
    assert not missing, f"variables without validation: {missing}"
    for name, body in variables.items():
        for rule in body.get("validation", []):
            assert f"var.{name}" in rule["condition"], f"{name}: validation must test var.{name}"
            assert rule["error_message"].endswith("."), f"{name}: error_message must be a sentence"


def test_only_bools_are_left_unvalidated(variables: dict[str, dict[str, Any]]) -> None:
    # A bool cannot hold a wrong value; anything else without validation is a review question.
    unvalidated = {n for n, b in variables.items() if not b.get("validation")}
    assert all(variables[n]["type"] == "bool" for n in unvalidated), unvalidated


def test_variables_are_sorted_alphabetically() -> None:
    # The merged dict loses file order, so read variables.tf alone.
    with (ROOT / "terraform" / "variables.tf").open(encoding="utf-8") as handle:
        names = [next(iter(block)).strip('"') for block in hcl2.load(handle)["variable"]]
    assert names == sorted(names)


def test_required_variables_have_no_default(variables: dict[str, dict[str, Any]]) -> None:
    assert {n for n, b in variables.items() if "default" not in b} == REQUIRED


def test_no_variable_carries_a_secret_value(variables: dict[str, dict[str, Any]]) -> None:
    # GIVEN secrets live in Secret Manager only
    # THEN a variable named like a secret may only switch one on (bool), never hold its value
    for name, body in variables.items():
        if SECRET_LIKE.search(name):
            assert body["type"] == "bool", (
                f"{name} looks like a secret value: make it a bool switch"
            )
        assert not body.get("sensitive"), f"{name}: a sensitive variable means a secret in state"


def test_limits_follow_pubsub_and_the_design(variables: dict[str, dict[str, Any]]) -> None:
    attempts = variables["max_delivery_attempts"]["validation"][0]["condition"]
    assert ">= 5" in attempts and "<= 100" in attempts
    assert "<= 600" in variables["worker_timeout_seconds"]["validation"][0]["condition"]
    for name in ("retry_minimum_backoff_seconds", "retry_maximum_backoff_seconds"):
        assert "<= 600" in variables[name]["validation"][0]["condition"]
    assert variables["runtime"]["default"] == "python312"
    assert variables["bundle_dir"]["default"] == "../dist"
    assert variables["drift_api_base_url"]["default"] == "https://driftapi.com"
    assert variables["worker_ingress_settings"]["default"] == "ALLOW_INTERNAL_ONLY"
    assert variables["alert_email"]["default"] is None


def test_tfvars_example_sets_known_variables_only(variables: dict[str, dict[str, Any]]) -> None:
    example = tfparse.load_file(ROOT / "terraform" / "terraform.tfvars.example")
    assert set(example) <= set(variables)
    assert set(example) >= REQUIRED, "the example must show every required variable"
    # Commented-out lines must name real variables too.
    text = (ROOT / "terraform" / "terraform.tfvars.example").read_text(encoding="utf-8")
    for name in re.findall(r"^#\s*([a-z_]+)\s+=", text, flags=re.MULTILINE):
        assert name in variables, f"terraform.tfvars.example mentions unknown variable {name}"
