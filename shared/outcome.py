"""What became of one Pub/Sub delivery, as the worker reports it (raising is the other answer:
a ``TransientError`` makes Pub/Sub redeliver)."""

from __future__ import annotations

from enum import Enum


class Outcome(Enum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # nothing to send (a recipe's condition), acknowledged
    DUPLICATE = "duplicate"  # already delivered or dead-lettered, acknowledged
    DEAD_LETTERED = "dead_lettered"
    LOGGED = "logged"
    IGNORED = "ignored"
