"""The HubSpot stand-in over real loopback HTTP: it answers as HubSpot documents (statuses,
error bodies, auth), keeps what it is told in a store tests can read, and misbehaves on
request (rate limit, expired token, lost answer). Its own traffic passes the SDK contract."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.hubspot import NOTE_BODY_LIMIT, HubSpotStandIn
from tests.contract.vendor_contract import assert_all_valid
from tests.devtools import cli_helpers

TOKEN = "pat-na1-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 10
CONTACTS = "/crm/v3/objects/contacts"
NOTES = "/crm/v3/objects/notes"


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def call(http, hubspot, method: str, path: str, body=None, headers=None) -> requests.Response:
    headers = AUTH if headers is None else headers
    return http.request(method, hubspot.url + path, json=body, headers=headers, timeout=TIMEOUT)


def by_email(email: str) -> dict:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
        ],
        "properties": ["email", "firstname"],
        "limit": 1,
    }


def note_body(contact_id: str, text: str = "Visitor: hi<br>Agent: hello") -> dict:
    return {
        "properties": {"hs_timestamp": "2024-05-01T10:00:00Z", "hs_note_body": text},
        "associations": [{"to": {"id": contact_id}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}],
    }  # fmt: skip


# -- contacts ---------------------------------------------------------------------------------


def test_create_then_duplicate_email_is_409_naming_the_existing_id(hubspot, http) -> None:
    # GIVEN a contact created by e-mail
    first = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "Ada@Example.com"}})
    assert first.status_code == 201
    contact_id = first.json()["id"]
    assert first.json()["properties"]["email"] == "ada@example.com"
    # WHEN the same e-mail (other case) is created again
    second = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "ADA@example.com"}})
    # THEN HubSpot's conflict answer names the existing contact, and nothing was added
    assert second.status_code == 409
    body = second.json()
    assert body["status"] == "error"
    assert body["message"] == f"Contact already exists. Existing ID: {contact_id}"
    assert body["category"] == "OBJECT_ALREADY_EXISTS"
    assert body["correlationId"]
    assert hubspot.count_persons() == 1


def test_search_by_email_ignores_case_and_returns_only_asked_properties(hubspot, http) -> None:
    # GIVEN a returning visitor already in the CRM
    contact_id = hubspot.add_contact({"email": "grace@example.com", "firstname": "Grace"})
    # WHEN searching with another case
    found = call(http, hubspot, "POST", f"{CONTACTS}/search", by_email("GRACE@example.com"))
    missing = call(http, hubspot, "POST", f"{CONTACTS}/search", by_email("nobody@example.com"))
    # THEN the contact comes back with just the properties asked for
    assert found.status_code == 200
    assert found.json()["total"] == 1
    [result] = found.json()["results"]
    assert result["id"] == contact_id
    assert result["properties"] == {"email": "grace@example.com", "firstname": "Grace"}
    assert missing.json() == {"total": 0, "results": []}


def test_search_pages_with_after(hubspot, http) -> None:
    for index in range(3):
        hubspot.add_contact({"email": f"p{index}@example.com", "lastname": "Same"})
    query = {"filterGroups": [{"filters": [
        {"propertyName": "lastname", "operator": "EQ", "value": "same"}]}], "limit": 2}  # fmt: skip
    page1 = call(http, hubspot, "POST", f"{CONTACTS}/search", query).json()
    page2 = call(http, hubspot, "POST", f"{CONTACTS}/search",
                 {**query, "after": page1["paging"]["next"]["after"]}).json()  # fmt: skip
    assert (page1["total"], len(page1["results"]), len(page2["results"])) == (3, 2, 1)
    assert "paging" not in page2


def test_search_lag_hides_contacts_not_yet_indexed() -> None:
    # GIVEN a portal whose search index lags a minute behind writes
    with HubSpotStandIn(token=TOKEN, search_lag_seconds=60) as lagging, requests.Session() as s:
        lagging.add_contact({"email": "new@example.com"})
        # WHEN searching right away
        answer = call(s, lagging, "POST", f"{CONTACTS}/search", by_email("new@example.com"))
        # THEN nothing is found, although the contact exists (a create would now get 409)
        assert answer.json()["total"] == 0
        again = call(s, lagging, "POST", CONTACTS, {"properties": {"email": "new@example.com"}})
        assert again.status_code == 409


def test_invalid_requests_get_hubspot_validation_errors(hubspot, http) -> None:
    unknown = call(http, hubspot, "POST", CONTACTS, {"properties": {"favourite_colour": "red"}})
    bad_email = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "not-an-email"}})
    read_only = call(http, hubspot, "POST", CONTACTS, {"properties": {"hs_object_id": "1"}})
    extra_key = call(http, hubspot, "POST", CONTACTS, {"properties": {}, "colour": "red"})
    bad_operator = call(http, hubspot, "POST", f"{CONTACTS}/search", {"filterGroups": [
        {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]})  # fmt: skip
    for answer, code in ((unknown, "PROPERTY_DOESNT_EXIST"), (bad_email, "INVALID_EMAIL"),
                         (read_only, "READ_ONLY_VALUE")):  # fmt: skip
        assert answer.status_code == 400
        assert answer.json()["category"] == "VALIDATION_ERROR"
        assert code in answer.json()["message"]
    assert extra_key.status_code == 400
    assert bad_operator.status_code == 400
    assert hubspot.count_persons() == 0


def test_update_by_id_and_by_email_and_404(hubspot, http) -> None:
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    by_id = call(http, hubspot, "PATCH", f"{CONTACTS}/{contact_id}",
                 {"properties": {"firstname": "Ada"}})  # fmt: skip
    by_mail = call(http, hubspot, "PATCH", f"{CONTACTS}/ada@example.com?idProperty=email",
                   {"properties": {"lastname": "Lovelace"}})  # fmt: skip
    missing = call(http, hubspot, "PATCH", f"{CONTACTS}/999999", {"properties": {}})
    assert (by_id.status_code, by_mail.status_code, missing.status_code) == (200, 200, 404)
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"
    props = hubspot.contact(contact_id)["properties"]
    assert (props["firstname"], props["lastname"]) == ("Ada", "Lovelace")


def test_batch_upsert_creates_then_updates_one_contact(hubspot, http) -> None:
    batch = {"inputs": [{"idProperty": "email", "id": "ada@example.com",
                         "properties": {"firstname": "Ada"}}]}  # fmt: skip
    created = call(http, hubspot, "POST", f"{CONTACTS}/batch/upsert", batch)
    batch["inputs"][0]["properties"]["firstname"] = "Augusta"
    updated = call(http, hubspot, "POST", f"{CONTACTS}/batch/upsert", batch)
    assert (created.status_code, updated.status_code) == (200, 200)
    assert created.json()["status"] == "COMPLETE"
    assert created.json()["results"][0]["new"] is True
    assert updated.json()["results"][0]["new"] is False
    assert hubspot.count_persons() == 1
    assert hubspot.contact_by_email("ADA@example.com")["properties"]["firstname"] == "Augusta"


def test_batch_with_a_failed_input_is_207(hubspot, http) -> None:
    # GIVEN the next batch's last input will fail
    hubspot.fail_next_batch_input()
    batch = {"inputs": [{"idProperty": "email", "id": f"{n}@example.com", "properties": {}}
                        for n in ("one", "two")]}  # fmt: skip
    # WHEN upserting two contacts
    answer = call(http, hubspot, "POST", f"{CONTACTS}/batch/upsert", batch)
    # THEN HubSpot's multi-status answer holds one result and one error; one contact exists
    assert answer.status_code == 207
    body = answer.json()
    assert (len(body["results"]), body["numErrors"], len(body["errors"])) == (1, 1, 1)
    assert hubspot.count_persons() == 1
    # AND a batch where every input is invalid is a plain 400
    bad = call(http, hubspot, "POST", f"{CONTACTS}/batch/upsert",
               {"inputs": [{"idProperty": "email", "id": "x@example.com",
                            "properties": {"email": "broken"}}]})  # fmt: skip
    assert bad.status_code == 400


# -- notes ------------------------------------------------------------------------------------


def test_note_linked_to_contact_with_type_202_and_updated(hubspot, http) -> None:
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    created = call(http, hubspot, "POST", NOTES, note_body(contact_id))
    assert created.status_code == 201
    note_id = created.json()["id"]
    updated = call(http, hubspot, "PATCH", f"{NOTES}/{note_id}",
                   {"properties": {"hs_note_body": "line 1<br>line 2"}})  # fmt: skip
    assert updated.status_code == 200
    [note] = hubspot.notes_for_contact(contact_id)
    assert note["id"] == note_id
    assert note["associations"] == [{"contact": contact_id, "type": 202}]
    assert note["properties"]["hs_note_body"] == "line 1<br>line 2"
    assert hubspot.count_activities() == 1


def test_note_rules_timestamp_length_and_association(hubspot, http) -> None:
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    no_time = note_body(contact_id)
    del no_time["properties"]["hs_timestamp"]
    too_long = note_body(contact_id, "x" * (NOTE_BODY_LIMIT + 1))
    wrong_type = note_body(contact_id)
    wrong_type["associations"][0]["types"][0]["associationTypeId"] = 1
    no_contact = note_body("123456789")
    at_limit = note_body(contact_id, "x" * NOTE_BODY_LIMIT)
    for body in (no_time, too_long, wrong_type, no_contact):
        answer = call(http, hubspot, "POST", NOTES, body)
        assert answer.status_code == 400, body
        assert answer.json()["category"] == "VALIDATION_ERROR"
    assert call(http, hubspot, "POST", NOTES, at_limit).status_code == 201
    assert hubspot.count_activities() == 1


def test_v4_default_association_links_an_existing_note(hubspot, http) -> None:
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    body = note_body(contact_id)
    del body["associations"]
    note_id = call(http, hubspot, "POST", NOTES, body).json()["id"]
    linked = call(
        http,
        hubspot,
        "PUT",
        f"/crm/v4/objects/notes/{note_id}/associations/default/contact/{contact_id}",
    )
    assert linked.status_code == 200
    assert linked.json()["results"][0]["associationSpec"]["associationTypeId"] == 202
    assert [n["id"] for n in hubspot.notes_for_contact(contact_id)] == [note_id]


def test_notes_found_by_custom_unique_property(hubspot, http) -> None:
    # GIVEN a note carrying the conversation id in a portal property
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    body = note_body(contact_id)
    body["properties"]["drift_conversation_id"] = "3275727977"
    assert call(http, hubspot, "POST", NOTES, body).status_code == 201
    # WHEN searching notes by it, and creating a second note with the same value
    found = call(http, hubspot, "POST", f"{NOTES}/search", {"filterGroups": [{"filters": [
        {"propertyName": "drift_conversation_id", "operator": "EQ",
         "value": "3275727977"}]}]})  # fmt: skip
    twin = call(http, hubspot, "POST", NOTES, body)
    # THEN it is found, and the unique property refuses the twin
    assert found.json()["total"] == 1
    assert twin.status_code == 409
    assert hubspot.count_activities() == 1


# -- GDPR -------------------------------------------------------------------------------------


def test_gdpr_delete_by_email_and_unknown_email_blocklisted(hubspot, http) -> None:
    contact_id = hubspot.add_contact({"email": "ada@example.com"})
    call(http, hubspot, "POST", NOTES, note_body(contact_id))
    gone = call(http, hubspot, "POST", f"{CONTACTS}/gdpr-delete",
                {"objectId": "ADA@example.com", "idProperty": "email"})  # fmt: skip
    unknown = call(http, hubspot, "POST", f"{CONTACTS}/gdpr-delete",
                   {"objectId": "nobody@example.com", "idProperty": "email"})  # fmt: skip
    missing_id = call(http, hubspot, "POST", f"{CONTACTS}/gdpr-delete", {"objectId": "424242"})
    assert (gone.status_code, unknown.status_code, missing_id.status_code) == (204, 204, 404)
    assert hubspot.count_persons() == 0
    assert hubspot.gdpr_blocklist == ["nobody@example.com"]
    assert hubspot.count_activities() == 0  # "all associated content" goes with the contact


# -- auth and faults --------------------------------------------------------------------------


def test_missing_or_wrong_token_is_401_invalid_authentication(hubspot, http) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = call(http, hubspot, "POST", CONTACTS, {"properties": {}}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["category"] == "INVALID_AUTHENTICATION"
    hubspot.rotate_token("rotated")
    assert call(http, hubspot, "GET", f"{CONTACTS}/1").status_code == 401
    assert hubspot.count_persons() == 0


def test_expired_token_answers_once_then_works(hubspot, http) -> None:
    hubspot.expire_token()
    first = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "a@example.com"}})
    second = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "a@example.com"}})
    assert first.status_code == 401
    assert first.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert second.status_code == 201
    assert hubspot.count_persons() == 1


def test_rate_limit_is_429_with_retry_after_and_writes_nothing(hubspot, http) -> None:
    hubspot.rate_limit(times=2, retry_after=3, endpoint="contacts.create")
    body = {"properties": {"email": "a@example.com"}}
    answers = [call(http, hubspot, "POST", CONTACTS, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 201]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[0].json()["errorType"] == "RATE_LIMIT"
    assert answers[0].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    # other endpoints were not limited
    assert call(http, hubspot, "POST", f"{CONTACTS}/search", by_email("a@example.com")).ok
    assert hubspot.count_persons() == 1


def test_lost_answer_writes_then_drops_the_connection(hubspot, http) -> None:
    # GIVEN the next answer will be lost
    hubspot.lose_answer()
    # WHEN a contact is created
    with pytest.raises(requests.ConnectionError):
        call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "lost@example.com"}})
    # THEN HubSpot wrote it although the client heard nothing, and the record says so
    assert hubspot.contact_by_email("lost@example.com") is not None
    [request] = hubspot.requests
    assert (request.status, request.fault, request.lost_status) == (0, "lose_answer", 201)
    assert request.performed
    # AND a retry that creates again meets the conflict (a repeat-safe recipe searches first)
    retry = call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "lost@example.com"}})
    assert retry.status_code == 409


def test_unknown_path_is_404_and_counts_are_per_endpoint(hubspot, http) -> None:
    assert call(http, hubspot, "GET", "/crm/v3/nothing").status_code == 404
    call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "a@example.com"}})
    counts = hubspot.call_counts()
    assert counts["contacts.create"] == 1
    assert counts["notes.create"] == 0
    assert counts["unknown"] == 1
    assert [r.endpoint for r in hubspot.calls("contacts.create")] == ["contacts.create"]
    assert "Bearer" not in repr(hubspot.requests)


def test_control_plane_over_http(hubspot, http) -> None:
    base = f"{hubspot.url}/_standin"
    assert http.get(f"{base}/health", timeout=TIMEOUT).json() == {"ok": True, "vendor": "hubspot"}
    assert http.post(f"{base}/faults", json={"kind": "rate_limit", "times": 1},
                     timeout=TIMEOUT).ok  # fmt: skip
    assert call(http, hubspot, "GET", f"{CONTACTS}/1").status_code == 429
    call(http, hubspot, "POST", CONTACTS, {"properties": {"email": "a@example.com"}})
    assert len(http.get(f"{base}/store", timeout=TIMEOUT).json()["persons"]) == 1
    [_, created] = http.get(f"{base}/requests", timeout=TIMEOUT).json()
    assert created["headers"]["Authorization"] == "Bearer ***"
    bad = http.post(f"{base}/faults", json={"kind": "nonsense"}, timeout=TIMEOUT)
    assert bad.status_code == 400
    assert http.post(f"{base}/reset", timeout=TIMEOUT).ok
    assert hubspot.count_persons() == 0
    assert hubspot.requests == []


# -- its own traffic against the SDK ----------------------------------------------------------


def test_a_recipe_shaped_conversation_passes_the_sdk_contract(hubspot, http) -> None:
    # GIVEN the calls a HubSpot recipe makes for one conversation
    search = call(http, hubspot, "POST", f"{CONTACTS}/search", by_email("ada@example.com"))
    assert search.json()["total"] == 0
    upsert = call(
        http,
        hubspot,
        "POST",
        f"{CONTACTS}/batch/upsert",
        {
            "inputs": [
                {"idProperty": "email", "id": "ada@example.com", "properties": {"firstname": "Ada"}}
            ]
        },
    )
    contact_id = upsert.json()["results"][0]["id"]
    note_id = call(http, hubspot, "POST", NOTES, note_body(contact_id)).json()["id"]
    call(http, hubspot, "PATCH", f"{NOTES}/{note_id}", {"properties": {"hs_note_body": "x"}})
    call(
        http,
        hubspot,
        "PUT",
        f"/crm/v4/objects/notes/{note_id}/associations/default/contact/{contact_id}",
    )
    call(http, hubspot, "POST", f"{CONTACTS}/gdpr-delete",
         {"objectId": "ada@example.com", "idProperty": "email"})  # fmt: skip
    # THEN every request it received deserializes into the SDK's models and operations
    assert all(200 <= r.status < 300 for r in hubspot.requests)
    assert_all_valid(hubspot.requests)


def test_cli_serves_until_sigterm(http) -> None:
    process, url = cli_helpers.start_cli(
        "devtools.vendors.hubspot", "hubspot stand-in", "--port", "0", "--token", "cli-token"
    )
    try:
        answer = http.post(
            f"{url}{CONTACTS}",
            json={"properties": {"email": "a@example.com"}},
            headers={"Authorization": "Bearer cli-token"},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 201
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
