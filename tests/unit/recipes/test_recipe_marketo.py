"""The built-in Marketo recipe against the Marketo Engage stand-in (devtools.vendors.marketo) on
loopback: the identity call's client credentials in the query string, the lead synced with
createOrUpdate on email, one record of the driftConversation_c custom object per conversation
(deduplicated on conversationId, so later pushes and repeats update it), HTTP 200 with success
false read through its error codes (606/615 transient, 607 a long backoff, 601/602 renew the
token, anything else permanent), skipped records as failures, and the GDPR deletion. Every
request the recipe sent is checked against Adobe's Swagger files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import MarketoStandIn
from devtools.vendors.marketo import CONCURRENCY, QUOTA
from shared.errors import PermanentError, TransientError
from shared.recipes import MemoryJournal, RecipeRunner, load_recipe
from tests.contract.vendor_contract import assert_all_valid
from tests.unit.recipes.helpers import make_settings
from tests.unit.recipes.vendors import Worker, record

pytestmark = pytest.mark.timeout(60)
CLIENT_ID, CLIENT_SECRET = "unit-marketo-client", "unit-marketo-secret"
EMAIL = "gregg@example.com"
TOKEN_CALLS = ("identity.token", "identity.token_post")


class Seen:
    def __init__(self, standin: MarketoStandIn) -> None:
        self.standin = standin

    @property
    def seen(self) -> list[Any]:
        return [r for r in self.standin.requests if r.endpoint not in TOKEN_CALLS]


@pytest.fixture
def marketo() -> Iterator[MarketoStandIn]:
    with MarketoStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as standin:
        yield standin


def runner_for(marketo: MarketoStandIn) -> RecipeRunner:
    settings = make_settings(
        crm_recipe="marketo",
        crm_base_url=marketo.url,
        crm_oauth_token_url=f"{marketo.url}/identity/oauth/token",
        crm_oauth_client_id=CLIENT_ID,
        crm_oauth_client_secret=CLIENT_SECRET,
    )
    return RecipeRunner(load_recipe("marketo"), settings)


@pytest.fixture
def worker(marketo: MarketoStandIn) -> Iterator[Worker]:
    runner = runner_for(marketo)
    yield Worker(runner, Seen(marketo))
    runner.close()
    assert_all_valid(marketo.requests)


def endpoints(marketo: MarketoStandIn) -> list[str]:
    return [r.endpoint for r in marketo.requests if r.endpoint not in TOKEN_CALLS]


def deliver_once(marketo: MarketoStandIn, document: dict[str, Any]) -> Any:
    runner = runner_for(marketo)
    try:
        return runner.deliver("conversation", document, journal=MemoryJournal())
    finally:
        runner.close()


def test_the_first_visit_syncs_the_lead_and_the_conversation(worker, marketo):
    delivery, requests = worker.deliver(record(), "event-1")
    assert requests == 2
    assert endpoints(marketo) == ["leads.sync", "customobjects.sync"]
    sync = marketo.calls("leads.sync")[0].json
    assert (sync["action"], sync["lookupField"]) == ("createOrUpdate", "email")
    (lead,) = marketo.leads()
    assert (lead["email"], lead["firstName"], lead["lastName"]) == (EMAIL, "Gregg", "Parker")
    (conversation,) = marketo.custom_object_records("driftConversation_c")
    assert conversation["conversationId"] == "3275727977"
    assert conversation["leadID"] == lead["id"]
    assert conversation["transcript"] == "Hello <there>\nHow can I help?"
    assert marketo.calls("customobjects.sync")[0].json["dedupeBy"] == "dedupeFields"
    assert delivery.memory == {}  # nothing to remember: the dedupe field finds the record
    # AND the identity call carried the client credentials in its query string
    (token,) = [r for r in marketo.requests if r.endpoint in TOKEN_CALLS]
    assert token.query_value("grant_type") == "client_credentials"
    assert token.query_value("client_id") == CLIENT_ID
    assert all(
        r.header("Authorization", "").startswith("Bearer ") and "access_token" not in r.query
        for r in marketo.requests
        if r.endpoint not in TOKEN_CALLS
    )


def test_a_returning_visitor_is_updated_never_duplicated(worker, marketo):
    lead_id = marketo.add_lead({"email": "GREGG@example.com", "lastName": "Parker"})
    _, requests = worker.deliver(record(title="Owner"), "event-1")
    assert requests == 2
    (lead,) = marketo.leads()
    assert lead["id"] == lead_id and lead["title"] == "Owner"
    worker.deliver(record(conversation=2), "event-2")
    assert len(marketo.leads()) == 1 and len(marketo.activities()) == 2


def test_a_later_push_updates_the_same_record(worker, marketo):
    worker.deliver(record(), "event-1")
    later = record()
    later["transcript"] = "Hello <there>\nHow can I help?\nBook a demo"
    _, requests = worker.deliver(later, "event-2")
    assert requests == 2
    (conversation,) = marketo.activities()
    assert conversation["transcript"] == "Hello <there>\nHow can I help?\nBook a demo"


def test_a_visitor_without_email_writes_nothing(worker, marketo):
    delivery, _ = worker.deliver(record(email=None), "event-1")
    assert delivery.skipped == "the visitor left no email address"
    assert marketo.requests == []


@pytest.mark.parametrize("endpoint", ["leads.sync", "customobjects.sync"])
def test_a_lost_answer_after_the_write_leaves_one_lead_and_one_record(worker, marketo, endpoint):
    marketo.lose_answer(endpoint=endpoint)
    worker.deliver(record(), "event-1")
    assert len(marketo.leads()) == 1 and len(marketo.activities()) == 1


@pytest.mark.parametrize(
    ("fault", "backoff"),
    [("rate_limit", 20), (CONCURRENCY, 20), (QUOTA, 3600)],
)
def test_limits_answered_with_200_are_transient(marketo, fault, backoff):
    marketo.add_fault(fault, endpoint="leads.sync")
    with pytest.raises(TransientError) as caught:
        deliver_once(marketo, record())
    assert caught.value.backoff == backoff
    assert "200" in caught.value.reason
    assert marketo.leads() == []


def test_an_expired_token_602_is_renewed_once(worker, marketo):
    worker.deliver(record(conversation=1), "event-1")
    marketo.expire_token()
    _, requests = worker.deliver(record(conversation=2), "event-2")
    assert requests == 3  # the refused sync (602), then both requests with a fresh token
    assert len([r for r in marketo.requests if r.endpoint in TOKEN_CALLS]) == 2
    assert len(marketo.activities()) == 2


def test_a_skipped_lead_is_a_failure(marketo):
    with pytest.raises(PermanentError) as caught:
        deliver_once(marketo, record(email="not an email"))
    assert "skipped" in caught.value.reason and "1003" in (caught.value.detail or "")
    assert marketo.activities() == []


def test_another_error_code_is_permanent(marketo):
    # GIVEN an instance without the custom object (Marketo answers 1013, object not found)
    other = {"other_c": {"dedupe": ["x"], "link": None, "fields": ["x"]}}
    with (
        MarketoStandIn(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, custom_objects=other
        ) as bare,
        pytest.raises(PermanentError) as caught,
    ):
        deliver_once(bare, record())
    assert "success false" in caught.value.reason and "conversation" in caught.value.reason


def test_gdpr_deletes_the_lead(worker, marketo):
    worker.deliver(record(), "event-1")
    delivery = worker.gdpr(EMAIL)
    assert delivery.skipped is None
    assert marketo.leads() == []
    assert marketo.calls("leads.delete")[0].json == {"input": [{"id": 1001}]}


def test_gdpr_for_an_unknown_email_deletes_nothing(worker, marketo):
    worker.gdpr("nobody@example.com")
    assert endpoints(marketo) == ["leads.get"]
