"""A loopback stand-in for the Salesforce REST API: OAuth 2.0 client credentials, SOQL queries,
sObject rows (Contact, Lead, Task), upsert by external id, and the composite resources.

It answers as Salesforce documents: the token endpoint returns ``access_token``,
``instance_url`` (this server), ``id``, ``token_type``, ``issued_at`` and ``signature`` and no
``expires_in`` (sessions end by timeout or revocation; a client learns it from a 401); errors
are JSON arrays of ``{"message", "errorCode", "fields"}``; ``401 INVALID_SESSION_ID`` for an
expired or unknown session; ``403 REQUEST_LIMIT_EXCEEDED`` for the API limit; create 201
``{"id", "success", "errors"}``; update and delete 204; upsert by external id 201 (created) or
200 (updated) with ``created``; composite 200 with ``compositeResponse`` (``allOrNone`` rolls
back, later subrequests then answer ``PROCESSING_HALTED``; ``@{ref.field}`` and
``@{ref.records[0].Id}`` references); sObject collections 200 with one result per record.

SOQL is parsed minimally but strictly: ``SELECT f[, f...] FROM Contact|Lead|Task [WHERE
cond [AND cond ...]] [ORDER BY f [ASC|DESC]] [LIMIT n]`` where a condition is ``Field = value``,
``Field != value`` or ``Field IN (value, ...)`` and a value is a quoted string (``\\'`` escapes),
``true``, ``false``, ``null`` or a number. String comparison ignores case, as Salesforce's does.
Anything else is ``MALFORMED_QUERY``; an unknown field ``INVALID_FIELD``; an unknown object
``INVALID_TYPE``.

Required fields: Contact ``LastName``; Lead ``LastName`` and ``Company``. Field limits: Task
``Subject`` 255, ``Description`` 32,000 characters; ``ActivityDate`` is ``YYYY-MM-DD``; ``WhoId``
must name an existing Contact or Lead. Custom fields (``__c``) exist only when given to the
constructor; by default Task has ``Drift_Conversation_Id__c``, an external id (unique).

Pages read (Salesforce REST API Developer Guide and OAuth help):
- https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
  (status codes; 401 session expired; 403 REQUEST_LIMIT_EXCEEDED; error body shape)
- https://developer.salesforce.com/docs/atlas.en-us.236.0.api_rest.meta/api/dome_upsert.htm
  (upsert by external id: 201 created, 200 updated, 300 for several matches)
- https://developer.salesforce.com/docs/atlas.en-us.262.0.api_rest.meta/api_rest/resources_composite_composite_post.htm
  (composite: subrequests, referenceId, ``@{ref.id}``, allOrNone)
- https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_subrequest_result.htm
  (subrequest result: body, httpHeaders, httpStatusCode, referenceId)
- https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_graph_composite_subrequest.htm
  (the ``.`` and ``[]`` reference operators)
- https://developer.salesforce.com/docs/atlas.en-us.244.0.api_rest.meta/api/resources_composite_sobjects_collections_upsert.htm
  (sObject collections: up to 200 records, ``attributes.type``)
- https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
  (client credentials flow and its token response)

Use in tests::

    with SalesforceStandIn(client_id="cid", client_secret="secret") as sf:
        sf.add_contact({"LastName": "Lovelace", "Email": "ada@example.com"})
        ... # CRM_OAUTH_TOKEN_URL=f"{sf.url}/services/oauth2/token"
        sf.expire_token()            # the next API call gets 401 INVALID_SESSION_ID
        assert sf.count_activities() == 1

``python -m devtools.vendors.salesforce --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from devtools.vendors._base import (
    Answer,
    RecordedRequest,
    TokenBook,
    VendorStandIn,
    bearer_token,
    deep_copy,
    route,
    run_cli,
    same_secret,
)

DEFAULT_CLIENT_ID = "standin-consumer-key"
DEFAULT_CLIENT_SECRET = "standin-consumer-secret"
ORG_ID = "00D5g00000ABCDEEA2"
USER_ID = "0055g00000XYZ12AAA"
COMPOSITE_MAX_SUBREQUESTS = 25
COLLECTION_MAX_RECORDS = 200
JSON = "application/json;charset=UTF-8"
HALTED_MESSAGE = (
    "The transaction was rolled back since another operation in the same transaction failed."
)
ROLLED_BACK_RECORD = (
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header"
)

_V = r"/services/data/v(?P<version>\d+\.\d)"
_PREFIX = {"Contact": "003", "Lead": "00Q", "Task": "00T"}
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Field name -> (writable, max length or None, kind). kind: text, email, date, datetime, id,
# picklist, bool, number.
_COMMON = {
    "Id": (False, None, "id"),
    "OwnerId": (True, None, "id"),
    "CreatedDate": (False, None, "datetime"),
    "LastModifiedDate": (False, None, "datetime"),
    "IsDeleted": (False, None, "bool"),
}
_PERSON = {
    "FirstName": (True, 40, "text"),
    "LastName": (True, 80, "text"),
    "Name": (False, None, "text"),
    "Email": (True, 80, "email"),
    "Phone": (True, 40, "text"),
    "MobilePhone": (True, 40, "text"),
    "Title": (True, 128, "text"),
    "Description": (True, 32_000, "text"),
    "LeadSource": (True, 255, "text"),
}
STANDARD_FIELDS: dict[str, dict[str, tuple[bool, int | None, str]]] = {
    "Contact": {
        **_COMMON,
        **_PERSON,
        "AccountId": (True, None, "id"),
        "Department": (True, 80, "text"),
        "MailingStreet": (True, 255, "text"),
        "MailingCity": (True, 40, "text"),
        "MailingState": (True, 80, "text"),
        "MailingPostalCode": (True, 20, "text"),
        "MailingCountry": (True, 80, "text"),
    },
    "Lead": {
        **_COMMON,
        **_PERSON,
        "Company": (True, 255, "text"),
        "Status": (True, 255, "picklist"),
        "Website": (True, 255, "text"),
        "Industry": (True, 255, "text"),
        "Street": (True, 255, "text"),
        "City": (True, 40, "text"),
        "State": (True, 80, "text"),
        "PostalCode": (True, 20, "text"),
        "Country": (True, 80, "text"),
        "IsConverted": (False, None, "bool"),
        "ConvertedContactId": (False, None, "id"),
    },
    "Task": {
        **_COMMON,
        "WhoId": (True, None, "id"),
        "WhatId": (True, None, "id"),
        "Subject": (True, 255, "text"),
        "Description": (True, 32_000, "text"),
        "ActivityDate": (True, None, "date"),
        "Status": (True, 255, "picklist"),
        "Priority": (True, 255, "picklist"),
        "TaskSubtype": (True, 255, "picklist"),
        "Type": (True, 255, "text"),
        "IsClosed": (False, None, "bool"),
        "CompletedDateTime": (False, None, "datetime"),
    },
}
REQUIRED_FIELDS = {"Contact": ("LastName",), "Lead": ("LastName", "Company"), "Task": ()}
PICKLISTS = {
    ("Task", "Status"): ("Not Started", "In Progress", "Completed", "Waiting on someone else",
                         "Deferred"),
    ("Task", "Priority"): ("High", "Normal", "Low"),
    ("Task", "TaskSubtype"): ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"),
    ("Lead", "Status"): ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                         "Closed - Not Converted"),
}  # fmt: skip
DEFAULTS = {
    "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"},
    "Lead": {"Status": "Open - Not Contacted", "IsConverted": False},
    "Contact": {},
}


def _err(message: str, code: str, fields: Iterable[str] = ()) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": list(fields)}]


def _answer_err(status: int, message: str, code: str) -> Answer:
    """A request-level error (no ``fields``, as Salesforce sends for auth and limits)."""
    return Answer(status, [{"message": message, "errorCode": code}], content_type=JSON)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def eighteen(id15: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce id."""
    suffix = ""
    for chunk in range(3):
        mask = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                mask |= 1 << position
        suffix += _CHECKSUM[mask]
    return id15 + suffix


