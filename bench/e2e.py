"""Section 4 (and the worker half of section 5): conversations per second, webhook to CRM.

A whole ``devtools.stack.LocalStack`` on the shared emulator (simulator at 50 ms per Drift call,
in-process CRM sink, a push subscription with fast retries) receives ``N`` distinct
``conversation_push`` webhooks over 32 connections. The figure is ``N`` divided by the time from
the first send until the sink holds ``N`` records. The functions' memory is read at the end,
before the stack stops.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.context import DRIFT_LATENCY_SECONDS, Context, sample_body
from bench.loadgen import run_load
from bench.procs import CpuMeter, group_memory
from bench.stats import Figure, summarize, throughput
from bench.webhook import add_memory_figures
from devtools.pubsub_admin import PushSettings
from devtools.stack import LocalStack, StackConfig
from shared.events import DriftEvent

SECTION = "e2e"
FAST_PUSH = PushSettings(
    ack_deadline_seconds=30,
    minimum_backoff_seconds=1,
    maximum_backoff_seconds=2,
    max_delivery_attempts=5,
)


def event_key(body: dict[str, Any]) -> str:
    """The Idempotency-Key the CRM will see for this webhook body (as the worker computes it)."""
    return DriftEvent.model_validate({k: v for k, v in body.items() if k != "token"}).key()


class _PushProbe(ThreadingHTTPServer):
    """A push endpoint that holds every delivery ``hold`` seconds and counts how many the
    emulator has in flight at once."""

    daemon_threads = True

    def __init__(self, hold: float) -> None:
        super().__init__(("127.0.0.1", 0), _PushProbeHandler)
        self.hold = hold
        self.cond = threading.Condition()
        self.in_flight = 0
        self.peak = 0
        self.done = 0


class _PushProbeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _PushProbe

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        probe = self.server
        with probe.cond:
            probe.in_flight += 1
            probe.peak = max(probe.peak, probe.in_flight)
        time.sleep(probe.hold)  # the simulated work of one event, not a readiness wait
        with probe.cond:
            probe.in_flight -= 1
            probe.done += 1
            probe.cond.notify_all()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def push_concurrency(ctx: Context, messages: int = 100, hold: float = 0.1) -> dict[str, Any]:
    """How many push deliveries the emulator keeps in flight to an endpoint that takes
    ``hold`` seconds per message (the worker's situation)."""
    probe = _PushProbe(hold)
    thread = threading.Thread(target=probe.serve_forever, name="push-probe", daemon=True)
    thread.start()
    topic = ctx.topic("bench-push-probe")
    dead = ctx.topic("bench-push-probe-dead")
    subscription = f"{topic}-push"
    try:
        url = f"http://127.0.0.1:{probe.server_address[1]}/"
        ctx.admin.create_push_subscription(topic, subscription, url, dead, FAST_PUSH)
        path = ctx.admin.topic(topic)
        futures = [ctx.admin.publisher.publish(path, b"{}") for _ in range(messages)]
        for future in futures:
            future.result(timeout=30)
        begin = time.perf_counter()
        with probe.cond:
            probe.cond.wait_for(lambda: probe.done >= messages, timeout=120)
            done, peak = probe.done, probe.peak
        elapsed = time.perf_counter() - begin
    finally:
        ctx.admin.delete_subscription(subscription)
        probe.shutdown()
        probe.server_close()
    return {
        "messages": messages,
        "hold_seconds": hold,
        "delivered": done,
        "seconds": elapsed,
        "peak_in_flight": peak,
        "deliveries_per_second": done / elapsed if elapsed else None,
    }


def measure(ctx: Context, count: int | None = None, timeout: float = 180.0) -> dict[str, Any]:
    count = count or ctx.scaled(500, 150)
    suffix = f"{int(time.time() * 1000) % 10**8}"
    config = StackConfig(
        project=ctx.project,
        topic=f"bench-e2e-{suffix}",
        dead_letter_topic=f"bench-e2e-dead-{suffix}",
        webhook_port=0,
        worker_port=0,
        emulator_host=ctx.emulator.host,
        push=FAST_PUSH,
        simulator_latency=DRIFT_LATENCY_SECONDS,
        log_dir=ctx.log_dir / "e2e",
    )
    stack = LocalStack(config)
    started_stack = time.perf_counter()
    stack.start()
    try:
        stack_seconds = time.perf_counter() - started_stack
        assert stack.simulator is not None and stack.sink is not None
        assert stack.webhook is not None and stack.worker is not None
        ids = stack.simulator.generate_conversations(count)
        bodies = [sample_body(conversation_id) for conversation_id in ids]
        payloads = [json.dumps(body).encode() for body in bodies]
        keys = [event_key(body) for body in bodies]
        memory_at_start = {
            "webhook": group_memory(stack.webhook.pid),
            "worker": group_memory(stack.worker.pid),
        }
        calls_before = stack.simulator.call_counts()
        groups = {
            "webhook": stack.webhook.pid,
            "worker": stack.worker.pid,
            "emulator": ctx.emulator.pid,
        }
        complete = True
        with CpuMeter(groups) as cpu:
            first_send = time.time()
            begin = time.perf_counter()
            load = run_load(stack.webhook.port, lambda i: payloads[i], count, 32)
            acked = time.perf_counter() - begin
            try:
                records = stack.sink.wait_for(count, timeout=timeout)
            except TimeoutError as error:
                complete = False
                ctx.notes.append(f"e2e: {error}")
                records = stack.sink.received()
            elapsed = time.perf_counter() - begin
        calls = stack.simulator.call_counts()
        memory_after = {
            "webhook": group_memory(stack.webhook.pid),
            "worker": group_memory(stack.worker.pid),
        }
    finally:
        stack.stop()

    sent_at = dict(zip(keys, load.sent_at, strict=True))
    latencies = [
        (record.time - sent_at[record.idempotency_key]) * 1000
        for record in records
        if record.idempotency_key in sent_at
    ]
    drift_calls = {k: v - calls_before.get(k, 0) for k, v in calls.items() if v - calls_before[k]}
    distinct = len({record.idempotency_key for record in records})
    results = {
        "conversations": count,
        "stack_start_seconds": stack_seconds,
        "complete": complete,
        "crm_records": len(records),
        "distinct_crm_records": distinct,
        "first_send_epoch": first_send,
        "webhooks_acked_seconds": acked,
        "seconds_to_all_records": elapsed,
        "conversations_per_second": throughput(distinct if complete else 0, elapsed),
        "webhook_load": load.summary(),
        "send_to_crm_ms": summarize(latencies) if latencies else {},
        "drift_calls": drift_calls,
        "drift_calls_per_conversation": sum(drift_calls.values()) / max(1, count),
        "cpu": cpu.report(count),
        "memory_at_start": memory_at_start,
        "memory_after_load": memory_after,
    }
    probe = push_concurrency(ctx, messages=ctx.scaled(100, 40))
    results["emulator_push_probe"] = probe
    ctx.results[SECTION] = results
    if load.failed:
        ctx.notes.append(f"e2e: {load.failed} webhooks not acknowledged with 200 ({load.statuses})")
    worker_cpu = results["cpu"]["worker"]
    ctx.add(
        Figure(
            SECTION,
            "conversations/s, webhook -> CRM",
            results["conversations_per_second"],
            "conv/s",
            note=f"N={count} at 32 conns, Drift 50 ms per call"
            + ("" if complete else " (INCOMPLETE)"),
        ),
        Figure(SECTION, "time to N records in the CRM", elapsed, "s"),
        Figure(
            SECTION,
            "emulator push deliveries in flight (probe)",
            probe["peak_in_flight"],
            "max",
            note=f"{probe['messages']} msgs to an endpoint holding each "
            f"{probe['hold_seconds'] * 1000:.0f} ms: {probe['deliveries_per_second']:.1f}/s",
        ),
        Figure(SECTION, "time to N webhooks acknowledged", acked, "s"),
        Figure(
            SECTION,
            "send -> CRM p50",
            results["send_to_crm_ms"].get("p50"),
            "ms",
        ),
        Figure(SECTION, "send -> CRM p99", results["send_to_crm_ms"].get("p99"), "ms"),
        Figure(
            SECTION,
            "Drift calls per conversation",
            results["drift_calls_per_conversation"],
            "calls",
            note=json.dumps(drift_calls),
        ),
        Figure(
            SECTION,
            "worker CPU per conversation",
            worker_cpu["cpu_ms_per_request"],
            "ms",
            note=f"{worker_cpu['cores_busy']:.2f} cores busy",
        ),
    )
    add_memory_figures(
        ctx,
        "worker",
        memory_at_start["worker"],
        memory_after["worker"],
        target=True,
        during="the e2e run",
    )
    add_memory_figures(
        ctx,
        "webhook (e2e)",
        memory_at_start["webhook"],
        memory_after["webhook"],
        target=True,
        during="the e2e run",
    )
    return results
