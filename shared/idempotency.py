"""Per-instance idempotency of events, keyed like the CRM's ``Idempotency-Key``.

A key is IN_PROGRESS while one thread handles it and COMPLETED once the CRM accepted it. A
duplicate (a second webhook for the same event, or a redelivery) that arrives while the first is
in progress is refused as transient, so Pub/Sub brings it back later; one that arrives after
completion is acknowledged without calling Drift or the CRM again. A failed attempt releases
the key so that a retry runs again. Instances do not share this table: across instances, the
CRM's ``Idempotency-Key`` header is what makes a repeat harmless.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from enum import Enum

from shared.errors import TransientError


class State(Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class AlreadyInProgressError(TransientError):
    """The same event is being handled by another thread of this instance."""


class IdempotencyStore:
    def __init__(self, max_entries: int = 10_000, ttl_seconds: float = 3600.0) -> None:
        self._entries: OrderedDict[str, tuple[State, float]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_seconds
        self._lock = threading.Lock()

    def begin(self, key: str) -> bool:
        """Claim ``key``; False when it already completed (nothing left to do)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[1] <= self._ttl:
                if entry[0] is State.COMPLETED:
                    return False
                raise AlreadyInProgressError(f"event {key[:12]} is already being handled")
            self._entries[key] = (State.IN_PROGRESS, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return True

    def complete(self, key: str) -> None:
        with self._lock:
            self._entries[key] = (State.COMPLETED, time.monotonic())

    def release(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
