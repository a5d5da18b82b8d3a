"""A loopback stand-in for Marketo Engage's REST API and identity service: the client
credentials token, leads (sync, get by filter, delete), custom activities and custom objects.

It answers as Adobe documents: ``GET`` (or ``POST``) ``/identity/oauth/token?grant_type=
client_credentials&client_id=...&client_secret=...`` returns ``access_token``, ``token_type``,
``expires_in`` and ``scope`` (401 ``{"error": "unauthorized", ...}`` for bad credentials);
REST calls take ``Authorization: Bearer <token>`` and answer HTTP 200 with ``{"requestId",
"success": true, "result": [...]}`` or ``{"requestId", "success": false, "errors": [{"code",
"message"}]}``, codes as strings: ``601`` token invalid, ``602`` token expired, ``606`` rate
limit, ``607`` daily quota, ``609`` invalid JSON, ``610`` not found, ``612`` content type,
``615`` concurrency limit. A record that could not be written is a result with ``status:
"skipped"`` and ``reasons`` (``1003`` invalid value, ``1004`` lead not found, ``1005`` lead
exists, ``1006`` field not found) while ``success`` stays true.

Leads are deduplicated on ``lookupField`` (default ``email``, compared without case) with the
actions ``createOrUpdate``, ``createOnly``, ``updateOnly``. Custom activities (``POST
/rest/v1/activities/external.json``) are append-only, as in Marketo; custom objects (``POST
/rest/v1/customobjects/{name}.json``) are created or updated by ``dedupeBy: dedupeFields``
(the object's dedupe fields) or ``idField`` (``marketoGUID``), and link to a lead through the
object's link field. The custom activity types and custom objects an admin would create are
given to the constructor (defaults: activity ``driftConversation`` id 100001 with
``transcript``; object ``driftConversation_c`` deduped on ``conversationId``, linked by
``leadID``). Deleting a lead deletes the custom objects linked to it.

Pages read (Adobe Experience League, Marketo Engage developer documentation):
- https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication
  (the identity call, the Bearer header)
- https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes
  (HTTP 200 with success false; 601, 602, 606, 607, 609, 610, 612, 615; record-level reasons)
- https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads
  (sync leads: action, lookupField, input; get by filterType/filterValues; delete)
- https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/custom-activities
  (add custom activities: leadId, activityDate, activityTypeId, primaryAttributeValue,
  attributes)
- https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/custom-objects
  (sync custom objects: action, dedupeBy, input; query by filterType)

Use in tests::

    with MarketoStandIn(client_id="cid", client_secret="s") as marketo:
        marketo.add_fault("quota")            # the next call answers 607
        assert marketo.count_persons() == 1

``python -m devtools.vendors.marketo --port 0`` serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import uuid
from collections.abc import Mapping
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

DEFAULT_CLIENT_ID = "standin-marketo-client-id"
DEFAULT_CLIENT_SECRET = "standin-marketo-client-secret"
QUOTA = "quota"  # fault: 607 Daily quota reached
CONCURRENCY = "concurrency"  # fault: 615 Concurrent access limit reached
MAX_BATCH = 300
LEAD_FIELDS = frozenset(
    {"email", "firstName", "lastName", "company", "title", "phone", "mobilePhone", "city",
     "state", "country", "postalCode", "address", "website", "leadSource", "leadStatus",
     "industry", "unsubscribed", "externalSalesPersonId"}
)  # fmt: skip
DEFAULT_ACTIVITY_TYPES = {
    "driftConversation": {"id": 100001, "primary": "conversationId",
                          "attributes": ["transcript", "conversationUrl"]},
}  # fmt: skip
DEFAULT_CUSTOM_OBJECTS = {
    "driftConversation_c": {"dedupe": ["conversationId"], "link": "leadID",
                            "fields": ["conversationId", "leadID", "transcript", "subject",
                                       "conversationUrl", "updatedAt_c"]},
}  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _request_id() -> str:
    return f"{uuid.uuid4().hex[:4]}#{uuid.uuid4().hex[:11]}"


def _ok(result: list[Any], **extra: Any) -> Answer:
    return Answer(200, {"requestId": _request_id(), "result": result, "success": True, **extra})


def _fail(code: str, message: str, status: int = 200) -> Answer:
    return Answer(status, {"requestId": _request_id(), "success": False,
                           "errors": [{"code": code, "message": message}]})  # fmt: skip


def _skipped(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "status": "skipped", "reasons": [{"code": code, "message": message}]}


class MarketoStandIn(VendorStandIn):
    """Marketo Engage REST and identity over loopback HTTP (see the module docstring)."""

    vendor: ClassVar[str] = "marketo"
    thread_name = "marketo-standin"
    extra_fault_kinds: ClassVar[tuple[str, ...]] = (QUOTA, CONCURRENCY)
    routes = (
        route("GET", "/identity/oauth/token", "identity.token", "_token", auth=False),
        route("POST", "/identity/oauth/token", "identity.token_post", "_token", auth=False),
        route("POST", "/rest/v1/leads.json", "leads.sync", "_sync_leads"),
        route("GET", "/rest/v1/leads.json", "leads.get", "_get_leads"),
        route("POST", "/rest/v1/leads/delete.json", "leads.delete", "_delete_leads"),
        route("POST", "/rest/v1/activities/external.json", "activities.add", "_add_activities"),
        route("POST", r"/rest/v1/customobjects/(?P<name>\w+)\.json", "customobjects.sync",
              "_sync_objects"),
        route("GET", r"/rest/v1/customobjects/(?P<name>\w+)\.json", "customobjects.get",
              "_get_objects"),
        route("POST", r"/rest/v1/customobjects/(?P<name>\w+)/delete\.json",
              "customobjects.delete", "_delete_objects"),
    )  # fmt: skip

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        activity_types: Mapping[str, Mapping[str, Any]] | None = None,
        custom_objects: Mapping[str, Mapping[str, Any]] | None = None,
        custom_lead_fields: tuple[str, ...] = ("driftContactId",),
        token_seconds: float = 3599.0,
        latency: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.activity_types = {
            k: dict(v) for k, v in (activity_types or DEFAULT_ACTIVITY_TYPES).items()
        }
        self.custom_objects = {
            k: dict(v) for k, v in (custom_objects or DEFAULT_CUSTOM_OBJECTS).items()
        }
        self.lead_fields = LEAD_FIELDS | set(custom_lead_fields)
        self.tokens = TokenBook("standin-marketo-", token_seconds)
        super().__init__(host, port, latency=latency, max_requests=max_requests)

    # -- store ------------------------------------------------------------------------------

    def reset_store(self) -> None:
        self._leads: dict[int, dict[str, Any]] = {}
        self._activities: list[dict[str, Any]] = []
        self._objects: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.custom_objects}
        self._next_lead = 1001
        self._next_activity = 500_001
        self.deleted: list[dict[str, Any]] = []
        self.tokens.clear()

    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [deep_copy(lead) for lead in self._leads.values()]

    def persons(self) -> list[dict[str, Any]]:
        return self.leads()

    def custom_activities(self) -> list[dict[str, Any]]:
        with self.lock:
            return deep_copy(self._activities)

    def custom_object_records(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            names = [name] if name else list(self._objects)
            return [deep_copy(r) for n in names for r in self._objects[n].values()]

    def activities(self) -> list[dict[str, Any]]:
        """Custom activities and custom object records: whichever the recipe uses."""
        return self.custom_activities() + self.custom_object_records()

    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            for lead in self._leads.values():
                if (lead.get("email") or "").lower() == email.lower():
                    return deep_copy(lead)
            return None

    def add_lead(self, fields: dict[str, Any]) -> int:
        """Put a lead in place (a returning visitor); returns its id."""
        with self.lock:
            return self._insert_lead(fields)["id"]

    def _insert_lead(self, fields: dict[str, Any]) -> dict[str, Any]:
        lead_id = self._next_lead
        self._next_lead += 1
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lead = {"id": lead_id, **fields, "createdAt": now, "updatedAt": now}
        self._leads[lead_id] = lead
        return lead

    # -- auth, faults -----------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every issued token expires (602); the identity call issues a fresh one."""
        with self.lock:
            self.tokens.expire_all()

    def check_auth(self, request: RecordedRequest) -> Answer | None:
        token = bearer_token(request) or request.query_value("access_token")
        if self.tokens.valid(token):
            return None
        if self.tokens.known(token):
            return self.expired_token_answer(request)
        return _fail("601", "Access token invalid")

    def expired_token_answer(self, request: RecordedRequest) -> Answer:
        return _fail("602", "Access token expired")

    def rate_limit_answer(self, request: RecordedRequest, retry_after: float | None) -> Answer:
        return _fail("606", "Max rate limit '100' exceeded with in '20' secs")

    def extra_fault_answer(
        self, kind: str, request: RecordedRequest, retry_after: float | None
    ) -> Answer:
        if kind == QUOTA:
            return _fail("607", "Daily quota reached")
        return _fail("615", "Concurrent access limit reached")

    def server_error_answer(self, request: RecordedRequest) -> Answer:
        return _fail("611", "System error")

    def not_found_answer(self, request: RecordedRequest) -> Answer:
        return _fail("610", "Requested resource not found", status=404)

    def bad_body_answer(self, request: RecordedRequest, message: str) -> Answer:
        return _fail("609", "Invalid JSON")

    # -- identity ---------------------------------------------------------------------------

    def _token(self, request: RecordedRequest) -> Answer:
        params = {k: v[0] for k, v in request.query.items()}
        if "form" in request.content_type:
            params.update({k: v[0] for k, v in request.form.items()})
        if params.get("grant_type") != "client_credentials":
            return Answer(
                400, {"error": "invalid_request", "error_description": "Invalid grant type"}
            )
        if not (
            same_secret(params.get("client_id"), self.client_id)
            and same_secret(params.get("client_secret"), self.client_secret)
        ):
            return Answer(
                401, {"error": "unauthorized", "error_description": "Bad client credentials"}
            )
        return Answer(200, {"access_token": self.tokens.issue(":ab"), "token_type": "bearer",
                            "expires_in": int(self.tokens.lifetime_seconds),
                            "scope": "apiuser@example.com"})  # fmt: skip

    def _json(self, request: RecordedRequest) -> tuple[dict[str, Any] | None, Answer | None]:
        if "application/json" not in request.content_type:
            return None, _fail("612", "Invalid Content Type")
        body = json_object(request)
        if body is None:
            return None, _fail("609", "Invalid JSON")
        items = body.get("input")
        if not isinstance(items, list) or not items:
            return None, _fail("1003", "input is required")
        if len(items) > MAX_BATCH:
            return None, _fail("1003", f"at most {MAX_BATCH} records per call")
        return body, None

    # -- leads ------------------------------------------------------------------------------

    def _sync_leads(self, request: RecordedRequest) -> Answer:
        body, refused = self._json(request)
        if refused:
            return refused
        assert body is not None
        action = body.get("action", "createOrUpdate")
        if action not in ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate"):
            return _fail("1003", f"Invalid action {action}")
        lookup = body.get("lookupField", "email")
        if lookup not in self.lead_fields | {"id"}:
            return _fail("1003", f"Invalid lookup field '{lookup}'")
        results = [self._sync_one(lead, action, lookup) for lead in body["input"]]
        return _ok(results)

    def _sync_one(self, fields: Any, action: str, lookup: str) -> dict[str, Any]:
        if not isinstance(fields, dict):
            return _skipped("1003", "Invalid value")
        unknown = [f for f in fields if f not in self.lead_fields and f != "id"]
        if unknown:
            return _skipped("1006", f"Field '{unknown[0]}' not found")
        email = fields.get("email")
        if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
            return _skipped("1003", f"Invalid value for field 'email': {email}")
        key = fields.get(lookup)
        if key in (None, ""):
            return _skipped("1003", f"Value for lookup field '{lookup}' not specified")
        matches = [lead for lead in self._leads.values()
                   if _same(lead.get(lookup), key)]  # fmt: skip
        if len(matches) > 1 and action != "createDuplicate":
            return _skipped("1007", "Multiple lead match lookup criteria")
        if matches and action == "createOnly":
            return _skipped("1005", "Lead already exists")
        if not matches and action == "updateOnly":
            return _skipped("1004", "Lead not found")
        if matches and action != "createDuplicate":
            lead = matches[0]
            lead.update({k: v for k, v in fields.items() if k != "id"})
            lead["updatedAt"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"id": lead["id"], "status": "updated"}
        return {"id": self._insert_lead({k: v for k, v in fields.items() if k != "id"})["id"],
                "status": "created"}  # fmt: skip

    def _get_leads(self, request: RecordedRequest) -> Answer:
        filter_type = request.query_value("filterType")
        values = [v for v in (request.query_value("filterValues") or "").split(",") if v]
        if not filter_type or not values:
            return _fail("1003", "filterType and filterValues are required")
        if filter_type not in self.lead_fields | {"id"}:
            return _fail("1003", f"Invalid filterType '{filter_type}'")
        fields = (request.query_value("fields") or "id,email,firstName,lastName,updatedAt,"
                  "createdAt").split(",")  # fmt: skip
        rows = [lead for lead in self._leads.values()
                if any(_same(lead.get(filter_type), v) for v in values)]  # fmt: skip
        return _ok([{f: deep_copy(lead.get(f)) for f in fields if f in lead or f == "id"}
                    for lead in rows])  # fmt: skip

    def _delete_leads(self, request: RecordedRequest) -> Answer:
        body, refused = self._json(request)
        if refused:
            return refused
        assert body is not None
        results = []
        for item in body["input"]:
            lead_id = item.get("id") if isinstance(item, dict) else None
            lead = self._leads.pop(lead_id, None) if isinstance(lead_id, int) else None
            if lead is None:
                results.append(_skipped("1004", "Lead not found", id=lead_id))
                continue
            self.deleted.append({"id": lead_id, "email": lead.get("email")})
            for name, spec in self.custom_objects.items():
                link = spec.get("link")
                for guid in [g for g, r in self._objects[name].items() if r.get(link) == lead_id]:
                    del self._objects[name][guid]
            results.append({"id": lead_id, "status": "deleted"})
        return _ok(results)

    # -- custom activities ------------------------------------------------------------------

    def _add_activities(self, request: RecordedRequest) -> Answer:
        body, refused = self._json(request)
        if refused:
            return refused
        assert body is not None
        results = []
        by_id = {spec["id"]: name for name, spec in self.activity_types.items()}
        for item in body["input"]:
            if not isinstance(item, dict):
                results.append(_skipped("1003", "Invalid value"))
                continue
            type_name = item.get("apiName") or by_id.get(item.get("activityTypeId"))
            if type_name not in self.activity_types:
                results.append(_skipped("1003", "Invalid activity type"))
                continue
            if item.get("leadId") not in self._leads:
                results.append(_skipped("1004", "Lead not found"))
                continue
            if not item.get("activityDate") or not item.get("primaryAttributeValue"):
                results.append(_skipped("1003", "activityDate and primaryAttributeValue are "
                                        "required"))  # fmt: skip
                continue
            allowed = set(self.activity_types[type_name]["attributes"])
            names = [a.get("apiName") or a.get("name") for a in item.get("attributes") or []
                     if isinstance(a, dict)]  # fmt: skip
            bad = [n for n in names if n not in allowed]
            if bad:
                results.append(_skipped("1006", f"Field '{bad[0]}' not found"))
                continue
            activity_id = self._next_activity
            self._next_activity += 1
            self._activities.append({"id": activity_id, "marketoGUID": str(activity_id),
                                     "type": type_name, **deep_copy(item)})  # fmt: skip
            results.append({"id": activity_id, "marketoGUID": str(activity_id),
                            "status": "added"})  # fmt: skip
        return _ok(results)

    # -- custom objects ---------------------------------------------------------------------

    def _object_spec(self, name: str) -> dict[str, Any] | Answer:
        spec = self.custom_objects.get(name)
        if spec is None:
            return _fail("1013", f"Object '{name}' not found")
        return spec

    def _sync_objects(self, request: RecordedRequest, name: str) -> Answer:
        spec = self._object_spec(name)
        if isinstance(spec, Answer):
            return spec
        body, refused = self._json(request)
        if refused:
            return refused
        assert body is not None
        action = body.get("action", "createOrUpdate")
        dedupe_by = body.get("dedupeBy", "dedupeFields")
        if action not in ("createOrUpdate", "createOnly", "updateOnly") or \
                dedupe_by not in ("dedupeFields", "idField"):  # fmt: skip
            return _fail("1003", "Invalid action or dedupeBy")
        results = []
        for seq, item in enumerate(body["input"]):
            results.append({"seq": seq, **self._sync_object(name, spec, item, action, dedupe_by)})
        return _ok(results)

    def _sync_object(self, name, spec, item, action, dedupe_by) -> dict[str, Any]:
        if not isinstance(item, dict):
            return _skipped("1003", "Invalid value")
        unknown = [f for f in item if f not in spec["fields"] and f != "marketoGUID"]
        if unknown:
            return _skipped("1006", f"Field '{unknown[0]}' not found")
        link = spec.get("link")
        if link and item.get(link) is not None and item[link] not in self._leads:
            return _skipped("1004", "Lead not found")
        table = self._objects[name]
        if dedupe_by == "idField":
            existing = table.get(str(item.get("marketoGUID")))
        else:
            keys = spec["dedupe"]
            if any(item.get(k) in (None, "") for k in keys):
                return _skipped("1003", f"Value for required field '{keys[0]}' not specified")
            existing = next((r for r in table.values()
                             if all(_same(r.get(k), item[k]) for k in keys)), None)  # fmt: skip
        if existing is not None and action == "createOnly":
            return _skipped("1005", "Record already exists")
        if existing is None and action == "updateOnly":
            return _skipped("1004", "Record not found")
        if existing is not None:
            existing.update({k: v for k, v in item.items() if k != "marketoGUID"})
            return {"marketoGUID": existing["marketoGUID"], "status": "updated"}
        guid = str(uuid.uuid4())
        table[guid] = {"marketoGUID": guid, **{k: v for k, v in item.items()
                                               if k != "marketoGUID"}}  # fmt: skip
        return {"marketoGUID": guid, "status": "created"}

    def _get_objects(self, request: RecordedRequest, name: str) -> Answer:
        spec = self._object_spec(name)
        if isinstance(spec, Answer):
            return spec
        filter_type = request.query_value("filterType")
        values = [v for v in (request.query_value("filterValues") or "").split(",") if v]
        if not filter_type or not values:
            return _fail("1003", "filterType and filterValues are required")
        field = "marketoGUID" if filter_type in ("idField", "marketoGUID") else filter_type
        if field == "dedupeFields":
            field = spec["dedupe"][0]
        rows = [r for r in self._objects[name].values()
                if any(_same(r.get(field), v) for v in values)]  # fmt: skip
        return _ok([dict(deep_copy(r), seq=i) for i, r in enumerate(rows)])

    def _delete_objects(self, request: RecordedRequest, name: str) -> Answer:
        spec = self._object_spec(name)
        if isinstance(spec, Answer):
            return spec
        body, refused = self._json(request)
        if refused:
            return refused
        assert body is not None
        results = []
        for seq, item in enumerate(body["input"]):
            guid = item.get("marketoGUID") if isinstance(item, dict) else None
            if guid in self._objects[name]:
                del self._objects[name][guid]
                results.append({"seq": seq, "marketoGUID": guid, "status": "deleted"})
            else:
                results.append({"seq": seq, **_skipped("1004", "Record not found")})
        return _ok(results)


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, str) and isinstance(want, str):
        return have.lower() == want.lower()
    return have == want or (have is not None and str(have) == str(want))


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        MarketoStandIn,
        argv,
        {"client_id": "the LaunchPoint client id", "client_secret": "the client secret"},
    )


if __name__ == "__main__":
    sys.exit(main())
