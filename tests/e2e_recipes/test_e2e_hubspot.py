"""``CRM_RECIPE=hubspot`` end to end: Drift's webhook -> the local stack -> HubSpot's stand-in.

What HubSpot holds afterwards is counted in the stand-in: one contact per visitor (by email),
one note per conversation with the whole transcript as HTML, associated with the contact
(type 202, note to contact); and every request the worker sent is checked against HubSpot's
own SDK (``tests/contract/hubspot_contract.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.vendors import HubSpotStandIn
from samples import drift_seed as seed_data
from tests.contract.vendor_contract import assert_all_valid
from tests.e2e_recipes import scenarios
from tests.e2e_recipes.harness import RecipeStack, Visitor, recipe_stack, transcript_html

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

API_TOKEN = "pat-na1-e2e-recipes-7d2f"


class HubSpot:
    rate_limit_reason = "429"

    def __init__(self, standin: HubSpotStandIn) -> None:
        self.standin = standin

    def persons(self, email: str) -> list[dict[str, Any]]:
        return [c for c in self.standin.contacts() if c["properties"].get("email") == email.lower()]

    def person_id(self, person: dict[str, Any]) -> str:
        return person["id"]

    def activities(self, conversation_id: int) -> list[dict[str, Any]]:
        wanted = str(conversation_id)
        return [
            n
            for n in self.standin.notes()
            if n["properties"].get("drift_conversation_id") == wanted
        ]

    def linked_person(self, activity: dict[str, Any]) -> str:
        (link,) = activity["associations"]
        assert link["type"] == 202  # HUBSPOT_DEFINED note to contact
        return link["contact"]

    def assert_transcript(self, activity: dict[str, Any], transcript: str) -> None:
        body = activity["properties"]["hs_note_body"]
        assert transcript_html(transcript) in body, body
        assert activity["properties"].get("hs_timestamp")

    def add_person(self, visitor: Visitor) -> str:
        return self.standin.add_contact(
            {"email": visitor.email, "firstname": visitor.first_name, "lastname": "Old"}
        )


@pytest.fixture(scope="module")
def standin():
    with HubSpotStandIn(token=API_TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def rs(emulator, firestore_emulator, standin):
    env = {"CRM_BASE_URL": standin.url, "CRM_API_TOKEN": API_TOKEN}
    with recipe_stack(emulator, "hubspot", standin, env) as running:
        yield running


@pytest.fixture
def crm(standin) -> HubSpot:
    return HubSpot(standin)


def test_seed_conversation_becomes_one_contact_and_one_note(rs: RecipeStack, crm: HubSpot):
    # GIVEN the seed's sample conversation (its visitor with a deliverable address)
    visitor = scenarios.seed_visit(rs)
    mark = rs.mark()
    # WHEN Drift pushes it
    key = rs.push(seed_data.SAMPLE_CONVERSATION_ID)
    rs.delivered(key)
    # THEN HubSpot holds the contact and one note with the twelve transcript lines
    person, note = scenarios.one_person_one_activity(
        rs, crm, seed_data.SAMPLE_CONVERSATION_ID, visitor, seed_data.SAMPLE_TRANSCRIPT
    )
    assert person["properties"]["firstname"] == "Gregg"
    assert person["properties"]["lastname"] == "Parker"
    body = note["properties"]["hs_note_body"]
    assert body.count("<br>") == len(seed_data.SAMPLE_TRANSCRIPT.splitlines()) - 1
    assert body.startswith("<p><strong>Drift conversation 3275727977</strong></p>")
    # AND it took two requests: the contact upsert, the note
    assert [r.endpoint for r in rs.since(mark)] == ["contacts.batch_upsert", "notes.create"]
    scenarios.no_dead_letters(rs)


def test_first_visit(rs: RecipeStack, crm: HubSpot):
    visitor = Visitor(scenarios.new_email("first"), "Alan", "Turing", "Bletchley Park")
    outcome = scenarios.first_visit(rs, crm, visitor, "Hi\nI'd like a <demo> & a quote\nThanks")
    assert outcome.person["properties"]["company"] == "Bletchley Park"


def test_returning_visitor_is_updated_not_duplicated(rs: RecipeStack, crm: HubSpot):
    outcome = scenarios.returning_visitor(rs, crm)
    # the upsert filled in what Drift knows
    assert outcome.person["properties"]["lastname"] == "Hopper"
    assert [r.endpoint for r in outcome.requests] == ["contacts.batch_upsert", "notes.create"]


def test_anonymous_visitor_writes_nothing(rs: RecipeStack):
    scenarios.anonymous_visitor(rs)


def test_repeat_after_lost_answers_writes_nothing_twice(rs: RecipeStack, crm: HubSpot):
    # The contact upsert's answer and then the note's are lost once each.
    outcome = scenarios.lost_answers(rs, crm, [("contacts.batch_upsert", 1), ("notes.create", 1)])
    # the retry after the lost note looked for it before writing
    assert "notes.search" in [r.endpoint for r in outcome.requests]
    assert [r.endpoint for r in outcome.requests].count("notes.create") == 1


def test_second_push_updates_the_note(rs: RecipeStack, crm: HubSpot):
    first, note, requests = scenarios.second_push(rs, crm)
    assert note["id"] == first.activity["id"]
    assert [r.endpoint for r in requests] == ["contacts.batch_upsert", "notes.update"]


def test_rate_limit_is_retried_and_delivered_once(rs: RecipeStack, crm: HubSpot):
    scenarios.rate_limited(rs, crm, retry_after=True)


def test_duplicate_webhooks_deliver_once(rs: RecipeStack, crm: HubSpot):
    outcome = scenarios.duplicate_webhooks(rs, crm)
    assert [r.endpoint for r in outcome.requests] == ["contacts.batch_upsert", "notes.create"]


def test_gdpr_deletes_the_contact(rs: RecipeStack, crm: HubSpot, standin):
    outcome, requests = scenarios.gdpr_deletion(rs, crm)
    assert [r.endpoint for r in requests] == ["contacts.gdpr_delete"]
    assert {"id": outcome.person["id"], "email": outcome.visitor.email} in standin.gdpr_deleted


def test_every_request_matches_hubspots_sdk(rs: RecipeStack, standin):
    # GIVEN everything the worker sent HubSpot in this module (run last)
    requests = standin.requests
    assert len(requests) > 20
    # THEN each one is an operation of HubSpot's SDK with a body its model accepts
    assert_all_valid(requests)
