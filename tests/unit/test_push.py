"""PushedMessage: the Pub/Sub push envelope as functions-framework hands it over (a CloudEvent),
and the Drift event inside it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cloudevents.http import CloudEvent
from functions_framework.event_conversion import background_event_to_cloud_event
from werkzeug.test import EnvironBuilder

from samples import drift_seed as seed_data
from shared.errors import InvalidEventError, PermanentError
from shared.push import PushedMessage

TOPIC_PATH = "/projects/drift-bridge-test/topics/drift-events"
PUBLISHED = "2024-01-01T00:00:00Z"
EVENT = {k: v for k, v in seed_data.sample_conversation_push("t").items() if k != "token"}


def raw_push(data: str, attributes: dict[str, str] | None = None, **message: Any) -> dict:
    """The body Pub/Sub POSTs to a push endpoint."""
    return {
        "message": {
            "data": data,
            "attributes": attributes or {},
            "messageId": "1",
            "publishTime": PUBLISHED,
            **message,
        },
        "subscription": "projects/drift-bridge-test/subscriptions/drift-events-push",
    }


def as_cloud_event(body: dict) -> CloudEvent:
    """What functions-framework makes of a raw Pub/Sub push request (its own conversion)."""
    request = EnvironBuilder(path=TOPIC_PATH, method="POST", json=body).get_request()
    return background_event_to_cloud_event(request)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def pushed(raw: bytes, attributes: dict[str, str] | None = None) -> PushedMessage:
    return PushedMessage.from_cloud_event(as_cloud_event(raw_push(b64(raw), attributes)))


def direct_cloud_event(data: Any) -> CloudEvent:
    return CloudEvent(
        {
            "id": "ce-42",
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/drift-bridge-test/topics/drift-events",
        },
        data,
    )


# -- a valid push -----------------------------------------------------------------------------


def test_a_pubsub_push_yields_the_bytes_attributes_and_event() -> None:
    raw = json.dumps(EVENT).encode()

    message = pushed(raw, {"type": "conversation_push", "event_key": "abc"})

    assert message.data == raw
    assert message.attributes == {"type": "conversation_push", "event_key": "abc"}
    assert message.message_id == "1"
    assert message.publish_time == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    event = message.event()
    assert event.type == "conversation_push"
    assert event.org_id == seed_data.ORG_ID
    assert event.conversation_id == seed_data.SAMPLE_CONVERSATION_ID


def test_the_cloud_event_is_built_the_functions_framework_way() -> None:
    # a guard on the helper: the data is wrapped as {"message": {...}} with its id and time
    cloud_event = as_cloud_event(raw_push(b64(b"{}")))

    assert cloud_event["id"] == "1"
    assert cloud_event["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert set(cloud_event.data) == {"message"}
    assert cloud_event.data["message"]["messageId"] == "1"


def test_big_ids_and_non_ascii_survive_the_envelope() -> None:
    body = {"type": "contact_updated", "orgId": 1, "data": {"endUserId": 2**63 + 1, "n": "Zoë 👋"}}

    event = pushed(json.dumps(body, ensure_ascii=False).encode("utf-8")).event()

    assert event.data == {"endUserId": 2**63 + 1, "n": "Zoë 👋"}


def test_message_id_falls_back_to_the_cloud_event_id() -> None:
    data = raw_push(b64(json.dumps(EVENT).encode()))
    del data["message"]["messageId"]

    message = PushedMessage.from_cloud_event(direct_cloud_event(data))

    assert message.message_id == "ce-42"
    assert message.event().type == "conversation_push"


# -- what is not a Drift event ----------------------------------------------------------------


def test_data_that_is_not_base64_is_invalid_and_kept_raw() -> None:
    message = PushedMessage.from_cloud_event(as_cloud_event(raw_push("not base64!!")))

    assert message.data == b"not base64!!"
    assert message.message_id == "1"
    with pytest.raises(InvalidEventError, match="base64") as caught:
        message.event()
    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"{unterminated", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b'{"orgId": 1, "data": {}}', "type"),
        (b'{"type": "", "data": {}}', "type"),
        (b'{"type": 5}', "type"),
    ],
)
def test_data_that_is_not_a_drift_event_is_invalid_and_kept(raw: bytes, why: str) -> None:
    message = pushed(raw)

    assert message.data == raw
    with pytest.raises(InvalidEventError, match=why):
        message.event()


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(InvalidEventError):
        pushed(raw).event()


@pytest.mark.parametrize(
    "payload",
    [
        {"subscription": "projects/p/subscriptions/s"},
        {"message": "not an object"},
        {"message": {"data": b64(b"{}"), "attributes": {"n": 5}}},
        None,
        [1, 2],
    ],
)
def test_an_envelope_without_a_message_is_invalid_and_keeps_the_payload(payload: Any) -> None:
    message = PushedMessage.from_cloud_event(direct_cloud_event(payload))

    assert json.loads(message.data) == payload
    assert message.message_id == "ce-42"
    assert message.attributes == {}
    with pytest.raises(InvalidEventError, match="not a Pub/Sub push message"):
        message.event()


def test_bytes_cloud_event_data_is_kept_exactly() -> None:
    message = PushedMessage.from_cloud_event(direct_cloud_event(b"\x00raw push body"))

    assert message.data == b"\x00raw push body"


def test_no_cloud_event_at_all_is_invalid_not_a_crash() -> None:
    message = PushedMessage.from_cloud_event(None)

    assert message.message_id is None
    with pytest.raises(InvalidEventError):
        message.event()


# -- age --------------------------------------------------------------------------------------


def test_age_is_measured_from_the_publish_time() -> None:
    message = pushed(json.dumps(EVENT).encode())

    assert message.age_seconds(dt.datetime(2024, 1, 1, 0, 1, 30, tzinfo=dt.UTC)) == 90.0
    assert message.age_seconds(dt.datetime(2024, 1, 2, tzinfo=dt.UTC)) == 86_400.0


def test_age_without_a_now_uses_the_current_time() -> None:
    message = pushed(json.dumps(EVENT).encode())

    expected = (dt.datetime.now(dt.UTC) - dt.datetime(2024, 1, 1, tzinfo=dt.UTC)).total_seconds()
    age = message.age_seconds()
    assert age is not None and abs(age - expected) < 60


def test_age_of_a_naive_publish_time_is_taken_as_utc() -> None:
    message = PushedMessage(b"{}", {}, "1", dt.datetime(2024, 1, 1))

    assert message.age_seconds(dt.datetime(2024, 1, 1, 0, 0, 10, tzinfo=dt.UTC)) == 10.0


def test_age_is_unknown_without_a_publish_time() -> None:
    message = PushedMessage(b"{}", {}, "1", None)

    assert message.age_seconds() is None
