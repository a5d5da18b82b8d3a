"""``make demo``: the whole pipeline once, end to end, on embedded defaults; exits 0.

Starts the emulator, both functions, the Drift simulator and the CRM sink; sends Drift's sample
``conversation_push`` and a GDPR deletion request to the webhook; waits until the CRM sink has
both; prints what the CRM received; stops everything; ends with how to try a recipe.

``make demo RECIPE=hubspot`` (``python -m devtools.stack demo --recipe hubspot``; also
``salesforce``, ``pipedrive``) runs that built-in recipe instead, against the project's
stand-in of the vendor's API (``devtools.vendors``, with its own local credentials), and prints
the requests the worker sent and what the CRM then holds: the person and the activity with the
transcript, as they would land in the customer's CRM; then the GDPR deletion request and what
is left. With ``CRM_BASE_URL`` set, the recipe goes to that URL instead, with the ``CRM_*``
settings of the environment, and the demo prints the outcome only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from devtools import crm_standins
from devtools.emulator import check_prerequisites, wait_until
from devtools.stack import LocalStack, StackConfig, StackError
from samples import drift_seed as seed_data
from shared.events import event_key

SIGNING_SECRET = "demo-signing-secret"


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit():
        raise SystemExit(f"error: {name} must be a port number, not {value!r}")
    return int(value)


def run(recipe: str | None = None) -> int:
    if recipe:
        return run_recipe(recipe)
    started = time.monotonic()
    check_prerequisites()
    config = StackConfig(
        webhook_port=_port("WEBHOOK_PORT", 8080),
        worker_port=_port("WORKER_PORT", 8081),
        sink_signing_secret=SIGNING_SECRET,
    )
    print("Drift CRM Bridge demo: starting the local stack (Pub/Sub and Firestore emulators,")
    print("webhook, worker, Drift API simulator, CRM sink)...", flush=True)
    with LocalStack(config) as stack:
        print(f"  webhook      {stack.webhook_url}")
        print(f"  worker       {stack.worker.url}")
        print(f"  emulator     {stack.emulator_host}")
        print(f"  ledger       {stack.firestore_host} (Firestore emulator)")
        print(f"  Drift API    {stack.simulator.url} (simulator)")
        print(f"  CRM          {stack.sink.url}/crm/records (sink)", flush=True)

        for body in (
            seed_data.sample_conversation_push(config.verification_token),
            seed_data.sample_gdpr_delete_requested(config.verification_token),
        ):
            status, _ = stack.send(body)
            print(f"-> Drift sent {body['type']}: the webhook answered {status}", flush=True)
            if status != 200:
                print(f"error: the webhook refused the sample ({status}); logs: {stack.log_dir}")
                return 1
        try:
            received = stack.sink.wait_for(2, timeout=90)
        except TimeoutError as error:
            print(f"error: the CRM did not receive both requests: {error}", file=sys.stderr)
            print(f"logs: {stack.log_dir}", file=sys.stderr)
            return 1
        print()
        print(f"The CRM received {len(received)} requests:")
        # Conversation first, then the GDPR request (they may arrive in either order).
        received = sorted(received, key=lambda r: "conversation" not in (r.json or {}))
        for number, record in enumerate(received, 1):
            _describe(number, record)
        calls = {k: v for k, v in stack.simulator.call_counts().items() if v}
        print()
        print("Drift API calls: " + ", ".join(f"{name} {count}" for name, count in calls.items()))
    print(f"Done in {time.monotonic() - started:.1f}s; every process stopped.")
    print()
    print("Try a CRM recipe: the same conversation delivered to a local stand-in of HubSpot's,")
    print("Salesforce's or Pipedrive's API, and what the CRM then holds:")
    print("  make demo RECIPE=hubspot        (or salesforce, pipedrive, zoho, dynamics, marketo)")
    return 0


def _describe(number: int, record: Any) -> None:
    body = record.json or {}
    signature = {True: "signature valid", False: "signature INVALID", None: "unsigned"}
    print(
        f"{number}. {record.method} {record.path}  Idempotency-Key {record.idempotency_key[:16]}..."
        f"  {signature[record.signature_ok]}"
    )
    if "conversation" in body:
        conversation, contact = body["conversation"], body.get("contact") or {}
        print(
            f"   conversation {conversation['id']} ({conversation.get('status')}),"
            f" created {conversation.get('created_at')}"
        )
        print(
            f"   contact {contact.get('name')} <{contact.get('email')}>, {contact.get('title')}"
            f" at {contact.get('company')}, {contact.get('location')} (id {contact.get('id')})"
        )
        for participant in body.get("participants", []):
            print(f"   participant {participant.get('name')} <{participant.get('email')}>")
        lines = (body.get("transcript") or "").splitlines()
        print(f"   transcript ({len(lines)} lines), first lines:")
        for line in lines[:4]:
            print(f"     {line}")
    else:
        contact = body.get("contact") or {}
        print(
            f"   {body.get('action')}: {contact.get('email')}"
            f" (Drift contact {contact.get('drift_contact_id')})"
        )


# -- make demo RECIPE=... ----------------------------------------------------------------------

_OUTCOMES = {
    "conversation delivered to the CRM": "delivered",
    "GDPR deletion request delivered to the CRM": "delivered",
    "conversation not delivered": "not sent",
    "GDPR deletion request not sent": "not sent",
    "event dead-lettered": "dead-lettered",
}


def _outcome(stack: LocalStack, key: str, timeout: float = 90) -> dict[str, Any]:
    """The worker's outcome line for the event ``key`` (from its JSON log)."""
    path = stack.log_dir / "worker.log"

    def find() -> dict[str, Any] | None:
        for raw in path.read_text(errors="replace").splitlines():
            if not raw.startswith("{"):
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("event_key") == key and entry.get("message") in _OUTCOMES:
                return entry
        return None

    return wait_until(find, timeout, "the worker to deliver the event")


