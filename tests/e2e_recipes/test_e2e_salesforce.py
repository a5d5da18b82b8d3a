"""``CRM_RECIPE=salesforce`` end to end: Drift's webhook -> the local stack -> Salesforce's
stand-in, with the OAuth 2.0 client credentials flow and the API base from the token answer's
``instance_url`` (no ``CRM_BASE_URL``, as a customer would run it).

What Salesforce holds afterwards is counted in the stand-in: the existing Contact with the
visitor's email, else one Lead; one completed Task per conversation (``WhoId`` that person,
``Description`` the whole transcript); and every request the worker sent is checked against the
rules of Salesforce's REST API guides (``tests/contract/salesforce_contract.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.vendors import EXPIRED_TOKEN, SalesforceStandIn
from samples import drift_seed as seed_data
from tests.contract.vendor_contract import assert_all_valid
from tests.e2e_recipes import scenarios
from tests.e2e_recipes.harness import RETRIED, RecipeStack, Visitor, recipe_stack

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

CLIENT_ID = "e2e-consumer-key-1b7"
CLIENT_SECRET = "e2e-consumer-secret-93e"


class Salesforce:
    rate_limit_reason = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self, standin: SalesforceStandIn) -> None:
        self.standin = standin

    def persons(self, email: str) -> list[dict[str, Any]]:
        return [
            p for p in self.standin.persons() if (p.get("Email") or "").lower() == email.lower()
        ]

    def person_id(self, person: dict[str, Any]) -> str:
        return person["Id"]

    def activities(self, conversation_id: int) -> list[dict[str, Any]]:
        subject = f"Drift conversation {conversation_id}"
        return [t for t in self.standin.tasks() if t.get("Subject") == subject]

    def linked_person(self, activity: dict[str, Any]) -> str:
        return activity["WhoId"]

    def assert_transcript(self, activity: dict[str, Any], transcript: str) -> None:
        assert activity["Description"] == transcript
        assert activity["Status"] == "Completed" and activity["IsClosed"] is True

    def add_person(self, visitor: Visitor) -> str:
        return self.standin.add_contact(
            {"FirstName": visitor.first_name, "LastName": visitor.last_name, "Email": visitor.email}
        )


@pytest.fixture(scope="module")
def standin():
    with SalesforceStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def rs(emulator, firestore_emulator, standin):
    env = {
        "CRM_OAUTH_TOKEN_URL": f"{standin.url}/services/oauth2/token",
        "CRM_OAUTH_CLIENT_ID": CLIENT_ID,
        "CRM_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
    }
    with recipe_stack(emulator, "salesforce", standin, env) as running:
        yield running


@pytest.fixture
def crm(standin) -> Salesforce:
    return Salesforce(standin)


def _types(person: dict[str, Any]) -> str:
    return person["attributes"]["type"]


def test_seed_conversation_becomes_one_lead_and_one_task(rs: RecipeStack, crm: Salesforce):
    # GIVEN the seed's sample conversation (its visitor with a deliverable address)
    visitor = scenarios.seed_visit(rs)
    mark = rs.mark()
    # WHEN Drift pushes it
    key = rs.push(seed_data.SAMPLE_CONVERSATION_ID)
    rs.delivered(key)
    # THEN Salesforce holds a Lead (nobody had that email) and its completed Task, whose
    # Description is the transcript with its twelve lines
    lead, task = scenarios.one_person_one_activity(
        rs, crm, seed_data.SAMPLE_CONVERSATION_ID, visitor, seed_data.SAMPLE_TRANSCRIPT
    )
    assert _types(lead) == "Lead"
    assert (lead["FirstName"], lead["LastName"]) == ("Gregg", "Parker")
    assert task["Description"].count("\n") == 11
    assert task["ActivityDate"] == "2021-09-21"
    # AND it took a token request and two composite requests (the lookup; Lead and Task)
    assert [r.endpoint for r in rs.since(mark, api_only=False)] == [
        "oauth.token",
        "composite",
        "composite",
    ]
    scenarios.no_dead_letters(rs)


def test_first_visit_without_a_company_uses_the_documented_default(
    rs: RecipeStack, crm: Salesforce
):
    # GIVEN a visitor Drift knows no company of (Salesforce requires one on a Lead)
    visitor = Visitor(scenarios.new_email("first"), "Alan", "Turing", company=None)
    outcome = scenarios.first_visit(rs, crm, visitor, "Hi\nI'd like a <demo> & a quote\nThanks")
    assert outcome.person["Company"] == "[not provided]"


def test_returning_visitor_with_a_contact_gets_the_task_on_it(rs: RecipeStack, crm: Salesforce):
    outcome = scenarios.returning_visitor(rs, crm)
    assert _types(outcome.person) == "Contact"
    assert not [lead for lead in crm.standin.leads() if lead["Email"] == outcome.visitor.email]
    assert [r.endpoint for r in outcome.requests] == ["composite", "composite"]


def test_anonymous_visitor_writes_nothing(rs: RecipeStack):
    scenarios.anonymous_visitor(rs)


def test_repeat_after_a_lost_answer_writes_nothing_twice(rs: RecipeStack, crm: Salesforce):
    # The second composite request (the Lead and its Task) is written, its answer lost.
    outcome = scenarios.lost_answers(rs, crm, [("composite", 2)])
    assert _types(outcome.person) == "Lead"
    assert len(crm.standin.leads()) == len({lead["Email"] for lead in crm.standin.leads()})


def test_second_push_updates_the_task(rs: RecipeStack, crm: Salesforce):
    first, task, requests = scenarios.second_push(rs, crm)
    assert task["Id"] == first.activity["Id"]
    assert [(r.endpoint, r.method) for r in requests] == [("sobjects.update", "PATCH")]


def test_request_limit_is_retried_and_delivered_once(rs: RecipeStack, crm: Salesforce):
    scenarios.rate_limited(rs, crm)


def test_expired_session_is_renewed_once(rs: RecipeStack, crm: Salesforce, standin):
    # GIVEN a worker holding a session that Salesforce has meanwhile expired
    scenarios.deliver(rs, crm, Visitor(scenarios.new_email("warm"), "Mary", "Jackson"))
    tokens_before = len(standin.calls("oauth.token"))
    standin.expire_token()
    mark = rs.mark()
    # WHEN the next conversation arrives
    outcome = scenarios.deliver(rs, crm, Visitor(scenarios.new_email("renew"), "Dorothy", "V"))
    # THEN its first call was refused with INVALID_SESSION_ID, one new token was fetched, and
    # the same attempt delivered it (no redelivery)
    sent = rs.since(mark, api_only=False)
    refused = [r for r in sent if r.status == 401]
    assert len(refused) == 1 and refused[0].fault is None
    assert len(standin.calls("oauth.token")) == tokens_before + 1
    assert [r.endpoint for r in sent][:3] == ["composite", "oauth.token", "composite"]
    assert rs.lines_for(outcome.key, RETRIED) == []
    assert EXPIRED_TOKEN not in [r.fault for r in sent]


def test_duplicate_webhooks_deliver_once(rs: RecipeStack, crm: Salesforce):
    scenarios.duplicate_webhooks(rs, crm)


def test_gdpr_deletes_the_lead(rs: RecipeStack, crm: Salesforce, standin):
    outcome, requests = scenarios.gdpr_deletion(rs, crm)
    assert [(r.endpoint, r.method) for r in requests] == [
        ("composite", "POST"),
        ("collections.delete", "DELETE"),
    ]
    assert standin.record(outcome.person["Id"]) is None


def test_every_request_follows_the_rest_api_guide(rs: RecipeStack, standin):
    # GIVEN everything the worker sent Salesforce in this module (run last), tokens included
    requests = standin.requests
    assert len(requests) > 20
    assert any(r.endpoint == "oauth.token" for r in requests)
    # THEN each one follows the REST API Developer Guide's rules
    assert_all_valid(requests)
