"""Regressions of the defects an independent review found at the edges, each against real
loopback servers (pytest-httpserver, the Secret Manager gRPC server): the per-event Drift time
budget, the signing secret's rotation with an overlap, CRM answers kept out of log lines, and
lone surrogates in bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.emulator import wait_until
from devtools.secret_manager_server import SecretManagerServer
from shared import drift_client, jsonutil, secrets
from shared.crm import describe_answer, signature_header
from shared.drift_client import DriftClient, RetryPolicy, event_deadline
from shared.errors import CrmRejectedError, DriftBudgetExceededError, DriftTransientError
from shared.secrets import Secret, SecretVersions
from tests.reference_crm_client import CrmClient

PROJECT = "drift-bridge-test"


def _drift(url: str, policy: RetryPolicy) -> DriftClient:
    token = Secret("drift_access_token", value="hardening-token-77")
    return DriftClient(url, token, connect_timeout=0.5, read_timeout=0.5, policy=policy)


# --- the per-event Drift budget ---------------------------------------------------------------


def test_every_call_of_an_event_shares_one_budget(httpserver: HTTPServer):
    # GIVEN Drift answering 503 to everything, and a client whose own budget is generous
    httpserver.expect_request("/conversations/1").respond_with_data("busy", status=503)
    httpserver.expect_request("/contacts/2").respond_with_data("busy", status=503)
    policy = RetryPolicy(
        max_attempts=50, budget_seconds=60, initial_backoff=0.05, max_backoff=0.05, jitter=0
    )
    client = _drift(httpserver.url_for(""), policy)
    # WHEN one event's calls run inside a budget that the first call's retries spend
    with event_deadline(0.3):
        deadline = drift_client._event_deadline.get()
        with pytest.raises(DriftTransientError):
            client.get_conversation(1)
        calls_after_first = len(httpserver.log)
        # THEN the first call stopped retrying inside the budget, not after its 50 attempts
        assert 1 <= calls_after_first < 50
        # AND once the budget is spent, the next call of the same event does not reach Drift
        wait_until(lambda: time.monotonic() > deadline, 5, "the event's budget to run out")
        with pytest.raises(DriftBudgetExceededError):
            client.get_contact(2)
    assert len(httpserver.log) == calls_after_first


def test_without_an_event_budget_each_call_has_its_own(httpserver: HTTPServer):
    httpserver.expect_request("/conversations/1").respond_with_json({"data": {"id": 1}})
    client = _drift(httpserver.url_for(""), RetryPolicy(budget_seconds=5))
    assert client.get_conversation(1) == {"id": 1}


# --- the signing secret: re-read, and two signatures while a rotation overlaps ----------------


def _verify(secret: str, header: str, body: bytes) -> bool:
    parts = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(value for key, value in parts if key == "t")
    wanted = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return any(
        hmac.compare_digest(value, wanted.hexdigest()) for key, value in parts if key == "v1"
    )


def test_signature_header_carries_one_v1_per_secret():
    body = b'{"a":1}'
    header = signature_header(["new-secret-1", "old-secret-0"], body, timestamp=1700000000)
    assert header.startswith("t=1700000000,v1=") and header.count("v1=") == 2
    assert _verify("new-secret-1", header, body) and _verify("old-secret-0", header, body)
    assert not _verify("other-secret", header, body)
    assert signature_header("only", body, 5).count("v1=") == 1


def test_rotated_signing_secret_is_used_mid_run_with_an_overlap(
    httpserver: HTTPServer, secret_manager: SecretManagerServer
):
    # GIVEN a signing secret in Secret Manager with one version, and a CRM that records headers
    secrets.configure_client(secret_manager.endpoint)
    secret_id = f"signing-{uuid.uuid4().hex[:8]}"
    secret_manager.add_version(PROJECT, secret_id, "signing-v1-aaaa")
    seen: list[str] = []

    def record(request: Request) -> Response:
        seen.append(request.headers["X-Signature"])
        return Response("{}", 200)

    httpserver.expect_request("/crm").respond_with_handler(record)
    resource = f"projects/{PROJECT}/secrets/{secret_id}/versions/latest"
    versions = SecretVersions(Secret("crm_signing_secret", resource=resource))
    crm = CrmClient(timeout=2, signing_secret=versions)
    body = b'{"x":1}'
    crm.send(httpserver.url_for("/crm"), body, "key-1")
    assert _verify("signing-v1-aaaa", seen[-1], body) and seen[-1].count("v1=") == 1
    # WHEN a new version is added (rotation starts) and the instance re-checks
    secret_manager.add_version(PROJECT, secret_id, "signing-v2-bbbb")
    versions.refresh()
    crm.send(httpserver.url_for("/crm"), body, "key-2")
    # THEN both signatures are sent, newest first, so the receiver may verify with either
    assert seen[-1].count("v1=") == 2
    assert _verify("signing-v2-bbbb", seen[-1], body) and _verify("signing-v1-aaaa", seen[-1], body)
    # WHEN the old version is disabled THEN only the new one signs
    secret_manager.disable_version(PROJECT, secret_id, 1)
    versions.refresh()
    crm.send(httpserver.url_for("/crm"), body, "key-3")
    assert seen[-1].count("v1=") == 1 and _verify("signing-v2-bbbb", seen[-1], body)


def test_a_refused_signature_rereads_the_signing_secret_once(
    httpserver: HTTPServer, secret_manager: SecretManagerServer
):
    # GIVEN an instance holding version 1 and a CRM that already only accepts version 2
    secrets.configure_client(secret_manager.endpoint)
    secret_id = f"signing-{uuid.uuid4().hex[:8]}"
    secret_manager.add_version(PROJECT, secret_id, "signing-v1-cccc")
    resource = f"projects/{PROJECT}/secrets/{secret_id}/versions/latest"
    versions = SecretVersions(Secret("crm_signing_secret", resource=resource))
    versions.get()
    secret_manager.add_version(PROJECT, secret_id, "signing-v2-dddd")
    secret_manager.disable_version(PROJECT, secret_id, 1)

    def check(request: Request) -> Response:
        ok = _verify("signing-v2-dddd", request.headers["X-Signature"], request.get_data())
        return Response("{}", 200 if ok else 401)

    httpserver.expect_request("/crm").respond_with_handler(check)
    # WHEN a record is sent THEN the 401 re-reads the secret and the retry is accepted
    delivery = CrmClient(timeout=2, signing_secret=versions).send(
        httpserver.url_for("/crm"), b"{}", "k"
    )
    assert delivery.status == 200 and len(httpserver.log) == 2


# --- CRM answers: in the dead letter, not in log lines -----------------------------------------


def test_a_crm_refusal_keeps_the_echoed_answer_out_of_its_reason(httpserver: HTTPServer):
    # GIVEN a CRM that quotes the rejected value back, as HubSpot and Salesforce do
    answer = [{"errorCode": "INVALID_EMAIL_ADDRESS", "message": "bad: gregg.parker@example.com"}]
    httpserver.expect_request("/crm").respond_with_json(answer, status=400)
    # WHEN a record is refused
    with pytest.raises(CrmRejectedError) as caught:
        CrmClient(timeout=2).send(httpserver.url_for("/crm"), b"{}", "k")
    error = caught.value
    # THEN the reason (what is logged) has the status, the code and a digest, not the answer
    assert "400" in error.reason and "INVALID_EMAIL_ADDRESS" in error.reason
    assert "sha256:" in error.reason and "gregg.parker" not in error.reason
    # AND the answer itself travels with the dead letter only
    assert "gregg.parker@example.com" in (error.detail or "")
    assert "gregg.parker@example.com" in error.full_reason


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"status":"error","category":"VALIDATION_ERROR","message":"x"}', "VALIDATION_ERROR"),
        ('{"success":false,"error":"unknown","error_code":"E_BAD"}', "E_BAD"),
        ('{"data":[{"code":"DUPLICATE_DATA","status":"error"}]}', "DUPLICATE_DATA"),
        ("not json at all", None),
    ],
)
def test_error_codes_of_the_vendors_answers(text, code):
    summary, detail = describe_answer(text)
    assert (f"error {code}" in summary) if code else summary.startswith("answer sha256:")
    assert detail == text


# --- lone surrogates -----------------------------------------------------------------------------


def test_a_lone_surrogate_encodes_to_json_that_reads_back_intact():
    value = {"name": "Zo\ud83d", "ok": "é"}
    encoded = jsonutil.dumps(value)
    assert json.loads(encoded) == value
    assert jsonutil.dumps({"ok": "é"}) == '{"ok":"é"}'.encode()
