"""A local CRM endpoint that records what it receives, over loopback HTTP.

Any ``POST``/``PUT``/``PATCH``/``DELETE`` outside ``/_sink/`` is recorded and answered
``200 {"ok": true}``. The sink checks the ``X-Signature`` header when given a signing secret
(``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``, several ``v1`` allowed, 300 s tolerance),
enforces ``Authorization: Bearer <token>`` when given an API token (401 otherwise), and can be
told to fail (any 4xx/5xx status, ``slow``, ``reset``) so the worker's retry paths get exercised.

Every request to a CRM path is an *attempt*; only the ones answered 2xx are *received*.

People: ``GET /`` shows what arrived, newest first: per request a summary (event, conversation,
contact, participants, outcome, signature), the transcript, and the raw request folded below;
new requests appear without a reload (the page polls ``GET /_sink/cards?after=N``), and a filter
keeps one conversation (``GET /?conversation=ID``). Programs:
``GET /_sink/received``, ``GET /_sink/attempts``, ``POST /_sink/faults {"kind", "times"}``,
``POST /_sink/faults/clear``, ``POST /_sink/reset``, ``GET /_sink/health``.

``python -m devtools.crm_sink --port 0`` prints ``crm-sink listening on http://127.0.0.1:PORT``
and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import html
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools._httpbase import BackgroundServer, BaseHandler, serve_until_signalled

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
DEFAULT_MAX_RECORDS = 10_000
RECORDED_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HTML_PAGE_LIMIT = 200  # newest attempts shown on GET /
_REDACTED_HEADERS = ("authorization", "proxy-authorization")

# Outcomes of an attempt.
ACCEPTED = "accepted"
REJECTED = "rejected"  # 401: missing/wrong API token, or bad signature with enforce_signature
FAULTED = "faulted"  # an injected fault answered it


class Headers(dict):
    """A dict of request headers (original names) whose lookups ignore case."""

    def _find(self, name: str) -> str | None:
        if dict.__contains__(self, name):
            return name
        lowered = name.lower()
        for key in self:
            if key.lower() == lowered:
                return key
        return None

    def __getitem__(self, name: str) -> str:
        key = self._find(name)
        if key is None:
            raise KeyError(name)
        return dict.__getitem__(self, key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def get(self, name: str, default: Any = None) -> Any:
        key = self._find(name)
        return default if key is None else dict.__getitem__(self, key)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with credentials hidden: ``Authorization: Bearer ***``."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in _REDACTED_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} ***" if scheme else "***"
        out[name] = value
    return out


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` (``t=..,v1=..[,v1=..]``) signs ``body`` with one of ``secrets``."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value.strip())
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        for candidate in candidates:
            # No early exit: every comparison runs, in constant time.
            ok |= hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace"))
    return ok


@dataclass
class SinkRecord:
    """One request to a CRM path."""

    time: float  # epoch seconds when it arrived
    method: str
    path: str  # without the query string
    query: str
    headers: Headers
    body: bytes
    json: Any  # the body parsed as JSON, None when it is not JSON
    signature_ok: bool | None  # None: no signing secret configured
    outcome: str = ACCEPTED  # ACCEPTED, REJECTED or FAULTED
    status: int = 200  # what the sink answered (0: no answer, the connection was dropped)
    fault: str | None = None  # the injected fault kind, if any
    seq: int = field(default=0)  # arrival order, 1-based, across all attempts

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with credentials redacted and the body parsed (or as text)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "iso_time": _iso(self.time),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": redact_headers(self.headers),
            "body": self.json if self.json is not None else self.text,
            "signature_ok": self.signature_ok,
            "idempotency_key": self.idempotency_key,
            "outcome": self.outcome,
            "status": self.status,
            "fault": self.fault,
        }


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="milliseconds")


def _fault_kind(kind: str | int) -> str:
    kind = str(kind).strip()
    if kind in ("slow", "reset"):
        return kind
    if kind.isdigit() and 400 <= int(kind) <= 599:
        return kind
    raise ValueError(f"unknown fault kind {kind!r}: an HTTP status 400-599, 'slow' or 'reset'")


class CrmSink(BackgroundServer):
    """The CRM sink (see the module docstring)."""

    thread_name = "crm-sink"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        signing_secret: str | Iterable[str] | None = None,
        api_token: str | None = None,
        *,
        enforce_signature: bool = False,
        slow_seconds: float = 30.0,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        """``signing_secret`` may be several secrets (any one verifies: secret rotation).
        With ``enforce_signature`` a bad or missing signature gets 401 instead of being
        accepted with ``signature_ok=False``."""
        super().__init__(host, port)
        if isinstance(signing_secret, str):
            signing_secret = [signing_secret]
        self.signing_secrets: list[str] = [s for s in (signing_secret or []) if s]
        self.api_token = api_token or None
        self.enforce_signature = enforce_signature
        self.slow_seconds = float(slow_seconds)
        self.max_records = max_records
        self._cond = threading.Condition(threading.RLock())
        self._received: deque[SinkRecord] = deque(maxlen=max_records)
        self._attempts: deque[SinkRecord] = deque(maxlen=max_records)
        self._attempt_count = 0
        self._in_flight = 0
        self._faults: deque[list[Any]] = deque()

    # -- faults -----------------------------------------------------------------------------

    def add_fault(self, kind: str | int, times: int | None = 1) -> None:
        """Queue a fault for the next CRM requests: ``"500"`` (any 400-599), ``"slow"`` (wait
        ``slow_seconds``, cut short by stop(), then answer normally) or ``"reset"`` (TCP RST, no
        answer). Consumed FIFO; ``times=None`` means forever."""
        kind = _fault_kind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._cond:
            self._faults.append([kind, times])

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def _take_fault(self) -> str | None:
        with self._cond:
            if not self._faults:
                return None
            head = self._faults[0]
            kind, remaining = head
            if remaining is not None:
                if remaining <= 1:
                    self._faults.popleft()
                else:
                    head[1] = remaining - 1
            return kind

    # -- records ----------------------------------------------------------------------------

    def _record(self, record: SinkRecord) -> None:
        with self._cond:
            self._attempt_count += 1
            record.seq = self._attempt_count
            self._attempts.append(record)
            if record.outcome == ACCEPTED:
                self._received.append(record)
            self._cond.notify_all()

    def received(self) -> list[SinkRecord]:
        """Accepted requests, oldest first (the last ``max_records``)."""
        with self._cond:
            return list(self._received)

    def attempts(self) -> list[SinkRecord]:
        """Every request to a CRM path (accepted, rejected, faulted), oldest first."""
        with self._cond:
            return list(self._attempts)

    @property
    def attempt_count(self) -> int:
        """How many requests reached a CRM path since start/reset (never truncated)."""
        with self._cond:
            return self._attempt_count

    @property
    def in_flight(self) -> int:
        """CRM requests being answered right now (a ``slow`` fault holds one)."""
        with self._cond:
            return self._in_flight

    def rejected(self) -> list[SinkRecord]:
        return [r for r in self.attempts() if r.outcome == REJECTED]

    def faulted(self) -> list[SinkRecord]:
        return [r for r in self.attempts() if r.outcome == FAULTED]

    def by_idempotency_key(self) -> dict[str | None, list[SinkRecord]]:
        """Accepted requests grouped by ``Idempotency-Key`` (None: requests without one)."""
        grouped: dict[str | None, list[SinkRecord]] = {}
        for record in self.received():
            grouped.setdefault(record.idempotency_key, []).append(record)
        return grouped

    def reset(self) -> None:
        """Forget every record and fault."""
        with self._cond:
            self._received.clear()
            self._attempts.clear()
            self._attempt_count = 0
            self._faults.clear()
            self._cond.notify_all()

    def wait_for(
        self,
        condition: int | Callable[[SinkRecord], bool] = 1,
        timeout: float = 10.0,
        *,
        count: int = 1,
    ) -> list[SinkRecord]:
        """Wait until enough accepted requests arrived, and return them.

        ``condition`` is either a number (that many accepted requests in all) or a predicate on
        one record (then ``count`` records matching it). Returns the matching records, oldest
        first; raises TimeoutError describing what did arrive when ``timeout`` passes first.
        """
        if isinstance(condition, int):
            predicate: Callable[[SinkRecord], bool] | None = None
            count = condition
        else:
            predicate = condition
        return self._wait(lambda: self._received, predicate, count, timeout, "accepted")

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> list[SinkRecord]:
        """Wait until ``count`` requests of any outcome arrived; return them all."""
        return self._wait(lambda: self._attempts, None, count, timeout, "attempted")

    def _wait(
        self,
        source: Callable[[], deque[SinkRecord]],
        predicate: Callable[[SinkRecord], bool] | None,
        count: int,
        timeout: float,
        what: str,
    ) -> list[SinkRecord]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                records = list(source())
                matching = records if predicate is None else [r for r in records if predicate(r)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._describe_timeout(what, count, matching, timeout))
                self._cond.wait(remaining)

    def _describe_timeout(
        self, what: str, count: int, matching: list[SinkRecord], timeout: float
    ) -> str:
        attempts = list(self._attempts)
        recent = ", ".join(
            f"#{r.seq} {r.method} {r.path} -> {r.status or 'dropped'} ({r.outcome}"
            + (f": {r.fault}" if r.fault else "")
            + ")"
            for r in attempts[-5:]
        )
        return (
            f"CRM sink: waited {timeout:g}s for {count} {what} request(s) matching, got "
            f"{len(matching)}; {len(self._received)} accepted, {self._attempt_count} attempts "
            f"in all; pending faults: {[tuple(f) for f in self._faults]}; "
            f"last attempts: {recent or 'none'}"
        )

    # -- checks -----------------------------------------------------------------------------

    def check_signature(self, header: str | None, body: bytes) -> bool | None:
        if not self.signing_secrets:
            return None
        return verify_signature(header, body, self.signing_secrets)

    def token_ok(self, authorization: str | None) -> bool:
        if self.api_token is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_token.encode()
        )

    # -- the human page ---------------------------------------------------------------------

    def render_html(self, conversation: str | None = None) -> str:
        """The page for people: newest first, live (see ``_PAGE_SCRIPT``), optionally only the
        requests about one conversation (``GET /?conversation=ID``, also the filter box)."""
        wanted = (conversation or "").strip()
        shown = [
            r for r in reversed(self.attempts()) if not wanted or wanted in _summary(r).conversation
        ][:HTML_PAGE_LIMIT]
        last = self.attempt_count
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>CRM sink</title><style>{_PAGE_STYLE}</style></head><body>",
            "<h1>CRM sink</h1>",
            f"<p id='counts'>{html.escape(self._counts())}</p>",
            "<p class='tools'><label>Conversation id <input id='filter' type='search' "
            f"value='{html.escape(wanted)}' placeholder='all conversations' autocomplete='off'>"
            "</label> <small>Newest first; new requests appear here as they arrive.</small></p>",
            f"<main id='records' data-last='{last}'>",
        ]
        if not shown:
            parts.append("<p id='empty'><em>Nothing received yet.</em></p>")
        parts.extend(render_card(r) for r in shown)
        parts.append(f"</main><script>{_PAGE_SCRIPT}</script></body></html>")
        return "".join(parts)

    def _counts(self) -> str:
        return f"{len(self.received())} accepted, {self.attempt_count} attempts in all."

    def cards_after(self, seq: int) -> dict[str, Any]:
        """What the page's poll gets: the cards of the requests after ``seq``, oldest first."""
        newer = [r for r in self.attempts() if r.seq > seq][-HTML_PAGE_LIMIT:]
        return {
            "counts": self._counts(),
            "last": max([seq, *(r.seq for r in newer)]),
            "cards": [
                {"seq": r.seq, "conversation": _summary(r).conversation, "html": render_card(r)}
                for r in newer
            ],
        }


