"""Salesforce requests checked by hand-written rules taken from Salesforce's own guides.

Salesforce publishes no static API description (its OpenAPI is generated per org, in beta), so
the rules below follow the REST API Developer Guide, the Object Reference and the OAuth help:

- Token (client credentials flow): ``POST /services/oauth2/token``, form-encoded, with
  ``grant_type=client_credentials`` and the client id and secret in the body or an HTTP Basic
  header, never in the URL.
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
- Every API call: ``/services/data/vXX.X/...`` and ``Authorization: Bearer <token>``; a body is
  JSON with ``Content-Type: application/json``.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_rest_resources.htm
- Query: ``GET .../query?q=<SOQL>``; the SOQL is a ``SELECT ... FROM <object>`` statement whose
  string literals are single-quoted with ``\\'`` and ``\\\\`` escaped (an e-mail such as
  ``o'brien@example.com`` must not end the literal), with ``WHERE``/``ORDER BY``/``LIMIT`` in
  that order.
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
- sObject rows: ``POST .../sobjects/<Type>``, ``GET|PATCH|DELETE .../sobjects/<Type>/<id>`` (15 or
  18 characters), upsert ``PATCH .../sobjects/<Type>/<ExternalIdField>/<value>`` (a custom
  ``__c`` field or ``Id``); a body is a flat object of field names (standard ones from the
  Object Reference, or custom ``__c`` ones) with scalar values; creating a Contact needs
  ``LastName``, a Lead ``LastName`` and ``Company``; Task ``ActivityDate`` is ``YYYY-MM-DD``,
  ``Subject`` at most 255 and ``Description`` at most 32,000 characters; Task ``Status`` is one
  of the standard values.
  https://developer.salesforce.com/docs/atlas.en-us.236.0.api_rest.meta/api/dome_upsert.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contact.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
- Composite: ``POST .../composite`` with ``compositeRequest`` (1 to 25 subrequests; each
  ``method`` GET/POST/PATCH/DELETE, ``url`` on the same API version, a unique ``referenceId`` of
  letters, digits and underscores, ``body`` only for POST/PATCH); ``@{ref.path}`` may only name
  an earlier subrequest; every subrequest obeys the rules above.
  https://developer.salesforce.com/docs/atlas.en-us.262.0.api_rest.meta/api_rest/resources_composite_composite_post.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_subrequest_result.htm
- sObject collections: ``/composite/sobjects`` with ``records`` (at most 200), each with
  ``attributes.type``.
  https://developer.salesforce.com/docs/atlas.en-us.244.0.api_rest.meta/api/resources_composite_sobjects_collections_upsert.htm
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_DATA = re.compile(r"^/services/data/v(?P<version>\d{2,3}\.\d)(?P<rest>/.*)?$")
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REF_ID = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)(?:\.[^}]*)?\}")

_COMMON = {"Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
           "LastModifiedById", "SystemModstamp", "IsDeleted"}  # fmt: skip
_PERSON = {"Salutation", "FirstName", "LastName", "MiddleName", "Suffix", "Name", "Email",
           "Phone", "MobilePhone", "Fax", "Title", "Description", "LeadSource",
           "HasOptedOutOfEmail", "DoNotCall", "EmailBouncedReason", "IndividualId"}  # fmt: skip
STANDARD_FIELDS = {
    "Contact": _COMMON | _PERSON | {
        "AccountId", "Department", "Birthdate", "AssistantName", "AssistantPhone", "HomePhone",
        "OtherPhone", "ReportsToId", "MailingStreet", "MailingCity", "MailingState",
        "MailingPostalCode", "MailingCountry", "OtherStreet", "OtherCity", "OtherState",
        "OtherPostalCode", "OtherCountry",
    },
    "Lead": _COMMON | _PERSON | {
        "Company", "Status", "Website", "Industry", "Rating", "AnnualRevenue",
        "NumberOfEmployees", "Street", "City", "State", "PostalCode", "Country", "IsConverted",
        "ConvertedContactId", "ConvertedAccountId", "ConvertedDate", "IsUnreadByOwner",
    },
    "Task": _COMMON | {
        "WhoId", "WhatId", "Subject", "Description", "ActivityDate", "Status", "Priority",
        "TaskSubtype", "Type", "IsClosed", "CompletedDateTime", "CallDurationInSeconds",
        "CallType", "CallDisposition", "CallObject", "ReminderDateTime", "IsReminderSet",
    },
}  # fmt: skip
READ_ONLY = {"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
             "SystemModstamp", "IsDeleted", "Name", "IsClosed", "IsConverted",
             "ConvertedContactId", "ConvertedAccountId", "ConvertedDate",
             "CompletedDateTime"}  # fmt: skip
REQUIRED_ON_CREATE = {"Contact": ("LastName",), "Lead": ("LastName", "Company")}
TASK_STATUS = {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}
TASK_PRIORITY = {"High", "Normal", "Low"}
LIMITS = {("Task", "Subject"): 255, ("Task", "Description"): 32_000,
          ("Lead", "LastName"): 80, ("Contact", "LastName"): 80, ("Lead", "Company"): 255,
          ("Lead", "Email"): 80, ("Contact", "Email"): 80}  # fmt: skip
COMPOSITE_MAX = 25
COLLECTION_MAX = 200


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from the Salesforce rules above (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    if request.path == "/services/oauth2/token":
        return [f"{where}: {p}" for p in _token_problems(request)]
    match = _DATA.match(request.path)
    if match is None:
        return [f"{where}: not a Salesforce REST path (/services/data/vXX.X/...)"]
    out: list[str] = []
    authorization = request.headers.get("Authorization") or ""
    if not authorization.startswith("Bearer ") or not authorization[7:].strip():
        out.append("no Authorization: Bearer <access token> header")
    body: Any = None
    if request.method in ("POST", "PATCH"):
        if "application/json" not in (request.headers.get("Content-Type") or "").lower():
            out.append("a body needs Content-Type: application/json")
        try:
            body = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError):
            out.append("the body is not JSON")
            return [f"{where}: {p}" for p in out]
    elif request.body:
        out.append(f"{request.method} takes no body here")
    out += call_problems(request.method, match.group("rest") or "/", request.query, body,
                         match.group("version"))  # fmt: skip
    return [f"{where}: {p}" for p in out]


def _token_problems(request: Any) -> list[str]:
    out: list[str] = []
    if request.method != "POST":
        out.append("the token endpoint takes POST")
    for secret in ("client_secret", "client_id"):
        if secret in request.query:
            out.append(f"{secret} is in the URL; send it in the form body")
    if "application/x-www-form-urlencoded" not in (request.headers.get("Content-Type") or ""):
        out.append("the token request must be application/x-www-form-urlencoded")
    form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    if form.get("grant_type") != ["client_credentials"]:
        out.append("grant_type must be client_credentials")
    basic = (request.headers.get("Authorization") or "").lower().startswith("basic ")
    if not basic and not (form.get("client_id") and form.get("client_secret")):
        out.append("client_id and client_secret are needed (form body or HTTP Basic)")
    return out


def call_problems(
    method: str, rest: str, query: Mapping[str, list[str]], body: Any, version: str
) -> list[str]:
    """Problems of one REST call below ``/services/data/vXX.X`` (also a composite subrequest)."""
    parts = [unquote(p) for p in rest.strip("/").split("/")] if rest.strip("/") else []
    if parts == ["query"]:
        if method != "GET":
            return ["query takes GET"]
        soql = query.get("q") or []
        if len(soql) != 1 or not soql[0].strip():
            return ["query needs exactly one q parameter"]
        return soql_problems(soql[0])
    if parts == ["composite"]:
        return composite_problems(method, body, version)
    if parts[:2] == ["composite", "sobjects"]:
        return collection_problems(method, parts[2:], query, body)
    if len(parts) >= 2 and parts[0] == "sobjects":
        return sobject_problems(method, parts[1:], body)
    return [f"no REST resource {rest!r} is covered by these rules"]


def sobject_problems(method: str, parts: list[str], body: Any) -> list[str]:
    sobject = parts[0]
    if not _NAME.match(sobject):
        return [f"{sobject!r} is not an sObject name"]
    if len(parts) == 1:
        if method != "POST":
            return [f"{method} on sobjects/{sobject} (create is POST)"]
        return field_problems(sobject, body, creating=True)
    if len(parts) == 2:
        if not _ID.match(parts[1]):
            return [f"{parts[1]!r} is not a 15- or 18-character record id"]
        if method == "PATCH":
            return field_problems(sobject, body, creating=False)
        if method in ("GET", "DELETE"):
            return []
        return [f"{method} on a record (GET, PATCH or DELETE)"]
    if len(parts) == 3:
        field, value = parts[1], parts[2]
        if field != "Id" and not field.endswith("__c"):
            return [f"{field} cannot be an external id field (a custom __c field or Id)"]
        if not value:
            return ["the external id value is empty"]
        if method == "PATCH":
            fields = {k: v for k, v in (body or {}).items() if k != field} \
                if isinstance(body, dict) else body  # fmt: skip
            return field_problems(sobject, fields, creating=True, upsert=True)
        if method in ("GET", "DELETE"):
            return []
        return [f"{method} on an external id (GET, PATCH or DELETE)"]
    return ["too many path segments below sobjects"]


def field_problems(sobject: str, fields: Any, *, creating: bool, upsert: bool = False) -> list[str]:
    if not isinstance(fields, dict):
        return ["the body must be a JSON object of fields"]
    out: list[str] = []
    standard = STANDARD_FIELDS.get(sobject)
    for name, value in fields.items():
        if name == "attributes":
            continue
        if not _NAME.match(name):
            out.append(f"{name!r} is not a field name")
            continue
        if standard is not None and not name.endswith("__c") and name not in standard:
            out.append(f"{sobject} has no standard field {name} (custom fields end in __c)")
        if name in READ_ONLY:
            out.append(f"{sobject}.{name} is read-only")
        if isinstance(value, (dict, list)):
            out.append(f"{sobject}.{name}: a field value is a string, number, boolean or null")
            continue
        limit = LIMITS.get((sobject, name))
        if limit is not None and isinstance(value, str) and len(value) > limit:
            out.append(f"{sobject}.{name} is {len(value)} characters; at most {limit}")
        if (sobject, name) == ("Task", "ActivityDate") and value is not None \
                and not _is_date(value):  # fmt: skip
            out.append(f"Task.ActivityDate must be YYYY-MM-DD, got {value!r}")
        if sobject == "Task" and name == "Status" and value not in TASK_STATUS:
            out.append(f"Task.Status {value!r} is not one of {sorted(TASK_STATUS)}")
        if sobject == "Task" and name == "Priority" and value not in TASK_PRIORITY:
            out.append(f"Task.Priority {value!r} is not one of {sorted(TASK_PRIORITY)}")
        if name.endswith("Id") and name != "Id" and isinstance(value, str) and \
                not value.startswith("@{") and not _ID.match(value):  # fmt: skip
            out.append(f"{sobject}.{name} {value!r} is not a record id")
    for name in REQUIRED_ON_CREATE.get(sobject, ()):
        if creating and fields.get(name) in (None, ""):
            what = "an upsert that may create" if upsert else "creating"
            out.append(f"{what} a {sobject} needs {name}")
        if not creating and name in fields and fields[name] in (None, ""):
            out.append(f"{sobject}.{name} cannot be cleared")
    return out


def _is_date(text: Any) -> bool:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


_SOQL_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\[\\'\"nrtbfN_%])*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)|(?P<bind>:\w+)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_CLAUSES = ("SELECT", "FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET")


def soql_problems(soql: str) -> list[str]:
    """Problems of a SOQL statement: shape, clause order, quoting of string literals."""
    tokens: list[tuple[str, str]] = []
    position, text = 0, soql.strip()
    while position < len(text):
        match = _SOQL_TOKEN.match(text, position)
        if match is None or match.end() == position:
            rest = text[position:][:30]
            if rest.lstrip().startswith("'"):
                return [f"SOQL string literal not closed or badly escaped near {rest!r}"]
            return [f"SOQL cannot be read near {rest!r}"]
        tokens.append((match.lastgroup or "", match.group(match.lastgroup or 0)))
        position = match.end()
    words = [value.upper() for kind, value in tokens if kind == "word"]
    if not words or words[0] != "SELECT" or "FROM" not in words:
        return ["SOQL must be SELECT <fields> FROM <object> ..."]
    order = [w for w in words if w in _CLAUSES]
    if order != sorted(order, key=_CLAUSES.index):
        return [f"SOQL clauses out of order: {' '.join(order)}"]
    after_from = words[words.index("FROM") + 1 :]
    if not after_from or not _NAME.match(after_from[0]):
        return ["SOQL needs an object name after FROM"]
    out: list[str] = []
    for index, (kind, value) in enumerate(tokens):
        if kind == "word" and value.upper() == "LIMIT":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or following[0] != "number" or "." in following[1]:
                out.append("SOQL LIMIT needs a whole number")
        if kind == "bind":
            out.append(f"SOQL bind variable {value} only works in Apex, not the REST API")
    return out


def composite_problems(method: str, body: Any, version: str) -> list[str]:
    if method != "POST":
        return ["composite takes POST"]
    if not isinstance(body, dict):
        return ["the composite body must be an object"]
    out: list[str] = []
    unknown = set(body) - {"allOrNone", "collateSubrequests", "compositeRequest"}
    if unknown:
        out.append(f"composite body has unknown field(s) {sorted(unknown)}")
    if "allOrNone" in body and not isinstance(body["allOrNone"], bool):
        out.append("allOrNone must be true or false")
    subs = body.get("compositeRequest")
    if not isinstance(subs, list) or not 1 <= len(subs) <= COMPOSITE_MAX:
        return [*out, f"compositeRequest must list 1 to {COMPOSITE_MAX} subrequests"]
    earlier: set[str] = set()
    for index, sub in enumerate(subs):
        label = f"compositeRequest[{index}]"
        if not isinstance(sub, dict):
            out.append(f"{label} must be an object")
            continue
        unknown = set(sub) - {"method", "url", "referenceId", "body", "httpHeaders"}
        if unknown:
            out.append(f"{label} has unknown field(s) {sorted(unknown)}")
        ref = sub.get("referenceId")
        if not isinstance(ref, str) or not _REF_ID.match(ref):
            out.append(f"{label}.referenceId must be letters, digits and underscores")
        elif ref in earlier:
            out.append(f"{label}.referenceId {ref} is used twice")
        sub_method = sub.get("method")
        if sub_method not in ("GET", "POST", "PATCH", "DELETE"):
            out.append(f"{label}.method must be GET, POST, PATCH or DELETE (upper case)")
            continue
        if "body" in sub and sub_method not in ("POST", "PATCH"):
            out.append(f"{label}: {sub_method} takes no body")
        url = sub.get("url")
        if not isinstance(url, str):
            out.append(f"{label}.url is missing")
            continue
        for name in _REFERENCE.findall(json.dumps(sub.get("body")) + url):
            if name not in earlier:
                out.append(f"{label} refers to @{{{name}...}}, which is not an earlier subrequest")
        parts = urlsplit(url)
        match = _DATA.match(parts.path)
        if match is None:
            out.append(f"{label}.url must start with /services/data/vXX.X/")
            continue
        if match.group("version") != version:
            out.append(
                f"{label}.url uses v{match.group('version')}; the composite call is v{version}"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        for problem in call_problems(sub_method, match.group("rest") or "/", query,
                                     sub.get("body"), version):  # fmt: skip
            out.append(f"{label}: {problem}")
        if isinstance(ref, str):
            earlier.add(ref)
    return out


def collection_problems(
    method: str, parts: list[str], query: Mapping[str, list[str]], body: Any
) -> list[str]:
    if method == "DELETE":
        ids = [i for v in query.get("ids", []) for i in v.split(",") if i]
        if not ids or len(ids) > COLLECTION_MAX:
            return [f"DELETE composite/sobjects needs 1 to {COLLECTION_MAX} ids"]
        return [f"{i!r} is not a record id" for i in ids if not _ID.match(i)]
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return ["the body needs a records list"]
    records = body["records"]
    out: list[str] = []
    if not 1 <= len(records) <= COLLECTION_MAX:
        out.append(f"records must hold 1 to {COLLECTION_MAX} records")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict) or \
                not record["attributes"].get("type"):  # fmt: skip
            out.append(f"records[{index}] needs attributes.type")
            continue
        sobject = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
        creating = method == "POST" or (method == "PATCH" and len(parts) == 2)
        if method == "PATCH" and not parts and not (record.get("id") or record.get("Id")):
            out.append(f"records[{index}] needs an id to be updated")
        if len(parts) == 2:
            fields.pop(parts[1], None)
            if not record.get(parts[1]):
                out.append(f"records[{index}] needs a value for {parts[1]}")
        out += [
            f"records[{index}]: {p}" for p in field_problems(sobject, fields, creating=creating)
        ]
    return out
