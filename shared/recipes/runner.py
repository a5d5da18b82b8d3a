"""Running a recipe: the requests of one event, in order, checkpointed in a journal.

For each step: a step the journal holds as done is not sent again (its saved values are reused);
a step whose ``when`` does not hold is skipped (logged at INFO with its reason); a step the
journal holds as in flight (the request went out, the answer was lost) first runs its
``recover`` request, and counts as done when that finds what the step would have made, so a
retry never creates a second person or activity. Each answer is read with the outcome rules;
``save`` keeps values from it for later steps and ``remember`` for the conversation's memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from shared import jsonutil, logger
from shared.crm import signature_header
from shared.errors import ConfigError, PermanentError
from shared.http import pooled_session
from shared.mapping import OMIT, Mapping, MappingError, type_name
from shared.recipes.auth import Auth, OAuth2Auth, build_auth
from shared.recipes.expressions import UrlTemplate
from shared.recipes.journal import Journal, MemoryJournal
from shared.recipes.loader import METHODS, SETTINGS, EventRecipe, Recipe, Request, Step
from shared.recipes.outcomes import answer_text, classify, permanent, retry_after, transient
from shared.secrets import Secret, SecretVersions

log = logger.get_logger("recipes")


@dataclass(frozen=True)
class SentRequest:
    """One request that went out. ``url`` has no query string (it may hold an email)."""

    step: str
    method: str
    url: str
    status: int


@dataclass(frozen=True)
class Delivery:
    skipped: str | None  # why nothing was sent, or None
    saved: dict[str, Any]
    memory: dict[str, Any]  # what ``remember`` keeps for the conversation's later deliveries
    requests: list[SentRequest]
    delivered_hash: str


@dataclass(frozen=True)
class PlannedRequest:
    """A request the recipe would send (``plan``): nothing is sent."""

    step: str
    method: str
    url: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body: Any  # the JSON value, the form fields, or None
    runs: str  # "yes", "no: <reason>", or "if <reason>" when it depends on earlier answers
    saves: dict[str, str] = field(default_factory=dict)  # name -> expression on the answer
    recover: str | None = None  # the request run first after a lost answer
    problem: str | None = None  # why the request could not be rendered


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: Any
    text: str
    reason: str

    def as_context(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers, "body": self.body}


class RecipeRunner:
    """Sends a recipe's requests. Thread-safe; build one per process (it holds the token)."""

    def __init__(self, recipe: Recipe, settings: Any, pool_size: int = 16) -> None:
        self.recipe = recipe
        timeout = float(getattr(settings, "crm_timeout_seconds", 10.0) or 10.0)
        self._timeouts = (min(3.05, timeout), timeout)
        self.auth: Auth = build_auth(recipe.auth, settings, recipe.name, self._timeouts)
        self._signing: SecretVersions | None = None
        if recipe.signature is not None:
            secret = Secret.from_settings(settings, recipe.signature.secret)
            self._signing = SecretVersions(secret) if secret is not None else None
        self._settings = {name: _text(getattr(settings, name, None)) for name in SETTINGS}
        base = self._settings.get("crm_base_url") or recipe.base_url
        self._base = base.rstrip("/") if base else None
        self._check_base()
        self._session = pooled_session(pool_size)

    def close(self) -> None:
        self._session.close()

    def _check_base(self) -> None:
        if self._settings.get("crm_endpoint_url") is None:
            for event in self.recipe.events.values():
                for step in event.steps:
                    if "settings.crm_endpoint_url" in getattr(step.url, "source", ""):
                        raise ConfigError(
                            f"CRM_ENDPOINT_URL: required by CRM_RECIPE={self.recipe.name} "
                            f"({step.field}.url reads it)"
                        )
        if self._base is not None:
            return
        if isinstance(self.auth, OAuth2Auth) and self.auth.api_base_from:
            return  # the token answer names it
        for event in self.recipe.events.values():
            for step in event.steps:
                for request in (step, step.recover):
                    url = getattr(request, "url", None)
                    relative = isinstance(url, UrlTemplate) and url.starts_with_path
                    if relative:
                        raise ConfigError(
                            f"CRM_BASE_URL: required by CRM_RECIPE={self.recipe.name} "
                            f"({request.field}.url is a path)"  # type: ignore[union-attr]
                        )

    # -- delivering --------------------------------------------------------------------------

    def deliver(
        self,
        kind: str,
        document: dict[str, Any],
        journal: Journal | None = None,
        memory: dict[str, Any] | None = None,
        idempotency_key: str = "",
    ) -> Delivery:
        """Send the requests for ``document``; ``TransientError`` / ``PermanentError`` else."""
        event = self._event(kind)
        journal = journal if journal is not None else MemoryJournal()
        context = self._context(document, memory, idempotency_key)
        digest = delivered_hash(self.recipe.name, kind, document)
        unmet = _unmet(event.when, context)
        if unmet is not None:
            log.info("nothing sent to the CRM", recipe=self.recipe.name, kind=kind, reason=unmet)
            return Delivery(unmet, {}, {}, [], digest)
        saved: dict[str, Any] = context["saved"]
        sent: list[SentRequest] = []
        checkpoints = dict(journal.steps)
        for step in event.steps:
            checkpoint = checkpoints.get(step.name)
            if checkpoint is not None and checkpoint.status == "done":
                saved.update(checkpoint.saved or {})
                continue
            unmet = _unmet(step.when, context)
            if unmet is not None:
                log.info("CRM step skipped", step=step.name, reason=unmet)
                continue
            if checkpoint is not None and checkpoint.status == "in_flight" and step.recover:
                found = self._recover(step, document, context, sent)
                if found is not None:
                    values, status = found
                    journal.step_done(step.name, values, status)
                    saved.update(values)
                    log.info("CRM step recovered after a lost answer", step=step.name)
                    continue
            journal.step_started(step.name)
            alone = len(event.steps) == 1 and step.recover is None
            answer = self._exchange(step, step.name, document, context, sent, alone)
            values = _pick(step.save, context, answer)
            journal.step_done(step.name, values, answer.status)
            saved.update(values)
        remembered = {}
        for name, expression in event.remember:
            value = expression.value(context)
            if value is not None:
                remembered[name] = value
        return Delivery(None, dict(saved), remembered, sent, digest)

    def _recover(
        self, step: Step, document: Any, context: dict[str, Any], sent: list[SentRequest]
    ) -> tuple[dict[str, Any], int] | None:
        recover = step.recover
        assert recover is not None
        answer = self._exchange(recover, f"{step.name}.recover", document, context, sent)
        values = _pick(recover.save, context, answer)
        if recover.found is not None:
            probe = {
                **context,
                "saved": {**context["saved"], **values},
                "response": answer.as_context(),
            }
            found = recover.found.holds(probe)
        else:
            found = all(value is not None for value in values.values())
        return (values, answer.status) if found else None

    def _event(self, kind: str) -> EventRecipe:
        event = self.recipe.event(kind)
        if event is None:
            raise PermanentError(f"recipe {self.recipe.name} has no {kind} steps")
        return event

    def _context(
        self, document: dict[str, Any], memory: dict[str, Any] | None, key: str
    ) -> dict[str, Any]:
        return {
            **document,
            "saved": {},
            "memory": dict(memory or {}),
            "vars": self.recipe.vars,
            "settings": self._settings,
            "idempotency_key": key,
        }

    # -- one request -------------------------------------------------------------------------

    def _exchange(
        self,
        request: Request,
        name: str,
        document: Any,
        context: dict[str, Any],
        sent: list[SentRequest],
        alone: bool = False,
    ) -> _Answer:
        """Send one request (again once, with renewed credentials, when a rule says so) and
        read its answer. ``alone``: the event's only step, left unnamed in reasons."""
        where = "" if alone else f" at step {name}"
        method, url, query, headers, body = self._render(request, document, context)
        shown = _without_query(url)
        verdict = None
        answer = None
        for attempt in range(2):
            attempt_headers, attempt_query = dict(headers), list(query)
            credential = self.auth.apply(attempt_headers, attempt_query)
            if self._signing is not None and self.recipe.signature is not None:
                attempt_headers[self.recipe.signature.header] = signature_header(
                    self._signing.get(), body or b""
                )
            answer = self._send(method, url, attempt_query, attempt_headers, body, where)
            sent.append(SentRequest(name, method, shown, answer.status))
            log.info("CRM request", step=name, method=method, status=answer.status)
            probe = {**context, "response": answer.as_context()}
            verdict = classify((*request.rules, *self.recipe.rules), answer.status, probe)
            if verdict.outcome == "renew_token" and attempt == 0 and self._renew(credential):
                continue
            break
        assert verdict is not None and answer is not None
        if verdict.outcome == "success":
            return answer
        status, rule = answer.status, verdict.rule
        summary, detail = answer_text(answer.text, answer.reason)
        tail = f"{where}{': ' + rule.reason if rule.reason else ''} ({summary})"
        if verdict.outcome == "transient":
            wait = retry_after({"Retry-After": answer.headers.get("retry-after", "")})
            raise transient(f"CRM answered {status}{tail}", detail, wait, rule.backoff)
        raise permanent(f"CRM rejected the record with {status}{tail}", detail)

    def _renew(self, credential: str | None) -> bool:
        """After a refusal: fresh credentials, and the signing secret's versions read again
        from Secret Manager; True when sending again may help."""
        renewed = self.auth.renew(credential)
        if self._signing is not None and self._signing.from_secret_manager:
            self._signing.refresh()
            renewed = True
        return renewed

    def _render(
        self, request: Request, document: Any, context: dict[str, Any], planning: bool = False
    ) -> tuple[str, str, list[tuple[str, str]], dict[str, str], bytes | None]:
        method = self._method(request, context)
        url = self._url(request, context, planning)
        query = _query(request, context)
        headers: dict[str, str] = {}
        body: bytes | None = None
        if request.body_kind is not None:
            value = (
                request.body.render(document)
                if isinstance(request.body, Mapping)
                else request.body.render(context)
            )
            if value is not OMIT:
                if request.body_kind == "json":
                    headers["Content-Type"] = "application/json"
                    body = encode_json(value)
                else:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    body = urlencode(_pairs(value, f"{request.field}.form")).encode("ascii")
        for node, where in (
            (self.recipe.headers, "headers"),
            (request.headers, f"{request.field}.headers"),
        ):
            if node is not None:
                for key, text in _pairs(node.render(context), where):
                    for existing in [k for k in headers if k.lower() == key.lower()]:
                        del headers[existing]
                    headers[key] = text
        return method, url, query, headers, body

    def _method(self, request: Request, context: dict[str, Any]) -> str:
        if isinstance(request.body, Mapping) and request.body.method:
            return request.body.method
        if request.method is None:
            return "POST"
        if isinstance(request.method, str):
            return request.method
        value = request.method.render(context)
        if not isinstance(value, str) or value.upper() not in METHODS:
            shown = repr(value) if isinstance(value, str) else type_name(value)
            raise MappingError(
                f"{request.field}.method: must give one of {', '.join(METHODS)}, got {shown}"
            )
        return value.upper()

    def _url(self, request: Request, context: dict[str, Any], planning: bool = False) -> str:
        if isinstance(request.url, UrlTemplate):
            text = request.url.render(context)
        else:
            text = request.url.render(context)
            if not isinstance(text, str) or not text.startswith(("http://", "https://", "/")):
                got = repr(text) if isinstance(text, str) else type_name(text)
                raise MappingError(
                    f"{request.field}.url: must give an http(s) URL or a /path, got {got}"
                )
        if text.startswith("/"):
            return self._api_base(planning) + text
        return text

    def _api_base(self, planning: bool = False) -> str:
        if self._base is not None:
            return self._base
        if planning:  # no token is fetched for a preview
            return f"<{self.recipe.auth.api_base_from or 'API base'} from the token answer>"
        base = self.auth.api_base()
        if not base:
            raise permanent(
                f"the CRM's token answer names no API base ({self.recipe.auth.api_base_from}); "
                "set CRM_BASE_URL"
            )
        return base.rstrip("/")

    def _send(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes | None,
        where: str,
    ) -> _Answer:
        try:
            response = self._session.request(
                method,
                url,
                params=query or None,
                data=body,
                headers=headers,
                timeout=self._timeouts,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise transient(f"CRM timed out after {self._timeouts[1]:g}s{where}") from None
        except requests.ConnectionError as error:
            raise transient(f"CRM unreachable ({type(error).__name__}){where}") from None
        text = response.text
        body_value: Any = None
        if text.strip():
            try:
                body_value = json.loads(text)
            except ValueError:
                body_value = text
        answer = _Answer(
            status=response.status_code,
            headers={key.lower(): value for key, value in response.headers.items()},
            body=body_value,
            text=text,
            reason=response.reason or "",
        )
        return answer

    # -- planning (preview) ------------------------------------------------------------------

    def skip_reason(
        self, kind: str, document: dict[str, Any], memory: dict[str, Any] | None = None
    ) -> str | None:
        """Why ``deliver`` would send nothing for ``document`` (its event ``when``), or None."""
        return _unmet(self._event(kind).when, self._context(document, memory, ""))

    def plan(
        self, kind: str, document: dict[str, Any], memory: dict[str, Any] | None = None
    ) -> list[PlannedRequest]:
        """Every request of ``kind`` rendered for ``document``, sending nothing. Values that
        earlier answers would give read ``<name from step>``."""
        event = self._event(kind)
        context = self._context(document, memory, document.get("event", {}).get("key") or "<key>")
        if _unmet(event.when, context) is not None:
            return []
        planned = []
        for step in event.steps:
            runs = _plan_runs(step, context)
            if runs.startswith("no:"):
                template = getattr(step.url, "source", "")
                method = step.method if isinstance(step.method, str) else "POST"
                planned.append(PlannedRequest(step.name, method, template, {}, [], None, runs))
                continue
            recover = None
            if step.recover is not None:
                first = self._plan_one(step.recover, f"{step.name}.recover", document, context, "")
                recover = f"{first.method} {first.url}"
            entry = self._plan_one(step, step.name, document, context, runs)
            planned.append(PlannedRequest(**{**entry.__dict__, "recover": recover}))
            for name, _ in step.save:
                context["saved"].setdefault(name, f"<{name} from {step.name}>")
        return planned

    def _plan_one(
        self, request: Request, name: str, document: Any, context: dict[str, Any], runs: str
    ) -> PlannedRequest:
        saves = {key: expression.source for key, expression in request.save}
        try:
            method, url, query, headers, body = self._render_for_plan(request, document, context)
        except MappingError as error:
            template = getattr(request.url, "source", "")
            return PlannedRequest(
                name,
                str(request.method or "POST"),
                template,
                {},
                [],
                None,
                runs,
                saves,
                problem=error.reason,
            )
        shown_body: Any = None
        if body is not None:
            shown_body = (
                json.loads(body) if request.body_kind == "json" else dict(_pairs_from(body))
            )
        return PlannedRequest(name, method, url, headers, query, shown_body, runs, saves)

    def _render_for_plan(self, request: Request, document: Any, context: dict[str, Any]) -> Any:
        method, url, query, headers, body = self._render(request, document, context, planning=True)
        headers = dict(headers)
        query = list(query)
        _preview_credentials(self.auth, self.recipe, headers, query)
        if self.recipe.signature is not None and self._signing is not None:
            headers[self.recipe.signature.header] = "t=<unix seconds>,v1=<hex HMAC-SHA256>"
        return method, url, query, headers, body


def _preview_credentials(
    auth: Auth, recipe: Recipe, headers: dict[str, str], query: list[tuple[str, str]]
) -> None:
    spec = recipe.auth
    if spec.type == "none":
        return
    if spec.type in ("bearer", "api_key", "basic") and getattr(auth, "secret", None) is None:
        return  # optional and not set
    if spec.type == "api_key":
        if spec.header:
            headers[spec.header] = "***"
        else:
            query.append((spec.query or "", "***"))
        return
    if spec.type == "basic":
        headers["Authorization"] = "Basic ***"
        return
    headers["Authorization"] = f"{spec.scheme or 'Bearer'} ***"


def _plan_runs(step: Step, context: dict[str, Any]) -> str:
    for condition in step.when:
        if condition.expression.reads_answers:
            return f"if {condition.expression.source}"
        if not condition.holds(context):
            return f"no: {condition.reason}"
    return "yes"


# -- helpers -------------------------------------------------------------------------------------


def delivered_hash(recipe: str, kind: str, document: dict[str, Any]) -> str:
    """A digest of what was delivered: the recipe, the kind and the record without its event
    (equal for a redelivery and for a later push that changed nothing)."""
    content = {key: value for key, value in document.items() if key != "event"}
    text = json.dumps(
        {"recipe": recipe, "kind": kind, "record": content},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def encode_json(value: Any) -> bytes:
    """The body bytes, as the bridge has always sent them (compact UTF-8; escaped where a lone
    surrogate has no UTF-8 form, so such a record is delivered intact)."""
    return jsonutil.dumps(value)


def _unmet(conditions: Any, context: dict[str, Any]) -> str | None:
    for condition in conditions:
        if not condition.holds(context):
            return condition.reason
    return None


def _pick(save: Any, context: dict[str, Any], answer: _Answer) -> dict[str, Any]:
    probe = {**context, "response": answer.as_context()}
    return {name: expression.value(probe) for name, expression in save}


def _query(request: Request, context: dict[str, Any]) -> list[tuple[str, str]]:
    if request.query is None:
        return []
    return _pairs(request.query.render(context), f"{request.field}.query")


def _pairs(value: Any, where: str) -> list[tuple[str, str]]:
    """An object's values as text pairs; null left out, a list repeats the name."""
    if not isinstance(value, MappingABC):
        raise MappingError(f"{where}: must give an object, got {type_name(value)}")
    pairs = []
    for key, item in value.items():
        for element in item if isinstance(item, list) else [item]:
            if element is None:
                continue
            if isinstance(element, bool):
                pairs.append((key, "true" if element else "false"))
            elif isinstance(element, str | int | float):
                pairs.append((key, str(element)))
            else:
                raise MappingError(
                    f"{where}.{key}: must give text or a number, got {type_name(element)}"
                )
    return pairs


def _pairs_from(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode("ascii"))


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
