"""Section 7: where the webhook's request path spends its time (pyinstrument).

The webhook runs in this process through functions-framework's ``create_app(...).test_client()``
with the same environment as under the stack, publishing to an emulator topic. After a warm-up,
``N`` sequential requests are profiled (wall clock: waiting for Pub/Sub counts). The HTML goes to
bench/profile-webhook.html (gitignored); the report keeps the top frames by self time, the time
per application function (libraries it calls included) and the split inside ``webhook()``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.context import BENCH_DIR, ROOT, Context, patched_env, sample_body
from bench.stats import (
    Figure,
    child_breakdown,
    summarize,
    time_by_application_function,
    top_self_frames,
)
from shared import config

SECTION = "profile"
HTML_PATH = BENCH_DIR / "profile-webhook.html"


def measure(ctx: Context, requests: int | None = None, html_path: Path = HTML_PATH):
    from functions_framework import create_app
    from pyinstrument import Profiler

    requests = requests or ctx.scaled(500, 200)
    topic = ctx.topic("bench-profile")
    body = json.dumps(sample_body()).encode()
    with patched_env(**ctx.webhook_env(topic)):
        config.load.cache_clear()
        try:
            app = create_app("webhook", str(ROOT / "functions" / "webhook" / "main.py"), "http")
            client = app.test_client()

            def post() -> int:
                response = client.post("/", data=body, content_type="application/json")
                return response.status_code

            for _ in range(50):
                post()
            unprofiled = []
            for _ in range(100):
                begin = time.perf_counter()
                post()
                unprofiled.append((time.perf_counter() - begin) * 1000)
            profiler = Profiler(interval=0.0005)
            statuses: dict[int, int] = {}
            begin = time.perf_counter()
            profiler.start()
            for _ in range(requests):
                status = post()
                statuses[status] = statuses.get(status, 0) + 1
            session = profiler.stop()
            wall = time.perf_counter() - begin
        finally:
            config.load.cache_clear()
    html_path.write_text(profiler.output_html(), encoding="utf-8")
    root = session.root_frame()
    app_root = str(ROOT)
    top = top_self_frames(root, app_root, 10) if root is not None else []
    by_function = time_by_application_function(root, app_root)[:12] if root is not None else []
    inside = child_breakdown(root, "webhook", "functions/webhook/main.py") if root else {}
    per_request = {
        name: seconds * 1000 / requests for name, seconds in inside.get("children", {}).items()
    }
    results: dict[str, Any] = {
        "requests": requests,
        "statuses": {str(k): v for k, v in statuses.items()},
        "wall_seconds": wall,
        "sampled_seconds": root.time if root is not None else 0.0,
        "unprofiled_latency_ms": summarize(unprofiled),
        "html": str(html_path),
        "top_self_frames": top,
        "time_by_application_function": by_function,
        "webhook_function_ms_per_request": inside.get("seconds", 0.0) * 1000 / requests,
        "inside_webhook_ms_per_request": per_request,
    }
    ctx.results[SECTION] = results
    ctx.add(
        Figure(
            SECTION,
            "in-process test client latency p50 (unprofiled)",
            results["unprofiled_latency_ms"]["p50"],
            "ms",
        ),
        Figure(
            SECTION,
            "webhook() per request (profiled)",
            results["webhook_function_ms_per_request"],
            "ms",
            note=f"{requests} requests, HTML {html_path.relative_to(ROOT)}",
        ),
    )
    return results


def render(results: dict[str, Any]) -> str:
    """Text for the report: top frames by self time and the split of the request path."""
    lines = [
        f"Webhook request path, {results['requests']} sequential requests in-process "
        f"(pyinstrument, wall clock; {results['sampled_seconds']:.2f}s sampled):",
        "  top 10 frames by self time:",
    ]
    for rank, entry in enumerate(results["top_self_frames"], 1):
        lines.append(
            f"  {rank:>2}. {entry['share'] * 100:5.1f}%  {entry['self_seconds'] * 1000:8.1f} ms"
            f"  {entry['frame']}"
        )
        lines.append(f"               under {entry['under']}")
    lines.append("  time by application function (self time of it and the libraries it calls):")
    for entry in results["time_by_application_function"][:8]:
        lines.append(f"      {entry['share'] * 100:5.1f}%  {entry['function']}")
    inside = results["inside_webhook_ms_per_request"]
    if inside:
        split = ", ".join(f"{name} {ms:.2f}" for name, ms in inside.items())
        lines.append(
            f"  inside webhook(): {results['webhook_function_ms_per_request']:.2f} ms per "
            f"request = {split} (ms)"
        )
    return "\n".join(lines)
