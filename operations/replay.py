"""Replay dead-lettered events to the main topic: all, by type, or by conversation id.

Pulls from the dead-letter subscription with blocking pulls of a short deadline, and stops only
after several pulls in a row brought nothing (one empty answer does not mean the subscription
is empty: Pub/Sub may answer a pull with fewer messages than it holds, or none). Each matching
message is republished to the events topic with its original data and attributes (the
dead-letter annotations removed) and acknowledged as soon as that one republish is confirmed,
so a failure halfway leaves exactly the messages not yet republished in the dead letters. A
message whose republish failed is released at once and counted as failed. The others are held
(their lease extended) while the replay looks further, then released, so they stay.

Before republishing, the delivery ledger's state for the event is reset (when a ledger is
given), so that the worker runs a replayed dead letter again instead of answering "already
dead-lettered". With ``dry_run`` nothing is reset, published or acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import deadletter, pubsub
from shared.errors import BridgeError
from shared.events import conversation_id_of, event_key

_DROPPED_PREFIXES = ("CloudPubSubDeadLetter", "googclient_")
_DROPPED = {
    deadletter.REASON,
    deadletter.ERROR,
    deadletter.ORIGINAL_MESSAGE_ID,
    deadletter.DEAD_LETTERED_AT,
}
MAX_MESSAGES_PER_PULL = 100
PULL_TIMEOUT_SECONDS = 2.0  # a blocking pull's deadline: how long one empty answer may take
EMPTY_PULLS_TO_STOP = 3  # consecutive empty pulls before the subscription counts as drained
HOLD_SECONDS = 600  # the longest lease Pub/Sub grants; held messages are released at the end


class Resettable(Protocol):
    def reset(self, key: str) -> bool: ...


@dataclass
class ReplayReport:
    replayed: list[dict[str, Any]] = field(default_factory=list)
    pulled: int = 0  # distinct messages seen
    skipped: int = 0  # seen, not selected (or over the limit): left in the dead letters
    failed: list[dict[str, Any]] = field(default_factory=list)  # selected, republish failed
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        return (
            f"{verb} {len(self.replayed)} events (pulled {self.pulled}, replayed "
            f"{len(self.replayed)}, skipped {self.skipped}, failed {len(self.failed)})"
        )


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


def ledger_key(data: bytes) -> str | None:
    """The event key the worker's ledger files this message under (None: not an event body)."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return event_key(body) if isinstance(body, dict) else None


def _is_deadline(error: Exception) -> bool:
    from google.api_core import exceptions as api_exceptions

    return isinstance(error, api_exceptions.DeadlineExceeded | api_exceptions.RetryError)


def replay(
    project: str,
    subscription: str,
    topic: str,
    event_type: str | None = None,
    conversation_id: int | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    timeout: float = 30.0,
    *,
    ledger: Resettable | None = None,
    pull_timeout: float = PULL_TIMEOUT_SECONDS,
    empty_pulls_to_stop: int = EMPTY_PULLS_TO_STOP,
    on_replayed: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayReport:
    """Replay what matches; ``timeout`` bounds each republish, ``pull_timeout`` each pull."""
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud import pubsub_v1

    report = ReplayReport(dry_run=dry_run)
    matches = matcher(event_type, conversation_id)
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    held: list[str] = []  # leased while we look further, released at the end
    seen: set[str] = set()
    empty = 0

    def release(ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            subscriber.modify_ack_deadline(
                request={
                    "subscription": path,
                    "ack_ids": ack_ids[start : start + 1000],
                    "ack_deadline_seconds": 0,
                }
            )

    try:
        while empty < empty_pulls_to_stop and (limit is None or len(report.replayed) < limit):
            try:
                response = subscriber.pull(
                    request={"subscription": path, "max_messages": MAX_MESSAGES_PER_PULL},
                    timeout=pull_timeout,
                    retry=None,
                )
                received = list(response.received_messages)
            except GoogleAPICallError as error:
                if not _is_deadline(error):
                    raise
                received = []
            if not received:
                empty += 1
                continue
            empty = 0
            hold: list[str] = []
            for item in received:
                message = item.message
                if message.message_id in seen:  # its lease ran out while we looked further
                    hold.append(item.ack_id)
                    continue
                seen.add(message.message_id)
                report.pulled += 1
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
                    report.replayed.append(summary)
                    continue
                try:
                    key = ledger_key(message.data)
                    if ledger is not None and key is not None:
                        summary["ledger_reset"] = bool(ledger.reset(key))
                    summary["new_message_id"] = pubsub.publish(
                        project, topic, message.data, original_attributes(attributes), timeout
                    )
                except (BridgeError, GoogleAPICallError) as error:
                    summary["error"] = getattr(error, "reason", None) or str(error)
                    report.failed.append(summary)
                    release([item.ack_id])  # back in the dead letters at once
                    continue
                subscriber.acknowledge(request={"subscription": path, "ack_ids": [item.ack_id]})
                report.replayed.append(summary)
                if on_replayed is not None:
                    on_replayed(summary)
            if hold:
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": path,
                        "ack_ids": hold,
                        "ack_deadline_seconds": HOLD_SECONDS,
                    }
                )
                held.extend(hold)
    finally:
        try:
            release(held)
        finally:
            subscriber.close()
    return report
