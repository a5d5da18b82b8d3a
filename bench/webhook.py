"""Section 2 (and the webhook half of section 5): acknowledgement latency and throughput.

The webhook and a no-op function (the ceiling) each run alone under functions-framework, as
``devtools.stack.FunctionProcess`` starts them, and take the same load: the seed's sample
``conversation_push`` with the right token, first over one keep-alive connection, then over 32.
Their process groups' memory is read right after the load (VmHWM: the peak since start).
"""

from __future__ import annotations

import json
from typing import Any

from bench import publish
from bench.context import BENCH_DIR, Context, sample_body
from bench.loadgen import LoadResult, run_load
from bench.procs import CpuMeter, function_process, group_memory, start_and_wait
from bench.stats import Figure, at_least, at_most, ratio
from shared import ingress, pubsub

SECTION = "webhook"
MEMORY = "memory"
MEMORY_LIMIT_MIB = 150.0
P50_FACTOR = 1.5  # webhook p50@1 within 1.5x of (no-op p50 + publish p50)
THROUGHPUT_SHARE = 0.60  # webhook throughput@32 at least 60% of the no-op's
CPU_LIMIT_MS = 1.5  # the webhook process's CPU per acknowledged event


def _load_function(
    ctx: Context, name: str, target: str, env: dict[str, str], source: Any = None
) -> dict[str, Any]:
    process = function_process(name, target, env, ctx.log_dir, source=source)
    body = json.dumps(sample_body()).encode()
    try:
        ready_seconds = start_and_wait(process)
        memory_at_start = group_memory(process.pid)
        # Warm up: the webhook creates its Pub/Sub client on the first POST; the emulator's JIT.
        run_load(process.port, body, ctx.scaled(200, 50), 1)
        run_load(process.port, body, ctx.scaled(600, 200), 32)
        groups = {name: process.pid, "emulator": ctx.emulator.pid}
        with CpuMeter(groups) as cpu1:
            one: LoadResult = run_load(process.port, body, ctx.scaled(1000, 300), 1)
        with CpuMeter(groups) as cpu32:
            many: LoadResult = run_load(process.port, body, ctx.scaled(4000, 1000), 32)
        memory_after = group_memory(process.pid)
    finally:
        process.stop()
    return {
        "process_ready_seconds": ready_seconds,
        "c1": {**one.summary(), "cpu": cpu1.report(one.requests)},
        "c32": {**many.summary(), "cpu": cpu32.report(many.requests)},
        "memory_at_start": memory_at_start,
        "memory_after_load": memory_after,
    }


def _warm_emulator(ctx: Context, topic: str) -> None:
    """The no-op never touches the emulator, so whichever publishing function ran first used to
    meet an emulator gone cold (measured: the first of the two webhook variants was 1 ms slower
    at p50 whichever it was). Publish the same load from here first, so both start warm."""
    from concurrent.futures import ThreadPoolExecutor

    message = ingress.build_message(sample_body())

    def one(_: int) -> str:
        return pubsub.publish(ctx.project, topic, message.data, message.attributes, 10.0)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(ctx.scaled(3000, 500))))
    for _ in range(ctx.scaled(500, 100)):
        one(0)


