"""The ledger's errors. Both families are transient: Pub/Sub brings the event back later."""

from __future__ import annotations

import datetime as dt

from shared.errors import TransientError


class LedgerBusyError(TransientError):
    """Another attempt holds the event's lease (another instance or thread is delivering it)."""

    def __init__(self, reason: str, lease_expires_at: dt.datetime | None = None) -> None:
        super().__init__(reason)
        self.lease_expires_at = lease_expires_at


class LeaseLostError(LedgerBusyError):
    """This attempt's lease ran out and another attempt took the event over (or an operator
    reset it): this attempt must stop writing."""


class DeferredError(TransientError):
    """The CRM asked for a wait (``Retry-After``, a daily quota) that has not passed yet: the
    redelivery is refused at once, without calling Drift or the CRM."""

    def __init__(self, reason: str, not_before: dt.datetime) -> None:
        super().__init__(reason)
        self.not_before = not_before


class LedgerUnavailableError(TransientError):
    """Firestore could not be reached or did not answer within the ledger's deadline."""


class ClaimNotHeldError(RuntimeError):
    """A duplicate's claim (completed, dead-lettered) or a finished one was asked to record
    progress: a programming error, not an event's fault."""
