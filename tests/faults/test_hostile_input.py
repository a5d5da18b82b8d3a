"""Hostile and malformed requests against one running webhook process (functions-framework).

Each gets the contract's status (400/401/405/413, or the HTTP server's own refusal for what
never reaches the function), a short answer without internals, and nothing unverified is
published. The process stays healthy throughout: it never answers 500, is still alive at the
end, and still accepts a valid request. The last test drains the topic and checks that exactly
the deliberately valid requests were published.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.emulator import free_port, wait_until
from devtools.stack import FunctionProcess
from tests.faults.conftest import TOKEN, new_name

pytestmark = [pytest.mark.faults, pytest.mark.emulator]

MiB = 1024 * 1024
ENVELOPE = {"type": "conversation_push", "orgId": 5000883, "data": {"conversationId": 4242}}
JSON = {"Content-Type": "application/json"}
INTERNALS = ("Traceback", 'File "', "/work/", "site-packages", ".py", "Exception", "stack")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Webhook:
    """The webhook under attack, its topic, and what was sent and answered so far."""

    process: FunctionProcess
    admin: object
    topic: str
    subscription: str
    log_path: Path
    statuses: Counter = field(default_factory=Counter)
    published: list[bytes] = field(default_factory=list)  # what valid requests should publish

    def request(
        self, method: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.process.port, timeout=60)
        try:
            connection.request(method, "/", body=body, headers=headers or {})
            response = connection.getresponse()
            answer = Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()
        self.statuses[answer.status] += 1
        return answer

    def raw(self, payload: bytes) -> Answer:
        """Send bytes as they are (chunked bodies, bad framing) and parse the first answer."""
        with socket.create_connection(("127.0.0.1", self.process.port), timeout=60) as sock:
            with contextlib.suppress(OSError):  # the server may answer and close mid-upload
                sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        answer = Answer(int(status_line.split()[1]), headers, body)
        self.statuses[answer.status] += 1
        return answer

    def expect_published(self, body: dict) -> None:
        self.published.append(
            json.dumps({k: v for k, v in body.items() if k != "token"}, sort_keys=True).encode()
        )


@pytest.fixture(scope="module")
def webhook(emulator, admin, tmp_path_factory) -> Iterator[Webhook]:
    topic = new_name("hostile")
    subscription = f"{topic}-sub"
    admin.create_topic(topic)
    admin.create_pull_subscription(topic, subscription)
    log_path = tmp_path_factory.mktemp("hostile") / "webhook.log"
    process = FunctionProcess(
        "webhook",
        "webhook",
        free_port(),
        {
            "GOOGLE_CLOUD_PROJECT": emulator.project,
            "PUBSUB_EMULATOR_HOST": emulator.host,
            "PUBSUB_TOPIC": topic,
            "DRIFT_VERIFICATION_TOKEN": TOKEN,
            "PUBLISH_TIMEOUT_SECONDS": "10",
        },
        log_path,
    )
    try:
        process.start()
        wait_until(process.ready, 60, "the webhook to answer")
        yield Webhook(process, admin, topic, subscription, log_path)
    finally:
        process.stop()
        admin.delete_subscription(subscription)
        admin.delete_topic(topic)


def body_with(**fields) -> dict:
    return {**ENVELOPE, **fields}


def encode(body: dict) -> bytes:
    return json.dumps(body).encode()


def assert_short_json(answer: Answer) -> None:
    """The function's own answers: a small JSON object with nothing internal in it."""
    assert answer.headers.get("content-type", "").startswith("application/json"), answer
    assert len(answer.body) < 200, answer.body
    assert isinstance(json.loads(answer.body), dict)
    text = answer.body.decode()
    assert not any(marker in text for marker in INTERNALS), text
    assert TOKEN not in text


def assert_refused(answer: Answer, status: int) -> None:
    assert answer.status == status, (answer.status, answer.body[:200])
    assert_short_json(answer)


# -- tokens ------------------------------------------------------------------------------------

NEAR_MISSES = {
    "one-char-off": TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y"),
    "prefix": TOKEN[:-1],
    "suffix": TOKEN + "0",
    "case": TOKEN.upper(),
    "leading-space": " " + TOKEN,
    "trailing-newline": TOKEN + "\n",
    "doubled": TOKEN + TOKEN,
    "first-char-off": ("X" if TOKEN[0] != "X" else "Y") + TOKEN[1:],
}


@pytest.mark.parametrize("presented", list(NEAR_MISSES.values()), ids=list(NEAR_MISSES))
def test_near_miss_token_in_the_body_is_refused(webhook, presented):
    assert_refused(webhook.request("POST", encode(body_with(token=presented)), JSON), 401)


@pytest.mark.parametrize(
    "presented",
    [t for t in NEAR_MISSES.values() if t == t.strip()],
    ids=[name for name, t in NEAR_MISSES.items() if t == t.strip()],
)
def test_near_miss_token_in_the_header_is_refused(webhook, presented):
    headers = {**JSON, "X-Verification-Token": presented}
    assert_refused(webhook.request("POST", encode(ENVELOPE), headers), 401)


