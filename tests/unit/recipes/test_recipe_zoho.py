"""The built-in Zoho recipe against the Zoho CRM v8 stand-in (devtools.vendors.zoho) on loopback:
the refresh-token grant and its api_domain, the Contact searched first else a Lead upserted on
Email, one note per conversation updated by later pushes, repeat safety after lost answers,
202 with per-record errors read as a failure, rate limits, an expired token and the GDPR
deletion. Every request the recipe sent is checked against Zoho's own OpenAPI files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import ZohoStandIn
from shared.errors import PermanentError, TransientError
from shared.recipes import MemoryJournal, RecipeRunner, load_recipe
from tests.contract.vendor_contract import assert_all_valid
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import Worker, record

pytestmark = pytest.mark.timeout(60)
CLIENT_ID, CLIENT_SECRET, REFRESH = "1000.UNITCLIENT", "unit-secret", "1000.unit.refresh"
EMAIL = "gregg@example.com"


class Seen:
    """What ``Worker`` counts: the stand-in's recorded requests, token calls left out."""

    def __init__(self, standin: ZohoStandIn) -> None:
        self.standin = standin

    @property
    def seen(self) -> list[Any]:
        return [r for r in self.standin.requests if r.endpoint != "oauth.token"]


@pytest.fixture
def zoho() -> Iterator[ZohoStandIn]:
    with ZohoStandIn(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH
    ) as standin:
        yield standin


def runner_for(zoho: ZohoStandIn, **settings: Any) -> RecipeRunner:
    values = {
        "crm_recipe": "zoho",
        "crm_oauth_token_url": f"{zoho.url}/oauth/v2/token",
        "crm_oauth_client_id": CLIENT_ID,
        "crm_oauth_client_secret": CLIENT_SECRET,
        "crm_oauth_refresh_token": REFRESH,
        **settings,
    }
    return RecipeRunner(load_recipe("zoho"), make_settings(**values))


@pytest.fixture
def worker(zoho: ZohoStandIn) -> Iterator[Worker]:
    # No CRM_BASE_URL: the API domain is the token answer's api_domain
    runner = runner_for(zoho)
    yield Worker(runner, Seen(zoho))
    runner.close()
    assert_all_valid(zoho.requests)  # every request, token calls included


def endpoints(zoho: ZohoStandIn) -> list[str]:
    return [r.endpoint for r in zoho.requests if r.endpoint != "oauth.token"]


def test_the_first_visit_upserts_a_lead_and_notes_the_conversation(worker, zoho):
    # WHEN a new visitor's conversation is delivered
    delivery, requests = worker.deliver(record(), "event-1")
    # THEN the Contact is searched, a Lead upserted on Email, and the note written on it
    assert requests == 3
    assert endpoints(zoho) == ["records.search", "records.upsert", "notes.create"]
    upsert = zoho.calls("records.upsert")[0]
    assert upsert.path == "/crm/v8/Leads/upsert"
    assert upsert.json["duplicate_check_fields"] == ["Email"]
    (lead,) = zoho.leads()
    assert (lead["Email"], lead["First_Name"], lead["Last_Name"]) == (EMAIL, "Gregg", "Parker")
    assert lead["Company"] == "Camp Waziyatah"
    (note,) = zoho.notes()
    assert note["Note_Title"] == "Drift conversation 3275727977"
    assert note["Note_Content"] == "Hello <there>\nHow can I help?"  # line breaks kept
    assert note["Parent_Id"] == {"module": {"api_name": "Leads"}, "id": lead["id"]}
    assert zoho.calls("notes.create")[0].json["data"][0]["se_module"] == "Leads"
    assert delivery.memory == {
        "person_id": lead["id"],
        "person_module": "Leads",
        "note_id": note["id"],
    }
    # AND the access token came from the refresh-token grant, sent with Zoho's scheme
    token_call = zoho.calls("oauth.token")[0]
    assert token_call.form["grant_type"] == ["refresh_token"]
    assert token_call.form["refresh_token"] == [REFRESH]
    assert all(
        r.header("Authorization", "").startswith("Zoho-oauthtoken ")
        for r in zoho.requests
        if r.endpoint != "oauth.token"
    )


def test_an_existing_contact_is_used_and_updated_instead_of_a_lead(worker, zoho):
    # GIVEN the visitor is already a Contact
    contact_id = zoho.add_record("Contacts", {"Last_Name": "Parker", "Email": "GREGG@example.com"})
    # WHEN the conversation is delivered
    _, requests = worker.deliver(record(title="Owner"), "event-1")
    # THEN the Contact is upserted (updated) and carries the note; no Lead is made
    assert requests == 3
    assert zoho.calls("records.upsert")[0].path == "/crm/v8/Contacts/upsert"
    assert zoho.leads() == []
    (contact,) = zoho.contacts()
    assert contact["id"] == contact_id and contact["Title"] == "Owner"
    (note,) = zoho.notes_for(contact_id)
    assert note["Parent_Id"]["module"]["api_name"] == "Contacts"


