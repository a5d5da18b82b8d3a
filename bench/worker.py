"""Section 3: the worker's latency per event, with every Drift call taking 50 ms.

``shared.handler.Handler`` runs in this process, built from ``WorkerSettings`` read from the
environment as the worker function reads it: Drift is the simulator (latency 50 ms per call),
the CRM an in-process sink, the dead-letter topic on the emulator. Each event is a distinct
generated conversation, delivered through ``handle(PushedMessage(...))`` as Pub/Sub would.

* cold: a fresh Handler per event (empty users cache, new connections): the first event of an
  instance;
* warm: one Handler, every event after its first;
* sequential baseline: the seed walkthrough's four calls one after another (conversation,
  contact, users, transcript) through the same DriftClient: what the concurrent gather saves.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from bench.context import BENCH_DIR, DRIFT_LATENCY_SECONDS, ROOT, Context, patched_env, sample_body
from bench.stats import Figure, at_least, at_most, summarize, time_by_application_function
from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from devtools.stack import LOCAL_ACCESS_TOKEN
from shared import ingress
from shared.config import WorkerSettings
from shared.handler import Handler, Outcome
from shared.push import PushedMessage
from shared.startup import check_worker_settings

SECTION = "worker"
LATENCY_FACTOR = 2.5  # per event within 2.5 Drift round trips
PROFILE_HTML = BENCH_DIR / "profile-worker.html"


def pushed(conversation_id: int, index: int) -> PushedMessage:
    """What the worker receives for one webhook: the webhook's own message, just published."""
    message = ingress.build_message(sample_body(conversation_id))
    return PushedMessage(
        data=message.data,
        attributes=dict(message.attributes),
        message_id=f"bench-{conversation_id}-{index}",
        publish_time=dt.datetime.now(dt.UTC),
    )


def _calls(sim: DriftSimulator) -> dict[str, int]:
    return sim.call_counts()


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def _close(handler: Handler) -> None:
    for client in (getattr(handler, "drift", None), getattr(handler, "crm", None)):
        close = getattr(client, "close", None)
        if close is not None:
            close()


def measure(ctx: Context) -> dict[str, Any]:
    cold_n, warm_n, base_n = ctx.scaled(15, 5), ctx.scaled(150, 40), ctx.scaled(20, 8)
    profile_n = ctx.scaled(40, 10)
    dead_letter_topic = ctx.topic("bench-dead-letter")
    sim = DriftSimulator(access_token=LOCAL_ACCESS_TOKEN, latency=DRIFT_LATENCY_SECONDS).start()
    sink = CrmSink().start()
    handlers: list[Handler] = []
    limit = LATENCY_FACTOR * DRIFT_LATENCY_SECONDS * 1000
    try:
        ids = sim.generate_conversations(cold_n + warm_n + base_n + profile_n)
        cold_ids, warm_ids = ids[:cold_n], ids[cold_n : cold_n + warm_n]
        base_ids = ids[cold_n + warm_n : cold_n + warm_n + base_n]
        profile_ids = ids[cold_n + warm_n + base_n :]
        env = {
            "GOOGLE_CLOUD_PROJECT": ctx.project,
            "PUBSUB_EMULATOR_HOST": ctx.emulator.host,
            "DEAD_LETTER_TOPIC": dead_letter_topic,
            "DRIFT_ACCESS_TOKEN": LOCAL_ACCESS_TOKEN,
            "DRIFT_API_BASE_URL": sim.url,
            "CRM_ENDPOINT_URL": f"{sink.url}/crm/records",
            "LOG_LEVEL": "INFO",
            "LEDGER": "memory",  # the ledger's own cost is section "ledger"
        }
        with patched_env(**env):
            settings = WorkerSettings()
        check_worker_settings(settings)
        outcomes: dict[str, int] = {}

        def handle(handler: Handler, conversation_id: int, index: int) -> float:
            message = pushed(conversation_id, index)
            begin = time.perf_counter()
            outcome = handler.handle(message)
            elapsed = (time.perf_counter() - begin) * 1000
            name = outcome.value if isinstance(outcome, Outcome) else str(outcome)
            outcomes[name] = outcomes.get(name, 0) + 1
            return elapsed

        cold: list[float] = []
        before = _calls(sim)
        for index, conversation_id in enumerate(cold_ids):
            handler = Handler(settings)
            handlers.append(handler)
            cold.append(handle(handler, conversation_id, index))
        cold_calls = _delta(_calls(sim), before)
        warm_handler = handlers[-1]
        warm: list[float] = []
        stages = _StageTimer(warm_handler)
        before = _calls(sim)
        for index, conversation_id in enumerate(warm_ids):
            warm.append(handle(warm_handler, conversation_id, index))
        warm_calls = _delta(_calls(sim), before)
        stages.remove()

        client = warm_handler.drift
        sequential: list[float] = []
        for conversation_id in base_ids:
            begin = time.perf_counter()
            conversation = client.get_conversation(conversation_id)
            client.get_contact(int(conversation["contactId"]))
            client.list_users()
            client.get_transcript(conversation_id)
            sequential.append((time.perf_counter() - begin) * 1000)
        profile = _profile(lambda: [handle(warm_handler, c, i) for i, c in enumerate(profile_ids)])
        delivered = len(sink.received())
    finally:
        for handler in handlers:
            _close(handler)
        sink.stop()
        sim.stop()

    cold_per = sum(cold_calls.values()) / max(1, len(cold))
    warm_per = sum(warm_calls.values()) / max(1, len(warm))
    results = {
        "drift_latency_ms": DRIFT_LATENCY_SECONDS * 1000,
        "target_ms": LATENCY_FACTOR * DRIFT_LATENCY_SECONDS * 1000,
        "cold_over_target": sum(1 for value in cold if value > limit),
        "warm_over_target": sum(1 for value in warm if value > limit),
        "cold_ms": summarize(cold),
        "warm_ms": summarize(warm),
        "sequential_baseline_ms": summarize(sequential),
        "drift_calls_cold": {k: v / len(cold) for k, v in cold_calls.items()},
        "drift_calls_warm": {k: v / len(warm) for k, v in warm_calls.items()},
        "drift_calls_per_event_cold": cold_per,
        "drift_calls_per_event_warm": warm_per,
        "outcomes": outcomes,
        "crm_records": delivered,
        "profile": {**profile, "events": len(profile_ids)},
        "warm_stages_ms": stages.summary(warm),
    }
    for entry in results["profile"]["time_by_application_function"]:
        entry["ms_per_event"] = entry["seconds"] * 1000 / max(1, len(profile_ids))
    ctx.results[SECTION] = results
    if outcomes.get("delivered", 0) != len(cold) + len(warm) + len(profile_ids):
        ctx.notes.append(f"worker: not every event was delivered: {outcomes}")
    note_cold = f"{len(cold)} fresh Handlers, 1 event each"
    note_warm = f"{len(warm)} events, one Handler"
    ctx.add(
        at_most(SECTION, "cold event p50", results["cold_ms"]["p50"], "ms", limit, note=note_cold),
        at_most(SECTION, "cold event p99", results["cold_ms"]["p99"], "ms", limit, note=note_cold),
        at_most(SECTION, "warm event p50", results["warm_ms"]["p50"], "ms", limit, note=note_warm),
        at_most(SECTION, "warm event p99", results["warm_ms"]["p99"], "ms", limit, note=note_warm),
        at_least(
            SECTION,
            "sequential 4-call baseline p50",
            results["sequential_baseline_ms"]["p50"],
            "ms",
            4 * DRIFT_LATENCY_SECONDS * 1000,
            note="conversation, contact, users, transcript one after another",
        ),
        Figure(
            SECTION,
            "Drift calls per event, cold",
            cold_per,
            "calls",
            note=json.dumps(results["drift_calls_cold"]),
        ),
        Figure(
            SECTION,
            "Drift calls per event, warm",
            warm_per,
            "calls",
            note=json.dumps(results["drift_calls_warm"]),
        ),
    )
    return results


