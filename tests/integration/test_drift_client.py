"""DriftClient against real loopback HTTP: the Drift simulator for every endpoint and fault, and
pytest-httpserver where an exact answer is needed (Retry-After values, 400, non-JSON 200, the
request headers). No patched transport, no fixed sleeps; every wait is bounded."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.drift_simulator import DriftSimulator
from devtools.secret_manager_server import SecretManagerServer
from samples import drift_seed as seed_data
from shared import logger, secrets
from shared.drift_client import DriftClient, RetryPolicy
from shared.errors import (
    DriftAuthError,
    DriftNotFoundError,
    DriftRequestError,
    DriftTransientError,
    PermanentError,
    TransientError,
)
from shared.secrets import Secret

TOKEN = "drift-client-test-token-3f9a1c"
PROJECT = "drift-bridge-test"
CONV = seed_data.SAMPLE_CONVERSATION_ID
CONTACT = seed_data.SAMPLE_CONTACT_ID
TWO_53 = 2**53
FAST = RetryPolicy(
    max_attempts=4, budget_seconds=5, initial_backoff=0.01, max_backoff=0.05, jitter=0.01
)


def make_client(
    url: str,
    token: Secret | str = TOKEN,
    *,
    read_timeout: float = 0.5,
    policy: RetryPolicy = FAST,
) -> DriftClient:
    secret = token if isinstance(token, Secret) else Secret("drift_access_token", value=token)
    return DriftClient(url, secret, connect_timeout=0.5, read_timeout=read_timeout, policy=policy)


@pytest.fixture
def sim() -> Iterator[DriftSimulator]:
    with DriftSimulator(access_token=TOKEN, timeout_seconds=2) as running:
        yield running


@pytest.fixture
def client(sim: DriftSimulator) -> Iterator[DriftClient]:
    drift = make_client(sim.url)
    yield drift
    drift.close()


@pytest.fixture
def http_client(httpserver: HTTPServer) -> Iterator[DriftClient]:
    drift = make_client(httpserver.url_for("/").rstrip("/"))
    yield drift
    drift.close()


def calls(sim: DriftSimulator, endpoint: str) -> int:
    return sim.call_counts()[endpoint]


def new_secret(server: SecretManagerServer, value: str) -> tuple[str, Secret]:
    """A fresh secret in the local Secret Manager and a ``Secret`` reading its latest version."""
    secrets.configure_client(server.endpoint)
    name = server.add_version(PROJECT, f"drift-token-{uuid.uuid4().hex[:10]}", value)
    return name, Secret("drift_access_token", resource=f"{name}/versions/latest")


class Arrivals:
    """A pytest-httpserver handler answering from a script, recording when each request came."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.times: list[float] = []
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        self.requests.append({"headers": dict(request.headers), "args": dict(request.args)})
        if len(self.answers) > 1:
            return self.answers.pop(0)
        return self.answers[0]


def ok_json(obj: Any) -> Response:
    return Response(json.dumps(obj), status=200, content_type="application/json")


# -- endpoints --------------------------------------------------------------------------------


def test_get_conversation_returns_the_data_object(client: DriftClient, sim: DriftSimulator) -> None:
    conversation = client.get_conversation(CONV)

    assert conversation == seed_data.sample_conversation()
    assert calls(sim, "conversation") == 1


def test_get_contact_keeps_an_id_above_2_53_exact(client: DriftClient) -> None:
    contact = client.get_contact(CONTACT)

    assert contact["id"] == 11751623441268736
    assert type(contact["id"]) is int
    assert contact["id"] > TWO_53
    assert contact["attributes"] == seed_data.sample_contact()["attributes"]