# -- the page for people --------------------------------------------------------------------

_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em;max-width:70em}"
    "pre{background:#f4f4f4;padding:.5em;overflow:auto;white-space:pre-wrap}"
    ".r{border:1px solid #ccc;margin:.8em 0;padding:.5em .8em}"
    ".accepted{border-left:6px solid #2a2}.rejected{border-left:6px solid #c22}"
    ".faulted{border-left:6px solid #e90}small{color:#666}"
    "dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.4em 0}"
    "dl.summary dt{color:#555}dl.summary dd{margin:0}"
    ".bad{color:#c22;font-weight:bold}h3{font-size:1em;margin:.6em 0 .2em}"
)

# Polls /_sink/cards for what is newer than the last request shown and puts it on top, leaving
# every card already shown (and whatever a person opened in it) as it is; the filter hides the
# cards of other conversations. No reload, no external assets.
_PAGE_SCRIPT = """
(function () {
  var box = document.getElementById('records');
  var filter = document.getElementById('filter');
  var last = Number(box.dataset.last || 0);
  function apply() {
    var wanted = filter.value.trim();
    Array.prototype.forEach.call(box.querySelectorAll('article.r'), function (card) {
      card.hidden = wanted !== '' && (card.dataset.conversation || '').indexOf(wanted) < 0;
    });
  }
  filter.addEventListener('input', function () {
    apply();
    var wanted = filter.value.trim();
    history.replaceState(null, '', wanted ? '?conversation=' + encodeURIComponent(wanted)
                                          : location.pathname);
  });
  function poll() {
    fetch('/_sink/cards?after=' + last, {cache: 'no-store'})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) {
          data.cards.forEach(function (card) {
            if (!document.getElementById('r-' + card.seq)) {
              box.insertAdjacentHTML('afterbegin', card.html);
            }
          });
          if (data.cards.length) {
            var empty = document.getElementById('empty');
            if (empty) { empty.remove(); }
            apply();
          }
          last = Math.max(last, data.last);
          document.getElementById('counts').textContent = data.counts;
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 1000); });
  }
  apply();
  setTimeout(poll, 1000);
})();
"""


