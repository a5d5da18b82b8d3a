"""pubsub.tf: the worker's push subscription and the dead-letter path, as the design wants them."""

from __future__ import annotations

import ast
import operator
from typing import Any

import pytest

pytestmark = pytest.mark.terraform

WORKER_URI = "google_cloudfunctions2_function.worker.service_config[0].uri"


def evaluate(expression: str, names: dict[str, int]) -> int:
    """Evaluate a small arithmetic HCL expression (+ - * and min/max over numbers and names)."""
    binary = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
    calls = {"min": min, "max": max}

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return binary[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return calls[node.func.id](*(walk(arg) for arg in node.args))
        source = ast.unparse(node)
        if source in names:
            return names[source]
        raise ValueError(f"cannot evaluate {source!r}")

    return walk(ast.parse(expression, mode="eval"))


@pytest.fixture(scope="module")
def subscription(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return resources["google_pubsub_subscription"]["worker"]


def test_push_goes_to_the_worker_with_an_oidc_token_of_the_invoker(
    subscription: dict[str, Any],
) -> None:
    push = subscription["push_config"][0]
    assert push["push_endpoint"] == WORKER_URI
    oidc = push["oidc_token"][0]
    assert oidc["service_account_email"] == "google_service_account.push_invoker.email"
    assert oidc["audience"] == WORKER_URI
    assert "no_wrapper" not in push, "functions-framework needs Pub/Sub's standard push envelope"


def test_subscription_reads_the_events_topic(subscription: dict[str, Any]) -> None:
    assert subscription["topic"] == "google_pubsub_topic.events.id"


def test_retry_is_exponential_backoff_from_variables(subscription: dict[str, Any]) -> None:
    retry = subscription["retry_policy"][0]
    assert retry["minimum_backoff"] == "${var.retry_minimum_backoff_seconds}s"
    assert retry["maximum_backoff"] == "${var.retry_maximum_backoff_seconds}s"
    conditions = [p["condition"] for p in subscription["lifecycle"][0]["precondition"]]
    assert "var.retry_minimum_backoff_seconds <= var.retry_maximum_backoff_seconds" in conditions


def test_dead_letter_policy_targets_the_dead_letter_topic(subscription: dict[str, Any]) -> None:
    policy = subscription["dead_letter_policy"][0]
    assert policy["dead_letter_topic"] == "google_pubsub_topic.dead_letter.id"
    assert policy["max_delivery_attempts"] == "var.max_delivery_attempts"


@pytest.mark.parametrize("timeout", [10, 60, 300, 540, 570, 600])
def test_ack_deadline_covers_the_worker_timeout(
    tf: dict[str, Any], subscription: dict[str, Any], timeout: int
) -> None:
    # GIVEN any timeout the variable's validation admits (10..600)
    # WHEN the ack deadline is computed THEN Pub/Sub waits at least that long, within its limits
    assert subscription["ack_deadline_seconds"] == "local.worker_ack_deadline_seconds"
    expression = tf["locals"]["worker_ack_deadline_seconds"]
    deadline = evaluate(expression, {"var.worker_timeout_seconds": timeout})
    assert timeout <= deadline <= 600
    worker = tf["resource"]["google_cloudfunctions2_function"]["worker"]
    assert worker["service_config"][0]["timeout_seconds"] == "var.worker_timeout_seconds"


def test_max_event_age_cannot_cut_the_retry_window_short(
    tf: dict[str, Any], subscription: dict[str, Any]
) -> None:
    conditions = [p["condition"] for p in subscription["lifecycle"][0]["precondition"]]
    assert "var.max_event_age_seconds >= local.retry_window_seconds" in conditions
    window = tf["locals"]["retry_window_seconds"]
    assert "var.max_delivery_attempts" in window
    assert "var.retry_maximum_backoff_seconds" in window
    # The defaults satisfy the precondition.
    variables = tf["variable"]
    worst = evaluate(
        window.replace("local.worker_ack_deadline_seconds", "600"),
        {
            "var.max_delivery_attempts": variables["max_delivery_attempts"]["default"],
            "var.retry_maximum_backoff_seconds": variables["retry_maximum_backoff_seconds"][
                "default"
            ],
        },
    )
    assert variables["max_event_age_seconds"]["default"] >= worst


def test_subscriptions_never_expire(resources: dict[str, dict[str, Any]]) -> None:
    for name, body in resources["google_pubsub_subscription"].items():
        assert body["expiration_policy"][0]["ttl"] == "", f"{name} would expire when idle"


def test_dead_letters_are_kept(resources: dict[str, dict[str, Any]]) -> None:
    hold = resources["google_pubsub_subscription"]["dead_letter"]
    assert hold["topic"] == "google_pubsub_topic.dead_letter.id"
    assert "push_config" not in hold, "dead letters wait for an operator to pull them"
    assert hold["message_retention_duration"] == "${var.dead_letter_retention_days * 86400}s"


def test_topics_keep_every_message_so_a_new_subscription_or_a_seek_loses_nothing(
    resources: dict[str, dict[str, Any]], tf: dict[str, Any]
) -> None:
    for name in ("events", "dead_letter"):
        topic = resources["google_pubsub_topic"][name]
        assert topic["message_retention_duration"] == "${var.topic_retention_days * 86400}s"
    condition = tf["variable"]["topic_retention_days"]["validation"][0]["condition"]
    assert ">= 1" in condition and "<= 31" in condition  # Pub/Sub's range (10 min .. 31 days)
    assert tf["variable"]["topic_retention_days"]["default"] >= 7


def test_deliveries_start_only_once_iam_and_dead_lettering_are_ready(
    subscription: dict[str, Any],
) -> None:
    assert set(subscription["depends_on"]) >= {
        "google_cloud_run_v2_service_iam_member.worker_push_invoker",
        "google_project_iam_member.push_invoker_worker_by_name",
        "google_pubsub_subscription.dead_letter",
        "google_pubsub_topic_iam_member.dead_letter_pubsub_agent",
        "google_service_account_iam_member.push_invoker_token_creator",
    }


def test_pubsub_service_agent_is_created_before_it_is_granted(
    resources: dict[str, dict[str, Any]],
) -> None:
    identity = resources["google_project_service_identity"]["pubsub"]
    assert identity["service"] == "pubsub.googleapis.com"
    assert identity["provider"] == "google-beta"


def test_topics_take_the_optional_cmek_key(resources: dict[str, dict[str, Any]]) -> None:
    for name in ("events", "dead_letter"):
        assert resources["google_pubsub_topic"][name]["kms_key_name"] == "var.pubsub_kms_key_name"


def test_topic_names_come_from_variables(resources: dict[str, dict[str, Any]]) -> None:
    topics = resources["google_pubsub_topic"]
    assert set(topics) == {"events", "dead_letter"}
    assert topics["events"]["name"] == "var.events_topic_name"
    assert topics["dead_letter"]["name"] == "var.dead_letter_topic_name"
