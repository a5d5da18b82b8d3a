"""CrmClient against real loopback HTTP: the CRM sink (headers, signature, faults, API token) and
pytest-httpserver (exact status codes, redirects, echoed answers). No patched transport, no
fixed sleeps; every wait is bounded."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.crm_sink import CrmSink
from devtools.secret_manager_server import SecretManagerServer
from shared import secrets
from shared.errors import CrmRejectedError, CrmTransientError, PermanentError, TransientError
from shared.secrets import Secret
from tests.reference_crm_client import CrmClient, Delivery

API_TOKEN = "crm-api-token-test-6e1d0f"
SIGNING_SECRET = "crm-signing-secret-test-2b7c44"
PROJECT = "drift-bridge-test"
KEY = "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
BODY = json.dumps(
    {"contact": {"id": 11751623441268736, "name": "Zoë Ångström"}, "note": "Grüße 👋"},
    ensure_ascii=False,
    separators=(",", ":"),
).encode("utf-8")


def api_token(value: str = API_TOKEN) -> Secret:
    return Secret("crm_api_token", value=value)


def signing_secret() -> Secret:
    return Secret("crm_signing_secret", value=SIGNING_SECRET)


def verify(header: str, body: bytes, secret: str) -> bool:
    """The receiving side's check, written here independently of shared.crm."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    assert set(parts) == {"t", "v1"}
    expected = hmac.new(
        secret.encode("utf-8"), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return abs(time.time() - int(parts["t"])) < 300 and hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def sink() -> Iterator[CrmSink]:
    with CrmSink(signing_secret=SIGNING_SECRET, api_token=API_TOKEN, slow_seconds=5) as running:
        yield running


@pytest.fixture
def crm() -> Iterator[CrmClient]:
    client = CrmClient(timeout=2, api_token=api_token(), signing_secret=signing_secret())
    yield client
    client.close()


def new_secret(server: SecretManagerServer, value: str) -> tuple[str, Secret]:
    secrets.configure_client(server.endpoint)
    name = server.add_version(PROJECT, f"crm-token-{uuid.uuid4().hex[:10]}", value)
    return name, Secret("crm_api_token", resource=f"{name}/versions/latest")


# -- what the CRM receives --------------------------------------------------------------------


def test_request_carries_the_headers_and_the_exact_body(sink: CrmSink, crm: CrmClient) -> None:
    delivery = crm.send(f"{sink.url}/records", BODY, KEY)

    assert delivery == Delivery(status=200, url=f"{sink.url}/records")
    (record,) = sink.wait_for(1, timeout=5)
    assert record.method == "POST"
    assert record.path == "/records"
    assert record.body == BODY
    assert record.header("Content-Type") == "application/json"
    assert record.header("Idempotency-Key") == KEY
    assert record.header("Authorization") == f"Bearer {API_TOKEN}"
    # the signature verifies with an HMAC computed here, and with the sink's own check
    assert verify(record.header("X-Signature"), record.body, SIGNING_SECRET)
    assert not verify(record.header("X-Signature"), record.body + b" ", SIGNING_SECRET)
    assert record.signature_ok is True


def test_method_from_the_mapping_is_used(sink: CrmSink, crm: CrmClient) -> None:
    crm.send(f"{sink.url}/records/42", BODY, KEY, method="PUT")

    (record,) = sink.wait_for(1, timeout=5)
    assert record.method == "PUT"
    assert record.body == BODY


def test_no_authorization_nor_signature_when_unset() -> None:
    with CrmSink() as sink:
        client = CrmClient(timeout=2)
        client.send(f"{sink.url}/records", BODY, KEY)
        (record,) = sink.wait_for(1, timeout=5)
        client.close()

    assert "Authorization" not in record.headers
    assert "X-Signature" not in record.headers
    assert record.header("Idempotency-Key") == KEY
    assert record.body == BODY


def test_each_send_is_signed_afresh(sink: CrmSink, crm: CrmClient) -> None:
    other = b'{"another":"body"}'
    crm.send(f"{sink.url}/records", BODY, KEY)
    crm.send(f"{sink.url}/records", other, "other-key")

    first, second = sink.wait_for(2, timeout=5)
    assert verify(first.header("X-Signature"), BODY, SIGNING_SECRET)
    assert verify(second.header("X-Signature"), other, SIGNING_SECRET)
    assert second.header("Idempotency-Key") == "other-key"


# -- status classes ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(httpserver: HTTPServer, crm: CrmClient, status: int) -> None:
    httpserver.expect_request("/crm", method="POST").respond_with_data(
        "" if status == 204 else '{"ok":true}', status=status
    )

    delivery = crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert delivery.status == status


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_are_transient(
    httpserver: HTTPServer, crm: CrmClient, status: int
) -> None:
    httpserver.expect_request("/crm").respond_with_data("busy, try later", status=status)

    with pytest.raises(CrmTransientError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert isinstance(caught.value, TransientError)
    assert str(status) in caught.value.full_reason
    assert "busy, try later" in caught.value.full_reason
    assert len(httpserver.log) == 1  # the client itself does not retry; Pub/Sub does


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_4xx_are_rejected_with_the_crms_answer(
    httpserver: HTTPServer, crm: CrmClient, status: int
) -> None:
    answer = json.dumps({"error": "field 'email' is required"})
    httpserver.expect_request("/crm").respond_with_data(
        answer, status=status, content_type="application/json"
    )

    with pytest.raises(CrmRejectedError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert isinstance(caught.value, PermanentError)
    assert str(status) in caught.value.full_reason
    assert answer in caught.value.full_reason


def test_a_long_answer_is_trimmed_in_the_reason(httpserver: HTTPServer, crm: CrmClient) -> None:
    httpserver.expect_request("/crm").respond_with_data("E" * 5000, status=422)

    with pytest.raises(CrmRejectedError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    reason = caught.value.full_reason
    assert "E" * 300 in reason
    assert "E" * 301 not in reason
    assert len(reason) < 400


def test_a_multiline_answer_is_one_line_in_the_reason(
    httpserver: HTTPServer, crm: CrmClient
) -> None:
    httpserver.expect_request("/crm").respond_with_data("bad\nrecord\n", status=400)

    with pytest.raises(CrmRejectedError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert "\n" not in caught.value.full_reason
    assert "bad record" in caught.value.full_reason


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_rejected_and_not_followed(
    httpserver: HTTPServer, crm: CrmClient, status: int
) -> None:
    httpserver.expect_request("/crm").respond_with_data(
        "", status=status, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    httpserver.expect_request("/elsewhere").respond_with_data('{"ok":true}', status=200)

    with pytest.raises(CrmRejectedError, match=str(status)):
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert [request.path for request, _ in httpserver.log] == ["/crm"]


# -- transport failures -----------------------------------------------------------------------


def test_timeout_is_transient(sink: CrmSink) -> None:
    # GIVEN the CRM takes 5 s and the client waits 0.3 s
    sink.add_fault("slow", times=1)
    client = CrmClient(timeout=0.3, api_token=api_token())

    with pytest.raises(CrmTransientError, match="timed out"):
        client.send(f"{sink.url}/records", BODY, KEY)
    client.close()


def test_connection_reset_is_transient(sink: CrmSink, crm: CrmClient) -> None:
    sink.add_fault("reset", times=1)

    with pytest.raises(CrmTransientError, match="unreachable"):
        crm.send(f"{sink.url}/records", BODY, KEY)
    assert sink.attempt_count == 1


def test_connection_refused_is_transient(crm: CrmClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CrmTransientError, match="unreachable"):
        crm.send(f"http://127.0.0.1:{port}/records", BODY, KEY)


@pytest.mark.parametrize("status", ["500", "503", "429"])
def test_sink_faults_are_transient_then_the_next_send_succeeds(
    sink: CrmSink, crm: CrmClient, status: str
) -> None:
    sink.add_fault(status, times=1)

    with pytest.raises(CrmTransientError, match=status):
        crm.send(f"{sink.url}/records", BODY, KEY)
    assert crm.send(f"{sink.url}/records", BODY, KEY).status == 200
    assert [r.status for r in sink.attempts()] == [int(status), 200]


# -- the API token ----------------------------------------------------------------------------


def test_401_with_an_environment_token_is_rejected_after_one_attempt(sink: CrmSink) -> None:
    client = CrmClient(timeout=2, api_token=api_token("stale-environment-token"))

    with pytest.raises(CrmRejectedError, match="401"):
        client.send(f"{sink.url}/records", BODY, KEY)

    assert sink.attempt_count == 1
    client.close()


def test_401_rereads_a_secret_manager_token_once_and_retries(
    sink: CrmSink, secret_manager: SecretManagerServer
) -> None:
    # GIVEN the client cached version 1, and the CRM now wants version 2
    name, token = new_secret(secret_manager, "crm-token-v1-aaaa")
    assert token.get() == "crm-token-v1-aaaa"
    secret_manager.add_version(PROJECT, name.rsplit("/", 1)[1], API_TOKEN)
    client = CrmClient(timeout=2, api_token=token)

    delivery = client.send(f"{sink.url}/records", BODY, KEY)

    # THEN one refusal, one re-read, one accepted retry with the new token
    assert delivery.status == 200
    assert secret_manager.access_count(name) == 2
    first, second = sink.attempts()
    assert (first.status, first.header("Authorization")) == (401, "Bearer crm-token-v1-aaaa")
    assert (second.status, second.header("Authorization")) == (200, f"Bearer {API_TOKEN}")
    assert second.body == BODY
    assert second.header("Idempotency-Key") == KEY
    client.close()


def test_401_after_rereading_is_rejected_without_a_loop(
    sink: CrmSink, secret_manager: SecretManagerServer
) -> None:
    name, token = new_secret(secret_manager, "crm-token-never-accepted")
    client = CrmClient(timeout=2, api_token=token)

    with pytest.raises(CrmRejectedError, match="401"):
        client.send(f"{sink.url}/records", BODY, KEY)

    assert sink.attempt_count == 2
    assert secret_manager.access_count(name) == 2  # the first read, then one re-read
    client.close()


def _echo_headers(request: Request) -> Response:
    """A CRM that repeats the request's headers in its error answer."""
    echoed = json.dumps({"error": "bad record", "you_sent": dict(request.headers)})
    return Response(echoed, status=400, content_type="application/json")


def test_secrets_never_appear_in_the_reason(httpserver: HTTPServer, crm: CrmClient) -> None:
    httpserver.expect_request("/crm").respond_with_handler(_echo_headers)

    with pytest.raises(CrmRejectedError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    reason = caught.value.full_reason
    assert "bad record" in reason
    assert API_TOKEN not in reason
    assert SIGNING_SECRET not in reason
    assert API_TOKEN not in str(caught.value)


def test_secret_manager_token_never_appears_in_a_transient_reason(
    httpserver: HTTPServer, secret_manager: SecretManagerServer
) -> None:
    _, token = new_secret(secret_manager, "crm-token-from-sm-9d8e7f")
    httpserver.expect_request("/crm").respond_with_data(
        "upstream echoed Bearer crm-token-from-sm-9d8e7f", status=502
    )
    client = CrmClient(timeout=2, api_token=token)

    with pytest.raises(CrmTransientError) as caught:
        client.send(httpserver.url_for("/crm"), BODY, KEY)

    assert "upstream echoed" in caught.value.full_reason
    assert "crm-token-from-sm-9d8e7f" not in caught.value.full_reason
    client.close()


def test_a_secret_cut_by_the_trim_does_not_leak_a_prefix(
    httpserver: HTTPServer, crm: CrmClient
) -> None:
    # GIVEN a CRM answer that echoes the token right across the 300-character cut
    httpserver.expect_request("/crm").respond_with_data(
        "x" * 285 + f"Bearer {API_TOKEN}" + "y" * 50, status=422
    )

    with pytest.raises(CrmRejectedError) as caught:
        crm.send(httpserver.url_for("/crm"), BODY, KEY)

    assert "x" * 200 in caught.value.full_reason
    assert API_TOKEN[:8] not in caught.value.full_reason  # "crm-api-" leaks today
