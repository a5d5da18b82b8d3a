"""Pipedrive requests checked against Pipedrive's own OpenAPI descriptions (v1 and v2).

Every request goes through openapi-core against ``pipedrive/v1.yaml`` (``/v1/...`` and
``/api/v1/...``) or ``pipedrive/v2.yaml`` (``/api/v2/...``), with request bodies made strict
(a property the description does not declare is refused; v1's custom-field keys, 40 hex
characters, stay allowed because v1 declares ``additionalProperties: true`` there). On top,
rules the description states in prose or in its security section that openapi-core does not
enforce here: the API token goes in the ``x-api-token`` header (never the ``api_token`` query
parameter, which ends up in logs), and query parameters the operation does not declare are
refused.
"""

from __future__ import annotations

import functools
from typing import Any

from tests.contract.openapi_requests import (
    find_operation,
    forbid_unknown_properties,
    load,
    request_problems,
    undeclared_query,
)
from tests.contract.spec_files import spec_path

HOST = "https://api.pipedrive.com"


@functools.cache
def _spec(version: str) -> tuple[dict[str, Any], Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path(f"pipedrive/{version}.yaml").open("rb") as handle:
        raw = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return raw, load(forbid_unknown_properties(raw))


def _route(path: str) -> tuple[str, str, str] | None:
    """``(version, path as the description's server writes it, path below the server)``."""
    if path.startswith("/api/v2/"):
        return "v2", path, path[len("/api/v2") :]
    if path.startswith("/api/v1/"):
        path = path[len("/api") :]
    if path.startswith("/v1/"):
        return "v1", path, path[len("/v1") :]
    return None


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from Pipedrive's description (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    routed = _route(request.path)
    if routed is None:
        return [f"{where}: not a Pipedrive API path (/api/v2/..., /v1/... or /api/v1/...)"]
    version, full_path, below = routed
    raw, api = _spec(version)
    found = find_operation(raw, below, request.method)
    if found is None:
        return [f"{where}: no such operation in Pipedrive's {version} description"]
    template, _operation, declared = found
    out: list[str] = []
    if "api_token" in request.query:
        out.append(
            f"{where}: the API token is in the URL (api_token); send it in the x-api-token header"
        )
    if not (request.headers.get("x-api-token") or "").strip():
        out.append(f"{where}: no x-api-token header")
    extra = undeclared_query(
        (p.get("name") for p in declared if p.get("in") == "query"),
        request.query,
        allowed=("api_token",),
    )
    if extra:
        out.append(f"{where}: query parameter(s) {extra} are not declared for {template}")
    body = request.body if request.method in ("POST", "PUT", "PATCH") else None
    out += request_problems(api, HOST, full_path, request.method, request.query,
                            request.headers, body)  # fmt: skip
    return out
