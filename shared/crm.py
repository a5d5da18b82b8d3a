"""Delivery to the customer's CRM endpoint: the webhook recipe's transport.

Each request carries ``Content-Type: application/json``, ``Idempotency-Key`` (the Drift
event's key: equal for redeliveries and duplicate webhooks, new for a later push), an optional
``Authorization: Bearer`` token and an optional ``X-Signature: t=<unix>,v1=<hex>`` HMAC-SHA256
over ``"t.body"`` (one ``v1`` per enabled version of the signing secret while a rotation
overlaps). Answers: 2xx delivered; 408, 409, 429, 5xx, timeouts and connection errors are
transient (Pub/Sub redelivers); other 4xx and 3xx are permanent. The CRM's answer goes into the
dead-letter message only; log lines get its status, error code and a digest. A 401/403 first
re-reads the Secret Manager token and the signing secret's versions once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from shared.errors import CrmRejectedError, CrmTransientError
from shared.http import pooled_session
from shared.logger import redact
from shared.secrets import Secret, SecretVersions

TRANSIENT_STATUSES = frozenset({408, 409, 429})
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


@dataclass(frozen=True)
class Delivery:
    status: int
    url: str


class CrmClient:
    """Sends bodies to the CRM. Thread-safe; one per process."""

    def __init__(
        self,
        timeout: float = 10.0,
        api_token: Secret | None = None,
        signing_secret: SecretVersions | None = None,
        connect_timeout: float = 3.05,
        pool_size: int = 16,
    ) -> None:
        self._timeouts = (min(connect_timeout, timeout), timeout)
        self._api_token = api_token
        self._signing_secret = signing_secret
        self._session = pooled_session(pool_size)

    def close(self) -> None:
        self._session.close()

    def send(self, url: str, body: bytes, idempotency_key: str, method: str = "POST") -> Delivery:
        response, token = self._send_once(url, body, idempotency_key, method)
        if response.status_code in (401, 403) and self._reread_credentials(token):
            response, _ = self._send_once(url, body, idempotency_key, method)
        return self._outcome(url, response)

    def _reread_credentials(self, token: str | None) -> bool:
        """After a refusal, re-read what Secret Manager holds (the token, the signing
        secret's enabled versions); True when something may have changed."""
        reread = False
        api_token = self._api_token
        if token is not None and api_token is not None and api_token.from_secret_manager:
            api_token.refresh(stale=token)
            reread = True
        signing = self._signing_secret
        if signing is not None and signing.from_secret_manager:
            signing.refresh()
            reread = True
        return reread

    def _send_once(
        self, url: str, body: bytes, key: str, method: str
    ) -> tuple[requests.Response, str | None]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        token = self._api_token.get() if self._api_token else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._signing_secret:
            headers["X-Signature"] = signature_header(self._signing_secret.get(), body)
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeouts,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise CrmTransientError(f"CRM timed out after {self._timeouts[1]:g}s") from None
        except requests.ConnectionError as error:
            raise CrmTransientError(f"CRM unreachable ({type(error).__name__})") from None
        return response, token

    @staticmethod
    def _outcome(url: str, response: requests.Response) -> Delivery:
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(status=status, url=url)
        summary, detail = describe_answer(response.text, response.reason)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise CrmTransientError(f"CRM answered {status} ({summary})", detail=detail)
        raise CrmRejectedError(f"CRM rejected the record with {status} ({summary})", detail=detail)


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
