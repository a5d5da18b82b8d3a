"""firestore.tf: the delivery ledger's database and TTL policies, provisioned first time."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def database(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return resources["google_firestore_database"]["ledger"]


def test_native_mode_in_the_functions_region_with_recovery(database: dict[str, Any]) -> None:
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["location_id"] == "var.region"
    assert database["name"] == "var.firestore_database"
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"


def test_ttl_on_expire_at_for_both_collection_groups(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # GIVEN every ledger document carries expireAt
    assert tf["locals"]["ledger_collections"] == {
        "events": "${var.ledger_collection_prefix}events",
        "conversations": "${var.ledger_collection_prefix}conversations",
    }
    field = resources["google_firestore_field"]["ledger_ttl"]
    # THEN a TTL policy on that field exists for each collection group of the prefix
    assert field["for_each"] == "local.ledger_collections"
    assert field["collection"] == "each.value"
    assert field["field"] == "expireAt"
    assert field["ttl_config"] == [{}]
    assert field["database"] == "google_firestore_database.ledger.name"
    assert tf["variable"]["ledger_collection_prefix"]["default"] == "ledger_"


def test_an_empty_project_gets_api_database_ttl_and_grant_in_order(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]], database: dict[str, Any]
) -> None:
    # GIVEN a project where nothing exists yet
    assert "firestore.googleapis.com" in tf["locals"]["services"]
    # THEN the database waits for the enabled APIs, the TTL for the database (a reference),
    # and the worker for both and for its grant
    assert database["depends_on"] == ["time_sleep.apis"]
    worker = resources["google_cloudfunctions2_function"]["worker"]
    assert {"google_firestore_field.ledger_ttl", "google_project_iam_member.worker_ledger"} <= set(
        worker["depends_on"]
    )
