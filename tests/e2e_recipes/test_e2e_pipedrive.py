"""``CRM_RECIPE=pipedrive`` end to end: Drift's webhook -> the local stack -> Pipedrive's
stand-in.

What Pipedrive holds afterwards is counted in the stand-in: one person per visitor, found by
email (Pipedrive itself would happily hold two with the same email), one note per conversation
with the whole transcript as HTML, attached to that person; and every request the worker sent
is validated against Pipedrive's own OpenAPI descriptions (``tests/contract/``, read from
``DRIFT_BRIDGE_SPECS_DIR``).
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.vendors import PipedriveStandIn
from samples import drift_seed as seed_data
from tests.contract.spec_files import spec_path
from tests.contract.vendor_contract import assert_all_valid
from tests.e2e_recipes import scenarios
from tests.e2e_recipes.harness import RecipeStack, Visitor, recipe_stack, transcript_html

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

API_TOKEN = "e2e-pipedrive-api-token-5a0c"


class Pipedrive:
    rate_limit_reason = "429"

    def __init__(self, standin: PipedriveStandIn) -> None:
        self.standin = standin

    def persons(self, email: str) -> list[dict[str, Any]]:
        return self.standin.persons_by_email(email)

    def person_id(self, person: dict[str, Any]) -> int:
        return person["id"]

    def activities(self, conversation_id: int) -> list[dict[str, Any]]:
        marker = f"Drift conversation {conversation_id}<"
        return [n for n in self.standin.notes() if marker in n["content"]]

    def linked_person(self, activity: dict[str, Any]) -> int:
        return activity["person_id"]

    def assert_transcript(self, activity: dict[str, Any], transcript: str) -> None:
        assert transcript_html(transcript) in activity["content"], activity["content"]

    def add_person(self, visitor: Visitor) -> int:
        return self.standin.add_person(
            {
                "name": f"{visitor.first_name} Old",
                "emails": [{"value": visitor.email, "primary": True, "label": "work"}],
            }
        )


@pytest.fixture(scope="module")
def standin():
    with PipedriveStandIn(api_token=API_TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def rs(emulator, firestore_emulator, standin):
    env = {"CRM_BASE_URL": standin.url, "CRM_API_TOKEN": API_TOKEN}
    with recipe_stack(emulator, "pipedrive", standin, env) as running:
        yield running


@pytest.fixture
def crm(standin) -> Pipedrive:
    return Pipedrive(standin)


def test_seed_conversation_becomes_one_person_and_one_note(rs: RecipeStack, crm: Pipedrive):
    # GIVEN the seed's sample conversation (its visitor with a deliverable address)
    visitor = scenarios.seed_visit(rs)
    mark = rs.mark()
    # WHEN Drift pushes it
    key = rs.push(seed_data.SAMPLE_CONVERSATION_ID)
    rs.delivered(key)
    # THEN Pipedrive holds the person and one note with the twelve transcript lines
    person, note = scenarios.one_person_one_activity(
        rs, crm, seed_data.SAMPLE_CONVERSATION_ID, visitor, seed_data.SAMPLE_TRANSCRIPT
    )
    assert person["name"] == "Gregg Parker"
    assert note["content"].count("<br>") == 11
    # AND it took three requests: the search, the person, the note
    assert [r.endpoint for r in rs.since(mark)] == [
        "persons.search",
        "persons.create",
        "notes.create",
    ]
    scenarios.no_dead_letters(rs)


def test_first_visit(rs: RecipeStack, crm: Pipedrive):
    visitor = Visitor(scenarios.new_email("first"), "Alan", "Turing", "Bletchley Park")
    scenarios.first_visit(rs, crm, visitor, "Hi\nI'd like a <demo> & a quote\nThanks")


def test_returning_visitor_gets_the_note_on_the_existing_person(rs: RecipeStack, crm: Pipedrive):
    outcome = scenarios.returning_visitor(rs, crm)
    assert outcome.person["name"] == "Grace Old"  # an existing person is not changed
    assert [r.endpoint for r in outcome.requests] == ["persons.search", "notes.create"]


def test_anonymous_visitor_writes_nothing(rs: RecipeStack):
    scenarios.anonymous_visitor(rs)


def test_repeat_after_lost_answers_writes_nothing_twice(rs: RecipeStack, crm: Pipedrive):
    # The new person's answer and then the note's are lost once each.
    outcome = scenarios.lost_answers(rs, crm, [("persons.create", 1), ("notes.create", 1)])
    endpoints = [r.endpoint for r in outcome.requests]
    assert endpoints.count("persons.create") == 1 and endpoints.count("notes.create") == 1
    assert "notes.list" in endpoints  # the retry looked for the note before writing it


def test_second_push_updates_the_note(rs: RecipeStack, crm: Pipedrive):
    first, note, requests = scenarios.second_push(rs, crm)
    assert note["id"] == first.activity["id"]
    assert [r.endpoint for r in requests] == ["notes.update"]


def test_rate_limit_is_retried_and_delivered_once(rs: RecipeStack, crm: Pipedrive):
    scenarios.rate_limited(rs, crm, retry_after=True)


def test_duplicate_webhooks_deliver_once(rs: RecipeStack, crm: Pipedrive):
    scenarios.duplicate_webhooks(rs, crm)


def test_gdpr_deletes_the_person(rs: RecipeStack, crm: Pipedrive, standin):
    outcome, requests = scenarios.gdpr_deletion(rs, crm)
    assert [r.endpoint for r in requests] == ["persons.search", "persons.delete"]
    assert outcome.person["id"] in [p["id"] for p in standin.deleted_persons()]


def test_every_request_matches_pipedrives_openapi_description(rs: RecipeStack, standin):
    spec_path("pipedrive/v1.yaml")  # skips (or, in CI, fails) without the descriptions
    spec_path("pipedrive/v2.yaml")
    # GIVEN everything the worker sent Pipedrive in this module (run last)
    requests = standin.requests
    assert len(requests) > 20
    # THEN each one validates against Pipedrive's OpenAPI v1/v2 descriptions
    assert_all_valid(requests)
