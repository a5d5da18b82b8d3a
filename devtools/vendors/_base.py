"""What every vendor stand-in shares: routing, the request record, call counts, faults, latency,
OAuth token bookkeeping, an HTTP control plane and the command line.

A stand-in is a ``BackgroundServer`` (see ``devtools._httpbase``) whose subclass declares its
routes (method, path pattern, endpoint name, handler) and answers in its vendor's own shapes. The
base class runs each request through the same pipeline::

    record it -> latency -> injected fault? -> vendor auth check -> handler -> answer

Handlers run under one lock, so the in-memory store is consistent however many threads call.

Faults are queued per endpoint name (or ``"*"`` for any endpoint) and consumed first in, first
out, like the Drift simulator's:

- ``rate_limit``: answered with the vendor's rate-limit answer (``retry_after`` seconds where
  the vendor sends ``Retry-After``); nothing is written.
- ``expired_token``: answered with the vendor's expired-token answer; nothing is written.
- ``lose_answer``: the request is performed (the write happens) and then the connection is
  closed without an answer, so a client sees a dropped connection after the CRM had written.
- ``server_error``: the vendor's 5xx answer; nothing is written.
- ``reset``: the connection is reset before anything is done.

Every request to an API path is kept as a ``RecordedRequest`` (``standin.requests``), so tests
can run all of them through the contract checks in ``tests/contract``.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import json
import re
import secrets
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

from devtools._httpbase import BackgroundServer, BaseHandler, dumps, serve_until_signalled
from devtools.crm_sink import Headers, redact_headers

ANY_ENDPOINT = "*"
RATE_LIMIT = "rate_limit"
EXPIRED_TOKEN = "expired_token"
LOSE_ANSWER = "lose_answer"
SERVER_ERROR = "server_error"
RESET = "reset"
FAULT_KINDS: tuple[str, ...] = (RATE_LIMIT, EXPIRED_TOKEN, LOSE_ANSWER, SERVER_ERROR, RESET)
DEFAULT_RETRY_AFTER = 2
MAX_REQUESTS_KEPT = 10_000
CONTROL_PREFIX = "/_standin"


class StandInError(ValueError):
    """A control call with bad arguments (unknown endpoint or fault kind, ...)."""


@dataclass
class RecordedRequest:
    """One request a stand-in received on an API path (the control plane is not recorded)."""

    vendor: str
    endpoint: str  # the route's name, e.g. "contacts.create"; "unknown" when no route matched
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    time: float
    seq: int = 0
    status: int | None = None  # what was answered; 0 when the connection was dropped
    fault: str | None = None  # the injected fault that shaped the answer, if any
    lost_status: int | None = None  # lose_answer: the status the dropped answer would have had
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def form(self) -> dict[str, list[str]]:
        """The body parsed as ``application/x-www-form-urlencoded``."""
        return parse_qs(self.text, keep_blank_values=True)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").lower()

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def performed(self) -> bool:
        """True when the stand-in acted on the request (answered 2xx, or wrote and lost it)."""
        if self.fault == LOSE_ANSWER:
            return self.lost_status is not None and 200 <= self.lost_status < 300
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with credentials redacted."""
        body: Any = self.json if self.json is not None else self.text
        return {
            "seq": self.seq,
            "vendor": self.vendor,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": redact_headers(self.headers),
            "body": body,
            "status": self.status,
            "fault": self.fault,
            "lost_status": self.lost_status,
        }

    def __repr__(self) -> str:  # never print a token
        return (
            f"RecordedRequest(#{self.seq} {self.vendor} {self.endpoint}: {self.method} "
            f"{self.path} -> {self.status})"
        )


