"""Small stateful fakes of the vendors' APIs on pytest-httpserver, and a harness that plays the
worker: one journal per event (kept across retries, as the ledger keeps it) and one memory per
conversation. The full stand-ins and contract checks live with the devtools; these only answer
as the vendors document, enough to count what a recipe leaves behind."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from shared.errors import TransientError
from shared.recipes import Delivery, MemoryJournal, RecipeRunner
from tests.unit.recipes.helpers import RECORD

ANY_PATH = re.compile(".*")


@dataclass
class Fault:
    """Answer ``status`` / ``body`` to the next ``times`` requests matching ``method path``;
    ``after_write``: do the real work first, then answer the fault (an answer lost after the
    CRM wrote)."""

    method: str
    path: str
    status: int
    body: Any = None
    times: int = 1
    after_write: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    skip: int = 0  # matching requests answered normally before the fault applies


class FakeApi:
    """Routes (method, path regex) to handlers; records every request; injects faults."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = []
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def route(self, method: str, pattern: str) -> Callable[..., Any]:
        def register(handler: Callable[..., tuple[int, Any]]) -> Callable[..., Any]:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.seen.append((request.method, request.path))
            if not self.authorized(request):
                return _json(401, self.unauthorized())
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.method == request.method and re.fullmatch(f.path, request.path)
                ),
                None,
            )
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                if fault.after_write:
                    self.dispatch(request)
                return _json(fault.status, fault.body, fault.headers)
            status, body = self.dispatch(request)
            return _json(status, body)

    def dispatch(self, request: Request) -> tuple[int, Any]:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                body = request.get_json(silent=True)
                return handler(request, body, *match.groups())
        return 404, {"message": "no such route"}

    def unauthorized(self) -> Any:
        return {"message": "unauthorized"}

    def requests_to(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.seen if method is None or m == method)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    text = "" if body is None else json.dumps(body)
    return Response(text, status=status, content_type="application/json", headers=headers or {})


class Worker:
    """Plays the worker and its ledger around a runner: retries a transient failure with the
    same journal, keeps each conversation's memory, counts requests per delivery."""

    def __init__(self, runner: RecipeRunner, api: FakeApi) -> None:
        self.runner = runner
        self.api = api
        self.memory: dict[Any, dict[str, Any]] = {}
        self.journals: dict[str, MemoryJournal] = {}

    def deliver(self, record: dict[str, Any], key: str, attempts: int = 3) -> tuple[Delivery, int]:
        """(the delivery, how many requests every attempt sent together)."""
        journal = self.journals.setdefault(key, MemoryJournal())
        conversation = record["conversation"]["id"]
        before = len(self.api.seen)
        for attempt in range(attempts):
            try:
                delivery = self.runner.deliver(
                    "conversation",
                    record,
                    journal=journal,
                    memory=self.memory.get(conversation, {}),
                    idempotency_key=key,
                )
            except TransientError:
                if attempt == attempts - 1:
                    raise
                continue
            self.memory.setdefault(conversation, {}).update(delivery.memory)
            return delivery, len(self.api.seen) - before
        raise AssertionError("unreachable")

    def gdpr(self, email: str | None, key: str = "gdpr-1") -> Delivery:
        document = {
            "event": {"type": "gdpr_delete_requested", "org_id": 1, "key": key},
            "contact": {"email": email, "id": 42},
        }
        return self.runner.deliver("gdpr", document, journal=MemoryJournal(), idempotency_key=key)


def record(
    conversation: int = 3275727977, email: str | None = "gregg@example.com", **contact: Any
) -> dict[str, Any]:
    result = copy.deepcopy(RECORD)
    result["conversation"]["id"] = conversation
    result["contact"]["email"] = email
    result["contact"].update(contact)
    return result
