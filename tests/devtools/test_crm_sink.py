"""The CRM sink over real loopback HTTP: recording, signatures, API token, faults, waiting, the
HTML page, the JSON view, the record bound, the CLI. No mocks, no fixed sleeps."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.crm_sink import CrmSink, verify_signature
from devtools.emulator import wait_until
from tests.devtools import cli_helpers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sink-signing-secret"
HTTP_TIMEOUT = 10


@pytest.fixture
def sink() -> Iterator[CrmSink]:
    with CrmSink() as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def sign(body: bytes, secret: str, t: int | None = None) -> tuple[int, str]:
    """The signature as the contract defines it, computed independently of the sink."""
    t = int(time.time()) if t is None else t
    digest = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return t, digest


def post(http: requests.Session, sink: CrmSink, body: bytes | dict, path: str = "/crm", **kw):
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    kw.setdefault("timeout", HTTP_TIMEOUT)
    return http.post(f"{sink.url}{path}", data=data, headers=headers, **kw)


# -- recording --------------------------------------------------------------------------------


def test_records_a_json_post(sink, http) -> None:
    body = {"type": "conversation_push", "contact": {"id": 11751623441268737}, "name": "Zoë 👋"}
    raw = json.dumps(body, ensure_ascii=False).encode()
    response = post(http, sink, raw, path="/api/records?x=1", headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [record] = sink.received()
    assert record.method == "POST"
    assert record.path == "/api/records"
    assert record.query == "x=1"
    assert record.body == raw
    assert record.json == body
    assert record.json["contact"]["id"] == 11751623441268737  # exact above 2**53
    assert record.signature_ok is None  # no secret configured
    assert record.idempotency_key == "k-1"
    assert record.headers["idempotency-key"] == "k-1"  # lookups ignore case
    assert record.headers["Content-Type"] == "application/json"
    assert record.time > 0
    assert sink.attempt_count == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_write_methods_are_recorded(sink, http, method) -> None:
    response = http.request(method, f"{sink.url}/contacts/42", data=b"plain", timeout=10)
    assert response.status_code == 200
    [record] = sink.received()
    assert (record.method, record.path, record.body, record.json) == (
        method,
        "/contacts/42",
        b"plain",
        None,
    )


def test_get_elsewhere_is_not_recorded(sink, http) -> None:
    assert http.get(f"{sink.url}/crm", timeout=HTTP_TIMEOUT).status_code == 404
    assert http.post(f"{sink.url}/_sink/nothing", timeout=HTTP_TIMEOUT).status_code == 404
    assert sink.received() == []
    assert sink.attempt_count == 0


# -- signatures -------------------------------------------------------------------------------


@pytest.fixture
def signed_sink() -> Iterator[CrmSink]:
    with CrmSink(signing_secret=SECRET) as running:
        yield running


def signature_result(http, sink: CrmSink, body: bytes, header: str | None) -> bool | None:
    headers = {} if header is None else {"X-Signature": header}
    assert post(http, sink, body, headers=headers).status_code == 200
    return sink.received()[-1].signature_ok


def test_valid_signature(signed_sink, http) -> None:
    body = b'{"a":1}'
    t, digest = sign(body, SECRET)
    assert signature_result(http, signed_sink, body, f"t={t},v1={digest}") is True


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda body: None, id="missing"),
        pytest.param(lambda body: "t={},v1={}".format(*sign(body, "other-secret")), id="bad"),
        pytest.param(lambda body: "t={},v1={}".format(*sign(body + b" ", SECRET)), id="tampered"),
        pytest.param(
            lambda body: "t={},v1={}".format(*sign(body, SECRET, int(time.time()) - 301)),
            id="expired",
        ),
        pytest.param(
            lambda body: "t={},v1={}".format(*sign(body, SECRET, int(time.time()) + 301)),
            id="future",
        ),
        pytest.param(lambda body: f"v1={sign(body, SECRET)[1]}", id="no-timestamp"),
        pytest.param(lambda body: "t=abc,v1=00", id="garbage"),
    ],
)
def test_invalid_signatures(signed_sink, http, make_header) -> None:
    body = b'{"a":1}'
    assert signature_result(http, signed_sink, body, make_header(body)) is False


def test_signature_within_tolerance_both_ways(signed_sink, http) -> None:
    body = b'{"b":2}'
    for skew in (-290, 290):
        t, digest = sign(body, SECRET, int(time.time()) + skew)
        assert signature_result(http, signed_sink, body, f"t={t}, v1={digest}") is True


def test_rotated_signatures_any_v1_may_match(signed_sink, http) -> None:
    body = b'{"c":3}'
    t, old = sign(body, "retired-secret")
    _, new = sign(body, SECRET, t)
    assert signature_result(http, signed_sink, body, f"t={t},v1={old},v1={new}") is True
    assert signature_result(http, signed_sink, body, f"t={t},v1={old}") is False


def test_sink_accepts_several_secrets_during_rotation(http) -> None:
    body = b'{"d":4}'
    with CrmSink(signing_secret=["new-secret", "old-secret"]) as sink:
        for secret in ("new-secret", "old-secret"):
            t, digest = sign(body, secret)
            assert signature_result(http, sink, body, f"t={t},v1={digest}") is True


def test_enforced_signature_rejects_with_401(http) -> None:
    body = b'{"e":5}'
    with CrmSink(signing_secret=SECRET, enforce_signature=True) as sink:
        t, digest = sign(body, "wrong")
        response = post(http, sink, body, headers={"X-Signature": f"t={t},v1={digest}"})
        assert response.status_code == 401
        assert sink.received() == []
        [rejected] = sink.rejected()
        assert rejected.signature_ok is False


def test_verify_signature_function() -> None:
    body = b"x"
    t, digest = sign(body, SECRET, 1_700_000_000)
    header = f"t={t},v1={digest}"
    assert verify_signature(header, body, [SECRET], now=1_700_000_000)
    assert verify_signature(header, body, [SECRET], now=1_700_000_300)
    assert not verify_signature(header, body, [SECRET], now=1_700_000_301)
    assert not verify_signature(header, body, [], now=1_700_000_000)
    assert not verify_signature(None, body, [SECRET])


# -- API token --------------------------------------------------------------------------------


def test_api_token_required(http) -> None:
    with CrmSink(api_token="crm-token") as sink:
        assert post(http, sink, {"n": 1}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert post(http, sink, {"n": 2}, headers=wrong).status_code == 401
        assert post(http, sink, {"n": 3}, headers={"Authorization": "crm-token"}).status_code == 401
        right = {"Authorization": "Bearer crm-token"}
        assert post(http, sink, {"n": 4}, headers=right).status_code == 200
        assert [r.json["n"] for r in sink.received()] == [4]
        assert [r.json["n"] for r in sink.rejected()] == [1, 2, 3]
        assert all(r.status == 401 and r.outcome == "rejected" for r in sink.rejected())
        assert sink.attempt_count == 4


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "503", "429", "400", "408", "409", "422"])
def test_status_faults(sink, http, kind) -> None:
    sink.add_fault(kind)
    response = post(http, sink, {"try": 1}, headers={"Idempotency-Key": "same"})
    assert response.status_code == int(kind)
    assert sink.received() == []
    [faulted] = sink.faulted()
    assert (faulted.status, faulted.fault, faulted.outcome) == (int(kind), kind, "faulted")
    assert post(http, sink, {"try": 2}, headers={"Idempotency-Key": "same"}).status_code == 200
    assert [r.json["try"] for r in sink.received()] == [2]
    assert [r.json["try"] for r in sink.attempts()] == [1, 2]


def test_fault_times_and_forever(sink, http) -> None:
    sink.add_fault(503, times=2)
    sink.add_fault("429")
    assert [post(http, sink, {}).status_code for _ in range(4)] == [503, 503, 429, 200]
    sink.add_fault("500", times=None)
    assert [post(http, sink, {}).status_code for _ in range(3)] == [500, 500, 500]
    sink.clear_faults()
    assert post(http, sink, {}).status_code == 200


def test_fault_kinds_are_validated(sink) -> None:
    for bad in ("200", "teapot", "600", "302"):
        with pytest.raises(ValueError):
            sink.add_fault(bad)
    with pytest.raises(ValueError):
        sink.add_fault("500", times=0)


def test_reset_fault_drops_the_connection(sink, http) -> None:
    sink.add_fault("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        post(http, sink, {"n": 1})
    [faulted] = sink.faulted()
    assert (faulted.fault, faulted.status) == ("reset", 0)
    assert post(http, sink, {"n": 2}).status_code == 200


def test_slow_fault_delays_then_accepts(http) -> None:
    with CrmSink(slow_seconds=0.3) as sink:
        sink.add_fault("slow")
        started = time.monotonic()
        assert post(http, sink, {"n": 1}).status_code == 200
        assert time.monotonic() - started >= 0.3
        [record] = sink.received()
        assert record.fault == "slow"


def test_in_flight_counts_requests_being_answered(http) -> None:
    # GIVEN a CRM that holds requests
    with CrmSink(slow_seconds=600) as sink:
        sink.add_fault("slow", times=None)

        def send() -> None:
            with requests.Session() as own, contextlib.suppress(requests.RequestException):
                post(own, sink, {"n": 1}, timeout=30)  # dropped when the sink stops

        threads = [threading.Thread(target=send, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        # WHEN two requests wait THEN the sink says two are in flight, over HTTP too
        wait_until(lambda: sink.in_flight == 2, 10, "two requests in flight")
        health = http.get(f"{sink.url}/_sink/health", timeout=HTTP_TIMEOUT).json()
        assert health["in_flight"] == 2
    for thread in threads:
        thread.join(timeout=10)
    # AND none once stopped
    assert sink.in_flight == 0


def test_slow_fault_outlasts_a_client_timeout_and_stop_cuts_it_short(http) -> None:
    sink = CrmSink(slow_seconds=600).start()
    try:
        sink.add_fault("slow")
        with pytest.raises(requests.exceptions.ReadTimeout):
            post(http, sink, {"n": 1}, timeout=0.3)
    finally:
        sink.stop()  # would block for 600 s if the sleep were not cut short
    assert sink.received() == []


# -- waiting ----------------------------------------------------------------------------------


def test_wait_for_count_and_predicate(sink) -> None:
    release = threading.Event()

    def deliver() -> None:
        release.wait(10)
        with requests.Session() as own:
            for n in range(4):
                own.post(f"{sink.url}/crm", json={"n": n, "even": n % 2 == 0}, timeout=10)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    release.set()
    records = sink.wait_for(4, timeout=10)
    assert [r.json["n"] for r in records] == [0, 1, 2, 3]
    evens = sink.wait_for(lambda r: r.json["even"], timeout=10, count=2)
    assert [r.json["n"] for r in evens] == [0, 2]
    thread.join(timeout=10)


def test_wait_for_times_out_with_a_helpful_message(sink, http) -> None:
    sink.add_fault("503")
    post(http, sink, {"n": 1})
    with pytest.raises(TimeoutError) as caught:
        sink.wait_for(1, timeout=0.2)
    message = str(caught.value)
    assert "got 0" in message
    assert "503" in message
    assert "1 attempts" in message


def test_wait_for_attempts_counts_every_outcome(sink, http) -> None:
    sink.add_fault("500", times=2)
    for _ in range(3):
        post(http, sink, {})
    attempts = sink.wait_for_attempts(3, timeout=5)
    assert [a.status for a in attempts] == [500, 500, 200]


def test_by_idempotency_key(sink, http) -> None:
    for key in ("a", "b", "a"):
        post(http, sink, {"key": key}, headers={"Idempotency-Key": key})
    post(http, sink, {"key": None})
    grouped = sink.by_idempotency_key()
    assert {k: len(v) for k, v in grouped.items()} == {"a": 2, "b": 1, None: 1}


# -- views ------------------------------------------------------------------------------------


def test_html_page_escapes_redacts_and_updates_without_reloading(sink, http) -> None:
    post(http, sink, {"first": "marker-one"})
    post(
        http,
        sink,
        {"note": "<script>alert('x')</script>", "second": "marker-two"},
        headers={"Authorization": "Bearer very-secret-token"},
    )
    page = http.get(f"{sink.url}/", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.text
    assert "http-equiv" not in html  # no reload: the page polls /_sink/cards instead
    assert "/_sink/cards?after=" in html
    assert html.count("<script>") == 1  # the page's own; the body's is escaped
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "very-secret-token" not in html
    assert "Bearer ***" in html
    assert html.index("marker-two") < html.index("marker-one")  # newest first
    assert "/crm" in html
    assert "not checked" in html
    assert "http://" not in html and "https://" not in html  # no external assets


def _conversation_body(conversation_id: int, name: str) -> dict:
    return {
        "type": "conversation_push",
        "conversation": {"id": conversation_id},
        "contact": {"name": name, "email": f"{name.lower()}@example.com", "company": "Acme"},
        "participants": [{"name": "Agent Smith", "email": "agent@example.com"}],
        "transcript": "first line\nsecond line",
    }


def test_html_page_summary_comes_before_the_raw_request(sink, http) -> None:
    post(http, sink, {"zeta": 1, **_conversation_body(11751623441268737, "Zoë")})
    html = http.get(f"{sink.url}/", timeout=HTTP_TIMEOUT).text
    summary = html.index("<dl class='summary'>")
    for text in ("conversation_push", "11751623441268737", "Zoë", "zoë@example.com", "Acme"):
        assert summary < html.index(text, summary), text
    assert "Agent Smith &lt;agent@example.com&gt;" in html
    assert "<pre class='transcript'>first line\nsecond line</pre>" in html
    assert summary < html.index("<details>")
    # the raw body keeps the order it was sent in ("zeta" first), not sorted
    raw = html[html.index("<pre class='body'>") :]
    assert raw.index("zeta") < raw.index("type") < raw.index("conversation")


def test_cards_poll_returns_only_what_is_newer(sink, http) -> None:
    post(http, sink, _conversation_body(1, "Ann"))
    post(http, sink, _conversation_body(2, "Bob"))
    cards = http.get(f"{sink.url}/_sink/cards?after=1", timeout=HTTP_TIMEOUT).json()
    assert [card["seq"] for card in cards["cards"]] == [2]
    assert cards["cards"][0]["conversation"] == "2"
    assert "Bob" in cards["cards"][0]["html"] and "Ann" not in cards["cards"][0]["html"]
    assert cards["last"] == 2 and cards["counts"].startswith("2 accepted")
    nothing = http.get(f"{sink.url}/_sink/cards?after=2", timeout=HTTP_TIMEOUT).json()
    assert nothing["cards"] == [] and nothing["last"] == 2
    bad = http.get(f"{sink.url}/_sink/cards?after=x", timeout=HTTP_TIMEOUT)
    assert bad.status_code == 400


def test_html_page_filtered_by_conversation(sink, http) -> None:
    post(http, sink, _conversation_body(101, "Ann"))
    post(http, sink, _conversation_body(202, "Bob"))
    html = http.get(f"{sink.url}/?conversation=202", timeout=HTTP_TIMEOUT).text
    assert "Bob" in html and "Ann" not in html
    assert "value='202'" in html


def test_received_json_view(sink, http) -> None:
    post(http, sink, {"id": 11751623441268737}, headers={"Authorization": "Bearer tkn"})
    post(http, sink, b"not json")
    view = http.get(f"{sink.url}/_sink/received", timeout=HTTP_TIMEOUT)
    assert view.status_code == 200
    first, second = json.loads(view.text)
    assert first["body"] == {"id": 11751623441268737}
    assert first["headers"]["Authorization"] == "Bearer ***"
    assert first["method"] == "POST"
    assert first["signature_ok"] is None
    assert second["body"] == "not json"


def test_control_plane(sink, http) -> None:
    health = http.get(f"{sink.url}/_sink/health", timeout=HTTP_TIMEOUT).json()
    assert health == {"ok": True, "in_flight": 0}
    control = f"{sink.url}/_sink"
    assert http.post(f"{control}/faults", json={"kind": "409", "times": 1}, timeout=10).ok
    assert http.post(f"{control}/faults", json={"kind": "nope"}, timeout=10).status_code == 400
    assert post(http, sink, {}).status_code == 409
    assert http.post(f"{control}/faults", json={"kind": "500", "times": None}, timeout=10).ok
    assert post(http, sink, {}).status_code == 500
    assert http.post(f"{control}/faults/clear", timeout=10).ok
    assert post(http, sink, {}).status_code == 200
    attempts = http.get(f"{control}/attempts", timeout=HTTP_TIMEOUT).json()
    assert [a["status"] for a in attempts] == [409, 500, 200]
    assert http.post(f"{control}/reset", timeout=10).ok
    assert sink.received() == [] and sink.attempt_count == 0


def test_records_are_bounded(http) -> None:
    with CrmSink(max_records=5) as sink:
        for n in range(12):
            post(http, sink, {"n": n})
        assert [r.json["n"] for r in sink.received()] == [7, 8, 9, 10, 11]
        assert len(sink.attempts()) == 5
        assert sink.attempt_count == 12


def test_default_bound_is_ten_thousand(sink) -> None:
    assert sink.max_records == 10_000


# -- the CLI ----------------------------------------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    return cli_helpers.start_cli("devtools.crm_sink", "crm-sink", *args)


def test_cli_checks_token_and_signature_and_exits_cleanly(http) -> None:
    process, url = start_cli("--port", "0", "--signing-secret", SECRET, "--api-token", "tok")
    try:
        body = b'{"hello":"world"}'
        t, digest = sign(body, SECRET)
        headers: dict[str, Any] = {
            "Authorization": "Bearer tok",
            "X-Signature": f"t={t},v1={digest}",
            "Content-Type": "application/json",
        }
        assert http.post(f"{url}/crm", data=body, headers=headers, timeout=10).status_code == 200
        assert http.post(f"{url}/crm", data=body, timeout=10).status_code == 401
        [record] = http.get(f"{url}/_sink/received", timeout=10).json()
        assert record["signature_ok"] is True
        assert record["body"] == {"hello": "world"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
