"""One error hierarchy for the whole bridge.

Every failure the worker can meet is either *transient* (raise: Pub/Sub redelivers with backoff)
or *permanent* (dead-letter the event with its reason, then acknowledge). Start-up problems are
configuration errors. Callers decide by family, never by concrete class.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""

    def __init__(self, reason: str, *, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail

    @property
    def full_reason(self) -> str:
        """``reason`` with ``detail`` (for the dead-letter message only, never a log line:
        ``detail`` may hold what a CRM echoed back, personal data included)."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class ConfigError(BridgeError):
    """A setting is missing or invalid; the message names it on one line."""


class TransientError(BridgeError):
    """Worth retrying: rate limits, 5xx, timeouts, connection errors, publish failures.
    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one (a wait it
    requires); ``backoff`` a wait the recipe suggests for this kind of answer (a hint)."""

    def __init__(
        self,
        reason: str,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
        backoff: float | None = None,
    ) -> None:
        super().__init__(reason, detail=detail)
        self.retry_after = retry_after
        self.backoff = backoff


class PermanentError(BridgeError):
    """Retrying cannot help: the event is dead-lettered with ``reason`` and acknowledged."""


class PublishError(TransientError):
    """Pub/Sub did not confirm a publish in time."""


class SecretAccessError(TransientError):
    """Secret Manager could not be read (it may answer on a later attempt)."""


class DriftTransientError(TransientError):
    """Drift answered 429/5xx, timed out, or could not be reached."""


class DriftAuthError(PermanentError):
    """Drift refused the access token even after re-reading it (403)."""


class DriftNotFoundError(PermanentError):
    """Drift has no such conversation/contact (404)."""


class DriftRequestError(PermanentError):
    """Drift rejected the request itself (another 4xx, or a body that does not parse)."""


class CrmTransientError(TransientError):
    """The CRM answered 408/409/429/5xx, timed out, or could not be reached."""


class CrmRejectedError(PermanentError):
    """The CRM answered another 4xx: the record itself is refused."""


class DriftBudgetExceededError(DriftTransientError):
    """The event's time budget for Drift calls ran out; a later delivery tries again."""


class InvalidEventError(PermanentError):
    """The Pub/Sub message is not a Drift event (not base64, not JSON, no type...)."""


class EventTooOldError(PermanentError):
    """The event has been retried for longer than its maximum age."""
