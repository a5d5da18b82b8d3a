"""Drift REST API client: one pooled session, bounded retries, token refresh on 403.

* Timeouts on every call (connect, read), the read timeout never beyond what is left of the
  retry budget, so one event finishes inside the function's deadline.
* 429, 5xx, timeouts and connection errors are retried with exponential backoff and jitter
  (tenacity), honouring ``Retry-After`` when Drift sends it (it does not promise to), until
  ``max_attempts`` or the time budget runs out; then ``DriftTransientError`` (Pub/Sub
  redelivers later).
* 403 (Drift's answer to a bad token; 401 is treated alike) re-reads the token from Secret
  Manager once and retries; a second refusal is ``DriftAuthError`` (permanent).
* 404 is ``DriftNotFoundError``, any other 4xx ``DriftRequestError`` (both permanent).

Drift wraps results as ``{"data": ...}``; ids can exceed 2**53 and are parsed as Python ints
(``json`` never goes through floats for integers), so they survive exactly.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared.errors import (
    DriftAuthError,
    DriftBudgetExceededError,
    DriftNotFoundError,
    DriftRequestError,
    DriftTransientError,
)
from shared.http import pooled_session
from shared.secrets import Secret

_RETRY_AFTER_CAP_SECONDS = 30.0
_event_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "drift_event_deadline", default=None
)


@contextlib.contextmanager
def event_deadline(seconds: float) -> Iterator[None]:
    """Bound every Drift call made inside the block (in this context, and in pool threads
    started with ``contextvars.copy_context()``) by one shared deadline, so that one event's
    calls together, not each call, stay inside the function's time."""
    token = _event_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _event_deadline.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    budget_seconds: float = 30.0
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.5


class _Refused(Exception):
    """Internal: Drift refused the token (403/401)."""

    def __init__(self, status: int, token: str) -> None:
        super().__init__(status)
        self.status = status
        self.token = token


class _Wait:
    """Retry-After when the last answer carried one, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(
            multiplier=policy.initial_backoff, max=policy.max_backoff, jitter=policy.jitter
        )

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, _RETRY_AFTER_CAP_SECONDS)
        return self._backoff(state)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def _drift_error_message(response: requests.Response) -> str:
    """Drift's ``{"error": {"type", "message"}}`` (or ``errors: [...]``), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type', '')}: {error.get('message', '')}"[:200]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return f"{errors[0].get('type', '')}: {errors[0].get('message', '')}"[:200]
    return response.reason or ""


