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
    "alert_thresholds",
    "bundle_dir",
    "crm_base_url",
    "crm_endpoint_url",
    "crm_mapping_file",
    "crm_oauth_client_id",
    "crm_oauth_scope",
    "crm_oauth_token_url",
    "crm_recipe",
    "dead_letter_retention_days",
    "dead_letter_topic_name",
    "drift_api_base_url",
    "events_retention_days",
    "events_topic_name",
    "firestore_database",
    "gdpr_action",
    "labels",
    "ledger_collection_prefix",
    "ledger_retention_days",
    "log_level",
    "max_delivery_attempts",
    "max_event_age_seconds",
    "name_prefix",
    "notification_channels",
    "pipeline",
    "project_id",
    "pubsub_kms_key_name",
    "record_reuse_seconds",
    "region",
    "retry_maximum_backoff_seconds",
    "retry_minimum_backoff_seconds",
    "runtime",
    "secret_replication",
    "topic_retention_days",
    "webhook_access",
    "webhook_concurrency",
    "webhook_ingress_settings",
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
REQUIRED = {"project_id"}
SECRET_LIKE = re.compile(r"token|secret|password|credential|(?<!kms_)key(?!_name)", re.IGNORECASE)
# Named like a secret but holding none: where a secret is fetched, not the secret.
NOT_A_SECRET = re.compile(r"_(url|id|replication)$")
MODULE = ROOT / "terraform" / "modules" / "drift-bridge"
BUILTIN_RECIPES = ["webhook", "hubspot", "salesforce", "pipedrive", "zoho", "dynamics", "marketo"]


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
    with (MODULE / "variables.tf").open(encoding="utf-8") as handle:
        names = [next(iter(block)).strip('"') for block in hcl2.load(handle)["variable"]]
    assert names == sorted(names)


def test_required_variables_have_no_default(variables: dict[str, dict[str, Any]]) -> None:
    assert {n for n, b in variables.items() if "default" not in b} == REQUIRED


def test_no_variable_carries_a_secret_value(variables: dict[str, dict[str, Any]]) -> None:
    # GIVEN secrets live in Secret Manager only
    # THEN a variable named like a secret may only switch one on (bool), never hold its value
    for name, body in variables.items():
        if SECRET_LIKE.search(name) and not NOT_A_SECRET.search(name):
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
    assert variables["crm_recipe"]["default"] == "webhook"
    assert variables["ledger_collection_prefix"]["default"] == "ledger_"
    assert variables["firestore_database"]["default"] == "(default)"
    assert variables["webhook_access"]["default"] == "all_users"
    assert variables["secret_replication"]["default"] == "automatic"


def test_crm_recipe_accepts_the_built_ins_and_relative_yaml_paths(
    variables: dict[str, dict[str, Any]],
) -> None:
    condition = variables["crm_recipe"]["validation"][0]["condition"]
    for name in BUILTIN_RECIPES:
        assert f'"{name}"' in condition, name
    pattern = re.search(r'regex\("(.+?)", var\.crm_recipe\)', condition).group(1)
    pattern = pattern.encode().decode("unicode_escape")
    assert re.search(pattern, "examples/recipes/my-crm.yaml")
    assert not re.search(pattern, "/etc/passwd.yaml"), "absolute paths are refused"
    assert not re.search(pattern, "recipe.txt")
    assert '!strcontains(var.crm_recipe, "..")' in condition


def test_urls_must_be_https(variables: dict[str, dict[str, Any]]) -> None:
    for name in ("crm_base_url", "crm_endpoint_url", "crm_oauth_token_url"):
        condition = variables[name]["validation"][0]["condition"]
        pattern = re.search(r'regex\("(.+?)", var\.\w+\)', condition).group(1)
        pattern = pattern.encode().decode("unicode_escape")
        assert re.search(pattern, "https://api.example.com/path"), name
        assert not re.search(pattern, "http://api.example.com/"), name
        assert not re.search(pattern, "https://"), name


@pytest.mark.parametrize("name", ["terraform.tfvars.example", "deploy.auto.tfvars"])
def test_settings_files_name_known_variables_and_existing_files(
    variables: dict[str, dict[str, Any]], name: str
) -> None:
    path = ROOT / "terraform" / name
    settings = tfparse.load_file(path)
    assert set(settings) <= set(variables)
    assert set(settings) >= REQUIRED, f"{name} must show every required variable"
    text = path.read_text(encoding="utf-8")
    # Commented-out lines must name real variables too ...
    for found in re.findall(r"^# ?([a-z_]+)\s+=", text, flags=re.MULTILINE):
        assert found in variables, f"{name} mentions unknown variable {found}"
    # ... and every mapping or recipe file it names must exist (the old example named one
    # that did not, giving a worker that could not start).
    for found in re.findall(r'^#?\s*crm_(?:mapping_file|recipe)\s*=\s*"([^"]+)"', text, re.M):
        assert found in BUILTIN_RECIPES or (ROOT / found).is_file(), f"{name}: {found} is missing"
    for key, value in settings.items():
        assert not SECRET_LIKE.search(key) or isinstance(value, bool) or NOT_A_SECRET.search(key), (
            f"{name}: {key} looks like a secret value"
        )


def test_root_declares_every_module_variable_and_passes_it_on(
    variables: dict[str, dict[str, Any]], root: dict[str, Any]
) -> None:
    assert set(root["variable"]) == set(variables)
    for name, body in root["variable"].items():
        for key in ("description", "type", "default"):
            assert body.get(key) == variables[name].get(key), f"{name}.{key}"
    call = root["module"]["drift_bridge"]
    assert call["source"] == "./modules/drift-bridge"
    for name in variables:
        assert call[name] == f"var.{name}", name
