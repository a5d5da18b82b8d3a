"""``make demo``: the whole pipeline once, end to end, on embedded defaults; exits 0.

Starts the emulator, both functions, the Drift simulator and the CRM sink; sends Drift's sample
``conversation_push`` and a GDPR deletion request to the webhook; waits until the CRM sink has
both; prints what the CRM received; stops everything.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from devtools.emulator import check_prerequisites
from devtools.stack import LocalStack, StackConfig
from samples import drift_seed as seed_data

SIGNING_SECRET = "demo-signing-secret"


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit():
        raise SystemExit(f"error: {name} must be a port number, not {value!r}")
    return int(value)


def run() -> int:
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
