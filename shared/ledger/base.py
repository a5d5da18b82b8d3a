"""What every ledger does, whatever stores it: claim an event, record its steps, finish it.

A ``Claim`` is one attempt's hold on one event. It keeps the event's document as this attempt
last wrote it and writes only when something must be durable before the worker goes on:

* the claim itself (a transaction: read the document, decide, write);
* ``step_started``: before a step's request goes out, so that a later attempt knows it may have
  reached the CRM. It also carries what was buffered since the last write: the gathered record
  (``save_record``) and the previous step's ``step_done``;
* ``complete``, ``fail`` or ``dead_letter``, which carry the last ``step_done``.

So a one-step delivery costs three writes. Every write after the claim is conditioned on the
document being exactly as this attempt left it (like DynamoDB's condition expressions in the
Powertools idempotency utility): an attempt whose lease ran out and was taken over gets
``LeaseLostError`` instead of overwriting the new holder's progress. If the process dies
between ``step_done`` and the next write, the step shows ``in_flight`` to the next attempt,
which is exactly what it must assume.
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.ledger import codec
from shared.ledger.config import LedgerConfig
from shared.ledger.exceptions import ClaimNotHeldError, DeferredError, LedgerBusyError
from shared.ledger.models import (
    ClaimState,
    EventDocument,
    HistoryEntry,
    StepCheckpoint,
    utcnow,
)
from shared.ledger.trace import EventJourney

# The fields a resumed claim changes (the rest, the record among them, stays as stored).
RESUME_FIELDS = frozenset(
    {
        "state",
        "attempts",
        "last_seen",
        "lease_expires_at",
        "not_before",
        "holder",
        "history",
        "expire_at",
    }
)


class EventMeta(BaseModel):
    """What the worker knows about an event when it claims it."""

    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    event_type: str | None = None
    org_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None


class Decision(BaseModel):
    """The outcome of a claim: the document to store, what to tell the worker, what to write
    (``None``: the whole document; empty: nothing)."""

    document: EventDocument
    state: ClaimState
    write: frozenset[str] | None


def decide(
    existing: EventDocument | None,
    key: str,
    meta: EventMeta,
    config: LedgerConfig,
    now: dt.datetime,
) -> Decision:
    """Claim ``key`` given its stored document; raise LedgerBusyError when another attempt's
    lease is live."""
    lease = now + dt.timedelta(seconds=config.lease_seconds)
    expire = now + dt.timedelta(days=config.retention_days)
    holder = uuid.uuid4().hex
    if existing is None or existing.state == "reset":
        document = EventDocument(
            key=key,
            state="in_progress",
            attempts=1,
            event_type=meta.event_type,
            org_id=meta.org_id,
            conversation_id=meta.conversation_id,
            message_id=meta.message_id,
            first_seen=existing.first_seen if existing else now,
            last_seen=now,
            lease_expires_at=lease,
            holder=holder,
            history=existing.history if existing else [],
            expire_at=expire,
        )
        document.remember(HistoryEntry(at=now, outcome="claimed", attempt=1))
        return Decision(document=document, state="new", write=None)
    if existing.state in ("completed", "dead_lettered"):
        return Decision(document=existing, state=existing.state, write=frozenset())
    if existing.lease_live(now):
        raise LedgerBusyError(
            f"event {key[:12]} is being delivered by another attempt", existing.lease_expires_at
        )
    if existing.state == "retrying" and existing.not_before and existing.not_before > now:
        wait = (existing.not_before - now).total_seconds()
        raise DeferredError(
            f"the CRM asked to wait: event {key[:12]} is retried in {wait:.0f}s at the earliest",
            existing.not_before,
        )
    reason = "the previous attempt's lease expired" if existing.state == "in_progress" else None
    document = existing.model_copy(deep=True)
    document.state = "in_progress"
    document.attempts += 1
    document.last_seen = now
    document.lease_expires_at = lease
    document.not_before = None
    document.holder = holder
    document.expire_at = expire
    document.remember(
        HistoryEntry(at=now, outcome="resumed", attempt=document.attempts, reason=reason)
    )
    return Decision(document=document, state="resumed", write=RESUME_FIELDS)


class Ledger(ABC):
    """Every event's progress, and the values deliveries saved per conversation."""

    def __init__(self, config: LedgerConfig) -> None:
        self.config = config

    @abstractmethod
    def claim(
        self,
        key: str,
        *,
        event_type: str | None = None,
        org_id: str | int | None = None,
        conversation_id: str | int | None = None,
        message_id: str | int | None = None,
        use_cache: bool = True,
    ) -> Claim:
        """Hold ``key`` for this attempt (see ``Claim.state``)."""

    @abstractmethod
    def memory(self, org_id: str | int, conversation_id: str | int) -> dict[str, Any]:
        """The values earlier deliveries saved for the conversation ({} when none)."""

    @abstractmethod
    def trace(self, conversation_id_or_key: str) -> list[EventJourney]:
        """The journeys of the event with this key, or of every event of this conversation."""

    @abstractmethod
    def reset(self, key: str) -> bool:
        """Make the event run again from the start (a replay); False when it is unknown."""

    # What a Claim calls to store its progress.
    @abstractmethod
    def _commit(
        self,
        document: EventDocument,
        fields: frozenset[str],
        version: Any,
        memory: dict[str, Any] | None,
    ) -> Any:
        """Write ``fields`` of ``document`` if the stored one is still at ``version`` (raise
        LeaseLostError otherwise), merge ``memory`` into its conversation's memory in the same
        commit, and return the new version."""

    def _finished(self, claim: Claim, written: bool) -> None:  # noqa: B027 - optional hook
        """The claim completed, failed or was dead-lettered; ``written``: durably."""


