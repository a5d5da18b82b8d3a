"""Sync one conversation by hand, or backfill every conversation updated in a time range.

Both publish a synthetic ``conversation_manual_push`` to the events topic, so the worker
gathers and delivers it with the same retries, dead letters and idempotency as Drift's own
events. The backfill walks Drift's ``/conversations/list`` (newest ``updatedAt`` first,
cursor-paginated) and stops at the first conversation older than the range; list requests are
spaced to stay under ``rate`` per second, so the Drift API's rate limit holds beside the
worker's own calls.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from operations import synthetic
from shared import pubsub
from shared.drift_client import DriftClient


class RateLimiter:
    """At most ``rate`` acquisitions per second, evenly spaced (blocking)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._next = 0.0
        self._clock = clock
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            time.sleep(wait)


@dataclass
class BackfillReport:
    pages: int = 0
    published: list[int] = field(default_factory=list)
    skipped_newer: int = 0
    dry_run: bool = False


def epoch_ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def sync(
    project: str, topic: str, conversation_id: int, org_id: int | None, timeout: float = 30.0
) -> str:
    """Publish one conversation for delivery now; returns the Pub/Sub message id."""
    event = synthetic.conversation_event(conversation_id, org_id, None, "bridge_manual_sync")
    data, attributes = synthetic.encode(event)
    return pubsub.publish(project, topic, data, attributes, timeout)


def backfill(
    client: DriftClient,
    project: str,
    topic: str,
    start: dt.datetime,
    end: dt.datetime,
    org_id: int | None = None,
    rate: float = 1.0,
    page_size: int = 50,
    dry_run: bool = False,
    timeout: float = 30.0,
    on_publish: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Every conversation with ``start <= updatedAt < end``, published once each."""
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    low, high = epoch_ms(start), epoch_ms(end)
    limiter = RateLimiter(rate)
    report = BackfillReport(dry_run=dry_run)
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        limiter.acquire()
        conversations, cursor = client.list_conversations(limit=page_size, cursor=cursor)
        report.pages += 1
        reached_older = False
        for conversation in conversations:
            updated = conversation.get("updatedAt")
            conversation_id = conversation.get("id")
            if not isinstance(updated, int) or not isinstance(conversation_id, int):
                continue
            if updated >= high:
                report.skipped_newer += 1
                continue
            if updated < low:
                reached_older = True
                break
            if not dry_run:
                event = synthetic.conversation_event(
                    conversation_id, org_id, updated, "bridge_backfill"
                )
                data, attributes = synthetic.encode(event)
                pubsub.publish(project, topic, data, attributes, timeout)
            report.published.append(conversation_id)
            if on_publish is not None:
                on_publish(conversation_id)
        if reached_older or not cursor or cursor in seen_cursors:
            return report
        seen_cursors.add(cursor)
