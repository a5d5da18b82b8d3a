"""Dynamics 365 (Dataverse) requests checked by hand-written rules from Microsoft's Dataverse
Web API and Entra ID documentation (Dataverse publishes its description only per environment,
as OData ``$metadata``).

- Token (client credentials): ``POST /{tenant}/oauth2/v2.0/token``, form-encoded, with
  ``grant_type=client_credentials``, ``client_id``, ``client_secret`` and a ``scope`` of the
  environment URL followed by ``/.default``; no secret in the URL.
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- Every API call: ``/api/data/v9.x/<entity set>[(<key>)]``, ``Authorization: Bearer``, and
  the headers every request should carry: ``Accept: application/json``, ``OData-MaxVersion:
  4.0``, ``OData-Version: 4.0``; a body is JSON with ``Content-Type: application/json``.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
- Keys: a GUID, or an alternate key ``column='value'`` (quotes in the value doubled).
  https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record
- Queries: only the system query options (``$select``, ``$filter``, ``$top``, ``$orderby``,
  ``$expand``, ``$count``); ``$select`` and ``$filter`` name columns by their lower-case logical
  names; ``$filter`` string literals are single-quoted with ``''`` for a quote, parentheses
  balance, operators are OData's (``eq``, ``ne``, ``gt``, ``ge``, ``lt``, ``le``, ``and``,
  ``or``, ``not``) and functions ``contains``/``startswith``/``endswith``.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
- Bodies: lower-case column names of the table (contact, annotation, task columns from the
  table reference), or ``<navigation>@odata.bind`` whose value is ``/<entity set>(<id>)``;
  string lengths within the column's maximum; a task's ``statuscode`` belongs to its
  ``statecode`` (0 Open: 2, 3, 4; 1 Completed: 5; 2 Canceled: 6).
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
  https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/contact
  https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/annotation
  https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/task
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote

_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_API = re.compile(r"^/api/data/v9\.\d/(?P<set>[a-z_0-9]+)(?:\((?P<key>[^)]*)\))?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ALT_KEY = re.compile(r"^[a-z_0-9]+='(?:[^']|'')*'(?:,[a-z_0-9]+='(?:[^']|'')*')*$")
_BIND_VALUE = re.compile(r"^(?:https?://[^/]+/api/data/v9\.\d)?/[a-z_0-9]+\([^)]+\)$")
QUERY_OPTIONS = {"$select", "$filter", "$top", "$orderby", "$expand", "$count"}
COMMON = {"createdon", "modifiedon", "ownerid", "versionnumber", "statecode", "statuscode"}
TABLES: dict[str, dict[str, Any]] = {
    "contacts": {"key": "contactid", "columns": COMMON | {
        "firstname", "lastname", "middlename", "fullname", "emailaddress1", "emailaddress2",
        "emailaddress3", "telephone1", "telephone2", "mobilephone", "jobtitle", "department",
        "description", "websiteurl", "address1_line1", "address1_line2", "address1_city",
        "address1_stateorprovince", "address1_country", "address1_postalcode", "donotemail",
        "_parentcustomerid_value"}, "binds": {"parentcustomerid_account", "ownerid"},
        "lengths": {"firstname": 50, "lastname": 50, "emailaddress1": 100, "jobtitle": 100,
                    "telephone1": 50, "description": 2000}},
    "annotations": {"key": "annotationid", "columns": COMMON | {
        "subject", "notetext", "isdocument", "filename", "mimetype", "objecttypecode",
        "documentbody", "_objectid_value"}, "binds": {"objectid_contact", "objectid_account"},
        "lengths": {"subject": 500, "notetext": 100_000}},
    "tasks": {"key": "activityid", "columns": COMMON | {
        "subject", "description", "scheduledstart", "scheduledend", "actualstart", "actualend",
        "actualdurationminutes", "prioritycode", "category", "subcategory",
        "_regardingobjectid_value"}, "binds": {"regardingobjectid_contact",
                                               "regardingobjectid_account"},
        "lengths": {"subject": 200, "description": 2000}},
}  # fmt: skip
TASK_STATUS = {0: {2, 3, 4}, 1: {5}, 2: {6}}
_FILTER_WORDS = {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "null", "true",
                 "false", "contains", "startswith", "endswith"}  # fmt: skip


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from the Dataverse rules above (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    if _TOKEN.match(request.path):
        return [f"{where}: {p}" for p in _token_problems(request)]
    match = _API.match(request.path)
    if match is None:
        return [f"{where}: not a Dataverse Web API path (/api/data/v9.x/<entity set>)"]
    out: list[str] = []
    headers = request.headers
    authorization = headers.get("Authorization") or ""
    if not authorization.startswith("Bearer ") or not authorization[7:].strip():
        out.append("no Authorization: Bearer <token> header")
    if "application/json" not in (headers.get("Accept") or ""):
        out.append("every request should send Accept: application/json")
    for name in ("OData-MaxVersion", "OData-Version"):
        if (headers.get(name) or "").strip() != "4.0":
            out.append(f"every request should send {name}: 4.0")
    entity_set, key = match.group("set"), match.group("key")
    table = TABLES.get(entity_set)
    if table is None:
        return [f"{where}: {p}" for p in [*out, f"no rules for the entity set {entity_set}"]]
    if key is not None:
        raw = unquote(key)
        if not (_GUID.match(raw) or _ALT_KEY.match(raw)):
            out.append(f"key {raw!r} is neither a GUID nor column='value' (quotes doubled)")
    if request.method in ("POST", "PATCH"):
        if key is None and request.method == "PATCH":
            out.append("PATCH needs a key: /<entity set>(<key>)")
        if key is not None and request.method == "POST":
            out.append("POST goes to the entity set, without a key")
        if "application/json" not in (headers.get("Content-Type") or "").lower():
            out.append("a body needs Content-Type: application/json")
        try:
            body = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError):
            body = None
        out += body_problems(entity_set, body)
    elif request.body:
        out.append(f"{request.method} takes no body")
    if request.method == "GET":
        out += query_problems(entity_set, request.query)
    elif request.query:
        out.append(f"query options on a {request.method}: {sorted(request.query)}")
    if request.method == "DELETE" and key is None:
        out.append("DELETE needs a key")
    return [f"{where}: {p}" for p in out]


def _token_problems(request: Any) -> list[str]:
    out = []
    if request.method != "POST":
        out.append("the token request is a POST")
    for name in ("client_secret", "client_id", "scope", "grant_type"):
        if name in request.query:
            out.append(f"{name} is in the URL; it goes in the form body")
    if "application/x-www-form-urlencoded" not in (request.headers.get("Content-Type") or ""):
        out.append("the token request must be application/x-www-form-urlencoded")
    form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    if form.get("grant_type") != ["client_credentials"]:
        out.append("grant_type must be client_credentials")
    for name in ("client_id", "client_secret"):
        if not form.get(name):
            out.append(f"{name} is missing")
    scope = (form.get("scope") or [""])[0]
    if not re.fullmatch(r"https://[^/\s]+/\.default", scope):
        out.append(f"scope must be the environment URL followed by /.default, got {scope!r}")
    return out


def body_problems(entity_set: str, body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    table = TABLES[entity_set]
    out: list[str] = []
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            navigation = name[: -len("@odata.bind")]
            if navigation not in table["binds"]:
                out.append(f"{navigation} is not a navigation property of {entity_set} "
                           f"(one of {sorted(table['binds'])})")  # fmt: skip
            if not isinstance(value, str) or not _BIND_VALUE.match(value):
                out.append(f"{name} must be /<entity set>(<id>), got {value!r}")
            continue
        if name != name.lower():
            out.append(f"{name}: columns are named by their lower-case logical names")
            continue
        if name.startswith("_") and name.endswith("_value"):
            out.append(f"{name} is read-only; set the link with <navigation>@odata.bind")
            continue
        if name != table["key"] and name not in table["columns"]:
            out.append(f"{entity_set} has no column {name}")
            continue
        limit = table["lengths"].get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            out.append(f"{name} is {len(value)} characters; at most {limit}")
        if name == table["key"] and not (isinstance(value, str) and _GUID.match(value)):
            out.append(f"{name} must be a GUID")
    if entity_set == "tasks" and "statuscode" in body:
        state = body.get("statecode", 0)
        if state not in TASK_STATUS or body["statuscode"] not in TASK_STATUS[state]:
            out.append(f"statuscode {body['statuscode']} does not belong to statecode {state}")
    return out


def query_problems(entity_set: str, query: dict[str, list[str]]) -> list[str]:
    table = TABLES[entity_set]
    known = table["columns"] | {table["key"]}
    out: list[str] = []
    for name, values in query.items():
        if name not in QUERY_OPTIONS:
            out.append(f"{name} is not a system query option")
        elif len(values) != 1:
            out.append(f"{name} is given {len(values)} times")
    for column in (query.get("$select") or [""])[0].split(","):
        column = column.strip()
        if column and column not in known:
            out.append(f"$select names {column!r}, not a column of {entity_set}")
    raw = (query.get("$filter") or [None])[0]
    if raw is not None:
        out += filter_problems(raw, known)
    top = (query.get("$top") or [None])[0]
    if top is not None and not (top.isdigit() and int(top) > 0):
        out.append(f"$top must be a positive whole number, got {top!r}")
    return out


def filter_problems(text: str, known: set[str]) -> list[str]:
    stripped = re.sub(r"'(?:[^']|'')*'", "''", text)
    if stripped.count("'") % 2:
        return [f"$filter has an unclosed or badly escaped string literal: {text!r}"]
    if stripped.count("(") != stripped.count(")"):
        return ["$filter parentheses do not balance"]
    out = []
    unquoted = re.sub(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", "0", stripped)
    for word in re.findall(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*", unquoted):
        if word in _FILTER_WORDS:
            continue
        if word not in known:
            out.append(f"$filter names {word!r}, not a column (or operator) here")
    return out
