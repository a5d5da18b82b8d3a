"""outputs.tf: what an operator needs after apply."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.terraform

EXPECTED = {
    "webhook_url": "google_cloudfunctions2_function.webhook.service_config[0].uri",
    "worker_url": "google_cloudfunctions2_function.worker.service_config[0].uri",
    "events_topic": "google_pubsub_topic.events.name",
    "dead_letter_topic": "google_pubsub_topic.dead_letter.name",
    "dead_letter_subscription": "google_pubsub_subscription.dead_letter.name",
    "worker_subscription": "google_pubsub_subscription.worker.name",
    "webhook_service_account_email": "google_service_account.webhook.email",
    "worker_service_account_email": "google_service_account.worker.email",
    "push_invoker_service_account_email": "google_service_account.push_invoker.email",
    "build_service_account_email": "google_service_account.build.email",
    "firestore_database": "google_firestore_database.ledger.name",
    "dashboard_id": "google_monitoring_dashboard.bridge.id",
}


def test_outputs_present_and_described(tf: dict[str, Any]) -> None:
    outputs = tf["output"]
    for name, value in EXPECTED.items():
        assert outputs[name]["value"] == value, name
    for name, body in outputs.items():
        assert len(body.get("description", "")) >= 15, f"{name}: description missing"
        assert not body.get("sensitive"), f"{name}: outputs carry no secrets"


def test_webhook_url_says_where_it_goes(tf: dict[str, Any]) -> None:
    assert "Drift" in tf["output"]["webhook_url"]["description"]


def test_the_root_passes_every_module_output_through(
    tf: dict[str, Any], root: dict[str, Any]
) -> None:
    assert set(root["output"]) == set(tf["output"])
    for name, body in root["output"].items():
        assert body["value"] == f"module.drift_bridge.{name}"
        assert body["description"] == tf["output"][name]["description"]
