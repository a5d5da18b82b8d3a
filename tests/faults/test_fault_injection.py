"""Faults injected into every dependency of the running pipeline, counting events in and out.

Drift rate-limits, fails, times out and rotates its token; the CRM goes down, rejects, and hangs;
Drift sends duplicates; the worker dies mid-event; the emulator is away when a webhook arrives.
Whatever happens, each event sent ends either in the CRM or on the dead-letter topic with a
reason, never both and never neither (``Ledger.account``).
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from devtools.crm_sink import FAULTED
from devtools.emulator import PubSubEmulator, free_port, wait_until
from devtools.pubsub_admin import PubSubAdmin
from devtools.stack import FunctionProcess
from tests.faults.conftest import (
    FAST_RETRIES,
    TOKEN,
    Ledger,
    new_name,
    push_body,
    running_stack,
    stack_config,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.emulator, pytest.mark.stack]


# -- one stack for the scenarios that only inject faults -------------------------------------


@pytest.fixture(scope="module")
def stack(emulator, firestore_emulator):
    with running_stack(stack_config(emulator)) as running:
        yield running


@pytest.fixture(scope="module")
def module_ledger(stack):
    return Ledger(stack)


def _reset_faults(stack) -> None:
    stack.simulator.reset()  # faults, latency, token, "timeout" duration; conversations kept
    stack.sink.clear_faults()
    stack.sink.slow_seconds = 30.0


@pytest.fixture
def shared(stack, module_ledger):
    """The module's stack and ledger, with no fault left over from another test."""
    _reset_faults(stack)
    yield stack, module_ledger
    _reset_faults(stack)


def _crm_attempts_by_key(stack, outcome: str | None = None) -> Counter:
    return Counter(
        record.idempotency_key
        for record in stack.sink.attempts()
        if outcome is None or record.outcome == outcome
    )


def test_drift_429_bursts_without_retry_after_are_retried_until_delivered(shared):
    stack, ledger = shared
    ids = stack.simulator.generate_conversations(6)
    # GIVEN Drift answering 429 (no Retry-After) to bursts of calls
    stack.simulator.add_fault("conversation", "429", times=6)
    stack.simulator.add_fault("*", "429", times=6)
    # WHEN six events arrive
    keys = [ledger.send(push_body(cid)) for cid in ids]
    # THEN every one reaches the CRM once the bursts are over, and none is dead-lettered
    ledger.account(keys).assert_all_delivered(keys)
    assert stack.simulator.pending_faults() == {}  # every 429 was actually served


def test_drift_5xx_timeouts_and_resets_are_retried_until_delivered(shared):
    stack, ledger = shared
    ids = stack.simulator.generate_conversations(5)
    # GIVEN Drift failing in every transient way (the worker's read timeout is 1.5 s)
    stack.simulator.timeout_seconds = 3
    stack.simulator.add_fault("conversation", "500", times=2)
    stack.simulator.add_fault("conversation", "timeout", times=1)
    stack.simulator.add_fault("contact", "502", times=2)
    stack.simulator.add_fault("contact", "reset", times=1)
    stack.simulator.add_fault("transcript", "503", times=2)
    stack.simulator.add_fault("transcript", "timeout", times=1)
    # WHEN five events arrive
    keys = [ledger.send(push_body(cid)) for cid in ids]
    # THEN all are delivered after the faults are used up
    ledger.account(keys).assert_all_delivered(keys)
    assert stack.simulator.pending_faults() == {}


def test_crm_down_for_several_retries_then_back_delivers_everything(shared):
    stack, ledger = shared
    ids = stack.simulator.generate_conversations(4)
    # GIVEN the CRM answering 503 to everything
    stack.sink.add_fault("503", times=None)
    keys = [ledger.send(push_body(cid)) for cid in ids]
    # WHEN every event has been refused at least three times (three Pub/Sub deliveries)
    wait_for(
        lambda: all(_crm_attempts_by_key(stack, FAULTED)[key] >= 3 for key in keys),
        90,
        lambda: f"3 refused CRM attempts per event: {_crm_attempts_by_key(stack, FAULTED)}",
    )
    stack.sink.clear_faults()  # the CRM is back
    # THEN every event is delivered (a timeout race may deliver one twice, with its one key)
    accounting = ledger.account(keys)
    accounting.assert_all_delivered(keys)


