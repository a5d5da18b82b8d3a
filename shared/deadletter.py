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
from shared.push import PushedMessage

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
    attributes[REASON] = error.reason[:_MAX_ATTRIBUTE]
    attributes[ERROR] = type(error).__name__
    attributes[DEAD_LETTERED_AT] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if message.message_id:
        attributes[ORIGINAL_MESSAGE_ID] = message.message_id[:_MAX_ATTRIBUTE]
    return pubsub.publish(project, topic, message.data, attributes, timeout)
