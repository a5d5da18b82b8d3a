"""Property-based tests of the webhook over arbitrary bodies and headers (hypothesis).

Properties: nothing unverified is ever published; bad input never gets a 500 (nor a 200);
the verification token never reaches a log line, whatever else the request carries.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import VERIFICATION_TOKEN

pytestmark = pytest.mark.emulator

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Tokens an attacker might try: anything but the real one, including near misses.
wrong_tokens = st.one_of(
    st.text(max_size=64),
    st.sampled_from(
        [
            VERIFICATION_TOKEN[:-1],
            VERIFICATION_TOKEN + "x",
            VERIFICATION_TOKEN.upper(),
            " " + VERIFICATION_TOKEN,
            VERIFICATION_TOKEN[1:],
            "",
        ]
    ),
).filter(lambda token: token != VERIFICATION_TOKEN)
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=64
).filter(lambda token: token != VERIFICATION_TOKEN)

unverified_bodies = st.one_of(
    st.binary(max_size=256),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"type": st.text(max_size=20), "orgId": json_values, "data": json_values},
        optional={"token": wrong_tokens},
    ).map(lambda body: json.dumps(body).encode()),
)

SETTINGS = settings(max_examples=150, deadline=None)
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]


def test_nothing_unverified_is_published_and_nothing_answers_500(webhook_app, topic, logs):
    client = webhook_app(topic.name)
    statuses: set[int] = set()

    @SETTINGS
    @given(
        body=unverified_bodies,
        header=st.none() | header_values,
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    def unverified_request(body, header, content_type):
        headers = {} if header is None else {"X-Verification-Token": header}
        response = client.post("/", data=body, headers=headers, content_type=content_type)
        assert response.status_code in (400, 401), response.get_data(as_text=True)
        statuses.add(response.status_code)

    unverified_request()
    assert statuses == {400, 401}  # both kinds of refusal were exercised
    assert topic.drain(timeout=60) == []
    assert VERIFICATION_TOKEN not in logs.text


def test_verified_events_are_published_once_each_and_the_token_never_logged(
    webhook_app, topic, logs
):
    client = webhook_app(topic.name)
    sent: list[dict] = []

    @SETTINGS
    @given(
        data=json_values,
        org=st.integers(min_value=0, max_value=2**70),
        kind=st.text(min_size=1, max_size=30).filter(str.isprintable),
        in_header=st.booleans(),
    )
    def verified_request(data, org, kind, in_header):
        body = {"type": kind, "orgId": org, "data": data}
        headers = {"X-Verification-Token": VERIFICATION_TOKEN} if in_header else {}
        if not in_header:
            body["token"] = VERIFICATION_TOKEN
        response = client.post("/", data=json.dumps(body), headers=headers)
        assert response.status_code == 200
        sent.append({key: value for key, value in body.items() if key != "token"})

    verified_request()
    received = topic.drain(timeout=60)
    assert len(received) == len(sent)
    for message in received:
        assert VERIFICATION_TOKEN.encode() not in message.data
    canonical = sorted(json.dumps(body, sort_keys=True) for body in sent)
    assert sorted(json.dumps(json.loads(m.data), sort_keys=True) for m in received) == canonical
    assert VERIFICATION_TOKEN not in logs.text
