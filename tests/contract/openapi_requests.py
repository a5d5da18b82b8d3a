"""Validating one recorded request against an OpenAPI 3 description with openapi-core.

openapi-core asks for a request object with ``host_url``, ``path``, ``method``,
``parameters``, ``content_type`` and ``body``; ``SpecRequest`` builds one from a recorded
request. Problems come back as short sentences (the operation, what was wrong, the schema's
own words), never raised, so a caller can gather all of them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Headers every HTTP client adds; an API description does not list them.
TRANSPORT_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-encoding", "connection", "content-length",
     "content-type", "authorization", "idempotency-key", "x-signature"}
)  # fmt: skip


class SpecRequest:
    """The request protocol openapi-core reads, over plain values."""

    def __init__(
        self,
        host_url: str,
        path: str,
        method: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> None:
        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        pairs = [(name, value) for name, values in query.items() for value in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs),
            header=Headers(list(headers.items())),
            cookie=ImmutableMultiDict(),
            path={},
        )
        self.body = body or None
        content_type = ""
        for name, value in headers.items():
            if name.lower() == "content-type":
                content_type = value
        self.content_type = content_type.lower()

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


def load(spec: dict[str, Any], *, base_uri: str = "", handlers: Any = None) -> OpenAPI:
    """An ``OpenAPI`` object for ``spec`` (the description itself is not re-validated)."""
    from jsonschema_path import SchemaPath

    kwargs: dict[str, Any] = {"base_uri": base_uri}
    if handlers is not None:
        kwargs["handlers"] = handlers
    return OpenAPI(SchemaPath.from_dict(spec, **kwargs), config=Config(spec_validator_cls=None))


def forbid_unknown_properties(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` whose request-body objects refuse properties they do not declare.

    Descriptions rarely say ``additionalProperties: false``, yet a misspelt field is exactly
    what a contract check is for. Schemas inside ``allOf``/``anyOf``/``oneOf`` and schemas that
    say anything about ``additionalProperties`` are left as they are.
    """
    out = copy.deepcopy(spec)

    def tighten(schema: Any) -> None:
        if not isinstance(schema, dict) or "$ref" in schema:
            return
        if schema.get("type") == "object" and "properties" in schema and \
                "additionalProperties" not in schema:  # fmt: skip
            schema["additionalProperties"] = False
        for child in (schema.get("properties") or {}).values():
            tighten(child)
        tighten(schema.get("items"))

    for path_item in (out.get("paths") or {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
                tighten(media.get("schema"))
    return out


def _describe(error: BaseException) -> str:
    """The error's kind and message plus the schema's own complaints (not the whole value)."""
    parts = [type(error).__name__]
    text = str(error).split(": Value ", 1)[0]  # not the whole value: it may hold personal data
    if text:
        parts.append(text)
    chain, cause = [], error.__cause__
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__
    details = [d for c in chain for d in (getattr(c, "schema_errors", None) or ())]
    if details:
        parts.append("; ".join(str(d).split("\n", 1)[0] for d in details))
    elif chain and str(chain[-1]):
        parts.append(str(chain[-1]))
    return ": ".join(parts)


def request_problems(
    api: OpenAPI,
    host_url: str,
    path: str,
    method: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes | None,
) -> list[str]:
    """Every way the request departs from ``api`` (empty when it conforms)."""
    request = SpecRequest(host_url, path, method, query, headers, body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type" for OAuth2 security
        try:
            return [f"{method} {path}: {_describe(e)}" for e in api.iter_request_errors(request)]
        except Exception as exc:  # a request the validator cannot even read
            return [f"{method} {path}: {_describe(exc)}"]


def undeclared_query(
    declared: Iterable[str], query: Mapping[str, list[str]], allowed: Iterable[str] = ()
) -> list[str]:
    names = set(declared) | set(allowed)
    return sorted(name for name in query if name not in names)


def _template_regex(template: str) -> str:
    import re

    pieces = re.split(r"(\{[^}]+\})", template)
    return "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in pieces) + "$"


def find_operation(
    spec: Mapping[str, Any], path: str, method: str
) -> tuple[str, dict[str, Any], list[dict[str, Any]]] | None:
    """``(template, operation, declared parameters)`` for ``path`` (already stripped of the
    server's base path), preferring the template with the fewest variables; None if none."""
    import re

    candidates = []
    for template, item in (spec.get("paths") or {}).items():
        if re.match(_template_regex(template), path) and method.lower() in item:
            candidates.append((template.count("{"), template, item))
    if not candidates:
        return None
    _, template, item = min(candidates, key=lambda c: c[0])
    operation = item[method.lower()]
    params = []
    for param in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        if "$ref" in param and param["$ref"].startswith("#/"):
            node: Any = spec
            for part in param["$ref"][2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            param = node
        params.append(param)
    return template, operation, params
