"""Section 1: the bare Pub/Sub publish round trip against the emulator, in this process.

Four ways to publish the webhook's own message, each waiting for the server's confirmation:

* ``shared.pubsub.publish``: exactly what the webhook calls (the Publish RPC on the calling
  thread, a bounded retry and deadline per call);
* a raw ``PublisherClient`` with one-message batches (``max_messages=1``, no timer): the
  webhook's previous path;
* a raw ``PublisherClient`` with the library's default batching, whose commit timer holds each
  lone message up to ``max_latency`` (10 ms) waiting for company: why shared/pubsub.py tunes it;
* the Publish RPC called directly (``client.api.publish``) on a raw client, with the same
  retry and deadline: no batch object, no commit thread per message (what shared/pubsub.py
  does).

Latency: the variants are interleaved (one publish of each in turn), so that the emulator's
warm-up and background work affect them alike. CPU: each variant then runs alone for a block,
and the CPU time of this process (the client, all its threads) and of the emulator is divided
by the number of publishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.context import Context, sample_body
from bench.procs import group_cpu_seconds
from bench.stats import Figure, summarize
from shared import ingress, pubsub

SECTION = "publish"
LABELS = {
    "shared_pubsub_publish": "shared.pubsub.publish (webhook's path)",
    "raw_max_messages_1": "raw client max_messages=1",
    "raw_default_batching": "raw client DEFAULT batching",
    "direct_rpc": "generated client's Publish RPC, proto-plus (the previous path)",
}


def direct_publish(client: Any, path: str, data: bytes, attributes: dict[str, str], timeout: float):
    """One synchronous Publish RPC through the generated client (proto-plus messages, an
    api_core retry): what ``shared.pubsub.publish`` did before it called the RPC with plain
    protobuf messages on the same channel. Returns the id."""
    from google.api_core import exceptions as api_exceptions
    from google.api_core import retry as api_retry
    from google.pubsub_v1 import types as gapic_types
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisher

    retry = api_retry.Retry(
        predicate=api_retry.if_exception_type(
            api_exceptions.Aborted,
            api_exceptions.DeadlineExceeded,
            api_exceptions.ServiceUnavailable,
        ),
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )
    response = GapicPublisher.publish(
        client,
        topic=path,
        messages=[gapic_types.PubsubMessage(data=data, attributes=attributes)],
        retry=retry,
        timeout=timeout,
    )
    return response.message_ids[0]


def measure(ctx: Context, count: int | None = None, warmup: int = 200) -> dict[str, Any]:
    from google.cloud import pubsub_v1

    count = count or ctx.scaled(500, 150)
    cpu_count = ctx.scaled(300, 100)
    topic = ctx.topic("bench-publish")
    message = ingress.build_message(sample_body())
    path = pubsub.topic_path(ctx.project, topic)
    tuned = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=float("inf"))
    )
    default = pubsub_v1.PublisherClient()
    variants: dict[str, Callable[[], object]] = {
        "shared_pubsub_publish": lambda: pubsub.publish(
            ctx.project, topic, message.data, message.attributes, 10.0
        ),
        "raw_max_messages_1": lambda: tuned.publish(
            path, message.data, **message.attributes
        ).result(30),
        "raw_default_batching": lambda: default.publish(
            path, message.data, **message.attributes
        ).result(30),
        "direct_rpc": lambda: direct_publish(tuned, path, message.data, message.attributes, 10.0),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, dict[str, float]] = {}
    try:
        for _ in range(warmup):
            for publish_once in variants.values():
                publish_once()
        for _ in range(count):
            for name, publish_once in variants.items():
                begin = time.perf_counter()
                publish_once()
                samples[name].append((time.perf_counter() - begin) * 1000)
        for name, publish_once in variants.items():
            client_before = time.process_time()
            emulator_before = group_cpu_seconds(ctx.emulator.pid)
            for _ in range(cpu_count):
                publish_once()
            cpu[name] = {
                "client_cpu_ms": (time.process_time() - client_before) * 1000 / cpu_count,
                "emulator_cpu_ms": (group_cpu_seconds(ctx.emulator.pid) - emulator_before)
                * 1000
                / cpu_count,
            }
        settings = default.batch_settings
    finally:
        tuned.stop()
        default.stop()
    results: dict[str, Any] = {
        "count": count,
        "cpu_count": cpu_count,
        "topic": topic,
        "message_bytes": len(message.data),
        "default_batch_settings": {
            "max_messages": settings.max_messages,
            "max_latency_s": settings.max_latency,
            "max_bytes": settings.max_bytes,
        },
    }
    for name in variants:
        results[name] = {"label": LABELS[name], **summarize(samples[name]), **cpu[name]}
    ctx.results[SECTION] = results

    note = f"n={count} sequential, interleaved"
    for name in variants:
        entry = results[name]
        ctx.add(
            Figure(SECTION, f"{LABELS[name]} p50", entry["p50"], "ms", note=note),
            Figure(SECTION, f"{LABELS[name]} p99", entry["p99"], "ms", note=note),
            Figure(SECTION, f"{LABELS[name]} client CPU", entry["client_cpu_ms"], "ms/msg"),
            Figure(SECTION, f"{LABELS[name]} emulator CPU", entry["emulator_cpu_ms"], "ms/msg"),
        )
    ctx.add(
        Figure(
            SECTION,
            "default batching delay (p50 default - p50 max_messages=1)",
            results["raw_default_batching"]["p50"] - results["raw_max_messages_1"]["p50"],
            "ms",
            note=f"max_latency={settings.max_latency}s",
        )
    )
    return results


def publish_p50(ctx: Context) -> float:
    """The webhook's publish p50, measuring a short run when section 1 was not selected."""
    if SECTION not in ctx.results:
        measure(ctx, count=200, warmup=100)
    return float(ctx.results[SECTION]["shared_pubsub_publish"]["p50"])
