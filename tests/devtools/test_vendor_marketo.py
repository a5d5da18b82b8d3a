"""The Marketo stand-in over real loopback HTTP: the identity call, leads synced by email,
custom activities and custom objects, HTTP 200 with success false and Marketo's codes (601,
602, 606, 607, 615), skipped records with reasons, lead deletion. Its own traffic passes
Adobe's Swagger description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.marketo import MarketoStandIn
from tests.contract.vendor_contract import assert_all_valid

CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"
TIMEOUT = 10
OBJECT = "driftConversation_c"


@pytest.fixture
def marketo() -> Iterator[MarketoStandIn]:
    with MarketoStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def identity(http, marketo, **changes) -> requests.Response:
    params = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET, **changes}  # fmt: skip
    return http.get(f"{marketo.url}/identity/oauth/token", params=params, timeout=TIMEOUT)


@pytest.fixture
def auth(http, marketo) -> dict:
    return {"Authorization": f"Bearer {identity(http, marketo).json()['access_token']}"}


def sync(http, marketo, auth, *leads, action="createOrUpdate") -> dict:
    return http.post(f"{marketo.url}/rest/v1/leads.json", json={
        "action": action, "lookupField": "email", "input": list(leads)}, headers=auth,
        timeout=TIMEOUT).json()  # fmt: skip


def conversation(http, marketo, auth, lead_id: int, text: str) -> dict:
    return http.post(f"{marketo.url}/rest/v1/customobjects/{OBJECT}.json", json={
        "action": "createOrUpdate", "dedupeBy": "dedupeFields", "input": [
            {"conversationId": "42", "leadID": lead_id, "transcript": text}]},
        headers=auth, timeout=TIMEOUT).json()  # fmt: skip


def test_identity_token_and_bad_credentials(http, marketo) -> None:
    good = identity(http, marketo).json()
    assert (good["token_type"], good["expires_in"]) == ("bearer", 3599)
    bad = identity(http, marketo, client_secret="nope")
    assert bad.status_code == 401
    assert bad.json()["error"] == "unauthorized"


def test_lead_synced_by_email_created_then_updated(http, marketo, auth) -> None:
    first = sync(http, marketo, auth, {"email": "ada@example.com", "firstName": "Ada"})
    second = sync(http, marketo, auth, {"email": "ADA@example.com", "lastName": "Lovelace"})
    assert first["success"] is True
    assert first["requestId"]
    assert [r["status"] for r in first["result"] + second["result"]] == ["created", "updated"]
    assert marketo.count_persons() == 1
    assert marketo.lead_by_email("ada@example.com")["lastName"] == "Lovelace"


def test_records_that_fail_are_skipped_with_reasons(http, marketo, auth) -> None:
    answer = sync(http, marketo, auth, {"email": "not-an-email"}, {"email": "a@b.co", "x": 1},
                  {"firstName": "no key"})  # fmt: skip
    assert answer["success"] is True  # the call succeeded; the records did not
    codes = [r["reasons"][0]["code"] for r in answer["result"]]
    assert [r["status"] for r in answer["result"]] == ["skipped"] * 3
    assert codes == ["1003", "1006", "1003"]
    only = sync(http, marketo, auth, {"email": "new@example.com"}, action="updateOnly")
    assert only["result"][0]["reasons"][0]["code"] == "1004"
    assert marketo.count_persons() == 0


def test_custom_object_deduped_on_conversation_id(http, marketo, auth) -> None:
    lead_id = marketo.add_lead({"email": "ada@example.com"})
    first = conversation(http, marketo, auth, lead_id, "Visitor: hi\nAgent: hello")
    second = conversation(http, marketo, auth, lead_id, "more")
    assert [first["result"][0]["status"], second["result"][0]["status"]] == ["created", "updated"]
    assert first["result"][0]["seq"] == 0
    [record] = marketo.custom_object_records(OBJECT)
    assert (record["transcript"], record["leadID"]) == ("more", lead_id)
    found = http.get(f"{marketo.url}/rest/v1/customobjects/{OBJECT}.json", params={
        "filterType": "conversationId", "filterValues": "42"}, headers=auth,
        timeout=TIMEOUT).json()  # fmt: skip
    assert [r["marketoGUID"] for r in found["result"]] == [record["marketoGUID"]]


def test_custom_activities_are_append_only(http, marketo, auth) -> None:
    lead_id = marketo.add_lead({"email": "ada@example.com"})
    activity = {"leadId": lead_id, "activityDate": "2024-05-01T10:00:00Z",
                "activityTypeId": 100001, "primaryAttributeValue": "42",
                "attributes": [{"apiName": "transcript", "value": "a"}]}  # fmt: skip
    for _ in range(2):
        answer = http.post(f"{marketo.url}/rest/v1/activities/external.json", json={
            "input": [activity]}, headers=auth, timeout=TIMEOUT).json()  # fmt: skip
        assert answer["result"][0]["status"] == "added"
    assert len(marketo.custom_activities()) == 2  # why a recipe prefers a custom object


def test_delete_lead_and_its_custom_objects(http, marketo, auth) -> None:
    lead_id = marketo.add_lead({"email": "ada@example.com"})
    conversation(http, marketo, auth, lead_id, "x")
    gone = http.post(f"{marketo.url}/rest/v1/leads/delete.json", json={"input": [
        {"id": lead_id}]}, headers=auth, timeout=TIMEOUT).json()  # fmt: skip
    again = http.post(f"{marketo.url}/rest/v1/leads/delete.json", json={"input": [
        {"id": lead_id}]}, headers=auth, timeout=TIMEOUT).json()  # fmt: skip
    assert gone["result"] == [{"id": lead_id, "status": "deleted"}]
    assert again["result"][0]["reasons"][0]["code"] == "1004"
    assert (marketo.count_persons(), marketo.count_activities()) == (0, 0)


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        (lambda m: m.rate_limit(), "606"),
        (lambda m: m.add_fault("quota"), "607"),
        (lambda m: m.add_fault("concurrency"), "615"),
        (lambda m: m.expire_token(), "602"),
    ],
)
def test_failures_are_http_200_with_success_false(http, marketo, auth, arrange, code) -> None:
    # GIVEN Marketo is about to refuse
    arrange(marketo)
    # WHEN a lead is synced
    answer = http.post(f"{marketo.url}/rest/v1/leads.json", json={
        "input": [{"email": "a@example.com"}]}, headers=auth, timeout=TIMEOUT)  # fmt: skip
    # THEN the HTTP status is 200, and only the body says it failed, with the code
    assert answer.status_code == 200
    assert answer.json()["success"] is False
    assert answer.json()["errors"][0]["code"] == code
    assert marketo.count_persons() == 0


def test_unknown_token_is_601_and_bad_body_609_612(http, marketo, auth) -> None:
    unknown = http.get(f"{marketo.url}/rest/v1/leads.json", params={"filterType": "email",
                       "filterValues": "a@b.co"}, headers={"Authorization": "Bearer x"},
                       timeout=TIMEOUT).json()  # fmt: skip
    not_json = http.post(f"{marketo.url}/rest/v1/leads.json", data=b"{", headers={
        **auth, "Content-Type": "application/json"}, timeout=TIMEOUT).json()  # fmt: skip
    wrong_type = http.post(f"{marketo.url}/rest/v1/leads.json", data=b"x", headers={
        **auth, "Content-Type": "text/plain"}, timeout=TIMEOUT).json()  # fmt: skip
    assert [a["errors"][0]["code"] for a in (unknown, not_json, wrong_type)] == [
        "601",
        "609",
        "612",
    ]


def test_lost_answer_after_lead_sync(http, marketo, auth) -> None:
    marketo.lose_answer(endpoint="leads.sync")
    with pytest.raises(requests.ConnectionError):
        sync(http, marketo, auth, {"email": "ada@example.com"})
    retry = sync(http, marketo, auth, {"email": "ada@example.com"})
    assert retry["result"][0]["status"] == "updated"
    assert marketo.count_persons() == 1


def test_recipe_shaped_traffic_passes_adobes_description(http, marketo, auth) -> None:
    lead = sync(http, marketo, auth, {"email": "ada@example.com", "firstName": "Ada"})
    lead_id = lead["result"][0]["id"]
    conversation(http, marketo, auth, lead_id, "a\nb")
    http.get(f"{marketo.url}/rest/v1/leads.json", params={"filterType": "email",
             "filterValues": "ada@example.com", "fields": "id,email"}, headers=auth,
             timeout=TIMEOUT)  # fmt: skip
    http.post(f"{marketo.url}/rest/v1/leads/delete.json", json={"input": [{"id": lead_id}]},
              headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert all(r.status == 200 for r in marketo.requests)
    assert_all_valid(marketo.requests)
