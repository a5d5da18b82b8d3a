"""Zoho CRM requests checked against Zoho's own OpenAPI files for CRM API v8.

Zoho's files refer to one another by absolute ``https://raw.githubusercontent.com/.../v8.0/
<file>.json#...`` addresses. Before resolving, every such reference is rewritten to the file of
the same name in the local ``zoho/`` folder; the few files Zoho's set names but the folder does
not hold (``users.json``, ``tags.json``, ``modules.json``, ``attachments.json``) are stood in for
by open objects at exactly the referenced places, so they constrain nothing. ``notes.json``
refers to a parameter ``If-Modified-Since`` it never defines: the reference is pointed at the
definition of the same name in ``record.json``. References are resolved by openapi-core through
a file handler that serves the rewritten documents; nothing is fetched from the network.

Two more repairs, because Zoho uses one schema for what it sends and what it receives:
``Note`` lists the fields Zoho itself sets (``id``, ``Created_Time``, ``Modified_By``,
``Owner``, the ``$`` fields, ...) as required; they are marked ``readOnly``, so a request need
not (and must not) send them, as OpenAPI 3.0 means. And the request wrappers (``Body_Wrapper``)
refuse keys they do not declare, so ``{"records": [...]}`` is caught instead of passing as an
empty body; the records themselves stay open (``additionalProperties: true``, for custom fields).

Which file describes a request: the one of ``notes.json``, ``record.json`` and
``related_records.json`` with the most specific matching path. On top of the description:
``Authorization: Zoho-oauthtoken <token>`` (the description's OAuth2 scheme, which openapi-core
does not check); query parameters the operation does not declare are refused; the accounts
server's token call is checked by hand (``POST /oauth/v2/token`` with
``grant_type=refresh_token``, ``client_id``, ``client_secret``, ``refresh_token``), following
https://zoho.com/accounts/protocol/oauth/web-apps/access-token-expiry.html.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contract.openapi_requests import find_operation, load, request_problems, undeclared_query
from tests.contract.spec_files import spec_path

HOST = "https://zohoapis.com"
DESCRIPTIONS = ("notes.json", "record.json", "related_records.json")
_REMOTE = re.compile(r"^https://raw\.githubusercontent\.com/[^#]*/v8\.0/(?P<file>[\w.-]+\.json)")
_MISSING_PARAMETER = "#/components/parameters/If-Modified-Since"


def _rewrite(node: Any, wanted: dict[str, set[str]]) -> Any:
    """``node`` with remote references made local; ``wanted`` collects file -> fragments."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = _REMOTE.match(value)
                if match:
                    fragment = value.split("#", 1)[1] if "#" in value else ""
                    wanted.setdefault(match.group("file"), set()).add(fragment)
                    value = f"{match.group('file')}#{fragment}"
            out[key] = _rewrite(value, wanted)
        return out
    if isinstance(node, list):
        return [_rewrite(item, wanted) for item in node]
    return node


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    """Every rewritten document by file name, stand-ins for the absent ones included."""
    folder = spec_path("zoho/record.json").parent
    docs: dict[str, dict[str, Any]] = {}
    wanted: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.json")):
        docs[path.name] = _rewrite(json.loads(path.read_text(encoding="utf-8")), wanted)
    notes = docs.get("notes.json")
    if notes is not None:
        text = json.dumps(notes).replace(f'"{_MISSING_PARAMETER}"',
                                         f'"record.json{_MISSING_PARAMETER}"')  # fmt: skip
        docs["notes.json"] = json.loads(text)
    _repair(docs)
    for name, fragments in wanted.items():
        if name in docs:
            continue
        stub: dict[str, Any] = {}
        for fragment in fragments:
            node = stub
            parts = [p for p in fragment.split("/") if p]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = {"type": "object"}  # open: this file is not in the folder
        docs[name] = stub
    return docs


SERVER_SET = re.compile(r"^(\$.*|id|Created_Time|Modified_Time|Created_By|Modified_By|Owner)$")


def _repair(docs: dict[str, dict[str, Any]]) -> None:
    note = docs.get("notes.json", {}).get("components", {}).get("schemas", {}).get("Note")
    if note:
        for name, schema in note.get("properties", {}).items():
            if SERVER_SET.match(name):
                if "$ref" in schema:
                    note["properties"][name] = {"allOf": [schema], "readOnly": True}
                else:
                    schema["readOnly"] = True
    for doc in docs.values():
        wrapper = doc.get("components", {}).get("schemas", {}).get("Body_Wrapper")
        if wrapper and "additionalProperties" not in wrapper:
            wrapper["additionalProperties"] = False


@functools.cache
def _api(name: str) -> tuple[dict[str, Any], Any, str]:
    docs = _documents()
    folder = spec_path("zoho/record.json").parent

    def serve(uri: str) -> dict[str, Any]:
        file_name = Path(urlsplit(uri).path).name
        if file_name not in docs:
            raise FileNotFoundError(uri)
        return copy.deepcopy(docs[file_name])

    base = (folder / name).as_uri()
    return docs[name], load(docs[name], base_uri=base, handlers={"file": serve}), base


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from Zoho's description (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    if request.path == "/oauth/v2/token":
        return [f"{where}: {p}" for p in _token_problems(request)]
    if not request.path.startswith("/crm/v8/"):
        return [f"{where}: not a Zoho CRM v8 path (/crm/v8/...)"]
    out: list[str] = []
    authorization = request.headers.get("Authorization") or ""
    if not authorization.startswith("Zoho-oauthtoken ") or not authorization[16:].strip():
        out.append(f"{where}: no Authorization: Zoho-oauthtoken <access token> header")
    matches = []
    for name in DESCRIPTIONS:
        raw, api, _ = _api(name)
        found = find_operation(raw, request.path, request.method)
        if found is not None:
            matches.append((found[0].count("{"), name, api, found))
    if not matches:
        return [*out, f"{where}: no such operation in Zoho's {', '.join(DESCRIPTIONS)}"]
    _, name, api, (template, _operation, declared) = min(matches, key=lambda m: m[0])
    extra = undeclared_query((p.get("name") for p in declared if p.get("in") == "query"),
                             request.query)  # fmt: skip
    if extra:
        out.append(f"{where}: query parameter(s) {extra} are not declared for {template}")
    body = request.body if request.method in ("POST", "PUT", "PATCH") else None
    out += request_problems(api, HOST, request.path, request.method, request.query,
                            request.headers, body)  # fmt: skip
    return out


def _token_problems(request: Any) -> list[str]:
    params = {k: v for k, v in request.query.items()}
    if "form" in (request.headers.get("Content-Type") or ""):
        params.update(parse_qs(request.body.decode("utf-8", "replace")))
    out = []
    if request.method != "POST":
        out.append("the token call is POST")
    if params.get("grant_type") != ["refresh_token"]:
        out.append("grant_type must be refresh_token")
    for name in ("client_id", "client_secret", "refresh_token"):
        if not params.get(name):
            out.append(f"{name} is missing")
    return out