@pytest.mark.parametrize(
    "token",
    ["wrong", "", "a" * 100_000, 12345, None, [TOKEN], {"token": TOKEN}, True],
    ids=["wrong", "empty", "100KB", "number", "null", "list", "object", "bool"],
)
def test_wrong_empty_huge_or_non_string_body_token_is_refused(webhook, token):
    assert_refused(webhook.request("POST", encode(body_with(token=token)), JSON), 401)


def test_missing_token_is_refused(webhook):
    assert_refused(webhook.request("POST", encode(ENVELOPE), JSON), 401)


def test_empty_header_token_is_refused(webhook):
    headers = {**JSON, "X-Verification-Token": ""}
    assert_refused(webhook.request("POST", encode(ENVELOPE), headers), 401)


def test_100kb_header_token_is_refused_by_the_http_server(webhook):
    # 100 KB of header never reaches the function: the server's header limit answers first
    # (Google's front end refuses it too). Whatever answers, nothing is published.
    headers = {**JSON, "X-Verification-Token": "a" * 100_000}
    answer = webhook.request("POST", encode(ENVELOPE), headers)
    assert answer.status in (400, 401, 413, 431), answer
    assert len(answer.body) < 1024
    assert not any(marker in answer.body.decode() for marker in ("Traceback", "/work/", ".py"))


def test_token_only_in_the_header_is_accepted(webhook):
    body = body_with(data={"conversationId": 1001})
    answer = webhook.request("POST", encode(body), {**JSON, "X-Verification-Token": TOKEN})
    assert answer.status == 200, answer
    webhook.expect_published(body)


def test_token_only_in_the_body_is_accepted(webhook):
    body = body_with(token=TOKEN, data={"conversationId": 1002})
    assert webhook.request("POST", encode(body), JSON).status == 200
    webhook.expect_published(body)


def test_same_token_in_header_and_body_is_accepted(webhook):
    body = body_with(token=TOKEN, data={"conversationId": 1003})
    answer = webhook.request("POST", encode(body), {**JSON, "X-Verification-Token": TOKEN})
    assert answer.status == 200, answer
    webhook.expect_published(body)


@pytest.mark.parametrize(
    ("header", "in_body"),
    [(TOKEN, "wrong"), ("wrong", TOKEN), (TOKEN, TOKEN[:-1]), (TOKEN, None)],
    ids=["header-right-body-wrong", "header-wrong-body-right", "body-near-miss", "body-null"],
)
def test_header_and_body_that_disagree_are_refused(webhook, header, in_body):
    headers = {**JSON, "X-Verification-Token": header}
    answer = webhook.request("POST", encode(body_with(token=in_body)), headers)
    assert_refused(answer, 401)


# -- bodies ------------------------------------------------------------------------------------

T = TOKEN.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"hello",
        b"",
        b"{",
        b'{"type": "x", "token": "' + T + b'"',
        b"[1, 2, 3]",
        b'[{"type": "x", "token": "' + T + b'"}]',
        b"42",
        b'"a string"',
        b"true",
        b"null",
        b"[" * 100_000,
        b'{"type":"x","token":"' + T + b'","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"type":"x","token":"' + T + b'","data":' + b"9" * 5000 + b"}",
        b'{"type":"x","token":"' + T + b'","data":1e400}',
        b'{"type":"x","token":"' + T + b'","data":-1e400}',
        b'{"type":"x","token":"' + T + b'","data":NaN}',
        b'{"type":"x","token":"' + T + b'","data":Infinity}',
        b'{"type":"x","token":"' + T + b'","data":"\xff\xfe\xc3"}',
        b'\xef\xbb\xbf{"type":"x","token":"' + T + b'"}\xff',
        b'{"token":"' + T + b'","data":{}}',
        b'{"type":5,"token":"' + T + b'"}',
        b'{"type":"","token":"' + T + b'"}',
        b'{"type":null,"token":"' + T + b'"}',
        b'{"type":"x\\u0000y","token":"' + T + b'"}',
        b'{"type":"' + b"t" * 5000 + b'","token":"' + T + b'"}',
    ],
    ids=[
        "not-json",
        "empty",
        "truncated",
        "unterminated-object",
        "array",
        "array-of-envelopes",
        "number",
        "string",
        "true",
        "null",
        "100k-open-brackets",
        "100k-nested-data",
        "5000-digit-number",
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "invalid-utf8-in-string",
        "bom-and-trailing-garbage",
        "no-type",
        "type-not-string",
        "type-empty",
        "type-null",
        "type-with-nul",
        "type-5000-chars",
    ],
)
def test_malformed_body_is_refused_with_400(webhook, raw):
    assert_refused(webhook.request("POST", raw, JSON), 400)


