"""The previous release's CRM transport, kept for the tests as the reference the webhook recipe
is proven equal to (headers, body bytes, signature, the reading of every status, one re-read of a
Secret Manager token). Production code delivers through ``shared.recipes``."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from shared.crm import TRANSIENT_STATUSES, describe_answer, signature_header
from shared.errors import CrmRejectedError, CrmTransientError
from shared.http import pooled_session
from shared.secrets import Secret, SecretVersions


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
