"""iam.tf: each identity holds exactly the grants listed in the design, and nothing broader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.terraform

# (resource type, name) -> (attribute naming the target, reference it must contain, role, member)
# member is a key of local.members, or a literal principal such as allUsers.
EXPECTED: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("google_pubsub_topic_iam_member", "events_webhook"): (
        "topic",
        "google_pubsub_topic.events.",
        "roles/pubsub.publisher",
        "webhook",
    ),
    ("google_cloud_run_v2_service_iam_member", "webhook_public"): (
        "name",
        "google_cloudfunctions2_function.webhook.service_config[0].service",
        "roles/run.invoker",
        "allUsers",
    ),
    ("google_pubsub_topic_iam_member", "dead_letter_worker"): (
        "topic",
        "google_pubsub_topic.dead_letter.",
        "roles/pubsub.publisher",
        "worker",
    ),
    ("google_secret_manager_secret_iam_member", "accessor"): (
        "secret_id",
        "each.value.secret_id",
        "roles/secretmanager.secretAccessor",
        "<per secret>",
    ),
    ("google_cloud_run_v2_service_iam_member", "worker_push_invoker"): (
        "name",
        "google_cloudfunctions2_function.worker.service_config[0].service",
        "roles/run.invoker",
        "push_invoker",
    ),
    ("google_pubsub_topic_iam_member", "dead_letter_pubsub_agent"): (
        "topic",
        "google_pubsub_topic.dead_letter.",
        "roles/pubsub.publisher",
        "pubsub_agent",
    ),
    ("google_pubsub_subscription_iam_member", "worker_pubsub_agent"): (
        "subscription",
        "google_pubsub_subscription.worker.",
        "roles/pubsub.subscriber",
        "pubsub_agent",
    ),
    ("google_service_account_iam_member", "push_invoker_token_creator"): (
        "service_account_id",
        "google_service_account.push_invoker.",
        "roles/iam.serviceAccountTokenCreator",
        "pubsub_agent",
    ),
    ("google_kms_crypto_key_iam_member", "pubsub_agent"): (
        "crypto_key_id",
        "var.pubsub_kms_key_name",
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "pubsub_agent",
    ),
    ("google_project_iam_member", "build_log_writer"): (
        "project",
        "var.project_id",
        "roles/logging.logWriter",
        "build",
    ),
    ("google_artifact_registry_repository_iam_member", "build_writer"): (
        "repository",
        "google_artifact_registry_repository.functions.",
        "roles/artifactregistry.writer",
        "build",
    ),
    ("google_storage_bucket_iam_member", "build_source_reader"): (
        "bucket",
        "google_storage_bucket.sources.",
        "roles/storage.objectViewer",
        "build",
    ),
    ("google_project_iam_member", "build_staged_sources"): (
        "project",
        "var.project_id",
        "roles/storage.objectAdmin",
        "build",
    ),
    ("google_project_iam_member", "worker_ledger"): (
        "project",
        "var.project_id",
        "roles/datastore.user",
        "worker",
    ),
    ("google_project_iam_member", "push_invoker_worker_by_name"): (
        "project",
        "var.project_id",
        "roles/run.invoker",
        "push_invoker",
    ),
}
# The pipeline's grants (cicd.tf, test_tf_pipeline.py checks them).
PIPELINE = {
    ("google_project_iam_member", "pipeline"),
    ("google_storage_bucket_iam_member", "pipeline_state"),
}

MEMBERS = {
    "build": "google_service_account.build.email",
    "pubsub_agent": "google_project_service_identity.pubsub.email",
    "push_invoker": "google_service_account.push_invoker.email",
    "webhook": "google_service_account.webhook.email",
    "worker": "google_service_account.worker.email",
}
SECRET_READERS = {
    "drift_verification_token": "webhook",
    "drift_access_token": "worker",
    "crm_api_token": "worker",
    "crm_signing_secret": "worker",
    "crm_oauth_client_secret": "worker",
    "crm_oauth_refresh_token": "worker",
}
PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def iam_resources(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict]]:
    for rtype, named in resources.items():
        if re.search(r"_iam_(member|binding|policy)$", rtype):
            for name, body in named.items():
                yield rtype, name, body


def member_key(member: str) -> str:
    match = re.fullmatch(r"local\.members\.(\w+)", member)
    return match.group(1) if match else member


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)


def test_exactly_the_designed_grants_exist(resources: dict[str, dict[str, Any]]) -> None:
    found = {(rtype, name) for rtype, name, _ in iam_resources(resources)} - PIPELINE
    assert found == set(EXPECTED), (
        f"unexpected: {sorted(found - set(EXPECTED))}; missing: {sorted(set(EXPECTED) - found)}"
    )


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED.items()), ids=lambda v: str(v))
def test_each_grant_targets_its_resource_with_its_role(
    resources: dict[str, dict[str, Any]], key: tuple[str, str], expected: tuple[str, ...]
) -> None:
    rtype, name = key
    attribute, reference, role, member = expected
    body = resources[rtype][name]
    assert reference in body[attribute], f"{rtype}.{name}.{attribute} = {body[attribute]}"
    assert body["role"] == role
    if member != "<per secret>":
        assert member_key(body["member"]) == member


def test_members_are_the_dedicated_identities(tf: dict[str, Any]) -> None:
    members = tf["locals"]["members"]
    assert set(members) == set(MEMBERS)
    for key, reference in MEMBERS.items():
        assert members[key] == f"serviceAccount:${{{reference}}}"


def test_each_secret_is_readable_by_the_one_function_that_uses_it(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    accessor = resources["google_secret_manager_secret_iam_member"]["accessor"]
    assert accessor["for_each"] == "google_secret_manager_secret.this"
    assert accessor["member"] == "local.members[local.secrets[each.key].reader]"
    readers = {name: spec["reader"] for name, spec in tf["locals"]["secrets"].items()}
    assert readers == SECRET_READERS


def test_only_additive_members_no_authoritative_bindings(
    resources: dict[str, dict[str, Any]],
) -> None:
    for rtype, name, _ in iam_resources(resources):
        assert rtype.endswith("_iam_member"), f"{rtype}.{name} would overwrite others' bindings"


def test_no_runtime_identity_holds_a_primitive_or_admin_role(
    resources: dict[str, dict[str, Any]],
) -> None:
    # GIVEN the grants outside the pipeline (runtime, build, Pub/Sub agent)
    for rtype, named in resources.items():
        for name, body in named.items():
            if (rtype, name) in PIPELINE:
                continue
            for role in (body.get("role"), *body.get("roles", [])):
                if not isinstance(role, str):
                    continue
                # THEN none is owner/editor/viewer, and the one admin role is the conditioned one
                assert role not in PRIMITIVE, f"{rtype}.{name}: {role}"
                if "admin" in role.lower():
                    assert (rtype, name) == ("google_project_iam_member", "build_staged_sources")


def test_project_level_grants_are_conditioned_or_log_writing(
    resources: dict[str, dict[str, Any]],
) -> None:
    # GIVEN project-wide roles reach every topic, secret, bucket and service of the project
    # THEN each one outside the pipeline is either build-log writing or conditioned on one
    # resource by name
    project = {k: v for k, v in resources["google_project_iam_member"].items() if k != "pipeline"}
    for name, body in project.items():
        if body["role"] == "roles/logging.logWriter":
            assert member_key(body["member"]) == "build"
            continue
        condition = body["condition"][0]["expression"]
        assert "resource.name" in condition, name
    staged = project["build_staged_sources"]["condition"][0]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-' in staged
    assert "local.project_number" in staged and "var.region" in staged
    ledger = project["worker_ledger"]["condition"][0]["expression"]
    assert "google_firestore_database.ledger.name" in ledger
    invoker = project["push_invoker_worker_by_name"]["condition"][0]["expression"]
    assert "local.names.worker" in invoker and "/services/" in invoker


def test_only_the_worker_reaches_the_ledger(resources: dict[str, dict[str, Any]]) -> None:
    datastore = [
        (rtype, name, body)
        for rtype, name, body in iam_resources(resources)
        if str(body.get("role", "")).startswith("roles/datastore.")
        and (rtype, name) not in PIPELINE
    ]
    assert [(r, n, member_key(b["member"])) for r, n, b in datastore] == [
        ("google_project_iam_member", "worker_ledger", "worker")
    ]


def test_all_users_only_on_the_webhook_invoker(resources: dict[str, dict[str, Any]]) -> None:
    public = [
        (rtype, name)
        for rtype, named in resources.items()
        for name, body in named.items()
        if any("allUsers" in text or "allAuthenticatedUsers" in text for text in all_strings(body))
    ]
    assert public == [("google_cloud_run_v2_service_iam_member", "webhook_public")]


def test_webhook_is_public_without_all_users_where_the_organisation_forbids_it(
    resources: dict[str, dict[str, Any]],
) -> None:
    # GIVEN webhook_access chooses between an allUsers binding and no binding at all
    binding = resources["google_cloud_run_v2_service_iam_member"]["webhook_public"]
    assert binding["count"] == 'var.webhook_access == "all_users" ? 1 : 0'
    # THEN invoker_iam_disabled turns Cloud Run's invoker check off instead, after every change
    # of the function (so a redeploy cannot turn it back on unseen)
    check = resources["terraform_data"]["webhook_invoker_check_disabled"]
    assert check["count"] == 'var.webhook_access == "invoker_iam_disabled" ? 1 : 0'
    command = check["provisioner"][0]["local-exec"]["command"]
    assert "gcloud run services update" in command and "--no-invoker-iam-check" in command
    assert "google_cloudfunctions2_function.webhook.update_time" in check["triggers_replace"]


def test_no_403_window_when_the_worker_is_replaced(resources: dict[str, dict[str, Any]]) -> None:
    # GIVEN a replaced worker is a new Cloud Run service without the service-level binding
    # THEN the invoker also holds run.invoker through a grant that is not part of the service
    # (conditioned on the service's name), and the subscription waits for both
    by_name = resources["google_project_iam_member"]["push_invoker_worker_by_name"]
    assert by_name["role"] == "roles/run.invoker"
    assert "google_cloudfunctions2_function" not in str(by_name), "must outlive the function"
    subscription = resources["google_pubsub_subscription"]["worker"]
    assert "google_project_iam_member.push_invoker_worker_by_name" in subscription["depends_on"]
    service_level = resources["google_cloud_run_v2_service_iam_member"]["worker_push_invoker"]
    assert service_level["lifecycle"][0]["replace_triggered_by"] == [
        "google_cloudfunctions2_function.worker.id"
    ]


def test_functions_run_as_their_own_service_accounts(resources: dict[str, dict[str, Any]]) -> None:
    functions = resources["google_cloudfunctions2_function"]
    for name in ("webhook", "worker"):
        service = functions[name]["service_config"][0]
        assert service["service_account_email"] == f"google_service_account.{name}.email"
        assert functions[name]["build_config"][0]["service_account"] == (
            "google_service_account.build.id"
        )
