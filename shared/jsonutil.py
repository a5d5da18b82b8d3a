"""JSON bytes for the wire: compact UTF-8, and ASCII escapes when the text cannot be UTF-8.

A lone UTF-16 surrogate (half an emoji, cut by a web form) is valid in JSON text and in a Python
string, but has no UTF-8 encoding. Such a value is written with ``\\uXXXX`` escapes, which every
JSON parser reads back to the same string, so the event is delivered intact instead of failing.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes (UTF-8; escaped ASCII when UTF-8 cannot hold it)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")
