"""A loopback stand-in for Zoho CRM's API v8 and its accounts server: the refresh-token grant,
Leads and Contacts (upsert with ``duplicate_check_fields``, search, get, update, delete) and
Notes (create, update, delete, list per record).

It answers as Zoho documents: the accounts server (``POST /oauth/v2/token``, parameters in the
query string or a form body) returns ``access_token``, ``api_domain`` (this server),
``token_type`` and ``expires_in`` (3600), and reports a bad grant as HTTP 200 with
``{"error": "invalid_code"}``; API calls take ``Authorization: Zoho-oauthtoken <token>``; a bad
or expired token is 401 ``{"code": "INVALID_TOKEN", "message": "invalid oauth token"}``; the
rate limit is 429 ``TOO_MANY_REQUESTS``. Writes answer ``{"data": [ {"code", "details",
"message", "status"}, ... ]}`` per record: 201 for inserts, 200 for upserts and updates, and 202
when a record failed (``MANDATORY_NOT_FOUND``, ``INVALID_DATA``, ...), which is a failure
though the status is 2xx. A search that finds nothing is 204 with no body. Upsert matches on
``duplicate_check_fields`` (default: the module's system duplicate check, ``Email``), compared
without case. Leads and Contacts need ``Last_Name``. A note needs ``Note_Content`` and a parent:
``Parent_Id: {"module": {"api_name": "Leads"}, "id": "..."}`` (v8), or ``Parent_Id`` as an id
with ``se_module`` (the older form). Deleting a record deletes its notes.

Pages read (Zoho CRM developer documentation, v8):
- https://zoho.com/crm/developer/docs/api/v8/upsert-records.html (upsert, duplicate_check_fields,
  per-record answers)
- https://www.zoho.com/crm/developer/docs/api/v8/search-records.html (search by email/criteria;
  204 when nothing matches)
- https://www.zoho.com/crm/developer/docs/api/v8/create-notes.html and update-notes.html
  (Note_Title, Note_Content, Parent_Id with module api_name)
- https://www.zoho.com/crm/developer/docs/api/v8/delete-records.html
- https://zoho.com/accounts/protocol/oauth/web-apps/access-token-expiry.html (the refresh-token
  grant and its answer, ``api_domain``)
- https://www.zoho.com/crm/developer/docs/api/v8/status-codes.html (401 INVALID_TOKEN, 429, 202)

Use in tests::

    with ZohoStandIn(client_id="cid", client_secret="s", refresh_token="r") as zoho:
        ... # accounts URL and API domain are both zoho.url
        assert zoho.count_persons() == 1 and zoho.count_activities() == 1

``python -m devtools.vendors.zoho --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from devtools.vendors._base import (
    Answer,
    RecordedRequest,
    TokenBook,
    VendorStandIn,
    bearer_token,
    deep_copy,
    json_object,
    route,
    run_cli,
    same_secret,
)

DEFAULT_CLIENT_ID = "1000.STANDINCLIENTID"
DEFAULT_CLIENT_SECRET = "standin-client-secret"
DEFAULT_REFRESH_TOKEN = "1000.standin.refresh.token"
SCHEME = "Zoho-oauthtoken"
MODULES = ("Leads", "Contacts")
MAX_RECORDS_PER_CALL = 100
USER = {"name": "Stand-in User", "id": "6049012000000300001", "email": "admin@example.com"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CRITERIA = re.compile(
    r"^\(\s*(?P<field>\w+)\s*:\s*(?P<op>equals|starts_with)\s*:\s*(?P<value>.*)\)$"
)
SYSTEM_FIELDS = frozenset({"id", "Created_Time", "Modified_Time", "Created_By", "Modified_By",
                           "Owner", "Full_Name"})  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


def _top_error(status: int, code: str, message: str, **details: Any) -> Answer:
    return Answer(status, _error(code, message, details))


def _success(message: str, details: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": details, "message": message, "status": "success",
            **extra}  # fmt: skip


class ZohoStandIn(VendorStandIn):
    """Zoho CRM (v8) and its accounts server over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "zoho"
    thread_name = "zoho-standin"
    routes = (
        route("POST", "/oauth/v2/token", "oauth.token", "_token", auth=False),
        route("POST", r"/crm/v8/(?P<module>Leads|Contacts)/upsert", "records.upsert", "_upsert"),
        route("GET", r"/crm/v8/(?P<module>Leads|Contacts)/search", "records.search", "_search"),
        route("POST", r"/crm/v8/(?P<module>Leads|Contacts)", "records.create", "_insert_call"),
        route("GET", r"/crm/v8/(?P<module>Leads|Contacts)/(?P<record_id>\d+)", "records.get",
              "_get"),
        route("PUT", r"/crm/v8/(?P<module>Leads|Contacts)/(?P<record_id>\d+)", "records.update",
              "_update_one"),
        route("DELETE", r"/crm/v8/(?P<module>Leads|Contacts)/(?P<record_id>\d+)",
              "records.delete", "_delete"),
        route("GET", r"/crm/v8/(?P<module>Leads|Contacts)/(?P<record_id>\d+)/Notes",
              "records.notes", "_related_notes"),
        route("POST", "/crm/v8/Notes", "notes.create", "_create_notes"),
        route("PUT", r"/crm/v8/Notes/(?P<note_id>\d+)", "notes.update", "_update_note"),
        route("GET", r"/crm/v8/Notes/(?P<note_id>\d+)", "notes.get", "_get_note"),
        route("DELETE", r"/crm/v8/Notes/(?P<note_id>\d+)", "notes.delete", "_delete_note"),
    )  # fmt: skip

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        mandatory_fields: Mapping[str, Iterable[str]] | None = None,
        token_seconds: float = 3600.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.mandatory_fields = {
            module: tuple(fields) for module, fields in (mandatory_fields or {
                "Leads": ("Last_Name",), "Contacts": ("Last_Name",)}).items()
        }  # fmt: skip
        self.tokens = TokenBook("1000.standin.", token_seconds)
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._records: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODULES}
        self._notes: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self.deleted: list[dict[str, Any]] = []
        self.tokens.clear()

    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._records["Leads"].values()]

    def contacts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(r) for r in self._records["Contacts"].values()]

    def persons(self) -> list[dict[str, Any]]:
        return self.leads() + self.contacts()

    def notes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(n) for n in self._notes.values()]

    def activities(self) -> list[dict[str, Any]]:
        return self.notes()

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        """The Contact with that e-mail, else the Lead (each with ``_module``), else None."""
        with self.lock:
            for module in ("Contacts", "Leads"):
                for rec in self._records[module].values():
                    if (rec.get("Email") or "").lower() == email.lower():
                        return {**deep_copy(rec), "_module": module}
            return None

    def notes_for(self, record_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(n) for n in self._notes.values()
                    if n["Parent_Id"]["id"] == str(record_id)]  # fmt: skip

    def add_record(self, module: str, fields: dict[str, Any]) -> str:
        """Put a Lead or Contact in place (a returning visitor); returns its id."""
        with self.lock:
            return self._store(module, fields)["id"]

    def _new_id(self) -> str:
        self._counter += 1
        return f"6049012000000{500000 + self._counter}"

    def _store(self, module: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        rec = {
            **{k: v for k, v in fields.items() if k not in SYSTEM_FIELDS},
            "id": self._new_id(),
            "Owner": dict(USER),
            "Created_By": dict(USER),
            "Modified_By": dict(USER),
            "Created_Time": now,
            "Modified_Time": now,
        }
        rec["Full_Name"] = " ".join(p for p in (rec.get("First_Name"), rec.get("Last_Name")) if p)
        self._records[module][rec["id"]] = rec
        return rec

    def _modify(self, rec: dict[str, Any], fields: dict[str, Any]) -> None:
        rec.update({k: v for k, v in fields.items() if k not in SYSTEM_FIELDS})
        rec["Modified_Time"] = _now()
        rec["Full_Name"] = " ".join(p for p in (rec.get("First_Name"), rec.get("Last_Name")) if p)

    def _summary(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"Modified_Time": rec["Modified_Time"], "Modified_By": dict(USER),
                "Created_Time": rec["Created_Time"], "id": rec["id"],
                "Created_By": dict(USER)}  # fmt: skip

    # -- auth, faults -----------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every issued access token stops working; the refresh-token grant issues new ones."""
        with self.lock:
            self.tokens.expire_all()

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        if self.tokens.valid(bearer_token(request, SCHEME)):
            return None
        return self.expired_token_answer(request)

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        return _top_error(401, "INVALID_TOKEN", "invalid oauth token")

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        return _top_error(
            429, "TOO_MANY_REQUESTS", "You have reached the maximum number of API calls allowed"
        )

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _top_error(500, "INTERNAL_ERROR", "Internal Server Error")

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return _top_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access "
                          "is a correct one")  # fmt: skip

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _top_error(400, "INVALID_DATA", message)

    # -- accounts server --------------------------------------------------------------------

    def _token(self, request: RecordedRequest) -> Answer:
        params = {k: v[0] for k, v in request.query.items()}
        if "form" in request.content_type:
            params.update({k: v[0] for k, v in request.form.items()})
        if params.get("grant_type") != "refresh_token":
            return Answer(200, {"error": "unsupported_grant_type"})
        if not (
            same_secret(params.get("client_id"), self.client_id)
            and same_secret(params.get("client_secret"), self.client_secret)
        ):
            return Answer(200, {"error": "invalid_client"})
        if not same_secret(params.get("refresh_token"), self.refresh_token):
            return Answer(200, {"error": "invalid_code"})
        return Answer(200, {
            "access_token": self.tokens.issue(),
            "scope": "ZohoCRM.modules.ALL",
            "api_domain": self.url,
            "token_type": "Bearer",
            "expires_in": int(self.tokens.lifetime_seconds),
        })  # fmt: skip

    # -- records ----------------------------------------------------------------------------

    def _data(self, request: RecordedRequest) -> tuple[dict[str, Any] | None, Answer | None]:
        body = json_object(request)
        if body is None:
            return None, _top_error(400, "INVALID_DATA", "the body is not a JSON object")
        data = body.get("data")
        if not isinstance(data, list) or not data:
            return None, _top_error(
                400,
                "MANDATORY_NOT_FOUND",
                "required field not found",
                api_name="data",
                json_path="$.data",
            )
        if len(data) > MAX_RECORDS_PER_CALL:
            return None, _top_error(400, "LIMIT_EXCEEDED", "the number of records exceeds 100")
        return body, None

    def _check(self, module: str, index: int, fields: Any, *, creating: bool) -> dict | None:
        if not isinstance(fields, dict):
            return _error("INVALID_DATA", "invalid data", {"json_path": f"$.data[{index}]"})
        for name, value in fields.items():
            if not _API_NAME.match(name):
                return _error("INVALID_DATA", "invalid data", {
                    "api_name": name, "json_path": f"$.data[{index}].{name}"})  # fmt: skip
            if name == "Email" and value not in (None, "") and \
                    not (isinstance(value, str) and _EMAIL.match(value)):  # fmt: skip
                return _error("INVALID_DATA", "invalid data", {
                    "expected_data_type": "email", "api_name": "Email",
                    "json_path": f"$.data[{index}].Email"})  # fmt: skip
        for name in self.mandatory_fields.get(module, ()):
            if (creating and fields.get(name) in (None, "")) or (
                not creating and name in fields and fields[name] in (None, "")
            ):
                return _error("MANDATORY_NOT_FOUND", "required field not found", {
                    "api_name": name, "json_path": f"$.data[{index}].{name}"})  # fmt: skip
        return None

    @staticmethod
    def _answer(items: list[dict[str, Any]], ok_status: int) -> Answer:
        status = ok_status if all(i["status"] == "success" for i in items) else 202
        return Answer(status, {"data": items})

    def _upsert(self, request: RecordedRequest, module: str) -> Answer:
        body, refused = self._data(request)
        if refused:
            return refused
        assert body is not None
        check_fields = body.get("duplicate_check_fields") or ["Email"]
        if not isinstance(check_fields, list) or not all(isinstance(f, str) for f in check_fields):
            return _top_error(400, "INVALID_DATA", "duplicate_check_fields must be a list")
        items = []
        for index, fields in enumerate(body["data"]):
            existing = None
            if isinstance(fields, dict):
                existing = self._find_duplicate(module, fields, check_fields)
            problem = self._check(module, index, fields, creating=existing is None)
            if problem:
                items.append(problem)
                continue
            if existing is None:
                rec = self._store(module, fields)
                items.append(_success("record added", self._summary(rec), action="insert",
                                      duplicate_field=None))  # fmt: skip
            else:
                rec, matched_on = existing
                self._modify(rec, fields)
                items.append(_success("record updated", self._summary(rec), action="update",
                                      duplicate_field=matched_on))  # fmt: skip
        return self._answer(items, 200)

    def _find_duplicate(self, module: str, fields: dict[str, Any], check_fields: list[str]):
        for name in check_fields:
            value = fields.get(name)
            if value in (None, ""):
                continue
            for rec in self._records[module].values():
                have = rec.get(name)
                if have == value or (isinstance(have, str) and isinstance(value, str)
                                     and have.lower() == value.lower()):  # fmt: skip
                    return rec, name
        return None

    def _insert_call(self, request: RecordedRequest, module: str) -> Answer:
        body, refused = self._data(request)
        if refused:
            return refused
        assert body is not None
        items = []
        for index, fields in enumerate(body["data"]):
            problem = self._check(module, index, fields, creating=True)
            if problem:
                items.append(problem)
                continue
            duplicate = self._find_duplicate(module, fields, ["Email"])
            if duplicate is not None:
                items.append(_error("DUPLICATE_DATA", "duplicate data", {
                    "api_name": "Email", "json_path": f"$.data[{index}].Email",
                    "duplicate_record": {"id": duplicate[0]["id"]}}))  # fmt: skip
                continue
            rec = self._store(module, fields)
            items.append(_success("record added", self._summary(rec)))
        return self._answer(items, 201)

    def _search(self, request: RecordedRequest, module: str) -> Answer:
        email = request.query_value("email")
        criteria = request.query_value("criteria")
        if not email and not criteria and not request.query_value("word"):
            return _top_error(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                param_name="criteria, email, phone or word",
            )
        rows = list(self._records[module].values())
        if email:
            rows = [r for r in rows if (r.get("Email") or "").lower() == email.lower()]
        if criteria:
            match = _CRITERIA.match(criteria.strip())
            if match is None:
                return _top_error(
                    400,
                    "INVALID_QUERY",
                    "invalid query formed",
                    reason="this stand-in reads (Field:equals:value)",
                )
            field, op, value = match.group("field"), match.group("op"), match.group("value")
            value = value.replace("\\(", "(").replace("\\)", ")").replace("\\,", ",")

            def hit(rec: dict[str, Any]) -> bool:
                have = str(rec.get(field) or "").lower()
                return have == value.lower() if op == "equals" else \
                    have.startswith(value.lower())  # fmt: skip

            rows = [r for r in rows if hit(r)]
        word = request.query_value("word")
        if word:
            rows = [r for r in rows if any(word.lower() in str(v).lower() for v in r.values())]
        if not rows:
            return Answer(204)
        fields = request.query_value("fields")
        wanted = fields.split(",") if fields else None
        data = [{k: deep_copy(v) for k, v in r.items() if wanted is None or k in wanted or
                 k == "id"} for r in rows]  # fmt: skip
        return Answer(
            200,
            {
                "data": data,
                "info": {"per_page": 200, "count": len(data), "page": 1, "more_records": False},
            },
        )

    def _get(self, request: RecordedRequest, module: str, record_id: str) -> Answer:
        rec = self._records[module].get(record_id)
        if rec is None:
            return Answer(204)
        return Answer(200, {"data": [deep_copy(rec)]})

    def _update_one(self, request: RecordedRequest, module: str, record_id: str) -> Answer:
        body, refused = self._data(request)
        if refused:
            return refused
        assert body is not None
        rec = self._records[module].get(record_id)
        if rec is None:
            return Answer(
                202,
                {
                    "data": [
                        _error(
                            "INVALID_DATA",
                            "the id given seems to be invalid",
                            {"api_name": "id", "id": record_id},
                        )
                    ]
                },
            )
        fields = body["data"][0]
        problem = self._check(module, 0, fields, creating=False)
        if problem:
            return Answer(202, {"data": [problem]})
        self._modify(rec, fields)
        return Answer(200, {"data": [_success("record updated", self._summary(rec))]})

    def _delete(self, request: RecordedRequest, module: str, record_id: str) -> Answer:
        rec = self._records[module].pop(record_id, None)
        if rec is None:
            return Answer(
                202,
                {
                    "data": [
                        _error(
                            "INVALID_DATA",
                            "the related id given seems to be invalid",
                            {"id": record_id},
                        )
                    ]
                },
            )
        for note_id in [n for n, note in self._notes.items() if note["Parent_Id"]["id"] ==
                        record_id]:  # fmt: skip
            del self._notes[note_id]
        self.deleted.append({"module": module, "id": record_id, "Email": rec.get("Email")})
        return Answer(200, {"data": [_success("record deleted", {"id": record_id})]})

    # -- notes ------------------------------------------------------------------------------

    def _parent(self, index: int, fields: dict[str, Any]) -> tuple[dict | None, dict | None]:
        parent = fields.get("Parent_Id")
        module = fields.get("se_module") or fields.get("$se_module")
        if isinstance(parent, dict):
            module = (parent.get("module") or {}).get("api_name") or module
            parent_id = parent.get("id")
        else:
            parent_id = parent
        if not parent_id or not module:
            return None, _error("MANDATORY_NOT_FOUND", "required field not found", {
                "api_name": "Parent_Id", "json_path": f"$.data[{index}].Parent_Id"})  # fmt: skip
        if module not in self._records or str(parent_id) not in self._records[module]:
            return None, _error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": "Parent_Id", "json_path": f"$.data[{index}].Parent_Id.id"},
            )
        return {"module": {"api_name": module}, "id": str(parent_id)}, None

    def _create_notes(self, request: RecordedRequest) -> Answer:
        body, refused = self._data(request)
        if refused:
            return refused
        assert body is not None
        items = []
        for index, fields in enumerate(body["data"]):
            if not isinstance(fields, dict):
                items.append(_error("INVALID_DATA", "invalid data", {}))
                continue
            if not str(fields.get("Note_Content") or "").strip():
                items.append(_error("MANDATORY_NOT_FOUND", "required field not found", {
                    "api_name": "Note_Content",
                    "json_path": f"$.data[{index}].Note_Content"}))  # fmt: skip
                continue
            parent, problem = self._parent(index, fields)
            if problem:
                items.append(problem)
                continue
            note_id = self._new_id()
            now = _now()
            self._notes[note_id] = {
                "id": note_id,
                "Note_Title": fields.get("Note_Title"),
                "Note_Content": fields["Note_Content"],
                "Parent_Id": parent,
                "Created_Time": now,
                "Modified_Time": now,
                "Owner": dict(USER),
            }
            items.append(_success("record added", {"id": note_id, "Created_Time": now,
                                                   "Modified_Time": now}))  # fmt: skip
        return self._answer(items, 201)

    def _update_note(self, request: RecordedRequest, note_id: str) -> Answer:
        body, refused = self._data(request)
        if refused:
            return refused
        assert body is not None
        note = self._notes.get(note_id)
        if note is None:
            return Answer(
                202,
                {
                    "data": [
                        _error(
                            "INVALID_DATA", "the id given seems to be invalid", {"api_name": "id"}
                        )
                    ]
                },
            )
        fields = body["data"][0]
        if not isinstance(fields, dict) or (
            "Note_Content" in fields and not str(fields["Note_Content"] or "").strip()
        ):
            return Answer(
                202,
                {
                    "data": [
                        _error(
                            "MANDATORY_NOT_FOUND",
                            "required field not found",
                            {"api_name": "Note_Content"},
                        )
                    ]
                },
            )
        for key in ("Note_Title", "Note_Content"):
            if key in fields:
                note[key] = fields[key]
        note["Modified_Time"] = _now()
        return Answer(
            200,
            {
                "data": [
                    _success(
                        "record updated", {"id": note_id, "Modified_Time": note["Modified_Time"]}
                    )
                ]
            },
        )

    def _get_note(self, request: RecordedRequest, note_id: str) -> Answer:
        note = self._notes.get(note_id)
        return Answer(204) if note is None else Answer(200, {"data": [deep_copy(note)]})

    def _delete_note(self, request: RecordedRequest, note_id: str) -> Answer:
        if self._notes.pop(note_id, None) is None:
            return Answer(
                202,
                {
                    "data": [
                        _error("INVALID_DATA", "the id given seems to be invalid", {"id": note_id})
                    ]
                },
            )
        return Answer(200, {"data": [_success("record deleted", {"id": note_id})]})

    def _related_notes(self, request: RecordedRequest, module: str, record_id: str) -> Answer:
        if record_id not in self._records[module]:
            return _top_error(400, "INVALID_DATA", "the related id given seems to be invalid")
        notes = [deep_copy(n) for n in self._notes.values() if n["Parent_Id"]["id"] == record_id]
        if not notes:
            return Answer(204)
        return Answer(
            200,
            {
                "data": notes,
                "info": {"per_page": 200, "count": len(notes), "page": 1, "more_records": False},
            },
        )


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        ZohoStandIn,
        argv,
        {"client_id": "the OAuth client id", "client_secret": "the OAuth client secret",
         "refresh_token": "the refresh token to accept"},
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
