"""The built-in Pipedrive recipe against a small fake of Pipedrive's API (v2 persons, v1 notes)
on loopback: one person found by email or created, one note per conversation, repeat safety,
rate limits and the GDPR deletion."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from shared.errors import PermanentError, TransientError
from shared.recipes import RecipeRunner, load_recipe
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import ANY_PATH, FakeApi, Fault, Worker, record

pytestmark = pytest.mark.timeout(60)
TOKEN = "pipedrive-api-token-1"


class Pipedrive(FakeApi):
    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.persons: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        ids = itertools.count(1)

        @self.route("GET", "/api/v2/persons/search")
        def search(request, body):
            args = request.args
            assert args["fields"] == "email" and args["exact_match"] == "true"
            items = [
                {
                    "result_score": 1,
                    "item": {
                        "id": i,
                        "name": p["name"],
                        "emails": [e["value"] for e in p["emails"]],
                    },
                }
                for i, p in self.persons.items()
                if any(e["value"] == args["term"] for e in p["emails"])
            ]
            return 200, {"success": True, "data": {"items": items[: int(args.get("limit", 100))]}}

        @self.route("POST", "/api/v2/persons")
        def add_person(request, body):
            person = next(ids)
            self.persons[person] = body
            return 200, {"success": True, "data": {"id": person, **body}}

        @self.route("DELETE", r"/api/v2/persons/(\d+)")
        def delete_person(request, body, person):
            if self.persons.pop(int(person), None) is None:
                return 404, {"success": False, "error": "Person not found"}
            return 200, {"success": True, "data": {"id": int(person)}}

        @self.route("POST", "/v1/notes")
        def add_note(request, body):
            note = next(ids)
            self.notes[note] = dict(body)
            return 200, {"success": True, "data": {"id": note, **body}}

        @self.route("PUT", r"/v1/notes/(\d+)")
        def update_note(request, body, note):
            if int(note) not in self.notes:
                return 404, {"success": False, "error": "Note not found"}
            self.notes[int(note)].update(body)
            return 200, {"success": True, "data": {"id": int(note), **self.notes[int(note)]}}

        @self.route("GET", "/v1/notes")
        def list_notes(request, body):
            person = int(request.args["person_id"])
            data = [{"id": i, **n} for i, n in self.notes.items() if n.get("person_id") == person]
            return 200, {"success": True, "data": data}

    def authorized(self, request: Any) -> bool:
        return request.headers.get("x-api-token") == self.token

    def unauthorized(self) -> Any:
        return {"success": False, "error": "unauthorized access", "errorCode": 401}


@pytest.fixture
def pipedrive(httpserver) -> Pipedrive:
    fake = Pipedrive()
    httpserver.expect_request(ANY_PATH).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def worker(httpserver, pipedrive) -> Worker:
    settings = make_settings(crm_api_token=TOKEN, crm_base_url=httpserver.url_for("").rstrip("/"))
    runner = RecipeRunner(load_recipe("pipedrive"), settings)
    yield Worker(runner, pipedrive)
    runner.close()


def test_the_first_visit_creates_the_person_and_a_note_on_it(worker, pipedrive):
    delivery, requests = worker.deliver(record(), "event-1")
    assert requests == 3  # search, create person, note
    ((person_id, person),) = pipedrive.persons.items()
    assert person == {
        "name": "Gregg Parker",
        "emails": [{"value": "gregg@example.com", "primary": True, "label": "work"}],
    }
    ((note_id, note),) = pipedrive.notes.items()
    assert note["person_id"] == person_id
    assert note["content"] == (
        "<p><b>Drift conversation 3275727977</b></p><p>Hello &lt;there&gt;<br>How can I help?</p>"
    )
    assert delivery.memory == {"person_id": person_id, "note_id": note_id}


def test_a_returning_visitor_is_found_by_email(worker, pipedrive):
    worker.deliver(record(conversation=1), "event-1")
    _, requests = worker.deliver(record(conversation=2), "event-2")
    assert requests == 2  # search, note
    assert len(pipedrive.persons) == 1 and len(pipedrive.notes) == 2


def test_a_later_push_updates_the_note_in_one_request(worker, pipedrive):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "more\ntext"
    _, requests = worker.deliver(later, "event-2")
    assert requests == 1
    (note,) = pipedrive.notes.values()
    assert "more<br>text" in note["content"]


def test_a_visitor_without_a_name_is_named_by_email_and_a_phone_is_kept(worker, pipedrive):
    worker.deliver(record(first_name=None, last_name=None, phone="+1 555 0100"), "event-1")
    (person,) = pipedrive.persons.values()
    assert person["name"] == "gregg@example.com"
    assert person["phones"] == [{"value": "+1 555 0100", "primary": True, "label": "work"}]


def test_lost_answers_never_create_a_second_person_or_note(worker, pipedrive):
    pipedrive.faults += [
        Fault("POST", "/api/v2/persons", 503, {"success": False}, after_write=True),
        Fault("POST", "/v1/notes", 502, None, after_write=True),
    ]
    worker.deliver(record(), "event-1", attempts=4)
    assert len(pipedrive.persons) == 1 and len(pipedrive.notes) == 1
    assert ("GET", "/v1/notes") in pipedrive.seen


def test_an_anonymous_visitor_writes_nothing(worker, pipedrive):
    delivery, requests = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped and requests == 0


def test_a_rate_limit_is_transient(worker, pipedrive):
    pipedrive.faults.append(
        Fault(
            "GET", "/api/v2/persons/search", 429, {"success": False}, headers={"Retry-After": "2"}
        )
    )
    with pytest.raises(TransientError) as caught:
        worker.deliver(record(), "event-1", attempts=1)
    assert caught.value.retry_after == 2.0


def test_success_false_is_a_failure(worker, pipedrive):
    pipedrive.faults.append(Fault("POST", "/v1/notes", 200, {"success": False, "error": "bad"}))
    with pytest.raises(PermanentError, match="Pipedrive answered success false"):
        worker.deliver(record(), "event-1", attempts=1)


def test_gdpr_deletes_the_person_found_by_email(worker, pipedrive):
    worker.deliver(record(), "event-1")
    delivery = worker.gdpr("gregg@example.com")
    assert [r.method for r in delivery.requests] == ["GET", "DELETE"]
    assert pipedrive.persons == {}


def test_gdpr_for_an_unknown_email_deletes_nothing(worker, pipedrive):
    delivery = worker.gdpr("nobody@example.com")
    assert [r.method for r in delivery.requests] == ["GET"]