def test_a_lone_surrogate_is_published_intact_not_refused(webhook):
    # Half an emoji cut by a web form is valid JSON: refusing it (Drift does not retry a 400)
    # would lose the event. It is published, escaped, and reads back to the same text.
    raw = b'{"type":"x","token":"' + TOKEN.encode() + b'","data":{"name":"Zo\\ud83d"}}'
    assert webhook.request("POST", raw, JSON).status == 200
    webhook.expect_published({"type": "x", "data": {"name": "Zo\ud83d"}})


def test_nested_data_within_limits_is_published_unchanged(webhook):
    nested: object = "bottom"
    for _ in range(500):
        nested = [nested]
    body = body_with(token=TOKEN, data={"conversationId": 1004, "deep": nested})
    assert webhook.request("POST", encode(body), JSON).status == 200
    webhook.expect_published(body)


def test_body_of_exactly_1_mib_is_accepted(webhook):
    body = body_with(token=TOKEN, data={"conversationId": 1005}, pad="")
    body["pad"] = "x" * (MiB - len(encode(body)))
    raw = encode(body)
    assert len(raw) == MiB
    assert webhook.request("POST", raw, JSON).status == 200
    webhook.expect_published(body)


def test_body_of_1_mib_and_1_byte_is_refused_with_413(webhook):
    body = body_with(token=TOKEN, data={"conversationId": 1006}, pad="")
    body["pad"] = "x" * (MiB + 1 - len(encode(body)))
    raw = encode(body)
    assert len(raw) == MiB + 1
    assert_refused(webhook.request("POST", raw, JSON), 413)


def test_chunked_body_over_1_mib_without_content_length_is_refused_with_413(webhook):
    chunk = b"a" * 65536
    head = b"POST / HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 17  # 1.06 MiB
    answer = webhook.raw(head + chunks + b"0\r\n\r\n")
    assert_refused(answer, 413)


def test_chunked_valid_body_is_accepted(webhook):
    body = body_with(token=TOKEN, data={"conversationId": 1007})
    raw = encode(body)
    head = b"POST / HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = webhook.raw(head + b"%x\r\n" % len(raw) + raw + b"\r\n0\r\n\r\n")
    assert answer.status == 200, answer
    webhook.expect_published(body)


def test_invalid_content_length_is_refused_by_the_http_server(webhook):
    head = b"POST / HTTP/1.1\r\nHost: webhook\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"
    answer = webhook.raw(head + encode(body_with(token=TOKEN)))
    assert answer.status == 400, answer
    assert b"Traceback" not in answer.body and b"/work/" not in answer.body


# -- content types and methods -----------------------------------------------------------------


def test_valid_json_sent_as_text_plain_is_accepted(webhook):
    # Drift's content type is not promised: the webhook reads JSON whatever the header says.
    body = body_with(token=TOKEN, data={"conversationId": 1008})
    answer = webhook.request("POST", encode(body), {"Content-Type": "text/plain"})
    assert answer.status == 200, answer
    webhook.expect_published(body)


def test_form_encoded_body_is_refused_with_400(webhook):
    raw = f"type=conversation_push&token={TOKEN}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_refused(webhook.request("POST", raw, headers), 400)


def test_multipart_body_is_refused_with_400(webhook):
    raw = b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n' + T + b"\r\n--b--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    assert_refused(webhook.request("POST", raw, headers), 400)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_methods_other_than_post_are_refused_with_405(webhook, method):
    answer = webhook.request(method, encode(body_with(token=TOKEN)), JSON)
    assert_refused(answer, 405)


def test_head_is_refused_without_a_body(webhook):
    answer = webhook.request("HEAD")
    assert answer.status == 405
    assert answer.body == b""


# -- what was published, and the process's health ----------------------------------------------


def test_only_the_valid_requests_were_published_and_the_process_is_healthy(webhook):
    # A valid request still gets through after everything above
    body = body_with(token=TOKEN, data={"conversationId": 1009})
    assert webhook.request("POST", encode(body), JSON).status == 200
    webhook.expect_published(body)
    # Nothing else reached the topic: drain it up to a sentinel published now
    webhook.admin.publish(webhook.topic, b"{}", kind="sentinel")
    messages = webhook.admin.wait_for_predicate(
        webhook.subscription,
        lambda got: any(m.attributes.get("kind") == "sentinel" for m in got),
        60,
    )
    published = sorted(
        json.dumps(json.loads(m.data), sort_keys=True).encode()
        for m in messages
        if m.attributes.get("kind") != "sentinel"
    )
    assert published == sorted(webhook.published)
    assert all(TOKEN.encode() not in m.data for m in messages)
    # The process never failed and is still the one that started
    assert webhook.process.process is not None and webhook.process.process.poll() is None
    assert not any(status >= 500 for status in webhook.statuses), webhook.statuses
    log = webhook.log_path.read_text(errors="replace")
    assert "Traceback" not in log
    assert TOKEN not in log
