"""The built-in recipes end to end through the local stack, against the vendors' stand-ins.

Each vendor's module starts one stack (webhook and worker under functions-framework, on the
session's Pub/Sub and Firestore emulators) whose worker runs ``CRM_RECIPE=<vendor>`` against
that vendor's loopback stand-in (``devtools.vendors``), and drives it as Drift would: webhook
bodies in, then it reads what the stand-in holds. Tests in a module share the stack, so each
uses its own conversation and visitor, and waits until its events are done before it ends.

The push subscription retries without a backoff policy (about a second between attempts, see
``PushSettings.retry_policy``): the worker reads ``Retry-After`` into the error it raises, but a
push subscription redelivers on its own schedule, so a small ``Retry-After`` is what keeps a
rate-limit test fast, not the worker.
"""

from __future__ import annotations

import contextlib
import html
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.emulator import PubSubEmulator, wait_until
from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig
from devtools.vendors import RecordedRequest, VendorStandIn
from samples import drift_seed as seed_data
from shared.events import event_key

TOKEN = "e2e-recipes-verification-token-4c1d"
FAST_RETRIES = PushSettings(
    ack_deadline_seconds=30,
    minimum_backoff_seconds=1,
    maximum_backoff_seconds=3,
    max_delivery_attempts=8,
    retry_policy=False,
)
WORKER_ENV = {
    "CRM_TIMEOUT_SECONDS": "5",
    "DRIFT_RETRY_BUDGET_SECONDS": "5",
    "DRIFT_MAX_ATTEMPTS": "2",
}
DELIVERED = "conversation delivered to the CRM"
NOT_DELIVERED = "conversation not delivered"
GDPR_DELIVERED = "GDPR deletion request delivered to the CRM"
RETRIED = "event failed, Pub/Sub will redeliver it"
DEAD = "event dead-lettered"
WAIT_SECONDS = 60


def transcript_html(transcript: str) -> str:
    """The transcript as the recipes' HTML: ``&``, ``<``, ``>`` escaped, a ``<br>`` per break."""
    return "<br>".join(html.escape(line, quote=False) for line in transcript.split("\n"))


@dataclass(frozen=True)
class Visitor:
    email: str | None
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    company: str | None = "Analytical Engines"
    title: str | None = "Engineer"


