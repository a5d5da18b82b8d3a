"""Several attempts at one event at once, and a holder that dies: exactly one proceeds, and a
dead holder's event is resumed once its lease expires."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.emulator import wait_until
from shared.errors import TransientError
from shared.ledger import FirestoreLedger, LedgerBusyError, LedgerConfig

pytestmark = pytest.mark.emulator
THREADS = 8


def _race(ledgers: list[FirestoreLedger], key: str) -> list[str]:
    """Every ledger claims ``key`` at the same moment, each on its own thread."""
    barrier = threading.Barrier(len(ledgers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(ledger: FirestoreLedger) -> None:
        barrier.wait()
        try:
            outcome = ledger.claim(key, event_type="conversation_push").state
        except LedgerBusyError:
            outcome = "busy"
        except TransientError as error:  # contention Firestore gave up on: also "come back"
            outcome = f"transient: {error.reason}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_threads_of_separate_instances_one_claim_wins(
    instance: Callable[..., FirestoreLedger],
) -> None:
    # GIVEN 8 instances (each its own local state; Firestore arbitrates), warmed up
    ledgers = [instance() for _ in range(THREADS)]
    ledgers[0].memory("warm", "up")
    # WHEN all claim the same event at once
    outcomes = _race(ledgers, "evt-race-threads")
    # THEN exactly one proceeds and the others are told to come back (busy, or another
    # transient answer when eight transactions on one document contend)
    assert outcomes.count("new") == 1, outcomes
    assert len(outcomes) == THREADS
    assert all(o == "busy" or o.startswith("transient") for o in outcomes if o != "new")


def test_threads_of_one_instance_one_claim_wins(
    instance: Callable[..., FirestoreLedger],
) -> None:
    # GIVEN one instance whose threads receive the same event at once
    ledger = instance()
    # WHEN they all claim it
    outcomes = _race([ledger] * THREADS, "evt-race-instance")
    # THEN exactly one proceeds
    assert outcomes == ["busy"] * (THREADS - 1) + ["new"]


def test_two_processes_one_claim_wins(
    ledger_config: Callable[..., LedgerConfig], spawn: Callable, tmp_path: Path
) -> None:
    # GIVEN two worker processes ready to claim the same event when told to
    go = tmp_path / "go"
    config = ledger_config()
    children = [spawn(config, "race", "evt-race-processes", str(go)) for _ in range(2)]
    for child in children:
        assert child.read() == {"ready": True}
    # WHEN both are told at once
    go.touch()
    outcomes = sorted(child.read()["outcome"] for child in children)
    # THEN exactly one proceeds, the other is told busy
    assert outcomes == ["busy", "new"]


def test_a_killed_holder_is_resumed_after_its_lease_expires(
    ledger_config: Callable[..., LedgerConfig], spawn: Callable
) -> None:
    # GIVEN a worker process (3 s function timeout, no grace) that finished step "person",
    # sent step "note" and holds the event
    config = ledger_config(function_timeout_seconds=3.0, lease_grace_seconds=0.0)
    child = spawn(config, "hold", "evt-killed")
    assert child.read() == {"holding": True, "state": "new"}
    # WHEN it is SIGKILLed mid-delivery
    child.process.send_signal(signal.SIGKILL)
    child.process.wait(timeout=10)
    ledger = FirestoreLedger(config)

    def claim():
        try:
            return ledger.claim("evt-killed")
        except LedgerBusyError:
            return None

    # THEN the event stays held until its lease expires, then the next claim resumes it
    first_try = claim()
    resumed = first_try or wait_until(claim, 30, "the dead holder's lease to expire")
    assert first_try is None, "the lease of a holder killed a moment ago was not live"
    assert (resumed.state, resumed.attempts) == ("resumed", 2)
    # AND it sees what the dead holder checkpointed: step 1's ids, step 2 in flight, the record
    steps = resumed.steps
    assert steps["person"].status == "done"
    assert steps["person"].saved == {"id": "p-1"}
    assert steps["note"].status == "in_flight"
    assert resumed.cached_record(900) == {
        "conversation": {"id": 7},
        "messages": ["hello", "bonjour"],
    }
    lines = "\n".join(ledger.trace("evt-killed")[0].render())
    assert "attempt 2 resumed (the previous attempt's lease expired)" in lines
