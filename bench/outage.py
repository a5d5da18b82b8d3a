"""Section outage: Drift calls per delivered event while the CRM is down for an hour.

Events arrive at the start of a one-hour CRM outage; Pub/Sub redelivers each failed event on the
subscription's backoff (10 s doubling to 600 s, as Terraform configures it) until the CRM is back
and the delivery succeeds. The hour runs compressed (``SPEED`` times faster: the backoff
schedule, the outage and ``RECORD_REUSE_SECONDS`` all scaled together), through the worker's own
``Handler`` on the Firestore ledger, with the Drift simulator and the CRM sink on loopback.

Before: every attempt gathered the conversation again (``RECORD_REUSE_SECONDS=0``, what the
previous release did). After: the ledger keeps the gathered record with the event, and an attempt
calls Drift again only when that record is older than the window (900 s by default), so within the
window an event costs one gather however many retries it takes.

    python -m bench.outage        # alone, printing the results as JSON
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
import uuid
from typing import Any

from bench.stats import Figure, at_most
from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from devtools.emulator import FirestoreEmulator, PubSubEmulator
from devtools.pubsub_admin import PubSubAdmin
from samples import drift_seed
from shared import config
from shared.errors import TransientError
from shared.ledger import client as ledger_client
from shared.push import PushedMessage

SECTION = "outage"
PROJECT = "drift-bridge-bench"
OUTAGE_SECONDS = 3600.0
MIN_BACKOFF, MAX_BACKOFF = 10.0, 600.0  # terraform: the push subscription's retry policy
REUSE_SECONDS = 900.0  # RECORD_REUSE_SECONDS' default
SPEED = 120.0  # the simulated hour takes 30 s (an attempt round must stay well under a window)
EVENTS = 5


def schedule() -> list[float]:
    """Attempt times (simulated seconds) of one event: Pub/Sub's exponential backoff, until
    the first attempt after the outage ends."""
    times, at, backoff = [0.0], 0.0, MIN_BACKOFF
    while at < OUTAGE_SECONDS:
        at += backoff
        times.append(at)
        backoff = min(backoff * 2, MAX_BACKOFF)
    return times


def _message(index: int) -> PushedMessage:
    body = drift_seed.sample_conversation_push("t")
    body.pop("token", None)
    body["data"]["data"]["pushedAt"] += index  # a distinct event per index
    return PushedMessage(
        json.dumps(body).encode(),
        {"type": body["type"]},
        f"outage-{index}",
        dt.datetime.now(dt.UTC),
    )


def _run(reuse_seconds: float, pubsub_host: str) -> dict[str, Any]:
    from shared.handler import Handler

    with DriftSimulator() as simulator, CrmSink() as sink:
        settings = config.WorkerSettings(
            google_cloud_project=PROJECT,
            pubsub_emulator_host=pubsub_host,
            dead_letter_topic="bench-outage-dead",
            drift_access_token=simulator.access_token,
            drift_api_base_url=simulator.url,
            crm_endpoint_url=f"{sink.url}/crm",
            ledger="firestore",
            ledger_collection_prefix=f"outage{uuid.uuid4().hex[:6]}_",
            record_reuse_seconds=reuse_seconds / SPEED,
        )
        handler = Handler(settings)
        messages = [_message(index) for index in range(EVENTS)]
        sink.add_fault("503", times=None)
        attempts = 0
        window_gathers: int | None = None
        begin = time.monotonic()
        for at in schedule():
            if window_gathers is None and at > REUSE_SECONDS:
                window_gathers = simulator.call_counts().get("conversation", 0)
            if at >= OUTAGE_SECONDS:
                sink.clear_faults()  # the CRM is back
            wait = begin + at / SPEED - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the simulated clock: Pub/Sub's next redelivery
            for message in messages:
                attempts += 1
                with contextlib.suppress(TransientError):  # Pub/Sub will redeliver it
                    handler.handle(message)
        handler.close()
        delivered = len({record.idempotency_key for record in sink.received()})
        calls = simulator.call_counts()
        return {
            "attempts_per_event": attempts / EVENTS,
            "delivered": delivered,
            "drift_calls": sum(calls.values()),
            "conversation_gathers": calls.get("conversation", 0),
            "drift_calls_per_delivered_event": sum(calls.values()) / max(delivered, 1),
            "gathers_per_delivered_event": calls.get("conversation", 0) / max(delivered, 1),
            "gathers_per_event_in_first_window": (window_gathers or 0) / EVENTS,
        }


def run() -> dict[str, Any]:
    firestore = FirestoreEmulator(project=PROJECT).start()
    pubsub = PubSubEmulator(project=PROJECT).start()
    try:
        with firestore.environment(), pubsub.environment(), PubSubAdmin(PROJECT) as admin:
            admin.create_topic("bench-outage-dead")
            return {
                "schedule_s": schedule(),
                "before": _run(0.0, pubsub.host),
                "after": _run(REUSE_SECONDS, pubsub.host),
            }
    finally:
        ledger_client.reset()
        firestore.stop()
        pubsub.stop()


def figures(results: dict[str, Any]) -> list[Figure]:
    before, after = results["before"], results["after"]
    retries = f"{before['attempts_per_event']:.0f} attempts per event over the hour"
    return [
        Figure(
            SECTION,
            "Drift calls per delivered event, CRM down 1 h: before (re-gather each retry)",
            before["drift_calls_per_delivered_event"],
            "calls",
            note=retries,
        ),
        Figure(
            SECTION,
            "Drift calls per delivered event, CRM down 1 h: after (record kept in the ledger)",
            after["drift_calls_per_delivered_event"],
            "calls",
            note=f"gathers per event: {after['gathers_per_delivered_event']:.1f} "
            f"(one per {REUSE_SECONDS:.0f} s window)",
        ),
        at_most(
            SECTION,
            "gathers per event within the reuse window, however many retries (after)",
            after["gathers_per_event_in_first_window"],
            "gathers",
            1.0,
            note=f"the attempts of the first {REUSE_SECONDS:.0f} s; before: "
            f"{before['gathers_per_event_in_first_window']:.0f}",
        ),
    ]


def measure(ctx: Any) -> dict[str, Any]:
    results = run()
    ctx.results[SECTION] = results
    ctx.add(*figures(results))
    return results


def main() -> int:
    results = run()
    print(json.dumps(results, indent=2))
    for figure in figures(results):
        print(f"{figure.name}: {figure.value:.2f} {figure.unit} {figure.target or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
