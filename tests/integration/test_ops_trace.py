"""``python -m operations trace`` and replay's ledger reset, against the real Firestore and
Pub/Sub emulators (the ledger written through its own API, as the worker writes it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operations.replay import replay
from shared import deadletter
from shared.events import event_key
from shared.ledger import LedgerConfig, open_ledger

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parent.parent.parent
ORG = 5000883


def _body(conversation_id: int, pushed_at: int, event_type: str = "conversation_push") -> dict:
    return {
        "type": event_type,
        "orgId": ORG,
        "data": {"data": {"conversationId": conversation_id, "pushedAt": pushed_at}},
    }


@pytest.fixture
def ledger(firestore_emulator, ledger_prefix):
    return open_ledger(
        LedgerConfig(project=firestore_emulator.project, collection_prefix=ledger_prefix)
    )


def _claim(ledger, body: dict, message_id: str):
    return ledger.claim(
        event_key(body),
        event_type=body["type"],
        org_id=ORG,
        conversation_id=body["data"]["data"]["conversationId"],
        message_id=message_id,
    )


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DRIFT_", "CRM_", "PUBSUB_", "DEAD_LETTER", "LEDGER", "LOCAL_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "operations", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.fixture
def journeys(ledger):
    """Three events of conversation 777: delivered in two steps, retried, dead-lettered."""
    delivered = _body(777, 1_700_000_000_000)
    claim = _claim(ledger, delivered, "m-1")
    claim.save_record({"conversation": {"id": 777}})
    claim.step_started("person")
    claim.step_done("person", {"person_id": "p-42"}, status=201)
    claim.step_started("note")
    claim.step_done("note", {"note_id": "n-7"}, status=201)
    claim.complete("hash-1", {"person_id": "p-42"})

    retried = _body(777, 1_700_000_060_000)
    _claim(ledger, retried, "m-2").fail("CRM answered 503")

    dead = _body(777, 1_700_000_120_000)
    _claim(ledger, dead, "m-3").dead_letter("CRM answered 422: email is invalid")
    return {"delivered": delivered, "retried": retried, "dead": dead}


def test_trace_cli_by_conversation_id(firestore_emulator, ledger_prefix, journeys):
    # WHEN the operator traces the conversation
    result = _cli(
        "trace",
        "777",
        GOOGLE_CLOUD_PROJECT=firestore_emulator.project,
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        LEDGER_COLLECTION_PREFIX=ledger_prefix,
    )
    # THEN each of its events is there with what happened to it
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for body in journeys.values():
        assert f"event {event_key(body)}" in out
    assert "delivered" in out and "dead-lettered" in out and "waiting for a retry" in out
    assert "p-42" in out and "n-7" in out  # the ids the steps saved
    assert "CRM answered 422: email is invalid" in out
    assert "CRM answered 503" in out
    assert "conversation 777" in out
    assert "Traceback" not in result.stderr


def test_trace_cli_by_event_key_prints_only_that_event(firestore_emulator, ledger_prefix, journeys):
    key = event_key(journeys["dead"])
    result = _cli(
        "trace",
        key,
        GOOGLE_CLOUD_PROJECT=firestore_emulator.project,
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        LEDGER_COLLECTION_PREFIX=ledger_prefix,
    )
    assert result.returncode == 0, result.stderr
    assert f"event {key}" in result.stdout
    assert result.stdout.count("event ") == 1
    assert "dead-lettered" in result.stdout
    assert event_key(journeys["delivered"]) not in result.stdout


def test_trace_cli_of_something_unknown_says_so_in_one_line(firestore_emulator, ledger_prefix):
    result = _cli(
        "trace",
        "424242",
        GOOGLE_CLOUD_PROJECT=firestore_emulator.project,
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        LEDGER_COLLECTION_PREFIX=ledger_prefix,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "nothing in the ledger for 424242" in line


def test_trace_cli_with_the_memory_ledger_explains_why_it_cannot(firestore_emulator):
    result = _cli(
        "trace",
        "777",
        GOOGLE_CLOUD_PROJECT=firestore_emulator.project,
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        LEDGER="memory",
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "LEDGER=memory" in line


def _dead_letter(admin, topic: str, body: dict, reason: str) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    admin.publish(
        topic,
        data,
        type=body["type"],
        orgId=str(ORG),
        conversationId=str(body["data"]["data"]["conversationId"]),
        **{deadletter.REASON: reason, deadletter.ERROR: "CrmRejectedError"},
    )
    return data


def test_replay_resets_the_ledger_of_each_event_it_republishes(
    emulator, admin, topic_factory, ledger
):
    # GIVEN two dead-lettered events, each marked dead-lettered in the ledger
    dead, events = topic_factory("tr-dl"), topic_factory("tr-ev")
    chosen = _body(888, 1_700_000_000_000)
    other = _body(889, 1_700_000_000_000, event_type="conversation_inactive")
    for number, body in enumerate((chosen, other)):
        _claim(ledger, body, f"m-{number}").dead_letter("CRM answered 422")
        _dead_letter(admin, dead.name, body, "CRM answered 422")
    assert [j.state for j in ledger.trace(event_key(chosen))] == ["dead_lettered"]

    # WHEN only the conversation_push is replayed
    report = replay(
        emulator.project, dead.subscription, events.name, "conversation_push", ledger=ledger
    )

    # THEN its ledger state was reset, so the worker runs it again; the other one is untouched
    assert [item["ledger_reset"] for item in report.replayed] == [True]
    assert [j.state for j in ledger.trace(event_key(chosen))] == ["reset"]
    assert [j.state for j in ledger.trace(event_key(other))] == ["dead_lettered"]
    claim = _claim(ledger, chosen, "m-again")
    assert claim.state == "new"
    assert len(events.drain()) == 1


def test_replay_dry_run_resets_nothing(emulator, admin, topic_factory, ledger):
    dead, events = topic_factory("tr-dl"), topic_factory("tr-ev")
    body = _body(890, 1_700_000_000_000)
    _claim(ledger, body, "m-1").dead_letter("CRM answered 422")
    _dead_letter(admin, dead.name, body, "CRM answered 422")
    report = replay(emulator.project, dead.subscription, events.name, dry_run=True, ledger=ledger)
    assert len(report.replayed) == 1 and "ledger_reset" not in report.replayed[0]
    assert [j.state for j in ledger.trace(event_key(body))] == ["dead_lettered"]
    assert events.drain() == []


def test_cli_replay_resets_the_ledger_the_worker_uses(
    emulator, admin, topic_factory, ledger, firestore_emulator, ledger_prefix
):
    dead, events = topic_factory("tr-dl"), topic_factory("tr-ev")
    body = _body(891, 1_700_000_000_000)
    _claim(ledger, body, "m-1").dead_letter("CRM answered 422")
    _dead_letter(admin, dead.name, body, "CRM answered 422")
    result = _cli(
        "replay",
        PUBSUB_EMULATOR_HOST=emulator.host,
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        DEAD_LETTER_SUBSCRIPTION=dead.subscription,
        PUBSUB_TOPIC=events.name,
        LEDGER_COLLECTION_PREFIX=ledger_prefix,
    )
    assert result.returncode == 0, result.stderr
    (item,) = [json.loads(line) for line in result.stdout.splitlines()[:-1]]
    assert item["ledger_reset"] is True
    assert [j.state for j in ledger.trace(event_key(body))] == ["reset"]
    assert len(events.drain()) == 1
