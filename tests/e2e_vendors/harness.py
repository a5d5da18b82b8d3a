"""What the vendor end-to-end tests share: one local stack per test module whose worker runs a
built-in recipe against a vendor stand-in (in this process, on loopback), Drift conversations
made for each test, and the checks every case ends with.

The stack is the real pipeline: webhook -> Pub/Sub emulator -> push subscription -> worker under
functions-framework (ledger in the Firestore emulator) -> Drift simulator and the stand-in. Each
test uses visitors and conversations of its own, so the tests of one module share the stack
without seeing each other's records; the stand-in's request record is cleared per test.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from devtools.emulator import wait_until
from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig
from devtools.vendors import VendorStandIn
from samples import drift_seed as seed
from tests.contract.vendor_contract import assert_all_valid

TOKEN = "e2e-vendors-verification-9f3a"
PUSH = replace(
    PushSettings(
        ack_deadline_seconds=30,
        minimum_backoff_seconds=1,
        maximum_backoff_seconds=2,
        max_delivery_attempts=5,
    ),
    retry_policy=False,
)
TIMEOUT = 60.0
_ids = itertools.count(1)


def start_stack(emulator: Any, worker_env: dict[str, str]) -> Iterator[LocalStack]:
    """A stack whose worker runs ``worker_env``'s recipe; stopped and its topics deleted after."""
    suffix = uuid.uuid4().hex[:10]
    config = StackConfig(
        project=emulator.project,
        topic=f"vendor-events-{suffix}",
        dead_letter_topic=f"vendor-dead-{suffix}",
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        push=PUSH,
        worker_env={"DRIFT_RETRY_BUDGET_SECONDS": "3", "DRIFT_MAX_ATTEMPTS": "2", **worker_env},
    )
    stack = LocalStack(config).start()
    try:
        yield stack
    finally:
        stack.stop()
        with PubSubAdmin(config.project) as admin:
            admin.delete_subscription(config.push_subscription)
            admin.delete_subscription(config.dead_letter_subscription)
            admin.delete_topic(config.topic)
            admin.delete_topic(config.dead_letter_topic)


class Visitor:
    """A Drift contact of one test, and the conversations it has (added to the simulator)."""

    def __init__(
        self, stack: LocalStack, email: str | None, first: str = "Ada", last: str = "Lovelace"
    ):
        self.stack = stack
        self.number = next(_ids)
        self.email = email
        self.contact_id = 2**53 + 2 * (uuid.uuid4().int % 10**9) + 1  # above 2**53, as Drift's
        self.first, self.last = first, last

    def conversation(self, transcript: str, conversation_id: int | None = None) -> int:
        """Add (or replace) a conversation of this visitor; returns its id."""
        conversation_id = conversation_id or 8_100_000_000 + uuid.uuid4().int % 10**8
        attributes: dict[str, Any] = {"first_name": self.first, "last_name": self.last,
                                      "name": f"{self.first} {self.last}",
                                      "employment_name": "Analytical Engines"}  # fmt: skip
        if self.email is not None:
            attributes["email"] = self.email
        conversation = {**seed.sample_conversation(), "id": conversation_id,
                        "contactId": self.contact_id}  # fmt: skip
        assert self.stack.simulator is not None
        self.stack.simulator.add_conversation(
            conversation,
            contact={"id": self.contact_id, "createdAt": 1627616677362, "attributes": attributes},
            transcript=transcript,
        )
        return conversation_id


def transcript(*lines: str) -> str:
    return "\n".join(lines)


def push(stack: LocalStack, conversation_id: int, pushed_at: int | None = None) -> None:
    """Drift's conversation_push webhook for ``conversation_id``; the webhook must accept it."""
    body = seed.sample_conversation_push(TOKEN, pushed_at, conversation_id=conversation_id)
    status, text = stack.send(body)
    assert status == 200, text


def gdpr(stack: LocalStack, email: str, contact_id: int) -> None:
    body = {"type": "gdpr_delete_requested", "orgId": seed.ORG_ID, "token": TOKEN,
            "data": {"email": email, "contactId": contact_id}}  # fmt: skip
    status, text = stack.send(body)
    assert status == 200, text


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    wait_until(predicate, timeout, what)
    return predicate()


def log_lines(stack: LocalStack) -> list[dict[str, Any]]:
    out = []
    for line in stack.logs().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def logged(stack: LocalStack, message: str, **fields: Any) -> dict[str, Any] | None:
    """The worker's first log line with that message and those fields, or None."""
    for entry in log_lines(stack):
        if entry.get("message") == message and all(entry.get(k) == v for k, v in fields.items()):
            return entry
    return None


