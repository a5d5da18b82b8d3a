"""The ledger's settings, taken from ``WorkerSettings`` (or built directly by tests and tools)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.config import LOCAL_PROJECT, WorkerSettings

KiB = 1024
LEASE_GRACE_SECONDS = 30.0  # a lease outlives the function's timeout by this much (at most)


class LedgerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: Literal["firestore", "memory"] = "firestore"
    project: str = LOCAL_PROJECT
    database: str = "(default)"
    collection_prefix: str = Field(default="ledger_", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    retention_days: int = Field(default=30, ge=1, le=3650)
    function_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # None: 30 s, or half the function's timeout when that is shorter (a short timeout is a short
    # wait for the event a crashed instance held).
    lease_grace_seconds: float | None = Field(default=None, ge=0)
    # Bound of every Firestore call, retries included; None: a sixth of the function's timeout,
    # between 1 and 10 seconds, so that a ledger outage answers transient well within it.
    deadline_seconds: float | None = Field(default=None, gt=0, le=60)
    # Above this estimated document size the gathered record is not stored (Firestore's limit
    # is 1 MiB per document, field names included).
    document_limit_bytes: int = Field(default=900 * KiB, gt=0, le=1024 * KiB)
    cache_entries: int = Field(default=10_000, ge=0)
    cache_seconds: float = Field(default=600.0, ge=0)

    @property
    def lease_seconds(self) -> float:
        grace = self.lease_grace_seconds
        if grace is None:
            grace = min(LEASE_GRACE_SECONDS, self.function_timeout_seconds / 2)
        return self.function_timeout_seconds + grace

    @property
    def deadline(self) -> float:
        if self.deadline_seconds is not None:
            return self.deadline_seconds
        return min(10.0, max(1.0, self.function_timeout_seconds / 6))

    @property
    def events_collection(self) -> str:
        return f"{self.collection_prefix}events"

    @property
    def conversations_collection(self) -> str:
        return f"{self.collection_prefix}conversations"

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> LedgerConfig:
        return cls(
            backend=settings.ledger,
            project=settings.project,
            database=settings.firestore_database,
            collection_prefix=settings.ledger_collection_prefix,
            retention_days=settings.ledger_retention_days,
            function_timeout_seconds=settings.function_timeout_seconds,
        )
