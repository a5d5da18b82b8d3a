"""Section recipes: CRM requests and wall time per conversation for each built-in recipe.

Each built-in recipe (``hubspot``, ``salesforce``, ``pipedrive``) delivers through the worker's
own ``Handler`` (in this process, ``LEDGER=memory``, the Drift simulator answering at once) to
its vendor's stand-in (``devtools.vendors``) answering every request in 50 ms, as a CRM's API
across the internet would. Measured per conversation, for:

- a first-time visitor (the CRM has no person with that email);
- a returning visitor's second conversation (the bridge wrote the person before);
- a second push of the same conversation (its activity is updated).

Each case runs cold, on a new instance's runner (a new CRM session; for Salesforce the OAuth
token is fetched first), and warm, on a runner that has delivered before. The ledger is kept
across them, as Firestore is shared by every instance. Requests count everything the stand-in
received for the event, token requests included; wall time is the whole ``Handler.handle``.

    python -m bench.recipes [--quick]      # alone, printing the results as JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.stats import Figure, at_most, summarize
from devtools import crm_standins
from devtools.drift_simulator import DriftSimulator
from samples import drift_seed
from shared import config, logger
from shared.outcome import Outcome
from shared.push import PushedMessage
from shared.recipes import RecipeRunner

SECTION = "recipes"
PROJECT = "drift-bridge-bench"
RECIPES = ("hubspot", "salesforce", "pipedrive")
CRM_LATENCY_SECONDS = 0.050
CASES = (
    ("first_visit", "first-time visitor"),
    ("returning", "returning visitor's second conversation"),
    ("second_push", "second push of a conversation"),
)
RETURNING_TARGET = 2  # requests: HubSpot and Pipedrive; Salesforce with the composite API
PUSHED_AT = 1_633_082_400_000


class _Visits:
    """Conversations of new visitors in the Drift simulator, and their push messages."""

    def __init__(self, simulator: DriftSimulator) -> None:
        self.simulator = simulator
        self.next_conversation = 6_100_000_001
        self.next_contact = 7_300_000_000_000_001
        self.next_visitor = 0
        self.messages = 0

    def visitor(self) -> str:
        self.next_visitor += 1
        return f"bench.visitor{self.next_visitor}@example.com"

    def conversation(self, email: str) -> int:
        conversation_id, contact_id = self.next_conversation, self.next_contact
        self.next_conversation += 1
        self.next_contact += 2
        name = email.split("@")[0].replace(".", " ").title()
        self.simulator.add_conversation(
            {
                "status": "closed",
                "participants": [drift_seed.SAMPLE_USER_ID],
                "contactId": contact_id,
                "createdAt": PUSHED_AT - 60_000,
                "id": conversation_id,
                "inboxId": drift_seed.SAMPLE_INBOX_ID,
                "updatedAt": PUSHED_AT - 1_000,
            },
            contact={
                "id": contact_id,
                "createdAt": PUSHED_AT - 86_400_000,
                "attributes": {
                    "email": email,
                    "name": name,
                    "first_name": name.split()[0],
                    "last_name": name.split()[-1],
                    "employment_name": "Bench Ltd",
                },
            },
            transcript=drift_seed.SAMPLE_TRANSCRIPT,
        )
        return conversation_id

    def message(self, conversation_id: int, pushed_at: int = PUSHED_AT) -> PushedMessage:
        body = drift_seed.sample_conversation_push(
            "t", pushed_at=pushed_at, conversation_id=conversation_id
        )
        body.pop("token", None)
        self.messages += 1
        return PushedMessage(
            json.dumps(body).encode(),
            {"type": body["type"]},
            f"bench-recipes-{self.messages}",
            dt.datetime.now(dt.UTC),
        )


def _settings(recipe: str, simulator: DriftSimulator, standin: Any) -> config.WorkerSettings:
    crm = {k.lower(): v for k, v in crm_standins.worker_settings(recipe, standin).items()}
    return config.WorkerSettings(
        google_cloud_project=PROJECT,
        dead_letter_topic="bench-recipes-dead",
        drift_access_token=simulator.access_token,
        drift_api_base_url=simulator.url,
        ledger="memory",
        **crm,
    )


def _new_runner(handler: Any) -> None:
    """What a new instance brings: a runner with a new CRM session and no token yet (the
    ledger stays: every instance shares it)."""
    handler.runner.close()
    handler.runner = RecipeRunner(handler.recipe, handler.settings)
    handler.dispatcher.deliveries.runner = handler.runner


def _one(handler: Any, standin: Any, message: PushedMessage) -> dict[str, float]:
    before = standin.requests
    started = time.perf_counter()
    outcome = handler.handle(message)
    wall_ms = (time.perf_counter() - started) * 1000
    if outcome is not Outcome.DELIVERED:
        raise RuntimeError(f"the event was not delivered: {outcome}")
    sent = standin.requests[len(before) :]
    return {
        "requests": len(sent),
        "token_requests": sum(r.endpoint.startswith("oauth") for r in sent),
        "wall_ms": wall_ms,
    }


def _run_recipe(recipe: str, rounds: int) -> dict[str, Any]:
    from shared.handler import Handler

    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        case: {"cold": [], "warm": []} for case, _ in CASES
    }
    with (
        DriftSimulator(seed=False) as simulator,
        crm_standins.start(recipe, latency=CRM_LATENCY_SECONDS) as standin,
    ):
        simulator.add_user(drift_seed.sample_users()[1])
        visits = _Visits(simulator)
        handler = Handler(_settings(recipe, simulator, standin))
        try:
            for _ in range(rounds):
                for temperature in ("cold", "warm"):
                    prepare: Callable[[], None] = (
                        (lambda: _new_runner(handler)) if temperature == "cold" else (lambda: None)
                    )
                    email = visits.visitor()
                    first = visits.conversation(email)
                    prepare()
                    samples["first_visit"][temperature].append(
                        _one(handler, standin, visits.message(first))
                    )
                    second = visits.conversation(email)
                    prepare()
                    samples["returning"][temperature].append(
                        _one(handler, standin, visits.message(second))
                    )
                    prepare()
                    samples["second_push"][temperature].append(
                        _one(handler, standin, visits.message(first, PUSHED_AT + 300_000))
                    )
        finally:
            handler.close()
        held = {"persons": standin.count_persons(), "activities": standin.count_activities()}
    out: dict[str, Any] = {"crm_latency_ms": CRM_LATENCY_SECONDS * 1000, "held": held}
    for case, _ in CASES:
        out[case] = {}
        for temperature, runs in samples[case].items():
            out[case][temperature] = {
                "requests": sum(r["requests"] for r in runs) / len(runs),
                "max_requests": max(r["requests"] for r in runs),
                "token_requests": sum(r["token_requests"] for r in runs) / len(runs),
                "wall_ms": summarize([r["wall_ms"] for r in runs]),
            }
    return out


def run(rounds: int = 5) -> dict[str, Any]:
    return {recipe: _run_recipe(recipe, rounds) for recipe in RECIPES}


def figures(results: dict[str, Any]) -> list[Figure]:
    out: list[Figure] = []
    for recipe in RECIPES:
        got = results[recipe]
        name = crm_standins.vendor_name(recipe)
        for case, label in CASES:
            cold, warm = got[case]["cold"], got[case]["warm"]
            note = (
                f"cold {cold['max_requests']:.0f} requests"
                + (f" ({cold['token_requests']:.0f} token)" if cold["token_requests"] else "")
                + f", p50 {cold['wall_ms']['p50']:.0f} ms; CRM answers in "
                f"{got['crm_latency_ms']:.0f} ms"
            )
            if case == "returning":
                out.append(
                    at_most(
                        SECTION,
                        f"{name}: CRM requests, {label} (warm)",
                        warm["max_requests"],
                        "requests",
                        RETURNING_TARGET,
                        note=note,
                    )
                )
            else:
                out.append(
                    Figure(
                        SECTION,
                        f"{name}: CRM requests, {label} (warm)",
                        warm["max_requests"],
                        "requests",
                        note=note,
                    )
                )
            out.append(
                Figure(
                    SECTION,
                    f"{name}: wall time per conversation, {label} (warm p50)",
                    warm["wall_ms"]["p50"],
                    "ms",
                    note=f"cold p50 {cold['wall_ms']['p50']:.0f} ms",
                )
            )
    return out


def measure(ctx: Any) -> dict[str, Any]:
    results = run(ctx.scaled(5, 2))
    ctx.results[SECTION] = results
    ctx.add(*figures(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recipes", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds per case instead of 5")
    args = parser.parse_args(argv)
    logger.configure("WARNING", stream=io.StringIO())
    results = run(2 if args.quick else 5)
    print(json.dumps(results, indent=2))
    for figure in figures(results):
        target = f"(target {figure.target}: {'met' if figure.met else 'MISSED'})"
        print(
            f"{figure.name}: {figure.value:.1f} {figure.unit} "
            f"{target if figure.target else ''} {figure.note}".rstrip()
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
