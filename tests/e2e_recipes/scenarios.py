"""What every built-in recipe must leave in its CRM, as scenarios each vendor's module runs.

A ``Crm`` adapter says how to read one vendor's stand-in (its person for an email, the activity
of a conversation, the person an activity is linked to, its text); the scenarios drive the
stack and count what the stand-in then holds. Each returns what it found, so a vendor's module
can check its own details on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from devtools.emulator import wait_until
from devtools.vendors import LOSE_ANSWER, RATE_LIMIT
from tests.e2e_recipes.harness import (
    DELIVERED,
    GDPR_DELIVERED,
    NOT_DELIVERED,
    RETRIED,
    RecipeStack,
    Visitor,
    new_conversation_id,
    new_email,
)


class Crm(Protocol):
    """How a vendor's stand-in is read."""

    rate_limit_reason: str  # text the worker's retry reason holds for the vendor's rate limit

    def persons(self, email: str) -> list[dict[str, Any]]: ...
    def person_id(self, person: dict[str, Any]) -> str: ...
    def activities(self, conversation_id: int) -> list[dict[str, Any]]: ...
    def linked_person(self, activity: dict[str, Any]) -> str: ...
    def assert_transcript(self, activity: dict[str, Any], transcript: str) -> None: ...
    def add_person(self, visitor: Visitor) -> str: ...


@dataclass
class Outcome:
    conversation_id: int
    visitor: Visitor
    transcript: str
    key: str
    person: dict[str, Any]
    activity: dict[str, Any]
    requests: list[Any]  # the API requests of the event (token requests aside)


