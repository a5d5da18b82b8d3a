"""Gatherer + UserDirectory + DriftClient against the Drift simulator (and, to prove the
concurrent fetches structurally, a threaded pytest-httpserver): the record built, the Drift calls
it costs, and what happens when pieces are missing. No fixed sleeps; every wait is bounded."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.drift_simulator import DriftSimulator
from samples import drift_seed as seed_data
from shared.drift_client import DriftClient, RetryPolicy
from shared.errors import DriftNotFoundError, DriftTransientError
from shared.events import DriftEvent
from shared.gather import Gatherer
from shared.push import PushedMessage
from shared.records import ContactInfo, Participant
from shared.secrets import Secret
from shared.users import UserDirectory

TOKEN = "gather-test-token-81c0d2"
CONV = seed_data.SAMPLE_CONVERSATION_ID
CONTACT = seed_data.SAMPLE_CONTACT_ID
AGENT = seed_data.SAMPLE_USER_ID
PUBLISHED = dt.datetime(2021, 9, 22, 22, 23, 40, tzinfo=dt.UTC)
FAST = RetryPolicy(
    max_attempts=4, budget_seconds=5, initial_backoff=0.01, max_backoff=0.05, jitter=0.01
)
RENDEZVOUS_SECONDS = 5.0  # only ever waited in full when the fetches are NOT concurrent


def make_client(url: str, read_timeout: float = 0.5) -> DriftClient:
    return DriftClient(
        url,
        Secret("drift_access_token", value=TOKEN),
        connect_timeout=0.5,
        read_timeout=read_timeout,
        policy=FAST,
    )


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
def gatherer(client: DriftClient) -> Gatherer:
    return Gatherer(client, UserDirectory(client))


def push(conversation_id: int = CONV, **overrides: Any) -> tuple[DriftEvent, str, PushedMessage]:
    """A conversation_push event as the worker gets it (token dropped), its key, its message."""
    body = seed_data.sample_conversation_push(TOKEN, conversation_id=conversation_id)
    body.pop("token")
    body.update(overrides)
    event = DriftEvent.model_validate(body)
    message = PushedMessage(
        json.dumps(body).encode(), {"type": event.type}, "pubsub-msg-1", PUBLISHED
    )
    return event, event.key(), message


def record_of(gatherer: Gatherer, event: DriftEvent, key: str, message: PushedMessage) -> Any:
    return gatherer.record(event, event.payload, key, message)


def counts(sim: DriftSimulator) -> dict[str, int]:
    return {name: n for name, n in sim.call_counts().items() if n}


def add_conversation(sim: DriftSimulator, conversation_id: int, **fields: Any) -> int:
    conversation = seed_data.sample_conversation()
    conversation.update(id=conversation_id, **fields)
    return sim.add_conversation(conversation, transcript="t")


# -- the record -------------------------------------------------------------------------------


def test_seed_event_builds_the_expected_record(gatherer: Gatherer) -> None:
    event, key, message = push()

    record = gatherer.record(event, event.payload, key, message).to_json_dict()

    assert record["event"] == {
        "type": "conversation_push",
        "org_id": 5000883,
        "key": key,
        "source": "conversation_manual_push",
        "pushed_at": "2021-09-22T22:23:39.751Z",
        "pushed_by_user_id": AGENT,
        "message_id": "pubsub-msg-1",
        "published_at": "2021-09-22T22:23:40.000Z",
    }
    assert record["conversation"] == {
        "id": CONV,
        "status": "closed",
        "created_at": "2021-09-21T16:07:41.843Z",
        "updated_at": "2021-09-21T16:08:10.684Z",
        "inbox_id": 642330,
        "playbook_id": 2310900,
        "contact_id": 11751623441268736,
        "participant_ids": [AGENT],
        "tags": [],
    }
    assert record["participants"] == [
        {
            "id": AGENT,
            "name": "Agent",
            "email": "agent@example.com",
            "alias": "Agent",
            "role": "admin",
            "bot": False,
        }
    ]
    assert record["transcript"] == seed_data.SAMPLE_TRANSCRIPT
    assert record["messages"] is None
    contact = record["contact"]
    assert contact["id"] == 11751623441268736
    assert {k: v for k, v in contact.items() if k != "attributes"} == {
        "id": 11751623441268736,
        "email": seed_data.SEED_EMAIL,
        "name": "Gregg Parker",
        "first_name": "Gregg",
        "last_name": "Parker",
        "phone": None,
        "company": "Camp Waziyatah",
        "title": "Owner, Director",
        "city": "Boston",
        "state": "Massachusetts",
        "country": "United States",
        "location": "Boston, MA, US",
        "external_id": "5239c583-cc8e-4617-353-79681622839e",
        "created_at": "2021-07-30T03:44:37.362Z",
    }
    assert contact["attributes"] == seed_data.sample_contact()["attributes"]


def test_record_json_keeps_ids_above_2_53_exact(gatherer: Gatherer) -> None:
    event, key, message = push()

    text = json.dumps(gatherer.record(event, event.payload, key, message).to_json_dict())

    assert '"contact_id": 11751623441268736' in text
    assert json.loads(text)["contact"]["id"] == 11751623441268736


def test_flat_conversation_inactive_event(gatherer: Gatherer) -> None:
    # GIVEN the flat shape: data.conversationId with lastUpdated
    event = DriftEvent.model_validate(
        {
            "type": "conversation_inactive",
            "orgId": seed_data.ORG_ID,
            "data": {"conversationId": CONV, "lastUpdated": 1632240490684},
        }
    )
    message = PushedMessage(b"{}", {}, "m-2", None)

    record = gatherer.record(event, event.payload, event.key(), message)

    assert record.conversation.id == CONV
    assert record.contact is not None and record.contact.id == CONTACT
    assert record.to_json_dict()["event"]["pushed_at"] == "2021-09-21T16:08:10.684Z"


def test_event_without_a_conversation_id_has_no_payload_to_gather(
    gatherer: Gatherer, sim: DriftSimulator
) -> None:
    # A conversation event without an id does not validate, so nothing reaches Drift.
    event = DriftEvent.model_validate({"type": "conversation_push", "data": {"data": {}}})

    with pytest.raises(ValueError, match="conversationId"):
        event.payload  # noqa: B018
    assert counts(sim) == {}


# -- Drift calls per event --------------------------------------------------------------------


def test_cold_cache_costs_four_calls_and_warm_cache_three(
    gatherer: Gatherer, sim: DriftSimulator
) -> None:
    event, key, message = push()

    gatherer.record(event, event.payload, key, message)
    assert counts(sim) == {"conversation": 1, "contact": 1, "transcript": 1, "users_list": 1}

    sim.reset_counts()
    gatherer.record(event, event.payload, key, message)
    assert counts(sim) == {"conversation": 1, "contact": 1, "transcript": 1}


def test_participant_hidden_from_the_list_is_fetched_alone(
    gatherer: Gatherer, sim: DriftSimulator
) -> None:
    # GIVEN /users/list does not show the conversation's participant
    sim.hide_from_list = {AGENT}
    event, key, message = push()

    record = gatherer.record(event, event.payload, key, message)

    # THEN /users/{id} fills the gap, with no more than one list read
    assert [p.name for p in record.participants] == ["Agent"]
    assert sim.calls("user") == [(f"/users/{AGENT}", {})]
    assert counts(sim)["users_list"] == 1

    # and the user is remembered: the next event costs three calls
    sim.reset_counts()
    gatherer.record(event, event.payload, key, message)
    assert counts(sim) == {"conversation": 1, "contact": 1, "transcript": 1}


def test_unknown_participant_refreshes_the_list_at_most_once(
    client: DriftClient, sim: DriftSimulator
) -> None:
    # GIVEN a warm cache that may be refreshed at once, and a user it does not know yet
    gatherer = Gatherer(client, UserDirectory(client, min_refresh_seconds=0))
    record_of(gatherer, *push())
    newcomer = {"id": 7_000_001, "name": "Newcomer", "email": "new@example.com", "bot": False}
    sim.add_user(newcomer)
    sim.hide_from_list = {newcomer["id"]}
    add_conversation(sim, 5_000_001, participants=[AGENT, newcomer["id"]])
    sim.reset_counts()

    record = record_of(gatherer, *push(5_000_001))

    # THEN one list refresh, then the single-user fallback; participants keep their order
    assert [(p.id, p.name) for p in record.participants] == [
        (AGENT, "Agent"),
        (7_000_001, "Newcomer"),
    ]
    assert counts(sim)["users_list"] == 1
    assert counts(sim)["user"] == 1


def test_new_user_found_by_the_list_refresh_needs_no_single_fetch(
    client: DriftClient, sim: DriftSimulator
) -> None:
    gatherer = Gatherer(client, UserDirectory(client, min_refresh_seconds=0))
    record_of(gatherer, *push())
    sim.add_user({"id": 7_000_002, "name": "Listed", "email": "l@example.com", "bot": False})
    add_conversation(sim, 5_000_002, participants=[7_000_002])
    sim.reset_counts()

    record = record_of(gatherer, *push(5_000_002))

    assert [p.name for p in record.participants] == ["Listed"]
    assert counts(sim)["users_list"] == 1
    assert "user" not in counts(sim)


def test_participant_unknown_to_drift_keeps_only_its_id(
    gatherer: Gatherer, sim: DriftSimulator
) -> None:
    add_conversation(sim, 5_000_003, participants=[AGENT, 999_000_001])

    record = record_of(gatherer, *push(5_000_003))

    assert record.participants == [
        Participant(
            id=AGENT,
            name="Agent",
            email="agent@example.com",
            alias="Agent",
            role="admin",
            bot=False,
        ),
        Participant(id=999_000_001),
    ]
    assert sim.calls("user") == [("/users/999000001", {})]


def test_contact_unknown_to_drift_keeps_only_its_id(
    gatherer: Gatherer, sim: DriftSimulator
) -> None:
    missing = 11_751_623_441_999_999
    add_conversation(sim, 5_000_004, contactId=missing)

    record = record_of(gatherer, *push(5_000_004))

    assert record.contact == ContactInfo(id=missing)
    assert record.to_json_dict()["contact"]["id"] == missing
    assert record.conversation.id == 5_000_004


def test_conversation_without_a_contact(gatherer: Gatherer, sim: DriftSimulator) -> None:
    conversation = seed_data.sample_conversation()
    conversation.update(id=5_000_005)
    del conversation["contactId"]
    sim.add_conversation(conversation, transcript="x")

    record = record_of(gatherer, *push(5_000_005))

    assert record.contact is None
    assert "contact" not in counts(sim)


def test_unknown_conversation_is_not_found(gatherer: Gatherer, sim: DriftSimulator) -> None:
    with pytest.raises(DriftNotFoundError):
        record_of(gatherer, *push(123_456))
    assert counts(sim)["conversation"] == 1


def test_missing_transcript_is_empty(gatherer: Gatherer, sim: DriftSimulator) -> None:
    sim.add_fault("transcript", "404", times=1)

    record = record_of(gatherer, *push())

    assert record.transcript == ""
    assert record.contact is not None and record.contact.id == CONTACT


def test_transient_failures_are_not_swallowed(gatherer: Gatherer, sim: DriftSimulator) -> None:
    sim.add_fault("transcript", "503", times=None)

    with pytest.raises(DriftTransientError):
        record_of(gatherer, *push())
    assert counts(sim)["transcript"] == FAST.max_attempts


def test_include_messages_adds_every_message_across_pages(
    client: DriftClient, sim: DriftSimulator
) -> None:
    (conversation_id,) = sim.generate_conversations(1, messages_per_conversation=120)
    gatherer = Gatherer(client, UserDirectory(client), include_messages=True)

    record = record_of(gatherer, *push(conversation_id))

    expected = sim.get_messages(conversation_id)
    assert record.messages is not None
    assert [m.id for m in record.messages] == [m["id"] for m in expected]
    assert len(record.messages) == 120
    first = record.messages[1].model_dump(mode="json")
    assert first["author_type"] == "contact"
    assert first["author_id"] == expected[1]["author"]["id"] > 2**53
    assert first["created_at"].endswith("Z")
    assert counts(sim)["messages"] == 3


# -- concurrency, proven by a rendezvous ------------------------------------------------------


class Rendezvous:
    """Handlers that answer only once the requests they wait for have also arrived.

    The transcript and users requests wait for the contact request, and the contact request
    waits for both of them. All three can succeed only if they are in flight at the same time;
    done one after another, the first would wait for nothing to come and report False.
    """

    def __init__(self) -> None:
        self.arrived = {
            name: threading.Event() for name in ("conversation", "contact", "transcript", "users")
        }
        self.met: dict[str, bool] = {}

    def handler(self, name: str, answer: Response, waits_for: tuple[str, ...] = ()) -> Any:
        def handle(request: Request) -> Response:
            self.arrived[name].set()
            self.met[name] = all(
                self.arrived[other].wait(RENDEZVOUS_SECONDS) for other in waits_for
            )
            return answer

        return handle


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_transcript_and_users_are_fetched_while_conversation_and_contact_are(
    threaded_server: HTTPServer,
) -> None:
    def json_answer(obj: Any) -> Response:
        return Response(json.dumps(obj), content_type="application/json")

    meet = Rendezvous()
    routes = {
        f"/conversations/{CONV}": meet.handler(
            "conversation", json_answer({"data": seed_data.sample_conversation()})
        ),
        f"/contacts/{CONTACT}": meet.handler(
            "contact",
            json_answer({"data": seed_data.sample_contact()}),
            waits_for=("transcript", "users"),
        ),
        f"/conversations/{CONV}/transcript": meet.handler(
            "transcript",
            Response(seed_data.SAMPLE_TRANSCRIPT, content_type="text/plain; charset=utf-8"),
            waits_for=("contact",),
        ),
        "/users/list": meet.handler(
            "users", json_answer(seed_data.sample_users()), waits_for=("contact",)
        ),
    }
    for path, handle in routes.items():
        threaded_server.expect_request(path).respond_with_handler(handle)
    # read timeout above the rendezvous wait, so a non-concurrent gatherer fails on `met`
    client = make_client(threaded_server.url_for("/").rstrip("/"), read_timeout=10)
    gatherer = Gatherer(client, UserDirectory(client))

    record = record_of(gatherer, *push())

    assert meet.met == {"conversation": True, "contact": True, "transcript": True, "users": True}
    assert record.transcript == seed_data.SAMPLE_TRANSCRIPT
    assert [p.name for p in record.participants] == ["Agent"]
    client.close()


def test_the_preview_sample_record_is_what_the_worker_gathers(gatherer: Gatherer) -> None:
    # GIVEN the seed event WHEN gathered from the simulator and built by preview from samples/
    from operations.preview import _sample_record

    event, key, message = push()
    gathered = record_of(gatherer, event, key, message).to_json_dict()
    built = _sample_record(event, event.payload)
    # THEN they are the same record, but for what only the Pub/Sub message knows
    for record in (gathered, built):
        record["event"].pop("message_id")
        record["event"].pop("published_at")
    assert built == gathered
