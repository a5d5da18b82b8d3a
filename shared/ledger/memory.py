"""The per-instance ledger: ``LEDGER=memory``, and the fast path in front of Firestore.

``MemoryLedger`` keeps every event's document in this process's memory, with the same claims,
checkpoints and conversation memory as the Firestore ledger, so that a user without Firestore
still gets in-process deduplication and resumption. What it cannot give:

* **cross-instance deduplication**: another instance (or a second function revision) knows
  nothing of this one's events, so the same event can be delivered twice (only the CRM's
  ``Idempotency-Key`` handling, if any, saves the day);
* **resume after a restart**: a crashed or recycled instance forgets its checkpoints, its
  gathered records and the conversation memory, so a redelivery starts over and a later push of
  a conversation creates what the first one created instead of updating it;
* **trace after a restart**: ``python -m operations trace`` runs in another process and sees
  nothing; only the instance's own logs tell the story.

It also forgets the oldest events past ``cache_entries``.

``LocalCache`` is the small LRU both ledgers use: the Firestore ledger keeps the documents of
events this instance finished in it, so that a duplicate on the same instance costs no read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from shared.ledger import codec
from shared.ledger.base import Claim, EventMeta, Ledger, decide
from shared.ledger.config import LedgerConfig
from shared.ledger.exceptions import LeaseLostError
from shared.ledger.models import EventDocument, HistoryEntry, utcnow
from shared.ledger.trace import EventJourney

V = TypeVar("V")


class LocalCache(Generic[V]):
    """A thread-safe LRU whose entries expire ``seconds`` after they were put."""

    def __init__(self, entries: int, seconds: float | None) -> None:
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()
        self._max = entries
        self._seconds = seconds
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._seconds is not None and time.monotonic() - entry[1] > self._seconds:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: V) -> None:
        if self._max <= 0:
            return
        with self._lock:
            self._entries[key] = (value, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def pop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def values(self) -> list[V]:
        with self._lock:
            return [value for value, _ in self._entries.values()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class MemoryLedger(Ledger):
    """Every event's progress in this process only (see the module's docstring)."""

    def __init__(self, config: LedgerConfig | None = None) -> None:
        super().__init__(config or LedgerConfig(backend="memory"))
        entries = max(self.config.cache_entries, 1)
        self._events: LocalCache[tuple[EventDocument, int]] = LocalCache(entries, None)
        self._memories: LocalCache[dict[str, Any]] = LocalCache(entries, None)
        self._lock = threading.Lock()

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
        meta = EventMeta(
            event_type=event_type,
            org_id=org_id,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        with self._lock:
            stored = self._events.get(key)
            existing = stored[0].model_copy(deep=True) if stored else None
            decision = decide(existing, key, meta, self.config, utcnow())
            version = stored[1] if stored else 0
            if decision.write != frozenset():
                version += 1
                self._events.put(key, (decision.document.model_copy(deep=True), version))
        return Claim(self, decision.document, decision.state, version)

    def _commit(
        self,
        document: EventDocument,
        fields: frozenset[str],
        version: Any,
        memory: dict[str, Any] | None,
    ) -> Any:
        with self._lock:
            stored = self._events.get(document.key)
            if stored is None or stored[1] != version:
                raise LeaseLostError(
                    f"event {document.key[:12]} was taken over by another attempt or reset"
                )
            self._events.put(document.key, (document.model_copy(deep=True), version + 1))
            if memory and document.org_id and document.conversation_id:
                key = codec.memory_id(document.org_id, document.conversation_id)
                merged = {**(self._memories.get(key) or {}), **memory}
                self._memories.put(key, merged)
            return version + 1

    def memory(self, org_id: str | int, conversation_id: str | int) -> dict[str, Any]:
        return dict(self._memories.get(codec.memory_id(str(org_id), str(conversation_id))) or {})

    def trace(self, conversation_id_or_key: str) -> list[EventJourney]:
        wanted = str(conversation_id_or_key)
        documents = [
            document
            for document, _ in self._events.values()
            if wanted in (document.key, document.conversation_id)
        ]
        documents.sort(key=lambda document: document.first_seen)
        return [EventJourney.from_document(document) for document in documents]

    def reset(self, key: str) -> bool:
        with self._lock:
            stored = self._events.get(key)
            if stored is None:
                return False
            document = reset_document(stored[0])
            self._events.put(key, (document, stored[1] + 1))
        return True


def reset_document(stored: EventDocument) -> EventDocument:
    """The document of a replayed event: history kept, progress forgotten."""
    now = utcnow()
    document = EventDocument(
        key=stored.key,
        state="reset",
        attempts=0,
        event_type=stored.event_type,
        org_id=stored.org_id,
        conversation_id=stored.conversation_id,
        message_id=stored.message_id,
        first_seen=stored.first_seen,
        last_seen=now,
        history=stored.history,
        expire_at=stored.expire_at,
    )
    document.remember(HistoryEntry(at=now, outcome="reset", attempt=stored.attempts))
    return document
