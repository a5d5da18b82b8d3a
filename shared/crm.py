"""Delivery to the customer's CRM (contract section 6).

Each request carries ``Content-Type: application/json``, ``Idempotency-Key`` (the Drift
event's key: equal for redeliveries and duplicate webhooks, new for a later push), an optional
``Authorization: Bearer`` token and an optional ``X-Signature: t=<unix>,v1=<hex>`` HMAC-SHA256
over ``"t.body"``. Answers: 2xx delivered; 408, 409, 429, 5xx, timeouts and connection errors
are transient (Pub/Sub redelivers); other 4xx and 3xx are permanent, with the CRM's answer
(trimmed) as the dead-letter reason. A 401/403 first re-reads a Secret Manager token once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import requests

from shared.errors import CrmRejectedError, CrmTransientError
from shared.http import pooled_session
from shared.logger import redact
from shared.secrets import Secret

TRANSIENT_STATUSES = frozenset({408, 409, 429})
_ANSWER_LIMIT = 300


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


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
        signing_secret: Secret | None = None,
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
        refused = response.status_code in (401, 403) and token is not None
        if refused and self._api_token is not None and self._api_token.from_secret_manager:
            self._api_token.refresh(stale=token)
            response, _ = self._send_once(url, body, idempotency_key, method)
        return self._outcome(url, response)

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
        answer = _trimmed(response)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise CrmTransientError(f"CRM answered {status}: {answer}")
        raise CrmRejectedError(f"CRM rejected the record with {status}: {answer}")


def _trimmed(response: requests.Response) -> str:
    text = redact(response.text.strip().replace("\n", " "))  # redact whole, then cut
    if len(text) > _ANSWER_LIMIT:
        text = text[:_ANSWER_LIMIT] + "..."
    return text or (response.reason or "")
