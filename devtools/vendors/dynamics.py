"""A loopback stand-in for Microsoft Dataverse (Dynamics 365) Web API v9.2 and the Microsoft
Entra ID token endpoint: contacts, annotations (notes) and tasks.

It answers as Microsoft documents: ``POST /{tenant}/oauth2/v2.0/token`` (client credentials,
``scope=https://ORG.crm.dynamics.com/.default``) returns ``token_type``, ``expires_in``,
``ext_expires_in`` and ``access_token``, with Entra's ``AADSTS`` errors (401 ``invalid_client``,
400 ``invalid_scope``); the API takes ``Authorization: Bearer``, answers 401 with an empty body
and ``WWW-Authenticate`` for a bad or expired token, and 429 with ``Retry-After`` and error
``0x80072322`` for the service protection limits; errors are ``{"error": {"code", "message"}}``.
Queries read ``$filter`` (``field eq value`` joined by ``and``; strings in single quotes with
``''`` for a quote; compared without case), ``$select`` and ``$top``; the answer is
``{"@odata.context", "value": [...]}``. ``POST`` creates (204 with ``OData-EntityId``, or 201
with the row when ``Prefer: return=representation``); ``PATCH`` on a key is an upsert (it
creates a missing row) unless ``If-Match: *`` (update only, else 404) or ``If-None-Match: *``
(create only, else 412); ``DELETE`` is 204 and deletes the contact's notes and tasks with it.
Rows link to a contact by ``objectid_contact@odata.bind`` (annotations) or
``regardingobjectid_contact@odata.bind`` (tasks) set to ``/contacts(<id>)``; they read back as
``_objectid_value`` / ``_regardingobjectid_value``. A key is a GUID, or an alternate key the
admin defined (``contacts(emailaddress1='ada@example.com')``, given to the constructor).
Unknown properties and over-long strings are refused as Dataverse does; a completed task
(``statecode`` 1) cannot be changed unless it is reopened in the same request.

Pages read (Microsoft Learn):
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
  (POST, 204 and OData-EntityId, Prefer: return=representation, @odata.bind)
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
  (PATCH 204, upsert, If-Match: * and If-None-Match: *, DELETE)
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
  ($filter, $select, $top, the value array, @odata.etag)
- https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record
  (alternate keys in the URL)
- https://learn.microsoft.com/power-apps/developer/data-platform/api-limits (429 Too Many
  Requests, Retry-After, the service protection error)
- https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow (the
  token request and answer; the ``/.default`` scope; AADSTS errors)
- https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/annotation
  and .../entities/task (columns, lengths: subject 500/200, notetext 100,000, description 2,000)

Use in tests::

    with DynamicsStandIn(tenant="tid", client_id="cid", client_secret="s") as crm:
        ... # token URL f"{crm.url}/tid/oauth2/v2.0/token", scope crm.scope, base crm.url
        assert crm.count_persons() == 1

``python -m devtools.vendors.dynamics --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

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

DEFAULT_TENANT = "00000000-0000-4000-8000-00000000a11a"
DEFAULT_CLIENT_ID = "11111111-2222-4333-8444-555555555555"
DEFAULT_CLIENT_SECRET = "standin-entra-secret"
DEFAULT_RESOURCE = "https://standin.crm.dynamics.com"
API = "/api/data/v9.2"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JSON = "application/json; odata.metadata=minimal"
MISSING_GRANT = "AADSTS900144: The request body must contain the following parameter: 'grant_type'."

# entity set -> (primary key, logical name, {column: max length or None}, {bind: (set, column)})
ENTITIES: dict[str, tuple[str, str, dict[str, int | None], dict[str, tuple[str, str]]]] = {
    "contacts": ("contactid", "contact", {
        "firstname": 50, "lastname": 50, "middlename": 50, "emailaddress1": 100,
        "emailaddress2": 100, "telephone1": 50, "mobilephone": 50, "jobtitle": 100,
        "description": 2000, "address1_line1": 250, "address1_city": 80,
        "address1_stateorprovince": 50, "address1_country": 80, "address1_postalcode": 20,
        "websiteurl": 200, "department": 100,
    }, {}),
    "annotations": ("annotationid", "annotation", {
        "subject": 500, "notetext": 100_000, "isdocument": None, "filename": 255,
        "mimetype": 256, "objecttypecode": None,
    }, {"objectid_contact": ("contacts", "_objectid_value")}),
    "tasks": ("activityid", "task", {
        "subject": 200, "description": 2000, "scheduledstart": None, "scheduledend": None,
        "actualstart": None, "actualend": None, "actualdurationminutes": None,
        "prioritycode": None, "statecode": None, "statuscode": None, "category": 250,
        "subcategory": 250,
    }, {"regardingobjectid_contact": ("contacts", "_regardingobjectid_value")}),
}  # fmt: skip
READ_ONLY = {"fullname", "createdon", "modifiedon", "versionnumber", "_objectid_value",
             "_regardingobjectid_value", "@odata.etag"}  # fmt: skip
TASK_STATUS = {0: {2, 3, 4}, 1: {5}, 2: {6}}  # statecode -> valid statuscode values


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers or {}, JSON)


class DynamicsStandIn(VendorStandIn):
    """Dataverse Web API and Entra ID over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "dynamics"
    thread_name = "dynamics-standin"
    routes = (
        route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", "oauth.token", "_token",
              auth=False),
        *(
            r
            for name in ENTITIES
            for r in (
                route("GET", f"{API}/(?P<entity_set>{name})", f"{name}.query", "_query"),
                route("POST", f"{API}/(?P<entity_set>{name})", f"{name}.create", "_create"),
                route("GET", f"{API}/(?P<entity_set>{name})\\((?P<key>[^)]*)\\)", f"{name}.get",
                      "_get"),
                route("PATCH", f"{API}/(?P<entity_set>{name})\\((?P<key>[^)]*)\\)",
                      f"{name}.update", "_patch"),
                route("DELETE", f"{API}/(?P<entity_set>{name})\\((?P<key>[^)]*)\\)",
                      f"{name}.delete", "_delete"),
            )
        ),
    )  # fmt: skip

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tenant: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        resource: str = DEFAULT_RESOURCE,
        alternate_keys: Mapping[str, Iterable[str]] | None = None,
        custom_columns: Mapping[str, Iterable[str]] | None = None,
        token_seconds: float = 3599.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.resource = resource.rstrip("/")
        self.alternate_keys = {k: set(v) for k, v in (alternate_keys or {}).items()}
        self.columns = {name: dict(spec[2]) for name, spec in ENTITIES.items()}
        for name, columns in (custom_columns or {}).items():
            for column in columns:
                self.columns[name][column] = 4000
        self.tokens = TokenBook("eyJ0eXAiOiJKV1Qi.standin.", token_seconds)
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    @property
    def scope(self) -> str:
        """The scope a client asks for: ``<resource>/.default``."""
        return f"{self.resource}/.default"

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant}/oauth2/v2.0/token"

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self._version = 1_000_000
        self.deleted: list[dict[str, Any]] = []
        self.tokens.clear()

    def rows(self, entity_set: str) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._rows[entity_set].values()]

    def contacts(self) -> list[dict[str, Any]]:
        return self.rows("contacts")

    def annotations(self) -> list[dict[str, Any]]:
        return self.rows("annotations")

    def tasks(self) -> list[dict[str, Any]]:
        return self.rows("tasks")

    def persons(self) -> list[dict[str, Any]]:
        return self.contacts()

    def activities(self) -> list[dict[str, Any]]:
        return self.annotations() + self.tasks()

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            for row in self._rows["contacts"].values():
                if (row.get("emailaddress1") or "").lower() == email.lower():
                    return deep_copy(row)
            return None

    def activities_for(self, contact_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._rows["annotations"].values()
                    if r.get("_objectid_value") == contact_id] + [
                deep_copy(r) for r in self._rows["tasks"].values()
                if r.get("_regardingobjectid_value") == contact_id]  # fmt: skip

    def add_contact(self, columns: dict[str, Any]) -> str:
        """Put a contact in place (a returning visitor); returns its id."""
        with self.lock:
            return self._insert("contacts", str(uuid.uuid4()), columns)["contactid"]

    def _insert(self, entity_set: str, key: str, columns: dict[str, Any]) -> dict[str, Any]:
        primary = ENTITIES[entity_set][0]
        row = {primary: key, "createdon": "", "modifiedon": ""}
        if entity_set == "tasks":
            row.update({"statecode": 0, "statuscode": 2, "prioritycode": 1})
        if entity_set == "annotations":
            row.update({"isdocument": False, "objecttypecode": "contact"})
        self._rows[entity_set][key] = row
        self._apply(entity_set, row, columns)
        return row

    def _apply(self, entity_set: str, row: dict[str, Any], columns: dict[str, Any]) -> None:
        binds = ENTITIES[entity_set][3]
        for name, value in columns.items():
            if name.endswith("@odata.bind"):
                _, column = binds[name[: -len("@odata.bind")]]
                row[column] = self._bound_id(value)
            elif name != ENTITIES[entity_set][0]:
                row[name] = value
        if entity_set == "contacts":
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
        self._version += 1
        stamp = "2024-01-01T00:00:00Z"
        row["createdon"] = row["createdon"] or stamp
        row["modifiedon"] = stamp
        row["versionnumber"] = self._version
        row["@odata.etag"] = f'W/"{self._version}"'

    @staticmethod
    def _bound_id(value: str) -> str:
        match = re.search(r"contacts\(([^)]+)\)$", value)
        return match.group(1).lower() if match else ""

    # -- auth, faults -----------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every issued token stops working (401); Entra issues a fresh one."""
        with self.lock:
            self.tokens.expire_all()

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        if self.tokens.valid(bearer_token(request)):
            return None
        return self.expired_token_answer(request)

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        challenge = (
            'Bearer error=invalid_token, error_description="Error during token validation!", '
            f"authorization_uri=https://login.microsoftonline.com/{self.tenant}/oauth2/authorize, "
            f"resource_id={self.resource}/"
        )
        return Answer(401, None, {"WWW-Authenticate": challenge})

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        return _error(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            self.retry_after_header(retry_after),
        )

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _error(500, "0x80040216", "An unexpected error occurred.")

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return _error(404, "0x8006088a", f"Resource not found for the segment "
                      f"'{request.path.rsplit('/', 1)[-1]}'.")  # fmt: skip

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _error(400, "0x80060891", message)

    # -- token ------------------------------------------------------------------------------

    def _token(self, request: RecordedRequest, tenant: str) -> Answer:
        if tenant != self.tenant:
            return Answer(400, {"error": "invalid_request", "error_description":
                                f"AADSTS90002: Tenant '{tenant}' not found.",
                                "error_codes": [90002]})  # fmt: skip
        if "application/x-www-form-urlencoded" not in request.content_type:
            return Answer(
                400,
                {
                    "error": "invalid_request",
                    "error_description": MISSING_GRANT,
                    "error_codes": [900144],
                },
            )
        form = {k: v[0] for k, v in request.form.items()}
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type", "error_description":
                                "AADSTS70003: The app requested an unsupported grant type.",
                                "error_codes": [70003]})  # fmt: skip
        if not same_secret(form.get("client_id"), self.client_id):
            return Answer(400, {"error": "unauthorized_client", "error_description":
                                f"AADSTS700016: Application with identifier "
                                f"'{form.get('client_id')}' was not found in the directory.",
                                "error_codes": [700016]})  # fmt: skip
        if not same_secret(form.get("client_secret"), self.client_secret):
            return Answer(401, {"error": "invalid_client", "error_description":
                                "AADSTS7000215: Invalid client secret provided.",
                                "error_codes": [7000215]})  # fmt: skip
        if form.get("scope") != self.scope:
            return Answer(400, {"error": "invalid_scope", "error_description":
                                f"AADSTS70011: The provided value for the input parameter "
                                f"'scope' is not valid. The scope {form.get('scope')} is not "
                                "valid.", "error_codes": [70011]})  # fmt: skip
        lifetime = int(self.tokens.lifetime_seconds)
        return Answer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": self.tokens.issue(),
            },
        )

    # -- keys and bodies --------------------------------------------------------------------

    def _find(self, entity_set: str, key: str) -> tuple[str | None, dict | None, Answer | None]:
        """(the row's id or the id a new row would get, the row or None, an error)."""
        raw = unquote(key)
        if _GUID.match(raw):
            guid = raw.lower()
            return guid, self._rows[entity_set].get(guid), None
        match = re.fullmatch(r"(\w+)='((?:[^']|'')*)'", raw)
        if match and match.group(1) in self.alternate_keys.get(entity_set, ()):
            column, value = match.group(1), match.group(2).replace("''", "'")
            for row_id, row in self._rows[entity_set].items():
                if str(row.get(column) or "").lower() == value.lower():
                    return row_id, row, None
            return None, None, None
        if match:
            return (
                None,
                None,
                _error(
                    400,
                    "0x80060888",
                    f"The key '{match.group(1)}' is not an "
                    f"alternate key of {ENTITIES[entity_set][1]}.",
                ),
            )
        return (
            None,
            None,
            _error(
                400, "0x80060888", f"Bad Request - Error in query syntax: '{raw}' is not a GUID."
            ),
        )

    def _body(self, request: RecordedRequest) -> tuple[dict[str, Any] | None, Answer | None]:
        if "json" not in request.content_type:
            return None, _error(
                415,
                "0x80060891",
                "A supported MIME type could not be found "
                "that matches the content type of the response.",
            )
        body = request.json
        if not isinstance(body, dict):
            return None, self.bad_body_answer(request, "The request body is not a JSON object.")
        return body, None

    def _check(self, entity_set: str, body: dict[str, Any], row: dict | None) -> Answer | None:
        primary, logical, _, binds = ENTITIES[entity_set]
        columns = self.columns[entity_set]
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                navigation = name[: -len("@odata.bind")]
                if navigation not in binds:
                    return _error(
                        400,
                        "0x80060888",
                        f"An undeclared property '{navigation}' "
                        "which only has property annotations in the payload but no "
                        "property value was found in the payload.",
                    )
                if not isinstance(value, str) or not re.search(r"/?contacts\([^)]+\)$", value):
                    return _error(
                        400,
                        "0x80060888",
                        f"The value of {name} must be a URL of the form /contacts(<id>).",
                    )
                target = self._bound_id(value)
                if target not in self._rows["contacts"]:
                    return _error(400, "0x80040217", f"contact With Id = {target} Does Not "
                                  "Exist")  # fmt: skip
                continue
            if name == primary:
                continue
            if name in READ_ONLY:
                return _error(400, "0x80048d19", f"The '{name}' property is read-only.")
            if name not in columns:
                return _error(400, "0x80060888", f"The property '{name}' does not exist on type "
                              f"'Microsoft.Dynamics.CRM.{logical}'. Make sure to only use "
                              "property names that are defined by the type or mark the type as "
                              "open type.")  # fmt: skip
            limit = columns[name]
            if isinstance(value, str) and limit is not None and len(value) > limit:
                return _error(400, "0x80044331", f"A validation error occurred. The length of "
                              f"the '{name}' attribute of the '{logical}' entity exceeded the "
                              f"maximum allowed length of '{limit}'.")  # fmt: skip
            if name.startswith("emailaddress") and value and not _EMAIL.match(str(value)):
                return _error(400, "0x80040203", f"Invalid e-mail address: {value}")
        if entity_set == "tasks":
            return self._check_task_state(body, row)
        return None

    @staticmethod
    def _check_task_state(body: dict[str, Any], row: dict | None) -> Answer | None:
        state = body.get("statecode", row.get("statecode") if row else 0)
        status = body.get("statuscode")
        if state not in TASK_STATUS:
            return _error(400, "0x80040203", f"{state} is not a valid state code on task.")
        if status is not None and status not in TASK_STATUS[state]:
            return _error(
                400,
                "0x80040203",
                f"{status} is not a valid status code for state "
                f"code TaskState.{['Open', 'Completed', 'Canceled'][state]} on task.",
            )
        if row is not None and row.get("statecode") in (1, 2) and body.get("statecode") != 0:
            return _error(400, "0x80040227", "The object cannot be updated because it is "
                          "read-only.")  # fmt: skip
        return None

    def _entity_id(self, entity_set: str, row_id: str) -> str:
        return f"{self.url}{API}/{entity_set}({row_id})"

    def _public(self, row: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
        if select is None:
            return deep_copy(row)
        out = {"@odata.etag": row["@odata.etag"]}
        out.update({name: deep_copy(row.get(name)) for name in select})
        return out

    # -- handlers ---------------------------------------------------------------------------

    def _select(self, entity_set: str, request: RecordedRequest):
        raw = request.query_value("$select")
        if raw is None:
            return None, None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        known = set(self.columns[entity_set]) | READ_ONLY | {ENTITIES[entity_set][0]}
        for name in names:
            if name not in known:
                return None, _error(400, "0x80060888", f"Could not find a property named "
                                    f"'{name}' on type 'Microsoft.Dynamics.CRM."
                                    f"{ENTITIES[entity_set][1]}'.")  # fmt: skip
        return names, None

    def _query(self, request: RecordedRequest, entity_set: str) -> Answer:
        unknown = [k for k in request.query if k not in ("$filter", "$select", "$top")]
        if unknown:
            return _error(400, "0x80060888", f"The query parameter '{unknown[0]}' is not "
                          "supported.")  # fmt: skip
        select, refused = self._select(entity_set, request)
        if refused:
            return refused
        rows = list(self._rows[entity_set].values())
        raw_filter = request.query_value("$filter")
        if raw_filter is not None:
            try:
                conditions = _parse_filter(raw_filter, set(self.columns[entity_set]) | READ_ONLY
                                           | {ENTITIES[entity_set][0]})  # fmt: skip
            except ValueError as exc:
                return _error(400, "0x80060888", str(exc))
            rows = [r for r in rows if all(_matches(r, c) for c in conditions)]
        top = request.query_value("$top")
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                return _error(400, "0x80060888", "Invalid value for $top.")
            rows = rows[: int(top)]
        context = f"{self.url}{API}/$metadata#{entity_set}"
        if select:
            context += f"({','.join(select)})"
        return Answer(
            200,
            {"@odata.context": context, "value": [self._public(r, select) for r in rows]},
            content_type=JSON,
        )

    def _create(self, request: RecordedRequest, entity_set: str) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        primary = ENTITIES[entity_set][0]
        row_id = str(body.get(primary) or uuid.uuid4()).lower()
        if not _GUID.match(row_id):
            return _error(400, "0x80060888", f"{primary} must be a GUID.")
        if row_id in self._rows[entity_set]:
            return _error(412, "0x80040237", "A record with matching key values already exists.")
        refused = self._check(entity_set, body, None)
        if refused:
            return refused
        row = self._insert(entity_set, row_id, body)
        headers = {"OData-EntityId": self._entity_id(entity_set, row_id),
                   "OData-Version": "4.0"}  # fmt: skip
        if "return=representation" in (request.headers.get("Prefer") or ""):
            return Answer(201, self._public(row), headers, JSON)
        return Answer(204, None, headers)

    def _get(self, request: RecordedRequest, entity_set: str, key: str) -> Answer:
        _, row, refused = self._find(entity_set, key)
        if refused:
            return refused
        if row is None:
            return self._missing(entity_set, key)
        select, refused = self._select(entity_set, request)
        if refused:
            return refused
        return Answer(200, self._public(row, select), content_type=JSON)

    def _missing(self, entity_set: str, key: str) -> Answer:
        return _error(404, "0x80040217", f"{ENTITIES[entity_set][1]} With Id = {unquote(key)} "
                      "Does Not Exist")  # fmt: skip

    def _patch(self, request: RecordedRequest, entity_set: str, key: str) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        row_id, row, refused = self._find(entity_set, key)
        if refused:
            return refused
        if row is None and (request.headers.get("If-Match") or "").strip() == "*":
            return self._missing(entity_set, key)
        if row is not None and (request.headers.get("If-None-Match") or "").strip() == "*":
            return _error(412, "0x80040237", "A record with matching key values already exists.")
        refused = self._check(entity_set, body, row)
        if refused:
            return refused
        if row is None:
            if row_id is None:  # an alternate key: the new row takes the key's value
                match = re.fullmatch(r"(\w+)='((?:[^']|'')*)'", unquote(key))
                assert match is not None
                body = {**body, match.group(1): match.group(2).replace("''", "'")}
                row_id = str(uuid.uuid4())
            row = self._insert(entity_set, row_id, body)
        else:
            self._apply(entity_set, row, body)
        headers = {"OData-EntityId": self._entity_id(entity_set, row[ENTITIES[entity_set][0]])}
        if "return=representation" in (request.headers.get("Prefer") or ""):
            return Answer(200, self._public(row), headers, JSON)
        return Answer(204, None, headers)

    def _delete(self, request: RecordedRequest, entity_set: str, key: str) -> Answer:
        row_id, row, refused = self._find(entity_set, key)
        if refused:
            return refused
        if row is None or row_id is None:
            return self._missing(entity_set, key)
        del self._rows[entity_set][row_id]
        self.deleted.append({"entity_set": entity_set, "id": row_id,
                             "emailaddress1": row.get("emailaddress1")})  # fmt: skip
        if entity_set == "contacts":  # parental relationships: notes and tasks go with it
            for child_set, column in (("annotations", "_objectid_value"),
                                      ("tasks", "_regardingobjectid_value")):  # fmt: skip
                for child_id in [i for i, r in self._rows[child_set].items()
                                 if r.get(column) == row_id]:  # fmt: skip
                    del self._rows[child_set][child_id]
        return Answer(204)


_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_@.][\w@.]*))"
)


