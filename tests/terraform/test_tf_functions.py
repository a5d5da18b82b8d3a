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
    "CRM_ENDPOINT_URL",
    "MAX_EVENT_AGE_SECONDS",
    "LOG_LEVEL",
}
WORKER_OPTIONAL_ENV = {"CRM_API_TOKEN_SECRET", "CRM_SIGNING_SECRET_SECRET", "CRM_MAPPING_FILE"}
APIS = {
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
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


def test_webhook_is_public_http_and_worker_is_not(functions: dict[str, dict[str, Any]]) -> None:
    assert functions["webhook"]["service_config"][0]["ingress_settings"] == "ALLOW_ALL"
    assert functions["worker"]["service_config"][0]["ingress_settings"] == (
        "var.worker_ingress_settings"
    )


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


def test_provider_pins(tf: dict[str, Any]) -> None:
    blocks = [b for b in tf["terraform"] if "required_providers" in b]
    assert len(blocks) == 1
    terraform = blocks[0]
    assert terraform["required_version"] == ">= 1.5.0"
    providers = terraform["required_providers"][0]
    assert providers["google"]["version"] == "~> 6.0"
    assert providers["google-beta"]["version"] == "~> 6.0"
    backends = [b for b in tf["terraform"] if "backend" in b]
    assert backends and "gcs" in backends[0]["backend"][0]
