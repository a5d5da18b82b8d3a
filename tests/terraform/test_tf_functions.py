"""functions.tf, bundle.tf, apis.tf: what gets deployed, from which bundle, with which settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.terraform

WEBHOOK_ENV = {
    "GOOGLE_CLOUD_PROJECT",
    "PUBSUB_TOPIC",
    "DRIFT_VERIFICATION_TOKEN_SECRET",
    "LOG_LEVEL",
}
WORKER_ENV = {
    "GOOGLE_CLOUD_PROJECT",
    "DEAD_LETTER_TOPIC",
    "DRIFT_ACCESS_TOKEN_SECRET",
    "DRIFT_API_BASE_URL",
    "CRM_RECIPE",
    "GDPR_ACTION",
    "LEDGER",
    "FIRESTORE_DATABASE",
    "LEDGER_COLLECTION_PREFIX",
    "LEDGER_RETENTION_DAYS",
    "RECORD_REUSE_SECONDS",
    "FUNCTION_TIMEOUT_SECONDS",
    "MAX_EVENT_AGE_SECONDS",
    "LOG_LEVEL",
}
WORKER_OPTIONAL_ENV = {
    "CRM_API_TOKEN_SECRET",
    "CRM_SIGNING_SECRET_SECRET",
    "CRM_OAUTH_CLIENT_SECRET_SECRET",
    "CRM_OAUTH_REFRESH_TOKEN_SECRET",
    "CRM_ENDPOINT_URL",
    "CRM_MAPPING_FILE",
    "CRM_BASE_URL",
    "CRM_OAUTH_TOKEN_URL",
    "CRM_OAUTH_CLIENT_ID",
    "CRM_OAUTH_SCOPE",
}
APIS = {
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
}


@pytest.fixture(scope="module")
def functions(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return resources["google_cloudfunctions2_function"]


def test_two_functions_with_their_entry_points(functions: dict[str, dict[str, Any]]) -> None:
    assert set(functions) == {"webhook", "worker"}
    for name, body in functions.items():
        build = body["build_config"][0]
        assert build["entry_point"] == name
        assert build["runtime"] == "var.runtime"
        assert build["docker_repository"] == "google_artifact_registry_repository.functions.id"


def test_each_function_deploys_its_hash_named_bundle(
    functions: dict[str, dict[str, Any]], resources: dict[str, dict[str, Any]], tf: dict[str, Any]
) -> None:
    bundle = resources["google_storage_bucket_object"]["bundle"]
    # GIVEN one object per bundle whose name is the zip's SHA-256
    assert bundle["for_each"] == "local.bundles"
    assert bundle["name"] == "${each.key}-${filesha256(each.value)}.zip"
    assert bundle["source"] == "each.value"
    assert tf["locals"]["bundles"] == {
        "webhook": "${var.bundle_dir}/webhook.zip",
        "worker": "${var.bundle_dir}/worker.zip",
    }
    # THEN each function builds from its own object in the source bucket
    for name, body in functions.items():
        storage = body["build_config"][0]["source"][0]["storage_source"][0]
        assert storage["bucket"] == "google_storage_bucket.sources.name"
        assert storage["object"] == f'google_storage_bucket_object.bundle["{name}"].name'


def test_source_bucket_is_private_uniform_and_versioned(
    resources: dict[str, dict[str, Any]],
) -> None:
    bucket = resources["google_storage_bucket"]["sources"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True


def test_ingress_of_both_functions_is_a_validated_variable(
    functions: dict[str, dict[str, Any]], tf: dict[str, Any]
) -> None:
    for name in ("webhook", "worker"):
        service = functions[name]["service_config"][0]
        assert service["ingress_settings"] == f"var.{name}_ingress_settings"
    variables = tf["variable"]
    assert variables["webhook_ingress_settings"]["default"] == "ALLOW_ALL"  # Drift is outside
    assert (
        "ALLOW_INTERNAL_ONLY"
        not in variables["webhook_ingress_settings"]["validation"][0]["condition"]
    ), "an internal-only webhook would shut Drift out"
    assert variables["worker_ingress_settings"]["default"] == "ALLOW_INTERNAL_ONLY"


def test_worker_is_fed_by_terraforms_push_subscription_not_eventarc(
    functions: dict[str, dict[str, Any]], resources: dict[str, dict[str, Any]]
) -> None:
    for body in functions.values():
        assert "event_trigger" not in body
    assert "google_eventarc_trigger" not in resources


def test_webhook_environment(tf: dict[str, Any], functions: dict[str, dict[str, Any]]) -> None:
    env = tf["locals"]["webhook_env"]
    assert set(env) == WEBHOOK_ENV
    assert env["PUBSUB_TOPIC"] == "google_pubsub_topic.events.name"
    assert env["DRIFT_VERIFICATION_TOKEN_SECRET"] == (
        'local.secret_versions["drift_verification_token"]'
    )
    service = functions["webhook"]["service_config"][0]
    assert service["environment_variables"] == "local.webhook_env"


def test_worker_environment(tf: dict[str, Any], functions: dict[str, dict[str, Any]]) -> None:
    # python-hcl2 7 renders the merge() as JSON ("KEY": "${ref}"), 8 as HCL (KEY = ref).
    worker_env = tf["locals"]["worker_env"]
    for name in WORKER_ENV:
        assert re.search(rf'\b{name}"?\s*[=:]', worker_env), f"worker lacks {name}"
    assert set(tf["locals"]["worker_optional_env"]) == WORKER_OPTIONAL_ENV
    # Optional settings are only set when switched on (no empty or null values).
    assert re.search(r"if v != (null|None)", worker_env)
    assert re.search(
        r'DEAD_LETTER_TOPIC"?\s*[=:]\s*"?(\$\{)?google_pubsub_topic\.dead_letter\.name', worker_env
    )
    # The ledger's settings come from the same inputs as the Terraform that provisions it.
    for name, source in (
        ("FIRESTORE_DATABASE", "google_firestore_database.ledger.name"),
        ("LEDGER_COLLECTION_PREFIX", "var.ledger_collection_prefix"),
        ("FUNCTION_TIMEOUT_SECONDS", "tostring(var.worker_timeout_seconds)"),
        ("CRM_RECIPE", "var.crm_recipe"),
    ):
        assert re.search(rf'{name}"?\s*[=:]\s*"?(\$\{{)?{re.escape(source)}', worker_env), name
    assert re.search(r'LEDGER"?\s*[=:]\s*"firestore"', worker_env)
    optional = tf["locals"]["worker_optional_env"]
    for name in ("BASE_URL", "OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_SCOPE"):
        assert optional[f"CRM_{name}"] == f"var.crm_{name.lower()}"
    service = functions["worker"]["service_config"][0]
    assert service["environment_variables"] == "local.worker_env"


def test_secrets_are_passed_as_full_version_resource_names(tf: dict[str, Any]) -> None:
    versions = tf["locals"]["secret_versions"]
    assert "projects/${var.project_id}/secrets/${v.secret_id}/versions/latest" in versions


def test_worker_concurrency_is_bounded_for_the_drift_rate_limit(
    tf: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    worker = functions["worker"]
    service = worker["service_config"][0]
    assert service["max_instance_count"] == "var.worker_max_instances"
    assert service["max_instance_request_concurrency"] == "var.worker_concurrency"
    assert tf["locals"]["worker_max_in_flight"] == (
        "var.worker_max_instances * var.worker_concurrency"
    )
    conditions = [p["condition"] for p in worker["lifecycle"][0]["precondition"]]
    assert "local.worker_max_in_flight <= 20" in conditions
    for name in ("worker_max_instances", "worker_concurrency"):
        assert tf["variable"][name]["validation"], name


def test_functions_wait_for_apis_and_build_permissions(
    functions: dict[str, dict[str, Any]], resources: dict[str, dict[str, Any]]
) -> None:
    for body in functions.values():
        assert "time_sleep.build_iam" in body["depends_on"]
    sleep = resources["time_sleep"]["build_iam"]
    assert "google_project_iam_member.build_log_writer" in sleep["depends_on"]
    assert resources["time_sleep"]["apis"]["depends_on"] == ["google_project_service.enabled"]


def test_apis_enabled_and_never_disabled_on_destroy(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    service = resources["google_project_service"]["enabled"]
    assert service["disable_on_destroy"] is False
    assert service["for_each"] == "local.services"
    for api in APIS:
        pattern = rf"(?<![\w.-]){re.escape(api)}(?![\w.-])"
        assert re.search(pattern, tf["locals"]["services"]), f"{api} is not enabled"


def test_start_up_inputs_are_checked_at_plan_time(functions: dict[str, dict[str, Any]]) -> None:
    # GIVEN settings the worker validates at start-up, minutes into an apply
    conditions = {
        p["condition"]: p["error_message"]
        for p in functions["worker"]["lifecycle"][0]["precondition"]
    }
    # THEN the plan already refuses a missing endpoint and files the bundle does not hold
    assert 'var.crm_recipe != "webhook" || var.crm_endpoint_url != null' in conditions
    assert "!local.recipe_is_file || contains(local.worker_bundle_files, var.crm_recipe)" in (
        conditions
    )
    assert any("crm_mapping_file" in c and "local.worker_bundle_files" in c for c in conditions)


def test_bundle_manifest_is_what_the_plan_checks_files_against(tf: dict[str, Any]) -> None:
    assert tf["locals"]["bundle_manifest"] == 'jsondecode(file("${var.bundle_dir}/manifest.json"))'
    assert tf["locals"]["worker_bundle_files"] == "toset(local.bundle_manifest.worker.files)"
    assert "manifest.json" in tf["variable"]["bundle_dir"]["validation"][0]["condition"]


def test_the_worker_waits_for_its_ledger(functions: dict[str, dict[str, Any]]) -> None:
    depends = functions["worker"]["depends_on"]
    assert "google_firestore_field.ledger_ttl" in depends
    assert "google_project_iam_member.worker_ledger" in depends


def test_provider_pins(root: dict[str, Any], tf: dict[str, Any]) -> None:
    # GIVEN the configuration was written and schema-checked against google 6.50
    blocks = [b for b in root["terraform"] if "required_providers" in b]
    assert len(blocks) == 1
    providers = blocks[0]["required_providers"][0]
    # THEN the root pins that release line for both google providers
    assert providers["google"]["version"] == "~> 6.50"
    assert providers["google-beta"]["version"] == "~> 6.50"
    backends = [b for b in root["terraform"] if "backend" in b]
    assert backends and "gcs" in backends[0]["backend"][0]
    # and the module accepts the same line, without pinning it
    module = next(b for b in tf["terraform"] if "required_providers" in b)
    assert module["required_providers"][0]["google"]["version"] == ">= 6.50.0, < 7.0.0"
    assert "backend" not in str(tf["terraform"]), "the backend belongs to the root"