def test_generated_ids_above_2_53_survive_exactly(client: DriftClient, sim: DriftSimulator) -> None:
    # GIVEN generated conversations whose contacts have odd ids above 2**53
    ids = sim.generate_conversations(5, messages_per_conversation=2)

    for conversation_id in ids:
        # WHEN their conversation and contact are read
        conversation = client.get_conversation(conversation_id)
        contact = client.get_contact(conversation["contactId"])
        # THEN every id is the exact integer the simulator holds (a float would be off by one)
        expected_contact_id = sim.get_conversation(conversation_id)["contactId"]
        assert expected_contact_id > TWO_53 and expected_contact_id % 2 == 1
        assert conversation["contactId"] == expected_contact_id
        assert contact["id"] == expected_contact_id
        assert contact == sim.get_contact(expected_contact_id)


def test_get_transcript_is_the_plain_text_unchanged(client: DriftClient) -> None:
    assert client.get_transcript(CONV) == seed_data.SAMPLE_TRANSCRIPT


def test_non_ascii_transcript_is_exact(client: DriftClient, sim: DriftSimulator) -> None:
    ids = sim.generate_conversations(3, messages_per_conversation=4, non_ascii=True)

    for conversation_id in ids:
        transcript = client.get_transcript(conversation_id)
        assert transcript == sim.get_transcript(conversation_id)
        assert "Grüße — 你好 — 👋" in transcript


