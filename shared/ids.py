"""Drift ids: one parser for every place an id arrives (webhooks, API answers, users).

Drift's ids are 64-bit integers that can exceed 2**53, so they must never pass through a float.
JSON gives them as integers (Python's ``json`` keeps those exact) or, in some payloads, as their
decimal string. Anything else (booleans, floats, words, Unicode digits, negative or out-of-range
numbers) is not an id, and becomes ``None`` rather than a guess such as ``0``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

MAX_ID = 2**64


def as_id(value: Any) -> int | None:
    """``value`` as a Drift id, or ``None`` when it is not one."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 20):
            return None
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < MAX_ID else None


DriftId = Annotated[int | None, BeforeValidator(as_id)]