class _QueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Halted(Exception):
    """A composite subrequest failed under allOrNone: roll back."""


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>!=|=|\(|\)|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def _tokens(soql: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    soql = soql.strip()
    while position < len(soql):
        match = _TOKEN.match(soql, position)
        if match is None or match.end() == position:
            raise _QueryError("MALFORMED_QUERY", f"unexpected token: {soql[position:][:20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
        while position < len(soql) and soql[position].isspace():
            position += 1
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        inner = text[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), inner)
    if kind == "number":
        return float(text) if "." in text else int(text)
    if kind == "word" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "word" and text.lower() == "null":
        return None
    raise _QueryError("MALFORMED_QUERY", f"unexpected token: {text}")


class SalesforceStandIn(VendorStandIn):
    """Salesforce's REST API over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "salesforce"
    thread_name = "salesforce-standin"
    routes = (
        route("POST", "/services/oauth2/token", "oauth.token", "_token", auth=False),
        route("GET", f"{_V}/query/?", "query", "_rest_entry"),
        route("POST", f"{_V}/composite/?", "composite", "_composite"),
        route("POST", f"{_V}/composite/sobjects/?", "collections.create", "_rest_entry"),
        route("PATCH", f"{_V}/composite/sobjects/?", "collections.update", "_rest_entry"),
        route("DELETE", f"{_V}/composite/sobjects/?", "collections.delete", "_rest_entry"),
        route("PATCH", f"{_V}/composite/sobjects/(?P<sobject>\\w+)/(?P<field>\\w+)",
              "collections.upsert", "_rest_entry"),
        route("POST", f"{_V}/sobjects/(?P<sobject>\\w+)/?", "sobjects.create", "_rest_entry"),
        route("GET", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<record_id>\\w+)", "sobjects.get",
              "_rest_entry"),
        route("PATCH", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<record_id>\\w+)", "sobjects.update",
              "_rest_entry"),
        route("DELETE", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<record_id>\\w+)",
              "sobjects.delete", "_rest_entry"),
        route("PATCH", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<field>\\w+)/(?P<value>[^/]+)",
              "sobjects.upsert", "_rest_entry"),
        route("GET", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<field>\\w+)/(?P<value>[^/]+)",
              "sobjects.get_by_external_id", "_rest_entry"),
        route("DELETE", f"{_V}/sobjects/(?P<sobject>\\w+)/(?P<field>\\w+)/(?P<value>[^/]+)",
              "sobjects.delete_by_external_id", "_rest_entry"),
    )  # fmt: skip

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        custom_fields: Mapping[str, Iterable[str]] | None = None,
        external_id_fields: Mapping[str, Iterable[str]] | None = None,
        session_seconds: float = 7200.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        external = (
            {"Task": ["Drift_Conversation_Id__c"]}
            if external_id_fields is None
            else external_id_fields
        )
        self.external_id_fields = {k: set(v) for k, v in external.items()}
        self.fields = {name: dict(table) for name, table in STANDARD_FIELDS.items()}
        for sobject, names in (custom_fields or {}).items():
            for field_name in names:
                self.fields[sobject][field_name] = (True, 255, "text")
        for sobject, names in self.external_id_fields.items():
            for field_name in names:
                self.fields[sobject][field_name] = (True, 255, "text")
        self.tokens = TokenBook("00D5g00000ABCDE!standin.", session_seconds)
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._records: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in STANDARD_FIELDS}
        self._counter = 0
        self.deleted: list[dict[str, Any]] = []
        self.tokens.clear()

    def contacts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._records["Contact"].values()]

    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._records["Lead"].values()]

    def tasks(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._records["Task"].values()]

    def persons(self) -> list[dict[str, Any]]:
        """Leads and contacts; each has ``attributes.type``."""
        return self.contacts() + self.leads()

    def activities(self) -> list[dict[str, Any]]:
        return self.tasks()

    def record(self, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._find_id(record_id)
            return deep_copy(found[1]) if found else None

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        """The Contact with that e-mail, else the Lead, else None."""
        with self.lock:
            for sobject in ("Contact", "Lead"):
                for rec in self._records[sobject].values():
                    if (rec.get("Email") or "").lower() == email.lower():
                        return deep_copy(rec)
            return None

    def tasks_for(self, who_id: str) -> list[dict[str, Any]]:
        with self.lock:
            full = self._normalize_id(who_id)
            return [deep_copy(t) for t in self._records["Task"].values() if t.get("WhoId") == full]

    def add_contact(self, fields: dict[str, Any]) -> str:
        """Put a Contact in place (a returning visitor); returns its 18-character id."""
        return self._add("Contact", fields)

    def add_lead(self, fields: dict[str, Any]) -> str:
        return self._add("Lead", fields)

    def _add(self, sobject: str, fields: dict[str, Any]) -> str:
        with self.lock:
            problems = self._check_fields(sobject, fields, creating=True)
            if problems:
                raise ValueError(problems)
            return self._insert(sobject, fields)["Id"]

    def _new_id(self, sobject: str) -> str:
        self._counter += 1
        number, digits = self._counter, ""
        while number:
            number, rest = divmod(number, 62)
            digits = _ID_CHARS[rest] + digits
        return eighteen(f"{_PREFIX[sobject]}5g00000{digits.rjust(5, '0')}")

    def _normalize_id(self, record_id: str) -> str:
        return eighteen(record_id) if len(record_id) == 15 else record_id

    def _find_id(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        if len(record_id) not in (15, 18):
            return None
        full = self._normalize_id(record_id)
        for sobject, table in self._records.items():
            if full[:15] in {k[:15] for k in table}:
                for key, rec in table.items():
                    if key[:15] == full[:15]:
                        return sobject, rec
        return None

    def _insert(self, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        record_id = self._new_id(sobject)
        now = _now_iso()
        rec: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v62.0/sobjects/{sobject}/{record_id}",
            },
            "Id": record_id,
            "OwnerId": USER_ID,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "IsDeleted": False,
            **DEFAULTS[sobject],
        }
        rec.update(self._clean(fields))
        self._derive(sobject, rec)
        self._records[sobject][record_id] = rec
        return rec

    def _clean(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in fields.items():
            if (
                name in ("WhoId", "WhatId", "OwnerId", "AccountId")
                and isinstance(value, str)
                and len(value) == 15
            ):
                value = eighteen(value)
            out[name] = value
        return out

    def _derive(self, sobject: str, rec: dict[str, Any]) -> None:
        if sobject in ("Contact", "Lead"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if sobject == "Task":
            closed = rec.get("Status") == "Completed"
            rec["IsClosed"] = closed
            rec["CompletedDateTime"] = rec.get("CompletedDateTime") or (
                _now_iso() if closed else None
            )
            if not closed:
                rec["CompletedDateTime"] = None

    # -- auth, faults -----------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every issued session stops working (401 INVALID_SESSION_ID); the token endpoint
        issues a fresh one."""
        with self.lock:
            self.tokens.expire_all()

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        if self.tokens.valid(bearer_token(request)):
            return None
        return self.expired_token_answer(request)

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        return _answer_err(401, "Session expired or invalid", "INVALID_SESSION_ID")

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        return _answer_err(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _answer_err(
            503, "Server is unavailable. Please try again later.", "SERVER_UNAVAILABLE"
        )

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return _answer_err(404, "The requested resource does not exist", "NOT_FOUND")

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _answer_err(400, message, "JSON_PARSER_ERROR")

    # -- token endpoint ---------------------------------------------------------------------

    def _token(self, request: RecordedRequest) -> Answer:
        if "application/x-www-form-urlencoded" not in request.content_type:
            return Answer(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "must use application/x-www-form-urlencoded",
                },
            )
        form = {k: v[0] for k, v in request.form.items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization") or ""
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return Answer(
                    400,
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                )
        grant = form.get("grant_type")
        if grant is None:
            return Answer(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if grant != "client_credentials":
            return Answer(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if not (
            same_secret(client_id, self.client_id)
            and same_secret(client_secret, self.client_secret)
        ):
            return Answer(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        token = self.tokens.issue()
        issued_at = str(int(time.time() * 1000))
        return Answer(200, {
            "access_token": token,
            "signature": base64.b64encode(f"sig-{issued_at}".encode()).decode(),
            "scope": "api",
            "instance_url": self.url,
            "id": f"{self.url}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer",
            "issued_at": issued_at,
        }, content_type=JSON)  # fmt: skip

    # -- REST -------------------------------------------------------------------------------

    def _rest_entry(self, request: RecordedRequest, version: str, **_: str) -> Answer:
        body: Any = None
        if request.method in ("POST", "PATCH"):
            if "json" not in request.content_type:
                return _answer_err(
                    415,
                    "Content-Type header specified in HTTP request is not "
                    f"supported: {request.content_type or 'none'}",
                    "UNSUPPORTED_MEDIA_TYPE",
                )
            try:
                body = json.loads(request.body or b"null")
            except (ValueError, UnicodeDecodeError) as exc:
                return self.bad_body_answer(request, f"Unexpected character: {exc}")
        rest = request.path.split(f"/v{version}", 1)[1]
        status, answer, headers = self._rest(request.method, rest, request.query, body, version)
        return Answer(status, answer, headers, JSON)

    def _rest(
        self,
        method: str,
        rest: str,
        query: Mapping[str, list[str]],
        body: Any,
        version: str,
    ) -> tuple[int, Any, dict[str, str]]:
        """One REST call (top level or composite subrequest): status, body, headers."""
        parts = [unquote(p) for p in rest.strip("/").split("/")]
        try:
            if parts == ["query"] and method == "GET":
                return self._query(query, version)
            if parts[:2] == ["composite", "sobjects"]:
                return self._collections(method, parts[2:], query, body, version)
            if parts[0] == "sobjects" and len(parts) >= 2:
                return self._sobjects(method, parts[1:], body, version)
        except _QueryError as exc:
            return 400, _err(str(exc), exc.code), {}
        return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}

    # -- query ------------------------------------------------------------------------------

    def _query(
        self, query: Mapping[str, list[str]], version: str
    ) -> tuple[int, Any, dict[str, str]]:
        soql = (query.get("q") or [""])[0]
        if not soql.strip():
            raise _QueryError("MALFORMED_QUERY", "A query string has to be specified")
        sobject, fields, conditions, order, limit = self._parse(soql)
        rows = [r for r in self._records[sobject].values() if all(c(r) for c in conditions)]
        if order:
            name, descending = order
            rows.sort(
                key=lambda r: (r.get(name) is None, str(r.get(name) or "")), reverse=descending
            )
        if limit is not None:
            rows = rows[:limit]
        records = []
        for row in rows:
            item: dict[str, Any] = {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
                }
            }
            for name in fields:
                item[name] = deep_copy(row.get(name))
            records.append(item)
        return 200, {"totalSize": len(records), "done": True, "records": records}, {}

    def _field(self, sobject: str, name: str) -> str:
        for known in self.fields[sobject]:
            if known.lower() == name.lower():
                return known
        raise _QueryError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name.",
        )

    def _parse(self, soql: str):
        tokens = _tokens(soql)
        position = 0

        def peek(offset: int = 0) -> tuple[str, str] | None:
            index = position + offset
            return tokens[index] if index < len(tokens) else None

        def expect_word(word: str) -> None:
            nonlocal position
            token = peek()
            if token is None or token[0] != "word" or token[1].upper() != word:
                found = token[1] if token else "end of query"
                raise _QueryError("MALFORMED_QUERY", f"unexpected token: {found}")
            position += 1

        expect_word("SELECT")
        names: list[str] = []
        while True:
            token = peek()
            if token is None or token[0] != "word" or token[1].upper() == "FROM":
                raise _QueryError("MALFORMED_QUERY", "unexpected token: FROM")
            names.append(token[1])
            position += 1
            token = peek()
            if token == ("op", ","):
                position += 1
                continue
            break
        expect_word("FROM")
        token = peek()
        if token is None or token[0] != "word":
            raise _QueryError("MALFORMED_QUERY", "unexpected end of query")
        sobject = next((s for s in self._records if s.lower() == token[1].lower()), None)
        if sobject is None:
            raise _QueryError("INVALID_TYPE", f"sObject type '{token[1]}' is not supported.")
        position += 1
        fields = [self._field(sobject, n) for n in names]
        conditions = []
        order: tuple[str, bool] | None = None
        limit: int | None = None
        token = peek()
        if token and token[0] == "word" and token[1].upper() == "WHERE":
            position += 1
            while True:
                condition, used = self._condition(sobject, tokens[position:])
                conditions.append(condition)
                position += used
                token = peek()
                if token and token[0] == "word" and token[1].upper() == "AND":
                    position += 1
                    continue
                break
        token = peek()
        if token and token[0] == "word" and token[1].upper() == "ORDER":
            position += 1
            expect_word("BY")
            token = peek()
            if token is None or token[0] != "word":
                raise _QueryError("MALFORMED_QUERY", "unexpected end of query")
            name = self._field(sobject, token[1])
            position += 1
            descending = False
            token = peek()
            if token and token[0] == "word" and token[1].upper() in ("ASC", "DESC"):
                descending = token[1].upper() == "DESC"
                position += 1
            order = (name, descending)
        token = peek()
        if token and token[0] == "word" and token[1].upper() == "LIMIT":
            position += 1
            token = peek()
            if token is None or token[0] != "number" or "." in token[1]:
                raise _QueryError("MALFORMED_QUERY", "LIMIT needs a whole number")
            limit = int(token[1])
            position += 1
        if position != len(tokens):
            raise _QueryError("MALFORMED_QUERY", f"unexpected token: {tokens[position][1]}")
        return sobject, fields, conditions, order, limit

    def _condition(self, sobject: str, tokens: list[tuple[str, str]]):
        if len(tokens) < 3 or tokens[0][0] != "word":
            raise _QueryError("MALFORMED_QUERY", "unexpected end of query")
        name = self._field(sobject, tokens[0][1])
        operator = tokens[1]
        if operator in (("op", "="), ("op", "!=")):
            raw = [_literal(*tokens[2])]
            negate = operator[1] == "!="
            used = 3
        elif operator[0] == "word" and operator[1].upper() == "IN":
            if tokens[2] != ("op", "("):
                raise _QueryError("MALFORMED_QUERY", "IN needs a parenthesised list")
            raw, index = [], 3
            while True:
                if index >= len(tokens):
                    raise _QueryError("MALFORMED_QUERY", "unexpected end of query")
                raw.append(_literal(*tokens[index]))
                index += 1
                if index < len(tokens) and tokens[index] == ("op", ","):
                    index += 1
                    continue
                if index < len(tokens) and tokens[index] == ("op", ")"):
                    index += 1
                    break
                raise _QueryError("MALFORMED_QUERY", "unexpected token in IN list")
            negate, used = False, index
        else:
            raise _QueryError("MALFORMED_QUERY", f"unexpected token: {operator[1]}")
        if name in ("Id", "WhoId", "WhatId", "OwnerId", "AccountId"):
            raw = [eighteen(v) if isinstance(v, str) and len(v) == 15 else v for v in raw]
        wanted = {_fold(v) for v in raw}

        def condition(row: dict[str, Any]) -> bool:
            return (_fold(row.get(name)) in wanted) != negate

        return condition, used

    # -- sObject rows -----------------------------------------------------------------------

    def _sobject(self, name: str) -> str | None:
        return name if name in self._records else None

    def _check_fields(
        self, sobject: str, fields: Any, *, creating: bool, ignore: Iterable[str] = ()
    ) -> list[dict[str, Any]] | None:
        if not isinstance(fields, dict):
            return _err("The request body must be a JSON object", "JSON_PARSER_ERROR")
        table = self.fields[sobject]
        for name, value in fields.items():
            if name == "attributes" or name in ignore:
                continue
            if name not in table:
                return _err(
                    f"No such column '{name}' on sobject of type {sobject}", "INVALID_FIELD"
                )
            writable, limit, kind = table[name]
            if not writable:
                return _err(
                    f"Unable to create/update fields: {name}. Please check the security "
                    "settings of this field and verify that it is read/write for your "
                    "profile or permission set.",
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    [name],
                )
            if value is None:
                continue
            if isinstance(value, (dict, list)):
                return _err(
                    f"Cannot deserialize instance of {kind} from {type(value).__name__}",
                    "JSON_PARSER_ERROR",
                    [name],
                )
            text = str(value)
            if limit is not None and len(text) > limit:
                return _err(
                    f"{name}: data value too large: {text[:20]}... (max length={limit})",
                    "STRING_TOO_LONG",
                    [name],
                )
            if kind == "email" and not _EMAIL.match(text):
                return _err(
                    f"Email: invalid email address: {text}", "INVALID_EMAIL_ADDRESS", [name]
                )
            if kind == "date" and not (_DATE.match(text) and _valid_date(text)):
                return _err(
                    f"Cannot deserialize instance of date from VALUE_STRING value {text}"
                    " or request may be missing a required field",
                    "JSON_PARSER_ERROR",
                    [name],
                )
            if (
                kind == "picklist"
                and (sobject, name) in PICKLISTS
                and text not in PICKLISTS[(sobject, name)]
            ):
                return _err(
                    f"bad value for restricted picklist field: {text}",
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    [name],
                )
            if name in ("WhoId",):
                target = self._find_id(text)
                if target is None or target[0] not in ("Contact", "Lead"):
                    return _err(
                        f"Name ID: id value of incorrect type: {text}",
                        "FIELD_INTEGRITY_EXCEPTION",
                        [name],
                    )
        missing = [
            name for name in REQUIRED_FIELDS[sobject]
            if (creating and fields.get(name) in (None, "")) or
            (not creating and name in fields and fields[name] in (None, ""))
        ]  # fmt: skip
        if missing:
            return _err(
                f"Required fields are missing: [{', '.join(missing)}]",
                "REQUIRED_FIELD_MISSING",
                missing,
            )
        return None

    def _sobjects(
        self, method: str, parts: list[str], body: Any, version: str
    ) -> tuple[int, Any, dict[str, str]]:
        sobject = self._sobject(parts[0])
        if sobject is None:
            return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
        if len(parts) == 1 and method == "POST":
            problems = self._check_fields(sobject, body, creating=True)
            if problems:
                return 400, problems, {}
            conflict = self._external_conflict(sobject, body, None)
            if conflict:
                return 400, conflict, {}
            rec = self._insert(sobject, body)
            location = f"/services/data/v{version}/sobjects/{sobject}/{rec['Id']}"
            return 201, {"id": rec["Id"], "success": True, "errors": []}, {"Location": location}
        if len(parts) == 2:
            found = self._find_id(parts[1])
            if found is None or found[0] != sobject:
                return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
            rec = found[1]
            if method == "GET":
                return 200, deep_copy(rec), {}
            if method == "PATCH":
                problems = self._check_fields(sobject, body, creating=False)
                if problems:
                    return 400, problems, {}
                conflict = self._external_conflict(sobject, body, rec["Id"])
                if conflict:
                    return 400, conflict, {}
                self._update(sobject, rec, body)
                return 204, None, {}
            if method == "DELETE":
                self._delete(sobject, rec)
                return 204, None, {}
        if len(parts) == 3:
            return self._by_external_id(method, sobject, parts[1], parts[2], body, version)
        return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}

    def _update(self, sobject: str, rec: dict[str, Any], fields: dict[str, Any]) -> None:
        rec.update(self._clean({k: v for k, v in fields.items() if k != "attributes"}))
        rec["LastModifiedDate"] = _now_iso()
        self._derive(sobject, rec)

    def _delete(self, sobject: str, rec: dict[str, Any]) -> None:
        del self._records[sobject][rec["Id"]]
        self.deleted.append({"type": sobject, "Id": rec["Id"], "Email": rec.get("Email")})
        if sobject in ("Lead", "Contact"):
            # Deleting a Lead or Contact deletes its activities (Salesforce Help, "Delete
            # Records": "related records such as activities... are also deleted").
            tasks = self._records.get("Task", {})
            for task_id in [i for i, task in tasks.items() if task.get("WhoId") == rec["Id"]]:
                del tasks[task_id]

    def _external_conflict(
        self, sobject: str, fields: dict[str, Any], own_id: str | None
    ) -> list[dict[str, Any]] | None:
        for name in self.external_id_fields.get(sobject, ()):
            value = fields.get(name)
            if value in (None, ""):
                continue
            for rec in self._records[sobject].values():
                if rec["Id"] != own_id and _fold(rec.get(name)) == _fold(value):
                    return _err(
                        f"duplicate value found: {name} duplicates value on record with "
                        f"id: {rec['Id']}",
                        "DUPLICATE_VALUE",
                        [name],
                    )
        return None

    def _by_external_id(
        self, method: str, sobject: str, field_name: str, value: str, body: Any, version: str
    ) -> tuple[int, Any, dict[str, str]]:
        known = {f.lower(): f for f in self.external_id_fields.get(sobject, ())}
        external = known.get(field_name.lower())
        if external is None:
            return (
                404,
                _err(
                    f"Provided external ID field does not exist or is not accessible: {field_name}",
                    "NOT_FOUND",
                ),
                {},
            )
        matches = [
            r for r in self._records[sobject].values() if _fold(r.get(external)) == _fold(value)
        ]
        if len(matches) > 1:
            urls = [f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}" for r in matches]
            return 300, urls, {}
        if method == "GET":
            if not matches:
                return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
            return 200, deep_copy(matches[0]), {}
        if method == "DELETE":
            if not matches:
                return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
            self._delete(sobject, matches[0])
            return 204, None, {}
        if method != "PATCH":
            return (
                405,
                _err(
                    f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE",
                    "METHOD_NOT_ALLOWED",
                ),
                {},
            )
        if isinstance(body, dict) and external in body and _fold(body[external]) != _fold(value):
            return (
                400,
                _err(
                    f"The external ID field {external} in the body does not match the "
                    "value in the URL",
                    "INVALID_FIELD",
                    [external],
                ),
                {},
            )
        fields = (
            {k: v for k, v in (body or {}).items() if k != external}
            if isinstance(body, dict)
            else body
        )
        if not matches:
            problems = self._check_fields(sobject, fields, creating=True)
            if problems:
                return 400, problems, {}
            rec = self._insert(sobject, {**fields, external: value})
            location = f"/services/data/v{version}/sobjects/{sobject}/{rec['Id']}"
            return (
                201,
                {"id": rec["Id"], "success": True, "errors": [], "created": True},
                {"Location": location},
            )
        problems = self._check_fields(sobject, fields, creating=False)
        if problems:
            return 400, problems, {}
        self._update(sobject, matches[0], fields)
        return 200, {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}, {}

    # -- sObject collections ----------------------------------------------------------------

    def _collections(
        self,
        method: str,
        parts: list[str],
        query: Mapping[str, list[str]],
        body: Any,
        version: str,
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "DELETE" and not parts:
            ids = [i for v in query.get("ids", []) for i in v.split(",") if i]
            all_or_none = (query.get("allOrNone") or ["false"])[0].lower() == "true"
            items = [("DELETE", i, None) for i in ids]
            return self._run_collection(items, all_or_none, None, version)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return 400, _err("The request body needs a records list", "JSON_PARSER_ERROR"), {}
        records = body["records"]
        if len(records) > COLLECTION_MAX_RECORDS:
            return (
                400,
                _err(f"Maximum number of records is {COLLECTION_MAX_RECORDS}", "EXCEEDED_ID_LIMIT"),
                {},
            )
        unknown = set(body) - {"allOrNone", "records"}
        if unknown:
            return 400, _err(f"Unrecognized field {sorted(unknown)[0]}", "JSON_PARSER_ERROR"), {}
        all_or_none = bool(body.get("allOrNone", False))
        if method == "POST" and not parts:
            items = [("POST", None, r) for r in records]
        elif method == "PATCH" and not parts:
            items = [
                ("PATCH", r.get("id") or r.get("Id") if isinstance(r, dict) else None, r)
                for r in records
            ]
        elif method == "PATCH" and len(parts) == 2:
            sobject = self._sobject(parts[0])
            if sobject is None:
                return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
            items = [("UPSERT", parts[1], r) for r in records]
        else:
            return 404, _err("The requested resource does not exist", "NOT_FOUND"), {}
        return self._run_collection(items, all_or_none, parts[0] if parts else None, version)

    def _run_collection(self, items, all_or_none: bool, upsert_type: str | None, version: str):
        saved = copy.deepcopy(self._records)
        results: list[dict[str, Any]] = []
        failed = False
        for action, key, rec in items:
            status, answer = self._collection_item(action, key, rec, upsert_type, version)
            if 200 <= status < 300:
                results.append(answer)
            else:
                failed = True
                errors = answer if isinstance(answer, list) else []
                results.append({"success": False, "errors": [
                    {"statusCode": e["errorCode"], "message": e["message"],
                     "fields": e.get("fields", [])} for e in errors]})  # fmt: skip
        if failed and all_or_none:
            self._records = saved
            for result in results:
                if result.get("success"):
                    result.clear()
                    result.update(
                        {
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                    "message": ROLLED_BACK_RECORD,
                                    "fields": [],
                                }
                            ],
                        }
                    )
        return 200, results, {}

    def _collection_item(self, action, key, rec, upsert_type, version):
        if action == "DELETE":
            found = self._find_id(key)
            if found is None:
                return 404, _err("entity is deleted", "ENTITY_IS_DELETED")
            self._delete(found[0], found[1])
            return 200, {"id": found[1]["Id"], "success": True, "errors": []}
        if not isinstance(rec, dict) or not isinstance(rec.get("attributes"), dict):
            return 400, _err("Each record needs attributes with a type", "INVALID_TYPE")
        sobject = self._sobject(str(rec["attributes"].get("type")))
        if sobject is None or (upsert_type and sobject != upsert_type):
            return 400, _err("Invalid sObject type in attributes", "INVALID_TYPE")
        fields = {k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")}
        if action == "POST":
            status, answer, _ = self._sobjects("POST", [sobject], fields, version)
            return status, answer
        if action == "PATCH":
            if not key:
                return 400, _err("Each record needs an id", "MISSING_ARGUMENT")
            status, answer, _ = self._sobjects("PATCH", [sobject, key], fields, version)
            if status == 204:
                return 200, {"id": self._normalize_id(key), "success": True, "errors": []}
            return status, answer
        value = rec.get(key)
        if value in (None, ""):
            return 400, _err(f"The external ID field {key} needs a value", "MISSING_ARGUMENT")
        status, answer, _ = self._by_external_id("PATCH", sobject, key, str(value), fields, version)
        return status, answer

    # -- composite --------------------------------------------------------------------------

    def _composite(self, request: RecordedRequest, version: str) -> Answer:
        if "json" not in request.content_type:
            return _answer_err(
                415,
                "Content-Type header specified in HTTP request is not supported",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            return _answer_err(
                400, "Composite request needs a compositeRequest list", "JSON_PARSER_ERROR"
            )
        unknown = set(body) - {"allOrNone", "collateSubrequests", "compositeRequest"}
        if unknown:
            return _answer_err(400, f"Unrecognized field {sorted(unknown)[0]}", "JSON_PARSER_ERROR")
        subrequests = body["compositeRequest"]
        if not subrequests or len(subrequests) > COMPOSITE_MAX_SUBREQUESTS:
            return _answer_err(
                400,
                f"A composite request takes 1 to {COMPOSITE_MAX_SUBREQUESTS} subrequests",
                "INVALID_API_INPUT",
            )
        seen: set[str] = set()
        for sub in subrequests:
            if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= set(sub):
                return _answer_err(
                    400, "Each subrequest needs method, url and referenceId", "JSON_PARSER_ERROR"
                )
            if set(sub) - {"method", "url", "referenceId", "body", "httpHeaders"}:
                return _answer_err(400, "Unrecognized field in a subrequest", "JSON_PARSER_ERROR")
            ref = str(sub["referenceId"])
            if not re.fullmatch(r"[A-Za-z0-9_]+", ref) or ref in seen:
                return _answer_err(400, f"Invalid or duplicate referenceId: {ref}", "INVALID_INPUT")
            seen.add(ref)
        all_or_none = bool(body.get("allOrNone", False))
        saved = copy.deepcopy(self._records)
        results: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}
        halted = False
        for sub in subrequests:
            ref = sub["referenceId"]
            if halted:
                results.append(
                    self._sub_result(
                        ref,
                        400,
                        _err(
                            HALTED_MESSAGE,
                            "PROCESSING_HALTED",
                        ),
                    )
                )
                continue
            status, answer, headers = self._subrequest(sub, bodies, version)
            results.append(self._sub_result(ref, status, answer, headers))
            if 200 <= status < 300:
                bodies[ref] = answer
            elif all_or_none:
                halted = True
        if halted:
            self._records = saved
            for result in results:
                if 200 <= result["httpStatusCode"] < 300:
                    result.update(
                        self._sub_result(
                            result["referenceId"],
                            400,
                            _err(
                                HALTED_MESSAGE,
                                "PROCESSING_HALTED",
                            ),
                        )
                    )
        return Answer(200, {"compositeResponse": results}, content_type=JSON)

    @staticmethod
    def _sub_result(ref: str, status: int, body: Any, headers: dict[str, str] | None = None):
        return {
            "body": body,
            "httpHeaders": headers or {},
            "httpStatusCode": status,
            "referenceId": ref,
        }

    def _subrequest(self, sub: dict[str, Any], bodies: dict[str, Any], version: str):
        method = str(sub["method"])
        if method not in ("GET", "POST", "PATCH", "DELETE"):
            return 400, _err(f"Invalid method {method}", "INVALID_INPUT"), {}
        try:
            url = _resolve(str(sub["url"]), bodies, quote_for_url=True)
            body = _resolve(sub.get("body"), bodies)
        except KeyError as exc:
            ref, path = exc.args[0]
            return (
                400,
                _err(
                    f"Invalid reference specified. No value for {ref}.{path} found in "
                    f"{ref}. Provided referenceId ('{ref}') and field ('{path}')",
                    "PROCESSING_HALTED",
                ),
                {},
            )
        parts = urlsplit(url)
        match = re.match(r"^/services/data/v(\d+\.\d)(/.*)$", parts.path)
        if match is None:
            return (
                400,
                _err(
                    f"The subrequest url {url} must start with /services/data/vXX.X/",
                    "INVALID_INPUT",
                ),
                {},
            )
        if match.group(1) != version:
            return (
                400,
                _err(
                    "All subrequests must use the composite request's API version", "INVALID_INPUT"
                ),
                {},
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        return self._rest(method, match.group(2), query, body, version)


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _valid_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")


def _dig(value: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(value, list) or index >= len(value):
                raise LookupError(path)
            value = value[index]
        else:
            if not isinstance(value, dict) or part not in value:
                raise LookupError(path)
            value = value[part]
    return value


def _resolve(value: Any, bodies: dict[str, Any], *, quote_for_url: bool = False) -> Any:
    """``value`` with every ``@{ref.path}`` replaced by that earlier answer's value."""
    if isinstance(value, dict):
        return {k: _resolve(v, bodies) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, bodies) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(ref: str, path: str) -> Any:
        if ref not in bodies:
            raise KeyError((ref, path))
        try:
            return _dig(bodies[ref], path)
        except LookupError:
            raise KeyError((ref, path)) from None

    whole = _REFERENCE.fullmatch(value)
    if whole and not quote_for_url:
        return lookup(whole.group(1), whole.group(2))
    return _REFERENCE.sub(lambda m: str(lookup(m.group(1), m.group(2))), value)


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        SalesforceStandIn,
        argv,
        {
            "client_id": "the connected app's consumer key",
            "client_secret": "the connected app's consumer secret",
        },
    )


if __name__ == "__main__":
    sys.exit(main())
