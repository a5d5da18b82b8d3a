"""A worker instance in its own process, for the ledger's cross-process tests.

python tests/ledger/ledger_child.py CONFIG_JSON race KEY GO_FILE
    warm the client up, print {"ready": true}, wait for GO_FILE to exist, claim KEY, print
    {"outcome": "new" | "resumed" | "completed" | "dead_lettered" | "busy"}, keep the lease
    (never finishes) until stdin closes.
python tests/ledger/ledger_child.py CONFIG_JSON hold KEY
    claim KEY, keep a record, finish step "person", start step "note" (its request "went
    out"), print {"holding": true}, then wait to be killed.
"""

from __future__ import annotations

import json
import os
import sys
import time

from shared.ledger import FirestoreLedger, LedgerBusyError, LedgerConfig


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def race(ledger: FirestoreLedger, key: str, go_file: str) -> None:
    ledger.memory("warm", "up")  # the channel is open before the race starts
    say(ready=True)
    while not os.path.exists(go_file):
        time.sleep(0.001)
    try:
        claim = ledger.claim(key, event_type="conversation_push", org_id=1, conversation_id=7)
    except LedgerBusyError:
        say(outcome="busy")
    else:
        say(outcome=claim.state)
    sys.stdin.read()


def hold(ledger: FirestoreLedger, key: str) -> None:
    claim = ledger.claim(key, event_type="conversation_push", org_id=1, conversation_id=7)
    claim.save_record({"conversation": {"id": 7}, "messages": ["hello", "bonjour"]})
    claim.step_started("person")
    claim.step_done("person", {"id": "p-1"}, status=201)
    claim.step_started("note")
    say(holding=True, state=claim.state)
    sys.stdin.read()


def main() -> None:
    config = LedgerConfig.model_validate_json(sys.argv[1])
    ledger = FirestoreLedger(config)
    mode, key = sys.argv[2], sys.argv[3]
    if mode == "race":
        race(ledger, key, sys.argv[4])
    else:
        hold(ledger, key)


if __name__ == "__main__":
    main()
