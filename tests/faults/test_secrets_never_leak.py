"""No secret leaves the bridge: not in a log line, a Pub/Sub message, a CRM body or an answer.

One scenario drives the whole stack with distinctive secret values (the verification token,
the Drift access token read from Secret Manager and then rotated, the CRM API token and the CRM
signing secret) through success, a 403 rotation, a Drift token refused for good, a transient and
a permanent CRM failure, and hostile requests carrying near-misses of the token. Then every
place the stack wrote to is searched for every secret.
"""

from __future__ import annotations

import http.client
import inspect
import io
import json
import tokenize
from dataclasses import dataclass, field

import pytest

from devtools.pubsub_admin import Received
from devtools.stack import LocalStack
from shared import ingress
from tests.faults.conftest import (
    Ledger,
    new_name,
    push_body,
    running_stack,
    stack_config,
)

pytestmark = [pytest.mark.faults, pytest.mark.emulator, pytest.mark.stack]

VERIFICATION = "vtok-LEAKCANARY-7f3a9c1e5b"
DRIFT_OLD = "drift-LEAKCANARY-old-4c2e9a7b"
DRIFT_NEW = "drift-LEAKCANARY-new-91d3f0aa"
CRM_API = "crmapi-LEAKCANARY-5b8e2d1f"
CRM_SIGNING = "crmsign-LEAKCANARY-0a6c4e93"
SECRETS = {
    "DRIFT_VERIFICATION_TOKEN": VERIFICATION,
    "DRIFT_ACCESS_TOKEN (first version)": DRIFT_OLD,
    "DRIFT_ACCESS_TOKEN (rotated)": DRIFT_NEW,
    "CRM_API_TOKEN": CRM_API,
    "CRM_SIGNING_SECRET": CRM_SIGNING,
}
#: Presented by hostile requests: each holds most of the verification token.
NEAR_MISSES = [
    VERIFICATION[:-1],
    VERIFICATION + "0",
    VERIFICATION.upper(),
    VERIFICATION[:-1] + "x",
    "x" + VERIFICATION[1:],
]


@dataclass
class Scenario:
    stack: LocalStack
    ledger: Ledger
    published: list[Received] = field(default_factory=list)  # the events topic, via a spy
    answers: list[bytes] = field(default_factory=list)  # the webhook's answers
    transcripts: list[str] = field(default_factory=list)
    secret_reads: tuple[int, int] = (0, 0)  # Secret Manager reads before/after the rotation
    acknowledged: int = 0  # webhooks answered 200


def _raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def scenario(emulator, firestore_emulator, secret_manager):
    secret_id = new_name("leak-drift-token")
    secret_name = secret_manager.add_version(emulator.project, secret_id, DRIFT_OLD)
    config = stack_config(
        emulator,
        verification_token=VERIFICATION,
        access_token=DRIFT_OLD,  # what the simulator accepts at first
        sink_signing_secret=CRM_SIGNING,
        sink_api_token=CRM_API,  # the sink demands it; the stack gives it to the worker
        webhook_env={"LOG_LEVEL": "DEBUG"},
        worker_env={
            "LOG_LEVEL": "DEBUG",
            "DRIFT_ACCESS_TOKEN_SECRET": secret_name,
            "SECRET_MANAGER_ENDPOINT": secret_manager.endpoint,
        },
    )
    spy = f"{config.topic}-spy"

    def create_spy(config):
        from devtools.pubsub_admin import PubSubAdmin

        with PubSubAdmin(config.project) as admin:
            admin.create_topic(config.topic)
            admin.create_pull_subscription(config.topic, spy)
        return [spy]

    with running_stack(config, before_start=create_spy) as stack:
        ledger = Ledger(stack)
        found = Scenario(stack, ledger)
        ids = stack.simulator.generate_conversations(8, non_ascii=True)
        found.transcripts = [stack.simulator.get_transcript(cid) for cid in ids]

        # Success: token in the body, then in the header only
        delivered = [ledger.send(push_body(ids[0], token=VERIFICATION))]
        header_only = {k: v for k, v in push_body(ids[1]).items() if k != "token"}
        delivered.append(ledger.send(header_only, {"X-Verification-Token": VERIFICATION}))
        ledger.account(delivered).assert_all_delivered(delivered)
        found.acknowledged += 2
        reads = secret_manager.access_count(secret_name)

        # The Drift token is rotated: a 403, a re-read from Secret Manager, then delivery
        secret_manager.add_version(emulator.project, secret_id, DRIFT_NEW)
        stack.simulator.rotate_access_token(DRIFT_NEW)
        rotated = [ledger.send(push_body(ids[2], token=VERIFICATION))]
        ledger.account(rotated).assert_all_delivered(rotated)
        found.secret_reads = (reads, secret_manager.access_count(secret_name))
        found.acknowledged += 1

        # Drift refuses the token for good (403 even after re-reading): dead-lettered
        stack.simulator.add_fault("conversation", "403", times=2)
        refused = ledger.send(push_body(ids[3], token=VERIFICATION))
        assert refused in ledger.account([refused]).dead
        stack.simulator.clear_faults()
        found.acknowledged += 1

        # The CRM fails once transiently (redelivered), then refuses a record (dead-lettered)
        stack.sink.add_fault("503", times=1)
        retried = ledger.send(push_body(ids[4], token=VERIFICATION))
        ledger.account([retried]).assert_all_delivered([retried])
        stack.sink.add_fault("422", times=1)
        rejected = ledger.send(push_body(ids[5], token=VERIFICATION))
        assert rejected in ledger.account([rejected]).dead
        found.acknowledged += 2

        # Hostile requests, each holding most (or all) of a secret somewhere it must not echo
        port = stack.webhook.port
        json_headers = {"Content-Type": "application/json"}
        for presented in NEAR_MISSES:
            body = json.dumps(push_body(ids[6], token=presented)).encode()
            found.answers.append(_raw_post(port, "/", body, json_headers)[1])
            headers = {**json_headers, "X-Verification-Token": presented}
            body = json.dumps(push_body(ids[6], token=VERIFICATION)).encode()
            found.answers.append(_raw_post(port, "/", body, headers)[1])
        for path, body, headers in [
            ("/", f"token={VERIFICATION}&type=x".encode(), {}),
            ("/", f'{{"token": "{VERIFICATION}", "type": '.encode(), json_headers),
            ("/", json.dumps([{"token": VERIFICATION, "type": "x"}]).encode(), json_headers),
            ("/", json.dumps({"token": VERIFICATION}).encode(), json_headers),  # no type
            (f"/?token={VERIFICATION}", json.dumps(push_body(ids[6], "no")).encode(), {}),
            ("/", json.dumps(push_body(ids[6], token=DRIFT_NEW)).encode(), json_headers),
            ("/", json.dumps(push_body(ids[6], token=CRM_API)).encode(), json_headers),
        ]:
            status, answer = _raw_post(port, path, body, headers)
            assert status in (400, 401), (status, answer)
            found.answers.append(answer)

        # A last good event, so that everything above has certainly been handled before it
        last = [ledger.send(push_body(ids[7], token=VERIFICATION))]
        ledger.account(last).assert_all_delivered(last)
        found.acknowledged += 1

        found.published = stack.admin.wait_for(spy, found.acknowledged, timeout=30)
        found.published += stack.admin.pull(spy)
        ledger.collect()
        yield found


