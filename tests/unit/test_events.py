"""Event models over the recorded Drift webhook bodies in ``tests/events/*.json``: the envelope,
the conversation id in both shapes, exact ids beyond 2**53, the event key, and the payloads of
``conversation_push`` and ``gdpr_delete_requested``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared import ingress
from shared.events import (
    AppDisconnected,
    ConversationPush,
    ConversationPushData,
    DriftEvent,
    GdprDeleteData,
    GdprDeleteRequested,
    OtherEvent,
    WebhookEnvelope,
    conversation_id_of,
    event_key,
)

EVENTS = Path(__file__).resolve().parent.parent / "events"
RECORDED = sorted(path.stem for path in EVENTS.glob("*.json"))

SAMPLE_CONVERSATION_ID = 3275727977
CONTACT_ID = 11751623441268736  # beyond 2**53: a float cannot hold it
EMAIL = "gregg.parker@example.com"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def without_token(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "token"}


def test_every_event_type_of_the_brief_is_recorded():
    types = {recorded(name)["type"] for name in RECORDED}
    assert types >= {
        "conversation_push",
        "conversation_inactive",
        "conversation_manual_push",
        "gdpr_delete_requested",
        "app_disconnected",
        "new_message",
        "contact_updated",
    }
    assert sum(name.startswith("gdpr_delete_requested") for name in RECORDED) >= 4


# --- the envelope -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_body_is_a_valid_envelope_and_event(name):
    # GIVEN a body Drift sent
    body = recorded(name)
    # WHEN the webhook validates it
    envelope = WebhookEnvelope.model_validate(body)
    # THEN its fields are read as on the wire, the token is kept out of the repr
    assert envelope.type == body["type"]
    assert envelope.orgId == 5000883
    assert envelope.token == body["token"]
    assert body["token"] not in repr(envelope)
    # AND the worker reads the same body, minus its token, as an event with every field kept
    event = DriftEvent.model_validate(without_token(body))
    assert event.type == body["type"] and event.org_id == 5000883
    assert event.model_dump(mode="json") == without_token(body)


@pytest.mark.parametrize(
    ("name", "conversation_id"),
    [
        ("conversation_push", SAMPLE_CONVERSATION_ID),
        ("conversation_manual_push", SAMPLE_CONVERSATION_ID),
        ("conversation_inactive", SAMPLE_CONVERSATION_ID),
        ("new_message", SAMPLE_CONVERSATION_ID),
        ("app_disconnected", None),
        ("contact_updated", None),
        ("gdpr_delete_requested_email", None),
    ],
)
def test_conversation_id_of_recorded_bodies(name, conversation_id):
    assert DriftEvent.model_validate(recorded(name)).conversation_id == conversation_id


@pytest.mark.parametrize(
    "body",
    [
        {"data": 1},
        {"type": ""},
        {"type": None},
        {"type": 7},
        {"type": "conversation\npush"},
        {"type": "\x00"},
        {"type": "t" * 201},
        {"type": "x", "orgId": True},
        {"type": "x", "orgId": 1.5},
        {"type": "x", "orgId": [1]},
        {"type": "x", "token": 12345},
    ],
    ids=repr,
)
def test_envelope_refuses_what_is_not_a_drift_event(body):
    with pytest.raises(ValidationError):
        WebhookEnvelope.model_validate(body)


def test_envelope_accepts_unicode_types_and_string_org_ids():
    envelope = WebhookEnvelope.model_validate({"type": "événement", "orgId": "org-5000883"})
    assert envelope.type == "événement" and envelope.orgId == "org-5000883"
    assert envelope.data is None and envelope.token is None


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"data": {"conversationId": 42}}, 42),
        ({"conversationId": 42}, 42),
        ({"conversationId": "42"}, 42),
        ({"data": {"conversationId": " 42 "}}, 42),
        ({"conversationId": 2**53 + 1}, 2**53 + 1),
        ({"conversationId": str(2**63 + 7)}, 2**63 + 7),
        ({"data": {"conversationId": 2**60 + 3}, "conversationId": 1}, 2**60 + 3),
        ({"data": {"conversationId": None}, "conversationId": 9}, 9),
        ({"data": "not a mapping", "conversationId": 9}, 9),
    ],
)
def test_conversation_id_nested_flat_and_string(data, expected):
    event = DriftEvent(type="conversation_push", data=data)
    assert event.conversation_id == expected
    assert type(event.conversation_id) is int


def test_ids_beyond_2_53_survive_exactly_through_json():
    body = json.loads(
        '{"type": "conversation_inactive", "orgId": 9007199254740993,'
        ' "data": {"conversationId": 9007199254740995, "lastUpdated": 1632349419751}}'
    )
    event = DriftEvent.model_validate(body)
    assert event.org_id == 9007199254740993
    assert event.conversation_id == 9007199254740995
    assert '"conversationId":9007199254740995' in json.dumps(
        event.model_dump(mode="json"), separators=(",", ":")
    )


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        "²",
        "٣",
        "\uff13",  # FULLWIDTH DIGIT THREE
        "1²",
        "",
        " ",
        "12a",
        "-5",
        "+5",
        "1.0",
        1.5,
        42.0,
        [42],
        {"id": 42},
    ],
    ids=repr,
)
def test_values_that_are_not_ids(value):
    # GIVEN a conversation id that is a bool, a non-ASCII digit, a float or no number at all
    # THEN neither shape yields an id
    assert conversation_id_of({"conversationId": value}) is None
    assert conversation_id_of({"data": {"conversationId": value}}) is None
    assert DriftEvent(type="x", orgId=value if isinstance(value, str) else None).org_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**64 - 1, 2**64 - 1),
        (str(2**64 - 1), 2**64 - 1),
        (0, 0),
        (2**64, None),
        (str(2**64), None),
        (-1, None),
        ("9" * 21, None),
        (10**1500, None),
    ],
    ids=repr,
)
def test_ids_are_64_bit(value, expected):
    # Drift ids exceed 2**53 but fit 64 bits; anything beyond is no id (and no attribute).
    assert conversation_id_of({"conversationId": value}) == expected


# --- the event key ------------------------------------------------------------------------------


def key_of(body: dict[str, Any]) -> str:
    """The key as the worker computes it (shared/push.py builds events with from_body)."""
    return DriftEvent.from_body(body).key()


def test_key_is_a_sha256_hex_equal_for_identical_bodies():
    first, second = recorded("conversation_push"), recorded("conversation_push")
    assert re.fullmatch(r"[0-9a-f]{64}", key_of(first))
    assert key_of(first) == key_of(second)


def test_key_ignores_the_token():
    body = recorded("conversation_push")
    assert key_of(body) == key_of({**body, "token": "another-token"}) == key_of(without_token(body))
    assert key_of(body) == event_key(body)


def test_key_changes_for_a_later_push_of_the_same_conversation():
    body = recorded("conversation_push")
    later = json.loads(json.dumps(body))
    later["data"]["data"]["pushedAt"] += 60_000
    assert key_of(later) != key_of(body)
    inactive = recorded("conversation_inactive")
    assert key_of({**inactive, "data": {**inactive["data"], "lastUpdated": 1}}) != key_of(inactive)


def test_key_is_stable_across_key_order_at_every_depth():
    body = recorded("conversation_push")
    reordered = {
        "token": body["token"],
        "data": {
            "data": dict(reversed(list(body["data"]["data"].items()))),
            "source": body["data"]["source"],
        },
        "type": body["type"],
        "orgId": body["orgId"],
    }
    assert list(reordered) != list(body)
    assert key_of(reordered) == key_of(body)


def test_key_differs_between_events_and_types():
    keys = {key_of(recorded(name)) for name in RECORDED}
    assert len(keys) == len(RECORDED)
    body = recorded("conversation_push")
    assert key_of({**body, "type": "conversation_manual_push"}) != key_of(body)


@pytest.mark.parametrize("name", RECORDED)
def test_key_of_a_full_body_is_the_same_from_body_or_validated(name):
    body = without_token(recorded(name))
    assert DriftEvent.model_validate(body).key() == DriftEvent.from_body(body).key()


@pytest.mark.parametrize("name", RECORDED)
def test_key_survives_the_webhook_hop(name):
    # GIVEN a body as Drift sent it and as the webhook published it (token stripped, re-encoded)
    body = recorded(name)
    published = json.loads(ingress.build_message(body).data)
    # THEN the worker computes the same key from either
    assert key_of(published) == key_of(body)


# --- conversation_push payload -------------------------------------------------------------------


def test_conversation_push_nested_payload():
    data = ConversationPushData.model_validate(recorded("conversation_push")["data"])
    assert data.source == "conversation_manual_push"
    assert data.data is not None and data.data.conversationId == SAMPLE_CONVERSATION_ID
    assert data.pushed_at == 1632349419751
    assert data.pushed_by == 2322756


def test_conversation_inactive_flat_payload_uses_last_updated():
    data = ConversationPushData.model_validate(recorded("conversation_inactive")["data"])
    assert data.conversationId == SAMPLE_CONVERSATION_ID
    assert data.pushed_at == 1632350019751
    assert data.pushed_by is None


def test_pushed_at_prefers_the_nested_value_and_keeps_big_ints():
    data = ConversationPushData.model_validate(
        {"data": {"conversationId": 2**60 + 1, "pushedAt": 5}, "lastUpdated": 9}
    )
    assert data.pushed_at == 5
    assert data.data is not None and data.data.conversationId == 2**60 + 1
    assert ConversationPushData.model_validate({}).pushed_at is None


# --- gdpr_delete_requested payload -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email", "contact_id"),
    [
        ("gdpr_delete_requested_email", EMAIL, None),
        ("gdpr_delete_requested_contact_id", None, CONTACT_ID),
        ("gdpr_delete_requested_end_user_id", None, CONTACT_ID),
        ("gdpr_delete_requested_nested", EMAIL, CONTACT_ID),
    ],
)
def test_gdpr_contact_across_recorded_shapes(name, email, contact_id):
    data = GdprDeleteData.model_validate(recorded(name)["data"])
    assert data.contact_email == email
    assert data.contact_id == contact_id


@pytest.mark.parametrize(
    ("data", "email", "contact_id"),
    [
        ({"attributes": {"email": EMAIL}}, EMAIL, None),
        ({"contactEmail": f"  {EMAIL} "}, EMAIL, None),
        ({"data": {"contactEmail": EMAIL, "endUserId": 7}}, EMAIL, 7),
        ({"id": "12"}, None, None),  # a bare id is not read as the contact's
        ({"email": "   ", "attributes": {"email": EMAIL}}, EMAIL, None),
        ({"contactId": 5, "endUserId": 6, "id": 7}, None, 5),
        ({"data": {"contactId": "²", "endUserId": 8}}, None, 8),
        ({"data": {"contactId": "²", "id": 8}}, None, None),
        ({"data": {"contactId": True}}, None, None),
        ({}, None, None),
    ],
    ids=repr,
)
def test_gdpr_contact_in_other_plausible_shapes(data, email, contact_id):
    parsed = GdprDeleteData.model_validate(data)
    assert parsed.contact_email == email
    assert parsed.contact_id == contact_id


# --- regressions: bugs this suite found, since fixed ----------------------------------------


@pytest.mark.parametrize("field", ["contactId", "endUserId", "id"])
@pytest.mark.parametrize("value", [True, False])
def test_gdpr_bool_is_not_a_contact_id(field, value):
    # true used to become contact 1: a GDPR deletion for the wrong contact.
    assert GdprDeleteData.model_validate({field: value}).contact_id is None


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_an_org_id(value):
    assert DriftEvent.model_validate({"type": "x", "orgId": value}).org_id is None


@pytest.mark.parametrize(
    "data",
    [
        {"email": EMAIL, "id": "8f14e45f-ceea-467f-a0e6-7c6a2f1c5b1e"},
        {"email": EMAIL, "contactId": "²"},
        {"email": EMAIL, "endUserId": 1.5},
        {"email": EMAIL, "contactId": {"nested": 1}, "attributes": ["not", "a", "map"]},
        {"email": EMAIL, "data": ["not", "a", "map"]},
    ],
    ids=["uuid-id", "superscript-contact-id", "float-end-user-id", "odd-types", "list-data"],
)
def test_gdpr_email_survives_an_unusable_id(data):
    # A non-numeric id used to fail the whole payload, losing the email that names the contact.
    parsed = GdprDeleteData.model_validate(data)
    assert parsed.contact_email == EMAIL
    assert parsed.contact_id is None


@pytest.mark.parametrize(
    "data",
    [
        {"conversationId": "abc", "lastUpdated": "soon"},
        {"source": 7, "data": ["x"], "conversationId": True},
        {"data": {"conversationId": 1.5, "pushedAt": "²"}},
    ],
    ids=repr,
)
def test_conversation_payload_with_odd_values_still_parses(data):
    parsed = ConversationPushData.model_validate(data)
    assert parsed.pushed_at is None and parsed.pushed_by is None


def test_key_of_any_published_event_is_computed():
    # key() used to go through pydantic's serializer, which stops at depth 255.
    body = {"type": "new_message", "orgId": 1, "data": json.loads("[" * 300 + "]" * 300)}
    published = json.loads(ingress.build_message(body).data)  # the webhook accepts it
    assert re.fullmatch(r"[0-9a-f]{64}", key_of(published))


# --- regressions of bugs found by this suite ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"type": "app_disconnected"}, {"type": "app_disconnected", "orgId": 5000883}],
    ids=["no-org-no-data", "no-data"],
)
def test_key_is_the_same_however_the_event_was_built(body):
    assert DriftEvent.model_validate(body).key() == DriftEvent.from_body(body).key()


# --- the payload union ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("conversation_push", ConversationPush),
        ("conversation_inactive", ConversationPush),
        ("conversation_manual_push", ConversationPush),
        ("gdpr_delete_requested_email", GdprDeleteRequested),
        ("gdpr_delete_requested_nested", GdprDeleteRequested),
        ("app_disconnected", AppDisconnected),
        ("new_message", OtherEvent),
        ("contact_updated", OtherEvent),
    ],
)
def test_each_recorded_event_parses_into_its_payload_model(name, model):
    payload = DriftEvent.from_body(recorded(name)).payload
    assert type(payload) is model
    if model is ConversationPush:
        assert payload.conversation_id == SAMPLE_CONVERSATION_ID


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"type": "conversation_push", "data": {"conversationId": "abc"}}, "conversationId"),
        ({"type": "conversation_inactive"}, "conversationId"),
        ({"type": "gdpr_delete_requested", "data": {"id": 5}}, "names no contact"),
    ],
)
def test_a_payload_that_cannot_be_acted_on_does_not_validate(body, problem):
    with pytest.raises(ValidationError, match=problem):
        DriftEvent.from_body(body).payload  # noqa: B018


def test_gdpr_payload_names_the_contact():
    payload = DriftEvent.from_body(recorded("gdpr_delete_requested_nested")).payload
    assert isinstance(payload, GdprDeleteRequested)
    assert (payload.email, payload.contact_id) == (EMAIL, CONTACT_ID)