class RecipeStack:
    """A running stack whose worker delivers with a built-in recipe to ``crm``."""

    def __init__(self, stack: LocalStack, crm: VendorStandIn) -> None:
        self.stack = stack
        self.crm = crm
        self._next_contact = 7_100_000_000_000_001

    @property
    def simulator(self) -> Any:
        return self.stack.simulator

    # -- Drift's side -------------------------------------------------------------------------

    def visit(
        self,
        conversation_id: int,
        visitor: Visitor,
        transcript: str | None = None,
    ) -> str:
        """Put a conversation of ``visitor`` in the Drift simulator; returns its transcript."""
        contact_id = self._next_contact
        self._next_contact += 2
        attributes: dict[str, Any] = {
            "first_name": visitor.first_name,
            "last_name": visitor.last_name,
            "name": f"{visitor.first_name} {visitor.last_name}",
            "employment_name": visitor.company,
            "employment_title": visitor.title,
            "city": "London",
            "country": "United Kingdom",
        }
        if visitor.email is not None:
            attributes["email"] = visitor.email
        if transcript is None:
            transcript = (
                f"Oct 1,\n10: 00: 00 AM PDT Agent: Hello <{visitor.first_name}> & welcome!\n"
                f"Oct 1,\n10: 00: 09 AM PDT {visitor.email or 'visitor'}: Could I see a demo?\n"
                "Oct 1,\n10: 00: 15 AM PDT Agent: Of course. Talk soon."
            )
        self.simulator.add_conversation(
            {
                "status": "closed",
                "participants": [seed_data.SAMPLE_USER_ID],
                "contactId": contact_id,
                "createdAt": 1633082400000,
                "id": conversation_id,
                "inboxId": seed_data.SAMPLE_INBOX_ID,
                "updatedAt": 1633082415000,
            },
            contact={"id": contact_id, "createdAt": 1633000000000, "attributes": attributes},
            transcript=transcript,
        )
        return transcript

    def push(self, conversation_id: int, pushed_at: int | None = None) -> str:
        """Drift's ``conversation_push`` to the webhook; returns the event's key."""
        body = seed_data.sample_conversation_push(
            TOKEN, pushed_at=pushed_at, conversation_id=conversation_id
        )
        return self.send(body)

    def send(self, body: dict[str, Any]) -> str:
        status, text = self.stack.send(body)
        assert status == 200, f"the webhook answered {status}: {text}"
        return event_key(body)

    def gdpr(self, email: str) -> str:
        body = {
            "type": "gdpr_delete_requested",
            "orgId": seed_data.ORG_ID,
            "token": TOKEN,
            "data": {"email": email, "contactId": 7_100_000_000_999_999},
        }
        return self.send(body)

    # -- the worker's log ---------------------------------------------------------------------

    def worker_lines(self) -> list[dict[str, Any]]:
        path: Path = self.stack.log_dir / "worker.log"
        lines = []
        for raw in path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(raw))
        return lines

    def lines_for(self, key: str, message: str | None = None) -> list[dict[str, Any]]:
        return [
            line
            for line in self.worker_lines()
            if line.get("event_key") == key and (message is None or line.get("message") == message)
        ]

    def wait_for(self, key: str, message: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait until the worker logged ``message`` for the event ``key`` ``count`` times; a
        dead letter of that event fails at once, with its reason."""

        def seen() -> list[dict[str, Any]] | None:
            lines = self.lines_for(key)
            dead = [line for line in lines if line.get("message") == DEAD]
            if dead and message != DEAD:
                raise AssertionError(f"the event was dead-lettered: {dead[0].get('reason')}")
            found = [line for line in lines if line.get("message") == message]
            return found if len(found) >= count else None

        return wait_until(seen, WAIT_SECONDS, f"{message!r} for event {key[:12]}")

    def delivered(self, key: str) -> dict[str, Any]:
        return self.wait_for(key, DELIVERED)[0]

    # -- the CRM's side -----------------------------------------------------------------------

    def mark(self) -> int:
        """The sequence number of the last request the stand-in received."""
        requests = self.crm.requests
        return requests[-1].seq if requests else 0

    def since(self, mark: int, *, api_only: bool = True) -> list[RecordedRequest]:
        """Requests received after ``mark`` (without token requests when ``api_only``)."""
        return [
            r
            for r in self.crm.requests
            if r.seq > mark and not (api_only and r.endpoint.startswith("oauth"))
        ]

    def dead_letters(self) -> list[Any]:
        return self.stack.admin.pull(self.stack.config.dead_letter_subscription)

    def lose_answer_of(self, endpoint: str) -> None:
        """The next request to ``endpoint`` is performed and its answer dropped."""
        self.crm.lose_answer(endpoint=endpoint)

    def lose_later_answer(self, endpoint: str, nth: int) -> Callable[[], None]:
        """Arrange for the ``nth`` request to ``endpoint`` from now on to be performed and its
        answer dropped; call what this returns once the event is on its way.

        Salesforce sends its lookup and its writes to the same composite endpoint, so the
        fault cannot be queued ahead. The stand-in answers slowly meanwhile (it takes its
        faults after the delay): the returned callable waits until the ``nth`` request has
        arrived, queues the fault while that request waits, and takes the delay off again."""
        already = len(self.crm.calls(endpoint))
        self.crm.latency = 2.0

        def arm() -> None:
            try:
                wait_until(
                    lambda: len(self.crm.calls(endpoint)) >= already + nth,
                    WAIT_SECONDS,
                    f"request {nth} to {endpoint}",
                )
                self.crm.lose_answer(endpoint=endpoint)
            finally:
                self.crm.latency = 0.0

        return arm


def new_conversation_id() -> int:
    return 5_000_000_000 + uuid.uuid4().int % 1_000_000_000


def new_email(label: str) -> str:
    return f"{label}.{uuid.uuid4().hex[:8]}@example.com"


@contextlib.contextmanager
def recipe_stack(
    emulator: PubSubEmulator,
    recipe: str,
    crm: VendorStandIn,
    worker_env: dict[str, str],
) -> Iterator[RecipeStack]:
    """A stack whose worker runs ``CRM_RECIPE=recipe`` against the running stand-in ``crm``;
    stopped, and its topics deleted, afterwards. The ledger is the session's Firestore emulator
    (``FIRESTORE_EMULATOR_HOST``), under collections of this stack's own."""
    suffix = uuid.uuid4().hex[:8]
    config = StackConfig(
        project=emulator.project,
        topic=f"recipes-{recipe}-{suffix}",
        dead_letter_topic=f"recipes-{recipe}-dead-{suffix}",
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        push=FAST_RETRIES,
        ledger_collection_prefix=f"e2e_{recipe}_{suffix}_",
        worker_env={**WORKER_ENV, "CRM_RECIPE": recipe, **worker_env},
    )
    stack = LocalStack(config)
    try:
        stack.start()
        yield RecipeStack(stack, crm)
    finally:
        stack.stop()
        with PubSubAdmin(config.project) as admin:
            admin.delete_subscription(config.push_subscription)
            admin.delete_subscription(config.dead_letter_subscription)
            admin.delete_topic(config.topic)
            admin.delete_topic(config.dead_letter_topic)


__all__ = [
    "DEAD",
    "DELIVERED",
    "FAST_RETRIES",
    "GDPR_DELIVERED",
    "NOT_DELIVERED",
    "RETRIED",
    "TOKEN",
    "RecipeStack",
    "Visitor",
    "new_conversation_id",
    "new_email",
    "recipe_stack",
    "transcript_html",
]