@dataclass(frozen=True)
class Summary:
    """What a person looks for first in a request: which event, which conversation, whose."""

    event_type: str
    conversation: str
    contact_name: str
    contact_email: str
    company: str
    participants: str
    transcript: str | None


def _text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _dig(body: Any, *paths: str) -> Any:
    """The first of the dotted ``paths`` present in ``body`` (a vendor body, or ours)."""
    for path in paths:
        value: Any = body
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        if value not in (None, "", [], {}):
            return value
    return None


def _summary(record: SinkRecord) -> Summary:
    body = record.json if isinstance(record.json, dict) else {}
    contact = _dig(body, "contact") if isinstance(_dig(body, "contact"), dict) else {}
    name = _dig(contact, "name") or " ".join(
        str(part)
        for part in (_dig(contact, "first_name", "firstName"), _dig(contact, "last_name"))
        if part
    )
    participants = _dig(body, "participants")
    if isinstance(participants, list):
        people = []
        for person in participants:
            if isinstance(person, dict):
                label = _text(person.get("name")) or _text(person.get("email")) or "?"
                if person.get("email") and person.get("name"):
                    label += f" <{person['email']}>"
                people.append(label)
            else:
                people.append(_text(person))
        participants_text = ", ".join(people)
    else:
        participants_text = _text(participants)
    transcript = _dig(body, "transcript")
    return Summary(
        event_type=_text(_dig(body, "type", "event.type", "event_type", "action")),
        conversation=_text(_dig(body, "conversation.id", "conversation_id", "conversationId")),
        contact_name=_text(name),
        contact_email=_text(_dig(contact, "email")),
        company=_text(_dig(contact, "company", "company_name")),
        participants=participants_text,
        transcript=transcript if isinstance(transcript, str) else None,
    )