def _places(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def test_the_scenario_took_every_path(scenario):
    before, after = scenario.secret_reads
    assert after > before  # the rotated token was re-read from Secret Manager
    reasons = [dead.reason for dead in scenario.ledger.dead]
    assert any("403" in reason for reason in reasons), reasons
    assert any("422" in reason for reason in reasons), reasons
    assert any(record.status == 503 for record in scenario.stack.sink.attempts())
    assert all(record.signature_ok for record in scenario.stack.sink.received())
    assert len(scenario.published) == scenario.acknowledged == 7


def test_no_secret_in_any_log_line(scenario):
    logs = scenario.stack.logs()
    assert logs.count("\n") > 20  # the logs are there to be searched
    assert _places(logs, SECRETS) == []
    near = {f"near-miss {i}": token for i, token in enumerate(NEAR_MISSES)}
    assert _places(logs, near) == []  # presented tokens are not logged either
    for transcript in scenario.transcripts:
        assert transcript not in logs


def test_no_secret_in_any_pubsub_message(scenario):
    messages = scenario.published + [dead.message for dead in scenario.ledger.dead]
    assert messages
    for message in messages:
        text = message.data.decode("utf-8", "replace") + json.dumps(message.attributes)
        assert _places(text, SECRETS) == [], message


def test_no_secret_in_any_crm_body_or_header_but_its_own_token(scenario):
    attempts = scenario.stack.sink.attempts()
    assert attempts
    for record in attempts:
        assert _places(record.text, SECRETS) == []
        for name, value in record.headers.items():
            if name.lower() == "authorization":
                assert value == f"Bearer {CRM_API}"  # the one place the CRM token belongs
                continue
            assert _places(value, SECRETS) == [], (name, value)


def test_no_secret_in_any_webhook_answer(scenario):
    assert scenario.answers
    for answer in scenario.answers:
        text = answer.decode("utf-8", "replace")
        assert _places(text, SECRETS) == [], text
        assert not any(token in text for token in NEAR_MISSES), text


def test_every_log_line_is_one_json_object_with_severity_and_message(scenario):
    for line in scenario.stack.logs().splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        assert isinstance(entry, dict), f"not a JSON object: {line!r}"
        assert "severity" in entry and "message" in entry, line


def _code_without_comments(function) -> str:
    source = inspect.getsource(function)
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(
        token.string for token in tokens if token.type not in (tokenize.COMMENT, tokenize.STRING)
    )


def test_the_webhook_compares_tokens_in_constant_time():
    code = _code_without_comments(ingress._all_match)
    assert "compare_digest" in code
    assert "==" not in code and "!=" not in code
    verify = _code_without_comments(ingress.TokenVerifier.verify)
    assert "_all_match" in verify
    assert "==" not in verify and "!=" not in verify
