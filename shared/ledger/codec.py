"""Between the models and what Firestore stores: document ids, the compressed record, sizes."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from typing import Any

from shared import jsonutil
from shared.ledger.models import EventDocument

# Keys that are safe as they are as a document id; anything else is stored under its hash.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:=+-]{0,499}")
_OVERHEAD_BYTES = 2048  # the document name, field names and index entries, generously


def document_id(key: str) -> str:
    """The document id of an event key (the key itself when Firestore accepts it)."""
    if _SAFE_ID.fullmatch(key) and not (key.startswith("__") and key.endswith("__")):
        return key
    return "h-" + hashlib.sha256(key.encode()).hexdigest()


def memory_id(org_id: str, conversation_id: str) -> str:
    return document_id(f"{org_id}:{conversation_id}")


def compress(record: dict[str, Any]) -> bytes:
    """zlib of the record's JSON (escaped where UTF-8 cannot hold a lone surrogate)."""
    return zlib.compress(jsonutil.dumps(record), 6)


def decompress(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def size_without_record(document: EventDocument) -> int:
    """A generous estimate of the document's stored size, the record aside."""
    fields = document.model_dump(mode="json", by_alias=True, exclude={"record"})
    return len(json.dumps(fields, separators=(",", ":"))) + _OVERHEAD_BYTES


def to_fields(document: EventDocument, names: set[str] | None = None) -> dict[str, Any]:
    """The Firestore fields of ``document`` (only ``names``, Python field names, if given)."""
    return document.model_dump(by_alias=True, include=names)


def from_fields(fields: dict[str, Any]) -> EventDocument:
    return EventDocument.model_validate(fields)
