"""The operator commands against the real emulator: replay of dead letters (end to end through
the worker, and its filters), sync, backfill over the Drift simulator, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from devtools.drift_simulator import DriftSimulator
from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig
from operations import synthetic
from operations.backfill import backfill, sync
from operations.replay import replay
from samples import drift_seed as seed_data
from shared import deadletter
from shared.drift_client import DriftClient
from shared.events import event_key
from shared.ledger import LedgerConfig, open_ledger
from shared.secrets import Secret

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "ops-verification-token-3e7a"
FAST_RETRIES = PushSettings(
    ack_deadline_seconds=30,
    minimum_backoff_seconds=1,
    maximum_backoff_seconds=2,
    max_delivery_attempts=5,
)
DEAD_LETTER_KEYS = {
    deadletter.REASON,
    deadletter.ERROR,
    deadletter.ORIGINAL_MESSAGE_ID,
    deadletter.DEAD_LETTERED_AT,
}


def _no_dead_letter_annotations(attributes: dict[str, str]) -> bool:
    return not any(
        key in DEAD_LETTER_KEYS or key.startswith("CloudPubSubDeadLetter") for key in attributes
    )


# -- replay, end to end through the worker --------------------------------------------------


@pytest.fixture
def ledger(firestore_emulator, ledger_prefix):
    return open_ledger(
        LedgerConfig(project=firestore_emulator.project, collection_prefix=ledger_prefix)
    )


@pytest.fixture
def stack(emulator, unique, firestore_emulator, ledger_prefix):
    config = StackConfig(
        project=emulator.project,
        topic=unique("ops-events"),
        dead_letter_topic=unique("ops-dead"),
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        firestore_emulator_host=firestore_emulator.host,
        ledger_collection_prefix=ledger_prefix,
        push=FAST_RETRIES,
        worker_env={"DRIFT_RETRY_BUDGET_SECONDS": "3", "DRIFT_MAX_ATTEMPTS": "2"},
    )
    running = LocalStack(config).start()
    try:
        yield running
    finally:
        running.stop()
        with PubSubAdmin(config.project) as admin:
            admin.delete_subscription(config.push_subscription)
            admin.delete_subscription(config.dead_letter_subscription)
            admin.delete_topic(config.topic)
            admin.delete_topic(config.dead_letter_topic)


@pytest.mark.stack
def test_replay_delivers_a_dead_lettered_event_once_with_its_original_message(
    stack, admin, unique, ledger
):
    cfg = stack.config
    # Observers: a second subscription on the dead-letter topic (acked there, so the stack's own
    # hold subscription keeps the dead letter for the replay), and one on the events topic.
    peek = admin.create_pull_subscription(cfg.dead_letter_topic, unique("peek-dead"))
    tap = admin.create_pull_subscription(cfg.topic, unique("tap-events"))
    peek, tap = peek.rsplit("/", 1)[1], tap.rsplit("/", 1)[1]
    try:
        # GIVEN a CRM that rejects the record for good: the event is dead-lettered
        stack.sink.add_fault("422", times=None)
        assert stack.send(seed_data.sample_conversation_push(TOKEN))[0] == 200
        (dead,) = admin.wait_for(peek, 1, timeout=60)
        assert "422" in dead.attributes[deadletter.REASON]
        (original,) = admin.wait_for(tap, 1, timeout=30)
        assert dead.data == original.data
        rejected = stack.sink.faulted()
        assert rejected and all(r.status == 422 for r in rejected)
        assert stack.sink.received() == []

        # WHEN the CRM is fixed and the operator replays the dead letters
        stack.sink.clear_faults()
        report = replay(cfg.project, cfg.dead_letter_subscription, cfg.topic, ledger=ledger)

        # THEN the event was replayed (its ledger state reset, so the worker runs it again),
        # and the CRM receives it, under the same idempotency key
        assert [item["type"] for item in report.replayed] == ["conversation_push"]
        assert "422" in report.replayed[0]["reason"]
        assert report.replayed[0]["ledger_reset"] is True
        assert report.skipped == 0
        (record,) = stack.sink.wait_for(1, timeout=60)
        assert record.json["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID
        assert record.json["contact"]["email"] == seed_data.SEED_EMAIL
        assert record.idempotency_key == rejected[0].idempotency_key
        # AND what was republished is the webhook's message: same bytes, original attributes
        (republished,) = admin.wait_for(tap, 1, timeout=30)
        assert republished.data == original.data
        assert republished.attributes == original.attributes
        assert _no_dead_letter_annotations(republished.attributes)
        assert republished.message_id == report.replayed[0]["new_message_id"]
        # AND the dead letter is gone from the hold subscription (acknowledged by the replay)
        assert admin.pull(cfg.dead_letter_subscription) == []

        # AND it is delivered once: a later push of the same conversation is a barrier behind it
        later = seed_data.sample_conversation_push(
            TOKEN, pushed_at=seed_data.SAMPLE_PUSHED_AT + 60_000
        )
        assert stack.send(later)[0] == 200
        stack.sink.wait_for(lambda r: r.idempotency_key != record.idempotency_key, timeout=60)
        keys = Counter(r.idempotency_key for r in stack.sink.received())
        assert keys[record.idempotency_key] == 1
        assert admin.pull(cfg.dead_letter_subscription) == []
    finally:
        admin.delete_subscription(peek)
        admin.delete_subscription(tap)


# -- replay filters on a test dead-letter topic -----------------------------------------------

FIRST, SECOND, GDPR = "push-101", "push-102", "gdpr"


def _fake_dead_letters(admin: PubSubAdmin, dead_topic: str) -> dict[str, tuple[bytes, dict]]:
    """Three dead letters as the worker writes them; returns name -> (data, original attrs).

    ``push-102`` carries its conversation id only in the body (``data.data.conversationId``).
    """
    originals = {
        FIRST: (
            {
                "type": "conversation_push",
                "orgId": 5000883,
                "data": {"data": {"conversationId": 101}},
            },
            {"type": "conversation_push", "orgId": "5000883", "conversationId": "101"},
        ),
        SECOND: (
            {
                "type": "conversation_push",
                "orgId": 5000883,
                "data": {"data": {"conversationId": 102}},
            },
            {"type": "conversation_push", "orgId": "5000883"},
        ),
        GDPR: (
            {"type": "gdpr_delete_requested", "orgId": 5000883, "data": {"email": "a@b.example"}},
            {"type": "gdpr_delete_requested", "orgId": "5000883"},
        ),
    }
    made = {}
    for number, (name, (body, attributes)) in enumerate(originals.items()):
        data = json.dumps(body, separators=(",", ":")).encode()
        annotations = {
            deadletter.REASON: f"CRM answered 422 ({name})",
            deadletter.ERROR: "CrmRejectedError",
            deadletter.ORIGINAL_MESSAGE_ID: str(9000 + number),
            deadletter.DEAD_LETTERED_AT: "2024-05-01T12:00:00+00:00",
        }
        admin.publish(dead_topic, data, **attributes, **annotations)
        made[name] = (data, attributes)
    return made


def _names(messages, made) -> list[str]:
    by_data = {data: name for name, (data, _) in made.items()}
    return sorted(by_data[m.data] for m in messages)


@pytest.fixture
def dead_and_events(admin, topic_factory):
    dead, events = topic_factory("ops-dl"), topic_factory("ops-ev")
    return dead, events, _fake_dead_letters(admin, dead.name)


def _check_republished(messages, made) -> None:
    for message in messages:
        name = _names([message], made)[0]
        data, attributes = made[name]
        assert message.data == data
        assert message.attributes == attributes


def test_replay_by_type_republishes_only_that_type(emulator, dead_and_events):
    dead, events, made = dead_and_events
    report = replay(
        emulator.project, dead.subscription, events.name, event_type="conversation_push"
    )
    assert sorted(item["conversation_id"] or "-" for item in report.replayed) == ["-", "101"]
    assert report.skipped == 1
    republished = events.drain()
    assert _names(republished, made) == [FIRST, SECOND]
    _check_republished(republished, made)
    # the one not selected is still there, the replayed ones are gone
    assert _names(dead.drain(), made) == [GDPR]


@pytest.mark.parametrize(
    ("conversation_id", "expected"),
    [(101, FIRST), (102, SECOND)],
    ids=["id-in-attributes", "id-only-in-body"],
)
def test_replay_by_conversation_id_republishes_only_that_conversation(
    emulator, dead_and_events, conversation_id, expected
):
    dead, events, made = dead_and_events
    report = replay(
        emulator.project, dead.subscription, events.name, conversation_id=conversation_id
    )
    assert len(report.replayed) == 1
    assert report.skipped == 2
    republished = events.drain()
    assert _names(republished, made) == [expected]
    _check_republished(republished, made)
    assert _names(dead.drain(), made) == sorted({FIRST, SECOND, GDPR} - {expected})


def test_replay_dry_run_publishes_nothing_and_keeps_every_dead_letter(emulator, dead_and_events):
    dead, events, made = dead_and_events
    report = replay(emulator.project, dead.subscription, events.name, dry_run=True)
    assert report.dry_run is True
    assert len(report.replayed) == 3
    assert all("new_message_id" not in item for item in report.replayed)
    assert sorted(item["reason"] for item in report.replayed) == sorted(
        f"CRM answered 422 ({name})" for name in made
    )
    assert events.drain() == []
    assert _names(dead.drain(), made) == [GDPR, FIRST, SECOND]


def test_replay_limit_stops_after_that_many(emulator, dead_and_events):
    dead, events, made = dead_and_events
    report = replay(
        emulator.project, dead.subscription, events.name, event_type="conversation_push", limit=1
    )
    assert len(report.replayed) == 1
    republished = _names(events.drain(), made)
    assert len(republished) == 1 and republished[0] in (FIRST, SECOND)
    left = _names(dead.drain(), made)
    assert sorted(left + republished) == sorted(made)


def test_replay_of_an_empty_subscription_replays_nothing(emulator, topic_factory):
    dead, events = topic_factory("ops-dl"), topic_factory("ops-ev")
    report = replay(emulator.project, dead.subscription, events.name)
    assert report.replayed == [] and report.skipped == 0
    assert events.drain() == []


# -- sync -------------------------------------------------------------------------------------


def test_sync_queues_a_manual_push_of_that_conversation(emulator, topic):
    big = 2**53 + 3  # an id a float cannot hold
    message_id = sync(emulator.project, topic.name, big, seed_data.ORG_ID)
    (message,) = topic.drain()
    assert message.message_id == message_id
    assert message.attributes["type"] == "conversation_manual_push"
    assert message.attributes["conversationId"] == str(big)
    assert message.attributes["orgId"] == str(seed_data.ORG_ID)
    body = json.loads(message.data)
    assert body["type"] == "conversation_manual_push"
    assert body["orgId"] == seed_data.ORG_ID
    assert body["data"]["data"]["conversationId"] == big
    assert isinstance(body["data"]["data"]["pushedAt"], int)
    assert "token" not in body


# -- backfill ---------------------------------------------------------------------------------


def _at(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)


@pytest.fixture(scope="module")
def simulator():
    with DriftSimulator() as sim:
        sim.generate_conversations(120, messages_per_conversation=1)
        yield sim


@pytest.fixture
def drift(simulator):
    simulator.reset_counts()
    client = DriftClient(simulator.url, Secret("drift_access_token", value=simulator.access_token))
    yield client
    client.close()


def _window(simulator: DriftSimulator) -> tuple[dt.datetime, dt.datetime, list[int]]:
    """A range covering the 11th..110th oldest generated conversations (bounds included/excluded
    exactly at a conversation's updatedAt), and the ids inside it."""
    updated = {
        cid: simulator.get_conversation(cid)["updatedAt"] for cid in simulator.conversation_ids()
    }
    ordered = sorted(updated.values())
    low, high = ordered[11], ordered[111]  # ordered[0] is the 2021-09 seed conversation
    expected = sorted(cid for cid, at in updated.items() if low <= at < high)
    assert len(expected) == 100
    return _at(low), _at(high), expected


def test_backfill_publishes_each_conversation_of_the_range_once(emulator, topic, simulator, drift):
    start, end, expected = _window(simulator)
    report = backfill(drift, emulator.project, topic.name, start, end, rate=50)
    messages = topic.drain()
    ids = [json.loads(m.data)["data"]["data"]["conversationId"] for m in messages]
    assert sorted(ids) == expected  # exactly those, once each
    assert sorted(report.published) == expected
    assert report.pages >= 3
    assert simulator.call_counts()["conversations_list"] == report.pages
    assert report.skipped_newer == 10
    for message in messages:
        assert message.attributes["type"] == "conversation_manual_push"
        body = json.loads(message.data)
        conversation = simulator.get_conversation(body["data"]["data"]["conversationId"])
        assert message.attributes["conversationId"] == str(conversation["id"])
        assert body["data"]["data"]["pushedAt"] == conversation["updatedAt"]


def test_backfill_dry_run_lists_and_publishes_nothing(emulator, topic, simulator, drift):
    start, end, expected = _window(simulator)
    report = backfill(drift, emulator.project, topic.name, start, end, rate=50, dry_run=True)
    assert report.dry_run is True
    assert sorted(report.published) == expected
    assert topic.drain() == []


def test_backfill_twice_gives_the_crm_the_same_idempotency_keys(emulator, topic, simulator, drift):
    start, end, expected = _window(simulator)

    def run() -> dict[int, str]:
        backfill(drift, emulator.project, topic.name, start, end, rate=50)
        keys = {}
        for message in topic.drain():
            body = json.loads(message.data)
            keys[body["data"]["data"]["conversationId"]] = event_key(body)
        return keys

    first, second = run(), run()
    assert sorted(first) == expected
    assert first == second


def test_backfill_refuses_an_empty_range(emulator, topic, drift):
    moment = dt.datetime(2021, 10, 2, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="after its start"):
        backfill(drift, emulator.project, topic.name, moment, moment)
    assert topic.drain() == []


# -- the CLI ----------------------------------------------------------------------------------


def _cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DRIFT_", "CRM_", "PUBSUB_TOPIC", "DEAD_LETTER"))
    }
    return subprocess.run(
        [sys.executable, "-m", "operations", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def test_cli_preview_renders_the_sample_conversation():
    result = _cli("preview")
    assert result.returncode == 0, result.stderr
    (request,) = json.loads(result.stdout)
    assert request["method"] == "POST"
    assert request["headers"]["Content-Type"] == "application/json"
    assert len(request["headers"]["Idempotency-Key"]) == 64
    body = request["body"]
    assert body["contact"]["email"] == seed_data.SEED_EMAIL
    assert body["transcript"] == seed_data.SAMPLE_TRANSCRIPT
    assert body["conversation"]["id"] == seed_data.SAMPLE_CONVERSATION_ID
    assert body["contact"]["id"] == seed_data.SAMPLE_CONTACT_ID


def test_cli_preview_with_the_salesforce_mapping_renders_a_lead():
    result = _cli("preview", "--mapping", "examples/mappings/salesforce.yaml")
    assert result.returncode == 0, result.stderr
    (request,) = json.loads(result.stdout)
    lead = request["body"]["Lead"]
    assert lead["Email"] == seed_data.SEED_EMAIL
    assert lead["FirstName"] == "Gregg" and lead["LastName"] == "Parker"
    assert lead["Company"] == "Camp Waziyatah"
    assert lead["Drift_Contact_Id__c"] == str(seed_data.SAMPLE_CONTACT_ID)
    assert request["body"]["Task"]["Description"] == seed_data.SAMPLE_TRANSCRIPT


def test_cli_preview_with_a_bad_mapping_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('version: 1\nbody:\n  Lead:\n    Email: {expr: "contact.email["}\n')
    result = _cli("preview", "--mapping", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "body.Lead.Email" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_replay_dry_run_prints_the_count(emulator, dead_and_events):
    dead, events, made = dead_and_events
    result = _cli(
        "replay",
        "--dry-run",
        "--type",
        "conversation_push",
        PUBSUB_EMULATOR_HOST=emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        DEAD_LETTER_SUBSCRIPTION=dead.subscription,
        PUBSUB_TOPIC=events.name,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "would replay 2 events (pulled 3, replayed 2, skipped 1, failed 0)"
    listed = [json.loads(line) for line in lines[:-1]]
    assert sorted(item["type"] for item in listed) == ["conversation_push"] * 2
    assert events.drain() == []
    assert _names(dead.drain(), made) == [GDPR, FIRST, SECOND]


def test_cli_sync_queues_the_conversation(emulator, topic):
    result = _cli(
        "sync",
        "3275727977",
        "--org-id",
        str(seed_data.ORG_ID),
        PUBSUB_EMULATOR_HOST=emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        PUBSUB_TOPIC=topic.name,
    )
    assert result.returncode == 0, result.stderr
    (message,) = topic.drain()
    assert f"(message {message.message_id})" in result.stdout
    assert message.attributes["conversationId"] == "3275727977"
    assert json.loads(message.data)["type"] == synthetic.SYNC_EVENT


def test_cli_backfill_dry_run_counts_the_range(emulator, topic, simulator):
    start, end, expected = _window(simulator)
    result = _cli(
        "backfill",
        "--since",
        start.isoformat(),
        "--until",
        end.isoformat().replace("+00:00", "Z"),
        "--rate",
        "50",
        "--dry-run",
        PUBSUB_EMULATOR_HOST=emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        PUBSUB_TOPIC=topic.name,
        DRIFT_API_BASE_URL=simulator.url,
        DRIFT_ACCESS_TOKEN=simulator.access_token,
    )
    assert result.returncode == 0, result.stderr
    listed = len(simulator.conversation_ids())
    assert result.stdout.strip() == (
        f"would queue {len(expected)} conversations from 3 pages "
        f"({listed} listed, {listed - len(expected)} outside the range)"
    )
    assert topic.drain() == []


def test_cli_backfill_without_a_drift_token_exits_2_naming_it(emulator, topic, simulator):
    result = _cli(
        "backfill",
        "--since",
        "2021-10-01T00:00:00Z",
        "--dry-run",
        PUBSUB_EMULATOR_HOST=emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        PUBSUB_TOPIC=topic.name,
        DRIFT_API_BASE_URL=simulator.url,
    )
    assert result.returncode == 2
    assert "DRIFT_ACCESS_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_replay_from_a_missing_subscription_exits_2_naming_it(emulator, topic, unique):
    missing = unique("no-such-hold")
    result = _cli(
        "replay",
        "--dry-run",
        PUBSUB_EMULATOR_HOST=emulator.host,
        GOOGLE_CLOUD_PROJECT=emulator.project,
        DEAD_LETTER_SUBSCRIPTION=missing,
        PUBSUB_TOPIC=topic.name,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0], result.stderr


@pytest.mark.parametrize("content", [None, "[1, 2]"], ids=["missing-file", "not-an-object"])
def test_cli_preview_with_an_unusable_event_file_exits_2_with_one_line(tmp_path, content):
    event = tmp_path / "event.json"
    if content is not None:
        event.write_text(content)
    result = _cli("preview", "--event", str(event))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "event.json" in lines[0], result.stderr


def test_cli_preview_of_a_gdpr_event_file_renders_the_deletion(tmp_path):
    event = tmp_path / "gdpr.json"
    event.write_text(json.dumps(seed_data.sample_gdpr_delete_requested("any-token")))
    result = _cli("preview", "--event", str(event))
    assert result.returncode == 0, result.stderr
    (request,) = json.loads(result.stdout)
    assert request["body"]["action"] == "delete_contact"
    assert request["body"]["contact"]["email"] == seed_data.SEED_EMAIL
    assert "any-token" not in result.stdout
