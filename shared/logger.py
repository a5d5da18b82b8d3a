"""Structured JSON logging in Cloud Logging's format, with a guard that keeps secrets out.

One JSON object per line on stdout: ``severity``, ``message``, ``time``, ``logger`` and the
caller's fields; keys whose value is empty are dropped. Cloud Logging reads ``severity`` and
``message``; everything else lands in ``jsonPayload``.

The guard works at two levels:

* by key: a field called ``token``, ``secret``, ``authorization``, ``password`` or
  ``transcript`` (in any case, or ending so) is never written as it is;
* by value: every secret the process has read (``register_secret``) is replaced by
  ``[REDACTED]`` wherever it appears in the finished line, messages and tracebacks included.

Usage::

    log = get_logger(__name__)
    log.info("webhook accepted", event_type="conversation_push", org_id=5000883)
    with log_context(conversation_id=123):
        log.error("delivery failed", reason="...")
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

REDACTED = "[REDACTED]"
_SENSITIVE_KEYS = ("token", "secret", "authorization", "password", "transcript")
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words

_secrets: tuple[str, ...] = ()  # longest first, each with its JSON-escaped forms
_secrets_lock = threading.Lock()
_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "drift_bridge_log_context", default=None
)


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in a log line again (in this process), as it is or as JSON
    writes it (quotes, backslashes, control and non-ASCII characters escaped)."""
    global _secrets
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    with _secrets_lock:
        if value not in _secrets:
            _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` (longest first, so a secret that contains
    another is replaced whole)."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(lowered.endswith(word) for word in _SENSITIVE_KEYS)


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None or value == "" or value == {} or value == []:
            continue
        out[str(key)] = REDACTED if _is_sensitive(str(key)) else _clean_value(value)
    return out


def _clean_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _clean(value)
    if isinstance(value, list | tuple):
        return [_clean_value(item) for item in value]
    return value


_FIXED_KEYS = frozenset({"severity", "message", "time", "logger", "stack_trace"})


class JsonFormatter(logging.Formatter):
    """Formats a record as one Cloud Logging JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, record.levelname),
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "logger": record.name,
        }
        for fields in (_context.get() or {}, getattr(record, "fields", {})):
            for key, value in _clean(fields).items():
                entry[f"{key}_" if key in _FIXED_KEYS else key] = value
        if record.exc_info:
            entry["stack_trace"] = "".join(traceback.format_exception(*record.exc_info))
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class StructuredLogger:
    """A thin wrapper: ``log.info("message", key=value, ...)``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, message: str, exc_info: bool, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, exc_info=exc_info, extra={"fields": fields})

    def debug(self, message: str, **fields: Any) -> None:
        self._log(logging.DEBUG, message, False, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log(logging.INFO, message, False, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, message, False, fields)

    def error(self, message: str, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, message, exc_info, fields)

    def critical(self, message: str, **fields: Any) -> None:
        self._log(logging.CRITICAL, message, False, fields)

    def exception(self, message: str, **fields: Any) -> None:
        self._log(logging.ERROR, message, True, fields)


_ROOT = "drift_bridge"
_handler: logging.Handler | None = None
_configured = False
_configure_lock = threading.Lock()


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Install the JSON handler on the bridge's logger namespace (idempotent)."""
    global _configured, _handler
    with _configure_lock:
        root = logging.getLogger(_ROOT)
        root.setLevel(level.upper())
        if _configured and stream is None:
            return
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        for name in (_ROOT, *_adopted):
            target = logging.getLogger(name)
            for old in list(target.handlers):
                target.removeHandler(old)
            target.addHandler(handler)
            target.propagate = False
        _handler = handler
        _configured = True


_adopted: set[str] = set()


class _DropExpected(logging.Filter):
    """Drops records about exceptions the bridge raises on purpose and has logged already."""

    def __init__(self, expected: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (self.expected and isinstance(error, self.expected))


def adopt(name: str, expected: tuple[type[BaseException], ...] = ()) -> None:
    """Send another logger's records through the JSON formatter and its secret guard.

    functions-framework's Flask app logs an exception that leaves the function (``Exception on
    / [POST]`` and a plain-text traceback) under the target's name; adopted, that becomes one
    JSON line with ``stack_trace``, and the ``expected`` exceptions (a ``TransientError`` the
    worker raises so that Pub/Sub redelivers, already logged as a warning) are dropped."""
    if not _configured:
        configure()
    target = logging.getLogger(name)
    for old in list(target.handlers):
        target.removeHandler(old)
    for old in list(target.filters):
        if isinstance(old, _DropExpected):
            target.removeFilter(old)
    assert _handler is not None
    target.addHandler(_handler)
    target.addFilter(_DropExpected(expected))
    target.propagate = False
    _adopted.add(name)


def get_logger(name: str) -> StructuredLogger:
    """A structured logger under the bridge's namespace (configured on first use)."""
    if not _configured:
        configure()
    return StructuredLogger(logging.getLogger(f"{_ROOT}.{name}"))


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (a correlation id, say)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)
