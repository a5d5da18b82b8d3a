"""Section ledger: what the delivery ledger adds to each event, against the Firestore emulator.

Each event is one one-step delivery the worker's way, through ``shared.ledger`` only (no Drift,
no CRM): claim, read the conversation's memory, look for a reusable record, keep the gathered
record, mark the step started, record it done, complete. Its wall time is the latency the ledger
adds to the event; ``shared.ledger.operations`` counts the Firestore reads and writes it made
(as billed: one per document read or written). Also measured: a duplicate seen by the instance
that delivered it (its local cache) and by another instance, and a delivery that saves new
conversation memory (one more document written).

The emulator is started for the section and stopped after it. The emulator answers in
milliseconds on loopback; Firestore in the function's region adds its network round trips
(claim: begin, read, commit; the others: one each).

    python -m bench.ledger [--quick]       # alone, printing the results as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from bench.stats import Figure, at_most, summarize
from devtools.emulator import FirestoreEmulator
from shared.ledger import FirestoreLedger, LedgerConfig, operations
from shared.ledger import client as ledger_client

SECTION = "ledger"
PROJECT = "drift-bridge-bench"
WRITES_TARGET, READS_TARGET = 3, 2
WARMUP = 20


def _record(conversation_id: int) -> dict[str, Any]:
    """A gathered record the size of a short conversation (20 messages)."""
    return {
        "key": f"bench-{conversation_id}",
        "conversation": {"id": conversation_id, "status": "closed", "inboxId": 1},
        "contact": {"id": 9, "email": "ada@example.com", "name": "Ada Lovelace"},
        "messages": [
            {"author": "contact" if i % 2 else "agent", "body": f"message {i} " * 12}
            for i in range(20)
        ],
    }


def _deliver(ledger: FirestoreLedger, key: str, conversation_id: int, memory: bool) -> dict:
    """One one-step delivery through the ledger; returns the time of each call in ms."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    claim = ledger.claim(
        key, event_type="conversation_push", org_id=1, conversation_id=conversation_id
    )
    times["claim"] = time.perf_counter()
    ledger.memory(1, conversation_id)
    times["memory"] = time.perf_counter()
    if claim.cached_record(900) is None:
        claim.save_record(_record(conversation_id))
    claim.step_started("post")
    times["step_started"] = time.perf_counter()
    claim.step_done("post", {"id": f"crm-{conversation_id}"} if memory else {}, status=200)
    claim.complete("0" * 64, {"person_id": f"p-{conversation_id}"} if memory else None)
    times["complete"] = time.perf_counter()
    out, previous = {}, started
    for name, at in times.items():
        out[name] = (at - previous) * 1000
        previous = at
    out["total"] = (times["complete"] - started) * 1000
    return out


def run(count: int) -> dict[str, Any]:
    """Start an emulator, deliver ``count`` events (after a warm-up), stop it."""
    emulator = FirestoreEmulator(project=PROJECT)
    emulator.start()
    try:
        with emulator.environment():
            return _measure(count)
    finally:
        ledger_client.reset()
        emulator.stop()


def _measure(count: int) -> dict[str, Any]:
    config = LedgerConfig(project=PROJECT, collection_prefix=f"bench{uuid.uuid4().hex[:6]}_")
    ledger, other = FirestoreLedger(config), FirestoreLedger(config)
    for index in range(WARMUP):
        _deliver(ledger, f"warm-{index}", 10_000 + index, memory=False)
    samples: dict[str, list[float]] = {}
    before = operations.snapshot()
    for index in range(count):
        for name, value in _deliver(ledger, f"evt-{index}", index, memory=False).items():
            samples.setdefault(name, []).append(value)
    plain = operations.snapshot().minus(before)

    before = operations.snapshot()
    memory_ms = [
        _deliver(ledger, f"mem-{index}", 20_000 + index, memory=True)["total"]
        for index in range(max(count // 4, 10))
    ]
    with_memory = operations.snapshot().minus(before)
    memory_events = len(memory_ms)

    duplicates = max(count // 4, 10)
    here_ms, there_ms = [], []
    before = operations.snapshot()
    for index in range(duplicates):
        started = time.perf_counter()
        assert ledger.claim(f"evt-{index}").state == "completed"
        here_ms.append((time.perf_counter() - started) * 1000)
    here = operations.snapshot().minus(before)
    before = operations.snapshot()
    for index in range(duplicates):
        started = time.perf_counter()
        assert other.claim(f"evt-{index}").state == "completed"
        there_ms.append((time.perf_counter() - started) * 1000)
    there = operations.snapshot().minus(before)
    return {
        "events": count,
        "latency_ms": {name: summarize(values) for name, values in samples.items()},
        "per_event": {"reads": plain.reads / count, "writes": plain.writes / count},
        "with_new_memory": {
            "events": memory_events,
            "latency_ms": summarize(memory_ms),
            "reads": with_memory.reads / memory_events,
            "writes": with_memory.writes / memory_events,
        },
        "duplicate_same_instance": {
            "latency_ms": summarize(here_ms),
            "reads": here.reads / duplicates,
            "writes": here.writes / duplicates,
        },
        "duplicate_other_instance": {
            "latency_ms": summarize(there_ms),
            "reads": there.reads / duplicates,
            "writes": there.writes / duplicates,
        },
    }


def figures(results: dict[str, Any]) -> list[Figure]:
    total = results["latency_ms"]["total"]
    per_event = results["per_event"]
    memory = results["with_new_memory"]
    there = results["duplicate_other_instance"]
    return [
        Figure(SECTION, "added latency per event p50", total["p50"], "ms", note="emulator"),
        Figure(SECTION, "added latency per event p99", total["p99"], "ms", note="emulator"),
        at_most(
            SECTION,
            "Firestore writes per one-step delivery",
            per_event["writes"],
            "writes",
            WRITES_TARGET,
        ),
        at_most(
            SECTION,
            "Firestore reads per one-step delivery",
            per_event["reads"],
            "reads",
            READS_TARGET,
        ),
        Figure(
            SECTION,
            "writes per delivery saving new memory",
            memory["writes"],
            "writes",
            note="the conversation's memory document is one more write",
        ),
        Figure(
            SECTION,
            "duplicate on another instance",
            there["reads"],
            "reads",
            note=f"p50 {there['latency_ms']['p50']:.1f} ms; 0 reads on the same instance",
        ),
    ]


def measure(ctx: Any, count: int | None = None) -> dict[str, Any]:
    results = run(count or ctx.scaled(300, 60))
    ctx.results[SECTION] = results
    ctx.add(*figures(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="60 events instead of 300")
    args = parser.parse_args(argv)
    results = run(60 if args.quick else 300)
    print(json.dumps(results, indent=2))
    for figure in figures(results):
        print(f"{figure.name}: {figure.value:.2f} {figure.unit} {figure.target or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
