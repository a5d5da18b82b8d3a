"""The worker's Handler in-process: Drift simulator, CRM sink and the real emulator for dead
letters. Covers the outcomes the end-to-end tests do not pin down one by one: events too old to
retry, duplicates within an instance, app_disconnected, types the bridge does not handle."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from samples import drift_seed as seed_data
from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from shared import config, deadletter
from shared.handler import Handler, Outcome
from shared.push import PushedMessage
from tests.conftest import PROJECT

pytestmark = pytest.mark.emulator


@pytest.fixture
def parts(emulator, topic_factory):
    with DriftSimulator() as simulator, CrmSink() as sink:
        dead = topic_factory("dead")
        settings = config.WorkerSettings(
            google_cloud_project=PROJECT,
            dead_letter_topic=dead.name,
            drift_access_token=simulator.access_token,
            drift_api_base_url=simulator.url,
            crm_endpoint_url=f"{sink.url}/crm",
            max_event_age_seconds=3600,
        )
        yield Handler(settings), simulator, sink, dead


def pushed(body: dict, published: dt.datetime | None = None) -> PushedMessage:
    body = {key: value for key, value in body.items() if key != "token"}
    when = published or dt.datetime.now(dt.UTC)
    return PushedMessage(json.dumps(body).encode(), {"type": body["type"]}, "m-1", when)


def test_an_event_older_than_the_maximum_age_is_dead_lettered_not_fetched(parts):
    handler, simulator, sink, dead = parts
    # GIVEN an event published two hours ago, with a maximum age of one hour
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    # WHEN it is delivered (again), THEN it is dead-lettered with the reason, Drift untouched
    outcome = handler.handle(pushed(seed_data.sample_conversation_push("t"), old))
    assert outcome is Outcome.DEAD_LETTERED
    (message,) = dead.drain()
    assert "MAX_EVENT_AGE_SECONDS" in message.attributes[deadletter.REASON]
    assert message.attributes[deadletter.ERROR] == "EventTooOldError"
    assert sum(simulator.call_counts().values()) == 0
    assert sink.received() == []


def test_a_fresh_event_is_delivered_and_its_duplicate_acknowledged_without_work(parts):
    handler, simulator, sink, dead = parts
    body = seed_data.sample_conversation_push("t")
    assert handler.handle(pushed(body)) is Outcome.DELIVERED
    calls = sum(simulator.call_counts().values())
    assert handler.handle(pushed(body)) is Outcome.DUPLICATE
    assert sum(simulator.call_counts().values()) == calls
    assert len(sink.received()) == 1
    assert dead.drain() == []


def test_app_disconnected_is_an_error_line_with_the_org_id(parts, logs):
    handler, _, sink, _ = parts
    assert handler.handle(pushed(seed_data.sample_app_disconnected("t"))) is Outcome.LOGGED
    (line,) = [entry for entry in logs.lines() if entry.get("alert") == "app_disconnected"]
    assert line["severity"] == "ERROR"
    assert line["org_id"] == seed_data.ORG_ID
    assert line["event_type"] == "app_disconnected"
    assert sink.received() == []


def test_other_event_types_are_acknowledged_and_ignored(parts):
    handler, simulator, sink, dead = parts
    body = {"type": "new_message", "orgId": 1, "data": {"conversationId": 5}}
    assert handler.handle(pushed(body)) is Outcome.IGNORED
    assert sum(simulator.call_counts().values()) == 0
    assert sink.received() == [] and dead.drain() == []
