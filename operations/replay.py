"""Replay dead-lettered events to the main topic: all, by type, or by conversation id.

Pulls from the dead-letter subscription; each matching message is republished to the events
topic with its original data and attributes (the dead-letter annotations removed) and then
acknowledged; the others are released at once (nack) and stay. With ``dry_run`` nothing is
published or acknowledged. A message is acknowledged only after its republish was confirmed,
so a crash mid-replay loses nothing (at worst an event is replayed twice, which the CRM's
Idempotency-Key absorbs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared import deadletter, pubsub
from shared.events import conversation_id_of

_DROPPED_PREFIXES = ("CloudPubSubDeadLetter", "googclient_")
_DROPPED = {
    deadletter.REASON,
    deadletter.ERROR,
    deadletter.ORIGINAL_MESSAGE_ID,
    deadletter.DEAD_LETTERED_AT,
}


@dataclass
class ReplayReport:
    replayed: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    dry_run: bool = False


def original_attributes(attributes: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in attributes.items()
        if key not in _DROPPED and not key.startswith(_DROPPED_PREFIXES)
    }


def matcher(event_type: str | None, conversation_id: int | None) -> Callable[[bytes, dict], bool]:
    def matches(data: bytes, attributes: dict[str, str]) -> bool:
        if event_type is not None and attributes.get("type") != event_type:
            try:
                if json.loads(data).get("type") != event_type:
                    return False
            except (ValueError, AttributeError):
                return False
        if conversation_id is not None:
            if attributes.get("conversationId") == str(conversation_id):
                return True
            try:
                return conversation_id_of(json.loads(data).get("data")) == conversation_id
            except (ValueError, AttributeError):
                return False
        return True

    return matches


def replay(
    project: str,
    subscription: str,
    topic: str,
    event_type: str | None = None,
    conversation_id: int | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    timeout: float = 30.0,
) -> ReplayReport:
    from google.cloud import pubsub_v1

    report = ReplayReport(dry_run=dry_run)
    matches = matcher(event_type, conversation_id)
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    held: list[str] = []  # leased while we look further, released at the end
    try:
        while limit is None or len(report.replayed) < limit:
            response = subscriber.pull(
                request={"subscription": path, "max_messages": 100, "return_immediately": True},
                timeout=timeout,
            )
            if not response.received_messages:
                break
            done, hold = [], []
            for item in response.received_messages:
                message = item.message
                attributes = dict(message.attributes)
                wanted = limit is None or len(report.replayed) < limit
                if not (wanted and matches(message.data, attributes)):
                    report.skipped += 1
                    hold.append(item.ack_id)
                    continue
                summary = {
                    "message_id": message.message_id,
                    "type": attributes.get("type"),
                    "conversation_id": attributes.get("conversationId"),
                    "reason": attributes.get(deadletter.REASON, "max delivery attempts reached"),
                }
                if dry_run:
                    hold.append(item.ack_id)
                else:
                    summary["new_message_id"] = pubsub.publish(
                        project, topic, message.data, original_attributes(attributes), timeout
                    )
                    done.append(item.ack_id)
                report.replayed.append(summary)
            if done:
                subscriber.acknowledge(request={"subscription": path, "ack_ids": done})
            if hold:
                subscriber.modify_ack_deadline(
                    request={"subscription": path, "ack_ids": hold, "ack_deadline_seconds": 600}
                )
                held.extend(hold)
    finally:
        for start in range(0, len(held), 1000):
            subscriber.modify_ack_deadline(
                request={
                    "subscription": path,
                    "ack_ids": held[start : start + 1000],
                    "ack_deadline_seconds": 0,
                }
            )
        subscriber.close()
    return report