class DriftClient:
    """The Drift endpoints the bridge reads. Thread-safe; share one per process."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        pool_size: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeouts = (connect_timeout, read_timeout)
        self._policy = policy or RetryPolicy()
        self._session = pooled_session(pool_size)

    def close(self) -> None:
        self._session.close()

    # -- endpoints -------------------------------------------------------------------------

    def get_conversation(self, conversation_id: int) -> dict[str, Any]:
        return _data(self.get_json("conversation", f"/conversations/{conversation_id}"))

    def get_contact(self, contact_id: int) -> dict[str, Any]:
        return _data(self.get_json("contact", f"/contacts/{contact_id}"))

    def get_transcript(self, conversation_id: int) -> str:
        response = self.get("transcript", f"/conversations/{conversation_id}/transcript")
        if "charset=" not in response.headers.get("Content-Type", "").lower():
            response.encoding = "utf-8"  # requests would assume ISO-8859-1 for text/plain
        return response.text

    def list_users(self) -> list[dict[str, Any]]:
        """Every user; Drift answers ``{"data": [...]}`` or, as in its docs, a bare list."""
        body = self.get_json("users_list", "/users/list")
        users = body.get("data") if isinstance(body, dict) else body
        if not isinstance(users, list):
            raise DriftTransientError("unexpected /users/list answer: no list of users")
        return [user for user in users if isinstance(user, dict)]

    def get_user(self, user_id: int) -> dict[str, Any]:
        return _data(self.get_json("user", f"/users/{user_id}"))

    def iter_messages(self, conversation_id: int) -> Iterator[dict[str, Any]]:
        """Every message of a conversation, following ``pagination.next``."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params = {"next": cursor} if cursor else None
            body = self.get_json("messages", f"/conversations/{conversation_id}/messages", params)
            data = body.get("data") if isinstance(body, dict) else None
            messages = data.get("messages", []) if isinstance(data, dict) else []
            yield from (message for message in messages if isinstance(message, dict))
            cursor = _next_cursor(body)
            if not cursor or cursor in seen:
                return
            seen.add(cursor)

    def list_conversations(
        self, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``/conversations/list`` (newest ``updatedAt`` first) and the next cursor."""
        params: dict[str, Any] = {"limit": min(max(limit, 1), 50)}
        if cursor:
            params["next"] = cursor
        body = self.get_json("conversations_list", "/conversations/list", params)
        data = body.get("data") if isinstance(body, dict) else body
        conversations = [item for item in data or [] if isinstance(item, dict)]
        return conversations, _next_cursor(body)

    # -- transport -------------------------------------------------------------------------

    def get_json(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.get(endpoint, path, params)
        try:
            return json.loads(response.content)
        except ValueError:
            raise DriftTransientError(f"Drift {endpoint}: answer is not JSON") from None

    def get(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET with retries; on a refused token, re-read it once and try again."""
        try:
            return self._get_with_retries(endpoint, path, params)
        except _Refused as refused:
            if not self._token.from_secret_manager:
                raise DriftAuthError(
                    f"Drift {endpoint}: access token refused ({refused.status})"
                ) from None
            self._token.refresh(stale=refused.token)
        try:
            return self._get_with_retries(endpoint, path, params)
        except _Refused as refused:
            raise DriftAuthError(
                f"Drift {endpoint}: access token refused ({refused.status}) after re-reading it"
            ) from None

    def _deadline(self) -> float:
        """The event's deadline when one is set (every call of the event shares it), else a
        budget for this call alone (operator commands)."""
        shared_deadline = _event_deadline.get()
        if shared_deadline is not None:
            return shared_deadline
        return time.monotonic() + self._policy.budget_seconds

    def _get_with_retries(self, endpoint: str, path: str, params: dict[str, Any] | None) -> Any:
        policy = self._policy
        deadline = self._deadline()

        def out_of_time(state: RetryCallState) -> bool:
            return time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline

        retrying = Retrying(
            retry=retry_if_exception_type(DriftTransientError),
            stop=stop_after_attempt(policy.max_attempts) | out_of_time,
            wait=_Wait(policy),
            reraise=True,
        )
        return retrying(self._get_once, endpoint, path, params, deadline)

    def _get_once(
        self, endpoint: str, path: str, params: dict[str, Any] | None, deadline: float
    ) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DriftBudgetExceededError(
                f"Drift {endpoint}: the event's time budget for Drift calls is spent"
            )
        token = self._token.get()
        timeout = (min(self._timeouts[0], remaining), min(self._timeouts[1], remaining))
        try:
            response = self._session.get(
                self.base_url + path,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise DriftTransientError(f"Drift {endpoint}: timed out") from None
        except requests.ConnectionError as error:
            raise DriftTransientError(
                f"Drift {endpoint}: connection failed ({type(error).__name__})"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status in (401, 403):
            raise _Refused(status, token)
        if status == 429 or status >= 500:
            raise DriftTransientError(
                f"Drift {endpoint}: {status} {_drift_error_message(response)}",
                retry_after=_retry_after(response),
            )
        if status == 404:
            raise DriftNotFoundError(f"Drift {endpoint}: not found ({path})")
        raise DriftRequestError(f"Drift {endpoint}: {status} {_drift_error_message(response)}")


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise DriftTransientError("unexpected Drift answer: no data object")
    return data


def _next_cursor(body: Any) -> str | None:
    pagination = body.get("pagination") if isinstance(body, dict) else None
    if isinstance(pagination, dict) and pagination.get("more", True) is not False:
        cursor = pagination.get("next")
        if cursor not in (None, ""):
            return str(cursor)
    return None