def one_person_one_activity(
    rs: RecipeStack, crm: Crm, conversation_id: int, visitor: Visitor, transcript: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Exactly one person for the email, exactly one activity for the conversation, linked
    to that person and holding the whole transcript with its line breaks."""
    assert visitor.email is not None
    persons = crm.persons(visitor.email)
    assert len(persons) == 1, f"{len(persons)} persons for the visitor: {persons}"
    activities = crm.activities(conversation_id)
    assert len(activities) == 1, f"{len(activities)} activities: {activities}"
    (person,), (activity,) = persons, activities
    assert crm.linked_person(activity) == crm.person_id(person)
    crm.assert_transcript(activity, transcript)
    return person, activity


def deliver(rs: RecipeStack, crm: Crm, visitor: Visitor, transcript: str | None = None) -> Outcome:
    """A new conversation of ``visitor`` pushed once and delivered."""
    conversation_id = new_conversation_id()
    transcript = rs.visit(conversation_id, visitor, transcript)
    mark = rs.mark()
    key = rs.push(conversation_id)
    rs.delivered(key)
    person, activity = one_person_one_activity(rs, crm, conversation_id, visitor, transcript)
    return Outcome(conversation_id, visitor, transcript, key, person, activity, rs.since(mark))


def no_dead_letters(rs: RecipeStack) -> None:
    dead = rs.dead_letters()
    assert dead == [], [d.attributes for d in dead]


# -- the scenarios -------------------------------------------------------------------------------


def first_visit(rs: RecipeStack, crm: Crm, visitor: Visitor, transcript: str) -> Outcome:
    # GIVEN a visitor the CRM does not know
    persons_before = len(rs.crm.persons())
    activities_before = len(rs.crm.activities())
    # WHEN Drift pushes their conversation
    outcome = deliver(rs, crm, visitor, transcript)
    # THEN the CRM holds one more person and one more activity, and nothing is dead-lettered
    assert len(rs.crm.persons()) == persons_before + 1
    assert len(rs.crm.activities()) == activities_before + 1
    no_dead_letters(rs)
    return outcome


def returning_visitor(rs: RecipeStack, crm: Crm) -> Outcome:
    # GIVEN a person the CRM already holds, with the visitor's email
    visitor = Visitor(new_email("returning"), "Grace", "Hopper", "Navy", "Rear Admiral")
    existing = crm.add_person(visitor)
    persons_before = len(rs.crm.persons())
    # WHEN Drift pushes a conversation of theirs
    outcome = deliver(rs, crm, visitor)
    # THEN the conversation's activity is on that same person: no second one, no dead letter
    assert crm.person_id(outcome.person) == existing
    assert len(rs.crm.persons()) == persons_before
    no_dead_letters(rs)
    return outcome


def anonymous_visitor(rs: RecipeStack) -> dict[str, Any]:
    # GIVEN a conversation whose visitor left no email address
    conversation_id = new_conversation_id()
    rs.visit(conversation_id, Visitor(None, "Anonymous", "Visitor"))
    mark = rs.mark()
    # WHEN Drift pushes it
    key = rs.push(conversation_id)
    # THEN it is acknowledged with an INFO line giving the reason, and the CRM got nothing
    (line,) = rs.wait_for(key, NOT_DELIVERED)
    assert line["severity"] == "INFO"
    assert line["reason"] == "the visitor left no email address"
    assert rs.since(mark, api_only=False) == []
    assert rs.lines_for(key, RETRIED) == []
    no_dead_letters(rs)
    return line


def lost_answers(rs: RecipeStack, crm: Crm, losses: list[tuple[str, int]]) -> Outcome:
    # GIVEN a new visitor, and a CRM that performs each write in ``losses`` but whose answer
    # never arrives (the connection drops after the CRM wrote)
    visitor = Visitor(new_email("lost"), "Katherine", "Johnson", "NASA", "Mathematician")
    conversation_id = new_conversation_id()
    transcript = rs.visit(conversation_id, visitor)
    mark = rs.mark()
    later = []
    for endpoint, nth in losses:
        if nth == 1:
            rs.lose_answer_of(endpoint)
        else:
            later.append(rs.lose_later_answer(endpoint, nth))
    # WHEN Drift pushes the conversation (and Pub/Sub redelivers it after each lost answer)
    key = rs.push(conversation_id)
    for arm in later:
        arm()
    rs.delivered(key)
    # THEN every lost write happened, was retried, and left no second person or activity
    lost = [r for r in rs.since(mark) if r.fault == LOSE_ANSWER]
    assert len(lost) == len(losses), lost
    assert all(r.performed for r in lost), lost
    assert len(rs.lines_for(key, RETRIED)) == len(losses)
    person, activity = one_person_one_activity(rs, crm, conversation_id, visitor, transcript)
    no_dead_letters(rs)
    return Outcome(conversation_id, visitor, transcript, key, person, activity, rs.since(mark))


def second_push(rs: RecipeStack, crm: Crm) -> tuple[Outcome, dict[str, Any], list[Any]]:
    # GIVEN a conversation delivered once
    visitor = Visitor(new_email("again"), "Hedy", "Lamarr", "MGM", "Inventor")
    first = deliver(rs, crm, visitor)
    # WHEN it goes on and Drift pushes it again (a new event: a later pushedAt)
    longer = first.transcript + "\nOct 1,\n10: 05: 00 AM PDT Agent: One more thing:\nbye!"
    rs.visit(first.conversation_id, visitor, longer)
    mark = rs.mark()
    key = rs.push(first.conversation_id, pushed_at=1633082400000 + 300_000)
    assert key != first.key
    rs.delivered(key)
    # THEN the same activity holds the longer transcript: updated, not duplicated
    person, activity = one_person_one_activity(rs, crm, first.conversation_id, visitor, longer)
    assert crm.person_id(person) == crm.person_id(first.person)
    no_dead_letters(rs)
    return first, activity, rs.since(mark)


def seed_visit(rs: RecipeStack) -> Visitor:
    """Drift's sample conversation in the simulator, its visitor given a deliverable address
    (the article's own is obfuscated: "[email protected]")."""
    from samples import drift_seed

    visitor = Visitor("gregg.parker@example.com", "Gregg", "Parker", "Camp Waziyatah")
    contact = drift_seed.sample_contact()
    contact["attributes"]["email"] = visitor.email
    rs.simulator.add_conversation(
        drift_seed.sample_conversation(),
        contact=contact,
        transcript=drift_seed.SAMPLE_TRANSCRIPT,
        messages=drift_seed.sample_messages(),
    )
    return visitor


def rate_limited(rs: RecipeStack, crm: Crm, times: int = 2, retry_after: bool = False) -> Outcome:
    """``retry_after``: the vendor's rate-limit answer carries Retry-After (the worker then
    waits it out within the invocation once)."""
    # GIVEN a CRM that answers the next requests with its rate limit (Retry-After 1 s)
    visitor = Visitor(new_email("limited"), "Margaret", "Hamilton", "MIT", "Director")
    conversation_id = new_conversation_id()
    transcript = rs.visit(conversation_id, visitor)
    mark = rs.mark()
    rs.crm.rate_limit(times=times, retry_after=1)
    # WHEN Drift pushes a conversation
    key = rs.push(conversation_id)
    rs.delivered(key)
    # THEN each refusal was retried and the conversation delivered once: where the vendor sends
    # Retry-After (HubSpot, Pipedrive), the first after that one second within the same
    # invocation; the others by Pub/Sub's redelivery
    limited = [r for r in rs.since(mark, api_only=False) if r.fault == RATE_LIMIT]
    assert len(limited) == times
    waited = rs.lines_for(key, "the CRM asked to wait; retrying once")
    assert len(waited) == (1 if retry_after else 0), waited
    assert all(line["seconds"] == 1 for line in waited), waited
    retries = rs.lines_for(key, RETRIED)
    assert len(waited) + len(retries) == times
    assert all(crm.rate_limit_reason in line["reason"] for line in retries), retries
    person, activity = one_person_one_activity(rs, crm, conversation_id, visitor, transcript)
    no_dead_letters(rs)
    return Outcome(conversation_id, visitor, transcript, key, person, activity, rs.since(mark))


def duplicate_webhooks(rs: RecipeStack, crm: Crm) -> Outcome:
    # GIVEN a new conversation
    visitor = Visitor(new_email("twice"), "Annie", "Easley", "NASA", "Programmer")
    conversation_id = new_conversation_id()
    transcript = rs.visit(conversation_id, visitor)
    mark = rs.mark()
    # WHEN Drift sends the same webhook three times
    keys = {rs.push(conversation_id) for _ in range(3)}
    (key,) = keys
    # THEN one delivery, the two others acknowledged as duplicates; one person, one activity
    rs.delivered(key)
    wait_until(
        lambda: len([line for line in rs.lines_for(key) if "duplicate" in line["message"]]) >= 2,
        60,
        "both copies acknowledged as duplicates",
    )
    assert len(rs.lines_for(key, DELIVERED)) == 1
    person, activity = one_person_one_activity(rs, crm, conversation_id, visitor, transcript)
    no_dead_letters(rs)
    return Outcome(conversation_id, visitor, transcript, key, person, activity, rs.since(mark))


def gdpr_deletion(rs: RecipeStack, crm: Crm) -> tuple[Outcome, list[Any]]:
    # GIVEN a visitor the bridge delivered a conversation of
    outcome = deliver(rs, crm, Visitor(new_email("forget"), "Ida", "Noether", "Erlangen"))
    assert outcome.visitor.email is not None
    mark = rs.mark()
    # WHEN Drift asks for their data to be deleted
    key = rs.gdpr(outcome.visitor.email)
    rs.wait_for(key, GDPR_DELIVERED)
    # THEN the CRM holds no person with that email any more
    assert crm.persons(outcome.visitor.email) == []
    no_dead_letters(rs)
    return outcome, rs.since(mark)
