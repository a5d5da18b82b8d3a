"""The webhook through functions-framework's test client, publishing to the real emulator.

Every branch of contract section 4: 200 only after a confirmed publish, 503 when the publish
fails, 400/401/405/413 with short reasons and nothing published.
"""

from __future__ import annotations

import json

import pytest

from samples import drift_seed as seed_data
from shared import ingress, pubsub
from tests.conftest import PROJECT, VERIFICATION_TOKEN

pytestmark = pytest.mark.emulator

SAMPLE = seed_data.sample_conversation_push(VERIFICATION_TOKEN)


def post(client, body, headers=None, **kwargs):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        "/", data=data, headers=headers or {}, content_type="application/json", **kwargs
    )


def test_verified_webhook_publishes_exactly_one_message_without_the_token(webhook_app, topic, logs):
    # GIVEN the webhook publishing to this test's topic
    client = webhook_app(topic.name)
    # WHEN Drift posts its sample conversation_push with the token in the body
    response = post(client, SAMPLE)
    # THEN it is acknowledged with the message id, and exactly that one message is on the topic
    assert response.status_code == 200, response.get_data(as_text=True)
    messages = topic.drain()
    assert len(messages) == 1
    message = messages[0]
    assert response.get_json()["messageId"] == message.message_id
    published = json.loads(message.data)
    expected = {key: value for key, value in SAMPLE.items() if key != "token"}
    assert published == expected
    assert VERIFICATION_TOKEN.encode() not in message.data
    assert message.attributes["type"] == "conversation_push"
    assert message.attributes["orgId"] == "5000883"
    assert message.attributes["conversationId"] == "3275727977"
    assert VERIFICATION_TOKEN not in logs.text
    assert any(line["message"] == "webhook published" for line in logs.lines())


def test_token_in_header_only_is_accepted_and_ids_beyond_2_53_survive(webhook_app, topic):
    client = webhook_app(topic.name)
    big = 2**60 + 7
    body = {"type": "conversation_inactive", "orgId": 5000883, "data": {"conversationId": big}}
    response = post(client, body, {"X-Verification-Token": VERIFICATION_TOKEN})
    assert response.status_code == 200
    (message,) = topic.drain()
    assert json.loads(message.data)["data"]["conversationId"] == big
    assert message.attributes["conversationId"] == str(big)


def test_every_event_type_is_published(webhook_app, topic):
    client = webhook_app(topic.name)
    for kind in ("gdpr_delete_requested", "app_disconnected", "some_future_event"):
        body = {"type": kind, "orgId": 1, "token": VERIFICATION_TOKEN, "data": {}}
        assert post(client, body).status_code == 200
    kinds = sorted(m.attributes["type"] for m in topic.drain())
    assert kinds == ["app_disconnected", "gdpr_delete_requested", "some_future_event"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        pytest.param({**SAMPLE, "token": "wrong"}, {}, 401, id="wrong-body-token"),
        pytest.param({k: v for k, v in SAMPLE.items() if k != "token"}, {}, 401, id="no-token"),
        pytest.param(
            {k: v for k, v in SAMPLE.items() if k != "token"},
            {"X-Verification-Token": "wrong"},
            401,
            id="wrong-header-token",
        ),
        pytest.param(SAMPLE, {"X-Verification-Token": "wrong"}, 401, id="header-disagrees"),
        pytest.param({**SAMPLE, "token": ""}, {}, 401, id="empty-token"),
        pytest.param({**SAMPLE, "token": 12345}, {}, 401, id="token-not-a-string"),
        pytest.param({**SAMPLE, "token": VERIFICATION_TOKEN[:-1]}, {}, 401, id="near-miss"),
        pytest.param(b"not json", {}, 400, id="not-json"),
        pytest.param(b"[1, 2]", {}, 400, id="array"),
        pytest.param(b'"conversation_push"', {}, 400, id="scalar"),
        pytest.param(b"\xff\xfe{}", {}, 400, id="invalid-utf8"),
        pytest.param(b'{"type": NaN}', {}, 400, id="nan"),
        pytest.param({"token": VERIFICATION_TOKEN, "orgId": 1}, {}, 400, id="no-type"),
        pytest.param({"token": VERIFICATION_TOKEN, "type": 7}, {}, 400, id="type-not-string"),
        pytest.param({"token": VERIFICATION_TOKEN, "type": ""}, {}, 400, id="empty-type"),
    ],
)
def test_rejected_requests_publish_nothing(webhook_app, topic, logs, body, headers, status):
    client = webhook_app(topic.name)
    response = post(client, body, headers)
    assert response.status_code == status
    reason = response.get_json()["error"]
    assert 0 < len(reason) < 80 and "Traceback" not in reason
    assert topic.drain() == []
    assert VERIFICATION_TOKEN not in logs.text


