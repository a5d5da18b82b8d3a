"""The process's Firestore client: created on first use, every call bounded, operations counted.

The client (which honours ``FIRESTORE_EMULATOR_HOST`` by itself) is made once per process and
reused by every invocation. Google's library gives each RPC its own retry policy, up to 60 s
(300 s for reads): far too long for a function that must answer transient in time when
Firestore is away. So every RPC of this client, those the transactions make included, gets one
policy: retry what is worth retrying, and give up after ``deadline`` seconds in all.

``operations`` counts what the ledger asks of Firestore: document reads and writes as Firestore
bills them (a missing document read counts as a read), per process. ``make bench`` and the tests
read it; counting costs a lock and an addition per RPC.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from shared.logger import get_logger

log = get_logger("ledger")

_clients: dict[tuple[str, str, str | None, float], Any] = {}
_lock = threading.Lock()


class Operations(BaseModel):
    """Firestore operations so far (``minus`` gives those of a stretch of work)."""

    reads: int = 0
    writes: int = 0
    queries: int = 0
    calls: int = 0

    def minus(self, before: Operations) -> Operations:
        return Operations(
            reads=self.reads - before.reads,
            writes=self.writes - before.writes,
            queries=self.queries - before.queries,
            calls=self.calls - before.calls,
        )


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = Operations()

    def add(self, reads: int = 0, writes: int = 0, queries: int = 0) -> None:
        with self._lock:
            value = self._value
            value.reads += reads
            value.writes += writes
            value.queries += queries
            value.calls += 1

    def snapshot(self) -> Operations:
        with self._lock:
            return self._value.model_copy()


operations = _Counter()


def firestore_client(project: str, database: str, deadline: float) -> Any:
    """The process-wide client for ``project``/``database`` (one per emulator host, deadline)."""
    key = (project, database, os.environ.get("FIRESTORE_EMULATOR_HOST"), deadline)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                from google.cloud import firestore

                client = firestore.Client(project=project, database=database)
                _bound(client, deadline)
                _clients[key] = client
    return client


def reset() -> None:
    """Drop the clients (tests that switch emulators; never needed in production)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _bound(client: Any, deadline: float) -> None:
    """Give every RPC of ``client`` one retry policy bounded by ``deadline``, and count it."""
    from google.api_core import exceptions as api_exceptions
    from google.api_core import gapic_v1
    from google.api_core import retry as api_retry
    from google.cloud.firestore_v1.services.firestore.transports.base import (
        DEFAULT_CLIENT_INFO,
    )

    def policy(*errors: type[Exception]) -> Any:
        return api_retry.Retry(
            predicate=api_retry.if_exception_type(*errors),
            initial=0.05,
            maximum=1.0,
            multiplier=2.0,
            timeout=deadline,
        )

    idempotent = policy(
        api_exceptions.ServiceUnavailable,
        api_exceptions.DeadlineExceeded,
        api_exceptions.InternalServerError,
        api_exceptions.ResourceExhausted,
    )
    # A commit that timed out may have been applied: retry only what surely was not.
    commit = policy(api_exceptions.ServiceUnavailable, api_exceptions.ResourceExhausted)
    try:
        transport = client._firestore_api._transport
        wrapped = transport._wrapped_methods
        names = {id(stub): name for name, stub in transport._stubs.items()}
    except AttributeError:  # a library version laid out differently: keep its own policies
        log.warning("Firestore client internals changed: the ledger's call deadline is not set")
        return
    for method in list(wrapped):
        name = names.get(id(method), "")
        retry = commit if name == "commit" else idempotent
        call = gapic_v1.method.wrap_method(
            method,
            default_retry=retry,
            default_timeout=deadline,
            client_info=DEFAULT_CLIENT_INFO,
        )
        wrapped[method] = _counted(name, call)


def _counted(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def counted(request: Any, *args: Any, **kwargs: Any) -> Any:
        if name == "commit":
            operations.add(writes=len(request.writes))
        elif name == "batch_get_documents":
            operations.add(reads=len(request.documents))
        elif name == "get_document":
            operations.add(reads=1)
        elif name in ("run_query", "run_aggregation_query"):
            operations.add(queries=1)
        else:
            operations.add()
        return call(request, *args, **kwargs)

    return counted