def _raw_body(record: SinkRecord) -> str:
    """The body as sent: JSON indented with its keys in the order they came, else the text."""
    if record.json is not None:
        return json.dumps(record.json, indent=2, ensure_ascii=False)
    return record.text


def render_card(record: SinkRecord) -> str:
    """One request: its summary first, the transcript, then the raw request folded."""
    summary = _summary(record)
    esc = html.escape
    if record.signature_ok is None:
        signature = "not checked (no signing secret)"
    else:
        signature = "valid" if record.signature_ok else "<span class='bad'>INVALID</span>"
    outcome = f"{record.outcome}, answered {record.status or 'nothing (dropped)'}"
    if record.fault:
        outcome += f" (injected fault: {record.fault})"
    rows = [
        ("Event", summary.event_type or "-"),
        ("Conversation", summary.conversation or "-"),
        ("Contact", summary.contact_name or "-"),
        ("Email", summary.contact_email or "-"),
        ("Company", summary.company or "-"),
        ("Participants", summary.participants or "-"),
        ("Outcome", outcome),
    ]
    target = record.path + (f"?{record.query}" if record.query else "")
    headers = "\n".join(f"{k}: {v}" for k, v in redact_headers(record.headers).items())
    heading = summary.event_type or f"{record.method} {target}"
    if summary.conversation:
        heading += f" · conversation {summary.conversation}"
    parts = [
        f"<article class='r {esc(record.outcome)}' id='r-{record.seq}' data-seq='{record.seq}'"
        f" data-conversation='{esc(summary.conversation)}'>",
        f"<b>#{record.seq} {esc(heading)}</b> <small>{esc(_iso(record.time))}</small>",
        "<dl class='summary'>",
        *(f"<dt>{label}</dt><dd>{esc(value)}</dd>" for label, value in rows),
        f"<dt>Signature</dt><dd>{signature}</dd></dl>",
    ]
    if summary.transcript is not None:
        parts.append(f"<h3>Transcript</h3><pre class='transcript'>{esc(summary.transcript)}</pre>")
    parts.append(
        f"<details><summary>{esc(record.method)} {esc(target)}: headers and body as sent"
        f" (idempotency key {esc(record.idempotency_key or '-')})</summary>"
        f"<pre class='headers'>{esc(headers)}</pre><pre class='body'>{esc(_raw_body(record))}</pre>"
        "</details></article>"
    )
    return "".join(parts)


