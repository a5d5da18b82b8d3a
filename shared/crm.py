"""What every CRM delivery shares: the ``X-Signature`` header, and reading a CRM's refusal.

``X-Signature: t=<unix>,v1=<hex>`` is an HMAC-SHA256 over ``"t.body"``, with one ``v1`` per
enabled version of the signing secret while a rotation overlaps. A refusal is described twice:
a summary (the vendor's error code and a digest of its answer) that is safe in a log line, and the
answer itself, redacted and trimmed, for the dead-letter message only, since CRMs quote rejected
values back, personal data included.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from shared.logger import redact

TRANSIENT_STATUSES = frozenset({408, 409, 429})  # besides 5xx: worth retrying
_ANSWER_LIMIT = 300


def signature_header(
    secrets: str | Sequence[str], body: bytes, timestamp: int | None = None
) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``, with one ``v1=`` per secret
    (newest first) while a rotation overlaps, as standard-webhooks does. A receiver computes
    the HMAC with the secret it holds and accepts the request when any ``v1`` matches it."""
    t = int(time.time()) if timestamp is None else timestamp
    keys = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    signed = f"{t}.".encode() + body
    digests = [hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest() for key in keys]
    return ",".join([f"t={t}", *(f"v1={digest}" for digest in digests)])


_CODE_KEYS = ("errorCode", "error_code", "code", "category", "subCategory", "error", "type")


def error_code(body: Any) -> str | None:
    """The vendor's machine-readable error code, where its answer carries one (Salesforce
    ``[{"errorCode"}]``, HubSpot ``category``, Pipedrive/Zoho ``code``/``error_code``...)."""
    candidates = [body]
    if isinstance(body, list) and body:
        candidates.append(body[0])
    if isinstance(body, dict):
        for nested in ("errors", "data", "error"):
            inner = body.get(nested)
            candidates.append(inner[0] if isinstance(inner, list) and inner else inner)
    for candidate in candidates:
        if not isinstance(candidate, dict):
            continue
        for key in _CODE_KEYS:
            value = candidate.get(key)
            if isinstance(value, int | str) and not isinstance(value, bool):
                text = str(value).strip()
                if 0 < len(text) <= 64 and text.replace("_", "").replace("-", "").isalnum():
                    return text
    return None


def describe_answer(text: str, reason: str | None = None) -> tuple[str, str]:
    """``(summary, detail)`` of a CRM's refusal. The summary (status is the caller's) holds
    only the vendor's error code and a digest of the answer, so it is safe in a log line: CRMs
    quote rejected values back, personal data included. The detail is the answer itself,
    redacted then trimmed, for the dead-letter message alone."""
    stripped = text.strip()
    try:
        code = error_code(json.loads(stripped)) if stripped else None
    except ValueError:
        code = None
    digest = hashlib.sha256(stripped.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    summary = f"error {code}, answer sha256:{digest}" if code else f"answer sha256:{digest}"
    detail = redact(stripped.replace("\n", " "))  # redact whole, then cut
    if len(detail) > _ANSWER_LIMIT:
        detail = detail[:_ANSWER_LIMIT] + "..."
    return summary, detail or (reason or "")
