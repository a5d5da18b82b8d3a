"""Replay over subscriptions that hold more dead letters than one pull returns, and a replay that
fails halfway, against the real Pub/Sub emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from devtools.pubsub_admin import PubSubAdmin
from operations.replay import MAX_MESSAGES_PER_PULL, replay
from shared import deadletter

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parent.parent.parent
MANY = 2 * MAX_MESSAGES_PER_PULL + 37  # more than one pull can return, not a multiple of it


def _dead_letters(admin: PubSubAdmin, topic: str, count: int, every_gdpr: int = 0) -> list[bytes]:
    """``count`` dead letters as the worker writes them; every ``every_gdpr``-th is a GDPR
    request, the others conversation pushes. Returns their data, in publish order."""
    made = []
    futures = []
    for number in range(count):
        gdpr = every_gdpr and number % every_gdpr == 0
        event_type = "gdpr_delete_requested" if gdpr else "conversation_push"
        body = {"type": event_type, "orgId": 5000883, "data": {"data": {"conversationId": number}}}
        data = json.dumps(body, separators=(",", ":")).encode()
        attributes = {
            "type": event_type,
            "orgId": "5000883",
            "conversationId": str(number),
            deadletter.REASON: f"CRM answered 422 (#{number})",
            deadletter.ERROR: "CrmRejectedError",
            deadletter.ORIGINAL_MESSAGE_ID: str(7000 + number),
            deadletter.DEAD_LETTERED_AT: "2024-05-01T12:00:00+00:00",
        }
        futures.append(admin.publisher.publish(admin.topic(topic), data, **attributes))
        made.append(data)
    for future in futures:
        future.result(timeout=30)
    return made


def _conversation_ids(messages) -> list[int]:
    return [json.loads(m.data)["data"]["data"]["conversationId"] for m in messages]


def test_replay_drains_a_subscription_holding_more_than_one_pull(emulator, admin, topic_factory):
    # GIVEN a dead-letter subscription holding more messages than one pull returns
    dead, events = topic_factory("rp-dl"), topic_factory("rp-ev")
    made = _dead_letters(admin, dead.name, MANY)

    # WHEN the operator replays everything
    report = replay(emulator.project, dead.subscription, events.name)

    # THEN every one was replayed exactly once, and the counts say so
    assert report.pulled == MANY
    assert len(report.replayed) == MANY
    assert report.skipped == 0 and report.failed == []
    republished = events.drain()
    assert Counter(m.data for m in republished) == Counter(made)
    assert all(deadletter.REASON not in m.attributes for m in republished)
    assert len({item["new_message_id"] for item in report.replayed}) == MANY
    # AND the dead letters are gone
    assert dead.drain() == []
    assert report.summary() == f"replayed {MANY} events (pulled {MANY}, replayed {MANY}, " + (
        "skipped 0, failed 0)"
    )


def test_replay_by_type_over_many_leaves_every_other_one_in_place(emulator, admin, topic_factory):
    # GIVEN many dead letters, one in five a GDPR request
    dead, events = topic_factory("rp-dl"), topic_factory("rp-ev")
    _dead_letters(admin, dead.name, MANY, every_gdpr=5)
    gdpr = sum(1 for number in range(MANY) if number % 5 == 0)

    # WHEN only the GDPR requests are replayed
    report = replay(emulator.project, dead.subscription, events.name, "gdpr_delete_requested")

    # THEN exactly those went out, each once; the rest stay, counted as skipped
    assert len(report.replayed) == gdpr
    assert report.skipped == MANY - gdpr
    assert report.pulled == MANY
    replayed = _conversation_ids(events.drain())
    assert sorted(replayed) == [n for n in range(MANY) if n % 5 == 0]
    left = _conversation_ids(dead.drain())
    assert sorted(left) == [n for n in range(MANY) if n % 5 != 0]


def test_a_replay_that_fails_halfway_republishes_nothing_twice(emulator, admin, topic_factory):
    # GIVEN many dead letters, and an events topic that disappears after 7 republishes
    dead, first_target, second_target = (
        topic_factory("rp-dl"),
        topic_factory("rp-ev1"),
        topic_factory("rp-ev2"),
    )
    _dead_letters(admin, dead.name, MANY)
    done: list[dict] = []

    def vanish_after_seven(summary: dict) -> None:
        done.append(summary)
        if len(done) == 7:
            admin.delete_topic(first_target.name)

    # WHEN the replay runs into the failure
    first = replay(
        emulator.project, dead.subscription, first_target.name, on_replayed=vanish_after_seven
    )

    # THEN the 7 confirmed republishes were acknowledged one by one; the others failed and stay
    assert len(first.replayed) == 7
    assert len(first.failed) == MANY - 7
    assert all(item["error"] for item in first.failed)
    assert first.pulled == MANY
    assert "failed 230)" in first.summary()

    # WHEN the operator replays again, to a working topic
    replay(emulator.project, dead.subscription, second_target.name)

    # THEN only the ones not yet republished go out: none twice, none lost
    first_ids = {int(item["conversation_id"]) for item in first.replayed}
    second_ids = _conversation_ids(second_target.drain())
    assert len(second_ids) == MANY - 7 == len(set(second_ids))
    assert first_ids.isdisjoint(second_ids)
    assert first_ids | set(second_ids) == set(range(MANY))
    assert dead.drain() == []


def test_replay_limit_over_many_takes_that_many_and_keeps_the_rest(emulator, admin, topic_factory):
    dead, events = topic_factory("rp-dl"), topic_factory("rp-ev")
    _dead_letters(admin, dead.name, MANY)
    limit = MAX_MESSAGES_PER_PULL + 5
    report = replay(emulator.project, dead.subscription, events.name, limit=limit)
    assert len(report.replayed) == limit
    replayed = _conversation_ids(events.drain())
    left = _conversation_ids(dead.drain())
    assert len(replayed) == limit
    assert sorted(replayed + left) == list(range(MANY))


def test_cli_replay_prints_the_counts_and_exits_0(emulator, admin, topic_factory):
    dead, events = topic_factory("rp-dl"), topic_factory("rp-ev")
    _dead_letters(admin, dead.name, 12, every_gdpr=4)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DRIFT_", "CRM_", "PUBSUB_TOPIC", "DEAD_LETTER", "LEDGER"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "operations", "replay", "--type", "conversation_push"],
        cwd=ROOT,
        env={
            **env,
            "PUBSUB_EMULATOR_HOST": emulator.host,
            "GOOGLE_CLOUD_PROJECT": emulator.project,
            "DEAD_LETTER_SUBSCRIPTION": dead.subscription,
            "PUBSUB_TOPIC": events.name,
            "LEDGER": "memory",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "replayed 9 events (pulled 12, replayed 9, skipped 3, failed 0)"
    assert len(events.drain()) == 9
    assert len(dead.drain()) == 3