def test_a_returning_visitor_is_updated_never_duplicated(worker, zoho):
    worker.deliver(record(conversation=1), "event-1")
    _, requests = worker.deliver(record(conversation=2, phone="+1 617 555 0100"), "event-2")
    assert requests == 3
    (lead,) = zoho.leads()
    assert lead["Phone"] == "+1 617 555 0100"
    assert len(zoho.notes_for(lead["id"])) == 2


def test_a_later_push_updates_the_note(worker, zoho):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "Hello <there>\nHow can I help?\nBook a demo"
    _, requests = worker.deliver(later, "event-2")
    assert requests == 1
    assert endpoints(zoho)[-1] == "notes.update"
    (note,) = zoho.notes()
    assert note["Note_Content"] == "Hello <there>\nHow can I help?\nBook a demo"
    assert len(zoho.leads()) == 1


def test_a_note_deleted_in_zoho_is_written_again(worker, zoho):
    first, _ = worker.deliver(record(), "event-1")
    with zoho.lock:
        zoho._notes.clear()
    delivery, requests = worker.deliver(record(), "event-2")
    assert requests == 2  # PUT answered 202 INVALID_DATA (id), then POST
    (note,) = zoho.notes()
    assert delivery.memory["note_id"] == note["id"] != first.memory["note_id"]


def test_a_visitor_without_email_writes_nothing(worker, zoho):
    delivery, requests = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped == "the visitor left no email address"
    assert requests == 0 and zoho.requests == []


@pytest.mark.parametrize("endpoint", ["records.upsert", "notes.create"])
def test_a_lost_answer_after_the_write_leaves_one_lead_and_one_note(worker, zoho, endpoint):
    # GIVEN Zoho writes, then the connection drops before its answer arrives
    zoho.lose_answer(endpoint=endpoint)
    # WHEN the event is delivered (and retried with the same journal)
    worker.deliver(record(), "event-1")
    # THEN the retry found or re-upserted what was written: one Lead, one note
    assert len(zoho.leads()) == 1 and len(zoho.notes()) == 1
    if endpoint == "notes.create":
        assert "records.notes" in endpoints(zoho)  # the recovery listed the Lead's notes


def test_a_202_with_a_per_record_error_is_a_failure(zoho):
    # GIVEN a Zoho org where Leads also need Company, which this visitor lacks
    with ZohoStandIn(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH,
        mandatory_fields={"Leads": ("Last_Name", "Company")},
    ) as strict:
        runner = runner_for(strict)
        try:
            with pytest.raises(PermanentError) as caught:
                runner.deliver("conversation", record(company=None), journal=MemoryJournal())
        finally:
            runner.close()
    # THEN it is permanent, names the step, and the answer goes to the dead letter only
    assert "202" in caught.value.reason and "lead" in caught.value.reason
    assert "MANDATORY_NOT_FOUND" in (caught.value.detail or "")
    assert strict.notes() == []


def test_a_rate_limit_is_transient(zoho):
    runner = runner_for(zoho)
    zoho.rate_limit(times=1)
    try:
        with pytest.raises(TransientError) as caught:
            runner.deliver("conversation", record(), journal=MemoryJournal())
    finally:
        runner.close()
    assert "429" in caught.value.reason and caught.value.backoff == 60


def test_an_expired_token_is_renewed_once(worker, zoho):
    worker.deliver(record(conversation=1), "event-1")
    zoho.expire_token()
    _, requests = worker.deliver(record(conversation=2), "event-2")
    assert requests == 4  # the refused search, then the three requests with a new token
    assert len(zoho.calls("oauth.token")) == 2
    assert len(zoho.leads()) == 1 and len(zoho.notes()) == 2


def test_an_explicit_base_url_wins_over_api_domain(zoho):
    with ZohoStandIn(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH
    ) as api:
        # GIVEN the accounts server's api_domain names itself, and CRM_BASE_URL another server
        runner = runner_for(zoho, crm_base_url=api.url)
        try:
            # WHEN a conversation is delivered (that server knows none of the accounts server's
            # tokens, so it refuses them, even once renewed)
            with pytest.raises(PermanentError):
                runner.deliver("conversation", record(), journal=MemoryJournal())
        finally:
            runner.close()
        # THEN the API calls went to CRM_BASE_URL, and only token calls to the accounts server
        assert {r.endpoint for r in zoho.requests} == {"oauth.token"}
        assert [r.endpoint for r in api.requests] == ["records.search", "records.search"]


def test_gdpr_deletes_the_contact_and_the_lead_with_that_email(worker, zoho):
    worker.deliver(record(), "event-1")
    contact_id = zoho.add_record("Contacts", {"Last_Name": "Parker", "Email": EMAIL})
    delivery = worker.gdpr(EMAIL)
    assert delivery.skipped is None
    assert zoho.persons() == [] and zoho.notes() == []
    assert {d["module"] for d in zoho.deleted} == {"Leads", "Contacts"}
    assert contact_id in {d["id"] for d in zoho.deleted}


def test_gdpr_for_an_unknown_email_sends_no_delete(worker, zoho):
    delivery = worker.gdpr("nobody@example.com")
    assert delivery.skipped is None
    assert [r.endpoint for r in zoho.requests if r.endpoint != "oauth.token"] == [
        "records.search",
        "records.search",
    ]
