"""An event's journey, as ``python -m operations trace`` prints it: a model and its text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from shared.ledger.models import DocumentState, EventDocument, HistoryEntry, StepStatus

_VALUE_CHARS = 60  # saved values are ids; anything longer is cut
_STATE_TEXT = {
    "in_progress": "in progress",
    "retrying": "waiting for a retry",
    "completed": "delivered",
    "dead_lettered": "dead-lettered",
    "reset": "reset for a replay",
}


class JourneyStep(BaseModel):
    name: str
    status: StepStatus
    saved: dict[str, Any]
    at: dt.datetime
    http_status: int | None = None


class EventJourney(BaseModel):
    """One event: received, gathered, each step, each attempt, how it ended."""

    key: str
    state: DocumentState
    attempts: int
    event_type: str | None = None
    org_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    first_seen: dt.datetime
    last_seen: dt.datetime
    gathered_at: dt.datetime | None = None
    record_bytes: int | None = None
    record_kept: bool = False
    record_skipped: str | None = None
    steps: list[JourneyStep]
    history: list[HistoryEntry]
    last_error: str | None = None
    delivered_hash: str | None = None
    completed_at: dt.datetime | None = None
    dead_lettered_at: dt.datetime | None = None
    dead_letter_reason: str | None = None
    lease_expires_at: dt.datetime | None = None

    @classmethod
    def from_document(cls, document: EventDocument) -> EventJourney:
        steps = [
            JourneyStep(
                name=name,
                status=step.status,
                saved=step.saved,
                at=step.at,
                http_status=step.http_status,
            )
            for name, step in document.steps.items()
        ]
        steps.sort(key=lambda step: step.at)
        return cls(
            key=document.key,
            state=document.state,
            attempts=document.attempts,
            event_type=document.event_type,
            org_id=document.org_id,
            conversation_id=document.conversation_id,
            message_id=document.message_id,
            first_seen=document.first_seen,
            last_seen=document.last_seen,
            gathered_at=document.gathered_at,
            record_bytes=document.record_bytes,
            record_kept=document.record is not None,
            record_skipped=document.record_skipped,
            steps=steps,
            history=list(document.history),
            last_error=document.last_error,
            delivered_hash=document.delivered_hash,
            completed_at=document.completed_at,
            dead_lettered_at=document.dead_lettered_at,
            dead_letter_reason=document.dead_letter_reason,
            lease_expires_at=document.lease_expires_at,
        )

    def render(self) -> list[str]:
        """Human-readable lines: a heading, then what happened in time order."""
        about = [
            f"{label} {value}"
            for label, value in (
                ("org", self.org_id),
                ("conversation", self.conversation_id),
                ("message", self.message_id),
            )
            if value
        ]
        state = _STATE_TEXT[self.state]
        if self.state == "in_progress" and self.lease_expires_at is not None:
            state += f" (lease until {_when(self.lease_expires_at)})"
        heading = f"event {self.key}"
        if self.event_type:
            heading += f" ({self.event_type})"
        if about:
            heading += ", " + ", ".join(about)
        attempts = f"{self.attempts} attempt" + ("" if self.attempts == 1 else "s")
        lines = [f"{heading}: {state} after {attempts}"]
        timeline: list[tuple[dt.datetime, int, str]] = [(self.first_seen, 0, "received")]
        if self.gathered_at is not None:
            timeline.append((self.gathered_at, 1, self._gathered()))
        for step in self.steps:
            timeline.append((step.at, 2, _step(step)))
        for entry in self.history:
            timeline.append((entry.at, 3 if entry.outcome != "claimed" else 0, _entry(entry, self)))
        timeline.sort(key=lambda item: (item[0], item[1]))
        lines.extend(f"  {_when(at)}  {text}" for at, _, text in timeline)
        if self.state == "retrying" and self.last_error:
            lines.append(f"  last error: {self.last_error}")
        return lines

    def _gathered(self) -> str:
        if self.record_skipped:
            return f"gathered the record from Drift (not kept: {self.record_skipped})"
        size = f"{self.record_bytes} bytes compressed" if self.record_bytes else "record"
        kept = ", kept for retries" if self.record_kept else ""
        return f"gathered the record from Drift ({size}{kept})"


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _step(step: JourneyStep) -> str:
    if step.status == "in_flight":
        return f"step {step.name}: request sent, no answer recorded (in flight)"
    parts = [f"step {step.name}: done"]
    if step.http_status is not None:
        parts.append(f"HTTP {step.http_status}")
    if step.saved:
        saved = ", ".join(f"{name}={_short(value)}" for name, value in sorted(step.saved.items()))
        parts.append(f"saved {saved}")
    return ", ".join(parts)


def _entry(entry: HistoryEntry, journey: EventJourney) -> str:
    attempt = f"attempt {entry.attempt}"
    if entry.outcome == "claimed":
        return f"{attempt} started"
    if entry.outcome == "resumed":
        return f"{attempt} resumed" + (f" ({entry.reason})" if entry.reason else "")
    if entry.outcome == "failed":
        return f"{attempt} failed, to be retried: {entry.reason}"
    if entry.outcome == "completed":
        delivered = f"delivered by {attempt}"
        if journey.delivered_hash:
            delivered += f" (content hash {journey.delivered_hash[:12]})"
        return delivered
    if entry.outcome == "dead_lettered":
        return f"dead-lettered by {attempt}: {entry.reason}"
    return "reset for a replay: the next delivery starts over"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"
