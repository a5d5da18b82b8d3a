"""One event's delivery to the CRM, remembered in the ledger.

For a conversation: claim the event in the ledger (another instance holding it answers
transient; one already delivered or dead-lettered is acknowledged as a duplicate), reuse the
record the ledger kept from an earlier attempt when it is younger than ``RECORD_REUSE_SECONDS``
(else gather it from Drift inside the event's time budget), run the recipe, whose steps
checkpoint in the claim so a redelivery resumes after the last step that completed, then mark
the event delivered with what the recipe saved for the conversation. A GDPR request runs the
recipe's ``gdpr`` steps the same way.

A permanent failure is dead-lettered first and marked in the ledger after, so a dead-letter
publish that fails leaves the event retryable rather than recorded as done.
"""

from __future__ import annotations

import time
from typing import Any

from shared.deadletter import DeadLetters
from shared.drift_client import event_deadline
from shared.errors import PermanentError, TransientError
from shared.events import ConversationPush, DriftEvent
from shared.gather import Gatherer
from shared.gdpr import GdprRequest
from shared.ledger import Claim, Ledger
from shared.logger import get_logger
from shared.outcome import Outcome
from shared.push import PushedMessage
from shared.recipes import Delivery, RecipeRunner

log = get_logger("worker")
_DONE = ("completed", "dead_lettered")
INLINE_WAIT_SECONDS = 5.0  # a CRM's Retry-After up to this is waited for in the invocation


class Deliveries:
    """Conversation and GDPR deliveries for one worker instance."""

    def __init__(
        self,
        gatherer: Gatherer,
        runner: RecipeRunner,
        ledger: Ledger,
        dead_letters: DeadLetters,
        drift_budget_seconds: float,
        record_reuse_seconds: float,
    ) -> None:
        self.gatherer = gatherer
        self.runner = runner
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.drift_budget_seconds = drift_budget_seconds
        self.record_reuse_seconds = record_reuse_seconds
        # The conversation's memory is read only for recipes that keep some (one read less
        # per event for the webhook recipe).
        self.remembers = {kind for kind, spec in runner.recipe.events.items() if spec.remember}

    def conversation(
        self, event: DriftEvent, push: ConversationPush, message: PushedMessage
    ) -> Outcome:
        claim = self._claim(event, message, push.conversation_id)
        if claim.state in _DONE:
            log.info(f"duplicate event, already {claim.state.replace('_', '-')}; acknowledged")
            return Outcome.DUPLICATE
        return self._run(
            claim, event, message, lambda: self._conversation(claim, event, push, message)
        )

    def gdpr(self, event: DriftEvent, request: GdprRequest, message: PushedMessage) -> Outcome:
        claim = self._claim(event, message, None)
        if claim.state in _DONE:
            log.info(f"duplicate event, already {claim.state.replace('_', '-')}; acknowledged")
            return Outcome.DUPLICATE

        def work() -> Outcome:
            result = self._send("gdpr", request.document(), claim, {})
            claim.complete(result.delivered_hash, None)
            if result.skipped:
                log.info("GDPR deletion request not sent", reason=result.skipped)
                return Outcome.SKIPPED
            log.info("GDPR deletion request delivered to the CRM", requests=len(result.requests))
            return Outcome.DELIVERED

        return self._run(claim, event, message, work)

    # -- steps -------------------------------------------------------------------------------

    def _claim(
        self, event: DriftEvent, message: PushedMessage, conversation_id: int | None
    ) -> Claim:
        return self.ledger.claim(
            event.key(),
            event_type=event.type,
            org_id=event.org_id,
            conversation_id=conversation_id,
            message_id=message.message_id,
        )

    def _conversation(
        self, claim: Claim, event: DriftEvent, push: ConversationPush, message: PushedMessage
    ) -> Outcome:
        document = claim.cached_record(self.record_reuse_seconds)
        if document is None:
            with event_deadline(self.drift_budget_seconds):
                record = self.gatherer.record(event, push, claim.key, message)
            document = record.to_json_dict()
            claim.save_record(document)
            log.info(
                "conversation gathered",
                contact_id=record.contact.id if record.contact else None,
                participants=len(record.participants),
                transcript_chars=len(record.transcript),
            )
        else:
            log.info("conversation reused from the ledger (no Drift calls)")
        memory = (
            self.ledger.memory(event.org_id, push.conversation_id)
            if "conversation" in self.remembers
            else {}
        )
        result = self._send("conversation", document, claim, memory)
        claim.complete(result.delivered_hash, result.memory or None)
        if result.skipped:
            log.info("conversation not delivered", reason=result.skipped)
            return Outcome.SKIPPED
        log.info("conversation delivered to the CRM", requests=len(result.requests))
        return Outcome.DELIVERED

    def _send(
        self, kind: str, document: dict[str, Any], claim: Claim, memory: dict[str, Any]
    ) -> Delivery:
        """Run the recipe. A short wait (the CRM's ``Retry-After``, else the recipe's backoff
        hint, of at most ``INLINE_WAIT_SECONDS``) is waited for here and the recipe resumed once
        (its completed steps are not sent again). A longer ``Retry-After`` is kept in the
        ledger by ``_run``, so that redeliveries before it are refused without calling the CRM;
        a longer hint is left to Pub/Sub's backoff."""
        try:
            return self.runner.deliver(
                kind, document, journal=claim, memory=memory, idempotency_key=claim.key
            )
        except TransientError as error:
            wait = error.retry_after if error.retry_after is not None else error.backoff
            if wait is None or wait > INLINE_WAIT_SECONDS:
                raise
            log.info("the CRM asked to wait; retrying once", seconds=wait, reason=error.reason)
            time.sleep(wait)  # the CRM's own Retry-After, within the function's time
        return self.runner.deliver(
            kind, document, journal=claim, memory=memory, idempotency_key=claim.key
        )

    def _run(self, claim: Claim, event: DriftEvent, message: PushedMessage, work: Any) -> Outcome:
        try:
            return work()
        except PermanentError as error:
            failure = error
        except TransientError as error:
            claim.fail(error.reason, retry_after=error.retry_after)
            raise
        except BaseException as error:
            claim.fail(f"{type(error).__name__} (unexpected)")
            raise
        try:
            self.dead_letters.send(message, failure, event.type)
        except TransientError as error:
            claim.fail(error.reason)
            raise
        claim.dead_letter(failure.full_reason)
        return Outcome.DEAD_LETTERED
