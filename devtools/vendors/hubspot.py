"""A loopback stand-in for HubSpot's CRM API (contacts, notes, associations, GDPR delete).

It answers as HubSpot documents: a private-app token as ``Authorization: Bearer``; 201 with the
object for a create, 200 for an update, 204 for a GDPR delete; ``409`` with ``Contact already
exists. Existing ID: <id>`` for a second contact with the same e-mail; ``207`` for a batch where
some inputs failed; ``429`` with ``errorType: RATE_LIMIT`` for a rate limit; error bodies
``{"status": "error", "message", "correlationId", "category"}``. Contacts are unique by e-mail
(compared without case); search is ``filterGroups`` of ``filters`` (EQ, NEQ, IN, HAS_PROPERTY,
NOT_HAS_PROPERTY, CONTAINS_TOKEN), paged by ``limit``/``after``; notes need ``hs_timestamp`` and
keep ``hs_note_body`` to 65,536 characters; a note is linked to a contact with association type
202 (HUBSPOT_DEFINED, note to contact). Unknown properties are refused with
``PROPERTY_DOESNT_EXIST``; properties a portal admin would create are given to the constructor.

Pages read (HubSpot developer documentation):
- https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm (search body,
  default properties returned, paging)
- https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/upsert-contacts
  (batch upsert by ``idProperty``; result ``new``; ``errors``/``numErrors``)
- https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide (``hs_timestamp``
  required, ``hs_note_body`` limit, associations with type 202)
- https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/gdpr/gdpr-delete-contact
  (``objectId`` + ``idProperty: email``; unknown e-mails are block-listed)
- https://developers.hubspot.com/docs/api/error-handling (207, 401, 403, 429, 5xx)
- https://community.hubspot.com/t5/APIs-Integrations/Updated-409-Conflict-responses/m-p/951534
  (the 409 body for an existing contact)
- https://developers.hubspot.com/docs/api/usage-details (the 429 body: ``errorType``,
  ``policyName``)

Use in tests::

    with HubSpotStandIn(token="pat-local") as hubspot:
        hubspot.rate_limit(times=1, retry_after=1)
        ... # point the recipe at hubspot.url
        assert hubspot.count_persons() == 1
        [note] = hubspot.notes_for_contact(hubspot.contact_by_email("ada@example.com")["id"])

``python -m devtools.vendors.hubspot --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

from devtools.vendors._base import (
    Answer,
    RecordedRequest,
    VendorStandIn,
    bearer_token,
    deep_copy,
    json_object,
    route,
    run_cli,
    same_secret,
)

DEFAULT_TOKEN = "pat-na1-local-standin"
NOTE_BODY_LIMIT = 65_536
SEARCH_MAX_LIMIT = 200
SEARCH_DEFAULT_LIMIT = 10
BATCH_MAX_INPUTS = 100
NOTE_TO_CONTACT = 202
SEARCH_OPERATORS = ("EQ", "NEQ", "IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN")
CONTACT_TO_NOTE = 201

CONTACT_PROPERTIES = frozenset(
    {
        "email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle",
        "website", "address", "city", "state", "zip", "country", "lifecyclestage",
        "hs_lead_status", "hubspot_owner_id", "industry", "annualrevenue", "message",
        "hs_language", "twitterhandle", "linkedinbio", "hs_persona",
    }
)  # fmt: skip
NOTE_PROPERTIES = frozenset(
    {"hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids"}
)
READ_ONLY_PROPERTIES = frozenset(
    {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate"}
)
DEFAULT_SEARCH_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"),
    "notes": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}  # fmt: skip
OBJECT_TYPES = {"contacts": "contacts", "contact": "contacts", "0-1": "contacts",
                "notes": "notes", "note": "notes", "0-46": "notes"}  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = r"(?P<object_id>[^/]+)"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}Z"
    )


def _error(status: int, category: str, message: str, **extra: Any) -> Answer:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return Answer(status, body)


def _validation(message: str, **extra: Any) -> Answer:
    return _error(400, "VALIDATION_ERROR", message, **extra)


class HubSpotStandIn(VendorStandIn):
    """HubSpot's CRM API over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "hubspot"
    thread_name = "hubspot-standin"
    routes = (
        *(
            r
            for obj in ("contacts", "notes")
            for r in (
                route(
                    "POST",
                    f"/crm/v3/objects/(?P<object_type>{obj})/search",
                    f"{obj}.search",
                    "_search",
                ),
                route(
                    "POST",
                    f"/crm/v3/objects/(?P<object_type>{obj})/batch/upsert",
                    f"{obj}.batch_upsert",
                    "_batch_upsert",
                ),
                *(
                    (
                        route(
                            "POST",
                            "/crm/v3/objects/contacts/gdpr-delete",
                            "contacts.gdpr_delete",
                            "_gdpr_delete",
                        ),
                    )
                    if obj == "contacts"
                    else ()
                ),
                route(
                    "POST", f"/crm/v3/objects/(?P<object_type>{obj})", f"{obj}.create", "_create"
                ),
                route("GET", f"/crm/v3/objects/(?P<object_type>{obj})/{_ID}", f"{obj}.get", "_get"),
                route(
                    "PATCH",
                    f"/crm/v3/objects/(?P<object_type>{obj})/{_ID}",
                    f"{obj}.update",
                    "_update",
                ),
                route(
                    "DELETE",
                    f"/crm/v3/objects/(?P<object_type>{obj})/{_ID}",
                    f"{obj}.archive",
                    "_archive",
                ),
            )
        ),
        route(
            "PUT",
            r"/crm/v4/objects/(?P<from_type>[^/]+)/(?P<from_id>[^/]+)/associations/default/"
            r"(?P<to_type>[^/]+)/(?P<to_id>[^/]+)",
            "associations.default",
            "_associate_default",
        ),
        route(
            "PUT",
            r"/crm/v4/objects/(?P<from_type>[^/]+)/(?P<from_id>[^/]+)/associations/"
            r"(?P<to_type>[^/]+)/(?P<to_id>[^/]+)",
            "associations.create",
            "_associate_v4",
        ),
        route(
            "PUT",
            r"/crm/v3/objects/(?P<from_type>[^/]+)/(?P<from_id>[^/]+)/associations/"
            r"(?P<to_type>[^/]+)/(?P<to_id>[^/]+)/(?P<type_id>[^/]+)",
            "associations.v3",
            "_associate_v3",
        ),
    )

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = DEFAULT_TOKEN,
        contact_properties: Iterable[str] = ("drift_contact_id",),
        note_properties: Iterable[str] = ("drift_conversation_id",),
        unique_properties: Iterable[str] = ("drift_conversation_id",),
        search_lag_seconds: float = 0.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self._token = token
        self._initial_token = token
        self.allowed_properties = {
            "contacts": CONTACT_PROPERTIES | set(contact_properties),
            "notes": NOTE_PROPERTIES | set(note_properties),
        }
        # Properties whose values HubSpot keeps unique (a property created with
        # "hasUniqueValue"); usable as ``idProperty`` in batch upsert and GET/PATCH.
        self.unique_properties = {"email", *unique_properties}
        # Real search is eventually consistent: objects this young are not found yet.
        self.search_lag_seconds = float(search_lag_seconds)
        self._partial_batches = 0
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "notes": {}}
        # note id -> list of (contact id, association type id)
        self._note_links: dict[str, list[tuple[str, int]]] = {}
        self._next_id = {"contacts": 151, "notes": 48_000_000_001}
        self.gdpr_blocklist: list[str] = []
        self.gdpr_deleted: list[dict[str, Any]] = []
        self._partial_batches = 0

    def contacts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._public(o) for o in self._objects["contacts"].values()]

    def notes(self) -> list[dict[str, Any]]:
        """Every note, with ``associations``: ``[{"contact": id, "type": 202}, ...]``."""
        with self.lock:
            return [self._public(o) for o in self._objects["notes"].values()]

    def persons(self) -> list[dict[str, Any]]:
        return self.contacts()

    def activities(self) -> list[dict[str, Any]]:
        return self.notes()

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects["contacts"].get(str(contact_id))
            return self._public(found) if found else None

    def note(self, note_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects["notes"].get(str(note_id))
            return self._public(found) if found else None

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._by_unique("contacts", "email", email)
            return self._public(found) if found else None

    def notes_for_contact(self, contact_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._public(self._objects["notes"][note_id])
                for note_id, links in self._note_links.items()
                if any(cid == str(contact_id) for cid, _ in links)
                and note_id in self._objects["notes"]
            ]

    def add_contact(self, properties: dict[str, Any]) -> str:
        """Put a contact in place (a returning visitor); returns its id."""
        with self.lock:
            return self._insert("contacts", {k: str(v) for k, v in properties.items()})["id"]

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: deep_copy(v) for k, v in obj.items() if not k.startswith("_")}
        if obj["_type"] == "notes":
            out["associations"] = [
                {"contact": cid, "type": type_id}
                for cid, type_id in self._note_links.get(obj["id"], [])
            ]
        return out

    def _insert(self, object_type: str, properties: dict[str, str]) -> dict[str, Any]:
        now = time.time()
        object_id = str(self._next_id[object_type])
        self._next_id[object_type] += 1
        stamp = _iso(now)
        props = dict(properties)
        if object_type == "contacts" and props.get("email"):
            props["email"] = props["email"].strip().lower()
        props.update({"hs_object_id": object_id})
        if object_type == "contacts":
            props.update({"createdate": stamp, "lastmodifieddate": stamp})
        else:
            props.update({"hs_createdate": stamp, "hs_lastmodifieddate": stamp})
        obj = {
            "id": object_id,
            "properties": props,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "_type": object_type,
            "_created": time.monotonic(),
        }
        self._objects[object_type][object_id] = obj
        if object_type == "notes":
            self._note_links[object_id] = []
        return obj

    def _touch(self, obj: dict[str, Any], properties: dict[str, str]) -> None:
        stamp = _iso(time.time())
        obj["properties"].update(properties)
        if obj["_type"] == "contacts" and properties.get("email"):
            obj["properties"]["email"] = properties["email"].strip().lower()
        key = "lastmodifieddate" if obj["_type"] == "contacts" else "hs_lastmodifieddate"
        obj["properties"][key] = stamp
        obj["updatedAt"] = stamp

    def _by_unique(self, object_type: str, prop: str, value: str) -> dict[str, Any] | None:
        wanted = str(value).strip().lower() if prop == "email" else str(value)
        for obj in self._objects[object_type].values():
            have = obj["properties"].get(prop)
            if have is None:
                continue
            if (have.lower() if prop == "email" else have) == wanted:
                return obj
        return None

    def _answer_object(self, obj: dict[str, Any], status: int = 200) -> Answer:
        body = {k: deep_copy(v) for k, v in obj.items() if not k.startswith("_")}
        return Answer(status, body)

    # -- auth, faults -----------------------------------------------------------------------

    def rotate_token(self, new: str) -> None:
        """Accept only ``new`` from now on (the old token gets 401)."""
        with self.lock:
            self._token = new

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        if same_secret(bearer_token(request), self._token):
            return None
        return _error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at "
            "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        return _error(
            401,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 1 second(s) ago.",
        )

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "requestId": str(uuid.uuid4()),
        }
        return Answer(429, body, self.retry_after_header(retry_after))

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _error(502, "INTERNAL_ERROR", "Bad Gateway")

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return Answer(404, b"", content_type="text/html; charset=utf-8")

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _validation(message)

    def fail_next_batch_input(self, times: int = 1) -> None:
        """The last input of each of the next ``times`` batch upserts fails (not written):
        a 207 answer with ``errors`` and ``numErrors``."""
        with self.lock:
            self._partial_batches += times

    # -- property checks --------------------------------------------------------------------

    def _check_properties(
        self, object_type: str, properties: Any, *, creating: bool
    ) -> tuple[dict[str, str] | None, Answer | None]:
        if not isinstance(properties, dict):
            return None, _validation("Invalid input JSON: properties must be an object")
        problems: list[dict[str, Any]] = []
        clean: dict[str, str] = {}
        for name, value in properties.items():
            if name in READ_ONLY_PROPERTIES:
                problems.append(
                    {
                        "isValid": False,
                        "message": f"{name} is a read only property; its value cannot be set.",
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                    }
                )
                continue
            if name not in self.allowed_properties[object_type]:
                problems.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
                continue
            if isinstance(value, (dict, list)):
                problems.append(
                    {
                        "isValid": False,
                        "message": f"{value!r} is not a valid value",
                        "error": "INVALID_OPTION",
                        "name": name,
                    }
                )
                continue
            text = (
                ""
                if value is None
                else (str(value).lower() if isinstance(value, bool) else str(value))
            )
            if name == "email" and text and not _EMAIL.match(text.strip()):
                problems.append(
                    {
                        "isValid": False,
                        "message": f"Email address {text} is invalid",
                        "error": "INVALID_EMAIL",
                        "name": name,
                    }
                )
                continue
            if name == "hs_note_body" and len(text) > NOTE_BODY_LIMIT:
                problems.append(
                    {
                        "isValid": False,
                        "message": f"hs_note_body is {len(text)} "
                        f"characters long; the limit is {NOTE_BODY_LIMIT}",
                        "error": "INVALID_LENGTH",
                        "name": name,
                    }
                )
                continue
            if name == "hs_timestamp" and text and not _valid_timestamp(text):
                problems.append(
                    {
                        "isValid": False,
                        "message": f"{text} is not a valid timestamp",
                        "error": "INVALID_DATE",
                        "name": name,
                    }
                )
                continue
            clean[name] = text
        if creating and object_type == "notes" and not clean.get("hs_timestamp"):
            problems.append(
                {
                    "isValid": False,
                    "message": "hs_timestamp is required",
                    "error": "REQUIRED_FIELD",
                    "name": "hs_timestamp",
                }
            )
        if problems:
            return None, _validation(
                f"Property values were not valid: {json.dumps(problems)}",
                errors=[
                    {
                        "message": p["message"],
                        "code": p["error"],
                        "context": {"propertyName": [p["name"]]},
                    }
                    for p in problems
                ],
            )
        return clean, None

    # -- handlers ---------------------------------------------------------------------------

    def _search(self, request: RecordedRequest, object_type: str) -> Answer:
        body = json_object(request)
        if body is None:
            return _validation("Invalid input JSON on line 1, column 1: expected an object")
        unknown = set(body) - {"filterGroups", "properties", "limit", "after", "sorts", "query"}
        if unknown:
            return _validation(f"Unrecognized field(s) {sorted(unknown)}")
        try:
            limit = int(body.get("limit", SEARCH_DEFAULT_LIMIT))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return _validation("limit and after must be integers")
        if not 0 < limit <= SEARCH_MAX_LIMIT:
            return _validation(f"limit must be between 1 and {SEARCH_MAX_LIMIT}")
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            return _validation("filterGroups must be a list of at most 5 groups")
        if sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict)) > 18:
            return _validation("at most 18 filters in all")
        try:
            for group in groups:
                if not isinstance(group, dict) or not isinstance(group.get("filters"), list):
                    raise ValueError("each filter group needs a filters list")
                for flt in group["filters"]:
                    self._check_filter(object_type, flt)
        except ValueError as exc:
            return _validation(str(exc))
        now = time.monotonic()
        matched: list[dict[str, Any]] = []
        for obj in self._objects[object_type].values():
            if now - obj["_created"] < self.search_lag_seconds:
                continue  # not indexed yet
            try:
                if not groups or any(self._group_matches(obj, g) for g in groups):
                    matched.append(obj)
            except ValueError as exc:
                return _validation(str(exc))
        matched.sort(key=lambda o: int(o["id"]))
        wanted = body.get("properties") or DEFAULT_SEARCH_PROPERTIES[object_type]
        page = matched[after : after + limit]
        results = []
        for obj in page:
            item = {k: deep_copy(v) for k, v in obj.items() if not k.startswith("_")}
            item["properties"] = {p: obj["properties"].get(p) for p in wanted}
            results.append(item)
        answer: dict[str, Any] = {"total": len(matched), "results": results}
        if after + limit < len(matched):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return Answer(200, answer)

    def _group_matches(self, obj: dict[str, Any], group: Any) -> bool:
        if not isinstance(group, dict) or not isinstance(group.get("filters"), list):
            raise ValueError("each filter group needs a filters list")
        return all(self._filter_matches(obj, f) for f in group["filters"])

    def _check_filter(self, object_type: str, flt: Any) -> None:
        if not isinstance(flt, dict) or "propertyName" not in flt:
            raise ValueError("each filter needs propertyName and operator")
        if flt.get("operator", "EQ") not in SEARCH_OPERATORS:
            raise ValueError(f"operator {flt.get('operator')} is not one of {SEARCH_OPERATORS}")
        name = str(flt["propertyName"])
        if name.startswith("associations."):
            if object_type != "notes" or OBJECT_TYPES.get(name.split(".", 1)[1]) != "contacts":
                raise ValueError(f"unsupported association filter {name}")
            return
        if name not in self.allowed_properties[object_type] | READ_ONLY_PROPERTIES:
            raise ValueError(
                f'There was a problem with the request: property "{name}" does not exist'
            )

    def _filter_matches(self, obj: dict[str, Any], flt: Any) -> bool:
        if not isinstance(flt, dict) or "propertyName" not in flt:
            raise ValueError("each filter needs propertyName and operator")
        name = flt["propertyName"]
        op = flt.get("operator", "EQ")
        if name.startswith("associations."):
            target = OBJECT_TYPES.get(name.split(".", 1)[1])
            if obj["_type"] != "notes" or target != "contacts":
                raise ValueError(f"unsupported association filter {name}")
            values = {cid for cid, _ in self._note_links.get(obj["id"], [])}
            if op == "EQ":
                return str(flt.get("value")) in values
            if op == "IN":
                return bool(values & {str(v) for v in flt.get("values") or []})
            raise ValueError(f"operator {op} is not supported on {name}")
        if name not in self.allowed_properties[obj["_type"]] | READ_ONLY_PROPERTIES:
            raise ValueError(
                f'There was a problem with the request: property "{name}" does not exist'
            )
        have = obj["properties"].get(name)
        have_cmp = have.lower() if isinstance(have, str) else have
        value = flt.get("value")
        value_cmp = str(value).lower() if value is not None else None
        if op == "EQ":
            return have_cmp is not None and have_cmp == value_cmp
        if op == "NEQ":
            return have_cmp != value_cmp
        if op == "IN":
            return have_cmp in {str(v).lower() for v in flt.get("values") or []}
        if op == "HAS_PROPERTY":
            return have not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return have in (None, "")
        if op == "CONTAINS_TOKEN":
            return (
                have_cmp is not None
                and value_cmp is not None
                and value_cmp.strip("*") in re.split(r"\W+", have_cmp)
            )
        raise ValueError(f"operator {op} is not supported by this stand-in")

    def _create(self, request: RecordedRequest, object_type: str) -> Answer:
        body = json_object(request)
        if body is None:
            return _validation("Invalid input JSON on line 1, column 1: expected an object")
        unknown = set(body) - {"properties", "associations", "objectWriteTraceId"}
        if unknown:
            return _validation(f"Unrecognized field(s) {sorted(unknown)}")
        props, refused = self._check_properties(object_type, body.get("properties"), creating=True)
        if refused is not None:
            return refused
        assert props is not None
        links, refused = self._check_associations(object_type, body.get("associations") or [])
        if refused is not None:
            return refused
        conflict = self._unique_conflict(object_type, props, None)
        if conflict is not None:
            return conflict
        obj = self._insert(object_type, props)
        if object_type == "notes":
            self._note_links[obj["id"]].extend(links)
        return self._answer_object(obj, 201)

    def _unique_conflict(
        self, object_type: str, props: dict[str, str], own_id: str | None
    ) -> Answer | None:
        for prop in self.unique_properties:
            value = props.get(prop)
            if not value:
                continue
            existing = self._by_unique(object_type, prop, value)
            if existing is None or existing["id"] == own_id:
                continue
            if object_type == "contacts" and prop == "email":
                return Answer(409, {
                    "status": "error",
                    "message": f"Contact already exists. Existing ID: {existing['id']}",
                    "errors": [{
                        "message": f"A contact with email {value} already exists. Existing ID: "
                                   f"{existing['id']}",
                        "in": "email",
                    }],
                    "correlationId": str(uuid.uuid4()),
                    "category": "OBJECT_ALREADY_EXISTS",
                    "error": "CONTACT_EXISTS",
                })  # fmt: skip
            return _error(
                409,
                "CONFLICT",
                f"{value} already has that value for {prop}. Existing ID: {existing['id']}",
            )
        return None

    def _check_associations(
        self, object_type: str, associations: Any
    ) -> tuple[list[tuple[str, int]], Answer | None]:
        if not isinstance(associations, list):
            return [], _validation("associations must be a list")
        links: list[tuple[str, int]] = []
        for association in associations:
            try:
                to_id = str(association["to"]["id"])
                types = association["types"]
                type_ids = [int(t["associationTypeId"]) for t in types]
                categories = [t["associationCategory"] for t in types]
            except (KeyError, TypeError, ValueError):
                return [], _validation(
                    "each association needs to.id and types with "
                    "associationCategory and associationTypeId"
                )
            if (
                object_type != "notes"
                or any(c != "HUBSPOT_DEFINED" for c in categories)
                or any(t != NOTE_TO_CONTACT for t in type_ids)
            ):
                return [], _validation(
                    f"association types {type_ids} are not valid from {object_type}; this "
                    f"stand-in links notes to contacts with type {NOTE_TO_CONTACT}",
                )
            if to_id not in self._objects["contacts"]:
                return [], _validation(
                    f"One or more associations are invalid: contact {to_id} does not exist",
                    subCategory="crm.associations.INVALID_OBJECT_IDS",
                )
            links.extend((to_id, t) for t in type_ids)
        return links, None

    def _lookup(self, request: RecordedRequest, object_type: str, object_id: str):
        id_property = request.query_value("idProperty")
        if id_property:
            if id_property not in self.unique_properties:
                return None, _validation(f"{id_property} is not a unique property")
            return self._by_unique(object_type, id_property, object_id), None
        return self._objects[object_type].get(object_id), None

    def _not_found(self, object_id: str) -> Answer:
        return _error(
            404,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
            context={"id": [object_id]},
        )

    def _get(self, request: RecordedRequest, object_type: str, object_id: str) -> Answer:
        obj, refused = self._lookup(request, object_type, object_id)
        if refused is not None:
            return refused
        if obj is None:
            return self._not_found(object_id)
        return self._answer_object(obj)

    def _update(self, request: RecordedRequest, object_type: str, object_id: str) -> Answer:
        body = json_object(request)
        if body is None:
            return _validation("Invalid input JSON on line 1, column 1: expected an object")
        unknown = set(body) - {"properties", "objectWriteTraceId"}
        if unknown:
            return _validation(f"Unrecognized field(s) {sorted(unknown)}")
        obj, refused = self._lookup(request, object_type, object_id)
        if refused is not None:
            return refused
        if obj is None:
            return self._not_found(object_id)
        props, refused = self._check_properties(object_type, body.get("properties"), creating=False)
        if refused is not None:
            return refused
        assert props is not None
        conflict = self._unique_conflict(object_type, props, obj["id"])
        if conflict is not None:
            return conflict
        self._touch(obj, props)
        return self._answer_object(obj)

    def _archive(self, request: RecordedRequest, object_type: str, object_id: str) -> Answer:
        if self._objects[object_type].pop(object_id, None) is None:
            return self._not_found(object_id)
        self._forget_links(object_type, object_id)
        return Answer(204)

    def _forget_links(self, object_type: str, object_id: str) -> None:
        if object_type == "notes":
            self._note_links.pop(object_id, None)
            return
        for note_id, links in self._note_links.items():
            self._note_links[note_id] = [(c, t) for c, t in links if c != object_id]

    def _batch_upsert(self, request: RecordedRequest, object_type: str) -> Answer:
        started = _iso(time.time())
        body = json_object(request)
        inputs = body.get("inputs") if body else None
        if not isinstance(inputs, list) or not inputs:
            return _validation("inputs must be a non-empty list")
        if len(inputs) > BATCH_MAX_INPUTS:
            return _validation(f"at most {BATCH_MAX_INPUTS} inputs per batch")
        partial = self._partial_batches > 0
        if partial:
            self._partial_batches -= 1
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(inputs):
            if partial and index == len(inputs) - 1:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "Injected failure of this input",
                        "context": {"ids": [str(item.get("id"))]},
                    }
                )
                continue
            outcome = self._upsert_one(object_type, item)
            if isinstance(outcome, Answer):
                errors.append(
                    {
                        "status": "error",
                        "category": outcome.body.get("category"),
                        "message": outcome.body.get("message"),
                        "context": {"ids": [str(item.get("id"))]},
                    }
                )
            else:
                results.append(outcome)
        done = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(time.time()),
        }
        if not errors:
            return Answer(200, done)
        if not results and not partial:
            first = errors[0]
            return _error(400, first["category"] or "VALIDATION_ERROR", first["message"])
        done.update({"numErrors": len(errors), "errors": errors})
        return Answer(207, done)

    def _upsert_one(self, object_type: str, item: Any) -> dict[str, Any] | Answer:
        if not isinstance(item, dict):
            return _validation("each input must be an object")
        unknown = set(item) - {"id", "idProperty", "properties", "objectWriteTraceId"}
        if unknown:
            return _validation(f"Unrecognized field(s) {sorted(unknown)}")
        id_property = item.get("idProperty")
        key = item.get("id")
        if not id_property or id_property not in self.unique_properties or key in (None, ""):
            return _validation("each input needs id and a unique idProperty")
        props, refused = self._check_properties(
            object_type, item.get("properties") or {}, creating=False
        )
        if refused is not None:
            return refused
        assert props is not None
        existing = self._by_unique(object_type, id_property, str(key))
        if existing is None:
            props.setdefault(id_property, str(key))
            if object_type == "notes" and not props.get("hs_timestamp"):
                return _validation("hs_timestamp is required")
            obj = self._insert(object_type, props)
            new = True
        else:
            conflict = self._unique_conflict(object_type, props, existing["id"])
            if conflict is not None:
                return conflict
            self._touch(existing, props)
            obj, new = existing, False
        out = {k: deep_copy(v) for k, v in obj.items() if not k.startswith("_")}
        out["new"] = new
        return out

    def _gdpr_delete(self, request: RecordedRequest) -> Answer:
        body = json_object(request)
        if body is None or not body.get("objectId"):
            return _validation("objectId is required")
        unknown = set(body) - {"objectId", "idProperty"}
        if unknown:
            return _validation(f"Unrecognized field(s) {sorted(unknown)}")
        object_id = str(body["objectId"])
        id_property = body.get("idProperty")
        if id_property not in (None, "email"):
            return _validation("idProperty must be email when given")
        if id_property == "email":
            obj = self._by_unique("contacts", "email", object_id)
            if obj is None:
                self.gdpr_blocklist.append(object_id.strip().lower())
                return Answer(204)
        else:
            obj = self._objects["contacts"].get(object_id)
            if obj is None:
                return self._not_found(object_id)
        # HubSpot's GDPR delete removes the contact "and all associated content": its notes
        # (engagements) go with it, when the contact is their only association.
        contact_id = obj["id"]
        for note_id, links in list(self._note_links.items()):
            if links and all(cid == contact_id for cid, _ in links):
                self._objects["notes"].pop(note_id, None)
                self._note_links.pop(note_id, None)
        del self._objects["contacts"][contact_id]
        self._forget_links("contacts", contact_id)
        self.gdpr_deleted.append({"id": contact_id, "email": obj["properties"].get("email")})
        return Answer(204)

    def _link(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_ids: list[int]
    ) -> Answer:
        source, target = OBJECT_TYPES.get(from_type), OBJECT_TYPES.get(to_type)
        if (source, target) not in (("notes", "contacts"), ("contacts", "notes")):
            return _validation(
                f"associations from {from_type} to {to_type} are not supported by this stand-in"
            )
        note_id, contact_id = (from_id, to_id) if source == "notes" else (to_id, from_id)
        if note_id not in self._objects["notes"]:
            return self._not_found(note_id)
        if contact_id not in self._objects["contacts"]:
            return self._not_found(contact_id)
        links = self._note_links.setdefault(note_id, [])
        for type_id in type_ids:
            wanted = NOTE_TO_CONTACT if type_id in (NOTE_TO_CONTACT, CONTACT_TO_NOTE) else None
            if wanted is None:
                return _validation(
                    f"association type {type_id} is not valid between notes and contacts"
                )
            if (contact_id, wanted) not in links:
                links.append((contact_id, wanted))
        return Answer(200, {
            "status": "COMPLETE",
            "results": [{"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t}}
                for t in type_ids],
            "startedAt": _iso(time.time()), "completedAt": _iso(time.time()),
        })  # fmt: skip

    def _associate_default(
        self, request: RecordedRequest, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Answer:
        source = OBJECT_TYPES.get(from_type)
        return self._link(
            from_type,
            from_id,
            to_type,
            to_id,
            [NOTE_TO_CONTACT if source == "notes" else CONTACT_TO_NOTE],
        )

    def _associate_v4(
        self, request: RecordedRequest, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Answer:
        specs = request.json
        if not isinstance(specs, list) or not specs:
            return _validation("the body must be a list of association specs")
        try:
            type_ids = [int(s["associationTypeId"]) for s in specs]
            if any(s["associationCategory"] != "HUBSPOT_DEFINED" for s in specs):
                raise ValueError("category")
        except (KeyError, TypeError, ValueError):
            return _validation(
                "each spec needs associationCategory HUBSPOT_DEFINED and associationTypeId"
            )
        return self._link(from_type, from_id, to_type, to_id, type_ids)

    def _associate_v3(
        self,
        request: RecordedRequest,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        type_id: str,
    ) -> Answer:
        numeric = {"note_to_contact": NOTE_TO_CONTACT, "contact_to_note": CONTACT_TO_NOTE}
        try:
            value = numeric.get(type_id) or int(type_id)
        except ValueError:
            return _validation(f"unknown association type {type_id}")
        return self._link(from_type, from_id, to_type, to_id, [value])


def _valid_timestamp(text: str) -> bool:
    if text.isdigit():
        return True
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    return run_cli(HubSpotStandIn, argv, {"token": "the private app token to accept"})


if __name__ == "__main__":
    sys.exit(main())
