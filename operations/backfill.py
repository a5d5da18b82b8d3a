"""Sync one conversation by hand, or backfill every conversation updated in a time range.

Both publish a synthetic ``conversation_manual_push`` to the events topic, so the worker
gathers and delivers it with the same retries, dead letters and idempotency as Drift's own
events.

The backfill walks Drift's ``/conversations/list`` page by page with its cursor (``next``) to
the end. Drift documents the list's paging (``limit``, ``next``) and a status filter, but
neither a time filter nor an order, so the walk assumes none: it reads every page and keeps
each conversation whose own ``updatedAt`` falls in the range, once (a conversation seen twice,
for instance because it changed during the walk, is published once).

Pacing is per published event, not per list page: each event costs the worker three or four
Drift calls (conversation, contact, users, transcript), so a page of fifty published at once
would become a burst of two hundred calls, answered 429, retried, and after the subscription's
maximum attempts dead-lettered. ``rate`` events per second keeps the worker's calls within
Drift's rate limit beside the live traffic; list pages are spaced by ``page_rate``.
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
from shared.ids import as_id

DEFAULT_EVENT_RATE = 1.0  # events per second: 3-4 Drift calls each
DEFAULT_PAGE_RATE = 2.0  # list requests per second
MAX_PAGES = 100_000  # a guard against a cursor that never ends


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
    listed: int = 0  # conversations the list returned, in or out of the range
    skipped_newer: int = 0  # updated at or after the end of the range
    skipped_older: int = 0  # updated before its start
    duplicates: int = 0  # listed again after being published
    unreadable: int = 0  # without a usable id or updatedAt
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
    rate: float = DEFAULT_EVENT_RATE,
    page_size: int = 50,
    dry_run: bool = False,
    timeout: float = 30.0,
    on_publish: Callable[[int], None] | None = None,
    *,
    page_rate: float = DEFAULT_PAGE_RATE,
) -> BackfillReport:
    """Every conversation with ``start <= updatedAt < end``, published once each, at most
    ``rate`` per second."""
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    low, high = epoch_ms(start), epoch_ms(end)
    events = RateLimiter(rate)
    pages = RateLimiter(page_rate)
    report = BackfillReport(dry_run=dry_run)
    published: set[int] = set()
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while report.pages < MAX_PAGES:
        pages.acquire()
        conversations, cursor = client.list_conversations(limit=page_size, cursor=cursor)
        report.pages += 1
        for conversation in conversations:
            report.listed += 1
            updated = as_id(conversation.get("updatedAt"))
            conversation_id = as_id(conversation.get("id"))
            if updated is None or conversation_id is None:
                report.unreadable += 1
                continue
            if updated >= high:
                report.skipped_newer += 1
                continue
            if updated < low:
                report.skipped_older += 1  # and keep reading: the list has no promised order
                continue
            if conversation_id in published:
                report.duplicates += 1
                continue
            if not dry_run:
                events.acquire()
                event = synthetic.conversation_event(
                    conversation_id, org_id, updated, "bridge_backfill"
                )
                data, attributes = synthetic.encode(event)
                pubsub.publish(project, topic, data, attributes, timeout)
            published.add(conversation_id)
            report.published.append(conversation_id)
            if on_publish is not None:
                on_publish(conversation_id)
        if not cursor or cursor in seen_cursors:
            break
        seen_cursors.add(cursor)
    return report