def test_transcript_without_charset_is_read_as_utf8(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    # GIVEN a text/plain answer with UTF-8 bytes and no charset (requests would assume Latin-1)
    text = "Grüße — 你好 — 👋\nZoë: naïve café"
    httpserver.expect_request("/conversations/7/transcript").respond_with_data(
        text.encode("utf-8"), content_type="text/plain"
    )

    assert http_client.get_transcript(7) == text


@pytest.mark.parametrize("shape", ["data", "bare"])
def test_list_users_in_both_shapes(client: DriftClient, sim: DriftSimulator, shape: str) -> None:
    sim.users_list_shape = shape

    users = client.list_users()

    assert users == seed_data.sample_users()
    assert calls(sim, "users_list") == 1


def test_list_users_without_a_list_is_transient(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    httpserver.expect_request("/users/list").respond_with_json({"data": {"not": "a list"}})

    with pytest.raises(DriftTransientError):
        http_client.list_users()


def test_get_user_by_id(client: DriftClient) -> None:
    user = client.get_user(seed_data.SAMPLE_USER_ID)

    assert user["id"] == seed_data.SAMPLE_USER_ID
    assert user["name"] == "Agent"
    assert user["email"] == "agent@example.com"


def test_messages_follow_pagination_every_message_once_in_order(
    client: DriftClient, sim: DriftSimulator
) -> None:
    # GIVEN a conversation of 120 messages (Drift pages hold 50)
    (conversation_id,) = sim.generate_conversations(1, messages_per_conversation=120)

    # WHEN every message is read
    messages = list(client.iter_messages(conversation_id))

    # THEN all 120 arrive once, in order, exactly as stored, over three pages
    expected = sim.get_messages(conversation_id)
    assert len(expected) == 120
    assert [m["id"] for m in messages] == [m["id"] for m in expected]
    assert messages == expected
    pages = sim.calls("messages")
    assert [query.get("next") for _, query in pages] == [None, "50", "100"]


def test_messages_of_the_seed_conversation(client: DriftClient, sim: DriftSimulator) -> None:
    messages = list(client.iter_messages(CONV))

    assert messages == seed_data.sample_messages()
    assert calls(sim, "messages") == 1


def test_conversations_list_walks_every_page(client: DriftClient, sim: DriftSimulator) -> None:
    # GIVEN 60 conversations besides the seed one
    sim.generate_conversations(60, messages_per_conversation=1)

    # WHEN the list is walked page by page (25 a page)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):  # bounded: 3 pages expected
        page, cursor = client.list_conversations(limit=25, cursor=cursor)
        seen.extend(page)
        if cursor is None:
            break

    # THEN each conversation comes once, newest updatedAt first, over three requests
    ids = [c["id"] for c in seen]
    assert len(ids) == len(set(ids)) == 61
    assert set(ids) == set(sim.conversation_ids())
    updated = [c["updatedAt"] for c in seen]
    assert updated == sorted(updated, reverse=True)
    assert calls(sim, "conversations_list") == 3


def test_conversations_list_limit_is_capped_at_50(client: DriftClient, sim: DriftSimulator) -> None:
    client.list_conversations(limit=500)

    ((_, query),) = sim.calls("conversations_list")
    assert query["limit"] == "50"


# -- transient faults -------------------------------------------------------------------------


@pytest.mark.parametrize("faults", [1, 3])
def test_429_without_retry_after_then_success(
    client: DriftClient, sim: DriftSimulator, faults: int
) -> None:
    sim.add_fault("conversation", "429", times=faults)

    assert client.get_conversation(CONV)["id"] == CONV
    assert calls(sim, "conversation") == faults + 1


def test_429_with_retry_after_waits_at_least_that_long(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    # GIVEN Drift asks for 0.3 s (our own backoff would be at most 0.06 s)
    handler = Arrivals(
        Response(
            json.dumps({"error": {"type": "rate_limit", "message": "slow down"}}),
            status=429,
            headers={"Retry-After": "0.3"},
            content_type="application/json",
        ),
        ok_json({"data": {"id": 7}}),
    )
    httpserver.expect_request("/conversations/7").respond_with_handler(handler)

    started = time.monotonic()
    assert http_client.get_conversation(7) == {"id": 7}
    elapsed = time.monotonic() - started

    # THEN the retry came no earlier than Retry-After (lower bounds only)
    assert len(handler.times) == 2
    assert handler.times[1] - handler.times[0] >= 0.3
    assert elapsed >= 0.3


def test_simulator_429_with_retry_after_is_retried(
    client: DriftClient, sim: DriftSimulator
) -> None:
    # The simulator's Retry-After is 1 s: one retry, at least a second later.
    sim.add_fault("contact", "429_retry_after", times=1)

    started = time.monotonic()
    assert client.get_contact(CONTACT)["id"] == CONTACT
    assert time.monotonic() - started >= 1.0
    assert calls(sim, "contact") == 2


def test_retry_after_beyond_the_budget_gives_up_without_sleeping(
    httpserver: HTTPServer,
) -> None:
    # GIVEN a Retry-After far longer than the whole retry budget
    handler = Arrivals(
        Response("{}", status=429, headers={"Retry-After": "20"}, content_type="application/json")
    )
    httpserver.expect_request("/conversations/7").respond_with_handler(handler)
    policy = RetryPolicy(
        max_attempts=4, budget_seconds=2, initial_backoff=0.01, max_backoff=0.05, jitter=0.01
    )
    drift = make_client(httpserver.url_for("/").rstrip("/"), policy=policy)

    started = time.monotonic()
    with pytest.raises(DriftTransientError, match="429"):
        drift.get_conversation(7)

    # THEN it does not sleep 20 s (nor past the budget): one call, then the transient error
    assert time.monotonic() - started < 2 + 2
    assert len(handler.times) == 1


def test_retry_after_as_an_http_date_falls_back_to_backoff(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    handler = Arrivals(
        Response(
            "{}",
            status=429,
            headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"},
            content_type="application/json",
        ),
        ok_json({"data": {"id": 7}}),
    )
    httpserver.expect_request("/conversations/7").respond_with_handler(handler)

    assert http_client.get_conversation(7) == {"id": 7}
    assert len(handler.times) == 2


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors_then_success(client: DriftClient, sim: DriftSimulator, kind: str) -> None:
    sim.add_fault("conversation", kind, times=2)

    assert client.get_conversation(CONV)["id"] == CONV
    assert calls(sim, "conversation") == 3


def test_timeout_then_success(sim: DriftSimulator) -> None:
    # GIVEN the simulator hangs 2 s once, and the client waits 0.3 s for an answer
    sim.timeout_seconds = 2
    sim.add_fault("transcript", "timeout", times=1)
    drift = make_client(sim.url, read_timeout=0.3)

    assert drift.get_transcript(CONV) == seed_data.SAMPLE_TRANSCRIPT
    assert calls(sim, "transcript") == 2
    drift.close()


def test_connection_reset_then_success(client: DriftClient, sim: DriftSimulator) -> None:
    sim.add_fault("users_list", "reset", times=1)

    assert client.list_users() == seed_data.sample_users()
    assert calls(sim, "users_list") == 2


def test_persistent_503_stops_after_max_attempts(client: DriftClient, sim: DriftSimulator) -> None:
    sim.add_fault("conversation", "503", times=None)

    with pytest.raises(DriftTransientError, match="503") as caught:
        client.get_conversation(CONV)

    assert isinstance(caught.value, TransientError)
    assert calls(sim, "conversation") == FAST.max_attempts


def test_persistent_latency_gives_up_within_the_budget(sim: DriftSimulator) -> None:
    # GIVEN Drift answers later than the read timeout, forever, and attempts are not the limit
    sim.set_latency(10, "conversation")
    policy = RetryPolicy(
        max_attempts=100, budget_seconds=1.5, initial_backoff=0.01, max_backoff=0.05, jitter=0.01
    )
    drift = make_client(sim.url, read_timeout=0.5, policy=policy)

    started = time.monotonic()
    with pytest.raises(DriftTransientError, match="timed out"):
        drift.get_conversation(CONV)
    elapsed = time.monotonic() - started

    # THEN the budget ends it (an upper bound is the point of a budget; kept generous)
    assert elapsed < policy.budget_seconds + 2
    assert calls(sim, "conversation") >= 2  # it did retry inside the budget
    drift.close()


def test_read_timeout_never_exceeds_the_remaining_budget(sim: DriftSimulator) -> None:
    # GIVEN a read timeout (30 s) far above the budget (1 s) and an answer that takes 10 s
    sim.set_latency(10, "conversation")
    policy = RetryPolicy(
        max_attempts=4, budget_seconds=1, initial_backoff=0.01, max_backoff=0.05, jitter=0.01
    )
    drift = make_client(sim.url, read_timeout=30, policy=policy)

    started = time.monotonic()
    with pytest.raises(DriftTransientError):
        drift.get_conversation(CONV)

    # THEN the per-attempt timeout was clamped to the budget, not 30 s (nor the 10 s latency)
    assert time.monotonic() - started < policy.budget_seconds + 2
    drift.close()


# -- permanent answers ------------------------------------------------------------------------


def test_404_is_not_found_and_not_retried(client: DriftClient, sim: DriftSimulator) -> None:
    with pytest.raises(DriftNotFoundError) as caught:
        client.get_conversation(999)

    assert isinstance(caught.value, PermanentError)
    assert calls(sim, "conversation") == 1


def test_404_fault_on_contact(client: DriftClient, sim: DriftSimulator) -> None:
    sim.add_fault("contact", "404", times=1)

    with pytest.raises(DriftNotFoundError):
        client.get_contact(CONTACT)
    assert calls(sim, "contact") == 1


def test_400_is_a_request_error_with_drifts_message(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    handler = Arrivals(
        Response(
            json.dumps({"error": {"type": "validation_error", "message": "bad cursor"}}),
            status=400,
            content_type="application/json",
        )
    )
    httpserver.expect_request("/conversations/7").respond_with_handler(handler)

    with pytest.raises(DriftRequestError) as caught:
        http_client.get_conversation(7)

    assert "400" in caught.value.reason
    assert "validation_error: bad cursor" in caught.value.reason
    assert len(handler.times) == 1


def test_non_json_200_is_transient(httpserver: HTTPServer, http_client: DriftClient) -> None:
    httpserver.expect_request("/conversations/7").respond_with_data(
        "<html>maintenance</html>", status=200, content_type="text/html"
    )

    with pytest.raises(DriftTransientError, match="not JSON"):
        http_client.get_conversation(7)


# -- the access token -------------------------------------------------------------------------


def test_authorization_header_carries_the_token(
    httpserver: HTTPServer, http_client: DriftClient
) -> None:
    handler = Arrivals(ok_json({"data": {"id": 7}}))
    httpserver.expect_request("/conversations/7").respond_with_handler(handler)

    http_client.get_conversation(7)

    (request,) = handler.requests
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Accept"] == "application/json"


def test_403_with_an_environment_token_is_an_auth_error_after_one_call(
    client: DriftClient, sim: DriftSimulator
) -> None:
    # GIVEN Drift no longer accepts the token the environment gave
    sim.rotate_access_token("some-other-token-1234")

    with pytest.raises(DriftAuthError, match="403") as caught:
        client.get_conversation(CONV)

    assert isinstance(caught.value, PermanentError)
    assert calls(sim, "conversation") == 1


def test_403_rereads_the_token_from_secret_manager_once_and_succeeds(
    sim: DriftSimulator, secret_manager: SecretManagerServer
) -> None:
    # GIVEN a token from Secret Manager that Drift accepts, read once
    name, token = new_secret(secret_manager, "drift-token-v1-aaaa")
    sim.rotate_access_token("drift-token-v1-aaaa")
    drift = make_client(sim.url, token)
    assert drift.get_conversation(CONV)["id"] == CONV
    assert secret_manager.access_count(name) == 1

    # WHEN the token is rotated in Drift and a new version is added to Secret Manager
    sim.rotate_access_token("drift-token-v2-bbbb")
    secret_manager.add_version(PROJECT, name.rsplit("/", 1)[1], "drift-token-v2-bbbb")
    sim.reset_counts()
    conversation = drift.get_conversation(CONV)

    # THEN the call succeeds after exactly one re-read: one refused call, one accepted
    assert conversation["id"] == CONV
    assert secret_manager.access_count(name) == 2
    assert calls(sim, "conversation") == 2
    # and the new token stays cached: no more reads
    assert drift.get_contact(CONTACT)["id"] == CONTACT
    assert secret_manager.access_count(name) == 2
    drift.close()


def test_second_403_after_rereading_is_an_auth_error_without_a_loop(
    sim: DriftSimulator, secret_manager: SecretManagerServer
) -> None:
    # GIVEN Drift accepts a token Secret Manager does not have
    name, token = new_secret(secret_manager, "drift-token-v1-cccc")
    sim.rotate_access_token("drift-token-v1-cccc")
    drift = make_client(sim.url, token)
    drift.get_conversation(CONV)
    sim.rotate_access_token("drift-token-not-in-secret-manager")
    sim.reset_counts()

    with pytest.raises(DriftAuthError, match="after re-reading"):
        drift.get_conversation(CONV)

    # THEN the secret was re-read once and Drift asked twice, not in a loop
    assert secret_manager.access_count(name) == 2
    assert calls(sim, "conversation") == 2
    drift.close()


def test_the_token_never_reaches_logs_or_error_reasons(
    sim: DriftSimulator, client: DriftClient, logs: Any
) -> None:
    # GIVEN failures of every kind, each logged the way the worker logs them
    log = logger.get_logger("test_drift_client")
    sim.add_fault("conversation", "503", times=None)
    sim.add_fault("contact", "404", times=1)
    reasons = []
    for call in (
        lambda: client.get_conversation(CONV),
        lambda: client.get_contact(CONTACT),
    ):
        with pytest.raises((DriftTransientError, DriftNotFoundError)) as caught:
            call()
        reasons.append(str(caught.value))
        log.warning("drift call failed", reason=str(caught.value), secret=repr(client._token))
    sim.clear_faults()
    sim.rotate_access_token("rotated-token-5678")
    with pytest.raises(DriftAuthError) as refused:
        client.get_conversation(CONV)
    reasons.append(str(refused.value))
    log.error("drift refused", reason=str(refused.value))

    # THEN lines were logged, and neither they nor the reasons hold the token
    assert len(logs.lines()) == 3
    assert TOKEN not in logs.text
    assert all(TOKEN not in reason for reason in reasons)