def measure(ctx: Context) -> dict[str, Any]:
    publish_p50 = publish.publish_p50(ctx)
    noop = _load_function(ctx, "noop", "noop", {}, source=BENCH_DIR / "noop" / "main.py")
    topic = ctx.topic("bench-webhook")
    _warm_emulator(ctx, topic)
    webhook = _load_function(ctx, "webhook", "webhook", ctx.webhook_env(topic))
    direct = _load_function(
        ctx,
        "webhook-previous",
        "webhook",
        ctx.webhook_env(topic),
        source=BENCH_DIR / "experiments" / "previous_publish.py",
    )
    results = {
        "noop": noop,
        "webhook": webhook,
        "experiment_previous_publish": direct,
        "publish_p50_ms": publish_p50,
        "topic": topic,
    }
    ctx.results[SECTION] = results

    runs = (("noop", noop), ("webhook", webhook), ("webhook-previous", direct))
    for name, run in runs:
        for key, conns in (("c1", 1), ("c32", 32)):
            if run[key]["failed"]:
                ctx.notes.append(
                    f"{name} at {conns} connection(s): {run[key]['failed']} of "
                    f"{run[key]['requests']} requests not 200 ({run[key]['statuses']}, "
                    f"{run[key]['connection_errors']} connection errors)"
                )

    w1, w32 = webhook["c1"], webhook["c32"]
    n1, n32 = noop["c1"], noop["c32"]
    d1, d32 = direct["c1"], direct["c32"]
    p50_limit = P50_FACTOR * (n1["latency_ms"]["p50"] + publish_p50)
    share = ratio(w32["requests_per_second"], n32["requests_per_second"])
    c1 = f"{w1['requests']} sequential, keep-alive"
    c32 = f"{w32['requests']} over 32 conns"
    ctx.add(
        Figure(SECTION, "no-op p50 @1 conn", n1["latency_ms"]["p50"], "ms", note=c1),
        Figure(SECTION, "no-op p99 @1 conn", n1["latency_ms"]["p99"], "ms", note=c1),
        Figure(SECTION, "no-op p50 @32 conns", n32["latency_ms"]["p50"], "ms", note=c32),
        Figure(SECTION, "no-op p99 @32 conns", n32["latency_ms"]["p99"], "ms", note=c32),
        Figure(SECTION, "no-op throughput @32 conns", n32["requests_per_second"], "req/s"),
        at_most(
            SECTION,
            "webhook p50 @1 conn",
            w1["latency_ms"]["p50"],
            "ms",
            p50_limit,
            note=f"1.5 x (no-op p50 + publish p50 {publish_p50:.2f} ms)",
        ),
        Figure(SECTION, "webhook p99 @1 conn", w1["latency_ms"]["p99"], "ms", note=c1),
        Figure(SECTION, "webhook p50 @32 conns", w32["latency_ms"]["p50"], "ms", note=c32),
        Figure(SECTION, "webhook p99 @32 conns", w32["latency_ms"]["p99"], "ms", note=c32),
        at_least(
            SECTION,
            "webhook throughput @32 conns",
            w32["requests_per_second"],
            "req/s",
            THROUGHPUT_SHARE * n32["requests_per_second"],
            note="60% of the no-op's",
        ),
        Figure(SECTION, "webhook/no-op throughput @32", share * 100, "%"),
    )
    experiment = "previous release: webhook, publish via the generated client"
    ctx.add(
        Figure(SECTION, f"{experiment} p50 @1", d1["latency_ms"]["p50"], "ms", note=c1),
        Figure(SECTION, f"{experiment} p99 @1", d1["latency_ms"]["p99"], "ms", note=c1),
        Figure(SECTION, f"{experiment} p50 @32", d32["latency_ms"]["p50"], "ms", note=c32),
        Figure(
            SECTION,
            f"{experiment} throughput @32",
            d32["requests_per_second"],
            "req/s",
            note=f"{ratio(d32['requests_per_second'], n32['requests_per_second']) * 100:.0f}% "
            "of the no-op's (bench/experiments/previous_publish.py)",
        ),
    )
    for name, run in runs:
        cpu = run["c32"]["cpu"]
        for part, label in (
            (name, "function"),
            ("emulator", "emulator"),
            ("load_generator", "load gen"),
        ):
            figure = Figure if (name, label) != ("webhook", "function") else _cpu_target
            ctx.add(
                figure(
                    SECTION,
                    f"{name} CPU per request @32: {label}",
                    cpu[part]["cpu_ms_per_request"],
                    "ms",
                    note=f"{cpu[part]['cores_busy']:.2f} cores busy",
                )
            )
    for name, run in runs:
        memory = run["memory_after_load"]
        add_memory_figures(ctx, name, run["memory_at_start"], memory, target=name == "webhook")
    return results


def _cpu_target(section: str, name: str, value: Any, unit: str, note: str = "") -> Figure:
    """The webhook's own CPU per acknowledged event: what an instance costs."""
    return at_most(section, name, value, unit, CPU_LIMIT_MS, note=note)


def add_memory_figures(
    ctx: Context,
    name: str,
    at_start: dict[str, Any],
    after_load: dict[str, Any],
    target: bool,
    during: str = "webhook load runs",
) -> None:
    processes = len(after_load["pids"])
    note = f"sum over {processes} processes (gunicorn master + worker), during {during}"
    if target:
        peak = at_most(
            MEMORY, f"{name} peak VmHWM", after_load["hwm_mib"], "MiB", MEMORY_LIMIT_MIB, note=note
        )
    else:
        peak = Figure(MEMORY, f"{name} peak VmHWM", after_load["hwm_mib"], "MiB", note=note)
    ctx.add(
        peak,
        Figure(MEMORY, f"{name} RSS after load (steady)", after_load["rss_mib"], "MiB", note=note),
        Figure(MEMORY, f"{name} PSS after load", after_load["pss_mib"], "MiB", note=note),
        Figure(MEMORY, f"{name} RSS idle after start", at_start["rss_mib"], "MiB"),
    )