class _StageTimer:
    """Times the two big stages of each event by wrapping the handler's own objects (this
    instance only): gathering from Drift, and the CRM delivery. The rest is the handler."""

    def __init__(self, handler: Handler) -> None:
        self.gather: list[float] = []
        self.crm: list[float] = []
        self._patched: list[tuple[Any, str]] = []
        for owner, name, into in (
            (getattr(handler, "gatherer", None), "record", self.gather),
            (getattr(handler, "runner", None), "deliver", self.crm),
        ):
            if owner is not None and hasattr(owner, name):  # the handler may have been reshaped
                self._wrap(owner, name, into)
                self._patched.append((owner, name))

    @staticmethod
    def _wrap(target: Any, name: str, into: list[float]) -> None:
        original = getattr(target, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                into.append((time.perf_counter() - begin) * 1000)

        setattr(target, name, timed)

    def remove(self) -> None:
        for target, name in self._patched:
            delattr(target, name)  # back to the class's method

    def summary(self, totals: list[float]) -> dict[str, Any]:
        if not self.gather or len(self.gather) != len(self.crm) or len(self.crm) != len(totals):
            return {}
        rest = [t - g - c for t, g, c in zip(totals, self.gather, self.crm, strict=True)]
        return {
            "gather_from_drift": summarize(self.gather),
            "crm_delivery": summarize(self.crm),
            "rest_of_handle": summarize(rest),
        }


def _profile(run: Any) -> dict[str, Any]:
    """Profile ``run()`` (warm events on this thread; the gather's pool threads are not
    sampled, but the time this thread waits for them is)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        run()
    finally:
        session = profiler.stop()
    PROFILE_HTML.write_text(profiler.output_html(), encoding="utf-8")
    root = session.root_frame()
    by_function = time_by_application_function(root, str(ROOT))[:10] if root is not None else []
    return {"html": str(PROFILE_HTML), "time_by_application_function": by_function}


def render(results: dict[str, Any]) -> str:
    profile = results.get("profile") or {}
    stages = results.get("warm_stages_ms") or {}
    lines = []
    if stages:
        lines.append(
            "Worker, warm events, p50 per stage (unprofiled): gather from Drift "
            f"{stages['gather_from_drift']['p50']:.1f} ms, CRM delivery "
            f"{stages['crm_delivery']['p50']:.1f} ms, rest of handle() "
            f"{stages['rest_of_handle']['p50']:.1f} ms (p99: "
            f"{stages['gather_from_drift']['p99']:.1f} / {stages['crm_delivery']['p99']:.1f} / "
            f"{stages['rest_of_handle']['p99']:.1f} ms)"
        )
    lines += [
        f"Worker, {profile.get('events', 0)} warm events profiled (pyinstrument, wall clock, "
        "event thread): time per event by application function (libraries it calls included):"
    ]
    for entry in profile.get("time_by_application_function", [])[:8]:
        lines.append(
            f"  {entry['share'] * 100:5.1f}%  {entry['ms_per_event']:7.2f} ms  {entry['function']}"
        )
    return "\n".join(lines)