def test_crm_400_dead_letters_exactly_the_refused_records(shared):
    stack, ledger = shared
    ids = stack.simulator.generate_conversations(5)
    refused = 2
    # GIVEN the CRM refusing the next two records with 400
    stack.sink.add_fault("400", times=refused)
    keys = [ledger.send(push_body(cid)) for cid in ids]
    accounting = ledger.account(keys)
    # THEN those two are dead-lettered with the CRM's answer, the other three delivered
    assert len(accounting.dead) == refused, accounting.dead
    assert len(accounting.delivered) == len(keys) - refused
    for letters in accounting.dead.values():
        assert len(letters) == 1
        assert "400" in letters[0].reason, letters[0].reason
        assert letters[0].message.attributes["type"] == "conversation_push"
    faulted = {r.idempotency_key for r in stack.sink.attempts() if r.fault == "400"}
    assert faulted == set(accounting.dead)  # exactly the records the CRM refused
    # and no refused record was retried (a 400 is permanent)
    attempts = _crm_attempts_by_key(stack)
    assert all(attempts[key] == 1 for key in accounting.dead)


def test_crm_slower_than_the_timeout_is_retried_with_the_same_idempotency_key(shared):
    stack, ledger = shared
    ids = stack.simulator.generate_conversations(3)
    # GIVEN the CRM hanging 4 s on the next request (the worker gives up after 2 s)
    stack.sink.slow_seconds = 4
    stack.sink.add_fault("slow", times=1)
    keys = [ledger.send(push_body(cid)) for cid in ids]
    ledger.account(keys).assert_all_delivered(keys)
    # THEN the slow request eventually lands too: the CRM holds that conversation twice, both
    # times under the one Idempotency-Key, which is what lets it keep one
    (slow,) = wait_for(
        lambda: [r for r in stack.sink.received() if r.fault == "slow"], 30, "the slow record"
    )
    conversation_id = slow.json["conversation"]["id"]
    same = [r for r in stack.sink.received() if r.json["conversation"]["id"] == conversation_id]
    assert len(same) == 2, [(r.seq, r.fault) for r in same]
    assert {r.idempotency_key for r in same} == {slow.idempotency_key}
    assert slow.idempotency_key in keys


def _outcome_lines(stack, key: str) -> list[dict]:
    lines = []
    for line in stack.logs().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        message = entry.get("message", "")
        if entry.get("event_key") == key and ("delivered" in message or "duplicate" in message):
            lines.append(entry)
    return lines


def test_duplicate_webhooks_reach_the_crm_under_one_key(shared):
    stack, ledger = shared
    (cid,) = stack.simulator.generate_conversations(1)
    body = push_body(cid)
    # GIVEN a slow transcript, so that the copies arrive while the first is being handled
    stack.simulator.set_latency(0.5, "transcript")
    # WHEN Drift sends the same event three times, each acknowledged
    keys = {ledger.send(body) for _ in range(3)}
    assert len(keys) == 1
    (key,) = keys
    ledger.account([key]).assert_all_delivered([key])
    # AND the worker has finished with all three deliveries
    wait_for(lambda: len(_outcome_lines(stack, key)) >= 3, 60, "3 outcomes for the event")
    # THEN the CRM holds that conversation under exactly one key
    records = [r for r in stack.sink.received() if r.json["conversation"]["id"] == cid]
    assert records
    assert {r.idempotency_key for r in records} == {key}
    ledger.collect()
    assert key not in ledger.dead_lettered()


def test_crm_down_for_good_ends_on_the_dead_letter_topic_after_max_attempts(shared):
    stack, ledger = shared
    (cid,) = stack.simulator.generate_conversations(1)
    # GIVEN the CRM answering 503 to everything, for good
    stack.sink.add_fault("503", times=None)
    key = ledger.send(push_body(cid))
    # THEN Pub/Sub stops after the subscription's maximum attempts and dead-letters the event
    accounting = ledger.account([key], timeout=90)
    (letter,) = accounting.dead[key]
    assert not accounting.delivered
    attributes = letter.message.attributes
    max_attempts = str(stack.config.push.max_delivery_attempts)
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == max_attempts
    assert attributes["type"] == "conversation_push"
    assert _crm_attempts_by_key(stack)[key] == stack.config.push.max_delivery_attempts


# -- scenarios that need a stack of their own --------------------------------------------------


