"""The built-in Dynamics 365 recipe against the Dataverse Web API stand-in
(devtools.vendors.dynamics) on loopback: Entra ID client credentials with the environment's
/.default scope, the contact found by emailaddress1 or created, one note (annotation) per
conversation linked by @odata.bind and updated by later pushes, repeat safety after lost
answers, 429 with Retry-After, an expired token and the GDPR deletion. Every request the recipe
sent is checked against the rules of the Dataverse Web API documentation
(tests/contract/dynamics_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import DynamicsStandIn
from shared.errors import PermanentError, TransientError
from shared.recipes import MemoryJournal, RecipeRunner, load_recipe
from tests.contract.vendor_contract import assert_all_valid
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import Worker, record

pytestmark = pytest.mark.timeout(60)
TENANT = "7d5c4b3a-2f1e-4d0c-9b8a-77665544a11a"
CLIENT_ID, CLIENT_SECRET = "0f1e2d3c-4b5a-4968-8776-655443322110", "unit-entra-secret"
EMAIL = "gregg@example.com"


class Seen:
    def __init__(self, standin: DynamicsStandIn) -> None:
        self.standin = standin

    @property
    def seen(self) -> list[Any]:
        return [r for r in self.standin.requests if r.endpoint != "oauth.token"]


@pytest.fixture
def crm() -> Iterator[DynamicsStandIn]:
    with DynamicsStandIn(
        tenant=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as standin:
        yield standin


def runner_for(crm: DynamicsStandIn, **settings: Any) -> RecipeRunner:
    values = {
        "crm_recipe": "dynamics",
        "crm_base_url": crm.url,
        "crm_oauth_token_url": crm.token_url,
        "crm_oauth_scope": crm.scope,
        "crm_oauth_client_id": CLIENT_ID,
        "crm_oauth_client_secret": CLIENT_SECRET,
        **settings,
    }
    return RecipeRunner(load_recipe("dynamics"), make_settings(**values))


@pytest.fixture
def worker(crm: DynamicsStandIn) -> Iterator[Worker]:
    runner = runner_for(crm)
    yield Worker(runner, Seen(crm))
    runner.close()
    assert_all_valid(crm.requests)


def endpoints(crm: DynamicsStandIn) -> list[str]:
    return [r.endpoint for r in crm.requests if r.endpoint != "oauth.token"]


def test_the_first_visit_creates_the_contact_and_a_note_bound_to_it(worker, crm):
    delivery, requests = worker.deliver(record(), "event-1")
    assert requests == 3
    assert endpoints(crm) == ["contacts.query", "contacts.create", "annotations.create"]
    query = crm.calls("contacts.query")[0]
    assert query.query_value("$filter") == "emailaddress1 eq 'gregg@example.com'"
    (contact,) = crm.contacts()
    assert (contact["emailaddress1"], contact["firstname"], contact["lastname"]) == (
        EMAIL,
        "Gregg",
        "Parker",
    )
    (note,) = crm.annotations()
    assert note["subject"] == "Drift conversation 3275727977"
    assert note["notetext"] == "Hello <there>\nHow can I help?"
    assert note["_objectid_value"] == contact["contactid"]
    sent = crm.calls("annotations.create")[0].json
    assert sent["objectid_contact@odata.bind"] == f"/contacts({contact['contactid']})"
    assert delivery.memory == {
        "contact_id": contact["contactid"],
        "annotation_id": note["annotationid"],
    }
    # AND the token was asked for with the environment's /.default scope
    token = crm.calls("oauth.token")[0]
    assert token.form["scope"] == [crm.scope]
    assert token.form["grant_type"] == ["client_credentials"]


def test_an_email_with_a_quote_is_an_odata_literal(worker, crm):
    worker.deliver(record(email="o'brien@example.com"), "event-1")
    worker.deliver(record(conversation=2, email="o'brien@example.com"), "event-2")
    filters = [c.query_value("$filter") for c in crm.calls("contacts.query")]
    assert filters == ["emailaddress1 eq 'o''brien@example.com'"] * 2
    assert len(crm.contacts()) == 1


def test_a_returning_visitor_is_found_not_duplicated(worker, crm):
    contact_id = crm.add_contact({"emailaddress1": "Gregg@Example.com", "lastname": "Parker"})
    _, requests = worker.deliver(record(), "event-1")
    assert requests == 2  # query, note
    (contact,) = crm.contacts()
    assert contact["contactid"] == contact_id
    assert len(crm.activities_for(contact_id)) == 1


def test_a_later_push_updates_the_note(worker, crm):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "Hello <there>\nHow can I help?\nBook a demo"
    _, requests = worker.deliver(later, "event-2")
    assert requests == 1
    update = crm.calls("annotations.update")[0]
    assert update.header("If-Match") == "*"
    (note,) = crm.annotations()
    assert note["notetext"] == "Hello <there>\nHow can I help?\nBook a demo"


def test_a_note_deleted_meanwhile_is_written_again(worker, crm):
    first, _ = worker.deliver(record(), "event-1")
    with crm.lock:
        crm._rows["annotations"].clear()
    delivery, requests = worker.deliver(record(), "event-2")
    assert requests == 2  # PATCH answered 404, then POST
    (note,) = crm.annotations()
    assert delivery.memory["annotation_id"] == note["annotationid"]
    assert note["annotationid"] != first.memory["annotation_id"]


def test_a_long_transcript_is_truncated_to_the_notetext_limit(worker, crm):
    long = record()
    long["transcript"] = "line\n" * 30_000
    worker.deliver(long, "event-1")
    (note,) = crm.annotations()
    assert len(note["notetext"]) == 100_000
    assert note["notetext"].endswith("\n[transcript truncated]")


def test_a_visitor_without_email_writes_nothing(worker, crm):
    delivery, _ = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped == "the visitor left no email address"
    assert crm.requests == []


@pytest.mark.parametrize("endpoint", ["contacts.create", "annotations.create"])
def test_a_lost_answer_after_the_write_leaves_one_contact_and_one_note(worker, crm, endpoint):
    crm.lose_answer(endpoint=endpoint)
    worker.deliver(record(), "event-1")
    assert len(crm.contacts()) == 1 and len(crm.annotations()) == 1
    query = "contacts.query" if endpoint == "contacts.create" else "annotations.query"
    assert query in endpoints(crm)  # the recovery looked before writing again


def test_429_is_transient_with_the_retry_after_dataverse_sent(crm):
    runner = runner_for(crm)
    crm.rate_limit(times=1, retry_after=7)
    try:
        with pytest.raises(TransientError) as caught:
            runner.deliver("conversation", record(), journal=MemoryJournal())
    finally:
        runner.close()
    assert "429" in caught.value.reason and caught.value.retry_after == 7.0
    assert crm.contacts() == []


def test_an_expired_token_is_renewed_once(worker, crm):
    worker.deliver(record(conversation=1), "event-1")
    crm.expire_token()
    _, requests = worker.deliver(record(conversation=2), "event-2")
    assert requests == 3  # the refused query, then query and note with a fresh token
    assert len(crm.calls("oauth.token")) == 2
    assert len(crm.contacts()) == 1 and len(crm.annotations()) == 2


def test_a_rejected_record_is_permanent_with_the_vendors_reason(crm):
    runner = runner_for(crm)
    try:
        with pytest.raises(PermanentError) as caught:
            runner.deliver("conversation", record(email="not-an-email@"), journal=MemoryJournal())
    finally:
        runner.close()
    assert "400" in caught.value.reason and "create_contact" in caught.value.reason


def test_gdpr_deletes_the_contact_and_its_notes(worker, crm):
    worker.deliver(record(), "event-1")
    delivery = worker.gdpr(EMAIL)
    assert delivery.skipped is None
    assert crm.contacts() == [] and crm.annotations() == []
    assert endpoints(crm)[-2:] == ["contacts.query", "contacts.delete"]


def test_gdpr_for_an_unknown_email_deletes_nothing(worker, crm):
    worker.gdpr("nobody@example.com")
    assert endpoints(crm) == ["contacts.query"]