@dataclass
class Answer:
    """What a handler answers: status, JSON-able body (``bytes`` sent as is, None: no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: str  # the stand-in's method name, called as handler(request, **path_params)
    auth: bool = True  # False: token endpoints, which check credentials themselves


def route(method: str, pattern: str, endpoint: str, handler: str, *, auth: bool = True) -> Route:
    """A route whose ``pattern`` is a regex with named groups, anchored at both ends."""
    return Route(method, re.compile(f"^{pattern}$"), endpoint, handler, auth)


def bearer_token(request: RecordedRequest, scheme: str = "Bearer") -> str | None:
    """The token of ``Authorization: <scheme> <token>`` (scheme compared without case)."""
    value = request.headers.get("Authorization") or ""
    given_scheme, _, token = value.partition(" ")
    if given_scheme.lower() != scheme.lower() or not token.strip():
        return None
    return token.strip()


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class TokenBook:
    """Access tokens an OAuth stand-in issued: issue, check, expire (all or by lifetime)."""

    def __init__(self, prefix: str, lifetime_seconds: float) -> None:
        self.prefix = prefix
        self.lifetime_seconds = float(lifetime_seconds)
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self, suffix: str = "") -> str:
        self.issued += 1
        token = f"{self.prefix}{self.issued}.{secrets.token_urlsafe(18)}{suffix}"
        self._expiry[token] = time.monotonic() + self.lifetime_seconds
        return token

    def valid(self, token: str | None) -> bool:
        if token is None:
            return False
        expiry = self._expiry.get(token)
        return expiry is not None and time.monotonic() < expiry

    def known(self, token: str | None) -> bool:
        """Issued by us (expired or not): tells "expired" from "never valid" answers apart."""
        return token is not None and token in self._expiry

    def expire_all(self) -> None:
        for token in self._expiry:
            self._expiry[token] = 0.0

    def clear(self) -> None:
        self._expiry.clear()
        self.issued = 0


class VendorStandIn(BackgroundServer):
    """Base class of the vendor stand-ins (see the module docstring)."""

    vendor: ClassVar[str] = ""
    routes: ClassVar[tuple[Route, ...]] = ()
    # Vendor-specific faults (e.g. Marketo's daily quota), answered by extra_fault_answer().
    extra_fault_kinds: ClassVar[tuple[str, ...]] = ()
    thread_name = "vendor-standin"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        max_requests: int = MAX_REQUESTS_KEPT,
    ) -> None:
        super().__init__(host, port)
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self.latency = float(latency)
        self._requests: deque[RecordedRequest] = deque(maxlen=max_requests)
        self._seq = 0
        self._counts: Counter[str] = Counter()
        self._faults: dict[str, deque[list[Any]]] = {}
        self._endpoints = tuple(dict.fromkeys(r.endpoint for r in self.routes))
        self.reset_store()

    # -- the store (subclasses) -------------------------------------------------------------

    def reset_store(self) -> None:
        """Forget every object the vendor holds (subclasses keep their tables here)."""

    def persons(self) -> list[dict[str, Any]]:
        """Every person record held (HubSpot contacts, Salesforce leads+contacts, ...)."""
        raise NotImplementedError

    def activities(self) -> list[dict[str, Any]]:
        """Every activity record held (notes, tasks, annotations, custom activities, ...)."""
        raise NotImplementedError

    def count_persons(self) -> int:
        return len(self.persons())

    def count_activities(self) -> int:
        return len(self.activities())

    def snapshot(self) -> dict[str, Any]:
        """Everything held, JSON-ready (for the control plane and for failure messages)."""
        with self.lock:
            return {"persons": self.persons(), "activities": self.activities()}

    # -- records and counts -----------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._endpoints

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request to an API path, oldest first (the last ``max_requests``)."""
        with self.lock:
            return list(self._requests)

    def call_counts(self) -> dict[str, int]:
        """Requests per endpoint name; every endpoint listed, 0 when never called."""
        with self.lock:
            counts = {endpoint: self._counts.get(endpoint, 0) for endpoint in self._endpoints}
            if self._counts.get("unknown"):
                counts["unknown"] = self._counts["unknown"]
            return counts

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        self._check_endpoint(endpoint, allow_any=False)
        with self.lock:
            return [r for r in self._requests if r.endpoint == endpoint]

    def wait_for_calls(
        self, endpoint: str, count: int = 1, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Wait until ``endpoint`` was called ``count`` times; return those calls."""
        self._check_endpoint(endpoint, allow_any=True)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [
                    r
                    for r in self._requests
                    if (endpoint == ANY_ENDPOINT or r.endpoint == endpoint) and r.status is not None
                ]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.vendor} stand-in: waited {timeout:g}s for {count} answered "
                        f"call(s) to {endpoint}, got {len(got)}; counts: {self.call_counts()}"
                    )
                self._cond.wait(remaining)

    def reset(self) -> None:
        """Forget requests, counts, faults and every stored object."""
        with self.lock:
            self._requests.clear()
            self._seq = 0
            self._counts.clear()
            self._faults.clear()
            self.reset_store()
            self._cond.notify_all()

    def reset_counts(self) -> None:
        """Forget requests and counts, keep the store (e.g. between a setup and the test)."""
        with self.lock:
            self._requests.clear()
            self._counts.clear()

    # -- faults -----------------------------------------------------------------------------

    def _check_endpoint(self, endpoint: str, *, allow_any: bool) -> None:
        if endpoint == ANY_ENDPOINT and allow_any:
            return
        if endpoint not in self._endpoints:
            raise StandInError(
                f"unknown {self.vendor} endpoint {endpoint!r}; one of {self._endpoints}"
            )

    def add_fault(
        self,
        kind: str,
        times: int | None = 1,
        *,
        endpoint: str = ANY_ENDPOINT,
        retry_after: float | None = DEFAULT_RETRY_AFTER,
    ) -> None:
        """Queue a fault for the next ``times`` requests to ``endpoint`` (None: forever)."""
        kinds = FAULT_KINDS + self.extra_fault_kinds
        if kind not in kinds:
            raise StandInError(f"unknown fault kind {kind!r}; one of {kinds}")
        if times is not None and times < 1:
            raise StandInError("times must be >= 1 or None")
        self._check_endpoint(endpoint, allow_any=True)
        with self.lock:
            self._faults.setdefault(endpoint, deque()).append([kind, times, retry_after])

    def rate_limit(
        self,
        times: int = 1,
        *,
        retry_after: float | None = DEFAULT_RETRY_AFTER,
        endpoint: str = ANY_ENDPOINT,
    ) -> None:
        """Answer the next ``times`` requests with the vendor's rate-limit answer."""
        self.add_fault(RATE_LIMIT, times, endpoint=endpoint, retry_after=retry_after)

    def lose_answer(self, times: int = 1, *, endpoint: str = ANY_ENDPOINT) -> None:
        """Perform the next ``times`` requests, then drop the connection without answering."""
        self.add_fault(LOSE_ANSWER, times, endpoint=endpoint)

    def expire_token(self) -> None:
        """Make the token the client holds stop working. OAuth stand-ins expire every issued
        access token (a new one from the token endpoint works); static-token stand-ins answer
        the next request with the vendor's expired-token answer."""
        self.add_fault(EXPIRED_TOKEN, 1)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def pending_faults(self) -> dict[str, list[tuple[str, int | None]]]:
        with self.lock:
            return {ep: [(k, t) for k, t, _ in q] for ep, q in self._faults.items() if q}

    def _standin_take_fault(
        self, endpoint: str, *, include_any: bool = True
    ) -> tuple[str, float | None] | None:
        """The next fault for ``endpoint``; ``"*"`` faults only when ``include_any`` (token
        endpoints take only the faults aimed at them by name)."""
        with self.lock:
            for key in (endpoint, ANY_ENDPOINT) if include_any else (endpoint,):
                queue = self._faults.get(key)
                if not queue:
                    continue
                head = queue[0]
                kind, remaining, retry_after = head
                if remaining is not None:
                    if remaining <= 1:
                        queue.popleft()
                    else:
                        head[1] = remaining - 1
                return kind, retry_after
            return None

    # -- vendor answers (subclasses) --------------------------------------------------------

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        """None when the request's credentials are good, else the vendor's 401/403 answer."""
        raise NotImplementedError

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        raise NotImplementedError

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return Answer(
            503,
            b"<html><body><h1>503 Service Unavailable</h1></body></html>",
            content_type="text/html; charset=utf-8",
        )

    def extra_fault_answer(
        self, kind: str, request: RecordedRequest, retry_after: float | None
    ) -> Answer:
        raise NotImplementedError(kind)

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        """The vendor's answer to a body that is not JSON (or not the JSON it wants)."""
        raise NotImplementedError

    @staticmethod
    def retry_after_header(retry_after: float | None) -> dict[str, str]:
        if retry_after is None:
            return {}
        return {
            "Retry-After": str(int(retry_after) if float(retry_after).is_integer() else retry_after)
        }

    # -- the pipeline -----------------------------------------------------------------------

    def _standin_match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        wrong_method = False
        for candidate in self.routes:
            match = candidate.pattern.match(path)
            if match is None:
                continue
            if candidate.method != method:
                wrong_method = True
                continue
            return candidate, {k: v for k, v in match.groupdict().items() if v is not None}, False
        return None, {}, wrong_method

    def _standin_record(self, request: RecordedRequest) -> None:
        with self.lock:
            self._seq += 1
            request.seq = self._seq
            self._counts[request.endpoint] += 1
            self._requests.append(request)

    def _standin_answered(self, request: RecordedRequest, status: int) -> None:
        with self._cond:
            request.status = status
            self._cond.notify_all()

    def handle(self, request: RecordedRequest, matched: Route) -> Answer:
        """Run the handler for a matched, authenticated request (under the store lock)."""
        handler: Callable[..., Answer] = getattr(self, matched.handler)
        with self.lock:
            return handler(request, **request.path_params)


def json_object(request: RecordedRequest) -> dict[str, Any] | None:
    """The body when it is a JSON object, else None."""
    body = request.json
    return body if isinstance(body, dict) else None


class _StandInHandler(BaseHandler):
    server_version = "vendor-standin"

    @property
    def standin(self) -> VendorStandIn:
        return self.server.app

    def _dispatch(self) -> None:
        if not self._prepare():
            return
        try:
            if self.route == CONTROL_PREFIX or self.route.startswith(CONTROL_PREFIX + "/"):
                self._control()
            else:
                self._api()
        except Exception as exc:  # a bug in the fake must not look like a hang
            self.send_json(500, {"standin_error": repr(exc)})

    def _send(self, answer: Answer) -> None:
        if answer.body is None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            return
        body = answer.body if isinstance(answer.body, bytes) else dumps(answer.body)
        self.send_bytes(answer.status, body, answer.content_type, answer.headers)

    def _api(self) -> None:
        standin = self.standin
        matched, params, wrong_method = standin._standin_match(self.command, self.route)
        request = RecordedRequest(
            vendor=standin.vendor,
            endpoint=matched.endpoint if matched else "unknown",
            method=self.command,
            path=self.route,
            query=self.query,
            headers=Headers(self.headers.items()),
            body=self.body,
            time=time.time(),
            path_params=params,
        )
        standin._standin_record(request)
        if not self.pause(standin.latency):
            self.drop_connection(reset=False)  # stopping
            standin._standin_answered(request, 0)
            return
        if matched is None:
            answer = standin.not_found_answer(request)
            if wrong_method:
                answer.status = 405
            self._finish(request, answer)
            return
        fault = standin._standin_take_fault(matched.endpoint, include_any=matched.auth)
        kind, retry_after = fault if fault else (None, None)
        if kind == RESET:
            request.fault = kind
            standin._standin_answered(request, 0)
            self.drop_connection(reset=True)
            return
        if kind in (RATE_LIMIT, EXPIRED_TOKEN, SERVER_ERROR, *standin.extra_fault_kinds):
            request.fault = kind
            if kind in standin.extra_fault_kinds:
                answer = standin.extra_fault_answer(kind, request, retry_after)
            elif kind == RATE_LIMIT:
                answer = standin.rate_limit_answer(request, retry_after)
            elif kind == EXPIRED_TOKEN:
                answer = standin.expired_token_answer(request)
            else:
                answer = standin.server_error_answer(request)
            self._finish(request, answer)
            return
        if matched.auth:
            with standin.lock:
                refused = standin.check_auth(request)
            if refused is not None:
                self._finish(request, refused)
                return
        answer = standin.handle(request, matched)
        if kind == LOSE_ANSWER:
            request.fault = kind
            request.lost_status = answer.status
            standin._standin_answered(request, 0)
            self.drop_connection(reset=False)
            return
        self._finish(request, answer)

    def _finish(self, request: RecordedRequest, answer: Answer) -> None:
        # Recorded before it is sent: a client that has its answer finds it in the record.
        self.standin._standin_answered(request, answer.status)
        self._send(answer)

    # -- control plane (no auth) ------------------------------------------------------------

    def _control(self) -> None:
        standin = self.standin
        route_ = self.route.rstrip("/")[len(CONTROL_PREFIX) :]
        if self.command == "GET":
            views: dict[str, Callable[[], Any]] = {
                "/health": lambda: {"ok": True, "vendor": standin.vendor},
                "/requests": lambda: [r.to_dict() for r in standin.requests],
                "/calls": standin.call_counts,
                "/store": standin.snapshot,
                "/faults": standin.pending_faults,
            }
            view = views.get(route_)
            if view is None:
                self.send_json(404, {"ok": False, "error": "no such control view"})
            else:
                self.send_json(200, view())
            return
        if self.command != "POST":
            self.send_json(405, {"ok": False, "error": "control calls are GET or POST"})
            return
        body = self.json_body()
        if not isinstance(body, dict):
            body = {}
        try:
            if route_ == "/faults":
                standin.add_fault(
                    str(body.get("kind", "")),
                    body.get("times", 1),
                    endpoint=str(body.get("endpoint", ANY_ENDPOINT)),
                    retry_after=body.get("retry_after", DEFAULT_RETRY_AFTER),
                )
            elif route_ == "/faults/clear":
                standin.clear_faults()
            elif route_ == "/expire-token":
                standin.expire_token()
            elif route_ == "/reset":
                standin.reset()
            else:
                self.send_json(404, {"ok": False, "error": "no such control call"})
                return
        except (StandInError, TypeError) as exc:
            self.send_json(400, {"ok": False, "error": str(exc)})
            return
        self.send_json(200, {"ok": True})


VendorStandIn.handler_class = _StandInHandler


def deep_copy(value: Any) -> Any:
    return copy.deepcopy(value)


def run_cli(
    cls: type[VendorStandIn],
    argv: Iterable[str] | None,
    options: dict[str, str] | None = None,
) -> int:
    """``python -m devtools.vendors.<vendor> --port 0``: serve until SIGTERM/SIGINT.

    ``options`` maps constructor keyword arguments (strings) to help texts; each becomes a
    ``--kebab-case`` option.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m devtools.vendors.{cls.vendor}",
        description=(sys.modules[cls.__module__].__doc__ or "").split("\n")[0],
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    for name, help_text in (options or {}).items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=help_text)
    args = parser.parse_args(list(argv) if argv is not None else None)
    kwargs = {name: getattr(args, name) for name in (options or {}) if getattr(args, name)}
    server = cls(host=args.host, port=args.port, latency=args.latency, **kwargs)
    return serve_until_signalled(server, f"{cls.vendor} stand-in listening on")
