"""The Drift API simulator over real loopback HTTP: endpoints, auth, data, faults, control plane,
CLI. No mocks and no fixed sleeps; every wait is bounded."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.drift_simulator import ENDPOINTS, DriftSimulator, SimulatorError
from samples import drift_seed as seed_data
from tests.devtools import cli_helpers

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-access-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONV = seed_data.SAMPLE_CONVERSATION_ID
CONTACT = seed_data.SAMPLE_CONTACT_ID
TWO_53 = 2**53
HTTP_TIMEOUT = 10


@pytest.fixture
def sim() -> Iterator[DriftSimulator]:
    with DriftSimulator(access_token=TOKEN, timeout_seconds=5) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, sim: DriftSimulator, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    return http.get(f"{sim.url}{path}", **kwargs)


def error_type(response: requests.Response) -> str:
    return response.json()["error"]["type"]


# -- endpoints and seed data ----------------------------------------------------------------


def test_url_is_loopback_with_a_real_port(sim: DriftSimulator) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.url)
    assert sim.port > 0


def test_conversation_is_the_seed_sample_linked_to_the_seed_contact(sim, http) -> None:
    response = get(http, sim, f"/conversations/{CONV}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()["data"]
    assert data == {
        "status": "closed",
        "participants": [2322756],
        "contactId": 11751623441268736,
        "createdAt": 1632240461843,
        "id": 3275727977,
        "relatedPlaybookId": 2310900,
        "inboxId": 642330,
        "updatedAt": 1632240490684,
    }


def test_contact_is_the_seed_contact_verbatim_with_its_id_exact(sim, http) -> None:
    response = get(http, sim, f"/contacts/{CONTACT}")
    assert response.status_code == 200
    assert '"id":11751623441268736' in response.text  # written as an exact integer literal
    data = json.loads(response.text)["data"]
    assert data["id"] == 11751623441268736
    assert isinstance(data["id"], int)
    assert data["createdAt"] == 1627616677362
    attributes = data["attributes"]
    assert attributes == seed_data.sample_contact()["attributes"]
    assert len(attributes) == 41
    assert attributes["email"] == "[email\u00a0protected]"  # what the article shows
    assert attributes["latitude"] == 42.3600825
    assert attributes["name"] == "Gregg Parker"
    assert attributes["employment_name"] == "Camp Waziyatah"
    assert attributes["original_ip"] == "172.112.190,3.229.120"


def test_users_list_default_shape_is_a_data_envelope(sim, http) -> None:
    response = get(http, sim, "/users/list")
    assert response.status_code == 200
    users = response.json()["data"]
    assert [u["id"] for u in users] == [5028476, 2322756]
    simon = users[0]
    assert simon == {
        "id": 5028476,
        "orgId": 5000883,
        "name": "A Simon",
        "email": "[email\u00a0protected]",
        "role": "member",
        "availability": "OFFLINE",
        "verified": False,
        "bot": False,
        "createdAt": 1630082419824,
        "updatedAt": 1630082419824,
    }
    agent = users[1]
    assert (agent["name"], agent["email"], agent["role"], agent["orgId"]) == (
        "Agent",
        "agent@example.com",
        "admin",
        5000883,
    )


def test_users_list_bare_shape(http) -> None:
    with DriftSimulator(access_token=TOKEN, users_list_shape="bare") as sim:
        body = get(http, sim, "/users/list").json()
        assert isinstance(body, list)
        assert [u["id"] for u in body] == [5028476, 2322756]
        sim.users_list_shape = "data"
        assert [u["id"] for u in get(http, sim, "/users/list").json()["data"]] == [5028476, 2322756]


def test_users_list_shape_rejects_unknown_values(sim) -> None:
    with pytest.raises(SimulatorError):
        sim.configure(users_list_shape="xml")


def test_hide_from_list_keeps_the_user_reachable_by_id(http) -> None:
    with DriftSimulator(access_token=TOKEN, hide_from_list={2322756}) as sim:
        listed = [u["id"] for u in get(http, sim, "/users/list").json()["data"]]
        assert listed == [5028476]
        by_id = get(http, sim, "/users/2322756")
        assert by_id.status_code == 200
        assert by_id.json()["data"]["name"] == "Agent"
        sim.hide_from_list = set()
        assert len(get(http, sim, "/users/list").json()["data"]) == 2


def test_user_by_id_and_unknown_user(sim, http) -> None:
    response = get(http, sim, "/users/5028476")
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "A Simon"
    missing = get(http, sim, "/users/999")
    assert missing.status_code == 404
    assert error_type(missing) == "not_found"
    assert missing.json()["error"]["message"]


def test_transcript_is_the_seed_text_verbatim(sim, http) -> None:
    response = get(http, sim, f"/conversations/{CONV}/transcript")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text == seed_data.SAMPLE_TRANSCRIPT
    lines = text.split("\n")
    assert len(lines) == 12
    assert lines[0] == "Sep 21,"
    assert lines[1] == (
        "09: 07: 46 AM PDT Bot (Agent): Hey there!  Would you like to speak with a human?"
    )
    assert lines[3] == "09: 07: 49 AM PDT [email\u00a0protected]: No thanks!"
    assert lines[11] == (
        "09: 08: 10 AM PDT Bot (Agent): All set! I've sent an email confirmation to "
        "[email\u00a0protected]"
    )


def test_sample_messages_match_the_transcript(sim, http) -> None:
    body = get(http, sim, f"/conversations/{CONV}/messages").json()
    assert body["pagination"] == {"more": False}
    messages = body["data"]["messages"]
    assert len(messages) == 6
    assert [m["author"]["type"] for m in messages] == [
        "user",
        "contact",
        "user",
        "contact",
        "user",
        "user",
    ]
    assert all(m["type"] == "chat" and m["conversationId"] == CONV for m in messages)
    assert messages[1]["author"]["id"] == CONTACT
    assert "No thanks!" in messages[1]["body"]
    created = [m["createdAt"] for m in messages]
    assert created == sorted(created)
    assert created[-1] == 1632240490684  # the conversation's updatedAt


def walk_messages(http, sim, conversation_id: int) -> tuple[list[dict], list[int]]:
    messages: list[dict] = []
    page_sizes: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        params = {"next": cursor} if cursor else {}
        body = get(http, sim, f"/conversations/{conversation_id}/messages", params=params).json()
        page = body["data"]["messages"]
        messages.extend(page)
        page_sizes.append(len(page))
        if not body["pagination"]["more"]:
            assert "next" not in body["pagination"]
            return messages, page_sizes
        cursor = body["pagination"]["next"]
        assert isinstance(cursor, str) and cursor
    raise AssertionError("pagination never ended")


def test_messages_pages_of_fifty(sim, http) -> None:
    [conversation_id] = sim.generate_conversations(1, messages_per_conversation=120)
    messages, page_sizes = walk_messages(http, sim, conversation_id)
    assert page_sizes == [50, 50, 20]
    assert messages == sim.get_messages(conversation_id)
    assert len({m["id"] for m in messages}) == 120
    calls = sim.calls("messages")
    assert [query.get("next") for _, query in calls] == [None, "50", "100"]


def test_messages_bad_cursor_and_unknown_conversation(sim, http) -> None:
    bad = get(http, sim, f"/conversations/{CONV}/messages", params={"next": "nope"})
    assert bad.status_code == 400
    assert error_type(bad) == "validation_error"
    missing = get(http, sim, "/conversations/1/messages")
    assert missing.status_code == 404
    assert error_type(missing) == "not_found"


def walk_conversations(http, sim, limit: int | None) -> tuple[list[dict], list[int]]:
    seen: list[dict] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if cursor:
            params["next"] = cursor
        response = get(http, sim, "/conversations/list", params=params)
        assert response.status_code == 200
        body = response.json()
        seen.extend(body["data"])
        sizes.append(len(body["data"]))
        if not body["pagination"]["more"]:
            assert "next" not in body["pagination"]
            return seen, sizes
        cursor = body["pagination"]["next"]
    raise AssertionError("pagination never ended")


@pytest.mark.parametrize(("limit", "sizes"), [(50, [50, 11]), (7, [7] * 8 + [5]), (500, [50, 11])])
def test_conversations_list_walks_every_page_newest_first(sim, http, limit, sizes) -> None:
    generated = sim.generate_conversations(60)
    seen, page_sizes = walk_conversations(http, sim, limit)
    assert page_sizes == sizes  # limit is capped at 50
    ids = [c["id"] for c in seen]
    assert sorted(ids) == sorted([*generated, CONV])
    assert len(set(ids)) == len(ids)
    updated = [c["updatedAt"] for c in seen]
    assert updated == sorted(updated, reverse=True)


def test_conversations_list_shuffled_order_is_unordered_but_every_page_holds(http) -> None:
    # GIVEN a simulator that lists conversations in no particular order
    with DriftSimulator(access_token=TOKEN, conversations_list_order="shuffled") as shuffled:
        generated = shuffled.generate_conversations(60, messages_per_conversation=1)
        # WHEN a caller walks every page
        seen, page_sizes = walk_conversations(http, shuffled, 25)
        again, _ = walk_conversations(http, shuffled, 25)
    # THEN each conversation comes exactly once, the order is neither newest nor oldest first,
    # and it is the same on a second walk (cursors stay valid)
    assert page_sizes == [25, 25, 11]
    ids = [c["id"] for c in seen]
    assert sorted(ids) == sorted([*generated, CONV])
    updated = [c["updatedAt"] for c in seen]
    assert updated != sorted(updated, reverse=True) and updated != sorted(updated)
    assert [c["id"] for c in again] == ids


def test_conversations_list_order_is_validated() -> None:
    with pytest.raises(SimulatorError, match="conversations_list_order"):
        DriftSimulator(conversations_list_order="oldest-ish")


def test_conversations_list_ignores_time_filters_and_validates_limit(sim, http) -> None:
    everything = get(http, sim, "/conversations/list", params={"updatedAfter": 99999999999999})
    assert [c["id"] for c in everything.json()["data"]] == [CONV]
    assert get(http, sim, "/conversations/list", params={"limit": "x"}).status_code == 400
    assert get(http, sim, "/conversations/list", params={"limit": 0}).status_code == 400
    assert get(http, sim, "/conversations/list", params={"next": "-3"}).status_code == 400


def test_unknown_ids_are_404_with_drift_error_envelope(sim, http) -> None:
    for path in (
        "/conversations/11409060726",  # the article's contactId, not a conversation
        "/conversations/abc",
        "/contacts/11409060726",
        "/conversations/1/transcript",
        "/nowhere",
    ):
        response = get(http, sim, path)
        assert response.status_code == 404, path
        assert error_type(response) == "not_found"


def test_wrong_method_is_rejected(sim, http) -> None:
    response = http.post(f"{sim.url}/conversations/{CONV}", headers=AUTH, timeout=HTTP_TIMEOUT)
    assert response.status_code == 405


def test_gdpr_delete(sim, http) -> None:
    email = seed_data.sample_contact()["attributes"]["email"]
    response = http.post(
        f"{sim.url}/gdpr/delete", json={"email": email}, headers=AUTH, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"message": "ok"}}
    assert sim.gdpr_deletions() == [email]
    bad = http.post(f"{sim.url}/gdpr/delete", json={}, headers=AUTH, timeout=HTTP_TIMEOUT)
    assert bad.status_code == 400
    assert error_type(bad) == "validation_error"
    assert http.get(f"{sim.url}/_sim/gdpr", timeout=HTTP_TIMEOUT).json() == {"emails": [email]}


# -- generated data ---------------------------------------------------------------------------


def test_generated_conversations_are_complete_and_ids_above_2_53_are_exact(sim, http) -> None:
    ids = sim.generate_conversations(5, messages_per_conversation=4)
    assert len(ids) == len(set(ids)) == 5
    user_ids = {5028476, 2322756}
    for conversation_id in ids:
        conversation = get(http, sim, f"/conversations/{conversation_id}").json()["data"]
        assert conversation["id"] == conversation_id
        assert set(conversation["participants"]) <= user_ids
        assert conversation["participants"]
        contact_id = conversation["contactId"]
        assert contact_id > TWO_53
        assert float(contact_id) != contact_id  # a float-based parser would corrupt it
        raw = get(http, sim, f"/contacts/{contact_id}").text
        assert str(contact_id) in raw
        assert json.loads(raw)["data"]["id"] == contact_id
        messages = get(http, sim, f"/conversations/{conversation_id}/messages").json()
        assert len(messages["data"]["messages"]) == 4
        transcript = get(http, sim, f"/conversations/{conversation_id}/transcript").text
        assert len(transcript.split("\n")) == 8  # a date line and a text line per message


def test_conversation_ids_above_2_53_round_trip(sim, http) -> None:
    start = TWO_53 + 1
    [conversation_id] = sim.generate_conversations(1, start_id=start)
    assert conversation_id == start
    response = get(http, sim, f"/conversations/{start}")
    assert response.status_code == 200
    assert json.loads(response.text)["data"]["id"] == 9007199254740993
    listed = get(http, sim, "/conversations/list").json()["data"]
    assert 9007199254740993 in [c["id"] for c in listed]


def test_generating_over_existing_ids_is_refused(sim) -> None:
    with pytest.raises(SimulatorError):
        sim.generate_conversations(1, start_id=CONV)


def test_non_ascii_transcript_is_utf8(sim, http) -> None:
    [conversation_id] = sim.generate_conversations(1, non_ascii=True)
    response = get(http, sim, f"/conversations/{conversation_id}/transcript")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode("utf-8")  # strict: raises on anything but UTF-8
    assert "Grüße — 你好 — 👋" in text
    assert text == sim.get_transcript(conversation_id)
    contact_id = sim.get_conversation(conversation_id)["contactId"]
    name = get(http, sim, f"/contacts/{contact_id}").json()["data"]["attributes"]["name"]
    assert not name.isascii()


def test_generation_is_deterministic() -> None:
    snapshots = []
    for _ in range(2):
        fresh = DriftSimulator()  # never started: the data needs no server
        ids = fresh.generate_conversations(3, non_ascii=True)
        snapshots.append(
            [
                (
                    fresh.get_conversation(i),
                    fresh.get_contact(fresh.get_conversation(i)["contactId"]),
                    fresh.get_transcript(i),
                    fresh.get_messages(i),
                )
                for i in ids
            ]
        )
    assert snapshots[0] == snapshots[1]


def test_without_seed_there_is_nothing(http) -> None:
    with DriftSimulator(access_token=TOKEN, seed=False) as sim:
        assert get(http, sim, f"/conversations/{CONV}").status_code == 404
        assert get(http, sim, "/users/list").json() == {"data": []}


# -- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
def test_bad_or_missing_token_is_403_authentication_error(sim, http, headers) -> None:
    for endpoint_path in (f"/conversations/{CONV}", f"/contacts/{CONTACT}", "/users/list"):
        response = get(http, sim, endpoint_path, headers=headers)
        assert response.status_code == 403
        assert error_type(response) == "authentication_error"


def test_token_rotation(sim, http) -> None:
    sim.rotate_access_token("rotated-token")
    assert get(http, sim, f"/conversations/{CONV}").status_code == 403
    fresh = {"Authorization": "Bearer rotated-token"}
    assert get(http, sim, f"/conversations/{CONV}", headers=fresh).status_code == 200
    assert sim.access_token == "rotated-token"


# -- faults and latency -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "body_type"),
    [
        ("429", 429, "rate_limit"),
        ("429_retry_after", 429, "rate_limit"),
        ("500", 500, "internal_error"),
        ("502", 502, None),
        ("503", 503, None),
        ("403", 403, "authentication_error"),
        ("404", 404, "not_found"),
    ],
)
def test_status_faults_answer_once_then_recover(sim, http, kind, status, body_type) -> None:
    sim.add_fault("conversation", kind)
    faulted = get(http, sim, f"/conversations/{CONV}")
    assert faulted.status_code == status
    if kind == "429_retry_after":
        assert faulted.headers["Retry-After"] == "1"
    else:
        assert "Retry-After" not in faulted.headers
    if body_type:
        assert error_type(faulted) == body_type
    else:
        assert faulted.headers["Content-Type"].startswith("text/html")
    # Faults are per endpoint: others are untouched; the faulted one recovers.
    assert get(http, sim, f"/contacts/{CONTACT}").status_code == 200
    assert get(http, sim, f"/conversations/{CONV}").status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_can_be_faulted(sim, http, endpoint) -> None:
    paths = {
        "conversation": f"/conversations/{CONV}",
        "contact": f"/contacts/{CONTACT}",
        "users_list": "/users/list",
        "user": "/users/2322756",
        "transcript": f"/conversations/{CONV}/transcript",
        "messages": f"/conversations/{CONV}/messages",
        "conversations_list": "/conversations/list",
    }
    sim.add_fault(endpoint, "503")

    def call() -> requests.Response:
        if endpoint == "gdpr_delete":
            return http.post(
                f"{sim.url}/gdpr/delete", json={"email": "a@b.c"}, headers=AUTH, timeout=10
            )
        return get(http, sim, paths[endpoint])

    assert call().status_code == 503
    assert call().status_code == 200
    assert sim.call_counts()[endpoint] == 2


def test_faults_are_fifo_and_counted(sim, http) -> None:
    sim.add_fault("contact", "500")
    sim.add_fault("contact", "429", times=2)
    statuses = [get(http, sim, f"/contacts/{CONTACT}").status_code for _ in range(4)]
    assert statuses == [500, 429, 429, 200]


def test_forever_faults_until_cleared(sim, http) -> None:
    sim.add_fault("users_list", "502", times=None)
    assert [get(http, sim, "/users/list").status_code for _ in range(5)] == [502] * 5
    assert sim.pending_faults() == {"users_list": [("502", None)]}
    sim.clear_faults()
    assert get(http, sim, "/users/list").status_code == 200


def test_wildcard_fault_hits_any_endpoint(sim, http) -> None:
    sim.add_fault("*", "500", times=2)
    assert get(http, sim, "/users/list").status_code == 500
    assert get(http, sim, f"/contacts/{CONTACT}").status_code == 500
    assert get(http, sim, f"/contacts/{CONTACT}").status_code == 200


def test_fault_arguments_are_validated(sim) -> None:
    with pytest.raises(SimulatorError):
        sim.add_fault("conversation", "418")
    with pytest.raises(SimulatorError):
        sim.add_fault("nope", "500")
    with pytest.raises(SimulatorError):
        sim.add_fault("conversation", "500", times=0)


def test_reset_fault_drops_the_connection(sim, http) -> None:
    sim.add_fault("transcript", "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(http, sim, f"/conversations/{CONV}/transcript")
    assert get(http, sim, f"/conversations/{CONV}/transcript").status_code == 200


def test_timeout_fault_outlasts_the_client_timeout(sim, http) -> None:
    sim.add_fault("conversation", "timeout")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(http, sim, f"/conversations/{CONV}", timeout=0.5)
    assert time.monotonic() - started >= 0.5
    # The hung request holds only its own connection; the next one is served.
    assert get(http, sim, f"/conversations/{CONV}").status_code == 200


def test_timeout_fault_then_closes_without_answering(http) -> None:
    with DriftSimulator(access_token=TOKEN, timeout_seconds=0.2) as sim:
        sim.add_fault("conversation", "timeout")
        with pytest.raises(requests.exceptions.ConnectionError):
            get(http, sim, f"/conversations/{CONV}", timeout=10)


def test_stop_does_not_wait_for_a_hung_request() -> None:
    sim = DriftSimulator(access_token=TOKEN, timeout_seconds=600).start()
    sim.add_fault("conversation", "timeout")
    outcome: queue.Queue[BaseException | int] = queue.Queue()

    def call() -> None:
        try:
            response = requests.get(f"{sim.url}/conversations/{CONV}", headers=AUTH, timeout=60)
            outcome.put(response.status_code)
        except requests.RequestException as exc:
            outcome.put(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while sim.call_counts()["conversation"] == 0:  # the request is in the fault's sleep
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sim.stop()  # would block for 600 s if stop() did not cut the sleep short
    assert isinstance(outcome.get(timeout=10), requests.ConnectionError)


def test_latency_is_applied_everywhere(http) -> None:
    with DriftSimulator(access_token=TOKEN, latency=0.2) as sim:
        for path in (f"/conversations/{CONV}", "/users/list"):
            started = time.monotonic()
            assert get(http, sim, path).status_code == 200
            assert time.monotonic() - started >= 0.2


def test_latency_per_endpoint(sim, http) -> None:
    sim.set_latency(0.25, endpoint="contact")
    assert sim.latency_for("contact") == 0.25
    assert sim.latency_for("conversation") == 0.0
    started = time.monotonic()
    assert get(http, sim, f"/contacts/{CONTACT}").status_code == 200
    assert time.monotonic() - started >= 0.25
    sim.set_latency(0.15)  # every endpoint
    assert sim.latency_for("contact") == sim.latency_for("conversation") == 0.15
    started = time.monotonic()
    assert get(http, sim, f"/conversations/{CONV}").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_many_concurrent_connections(http) -> None:
    clients = 40
    with DriftSimulator(access_token=TOKEN, latency=0.2) as sim:
        barrier = threading.Barrier(clients)
        results: queue.Queue[Any] = queue.Queue()

        def call() -> None:
            with requests.Session() as own:
                barrier.wait(timeout=10)
                try:
                    results.put(own.get(f"{sim.url}/users/list", headers=AUTH, timeout=30))
                except requests.RequestException as exc:
                    results.put(exc)

        threads = [threading.Thread(target=call, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        got = [results.get(timeout=30) for _ in range(clients)]
        assert all(isinstance(r, requests.Response) and r.status_code == 200 for r in got)
        assert sim.call_counts()["users_list"] == clients


def test_keep_alive_serves_several_requests_on_one_connection(sim) -> None:
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        reader = conn.makefile("rb")
        for _ in range(3):
            conn.sendall(
                f"GET /conversations/{CONV} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
            )
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = None
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            assert json.loads(reader.read(length))["data"]["id"] == CONV


def test_stop_closes_idle_keep_alive_connections() -> None:
    sim = DriftSimulator(access_token=TOKEN).start()
    with requests.Session() as session:
        assert session.get(f"{sim.url}/users/list", headers=AUTH, timeout=10).status_code == 200
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{sim.url}/users/list", headers=AUTH, timeout=10)


# -- call counts and the control plane --------------------------------------------------------


def test_call_counts_include_faulted_and_unauthorised_calls(sim, http) -> None:
    assert sim.call_counts() == dict.fromkeys(ENDPOINTS, 0)
    get(http, sim, f"/conversations/{CONV}")
    get(http, sim, f"/conversations/{CONV}", headers={})
    sim.add_fault("contact", "429")
    get(http, sim, f"/contacts/{CONTACT}")
    get(http, sim, "/users/list")
    counts = sim.call_counts()
    assert counts["conversation"] == 2
    assert counts["contact"] == 1
    assert counts["users_list"] == 1
    assert counts["transcript"] == 0
    assert sim.calls("conversation") == [(f"/conversations/{CONV}", {})] * 2
    sim.reset_counts()
    assert sim.call_counts() == dict.fromkeys(ENDPOINTS, 0)
    assert sim.calls("conversation") == []


def test_control_plane(sim, http) -> None:
    def control(path: str, body: dict | None = None) -> requests.Response:
        return http.post(f"{sim.url}/_sim/{path}", json=body or {}, timeout=HTTP_TIMEOUT)

    health = http.get(f"{sim.url}/_sim/health", timeout=HTTP_TIMEOUT)
    assert health.status_code == 200

    assert control("faults", {"endpoint": "conversation", "kind": "503", "times": 2}).ok
    assert [get(http, sim, f"/conversations/{CONV}").status_code for _ in range(3)] == [
        503,
        503,
        200,
    ]
    assert control("faults", {"endpoint": "conversation", "kind": "bogus"}).status_code == 400
    assert control("faults", {"endpoint": "user", "kind": "500", "times": None}).ok
    assert get(http, sim, "/users/2322756").status_code == 500
    assert control("faults/clear").ok
    assert get(http, sim, "/users/2322756").status_code == 200

    assert control("latency", {"seconds": 0.2, "endpoint": "user"}).ok
    started = time.monotonic()
    get(http, sim, "/users/2322756")
    assert time.monotonic() - started >= 0.2

    assert control("token", {"access_token": "via-control"}).ok
    assert get(http, sim, "/users/list").status_code == 403
    assert get(http, sim, "/users/list", headers={"Authorization": "Bearer via-control"}).ok

    generated = control("generate", {"n": 3, "non_ascii": True}).json()["ids"]
    assert len(generated) == 3
    headers = {"Authorization": "Bearer via-control"}
    assert all(get(http, sim, f"/conversations/{i}", headers=headers).ok for i in generated)

    assert control("config", {"users_list_shape": "bare", "hide_from_list": [5028476]}).ok
    bare = get(http, sim, "/users/list", headers=headers).json()
    assert [u["id"] for u in bare] == [2322756]

    counts = http.get(f"{sim.url}/_sim/calls", timeout=HTTP_TIMEOUT).json()
    assert counts["conversation"] == 3 + 3
    assert counts["user"] == 3
    assert set(counts) == set(ENDPOINTS)

    assert control("reset").ok  # back to the constructor's token, shape, latency; no counts
    assert http.get(f"{sim.url}/_sim/calls", timeout=HTTP_TIMEOUT).json()["conversation"] == 0
    assert get(http, sim, "/users/list").json()["data"][0]["id"] == 5028476
    assert get(http, sim, f"/conversations/{generated[0]}").ok  # data is kept
    assert sim.latency_for("user") == 0.0


# -- sample webhook bodies --------------------------------------------------------------------


def test_sample_conversation_push_is_the_article_body_with_the_callers_token() -> None:
    body = seed_data.sample_conversation_push("tok")
    assert body == {
        "orgId": 5000883,
        "type": "conversation_push",
        "data": {
            "source": "conversation_manual_push",
            "data": {"conversationId": 3275727977, "userId": 2322756, "pushedAt": 1632349419751},
        },
        "token": "tok",
    }
    body["data"]["data"]["conversationId"] = 1
    assert seed_data.sample_conversation_push("tok")["data"]["data"]["conversationId"] == CONV
    later = seed_data.sample_conversation_push("tok", pushed_at=1632349999999)
    assert later["data"]["data"]["pushedAt"] == 1632349999999


def test_sample_gdpr_and_app_disconnected() -> None:
    gdpr = seed_data.sample_gdpr_delete_requested("tok")
    assert gdpr == {
        "type": "gdpr_delete_requested",
        "orgId": 5000883,
        "token": "tok",
        "data": {"email": "[email\u00a0protected]", "contactId": 11751623441268736},
    }
    disconnected = seed_data.sample_app_disconnected("tok")
    assert disconnected["type"] == "app_disconnected"
    assert disconnected["orgId"] == 5000883
    assert disconnected["token"] == "tok"


# -- the CLI ----------------------------------------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    return cli_helpers.start_cli("devtools.drift_simulator", "drift-simulator", *args)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(http, signum) -> None:
    process, url = start_cli(
        "--host", "127.0.0.1", "--port", "0", "--access-token", "cli-token",
        "--latency", "0.05", "--generate", "3",
    )  # fmt: skip
    try:
        assert http.get(f"{url}/_sim/health", timeout=HTTP_TIMEOUT).status_code == 200
        listed = http.get(
            f"{url}/conversations/list",
            headers={"Authorization": "Bearer cli-token"},
            timeout=HTTP_TIMEOUT,
        )
        assert listed.status_code == 200
        assert len(listed.json()["data"]) == 4
        process.send_signal(signum)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
