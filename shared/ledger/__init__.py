"""The delivery ledger: every event's progress, shared by all instances of the worker.

In the spirit of the idempotency utility of AWS Lambda Powertools with its DynamoDB persistence
layer, on Cloud Firestore: per event key a document with its state (in progress under a lease
that expires a little after the function's timeout, completed, dead-lettered, waiting for a
retry), attempts, first and last seen, the last error, a hash of what was delivered, each step's
checkpoint with the values it saved, and the gathered record while the delivery is retried. Per
conversation, the values deliveries saved (the CRM's ids), so a later push updates what the
first created. ``LEDGER=memory`` keeps all this in the instance only (``shared.ledger.memory``
says what is then lost).

    ledger = open_ledger(settings)
    claim = ledger.claim(key, event_type=..., org_id=..., conversation_id=..., message_id=...)
    if claim.state in ("completed", "dead_lettered"):
        ...  # a duplicate: acknowledge
    record = claim.cached_record(settings.record_reuse_seconds) or gather(...)
    claim.save_record(record)
    claim.step_started("note"); ...; claim.step_done("note", {"id": "42"}, status=201)
    claim.complete(delivered_hash, memory={"person_id": "7"})  # or fail(reason) / dead_letter

``claim`` raises ``LedgerBusyError`` while another attempt holds the event and
``LedgerUnavailableError`` when Firestore cannot be reached in time: both are transient.
"""

from __future__ import annotations

from shared.config import WorkerSettings
from shared.ledger.base import Claim, EventMeta, Ledger
from shared.ledger.client import Operations, operations
from shared.ledger.config import LedgerConfig
from shared.ledger.exceptions import (
    ClaimNotHeldError,
    DeferredError,
    LeaseLostError,
    LedgerBusyError,
    LedgerUnavailableError,
)
from shared.ledger.firestore import FirestoreLedger
from shared.ledger.memory import MemoryLedger
from shared.ledger.models import (
    ClaimState,
    ConversationMemory,
    DocumentState,
    EventDocument,
    HistoryEntry,
    StepCheckpoint,
)
from shared.ledger.trace import EventJourney, JourneyStep

__all__ = [
    "Claim",
    "ClaimNotHeldError",
    "ClaimState",
    "ConversationMemory",
    "DeferredError",
    "DocumentState",
    "EventDocument",
    "EventJourney",
    "EventMeta",
    "FirestoreLedger",
    "HistoryEntry",
    "JourneyStep",
    "LeaseLostError",
    "Ledger",
    "LedgerBusyError",
    "LedgerConfig",
    "LedgerUnavailableError",
    "MemoryLedger",
    "Operations",
    "StepCheckpoint",
    "open_ledger",
    "operations",
]


def open_ledger(settings: WorkerSettings | LedgerConfig) -> Ledger:
    """The ledger ``settings`` ask for; Firestore's client is made on first use, not here."""
    config = (
        settings if isinstance(settings, LedgerConfig) else LedgerConfig.from_settings(settings)
    )
    if config.backend == "memory":
        return MemoryLedger(config)
    return FirestoreLedger(config)
