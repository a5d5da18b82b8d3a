"""What holds data, or is pointed at from outside, refuses to be destroyed by a plan."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.terraform

# Resource types whose every instance holds data nothing can bring back once deleted: secret
# versions, undelivered or retained messages, the ledger.
DATA_HOLDERS = {
    "google_secret_manager_secret",
    "google_pubsub_topic",
    "google_pubsub_subscription",
    "google_firestore_database",
}


def prevents_destroy(body: dict[str, Any]) -> bool:
    return any(block.get("prevent_destroy") is True for block in body.get("lifecycle", []))


def test_every_data_holder_prevents_its_destruction(resources: dict[str, dict[str, Any]]) -> None:
    # GIVEN each resource that holds data (found by type, so a new topic is covered too)
    holders = [
        (t, n, b) for t, named in resources.items() if t in DATA_HOLDERS for n, b in named.items()
    ]
    assert {t for t, _, _ in holders} == DATA_HOLDERS
    # THEN a plan that would delete or replace it fails
    for rtype, name, body in holders:
        assert prevents_destroy(body), f"{rtype}.{name} can be destroyed by a plan"


def test_the_webhook_drift_posts_to_cannot_be_replaced(
    resources: dict[str, dict[str, Any]],
) -> None:
    # GIVEN Drift keeps posting to the URL pasted into the app
    webhook = resources["google_cloudfunctions2_function"]["webhook"]
    # THEN a change that would re-create the function (and its URL) fails at plan time
    assert prevents_destroy(webhook)


def test_the_ledger_also_refuses_deletion_through_the_api(
    resources: dict[str, dict[str, Any]],
) -> None:
    database = resources["google_firestore_database"]["ledger"]
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert database["deletion_policy"] == "ABANDON"


def test_apis_are_never_disabled_by_a_destroy(resources: dict[str, dict[str, Any]]) -> None:
    assert resources["google_project_service"]["enabled"]["disable_on_destroy"] is False
