"""2,000 webhooks at 32 concurrent connections through the whole local pipeline.

Every webhook must be acknowledged, every conversation must reach the CRM under its own
Idempotency-Key (a redelivery may repeat a record, never under another key), and nothing may be
dead-lettered. Elapsed time, rates and peak memory are printed in the run's summary, not
asserted: they describe this machine, not the bridge.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from collections import Counter

import pytest

from devtools.pubsub_admin import PushSettings
from shared.events import event_key
from tests.faults.conftest import (
    Ledger,
    process_group_memory,
    push_body,
    running_stack,
    stack_config,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.emulator, pytest.mark.stack]

EVENTS = 2000
CONNECTIONS = 32
DRIFT_LATENCY_SECONDS = 0.05
DELIVERY_TIMEOUT_SECONDS = 300


class Sender(threading.Thread):
    """One persistent HTTP/1.1 connection posting bodies from a shared queue."""

    def __init__(self, port: int, bodies: queue.Queue, results: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.bodies = bodies
        self.results = results
        self.reconnects = 0
        self.connections = 0
        self.errors: list[str] = []
        self.connection: http.client.HTTPConnection | None = None

    def _post(self, payload: bytes) -> int:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connections += 1
        self.connection.request(
            "POST", "/", body=payload, headers={"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        response.read()
        if response.will_close:
            self.connection.close()
            self.connection = None
        return response.status

    def run(self) -> None:
        while True:
            try:
                key, payload = self.bodies.get_nowait()
            except queue.Empty:
                break
            try:
                status = self._post(payload)
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server may close an idle keep-alive connection just as we reuse it:
                # nothing was read, so send again on a fresh one (Drift would retry too).
                self.reconnects += 1
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                try:
                    status = self._post(payload)
                except OSError as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                    status = 0
            except OSError as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                status = 0
            self.results[key] = status
        if self.connection is not None:
            self.connection.close()


def _vmhwm(stack) -> str:
    parts = []
    for process in (stack.webhook, stack.worker):
        memory = process_group_memory(process.pid)
        detail = ", ".join(
            f"pid {pid}: {kib / 1024:.0f} MiB" for pid, kib in sorted(memory.items())
        )
        parts.append(f"{process.name} {sum(memory.values()) / 1024:.0f} MiB ({detail})")
    return "; ".join(parts)


@pytest.mark.timeout(DELIVERY_TIMEOUT_SECONDS + 180)
def test_2000_webhooks_at_32_connections_reach_the_crm_once_per_key(emulator, report):
    config = stack_config(
        emulator,
        push=PushSettings(
            ack_deadline_seconds=60,
            minimum_backoff_seconds=1,
            maximum_backoff_seconds=3,
            max_delivery_attempts=10,
        ),
        simulator_latency=DRIFT_LATENCY_SECONDS,  # added to every Drift call
        webhook_env={"THREADS": str(CONNECTIONS)},
        worker_env={
            "THREADS": "32",
            "DRIFT_RETRY_BUDGET_SECONDS": "30",
            "DRIFT_MAX_ATTEMPTS": "5",
            "DRIFT_READ_TIMEOUT_SECONDS": "10",
            "CRM_TIMEOUT_SECONDS": "10",
        },
    )
    with running_stack(config) as stack:
        ledger = Ledger(stack)
        ids = stack.simulator.generate_conversations(EVENTS)
        bodies: queue.Queue = queue.Queue()
        expected: dict[str, int] = {}
        for cid in ids:
            body = push_body(cid)
            key = event_key(body)
            expected[key] = cid
            ledger.sent[key] = body
            bodies.put((key, json.dumps(body).encode()))
        assert len(expected) == EVENTS

        # WHEN 2,000 webhooks arrive on 32 connections at once
        results: dict[str, int] = {}
        senders = [Sender(stack.webhook.port, bodies, results) for _ in range(CONNECTIONS)]
        started = time.monotonic()
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=DELIVERY_TIMEOUT_SECONDS)
            assert not sender.is_alive(), "a sender is still posting"
        acknowledged = time.monotonic() - started

        # THEN every one is acknowledged
        errors = [error for sender in senders for error in sender.errors]
        statuses = Counter(results.values())
        assert statuses == {200: EVENTS}, f"statuses {statuses}; errors {errors[:5]}"

        # AND every conversation reaches the CRM, under its own key
        def missing() -> set[str]:
            return set(expected) - set(ledger.delivered())

        wait_for(
            lambda: not missing(),
            DELIVERY_TIMEOUT_SECONDS,
            lambda: f"all {EVENTS} keys at the CRM; {len(missing())} missing",
        )
        delivered_in = time.monotonic() - started
        memory = _vmhwm(stack)

        delivered = ledger.delivered()
        records = [record for key in expected for record in delivered[key]]
        for record in records:
            assert expected[record.idempotency_key] == record.json["conversation"]["id"]
        by_conversation: dict[int, set[str]] = {}
        for record in stack.sink.received():
            by_conversation.setdefault(record.json["conversation"]["id"], set()).add(
                record.idempotency_key
            )
        assert all(len(keys) == 1 for keys in by_conversation.values())
        duplicates = len(records) - EVENTS
        # AND nothing was dead-lettered
        ledger.collect()
        assert ledger.dead == [], [d.reason for d in ledger.dead[:5]]

    reconnects = sum(sender.reconnects for sender in senders)
    connections = sum(sender.connections for sender in senders)
    report(
        f"load: {EVENTS} webhooks on {CONNECTIONS} connections acknowledged in "
        f"{acknowledged:.1f}s ({EVENTS / acknowledged:.0f}/s; {connections} TCP connections, "
        f"{reconnects} reconnects); "
        f"all in the CRM after {delivered_in:.1f}s ({EVENTS / delivered_in:.1f} events/s "
        f"end to end, Drift latency {DRIFT_LATENCY_SECONDS * 1000:.0f} ms per call); "
        f"{duplicates} duplicate records (same key); 0 dead-lettered"
    )
    report(f"load: peak memory (VmHWM) {memory}")