def test_body_over_one_mib_is_413(webhook_app, topic):
    client = webhook_app(topic.name)
    filler = "x" * (1024 * 1024)
    response = post(client, {"type": "conversation_push", "token": VERIFICATION_TOKEN, "f": filler})
    assert response.status_code == 413
    assert topic.drain() == []


def test_body_of_exactly_one_mib_is_accepted(webhook_app, topic):
    client = webhook_app(topic.name)
    head = {"type": "conversation_push", "token": VERIFICATION_TOKEN, "f": ""}
    padding = 1024 * 1024 - len(json.dumps(head))
    body = json.dumps({**head, "f": "x" * padding})
    assert len(body) == 1024 * 1024
    assert post(client, body).status_code == 200
    assert len(topic.drain()) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405(webhook_app, topic, method):
    client = webhook_app(topic.name)
    response = client.open("/", method=method, data=json.dumps(SAMPLE))
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert topic.drain() == []


def test_missing_topic_gives_503(webhook_app, unique, logs):
    client = webhook_app(unique("no-such-topic"))
    response = post(client, SAMPLE)
    assert response.status_code == 503
    assert "error" in response.get_json()
    assert any(line["severity"] == "ERROR" for line in logs.lines())


def test_emulator_gone_gives_503_within_the_publish_timeout(webhook_app, topic, monkeypatch):
    # GIVEN a publisher pointed at a port where nothing listens
    from devtools.emulator import free_port

    pubsub.reset()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    try:
        client = webhook_app(topic.name, PUBLISH_TIMEOUT_SECONDS="1")
        # WHEN Drift posts, THEN it gets a 503 it can retry on, not a hang or a 200
        assert post(client, SAMPLE).status_code == 503
    finally:
        pubsub.reset()
        monkeypatch.undo()
    # AND nothing reached the real topic
    assert topic.drain() == []


def test_verification_token_from_secret_manager_and_rotation(
    webhook_app, topic, secret_manager, monkeypatch, logs
):
    # GIVEN the token only in Secret Manager
    name = secret_manager.add_version(PROJECT, "verify-rotation", "first-token-abc")
    client = webhook_app(
        topic.name,
        DRIFT_VERIFICATION_TOKEN_SECRET=name,
        SECRET_MANAGER_ENDPOINT=secret_manager.endpoint,
        DRIFT_VERIFICATION_TOKEN=None,
    )
    body = {"type": "conversation_push", "orgId": 1, "data": {}}
    assert post(client, {**body, "token": "first-token-abc"}).status_code == 200
    reads = secret_manager.access_count(name)
    assert post(client, {**body, "token": "first-token-abc"}).status_code == 200
    assert secret_manager.access_count(name) == reads  # cached per instance
    # WHEN the secret is rotated, THEN a request with the new token re-reads it once
    monkeypatch.setattr(ingress.TokenVerifier, "REFRESH_INTERVAL_SECONDS", 0.0)
    secret_manager.add_version(PROJECT, "verify-rotation", "second-token-def")
    assert post(client, {**body, "token": "second-token-def"}).status_code == 200
    assert post(client, {**body, "token": "first-token-abc"}).status_code == 401
    assert len(topic.drain()) == 3
    assert "first-token-abc" not in logs.text and "second-token-def" not in logs.text