def no_dead_letters(stack: LocalStack) -> None:
    assert stack.admin is not None
    assert stack.admin.pull(stack.config.dead_letter_subscription) == []


def all_requests_conform(standin: VendorStandIn) -> None:
    """Every request the stand-in received in this test, against the vendor's description."""
    assert_all_valid(standin.requests)


def secrets_stay_out_of_logs(stack: LocalStack, *secrets: str) -> None:
    text = stack.logs()
    for secret in secrets:
        assert secret not in text


class VendorCases:
    """The cases every vendor recipe must pass on the local stack. A test module subclasses it
    as ``Test<Vendor>``, provides the fixtures ``stack`` and ``standin`` (module-scoped) and
    says how its vendor holds people and activities."""

    token_endpoints: tuple[str, ...] = ()
    create_activity: str = ""  # the endpoint that writes a conversation's activity
    update_activity: str = ""  # the endpoint a later push updates it with
    recovery: str | None = None  # what a retry after a lost answer asks first (None: re-sends)

    # -- per vendor ------------------------------------------------------------------------

    def persons(self, standin: Any, email: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def activities(self, standin: Any, email: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def text(self, activity: dict[str, Any]) -> str:
        raise NotImplementedError

    def add_person(self, standin: Any, email: str) -> None:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------

    def api_requests(self, standin: Any) -> list[Any]:
        return [r for r in standin.requests if r.endpoint not in self.token_endpoints]

    def delivered(self, standin: Any, email: str, text: str) -> Callable[[], bool]:
        """True once the visitor's one activity holds ``text``."""

        def check() -> bool:
            found = self.activities(standin, email)
            return len(found) == 1 and self.text(found[0]) == text

        return check

    def exactly_one_of_each(self, standin: Any, email: str, text: str) -> None:
        assert len(self.persons(standin, email)) == 1, standin.snapshot()
        (activity,) = self.activities(standin, email)
        assert self.text(activity) == text  # the whole transcript, line breaks kept

    # -- the cases -------------------------------------------------------------------------

    def test_seed_conversation_and_a_duplicate_webhook(self, stack, standin):
        # GIVEN the seed conversation, its visitor's obfuscated email replaced by a real one
        email = f"gregg.{uuid.uuid4().hex[:8]}@example.com"
        contact = seed.sample_contact()
        contact["attributes"]["email"] = email
        assert stack.simulator is not None
        stack.simulator.add_conversation(seed.sample_conversation(), contact=contact,
                                         transcript=seed.SAMPLE_TRANSCRIPT,
                                         messages=seed.sample_messages())  # fmt: skip
        # WHEN Drift pushes it, twice (a duplicate webhook)
        push(stack, seed.SAMPLE_CONVERSATION_ID)
        push(stack, seed.SAMPLE_CONVERSATION_ID)
        # THEN the CRM holds one person and one activity with the article's 12-line transcript
        wait_for(self.delivered(standin, email, seed.SAMPLE_TRANSCRIPT), "the seed's activity")
        wait_for(lambda: logged(stack, "duplicate event, already completed; acknowledged"),
                 "the duplicate to be acknowledged")  # fmt: skip
        self.exactly_one_of_each(standin, email, seed.SAMPLE_TRANSCRIPT)
        assert seed.SAMPLE_TRANSCRIPT.count("\n") == 11
        # AND neither the transcript nor a credential reached the logs
        assert seed.SAMPLE_TRANSCRIPT not in stack.logs()

    def test_returning_visitor_is_updated_not_duplicated(self, stack, standin):
        email = f"returning.{uuid.uuid4().hex[:8]}@example.com"
        self.add_person(standin, email)
        visitor = Visitor(stack, email)
        text = transcript("Visitor: back again", "Agent: welcome back")
        push(stack, visitor.conversation(text))
        wait_for(self.delivered(standin, email, text), "the returning visitor's activity")
        self.exactly_one_of_each(standin, email, text)

    def test_anonymous_visitor_writes_nothing(self, stack, standin):
        visitor = Visitor(stack, None)
        conversation_id = visitor.conversation(transcript("Visitor: just looking"))
        push(stack, conversation_id)
        line = wait_for(lambda: logged(stack, "nothing sent to the CRM",
                                       conversation_id=conversation_id),
                        "the INFO line for the anonymous visitor")  # fmt: skip
        assert line["severity"] == "INFO"
        assert line["reason"] == "the visitor left no email address"
        assert logged(stack, "event failed, Pub/Sub will redeliver it",
                      conversation_id=conversation_id) is None  # fmt: skip
        assert self.api_requests(standin) == []
        no_dead_letters(stack)

    def test_repeat_after_a_lost_answer(self, stack, standin):
        email = f"lost.{uuid.uuid4().hex[:8]}@example.com"
        # GIVEN the CRM writes the activity, then the connection drops before its answer
        standin.lose_answer(endpoint=self.create_activity)
        visitor = Visitor(stack, email)
        text = transcript("Visitor: is anyone there?", "Agent: yes, sorry", "Visitor: great")
        push(stack, visitor.conversation(text))
        # THEN the redelivery finds what was written instead of writing it again
        if self.recovery is not None:
            wait_for(lambda: standin.calls(self.recovery), "the recovery request")
        else:
            wait_for(lambda: len(standin.calls(self.create_activity)) >= 2, "the re-sent upsert")
        wait_for(lambda: logged(stack, "conversation delivered to the CRM"),
                 "the delivery")  # fmt: skip
        wait_for(self.delivered(standin, email, text), "the one activity")
        self.exactly_one_of_each(standin, email, text)
        assert standin.calls(self.create_activity)[0].fault == "lose_answer"

    def test_second_push_updates_the_activity(self, stack, standin):
        email = f"second.{uuid.uuid4().hex[:8]}@example.com"
        visitor = Visitor(stack, email)
        first = transcript("Visitor: hello", "Agent: hi")
        conversation_id = visitor.conversation(first)
        push(stack, conversation_id, pushed_at=seed.SAMPLE_PUSHED_AT)
        wait_for(self.delivered(standin, email, first), "the first push")
        # WHEN the conversation goes on and Drift pushes it again (a new event)
        later = transcript("Visitor: hello", "Agent: hi", "Visitor: book a demo, please")
        visitor.conversation(later, conversation_id)
        push(stack, conversation_id, pushed_at=seed.SAMPLE_PUSHED_AT + 60_000)
        # THEN the same activity now holds the longer transcript
        wait_for(self.delivered(standin, email, later), "the activity to be updated")
        self.exactly_one_of_each(standin, email, later)
        assert standin.calls(self.update_activity)

    def test_rate_limit_is_retried(self, stack, standin):
        email = f"limited.{uuid.uuid4().hex[:8]}@example.com"
        standin.rate_limit(times=1, retry_after=1)
        visitor = Visitor(stack, email)
        text = transcript("Visitor: busy day?", "Agent: a little")
        push(stack, visitor.conversation(text))
        wait_for(self.delivered(standin, email, text), "delivery after the rate limit")
        self.exactly_one_of_each(standin, email, text)
        assert [r for r in standin.requests if r.fault == "rate_limit"]
        no_dead_letters(stack)

    def test_expired_token_is_renewed(self, stack, standin):
        email = f"token.{uuid.uuid4().hex[:8]}@example.com"
        warm = Visitor(stack, f"warm.{uuid.uuid4().hex[:8]}@example.com")
        warm_text = transcript("Visitor: first")
        push(stack, warm.conversation(warm_text))
        wait_for(self.delivered(standin, warm.email, warm_text), "a delivery with a token")
        tokens = len([r for r in standin.requests if r.endpoint in self.token_endpoints])
        # WHEN every access token the worker holds expires
        standin.expire_token()
        visitor = Visitor(stack, email)
        text = transcript("Visitor: second", "Agent: noted")
        push(stack, visitor.conversation(text))
        # THEN the worker fetched one new token and delivered
        wait_for(self.delivered(standin, email, text), "delivery with a renewed token")
        renewed = [r for r in standin.requests if r.endpoint in self.token_endpoints]
        assert len(renewed) == tokens + 1
        self.exactly_one_of_each(standin, email, text)
        no_dead_letters(stack)

    def test_gdpr_deletes_the_person(self, stack, standin):
        email = f"forget.{uuid.uuid4().hex[:8]}@example.com"
        visitor = Visitor(stack, email)
        text = transcript("Visitor: please forget me later")
        push(stack, visitor.conversation(text))
        wait_for(self.delivered(standin, email, text), "the conversation")
        activities = standin.count_activities()
        gdpr(stack, email, visitor.contact_id)
        wait_for(lambda: self.persons(standin, email) == [], "the person to be deleted")
        wait_for(lambda: logged(stack, "GDPR deletion request delivered to the CRM"),
                 "the deletion to be acknowledged")  # fmt: skip
        assert standin.count_activities() == activities - 1  # its activity went with it
        no_dead_letters(stack)
