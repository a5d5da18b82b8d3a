"""The ledger on Cloud Firestore (Native mode), shared by every instance.

Collections ``<prefix>events`` (one document per event key) and ``<prefix>conversations`` (one
per org and conversation id); every document has ``expireAt``, which the TTL policy on both
collection groups uses to remove it after ``LEDGER_RETENTION_DAYS``.

Costs, as Firestore bills them: a claim is a transaction (one read, one write); a duplicate
seen by the instance that finished it costs nothing (the local cache), one read elsewhere;
``memory()`` is one read; ``step_started`` and ``complete`` one write each, plus one for the
conversation's memory when it changed. A one-step delivery: three writes, two reads.

Every call is bounded (see ``shared.ledger.client``): Firestore away or slow raises
``LedgerUnavailableError`` in a few seconds, a transient error, so the event comes back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.ledger import client as clients
from shared.ledger import codec
from shared.ledger.base import Claim, EventMeta, Ledger, decide
from shared.ledger.config import LedgerConfig
from shared.ledger.exceptions import (
    LeaseLostError,
    LedgerBusyError,
    LedgerUnavailableError,
)
from shared.ledger.memory import LocalCache, reset_document
from shared.ledger.models import EventDocument, utcnow
from shared.ledger.trace import EventJourney

TRACE_LIMIT = 100  # events of one conversation a trace lists


def _google_error(error: BaseException) -> BaseException | None:
    """The Google API (or OS) error behind ``error``: a failed transaction's rollback can raise
    ValueError over it, and an exhausted transaction wraps its last Aborted in one."""
    from google.api_core import exceptions as api_exceptions

    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 5:
        if isinstance(current, api_exceptions.GoogleAPIError | OSError):
            return current
        if type(current).__module__.startswith("google.auth"):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Firestore's failures as the ledger's: lost lease, contention, unavailable."""
    from google.api_core import exceptions as api_exceptions

    try:
        yield
    except (LedgerBusyError, LedgerUnavailableError):
        raise
    except Exception as error:
        cause = _google_error(error)
        if cause is None:
            raise
        if isinstance(cause, api_exceptions.FailedPrecondition | api_exceptions.NotFound):
            raise LeaseLostError(
                f"{what}: the event was taken over by another attempt or reset"
            ) from None
        if isinstance(cause, api_exceptions.Aborted):
            raise LedgerBusyError(f"{what}: too much contention on the event") from None
        name = type(cause).__name__
        if type(cause).__module__.startswith("google.auth"):
            raise LedgerUnavailableError(f"{what}: no usable Google credentials ({name})") from None
        raise LedgerUnavailableError(f"{what}: Firestore did not answer ({name})") from None