# -- HTTP -----------------------------------------------------------------------------------


class _SinkHandler(BaseHandler):
    server_version = "crm-sink"

    @property
    def sink(self) -> CrmSink:
        return self.server.app

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if not self._prepare():
            return
        try:
            if self.route == "/_sink" or self.route.startswith("/_sink/"):
                self._control()
            elif self.command in RECORDED_METHODS:
                self._crm()
            elif self.command in ("GET", "HEAD") and self.route in ("/", "/index.html"):
                page = self.sink.render_html(self.query_value("conversation")).encode("utf-8")
                self.send_bytes(
                    200, page, "text/html; charset=utf-8", {"Cache-Control": "no-store"}
                )
            else:
                self.send_json(404, {"ok": False, "error": "not found"})
        except Exception as exc:  # a bug in the fake must not look like a hang
            self.send_json(500, {"ok": False, "error": f"sink error: {exc!r}"})

    def _crm(self) -> None:
        sink = self.sink
        with sink._cond:
            sink._in_flight += 1
        try:
            self._crm_request()
        finally:
            with sink._cond:
                sink._in_flight -= 1

    def _crm_request(self) -> None:
        sink = self.sink
        parts = self.path.split("?", 1)
        headers = Headers(self.headers.items())
        record = SinkRecord(
            time=time.time(),
            method=self.command,
            path=self.route,
            query=parts[1] if len(parts) > 1 else "",
            headers=headers,
            body=self.body,
            json=self.json_body(),
            signature_ok=sink.check_signature(headers.get(SIGNATURE_HEADER), self.body),
        )
        fault = sink._take_fault()
        if fault == "slow":
            if not self.pause(sink.slow_seconds):
                self.drop_connection(reset=False)  # stopping: no answer, nothing recorded
                return
            record.fault = fault  # then answered like any other request
        elif fault == "reset":
            record.outcome, record.status, record.fault = FAULTED, 0, fault
            sink._record(record)
            self.drop_connection(reset=True)
            return
        elif fault is not None:
            record.outcome, record.status, record.fault = FAULTED, int(fault), fault
            sink._record(record)
            self.send_json(record.status, {"ok": False, "error": "injected fault"})
            return

        if not sink.token_ok(self.headers.get("Authorization")):
            record.outcome, record.status = REJECTED, 401
            sink._record(record)
            self.send_json(401, {"ok": False, "error": "unauthorized"})
            return
        if sink.enforce_signature and record.signature_ok is False:
            record.outcome, record.status = REJECTED, 401
            sink._record(record)
            self.send_json(401, {"ok": False, "error": "bad signature"})
            return
        sink._record(record)
        self.send_json(200, {"ok": True})

    def _control(self) -> None:
        sink = self.sink
        route = self.route.rstrip("/")
        if self.command in ("GET", "HEAD"):
            if route == "/_sink/health":
                self.send_json(200, {"ok": True, "in_flight": sink.in_flight})
            elif route == "/_sink/received":
                self.send_json(200, [r.to_dict() for r in sink.received()])
            elif route == "/_sink/attempts":
                self.send_json(200, [r.to_dict() for r in sink.attempts()])
            elif route == "/_sink/cards":
                after = self.query_value("after") or "0"
                if not after.isdigit():
                    self.send_json(400, {"ok": False, "error": "after: a request number"})
                else:
                    self.send_json(200, sink.cards_after(int(after)), {"Cache-Control": "no-store"})
            else:
                self.send_json(404, {"ok": False, "error": "not found"})
            return
        if self.command != "POST":
            self.send_json(405, {"ok": False, "error": "method not allowed"})
            return
        body = self.json_body()
        if not isinstance(body, dict):
            body = {}
        try:
            if route == "/_sink/faults":
                sink.add_fault(body.get("kind", ""), body.get("times", 1))
                self.send_json(200, {"ok": True})
            elif route == "/_sink/faults/clear":
                sink.clear_faults()
                self.send_json(200, {"ok": True})
            elif route == "/_sink/reset":
                sink.reset()
                self.send_json(200, {"ok": True})
            else:
                self.send_json(404, {"ok": False, "error": "not found"})
        except (TypeError, ValueError) as exc:
            self.send_json(400, {"ok": False, "error": str(exc)})


CrmSink.handler_class = _SinkHandler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.crm_sink", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--signing-secret",
        action="append",
        default=[],
        help="HMAC secret for X-Signature (repeat for rotation)",
    )
    parser.add_argument("--api-token", default=None, help="require Authorization: Bearer TOKEN")
    parser.add_argument("--enforce-signature", action="store_true", help="401 on bad signature")
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    parser.add_argument("--max-records", type=int, default=DEFAULT_MAX_RECORDS)
    args = parser.parse_args(argv)
    sink = CrmSink(
        host=args.host,
        port=args.port,
        signing_secret=args.signing_secret or None,
        api_token=args.api_token,
        enforce_signature=args.enforce_signature,
        slow_seconds=args.slow_seconds,
        max_records=args.max_records,
    )
    return serve_until_signalled(sink, "crm-sink listening on")


if __name__ == "__main__":
    sys.exit(main())