class Claim:
    """One attempt's hold on one event; ``state`` says whether there is anything to do.

    ``new`` and ``resumed``: deliver (``steps`` holds what earlier attempts checkpointed);
    ``completed`` and ``dead_lettered``: a duplicate, acknowledge it.
    """

    def __init__(
        self, ledger: Ledger, document: EventDocument, state: ClaimState, version: Any
    ) -> None:
        self._ledger = ledger
        self._document = document
        self._version = version
        self._dirty: set[str] = set()
        self.key = document.key
        self.state: ClaimState = state
        self._held = state in ("new", "resumed")

    @property
    def attempts(self) -> int:
        """Attempts so far, this one included."""
        return self._document.attempts

    @property
    def held(self) -> bool:
        return self._held

    @property
    def document(self) -> EventDocument:
        """A copy of the event's document as this attempt knows it."""
        return self._document.model_copy(deep=True)

    @property
    def steps(self) -> dict[str, StepCheckpoint]:
        return {name: step.model_copy(deep=True) for name, step in self._document.steps.items()}

    @property
    def org_id(self) -> str | None:
        return self._document.org_id

    @property
    def conversation_id(self) -> str | None:
        return self._document.conversation_id

    def cached_record(self, max_age_seconds: float) -> dict[str, Any] | None:
        """The gathered record stored with the event, if gathered within ``max_age_seconds``."""
        document = self._document
        if document.record is None or document.gathered_at is None:
            return None
        age = (utcnow() - document.gathered_at).total_seconds()
        if age > max_age_seconds:
            return None
        return codec.decompress(document.record)

    def save_record(self, record: dict[str, Any]) -> None:
        """Keep the gathered record with the event (written with the next write). A record
        that would push the document past the size limit is not kept: a retry gathers again."""
        self._require_held()
        document = self._document
        blob = codec.compress(record)
        document.gathered_at = utcnow()
        document.record_bytes = len(blob)
        if (
            codec.size_without_record(document) + len(blob)
            > self._ledger.config.document_limit_bytes
        ):
            document.record = None
            document.record_skipped = (
                f"{len(blob)} bytes compressed is over the document limit: a retry gathers again"
            )
        else:
            document.record = blob
            document.record_skipped = None
        self._dirty |= {"record", "gathered_at", "record_bytes", "record_skipped"}

    def step_started(self, name: str) -> None:
        """The step's request is about to go out: recorded before it does."""
        self._require_held()
        previous = self._document.steps.get(name)
        self._document.steps[name] = StepCheckpoint(
            status="in_flight", saved=previous.saved if previous else {}, at=utcnow()
        )
        self._dirty |= {"steps", "last_seen"}
        self._document.last_seen = utcnow()
        self._flush()

    def step_done(self, name: str, saved: dict[str, Any], status: int | None = None) -> None:
        """The step's answer came, with the values it saved (written with the next write)."""
        self._require_held()
        self._document.steps[name] = StepCheckpoint(
            status="done", saved=dict(saved), at=utcnow(), http_status=status
        )
        self._dirty.add("steps")

    def complete(self, delivered_hash: str, memory: dict[str, Any] | None = None) -> None:
        """Delivered: nothing is left to do for this event. ``memory`` is merged into the
        conversation's memory in the same commit."""
        now = self._finish("completed", None)
        document = self._document
        document.delivered_hash = delivered_hash
        document.completed_at = now
        document.last_error = None
        self._dirty |= {"delivered_hash", "completed_at", "last_error"}
        self._close(memory)

    def fail(self, reason: str, retry_after: float | None = None) -> None:
        """A transient failure: the lease is released, checkpoints and the record are kept.
        ``retry_after``: the seconds the CRM asked to wait; redeliveries before then are
        refused at once (``DeferredError``)."""
        now = self._finish("retrying", reason)
        document = self._document
        document.last_error = reason
        document.not_before = now + dt.timedelta(seconds=retry_after) if retry_after else None
        self._dirty |= {"last_error", "not_before"}
        self._close(None)

    def dead_letter(self, reason: str) -> None:
        """Given up: the event is dead-lettered with ``reason``."""
        now = self._finish("dead_lettered", reason)
        document = self._document
        document.dead_letter_reason = reason
        document.dead_lettered_at = now
        document.last_error = reason
        self._dirty |= {"dead_letter_reason", "dead_lettered_at", "last_error"}
        self._close(None)

    def _finish(self, state: str, reason: str | None) -> dt.datetime:
        self._require_held()
        now = utcnow()
        document = self._document
        document.state = state  # type: ignore[assignment]
        document.last_seen = now
        document.lease_expires_at = None
        document.holder = None
        document.expire_at = now + dt.timedelta(days=self._ledger.config.retention_days)
        outcome = {"completed": "completed", "retrying": "failed"}.get(state, state)
        document.remember(
            HistoryEntry(
                at=now,
                outcome=outcome,  # type: ignore[arg-type]
                attempt=document.attempts,
                reason=reason,
            )
        )
        if state != "retrying" and document.record is not None:
            document.record = None  # no attempt will need it again; keep its size and time
            self._dirty.add("record")
        self._dirty |= {
            "state",
            "last_seen",
            "lease_expires_at",
            "holder",
            "expire_at",
            "history",
        }
        return now

    def _close(self, memory: dict[str, Any] | None) -> None:
        written = False
        try:
            self._flush(memory)
            written = True
        finally:
            self._held = False
            self._ledger._finished(self, written)

    def _flush(self, memory: dict[str, Any] | None = None) -> None:
        fields = frozenset(self._dirty)
        self._version = self._ledger._commit(self._document, fields, self._version, memory)
        self._dirty.clear()

    def _require_held(self) -> None:
        if not self._held:
            raise ClaimNotHeldError(f"the claim of event {self.key[:12]} is {self.state}, not held")