def test_rotated_drift_token_is_reread_from_secret_manager(make_stack, secret_manager, emulator):
    old, new = "faults-drift-token-old-71c2", "faults-drift-token-new-9ae4"
    secret_id = new_name("drift-access-token")
    name = secret_manager.add_version(emulator.project, secret_id, old)
    stack = make_stack(
        access_token=old,  # what the simulator accepts
        worker_env={
            "DRIFT_ACCESS_TOKEN_SECRET": name,
            "SECRET_MANAGER_ENDPOINT": secret_manager.endpoint,
            "DRIFT_ACCESS_TOKEN": "faults-not-the-drift-token",  # Secret Manager must win
        },
    )
    ledger = Ledger(stack)
    ids = stack.simulator.generate_conversations(4)
    # GIVEN events delivered with the token read from Secret Manager
    before = [ledger.send(push_body(cid)) for cid in ids[:2]]
    ledger.account(before).assert_all_delivered(before)
    reads = secret_manager.access_count(name)
    assert reads >= 1
    # WHEN the token is rotated in Drift and in Secret Manager (no redeploy)
    secret_manager.add_version(emulator.project, secret_id, new)
    stack.simulator.rotate_access_token(new)
    after = [ledger.send(push_body(cid)) for cid in ids[2:]]
    # THEN the next events meet a 403, the worker re-reads the secret, and delivers them
    ledger.account(after).assert_all_delivered(after)
    assert secret_manager.access_count(name) > reads


def test_worker_killed_mid_event_is_redelivered_after_restart(make_stack):
    # The dead worker's claim in the delivery ledger holds the event until its lease ends (the
    # function's timeout plus a grace), so Pub/Sub's redeliveries must span that: a 12 s timeout
    # here (a 6 s grace) and enough attempts.
    stack = make_stack(
        push=replace(FAST_RETRIES, ack_deadline_seconds=10, max_delivery_attempts=20),
        worker_env={"FUNCTION_TIMEOUT_SECONDS": "12"},
    )
    ledger = Ledger(stack)
    (cid,) = stack.simulator.generate_conversations(1)
    # GIVEN an event in flight: the worker is waiting 3 s for its transcript
    stack.simulator.set_latency(3, "transcript")
    key = ledger.send(push_body(cid))
    wait_for(lambda: stack.simulator.call_counts()["conversation"] >= 1, 30, "the Drift fetch")
    assert stack.sink.received() == []
    # WHEN the worker dies (no cleanup, as a crashed instance) and comes back
    stack.worker.kill()
    stack.simulator.set_latency(0, "transcript")
    stack.restart_worker()
    # THEN Pub/Sub redelivers the event and it reaches the CRM
    ledger.account([key], timeout=90).assert_all_delivered([key])
    assert len(stack.sink.received()) == 1  # exactly once, after the lease expired


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_webhook_answers_503_while_the_emulator_is_away_then_200_once_it_is_back(
    emulator, tmp_path
):
    port, dead_port = free_port(), free_port()
    topic = new_name("outage")
    body = json.dumps(push_body(3275727977)).encode()
    webhook = FunctionProcess(
        "webhook",
        "webhook",
        port,
        {
            "GOOGLE_CLOUD_PROJECT": emulator.project,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{dead_port}",  # nothing listens there
            "PUBSUB_TOPIC": topic,
            "DRIFT_VERIFICATION_TOKEN": TOKEN,
            "PUBLISH_TIMEOUT_SECONDS": "2",
        },
        tmp_path / "webhook.log",
    )
    revived = PubSubEmulator(project=emulator.project, port=dead_port)
    try:
        webhook.start()
        wait_until(webhook.ready, 60, "the webhook to answer")
        # WHEN Drift posts while Pub/Sub is unreachable: 503, nothing acknowledged
        status, answer = _post(port, body)
        assert status == 503, answer
        # AND Pub/Sub comes back (same address), with the topic
        revived.start()
        with revived.environment(), PubSubAdmin(emulator.project) as admin:
            admin.create_topic(topic)
            admin.create_pull_subscription(topic, f"{topic}-sub")
            # THEN Drift's retry of the same body is acknowledged (within a few retries, while
            # gRPC reconnects)
            statuses = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                status, answer = _post(port, body)
                statuses.append(status)
                if status == 200:
                    break
                assert status == 503, answer
                time.sleep(0.5)  # Drift's retry interval, compressed
            assert statuses[-1] == 200, f"statuses after recovery: {statuses}"
            # AND exactly one message is on the topic
            admin.publish(topic, b"{}", kind="sentinel")
            messages = admin.wait_for_predicate(
                f"{topic}-sub",
                lambda got: any(m.attributes.get("kind") == "sentinel" for m in got),
                30,
            )
            published = [m for m in messages if m.attributes.get("kind") != "sentinel"]
            assert len(published) == 1
            assert json.loads(published[0].data) == {
                k: v for k, v in json.loads(body).items() if k != "token"
            }
    finally:
        webhook.stop()
        revived.stop()
    assert "Traceback" not in Path(tmp_path / "webhook.log").read_text()
