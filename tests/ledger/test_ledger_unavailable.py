"""Firestore away: every ledger call answers LedgerUnavailableError (transient) within its
deadline, and nothing the ledger already stored is lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from devtools.emulator import free_port, port_is_free, wait_until
from shared.errors import TransientError
from shared.ledger import FirestoreLedger, LedgerBusyError, LedgerUnavailableError

pytestmark = pytest.mark.emulator
DEADLINE = 1.0


@pytest.fixture
def closed_port() -> str:
    port = free_port()
    assert port_is_free(port)
    return f"127.0.0.1:{port}"


def test_every_call_answers_unavailable_quickly(
    instance: Callable[..., FirestoreLedger],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: str,
) -> None:
    # GIVEN a ledger with a 1 s deadline (connected to the emulator once: warm), then pointed
    # at a port where nothing listens
    ledger = instance(deadline_seconds=DEADLINE)
    ledger.memory("warm", "up")
    calls = {
        "claim": lambda: ledger.claim("evt-away", event_type="conversation_push"),
        "memory": lambda: ledger.memory(1, 2),
        "trace": lambda: ledger.trace("evt-away"),
        "reset": lambda: ledger.reset("evt-away"),
    }
    with monkeypatch.context() as away:
        away.setenv("FIRESTORE_EMULATOR_HOST", closed_port)
        for name, call in calls.items():
            # WHEN the call is made
            started = time.monotonic()
            with pytest.raises(LedgerUnavailableError) as raised:
                call()
            elapsed = time.monotonic() - started
            # THEN it fails as transient (Pub/Sub redelivers), within about the deadline
            assert isinstance(raised.value, TransientError), name
            assert "Firestore did not answer" in raised.value.reason, name
            assert elapsed < DEADLINE + 2.0, f"{name} took {elapsed:.1f}s"
    # AND once Firestore is back, the redelivery is claimed (the failed claim held nothing)
    assert ledger.claim("evt-away").state == "new"


def test_firestore_lost_mid_delivery_loses_nothing(
    instance: Callable[..., FirestoreLedger],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: str,
) -> None:
    # GIVEN an attempt that claimed an event and finished step 1 while Firestore was there
    config = {"function_timeout_seconds": 2.0, "lease_grace_seconds": 0.0}
    holder = instance(deadline_seconds=DEADLINE, **config)
    holder.memory("warm", "up")
    claim = holder.claim("evt-lost", event_type="conversation_push")
    claim.step_started("person")
    claim.step_done("person", {"id": "p-1"}, status=201)
    # WHEN Firestore goes away before step 2 starts
    with monkeypatch.context() as away:
        away.setenv("FIRESTORE_EMULATOR_HOST", closed_port)
        # THEN the step does not start: the attempt answers transient
        with pytest.raises(LedgerUnavailableError):
            claim.step_started("note")
        # AND completing fails the same way, rather than pretending
        with pytest.raises(LedgerUnavailableError):
            claim.complete("hash", None)
    # WHEN Firestore is back and the lease has expired
    other = instance(**config)

    def resume():
        try:
            return other.claim("evt-lost")
        except LedgerBusyError:
            return None

    resumed = wait_until(resume, 30, "the lost attempt's lease to expire")
    # THEN the event was neither lost nor marked delivered: it resumes where it was durable
    assert resumed.state == "resumed"
    assert {name: step.status for name, step in resumed.steps.items()} == {"person": "in_flight"}
