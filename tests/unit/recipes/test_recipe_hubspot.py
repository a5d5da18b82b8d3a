"""The built-in HubSpot recipe against a small fake of HubSpot's CRM v3 API on loopback: what a
conversation leaves in HubSpot (one contact by email, one note per conversation, associated with
type 202), repeat safety, partial batches, rate limits and the GDPR deletion."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from shared.errors import PermanentError, TransientError
from shared.recipes import RecipeRunner, load_recipe
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import ANY_PATH, FakeApi, Fault, Worker, record

pytestmark = pytest.mark.timeout(60)
TOKEN = "pat-na1-test-token"


class HubSpot(FakeApi):
    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.contacts: dict[str, dict[str, Any]] = {}  # id -> properties
        self.notes: dict[str, dict[str, Any]] = {}  # id -> {properties, associations}
        self.deleted: list[str] = []
        ids = itertools.count(1001)

        @self.route("POST", "/crm/v3/objects/contacts/batch/upsert")
        def upsert(request, body):
            (item,) = body["inputs"]
            assert item["idProperty"] == "email"
            found = next((i for i, p in self.contacts.items() if p["email"] == item["id"]), None)
            if found is None:
                found = str(next(ids))
                self.contacts[found] = {}
            self.contacts[found].update(item["properties"])
            return 200, {
                "status": "COMPLETE",
                "results": [{"id": found, "properties": self.contacts[found]}],
            }

        @self.route("POST", "/crm/v3/objects/notes")
        def create_note(request, body):
            note = str(next(ids))
            self.notes[note] = {
                "properties": dict(body["properties"]),
                "associations": body["associations"],
            }
            return 201, {"id": note, "properties": body["properties"]}

        @self.route("PATCH", r"/crm/v3/objects/notes/(\d+)")
        def update_note(request, body, note):
            if note not in self.notes:
                return 404, {"status": "error", "category": "OBJECT_NOT_FOUND"}
            self.notes[note]["properties"].update(body["properties"])
            return 200, {"id": note, "properties": self.notes[note]["properties"]}

        @self.route("POST", "/crm/v3/objects/notes/search")
        def search_notes(request, body):
            (group,) = body["filterGroups"]
            (condition,) = group["filters"]
            results = [
                {
                    "id": i,
                    "properties": {
                        "drift_conversation_id": n["properties"].get("drift_conversation_id")
                    },
                }
                for i, n in self.notes.items()
                if n["properties"].get(condition["propertyName"]) == condition["value"]
            ]
            return 200, {"total": len(results), "results": results[: body.get("limit", 10)]}

        @self.route("POST", "/crm/v3/objects/contacts/gdpr-delete")
        def gdpr_delete(request, body):
            assert body["idProperty"] == "email"
            self.deleted.append(body["objectId"])
            for i in [i for i, p in self.contacts.items() if p["email"] == body["objectId"]]:
                del self.contacts[i]
            return 204, None

    def unauthorized(self) -> Any:
        return {"status": "error", "category": "INVALID_AUTHENTICATION"}


@pytest.fixture
def hubspot(httpserver) -> HubSpot:
    fake = HubSpot()
    httpserver.expect_request(ANY_PATH).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def worker(httpserver, hubspot) -> Worker:
    settings = make_settings(crm_api_token=TOKEN, crm_base_url=httpserver.url_for("").rstrip("/"))
    runner = RecipeRunner(load_recipe("hubspot"), settings)
    yield Worker(runner, hubspot)
    runner.close()


def test_the_first_visit_writes_one_contact_and_one_associated_note(worker, hubspot):
    delivery, requests = worker.deliver(record(), "event-1")
    assert requests == 2
    ((contact_id, contact),) = hubspot.contacts.items()
    assert contact == {
        "email": "gregg@example.com",
        "firstname": "Gregg",
        "lastname": "Parker",
        "company": "Camp Waziyatah",
    }
    ((note_id, note),) = hubspot.notes.items()
    body = note["properties"]["hs_note_body"]
    assert body.startswith("<p><strong>Drift conversation 3275727977</strong></p>")
    assert "Hello &lt;there&gt;<br>How can I help?" in body
    assert note["properties"]["hs_timestamp"] == "2021-09-21T16:08:10.684Z"
    assert note["properties"]["drift_conversation_id"] == "3275727977"
    assert note["associations"] == [
        {
            "to": {"id": contact_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    assert delivery.memory == {"contact_id": contact_id, "note_id": note_id}


def test_a_later_push_updates_the_note(worker, hubspot):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "Hello again\nstill here"
    _, requests = worker.deliver(later, "event-2")
    assert requests == 2  # the contact upsert and the note PATCH
    (note,) = hubspot.notes.values()
    assert "Hello again<br>still here" in note["properties"]["hs_note_body"]
    assert len(hubspot.contacts) == 1


def test_a_returning_visitor_gets_a_second_note_on_the_same_contact(worker, hubspot):
    worker.deliver(record(conversation=1), "event-1")
    _, requests = worker.deliver(record(conversation=2, title="CEO"), "event-2")
    assert requests == 2
    assert len(hubspot.contacts) == 1 and len(hubspot.notes) == 2
    assert next(iter(hubspot.contacts.values()))["jobtitle"] == "CEO"


def test_a_redelivery_of_the_same_event_changes_nothing(worker, hubspot):
    worker.deliver(record(), "event-1")
    worker.journals.clear()  # even without the ledger's journal, memory leads to the update
    worker.deliver(record(), "event-1")
    assert len(hubspot.contacts) == 1 and len(hubspot.notes) == 1


def test_a_lost_answer_after_the_note_was_written_does_not_write_it_twice(worker, hubspot):
    hubspot.faults.append(
        Fault("POST", "/crm/v3/objects/notes", 503, {"message": "lost"}, after_write=True)
    )
    delivery, _ = worker.deliver(record(), "event-1")
    assert len(hubspot.notes) == 1
    assert ("POST", "/crm/v3/objects/notes/search") in hubspot.seen
    assert delivery.memory["note_id"] == next(iter(hubspot.notes))


def test_a_note_deleted_in_hubspot_is_written_again(worker, hubspot):
    worker.deliver(record(), "event-1")
    hubspot.notes.clear()
    worker.deliver(record(), "event-2")
    assert len(hubspot.notes) == 1


def test_an_anonymous_visitor_writes_nothing(worker, hubspot):
    delivery, requests = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped == "the visitor left no email address"
    assert requests == 0 and hubspot.contacts == {}


def test_a_partial_batch_is_a_failure(worker, hubspot):
    hubspot.faults.append(
        Fault(
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            207,
            {"status": "COMPLETE", "numErrors": 1},
        )
    )
    with pytest.raises(PermanentError) as caught:
        worker.deliver(record(), "event-1", attempts=1)
    assert "the contact upsert partly failed" in caught.value.reason


def test_a_rate_limit_is_transient_and_honours_retry_after(worker, hubspot):
    hubspot.faults.append(
        Fault(
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            429,
            {"policyName": "TEN_SECONDLY_ROLLING"},
            headers={"Retry-After": "3"},
        )
    )
    with pytest.raises(TransientError) as caught:
        worker.deliver(record(), "event-1", attempts=1)
    assert caught.value.retry_after == 3.0
    worker.deliver(record(), "event-1")
    assert len(hubspot.notes) == 1


def test_a_refused_token_is_permanent(worker, hubspot):
    hubspot.token = "another"
    with pytest.raises(PermanentError) as caught:
        worker.deliver(record(), "event-1", attempts=1)
    assert caught.value.reason.startswith("CRM rejected the record with 401 at step contact")


def test_gdpr_deletes_the_contact_by_email(worker, hubspot):
    worker.deliver(record(), "event-1")
    delivery = worker.gdpr("gregg@example.com")
    assert [r.url.rsplit("/", 1)[1] for r in delivery.requests] == ["gdpr-delete"]
    assert hubspot.deleted == ["gregg@example.com"] and hubspot.contacts == {}


def test_gdpr_without_an_email_sends_nothing(worker, hubspot):
    assert worker.gdpr(None).skipped == "the deletion request names no email to find the contact by"
    assert hubspot.seen == []
