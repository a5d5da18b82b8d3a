"""Dead-lettering: the original message, as received, plus why it cannot succeed.

The data is the message's bytes unchanged (so a replay publishes exactly what the webhook
published); the attributes are the original ones plus ``deadLetterReason``,
``deadLetterError`` (the error class), ``originalMessageId`` and ``deadLetteredAt``. If the
dead-letter publish itself fails, that is transient: the worker raises, Pub/Sub redelivers, and
nothing is lost.
"""

from __future__ import annotations

import datetime as dt

from shared import pubsub
from shared.errors import PermanentError
from shared.logger import get_logger
from shared.push import PushedMessage

log = get_logger("worker")

REASON = "deadLetterReason"
ERROR = "deadLetterError"
ORIGINAL_MESSAGE_ID = "originalMessageId"
DEAD_LETTERED_AT = "deadLetteredAt"
_MAX_ATTRIBUTE = 1024


def dead_letter(
    message: PushedMessage, error: PermanentError, project: str, topic: str, timeout: float
) -> str:
    """Publish ``message`` to the dead-letter topic with ``error``'s reason; returns its id."""
    attributes = {
        key: value for key, value in message.attributes.items() if not key.startswith("goog")
    }
    attributes[REASON] = error.full_reason[:_MAX_ATTRIBUTE]
    attributes[ERROR] = type(error).__name__
    attributes[DEAD_LETTERED_AT] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if message.message_id:
        attributes[ORIGINAL_MESSAGE_ID] = message.message_id[:_MAX_ATTRIBUTE]
    return pubsub.publish(project, topic, message.data, attributes, timeout)


class DeadLetters:
    """Dead-letters events for one worker: publish, then one ERROR line with the reason (the
    reason only: an error's ``detail``, which may echo personal data, stays in the message)."""

    def __init__(self, project: str, topic: str, timeout: float) -> None:
        self.project = project
        self.topic = topic
        self.timeout = timeout

    def send(self, message: PushedMessage, error: PermanentError, event_type: str | None) -> str:
        """Publish ``message`` with ``error``'s reason; raises ``PublishError`` (transient)."""
        dead_letter_id = dead_letter(message, error, self.project, self.topic, self.timeout)
        log.error(
            "event dead-lettered",
            reason=error.reason,
            error=type(error).__name__,
            event_type=event_type,
            dead_letter_message_id=dead_letter_id,
        )
        return dead_letter_id
