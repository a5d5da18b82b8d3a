"""A loopback stand-in for Pipedrive's API: persons (v2, and the older v1 routes), person search,
notes (v1) and the rate limit.

It answers as Pipedrive documents: the API token in the ``x-api-token`` header (or the
``api_token`` query parameter); every answer is ``{"success": true, "data": ...}`` (lists add
``additional_data``); failures are ``{"success": false, "error": "...", "error_info": "...",
"data": null, "additional_data": null}``; a missing or wrong token is 401; the rate limit is 429
with ``Retry-After``. Pipedrive does not keep e-mails unique: creating a person twice makes two
persons (which is what a recipe must avoid). Deleting a person marks it deleted (``is_deleted``;
Pipedrive purges it after 30 days); deleted persons are not found by search. Search
(``/api/v2/persons/search``) takes ``term``, ``fields`` (``email``, ``name``, ...),
``exact_match`` (case-insensitive) and pages by ``cursor``; a term shorter than 2 characters (1
with ``exact_match``) is refused. A note needs ``content`` (HTML) and one of ``person_id``,
``deal_id``, ``org_id``, ``lead_id``, ``project_id``; notes are listed by ``person_id``.

Pages read:
- https://developers.pipedrive.com/docs/api/v1/Persons#searchPersons and the v2 description
  (``openapi-v2.yaml``): search parameters and the answer's ``items[].item`` shape
- https://developers.pipedrive.com/docs/api/v1/Notes (``content``, the link fields, list filters)
- https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting (429 when the budget or the
  burst limit is spent)
- https://pipedrive.readme.io/docs/marketplace-oauth-and-api-proxy-status-codes (401 for a bad
  token, the status codes of API requests)
- https://developers.pipedrive.com/changelog/post/new-error-message-and-code-for-post-deals-and-custom-fields-endpoints
  (the failure body: ``success``, ``error``, ``error_info``, ``data``, ``additional_data``)

Use in tests::

    with PipedriveStandIn(api_token="local-token") as pipedrive:
        pipedrive.add_person({"name": "Ada", "emails": [{"value": "ada@example.com"}]})
        ... # CRM_BASE_URL=pipedrive.url
        assert pipedrive.count_persons() == 1
        [note] = pipedrive.notes_for_person(pipedrive.person_by_email("ada@example.com")["id"])

``python -m devtools.vendors.pipedrive --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import time
from typing import Any, ClassVar

from devtools.vendors._base import (
    Answer,
    RecordedRequest,
    VendorStandIn,
    deep_copy,
    json_object,
    route,
    run_cli,
    same_secret,
)

DEFAULT_API_TOKEN = "standin-pipedrive-api-token"
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
SEARCH_MAX_LIMIT = 500
SEARCH_DEFAULT_LIMIT = 100
USER_ID = 9_000_001
COMPANY_ID = 8_000_001
V2_PERSON_FIELDS = frozenset(
    {"name", "owner_id", "org_id", "add_time", "emails", "phones", "visible_to", "label_ids",
     "marketing_status", "custom_fields", "first_name", "last_name", "postal_address",
     "notes", "birthday", "job_title", "im", "instant_messenger"}
)  # fmt: skip
V1_PERSON_FIELDS = frozenset(
    {"name", "owner_id", "org_id", "email", "phone", "label", "label_ids", "visible_to",
     "marketing_status", "add_time", "first_name", "last_name"}
)  # fmt: skip
NOTE_LINKS = ("deal_id", "person_id", "org_id", "lead_id", "project_id", "task_id")
NOTE_FIELDS = frozenset(
    {"content", *NOTE_LINKS, "user_id", "add_time", "pinned_to_lead_flag",
     "pinned_to_deal_flag", "pinned_to_organization_flag", "pinned_to_person_flag",
     "pinned_to_project_flag"}
)  # fmt: skip
SEARCH_FIELDS = ("custom_fields", "email", "notes", "phone", "name")


def _stamp(ts: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _iso(ts: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(status: int, error: str, code: str | None = None) -> Answer:
    body: dict[str, Any] = {
        "success": False,
        "error": error,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    if code:
        body["code"] = code
    return Answer(status, body)


def _without_nulls(value: Any) -> Any:
    """Pipedrive's description types these fields without ``nullable``: leave unset ones out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _ok(data: Any, additional: Any = None, status: int = 200) -> Answer:
    body: dict[str, Any] = {"success": True, "data": _without_nulls(data)}
    if additional is not None:
        body["additional_data"] = additional
    return Answer(status, body)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class PipedriveStandIn(VendorStandIn):
    """Pipedrive's API over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "pipedrive"
    thread_name = "pipedrive-standin"
    routes = (
        route("GET", "/api/v2/persons/search", "persons.search", "_search"),
        route("POST", "/api/v2/persons", "persons.create", "_create_v2"),
        route("GET", r"/api/v2/persons/(?P<person_id>\d+)", "persons.get", "_get_v2"),
        route("PATCH", r"/api/v2/persons/(?P<person_id>\d+)", "persons.update", "_update_v2"),
        route("DELETE", r"/api/v2/persons/(?P<person_id>\d+)", "persons.delete", "_delete"),
        route("GET", "(?:/api)?/v1/persons/search", "v1.persons.search", "_search"),
        route("POST", "(?:/api)?/v1/persons", "v1.persons.create", "_create_v1"),
        route("GET", r"(?:/api)?/v1/persons/(?P<person_id>\d+)", "v1.persons.get", "_get_v1"),
        route("PUT", r"(?:/api)?/v1/persons/(?P<person_id>\d+)", "v1.persons.update",
              "_update_v1"),
        route("DELETE", r"(?:/api)?/v1/persons/(?P<person_id>\d+)", "v1.persons.delete",
              "_delete"),
        route("GET", "(?:/api)?/v1/notes", "notes.list", "_list_notes"),
        route("POST", "(?:/api)?/v1/notes", "notes.create", "_create_note"),
        route("GET", r"(?:/api)?/v1/notes/(?P<note_id>\d+)", "notes.get", "_get_note"),
        route("PUT", r"(?:/api)?/v1/notes/(?P<note_id>\d+)", "notes.update", "_update_note"),
        route("DELETE", r"(?:/api)?/v1/notes/(?P<note_id>\d+)", "notes.delete", "_delete_note"),
    )  # fmt: skip

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_token: str = DEFAULT_API_TOKEN,
        search_lag_seconds: float = 0.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self._api_token = api_token
        self.search_lag_seconds = float(search_lag_seconds)
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._persons: dict[int, dict[str, Any]] = {}
        self._notes: dict[int, dict[str, Any]] = {}
        self._created: dict[int, float] = {}
        self._next_person = 101
        self._next_note = 5001

    def persons(self) -> list[dict[str, Any]]:
        """Persons not deleted (v2 shape)."""
        with self.lock:
            return [deep_copy(p) for p in self._persons.values() if not p["is_deleted"]]

    def deleted_persons(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(p) for p in self._persons.values() if p["is_deleted"]]

    def notes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(n) for n in self._notes.values() if n["active_flag"]]

    def activities(self) -> list[dict[str, Any]]:
        return self.notes()

    def person(self, person_id: int) -> dict[str, Any] | None:
        with self.lock:
            found = self._persons.get(int(person_id))
            return deep_copy(found) if found else None

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        """The first person (not deleted) with that e-mail, compared without case."""
        matches = self.persons_by_email(email)
        return matches[0] if matches else None

    def persons_by_email(self, email: str) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(p) for p in self._persons.values()
                    if not p["is_deleted"] and email.lower() in _emails(p)]  # fmt: skip

    def notes_for_person(self, person_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(n) for n in self._notes.values()
                    if n["active_flag"] and n["person_id"] == int(person_id)]  # fmt: skip

    def add_person(self, fields: dict[str, Any]) -> int:
        """Put a person in place (a returning visitor), v2 body shape; returns its id."""
        with self.lock:
            return self._insert_person(fields)["id"]

    def _insert_person(self, fields: dict[str, Any]) -> dict[str, Any]:
        person_id = self._next_person
        self._next_person += 1
        now = _iso()
        name = str(fields.get("name") or "")
        first, _, last = name.partition(" ")
        person = {
            "id": person_id,
            "name": name,
            "first_name": fields.get("first_name") or first,
            "last_name": fields.get("last_name") or last,
            "owner_id": fields.get("owner_id", USER_ID),
            "org_id": fields.get("org_id"),
            "add_time": now,
            "update_time": now,
            "emails": _contact_list(fields.get("emails")),
            "phones": _contact_list(fields.get("phones")),
            "is_deleted": False,
            "visible_to": fields.get("visible_to", 3),
            "label_ids": list(fields.get("label_ids") or []),
            "picture_id": None,
            "custom_fields": dict(fields.get("custom_fields") or {}),
        }
        self._persons[person_id] = person
        self._created[person_id] = time.monotonic()
        return person

    # -- auth, faults -----------------------------------------------------------------------

    def rotate_token(self, new: str) -> None:
        with self.lock:
            self._api_token = new

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        given = request.headers.get("x-api-token") or request.query_value("api_token")
        authorization = request.headers.get("Authorization") or ""
        if given is None and authorization.lower().startswith("basic "):
            given = None  # OAuth apps: not this stand-in's business
        if same_secret(given, self._api_token):
            return None
        return self.expired_token_answer(request)

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        answer = _fail(401, "unauthorized access")
        answer.body["errorCode"] = 401
        return answer

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        answer = _fail(429, "Request over limit")
        answer.body["errorCode"] = 429
        answer.headers.update(self.retry_after_header(retry_after))
        answer.headers.update({"x-ratelimit-limit": "40", "x-ratelimit-remaining": "0"})
        return answer

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _fail(503, "Service unavailable")

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return _fail(404, "Unknown method .")

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _fail(400, message, "ERR_SCHEMA_VALIDATION_FAILED")

    # -- persons ----------------------------------------------------------------------------

    def _body(self, request: RecordedRequest) -> tuple[dict[str, Any] | None, Answer | None]:
        if "json" in request.content_type:
            body = json_object(request)
            if body is None:
                return None, self.bad_body_answer(request, "The request body is not valid JSON")
            return body, None
        if "form" in request.content_type:
            return {k: v[0] for k, v in request.form.items()}, None
        if not request.body:
            return {}, None
        return None, _fail(415, "Unsupported content type", "ERR_UNSUPPORTED_MEDIA_TYPE")

    def _person_or_404(self, person_id: str) -> dict[str, Any] | Answer:
        person = self._persons.get(int(person_id))
        if person is None or person["is_deleted"]:
            return _fail(404, "Person not found", "ERR_NOT_FOUND")
        return person

    def _check_v2(self, body: dict[str, Any], *, creating: bool) -> Answer | None:
        unknown = set(body) - V2_PERSON_FIELDS
        if unknown:
            return _fail(
                400,
                f"Validation failed: unknown field(s) {sorted(unknown)}",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        if creating and not str(body.get("name") or "").strip():
            return _fail(400, "Validation failed: name: Required", "ERR_SCHEMA_VALIDATION_FAILED")
        for key in ("emails", "phones"):
            if key in body and _contact_list(body[key]) is None:
                return _fail(
                    400,
                    f"Validation failed: {key} must be a list of {{value, primary, label}}",
                    "ERR_SCHEMA_VALIDATION_FAILED",
                )
        return None

    def _create_v2(self, request: RecordedRequest) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        refused = self._check_v2(body, creating=True)
        if refused:
            return refused
        return _ok(deep_copy(self._insert_person(body)))

    def _get_v2(self, request: RecordedRequest, person_id: str) -> Answer:
        found = self._person_or_404(person_id)
        return found if isinstance(found, Answer) else _ok(deep_copy(found))

    def _update_v2(self, request: RecordedRequest, person_id: str) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        found = self._person_or_404(person_id)
        if isinstance(found, Answer):
            return found
        refused = self._check_v2(body, creating=False)
        if refused:
            return refused
        self._apply(found, body)
        return _ok(deep_copy(found))

    def _apply(self, person: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key in ("emails", "phones"):
                person[key] = _contact_list(value)
            elif key == "custom_fields":
                person["custom_fields"].update(value or {})
            else:
                person[key] = value
        if "name" in body:
            first, _, last = str(body["name"]).partition(" ")
            person.setdefault("first_name", first)
            person["first_name"] = body.get("first_name", first)
            person["last_name"] = body.get("last_name", last)
        person["update_time"] = _iso()

    def _v1_shape(self, person: dict[str, Any]) -> dict[str, Any]:
        out = deep_copy(person)
        out["email"] = [{"label": e.get("label", "work"), "value": e["value"],
                         "primary": e.get("primary", False)} for e in person["emails"]] or \
            [{"value": "", "primary": True}]  # fmt: skip
        out["phone"] = [{"label": p.get("label", "work"), "value": p["value"],
                         "primary": p.get("primary", False)} for p in person["phones"]] or \
            [{"value": "", "primary": True}]  # fmt: skip
        out["active_flag"] = not person["is_deleted"]
        out["add_time"] = person["add_time"].replace("T", " ").rstrip("Z")
        out["update_time"] = person["update_time"].replace("T", " ").rstrip("Z")
        for key in ("emails", "phones", "is_deleted"):
            out.pop(key, None)
        return out

    def _from_v1(self, body: dict[str, Any]) -> dict[str, Any] | Answer:
        unknown = {k for k in body if k not in V1_PERSON_FIELDS and not _custom_key(k)}
        if unknown:
            return _fail(400, f"Unknown field(s) {sorted(unknown)}")
        out = {k: v for k, v in body.items() if k not in ("email", "phone", "label")}
        custom = {k: out.pop(k) for k in list(out) if _custom_key(k)}
        if custom:
            out["custom_fields"] = custom
        for key, target in (("email", "emails"), ("phone", "phones")):
            if key in body:
                value = body[key]
                items = value if isinstance(value, list) else [value]
                out[target] = [i if isinstance(i, dict) else {"value": str(i)} for i in items]
        return out

    def _create_v1(self, request: RecordedRequest) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        if not str(body.get("name") or "").strip():
            return _fail(400, "Name must be given.")
        converted = self._from_v1(body)
        if isinstance(converted, Answer):
            return converted
        return _ok(self._v1_shape(self._insert_person(converted)), status=201)

    def _get_v1(self, request: RecordedRequest, person_id: str) -> Answer:
        found = self._person_or_404(person_id)
        return found if isinstance(found, Answer) else _ok(self._v1_shape(found))

    def _update_v1(self, request: RecordedRequest, person_id: str) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        found = self._person_or_404(person_id)
        if isinstance(found, Answer):
            return found
        converted = self._from_v1(body)
        if isinstance(converted, Answer):
            return converted
        self._apply(found, converted)
        return _ok(self._v1_shape(found))

    def _delete(self, request: RecordedRequest, person_id: str) -> Answer:
        found = self._person_or_404(person_id)
        if isinstance(found, Answer):
            return found
        found["is_deleted"] = True
        found["update_time"] = _iso()
        return _ok({"id": found["id"]})

    def _search(self, request: RecordedRequest) -> Answer:
        term = (request.query_value("term") or "").strip()
        exact = _flag(request.query_value("exact_match"))
        if len(term) < (1 if exact else 2):
            return _fail(
                400,
                "The search term must be at least 2 characters long (1 with exact_match)",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        fields_param = request.query_value("fields")
        fields = fields_param.split(",") if fields_param else list(SEARCH_FIELDS)
        if any(f not in SEARCH_FIELDS for f in fields):
            return _fail(
                400,
                f"fields must be among {', '.join(SEARCH_FIELDS)}",
                "ERR_SCHEMA_VALIDATION_FAILED",
            )
        try:
            limit = int(request.query_value("limit") or SEARCH_DEFAULT_LIMIT)
            start = _cursor(request.query_value("cursor") or request.query_value("start"))
        except ValueError:
            return _fail(400, "limit and cursor must be valid", "ERR_SCHEMA_VALIDATION_FAILED")
        if not 0 < limit <= SEARCH_MAX_LIMIT:
            return _fail(
                400, f"limit must be 1 to {SEARCH_MAX_LIMIT}", "ERR_SCHEMA_VALIDATION_FAILED"
            )
        needle = term.lower()
        now = time.monotonic()
        found: list[tuple[float, dict[str, Any]]] = []
        for person in self._persons.values():
            if person["is_deleted"] or now - self._created[person["id"]] < self.search_lag_seconds:
                continue
            haystacks: list[str] = []
            if "email" in fields:
                haystacks += _emails(person)
            if "name" in fields:
                haystacks.append(person["name"].lower())
            if "phone" in fields:
                haystacks += [p["value"].lower() for p in person["phones"]]
            hit = any(h == needle for h in haystacks) if exact else \
                any(needle in h for h in haystacks)  # fmt: skip
            if hit:
                score = 1.0 if any(h == needle for h in haystacks) else 0.5
                found.append((score, person))
        found.sort(key=lambda pair: (-pair[0], pair[1]["id"]))
        page = found[start : start + limit]
        items = [{"result_score": score, "item": {
            "id": p["id"], "type": "person", "name": p["name"],
            "phones": [x["value"] for x in p["phones"]],
            "emails": [x["value"] for x in p["emails"]],
            "visible_to": p["visible_to"], "owner": {"id": p["owner_id"]},
            "organization": None, "custom_fields": [], "notes": [],
        }} for score, p in page]  # fmt: skip
        more = start + limit < len(found)
        if request.endpoint.startswith("v1."):
            return _ok({"items": items}, {"pagination": {
                "start": start, "limit": limit, "more_items_in_collection": more,
                **({"next_start": start + limit} if more else {})}})  # fmt: skip
        next_cursor = _make_cursor(start + limit) if more else None
        return _ok({"items": items}, {"next_cursor": next_cursor})

    # -- notes ------------------------------------------------------------------------------

    def _check_note(self, body: dict[str, Any], *, creating: bool) -> Answer | None:
        unknown = set(body) - NOTE_FIELDS
        if unknown:
            return _fail(400, f"Unknown field(s) {sorted(unknown)}")
        if creating and not str(body.get("content") or "").strip():
            return _fail(400, "Content is required")
        if creating and not any(body.get(k) for k in NOTE_LINKS):
            return _fail(
                400, "Note must be attached to a deal, person, organization, lead, project or task"
            )
        if body.get("person_id") is not None:
            try:
                person = self._persons.get(int(body["person_id"]))
            except (TypeError, ValueError):
                return _fail(400, "person_id must be an integer")
            if person is None or person["is_deleted"]:
                return _fail(400, "Person not found")
        return None

    def _note_shape(self, note: dict[str, Any]) -> dict[str, Any]:
        out = deep_copy(note)
        person = self._persons.get(note["person_id"]) if note.get("person_id") else None
        out["person"] = {"name": person["name"]} if person else None
        return out

    def _create_note(self, request: RecordedRequest) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        refused = self._check_note(body, creating=True)
        if refused:
            return refused
        note_id = self._next_note
        self._next_note += 1
        now = _stamp()
        note = {
            "id": note_id,
            "user_id": body.get("user_id", USER_ID),
            "content": str(body["content"]),
            "add_time": body.get("add_time") or now,
            "update_time": now,
            "active_flag": True,
            "last_update_user_id": USER_ID,
            **{k: (int(body[k]) if body.get(k) is not None and k != "lead_id" else body.get(k))
               for k in NOTE_LINKS},
            **{k: bool(body.get(k, False)) for k in NOTE_FIELDS if k.startswith("pinned_")},
        }  # fmt: skip
        self._notes[note_id] = note
        return _ok(self._note_shape(note))

    def _note_or_404(self, note_id: str) -> dict[str, Any] | Answer:
        note = self._notes.get(int(note_id))
        if note is None or not note["active_flag"]:
            return _fail(404, "Note not found")
        return note

    def _get_note(self, request: RecordedRequest, note_id: str) -> Answer:
        found = self._note_or_404(note_id)
        return found if isinstance(found, Answer) else _ok(self._note_shape(found))

    def _update_note(self, request: RecordedRequest, note_id: str) -> Answer:
        body, refused = self._body(request)
        if refused:
            return refused
        assert body is not None
        found = self._note_or_404(note_id)
        if isinstance(found, Answer):
            return found
        refused = self._check_note(body, creating=False)
        if refused:
            return refused
        if "content" in body and not str(body["content"] or "").strip():
            return _fail(400, "Content is required")
        for key, value in body.items():
            found[key] = int(value) if key in NOTE_LINKS and value is not None and \
                key != "lead_id" else value  # fmt: skip
        found["update_time"] = _stamp()
        return _ok(self._note_shape(found))

    def _delete_note(self, request: RecordedRequest, note_id: str) -> Answer:
        found = self._note_or_404(note_id)
        if isinstance(found, Answer):
            return found
        found["active_flag"] = False
        return _ok(True)

    def _list_notes(self, request: RecordedRequest) -> Answer:
        notes = [n for n in self._notes.values() if n["active_flag"]]
        for key in ("person_id", "deal_id", "org_id"):
            value = request.query_value(key)
            if value:
                try:
                    wanted = int(value)
                except ValueError:
                    return _fail(400, f"{key} must be an integer")
                notes = [n for n in notes if n.get(key) == wanted]
        try:
            start = int(request.query_value("start") or 0)
            limit = int(request.query_value("limit") or 100)
        except ValueError:
            return _fail(400, "start and limit must be integers")
        page = notes[start : start + limit]
        more = start + limit < len(notes)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return _ok([self._note_shape(n) for n in page], {"pagination": pagination})


def _emails(person: dict[str, Any]) -> list[str]:
    return [str(e.get("value", "")).lower() for e in person["emails"]]


def _custom_key(key: str) -> bool:
    return len(key) == 40 and all(c in "0123456789abcdef" for c in key)


def _contact_list(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    out = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return None
        out.append(
            {
                "value": item["value"],
                "primary": bool(item.get("primary", index == 0)),
                "label": item.get("label", "work"),
            }
        )
    return out


def _make_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _cursor(value: str | None) -> int:
    if not value:
        return 0
    if value.isdigit():
        return int(value)
    padded = value + "=" * (-len(value) % 4)
    try:
        offset = json.loads(base64.urlsafe_b64decode(padded))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("bad cursor")
    return offset


def main(argv: list[str] | None = None) -> int:
    return run_cli(PipedriveStandIn, argv, {"api_token": "the API token to accept"})


if __name__ == "__main__":
    sys.exit(main())
