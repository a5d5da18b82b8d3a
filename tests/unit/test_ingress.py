"""The webhook's helpers (contract section 4) without HTTP or Pub/Sub: reading the body,
parsing it, collecting and comparing tokens, building the message, and the order of checks.
The HTTP branches against the emulator live in tests/integration/test_webhook.py."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from shared.config import WebhookSettings
from shared.errors import ConfigError, PermanentError
from shared.ingress import (
    Ingress,
    RejectedRequest,
    TokenVerifier,
    _all_match,
    build_message,
    parse_object,
    presented_tokens,
    read_body,
)
from shared.secrets import Secret

EVENTS = Path(__file__).resolve().parent.parent / "events"
TOKEN = "unit-verification-token-3c9e"
LIMIT = 64


def sample() -> dict[str, Any]:
    return json.loads((EVENTS / "conversation_push.json").read_text(encoding="utf-8"))


def rejected(status: int, call, *args) -> RejectedRequest:
    with pytest.raises(RejectedRequest) as caught:
        call(*args)
    assert caught.value.status == status
    assert isinstance(caught.value, PermanentError)
    reason = caught.value.reason
    assert 0 < len(reason) < 80 and "\n" not in reason and "Error" not in reason
    return caught.value


# --- read_body ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "post"])
def test_read_body_refuses_anything_but_post(method):
    stream = io.BytesIO(b"{}")
    rejected(405, read_body, method, 2, stream, LIMIT)
    assert stream.tell() == 0  # refused before reading


def test_read_body_refuses_a_declared_length_over_the_limit_without_reading():
    stream = io.BytesIO(b"x" * (LIMIT + 1))
    rejected(413, read_body, "POST", LIMIT + 1, stream, LIMIT)
    assert stream.tell() == 0


@pytest.mark.parametrize("declared", [None, 10], ids=["chunked", "understated"])
def test_read_body_refuses_a_streamed_body_over_the_limit(declared):
    # GIVEN a body one byte over the limit whose length is unknown (or understated)
    stream = io.BytesIO(b"x" * (LIMIT + 1))
    # THEN it is refused by what is actually read, reading no more than limit + 1 bytes
    rejected(413, read_body, "POST", declared, stream, LIMIT)
    assert stream.tell() == LIMIT + 1


def test_read_body_never_reads_more_than_limit_plus_one():
    stream = io.BytesIO(b"x" * (10 * LIMIT))
    rejected(413, read_body, "POST", None, stream, LIMIT)
    assert stream.tell() == LIMIT + 1


@pytest.mark.parametrize("declared", [LIMIT, None])
def test_read_body_accepts_exactly_the_limit(declared):
    body = b"y" * LIMIT
    assert read_body("POST", declared, io.BytesIO(body), LIMIT) == body


def test_read_body_accepts_an_empty_post():
    assert read_body("POST", 0, io.BytesIO(b""), LIMIT) == b""


# --- parse_object ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"type": "x"', id="truncated"),
        pytest.param(b'{"type": "\xff"}', id="invalid-utf8"),
        pytest.param(b'{"type": "\xc3"}', id="truncated-utf8"),
        pytest.param(b'{"type": "x", "v": NaN}', id="nan"),
        pytest.param(b'{"type": "x", "v": Infinity}', id="infinity"),
        pytest.param(b'{"type": "x", "v": -Infinity}', id="minus-infinity"),
        pytest.param(b"[" * 100_000, id="100k-open-brackets"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-nested-arrays"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="100k-nested-objects"),
        pytest.param(b'{"type": "x", "v": ' + b"9" * 5000 + b"}", id="5000-digit-int"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"conversation_push"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="bool"),
    ],
)
def test_parse_object_answers_400_for_anything_but_a_json_object(body):
    # WHEN the body is not a JSON object, THEN a 400 (never RecursionError/ValueError escaping)
    rejected(400, parse_object, body)


def test_parse_object_keeps_big_ints_exact_and_unicode():
    parsed = parse_object('{"type":"x","orgId":9007199254740993,"n":"Zoë 😀"}'.encode())
    assert parsed == {"type": "x", "orgId": 9007199254740993, "n": "Zoë 😀"}


def test_parse_object_accepts_an_int_of_4000_digits():
    assert parse_object(b'{"v": ' + b"7" * 4000 + b"}")["v"] == int("7" * 4000)


# --- presented_tokens and _all_match --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        ({"type": "x"}, "from-header", ["from-header"]),
        ({"type": "x", "token": "from-body"}, None, ["from-body"]),
        ({"type": "x", "token": "from-body"}, "from-header", ["from-header", "from-body"]),
        ({"type": "x", "token": ""}, "", ["", ""]),
        ({"type": "x"}, None, []),
    ],
    ids=["header-only", "body-only", "both", "empty-strings", "neither"],
)
def test_presented_tokens(body, header, expected):
    assert presented_tokens(body, header) == expected


@pytest.mark.parametrize("value", [12345, None, True, ["t"], {"token": "t"}, 1.5], ids=repr)
def test_a_body_token_that_is_not_a_string_is_presented_and_never_matches(value):
    # GIVEN the right token in the header and a non-string token in the body
    tokens = presented_tokens({"type": "x", "token": value}, TOKEN)
    # THEN both are presented (the body's as a placeholder), so the request cannot pass
    assert len(tokens) == 2 and all(isinstance(token, str) for token in tokens)
    assert tokens[0] == TOKEN
    assert not _all_match(tokens, TOKEN)


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        ([TOKEN], True),
        ([TOKEN, TOKEN], True),
        ([], False),
        (["wrong"], False),
        ([TOKEN, "wrong"], False),
        (["wrong", TOKEN], False),
        ([TOKEN[:-1]], False),
        ([TOKEN + "x"], False),
        ([TOKEN.upper()], False),
        ([f" {TOKEN}"], False),
        ([""], False),
        (["\ud800"], False),
    ],
    ids=repr,
)
def test_all_match_needs_every_presented_token_to_match(presented, expected):
    assert _all_match(presented, TOKEN) is expected


def test_all_match_compares_non_ascii_tokens_by_their_utf8_bytes():
    assert _all_match(["tökén-ü"], "tökén-ü")
    assert not _all_match(["token-u"], "tökén-ü")


# --- TokenVerifier with a secret from the environment --------------------------------------------


def test_token_verifier_with_an_environment_secret():
    verifier = TokenVerifier(Secret("drift_verification_token", value=TOKEN))
    assert verifier.verify([TOKEN])
    assert verifier.verify([TOKEN, TOKEN])
    assert not verifier.verify([])
    assert not verifier.verify(["wrong"])
    assert not verifier.verify([TOKEN, "wrong"])
    # a wrong token never triggers a re-read of an environment secret: still the same answers
    assert verifier.verify([TOKEN])


# --- build_message ------------------------------------------------------------------------------


def test_build_message_strips_the_token_and_sets_the_attributes():
    # GIVEN Drift's sample body
    body = sample()
    # WHEN it becomes a Pub/Sub message
    message = build_message(body)
    # THEN the data is the body without its token, byte-for-byte free of the token
    assert json.loads(message.data) == {k: v for k, v in body.items() if k != "token"}
    assert body["token"].encode() not in message.data
    assert b'"token"' not in message.data
    # AND the attributes carry type, orgId and conversationId as strings
    assert message.attributes == {
        "type": "conversation_push",
        "orgId": "5000883",
        "conversationId": "3275727977",
    }
    # AND the caller's body is left as it was
    assert "token" in body


def test_build_message_flat_conversation_id_and_none_without_one():
    flat = build_message({"type": "conversation_inactive", "data": {"conversationId": "77"}})
    assert flat.attributes == {"type": "conversation_inactive", "conversationId": "77"}
    none = build_message({"type": "app_disconnected", "orgId": 1, "data": {"orgId": 1}})
    assert none.attributes == {"type": "app_disconnected", "orgId": "1"}


def test_build_message_keeps_ids_beyond_2_53_and_unicode_exact():
    big = 2**60 + 7
    message = build_message(
        {"type": "x", "orgId": big, "data": {"conversationId": big, "n": "Zoë"}}
    )
    assert message.attributes["orgId"] == message.attributes["conversationId"] == str(big)
    assert str(big).encode() in message.data
    assert "Zoë".encode() in message.data


def test_build_message_truncates_a_string_org_id_to_100_characters():
    message = build_message({"type": "x", "orgId": "o" * 5000})
    assert message.attributes["orgId"] == "o" * 100
    assert json.loads(message.data)["orgId"] == "o" * 5000  # the data itself is untouched


@pytest.mark.parametrize(
    "body",
    [
        {"orgId": 1},
        {"type": ""},
        {"type": 7},
        {"type": None},
        {"type": "conversation\npush"},
        {"type": "conversation_push\x00"},
        {"type": "\u200b"},
        {"type": "t" * 201},
        {"type": "x", "orgId": True},
        {"type": "x", "orgId": {"id": 1}},
    ],
    ids=repr,
)
def test_build_message_answers_400_for_a_bad_envelope(body):
    rejected(400, build_message, body)


@pytest.mark.parametrize("text", ["Zo\ud83d", "\ud800", "\udfff tail", "ok \U0001f600"])
def test_build_message_publishes_a_lone_surrogate_intact(text):
    # GIVEN a verified body whose contact name holds half an emoji (valid JSON, no UTF-8 form)
    body = {"type": "conversation_push", "orgId": 1, "data": {"name": text, "conversationId": 7}}
    # WHEN the webhook builds its message THEN it is JSON that reads back to the same text
    message = build_message(body)
    assert json.loads(message.data)["data"]["name"] == text
    assert message.data.decode("utf-8")  # the bytes are valid UTF-8
    assert message.attributes["conversationId"] == "7"


# --- Ingress: the order of checks -------------------------------------------------------------


@pytest.fixture
def ingress(monkeypatch: pytest.MonkeyPatch) -> Ingress:
    for name in ("DRIFT_VERIFICATION_TOKEN", "DRIFT_VERIFICATION_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = WebhookSettings(
        google_cloud_project="proj", drift_verification_token=TOKEN, max_body_bytes=1024
    )
    return Ingress(settings)


def accept(ingress: Ingress, body: bytes, header: str | None = None, method: str = "POST"):
    return ingress.accept(method, len(body), io.BytesIO(body), header)


@pytest.mark.parametrize(
    ("body", "header", "status"),
    [
        pytest.param(b'{"token": "wrong"}', None, 401, id="wrong-token-before-missing-type"),
        pytest.param(b'{"type": 7}', "wrong", 401, id="wrong-header-before-bad-type"),
        pytest.param(b'{"type": "x"}', None, 401, id="no-token"),
        pytest.param(b"not json", "wrong", 400, id="json-before-token"),
        pytest.param(b"x" * 1025, TOKEN, 413, id="size-before-json"),
    ],
)
def test_checks_run_cheapest_and_least_revealing_first(ingress, body, header, status):
    # An unverified caller learns nothing about what a valid envelope looks like.
    rejected(status, accept, ingress, body, header)


def test_a_verified_body_becomes_a_message(ingress):
    body = json.dumps({**sample(), "token": TOKEN}).encode()
    message = accept(ingress, body)
    assert message.attributes["type"] == "conversation_push"
    assert TOKEN.encode() not in message.data


# --- regressions: bugs this suite found, since fixed ----------------------------------------


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1e309"])
def test_an_overflowing_number_is_400_not_infinity_on_pubsub(number):
    # 1e400 used to overflow to inf and be published as the non-JSON literal Infinity.
    rejected(400, parse_object, b'{"type": "x", "data": {"v": ' + number + b"}}")


def test_a_large_finite_float_is_kept():
    message = build_message(parse_object(b'{"type": "x", "data": {"v": 1.5e308}}'))
    assert json.loads(message.data)["data"]["v"] == 1.5e308


@pytest.mark.parametrize(
    "body",
    [
        {"type": "x", "data": {"conversationId": 10**1500}},
        {"type": "x", "data": {"conversationId": 2**64 - 1}},
        {"type": "😀" * 200, "orgId": "😀" * 5000},
        {"type": "x", "orgId": 10**4000},
    ],
    ids=["huge-conversation-id", "largest-id", "four-byte-type-and-org", "huge-org-id"],
)
def test_every_attribute_fits_pubsub_limits(body):
    # An unbounded conversationId attribute used to make Pub/Sub refuse the publish (503).
    message = build_message(body)
    for key, value in message.attributes.items():
        assert len(key.encode()) <= 256 and len(value.encode()) <= 1024


def test_an_empty_configured_token_cannot_make_a_verifier():
    # An empty token used to verify any body whose token was '' (compare_digest(b'', b'')).
    with pytest.raises(ConfigError):
        TokenVerifier(Secret("drift_verification_token", value=""))
