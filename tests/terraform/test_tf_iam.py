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
    found = {(rtype, name) for rtype, name, _ in iam_resources(resources)}
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


def test_no_primitive_or_admin_role_anywhere(resources: dict[str, dict[str, Any]]) -> None:
    for rtype, named in resources.items():
        for name, body in named.items():
            for role in (body.get("role"), *body.get("roles", [])):
                if not isinstance(role, str):
                    continue
                assert role not in PRIMITIVE, f"{rtype}.{name}: {role}"
                if "admin" in role.lower():
                    assert (rtype, name) == ("google_project_iam_member", "build_staged_sources")


def test_project_level_grants_are_the_build_ones_only(resources: dict[str, dict[str, Any]]) -> None:
    # GIVEN project-wide roles reach every topic, secret and bucket of the project
    # THEN none goes to a runtime identity, and the broad one is conditioned to one bucket
    project = resources["google_project_iam_member"]
    roles = {body["role"]: body for body in project.values()}
    assert set(roles) == {"roles/logging.logWriter", "roles/storage.objectAdmin"}
    assert all(member_key(body["member"]) == "build" for body in project.values())
    condition = roles["roles/storage.objectAdmin"]["condition"][0]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-' in condition
    assert "local.project_number" in condition and "var.region" in condition


def test_all_users_only_on_the_webhook_invoker(resources: dict[str, dict[str, Any]]) -> None:
    public = [
        (rtype, name)
        for rtype, named in resources.items()
        for name, body in named.items()
        if any("allUsers" in text or "allAuthenticatedUsers" in text for text in all_strings(body))
    ]
    assert public == [("google_cloud_run_v2_service_iam_member", "webhook_public")]


def test_run_invoker_bindings_survive_a_replaced_function(
    resources: dict[str, dict[str, Any]],
) -> None:
    # A replaced function is a new Cloud Run service: its IAM member must be recreated too.
    for name, function in (("webhook_public", "webhook"), ("worker_push_invoker", "worker")):
        body = resources["google_cloud_run_v2_service_iam_member"][name]
        triggers = body["lifecycle"][0]["replace_triggered_by"]
        assert triggers == [f"google_cloudfunctions2_function.{function}.id"]


def test_functions_run_as_their_own_service_accounts(resources: dict[str, dict[str, Any]]) -> None:
    functions = resources["google_cloudfunctions2_function"]
    for name in ("webhook", "worker"):
        service = functions[name]["service_config"][0]
        assert service["service_account_email"] == f"google_service_account.{name}.email"
        assert functions[name]["build_config"][0]["service_account"] == (
            "google_service_account.build.id"
        )