def _passed_settings() -> dict[str, str]:
    from devtools.local import _PASSED_TO_WORKER

    return {name: os.environ[name] for name in _PASSED_TO_WORKER if os.environ.get(name)}


def run_recipe(recipe: str) -> int:
    started = time.monotonic()
    real_crm = bool(os.environ.get("CRM_BASE_URL"))
    if not real_crm and not crm_standins.has_standin(recipe):
        raise StackError(
            f"RECIPE={recipe}: the demo has a stand-in for "
            f"{', '.join(crm_standins.RECIPES)}; for another recipe set CRM_BASE_URL (and "
            "its credentials) to deliver to a real CRM"
        )
    check_prerequisites()
    name = crm_standins.vendor_name(recipe)
    config = StackConfig(
        webhook_port=_port("WEBHOOK_PORT", 8080),
        worker_port=_port("WORKER_PORT", 8081),
        crm_standin=None if real_crm else recipe,
        worker_env={**_passed_settings(), "CRM_RECIPE": recipe} if real_crm else {},
    )
    where = os.environ["CRM_BASE_URL"] if real_crm else f"a local stand-in of {name}'s API"
    print(f"Drift CRM Bridge demo with CRM_RECIPE={recipe}: Drift's sample conversation")
    print(f"delivered to {where}. Starting the local stack...", flush=True)
    with LocalStack(config) as stack:
        standin = stack.crm_standin
        print(f"  webhook      {stack.webhook_url}")
        print(f"  worker       {stack.worker.url}")
        print(f"  emulator     {stack.emulator_host}")
        print(f"  ledger       {stack.firestore_host} (Firestore emulator)")
        print(f"  Drift API    {stack.simulator.url} (simulator)")
        if standin is not None:
            print(f"  CRM          {standin.url} ({name} stand-in)")
            print(f"  records page {crm_standins.records_url(standin)}")
            print(
                f"  (the article's sample e-mail is obfuscated, {seed_data.SEED_EMAIL}; the "
                f"visitor is {crm_standins.DEMO_EMAIL} here, an address {name} accepts)"
            )
        else:
            print(f"  CRM          {where}")
        print(flush=True)

        email = crm_standins.DEMO_EMAIL if standin is not None else seed_data.SEED_EMAIL
        gdpr = seed_data.sample_gdpr_delete_requested(config.verification_token)
        gdpr["data"]["email"] = email
        for body, after in (
            (seed_data.sample_conversation_push(config.verification_token), "holds"),
            (gdpr, "holds after the GDPR deletion request"),
        ):
            mark = len(standin.requests) if standin is not None else 0
            status, _ = stack.send(body)
            print(f"-> Drift sent {body['type']}: the webhook answered {status}", flush=True)
            if status != 200:
                print(f"error: the webhook refused the sample ({status}); logs: {stack.log_dir}")
                return 1
            try:
                entry = _outcome(stack, event_key(body))
            except TimeoutError as error:
                print(f"error: {error}; logs: {stack.log_dir}", file=sys.stderr)
                return 1
            outcome = _OUTCOMES[entry["message"]]
            reason = f": {entry['reason']}" if entry.get("reason") else ""
            print(f"   the worker: {outcome}{reason}")
            if standin is not None:
                _describe_crm(standin, name, mark, after)
            if outcome == "dead-lettered":
                print(f"error: the CRM refused the event; logs: {stack.log_dir}", file=sys.stderr)
                return 1
    print(f"Done in {time.monotonic() - started:.1f}s; every process stopped.")
    return 0


def _describe_crm(standin: Any, name: str, mark: int, after: str) -> None:
    sent = standin.requests[mark:]
    print(f"   requests to {name}: {len(sent)}")
    for request in sent:
        print(f"     {request.method} {request.path} -> {request.status}")
    cards = crm_standins.holdings(standin)
    people = sum(card.kind == "person" for card in cards)
    print()
    print(f"What {name} {after}: {people} person(s), {len(cards) - people} activity(ies)")
    if after != "holds":  # the transcript was shown already
        cards = [crm_standins.Card(card.kind, card.title, card.fields) for card in cards]
    for line in crm_standins.render_text(cards, indent="  "):
        print(line)
    print(flush=True)
