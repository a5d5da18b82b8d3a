"""Check recorded requests against each vendor's own description of its API.

``assert_all_valid(standin.requests)`` runs every request a stand-in received through the
checks of the stand-in's vendor and fails with one line per problem; ``problems(request)``
returns them. A request is anything with ``vendor``, ``method``, ``path``, ``query`` (name to
list of values), ``headers`` (looked up without case) and ``body`` (bytes), such as
``devtools.vendors.RecordedRequest``; ``make_request`` builds one by hand.

Vendors and what they are checked against:

- ``pipedrive``: Pipedrive's OpenAPI v1/v2 files (``pipedrive_contract``)
- ``zoho``: Zoho CRM v8 OpenAPI files (``zoho_contract``)
- ``marketo``: Marketo's Swagger 2.0 files (``marketo_contract``)
- ``hubspot``: the official ``hubspot-api-client`` SDK's models and operations
  (``hubspot_contract``)
- ``salesforce``: rules from Salesforce's REST API guides (``salesforce_contract``)
- ``dynamics``: rules from the Dataverse Web API documentation (``dynamics_contract``)
"""

from __future__ import annotations

import importlib
import json as _json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.crm_sink import Headers
from devtools.vendors._base import RecordedRequest

CHECKERS = {
    "pipedrive": "tests.contract.pipedrive_contract",
    "zoho": "tests.contract.zoho_contract",
    "marketo": "tests.contract.marketo_contract",
    "hubspot": "tests.contract.hubspot_contract",
    "salesforce": "tests.contract.salesforce_contract",
    "dynamics": "tests.contract.dynamics_contract",
}


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from its vendor's description (empty: it conforms)."""
    module = CHECKERS.get(request.vendor)
    if module is None:
        return [f"no contract checks for vendor {request.vendor!r}"]
    return importlib.import_module(module).problems(request)


def assert_valid(request: Any) -> None:
    assert_all_valid([request])


def assert_all_valid(requests: Iterable[Any]) -> None:
    """Fail, listing every problem of every request, unless all of them conform."""
    requests = list(requests)
    lines: list[str] = []
    for index, request in enumerate(requests):
        label = f"#{getattr(request, 'seq', 0) or index + 1} {request.vendor}"
        lines += [f"{label}: {problem}" for problem in problems(request)]
    if lines:
        raise AssertionError(
            f"{len(lines)} contract problem(s) in {len(requests)} request(s):\n" + "\n".join(lines)
        )


def make_request(
    vendor: str,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    body: bytes | str | None = None,
    form: Mapping[str, str] | None = None,
) -> RecordedRequest:
    """A request built by hand (``target`` is a path with an optional query string)."""
    parts = urlsplit(target)
    all_headers = dict(headers or {})
    raw = b""
    if json is not None:
        raw = _json.dumps(json).encode()
        all_headers.setdefault("Content-Type", "application/json")
    elif form is not None:
        from urllib.parse import urlencode

        raw = urlencode(form).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        raw = body.encode() if isinstance(body, str) else body
    return RecordedRequest(
        vendor=vendor,
        endpoint="hand-made",
        method=method.upper(),
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=Headers(all_headers),
        body=raw,
        time=0.0,
    )