class FirestoreLedger(Ledger):
    def __init__(self, config: LedgerConfig) -> None:
        super().__init__(config)
        # Documents of events this instance finished: a duplicate here costs no read.
        self._finished_here: LocalCache[EventDocument] = LocalCache(
            config.cache_entries, config.cache_seconds
        )
        # The memory this instance last read or wrote per conversation: an unchanged memory
        # is not written again.
        self._memory_seen: LocalCache[dict[str, Any]] = LocalCache(
            config.cache_entries, config.cache_seconds
        )
        # Keys a thread of this instance holds, until when: a second thread is refused without
        # asking Firestore, and a holder that never finished stops blocking at its lease's end.
        self._busy: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        return clients.firestore_client(
            self.config.project, self.config.database, self.config.deadline
        )

    def _event_ref(self, key: str) -> Any:
        return self.client.collection(self.config.events_collection).document(
            codec.document_id(key)
        )

    def _memory_ref(self, org_id: str, conversation_id: str) -> Any:
        return self.client.collection(self.config.conversations_collection).document(
            codec.memory_id(org_id, conversation_id)
        )

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
        """Hold ``key`` (a transaction). ``use_cache=False`` skips this instance's cache of
        delivered events: for an event an operator replayed (reset elsewhere)."""
        if use_cache:
            finished = self._finished_here.get(key)
            if finished is not None:
                return Claim(self, finished.model_copy(deep=True), "completed", None)
        meta = EventMeta(
            event_type=event_type,
            org_id=org_id,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        with self._lock:
            now = time.monotonic()
            if self._busy.get(key, 0.0) > now:
                raise LedgerBusyError(f"event {key[:12]} is being delivered by this instance")
            self._busy[key] = now + self.config.lease_seconds
        try:
            with _translated("ledger claim"):
                claim = self._claim(key, meta)
        except BaseException:
            self._release(key)
            raise
        if not claim.held:
            self._release(key)
            self._remember_finished(claim)
        return claim

    def _claim(self, key: str, meta: EventMeta) -> Claim:
        from google.cloud import firestore

        client = self.client
        ref = self._event_ref(key)
        found: dict[str, Any] = {}  # the version read, for a claim that writes nothing

        @firestore.transactional
        def run(transaction: Any) -> Any:
            snapshot = ref.get(transaction=transaction)
            existing = codec.from_fields(snapshot.to_dict()) if snapshot.exists else None
            decision = decide(existing, key, meta, self.config, utcnow())
            if decision.write is None:
                transaction.set(ref, codec.to_fields(decision.document))
            elif decision.write:
                transaction.update(ref, codec.to_fields(decision.document, set(decision.write)))
            found["version"] = snapshot.update_time
            return decision

        transaction = client.transaction()
        decision = run(transaction)
        version = found["version"]
        if decision.write != frozenset() and transaction.write_results:
            version = transaction.write_results[0].update_time
        return Claim(self, decision.document, decision.state, version)

    def _commit(
        self,
        document: EventDocument,
        fields: frozenset[str],
        version: Any,
        memory: dict[str, Any] | None,
    ) -> Any:
        client = self.client
        ref = self._event_ref(document.key)
        option = client.write_option(last_update_time=version)
        values = codec.to_fields(document, set(fields))
        memory = self._memory_to_write(document, memory)
        with _translated("ledger write"):
            if memory is None:
                return ref.update(values, option=option).update_time
            assert document.org_id and document.conversation_id
            now = utcnow()
            batch = client.batch()
            batch.update(ref, values, option=option)
            batch.set(
                self._memory_ref(document.org_id, document.conversation_id),
                {
                    "orgId": document.org_id,
                    "conversationId": document.conversation_id,
                    "memory": memory,
                    "lastEventKey": document.key,
                    "updatedAt": now,
                    "expireAt": now + dt.timedelta(days=self.config.retention_days),
                },
                merge=True,
            )
            results = batch.commit()
        key = codec.memory_id(document.org_id, document.conversation_id)
        self._memory_seen.put(key, {**(self._memory_seen.get(key) or {}), **memory})
        return results[0].update_time

    def _memory_to_write(
        self, document: EventDocument, memory: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """``memory`` unless it is empty, or already stored as far as this instance knows."""
        if not memory or not document.org_id or not document.conversation_id:
            return None
        seen = self._memory_seen.get(codec.memory_id(document.org_id, document.conversation_id))
        if seen is not None and all(
            name in seen and seen[name] == value for name, value in memory.items()
        ):
            return None
        return memory

    def _finished(self, claim: Claim, written: bool) -> None:
        self._release(claim.key)
        if written:
            self._remember_finished(claim)

    def _remember_finished(self, claim: Claim) -> None:
        """Keep a delivered event's document for duplicates on this instance. Dead letters are
        not kept: an operator's replay resets them in Firestore, which this cache cannot see."""
        document = claim.document
        if document.state == "completed":
            self._finished_here.put(claim.key, document)

    def _release(self, key: str) -> None:
        with self._lock:
            self._busy.pop(key, None)

    def memory(self, org_id: str | int, conversation_id: str | int) -> dict[str, Any]:
        org, conversation = str(org_id), str(conversation_id)
        with _translated("ledger memory read"):
            snapshot = self._memory_ref(org, conversation).get()
        stored = (snapshot.to_dict() or {}).get("memory") if snapshot.exists else None
        stored = stored or {}
        self._memory_seen.put(codec.memory_id(org, conversation), dict(stored))
        return dict(stored)

    def trace(self, conversation_id_or_key: str) -> list[EventJourney]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        wanted = str(conversation_id_or_key)
        documents: dict[str, EventDocument] = {}
        with _translated("ledger trace"):
            snapshot = self._event_ref(wanted).get()
            if snapshot.exists:
                document = codec.from_fields(snapshot.to_dict())
                documents[document.key] = document
            query = (
                self.client.collection(self.config.events_collection)
                .where(filter=FieldFilter("conversationId", "==", wanted))
                .limit(TRACE_LIMIT)
            )
            for found in query.stream():
                document = codec.from_fields(found.to_dict())
                documents[document.key] = document
        ordered = sorted(documents.values(), key=lambda document: document.first_seen)
        return [EventJourney.from_document(document) for document in ordered]

    def reset(self, key: str) -> bool:
        from google.cloud import firestore

        ref = self._event_ref(key)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return False
            document = reset_document(codec.from_fields(snapshot.to_dict()))
            transaction.set(ref, codec.to_fields(document))
            return True

        with _translated("ledger reset"):
            done = run(self.client.transaction())
        self._finished_here.pop(key)
        return done
