"""Section 6: cold start of each function, and the import time of its module alone.

* process start -> first answered request: functions-framework started as the stack starts it,
  polled every 5 ms with a GET (any status is an answer); for the webhook also start -> first
  published webhook (200), which adds its lazy Pub/Sub client. The no-op function is the
  framework's own floor.
* module import: a fresh interpreter with the function's environment times only the exec of
  functions/<name>/main.py (``runpy.run_path``), from a bare interpreter (the target) and with
  functions_framework already imported (what the framework adds for our code). One more run
  under ``-X importtime`` names the slowest top-level imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.context import BENCH_DIR, ROOT, Context, sample_body
from bench.loadgen import run_load
from bench.procs import function_process, start_and_wait
from bench.stats import Figure, at_most, importtime_by_package, median, parse_importtime
from devtools.stack import LOCAL_ACCESS_TOKEN

SECTION = "coldstart"
IMPORT_LIMIT_SECONDS = 0.5
MARKER = "--bench-import-starts--"
_IMPORT_SCRIPT = f"""
import json, runpy, sys, time
if sys.argv[2] == "after_framework":
    import functions_framework
sys.stderr.write({MARKER!r} + "\\n")
sys.stderr.flush()
begin = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="main")
print(json.dumps({{"seconds": time.perf_counter() - begin}}))
"""


def _envs(ctx: Context) -> dict[str, dict[str, str]]:
    return {
        "webhook": ctx.webhook_env(ctx.topic("bench-coldstart")),
        "worker": {
            "GOOGLE_CLOUD_PROJECT": ctx.project,
            "PUBSUB_EMULATOR_HOST": ctx.emulator.host,
            "LOG_LEVEL": "INFO",
            "DEAD_LETTER_TOPIC": "bench-coldstart-dead",
            "DRIFT_ACCESS_TOKEN": LOCAL_ACCESS_TOKEN,
            "DRIFT_API_BASE_URL": "http://127.0.0.1:9/",  # not called at start
            "CRM_ENDPOINT_URL": "http://127.0.0.1:9/crm/records",
        },
        "noop": {},
    }


def _child_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def import_seconds(name: str, env: dict[str, str], mode: str) -> float:
    source = ROOT / "functions" / name / "main.py"
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_SCRIPT, str(source), mode],
        env=_child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {source} failed:\n{done.stderr[-1500:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


DEPENDENCIES = (
    "pydantic",
    "pydantic_settings",
    "google.api_core.exceptions",
    "google.api_core.retry",
    "google.cloud.pubsub_v1",
    "requests",
    "tenacity",
    "yaml",
    "jmespath",
)
_DEPENDENCY_SCRIPT = """
import importlib, json, sys, time
import functions_framework
begin = time.perf_counter()
importlib.import_module(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - begin}))
"""


def dependency_import_seconds(module: str) -> float | None:
    """Seconds to import ``module`` in a fresh interpreter that already imported
    functions_framework (so Flask and Werkzeug are not counted again)."""
    done = subprocess.run(
        [sys.executable, "-c", _DEPENDENCY_SCRIPT, module],
        env=_child_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def slowest_imports(name: str, env: dict[str, str]) -> dict[str, list[tuple[str, float]]]:
    """From one ``-X importtime`` run: main.py's slowest direct imports (cumulative) and the
    self time by package."""
    source = ROOT / "functions" / name / "main.py"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _IMPORT_SCRIPT, str(source), "bare"],
        env=_child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.splitlines()
    if MARKER in lines:
        lines = lines[lines.index(MARKER) + 1 :]
    return {
        "direct_imports_cumulative_ms": parse_importtime(lines, top=6),
        "self_ms_by_package": importtime_by_package(lines, top=10),
    }


def measure(ctx: Context, reps: int | None = None) -> dict[str, Any]:
    reps = reps or ctx.scaled(3, 1)
    import_reps = ctx.scaled(5, 2)
    envs = _envs(ctx)
    results: dict[str, Any] = {"reps": reps}
    body = json.dumps(sample_body()).encode()
    # The webhook's Pub/Sub client made at start-up (the default) or on the first request:
    # Drift's first request to a new instance sees the difference.
    envs["webhook-lazy"] = {**envs["webhook"], "PUBSUB_CLIENT_WARMUP": "lazy"}
    for name in ("noop", "webhook", "webhook-lazy", "worker"):
        function = name.removesuffix("-lazy")
        source = BENCH_DIR / "noop" / "main.py" if name == "noop" else None
        signature = "cloudevent" if name == "worker" else "http"
        ready: list[float] = []
        first_200: list[float] = []
        first_request: list[float] = []
        for rep in range(reps):
            process = function_process(
                f"{name}-cold{rep}",
                function,
                envs[name],
                ctx.log_dir,
                signature=signature,
                source=source or ROOT / "functions" / function / "main.py",
            )
            try:
                begin = time.perf_counter()
                ready.append(start_and_wait(process))
                if function == "webhook":
                    sent = time.perf_counter()
                    load = run_load(process.port, body, 1, 1)
                    if load.ok != 1:
                        raise RuntimeError(f"first webhook not published: {load.statuses}")
                    first_200.append(time.perf_counter() - begin)
                    first_request.append(time.perf_counter() - sent)
            finally:
                process.stop()
        entry: dict[str, Any] = {"start_to_first_answer_s": ready}
        if first_200:
            entry["start_to_first_published_webhook_s"] = first_200
            entry["first_request_s"] = first_request
        if name == "webhook-lazy":
            results[name] = entry
            continue
        if name != "noop":
            # The webhook's import is timed without its deliberate start-up Pub/Sub client
            # (measured above as the first request's gain): the limit is about our modules.
            import_env = envs["webhook-lazy"] if name == "webhook" else envs[name]
            entry["import_bare_s"] = [import_seconds(name, import_env, "bare") for _ in range(reps)]
            entry["import_after_framework_s"] = [
                import_seconds(name, import_env, "after_framework") for _ in range(reps)
            ]
            entry["importtime"] = slowest_imports(name, import_env)
        results[name] = entry
    results["dependency_import_s_after_framework"] = {
        module: dependency_import_seconds(module) for module in DEPENDENCIES
    }
    ctx.results[SECTION] = results

    runs = f"median of {reps}"
    for name, how in (("webhook", "client made at start-up"), ("webhook-lazy", "client lazy")):
        ctx.add(
            Figure(
                SECTION,
                f"webhook: first request of a fresh instance ({how})",
                median(results[name]["first_request_s"]) * 1000,
                "ms",
                note=f"{runs}; PUBSUB_CLIENT_WARMUP=" + ("eager" if name == "webhook" else "lazy"),
            )
        )
    import_runs = f"median of {import_reps}"
    for name in ("webhook", "worker", "noop"):
        entry = results[name]
        ctx.add(
            Figure(
                SECTION,
                f"{name}: process start -> first answer",
                median(entry["start_to_first_answer_s"]),
                "s",
                note=runs,
            )
        )
        if "start_to_first_published_webhook_s" in entry:
            ctx.add(
                Figure(
                    SECTION,
                    f"{name}: process start -> first 200 (publish)",
                    median(entry["start_to_first_published_webhook_s"]),
                    "s",
                    note="includes the lazy Pub/Sub client",
                )
            )
        if "import_bare_s" in entry:
            by_package = entry["importtime"]["self_ms_by_package"][:5]
            slowest = ", ".join(f"{m} {ms:.0f}ms" for m, ms in by_package)
            ctx.add(
                at_most(
                    SECTION,
                    f"{name}: import of main.py alone",
                    median(entry["import_bare_s"]),
                    "s",
                    IMPORT_LIMIT_SECONDS,
                    note=f"{import_runs}; self time by package (-X importtime): {slowest}",
                ),
                Figure(
                    SECTION,
                    f"{name}: import of main.py alone, best run",
                    min(entry["import_bare_s"]),
                    "s",
                    note=f"min of {import_reps}: least disturbed by other processes",
                ),
                Figure(
                    SECTION,
                    f"{name}: import of main.py after functions_framework",
                    median(entry["import_after_framework_s"]),
                    "s",
                    note=import_runs,
                ),
            )
    return results
