"""The worker's Handler in-process: Drift simulator, CRM sink and the real emulator for dead
letters. Covers the outcomes the end-to-end tests do not pin down one by one: events too old to
retry, duplicates within an instance, app_disconnected, types the bridge does not handle."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from samples import drift_seed as seed_data
from shared import config, deadletter
from shared.handler import Handler, Outcome
from shared.push import PushedMessage
from tests.conftest import PROJECT

pytestmark = pytest.mark.emulator


@pytest.fixture
def overrides() -> dict:
    return {}


@pytest.fixture
def parts(emulator, topic_factory, overrides):
    with DriftSimulator() as simulator, CrmSink() as sink:
        dead = topic_factory("dead")
        values = {
            "google_cloud_project": PROJECT,
            "dead_letter_topic": dead.name,
            "drift_access_token": simulator.access_token,
            "drift_api_base_url": simulator.url,
            "crm_endpoint_url": f"{sink.url}/crm",
            "max_event_age_seconds": 3600,
            "ledger": "memory",
        }
        settings = config.WorkerSettings(**{**values, **overrides})
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


SURROGATE_NAME = "Zo\ud83d"  # half an emoji, cut by a web form: valid JSON, no UTF-8 form


@pytest.mark.parametrize(
    "where",
    ["contact name", "contact attribute", "conversation status", "user name", "tag"],
)
def test_a_lone_surrogate_in_a_drift_answer_is_delivered_intact(parts, where):
    handler, simulator, sink, dead = parts
    # GIVEN a conversation whose Drift answers carry a lone surrogate in one field
    conversation = seed_data.sample_conversation()
    contact = seed_data.sample_contact()
    (user,) = [u for u in seed_data.sample_users() if u["id"] == seed_data.SAMPLE_USER_ID]
    if where == "contact name":
        contact["attributes"]["name"] = SURROGATE_NAME
    elif where == "contact attribute":
        contact["attributes"]["company"] = SURROGATE_NAME
    elif where == "conversation status":
        conversation["status"] = SURROGATE_NAME
    elif where == "user name":
        user["name"] = SURROGATE_NAME
    else:
        conversation["conversationTags"] = [{"name": SURROGATE_NAME}]
    simulator.add_user(user)
    simulator.add_conversation(conversation, contact=contact, transcript="Hi there")
    # WHEN the worker handles the push
    outcome = handler.handle(pushed(seed_data.sample_conversation_push("t")))
    # THEN the CRM gets valid JSON holding the same text, and nothing is dead-lettered
    assert outcome is Outcome.DELIVERED
    (record,) = sink.received()
    assert SURROGATE_NAME in json.dumps(record.json, ensure_ascii=False)
    assert record.json["transcript"] == "Hi there"
    assert dead.drain() == []


@pytest.mark.parametrize("overrides", [{"gdpr_action": "report"}])
def test_gdpr_report_dead_letters_the_request_for_a_person(parts, logs):
    handler, _, sink, dead = parts
    # GIVEN GDPR_ACTION=report WHEN a deletion request arrives
    body = seed_data.sample_gdpr_delete_requested("t")
    outcome = handler.handle(pushed(body))
    # THEN nothing is sent to the CRM; the request waits in the dead-letter topic with why
    assert outcome is Outcome.DEAD_LETTERED
    assert sink.received() == []
    (message,) = dead.drain()
    assert "GDPR_ACTION=report" in message.attributes[deadletter.REASON]
    assert message.attributes[deadletter.ERROR] == "GdprReportedError"
    assert any(line.get("alert") == "gdpr_report" for line in logs.lines())


def test_gdpr_delete_sends_the_deletion_request_by_default(parts):
    handler, _, sink, dead = parts
    outcome = handler.handle(pushed(seed_data.sample_gdpr_delete_requested("t")))
    assert outcome is Outcome.DELIVERED
    (record,) = sink.received()
    assert record.json["contact"]["email"] == seed_data.SEED_EMAIL
    assert dead.drain() == []


@pytest.fixture
def refusing_crm(httpserver):
    """A CRM that refuses every record quoting the contact's email back, as HubSpot does."""
    answer = {"status": "error", "category": "VALIDATION_ERROR", "message": ECHOED}
    httpserver.expect_request("/crm").respond_with_json(answer, status=400)
    return httpserver


ECHOED = "Property values were not valid: email gregg.echoed@example.com"


def test_a_crm_refusal_keeps_echoed_personal_data_out_of_the_logs(parts, logs, refusing_crm):
    # GIVEN a worker whose CRM quotes the rejected value back
    handler, _, _, dead = parts
    settings = handler.settings.model_copy(
        update={"crm_endpoint_url": refusing_crm.url_for("/crm")}
    )
    # WHEN the CRM refuses the record
    outcome = Handler(settings).handle(pushed(seed_data.sample_conversation_push("t")))
    assert outcome is Outcome.DEAD_LETTERED
    # THEN the dead letter holds the CRM's answer; log lines hold its code and a digest only
    (message,) = dead.drain()
    assert "gregg.echoed@example.com" in message.attributes[deadletter.REASON]
    dead_lettered = [line for line in logs.lines() if line["message"] == "event dead-lettered"]
    assert dead_lettered and "VALIDATION_ERROR" in dead_lettered[0]["reason"]
    assert "sha256:" in dead_lettered[0]["reason"]
    assert "gregg.echoed" not in logs.text
