"""Events the bridge makes itself (manual sync, backfill), shaped like Drift's own pushes so the
worker treats them exactly as a ``conversation_manual_push`` from Drift's UI."""

from __future__ import annotations

import json
import time
from typing import Any

SYNC_EVENT = "conversation_manual_push"


def conversation_event(
    conversation_id: int, org_id: int | None, pushed_at: int | None, source: str
) -> dict[str, Any]:
    """``pushed_at`` (epoch ms) is part of the idempotency key: a backfill passes the
    conversation's ``updatedAt`` so that running it twice sends each version once."""
    return {
        "type": SYNC_EVENT,
        "orgId": org_id,
        "data": {
            "source": source,
            "data": {
                "conversationId": conversation_id,
                "pushedAt": pushed_at if pushed_at is not None else int(time.time() * 1000),
            },
        },
    }


def encode(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub data and attributes the webhook would have published for ``event``."""
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    attributes = {"type": event["type"], "source": "operator"}
    if event.get("orgId") is not None:
        attributes["orgId"] = str(event["orgId"])
    conversation_id = event["data"]["data"]["conversationId"]
    attributes["conversationId"] = str(conversation_id)
    return data, attributes
