"""What the ledger stores, as Pydantic models whose aliases are the Firestore field names.

``EventDocument`` is one event's document in ``<prefix>events``; ``ConversationMemory`` is one
conversation's document in ``<prefix>conversations``. Both carry ``expireAt``, the field the
Firestore TTL policy removes them by.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The stored state of an event. ``retrying``: an attempt failed transiently and released its
# lease; ``reset``: an operator asked for a replay, so the next claim starts over.
DocumentState = Literal["in_progress", "retrying", "completed", "dead_lettered", "reset"]
# What a claim tells the worker: run it (``new``, ``resumed``) or acknowledge it as a duplicate.
ClaimState = Literal["new", "resumed", "completed", "dead_lettered"]
StepStatus = Literal["done", "in_flight"]
HistoryOutcome = Literal["claimed", "resumed", "failed", "completed", "dead_lettered", "reset"]
HISTORY_LIMIT = 20  # attempts remembered per event (the oldest are dropped first)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Stored(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class StepCheckpoint(_Stored):
    """One step of a delivery: ``in_flight`` once its request is about to go out, ``done`` with
    the values it saved once the answer came."""

    status: StepStatus
    saved: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime
    http_status: int | None = Field(default=None, alias="httpStatus")


class HistoryEntry(_Stored):
    """One turn in an event's life: an attempt claimed or resumed it, failed, finished it."""

    at: dt.datetime
    outcome: HistoryOutcome
    attempt: int
    reason: str | None = None


class EventDocument(_Stored):
    """One event's progress, shared by every instance."""

    key: str
    state: DocumentState
    attempts: int = 0
    event_type: str | None = Field(default=None, alias="eventType")
    org_id: str | None = Field(default=None, alias="orgId")
    conversation_id: str | None = Field(default=None, alias="conversationId")
    message_id: str | None = Field(default=None, alias="messageId")
    first_seen: dt.datetime = Field(alias="firstSeen")
    last_seen: dt.datetime = Field(alias="lastSeen")
    lease_expires_at: dt.datetime | None = Field(default=None, alias="leaseExpiresAt")
    not_before: dt.datetime | None = Field(default=None, alias="notBefore")  # the CRM's wait
    holder: str | None = None
    last_error: str | None = Field(default=None, alias="lastError")
    delivered_hash: str | None = Field(default=None, alias="deliveredHash")
    completed_at: dt.datetime | None = Field(default=None, alias="completedAt")
    dead_lettered_at: dt.datetime | None = Field(default=None, alias="deadLetteredAt")
    dead_letter_reason: str | None = Field(default=None, alias="deadLetterReason")
    steps: dict[str, StepCheckpoint] = Field(default_factory=dict)
    record: bytes | None = None  # the gathered record's JSON, zlib-compressed
    gathered_at: dt.datetime | None = Field(default=None, alias="gatheredAt")
    record_bytes: int | None = Field(default=None, alias="recordBytes")  # compressed size
    record_skipped: str | None = Field(default=None, alias="recordSkipped")
    history: list[HistoryEntry] = Field(default_factory=list)
    expire_at: dt.datetime = Field(alias="expireAt")

    def lease_live(self, now: dt.datetime) -> bool:
        return (
            self.state == "in_progress"
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )

    def remember(self, entry: HistoryEntry) -> None:
        self.history = [*self.history, entry][-HISTORY_LIMIT:]


class ConversationMemory(_Stored):
    """Values deliveries saved for one conversation (the CRM's person id, activity id...)."""

    org_id: str = Field(alias="orgId")
    conversation_id: str = Field(alias="conversationId")
    memory: dict[str, Any] = Field(default_factory=dict)
    last_event_key: str | None = Field(default=None, alias="lastEventKey")
    updated_at: dt.datetime = Field(alias="updatedAt")
    expire_at: dt.datetime = Field(alias="expireAt")
