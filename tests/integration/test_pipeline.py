"""End to end on real processes: webhook -> emulator topic -> push subscription -> worker under
functions-framework -> Drift simulator -> CRM sink. Each failure class ends as contract
section 5 says: delivered after transient faults, dead-lettered after permanent ones."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig
from samples import drift_seed as seed_data
from shared import deadletter

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

TOKEN = "e2e-verification-token-81c4"
# Terraform's delivery rules, with short backoffs. Most tests leave the retry policy out: the
# emulator can stop redelivering pushes that fail together under one (see PushSettings).
WITH_BACKOFF = PushSettings(
    ack_deadline_seconds=30,
    minimum_backoff_seconds=1,
    maximum_backoff_seconds=2,
    max_delivery_attempts=5,
)
FAST_RETRIES = replace(WITH_BACKOFF, retry_policy=False)


@pytest.fixture
def stack(request, emulator, firestore_emulator, unique):
    """A fresh stack per test: its own topics, its own function processes."""
    push = WITH_BACKOFF if request.node.get_closest_marker("backoff") else FAST_RETRIES
    config = StackConfig(
        project=emulator.project,
        topic=unique("events"),
        dead_letter_topic=unique("dead"),
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        push=push,
        sink_signing_secret="e2e-signing-secret-9d1",
        worker_env={"DRIFT_RETRY_BUDGET_SECONDS": "3", "DRIFT_MAX_ATTEMPTS": "2"},
    )
    running = LocalStack(config).start()
    yield running
    running.stop()
    with PubSubAdmin(config.project) as admin:
        admin.delete_subscription(config.push_subscription)
        admin.delete_subscription(config.dead_letter_subscription)
        admin.delete_topic(config.topic)
        admin.delete_topic(config.dead_letter_topic)


def test_sample_conversation_reaches_the_crm(stack):
    # WHEN Drift pushes its sample conversation
    status, _ = stack.send(seed_data.sample_conversation_push(TOKEN))
    assert status == 200
    # THEN the CRM receives one complete, signed record
    (record,) = stack.sink.wait_for(1, timeout=60)
    body = record.json
    assert body["type"] == "conversation_push"
    assert body["org_id"] == seed_data.ORG_ID
    assert body["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID
    assert body["conversation"]["created_at"] == "2021-09-21T16:07:41.843Z"
    assert body["contact"]["id"] == seed_data.SAMPLE_CONTACT_ID  # beyond 2**53, exact
    assert body["contact"]["first_name"] == "Gregg"
    assert body["contact"]["attributes"]["employment_name"] == "Camp Waziyatah"
    assert [p["id"] for p in body["participants"]] == [seed_data.SAMPLE_USER_ID]
    assert body["transcript"] == seed_data.SAMPLE_TRANSCRIPT
    assert record.signature_ok is True
    assert len(record.idempotency_key) == 64
    # AND nothing secret or whole-transcript reached the logs
    logs = stack.logs()
    assert TOKEN not in logs and "local-access-token" not in logs
    assert "e2e-signing-secret-9d1" not in logs
    assert seed_data.SAMPLE_TRANSCRIPT not in logs


@pytest.mark.backoff  # one failing event at a time: the emulator honours the retry policy
def test_transient_drift_faults_are_retried_until_delivered(stack):
    # GIVEN Drift rate-limiting, then failing, the conversation fetch
    stack.simulator.add_fault("conversation", "429", times=2)
    stack.simulator.add_fault("conversation", "503", times=2)
    stack.simulator.add_fault("transcript", "timeout", times=1)
    stack.simulator.timeout_seconds = 12
    # WHEN the event arrives
    assert stack.send(seed_data.sample_conversation_push(TOKEN))[0] == 200
    # THEN it is delivered once all faults are used up, and nothing is dead-lettered
    (record,) = stack.sink.wait_for(1, timeout=90)
    assert record.json["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID
    assert stack.admin.pull(stack.config.dead_letter_subscription) == []


def test_crm_outage_is_retried_and_duplicates_carry_one_key(stack):
    stack.sink.add_fault("503", times=2)
    body = seed_data.sample_conversation_push(TOKEN)
    assert stack.send(body)[0] == 200
    assert stack.send(body)[0] == 200  # Drift sends the same event twice
    records = stack.sink.wait_for(1, timeout=90)
    keys = {record.idempotency_key for record in stack.sink.received()}
    assert len(keys) == 1
    assert all(r.json["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID for r in records)
    # A later push of the same conversation is a new event with a new key
    later = seed_data.sample_conversation_push(TOKEN, pushed_at=seed_data.SAMPLE_PUSHED_AT + 60_000)
    assert stack.send(later)[0] == 200
    (new,) = stack.sink.wait_for(lambda r: r.idempotency_key not in keys, timeout=60)
    assert new.json["event"]["pushed_at"] != records[0].json["event"]["pushed_at"]


def test_unknown_conversation_is_dead_lettered_with_its_reason(stack):
    body = {
        "type": "conversation_push",
        "orgId": seed_data.ORG_ID,
        "token": TOKEN,
        "data": {"data": {"conversationId": 999_000_111}},
    }
    assert stack.send(body)[0] == 200
    (dead,) = stack.dead_letters(1)
    assert json.loads(dead.data)["data"]["data"]["conversationId"] == 999_000_111
    assert "not found" in dead.attributes[deadletter.REASON]
    assert dead.attributes[deadletter.ERROR] == "DriftNotFoundError"
    assert stack.sink.received() == []


def test_crm_rejection_is_dead_lettered_with_the_crm_answer(stack):
    stack.sink.add_fault("422", times=None)
    assert stack.send(seed_data.sample_conversation_push(TOKEN))[0] == 200
    (dead,) = stack.dead_letters(1)
    assert "422" in dead.attributes[deadletter.REASON]
    assert dead.attributes["type"] == "conversation_push"
    assert TOKEN.encode() not in dead.data


def test_message_that_is_not_an_event_is_dead_lettered_as_received(stack):
    stack.admin.publish(stack.config.topic, b"\x00 not json at all")
    (dead,) = stack.dead_letters(1)
    assert dead.data == b"\x00 not json at all"
    assert "not JSON" in dead.attributes[deadletter.REASON]


def test_persistent_transient_failure_ends_in_the_dead_letter_topic(stack):
    # GIVEN Drift failing every time: the subscription's max attempts move it to dead letters
    stack.simulator.add_fault("conversation", "503", times=None)
    assert stack.send(seed_data.sample_conversation_push(TOKEN))[0] == 200
    (dead,) = stack.dead_letters(1, timeout=120)
    assert json.loads(dead.data)["type"] == "conversation_push"
    assert stack.sink.received() == []


def test_gdpr_and_app_disconnected(stack):
    assert stack.send(seed_data.sample_gdpr_delete_requested(TOKEN))[0] == 200
    assert stack.send(seed_data.sample_app_disconnected(TOKEN))[0] == 200
    (record,) = stack.sink.wait_for(1, timeout=60)
    assert record.json["action"] == "delete_contact"
    assert record.json["contact"]["drift_contact_id"] == seed_data.SAMPLE_CONTACT_ID
    from devtools.emulator import wait_until

    def disconnected_logged():
        for line in stack.logs().splitlines():
            if line.startswith("{") and '"app_disconnected"' in line:
                entry = json.loads(line)
                if entry["severity"] == "ERROR" and entry.get("org_id") == seed_data.ORG_ID:
                    return True
        return False

    wait_until(disconnected_logged, 30, "the app_disconnected ERROR line")