def _parse_filter(text: str, known: set[str]) -> list[tuple[str, bool, Any]]:
    """``[(column, negate, value), ...]`` for ``a eq 'x' and b ne 1``; ValueError otherwise."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _FILTER_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    conditions: list[tuple[str, bool, Any]] = []
    index = 0
    while True:
        if index + 3 > len(tokens):
            raise ValueError(f"Syntax error: incomplete condition in '{text}'.")
        (k1, column), (k2, op), (k3, literal) = tokens[index : index + 3]
        if k1 != "word" or column not in known:
            raise ValueError(f"Could not find a property named '{column}'.")
        if k2 != "word" or op not in ("eq", "ne"):
            raise ValueError(f"Syntax error: this stand-in reads eq and ne, not '{op}'.")
        if k3 == "string":
            value: Any = literal[1:-1].replace("''", "'")
        elif k3 == "guid":
            value = literal.lower()
        elif k3 == "number":
            value = float(literal) if "." in literal else int(literal)
        elif k3 == "word" and literal in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[literal]
        else:
            raise ValueError(f"Syntax error: '{literal}' is not a literal.")
        conditions.append((column, op == "ne", value))
        index += 3
        if index == len(tokens):
            return conditions
        if tokens[index] != ("word", "and"):
            raise ValueError(f"Syntax error: expected 'and', found '{tokens[index][1]}'.")
        index += 1


def _matches(row: dict[str, Any], condition: tuple[str, bool, Any]) -> bool:
    column, negate, value = condition
    have = row.get(column)
    same = have.lower() == value.lower() if isinstance(have, str) and isinstance(value, str) \
        else have == value  # fmt: skip
    return same != negate


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        DynamicsStandIn,
        argv,
        {"tenant": "the Entra tenant id", "client_id": "the app registration's client id",
         "client_secret": "the client secret", "resource": "the environment URL (scope base)"},
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
