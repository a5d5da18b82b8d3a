"""The Salesforce stand-in over real loopback HTTP: client-credentials tokens, SOQL, sObject
rows, upsert by external id, composite and collections, Salesforce's error arrays, and the
faults (REQUEST_LIMIT_EXCEEDED, INVALID_SESSION_ID, lost answers). Its own traffic passes the
REST-guide contract rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.salesforce import SalesforceStandIn, eighteen
from tests.contract.vendor_contract import assert_all_valid

CLIENT_ID = "test-consumer-key"
CLIENT_SECRET = "test-consumer-secret"
V = "/services/data/v62.0"
TIMEOUT = 10


@pytest.fixture
def sf() -> Iterator[SalesforceStandIn]:
    with SalesforceStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def token(http, sf) -> dict:
    answer = http.post(f"{sf.url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET}, timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def auth(http, sf) -> dict:
    return {"Authorization": f"Bearer {token(http, sf)['access_token']}"}


def soql(http, sf, auth, statement: str) -> requests.Response:
    return http.get(f"{sf.url}{V}/query", params={"q": statement}, headers=auth, timeout=TIMEOUT)


def test_token_response_points_at_this_server(http, sf) -> None:
    body = token(http, sf)
    assert body["instance_url"] == sf.url
    assert body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit()
    assert body["id"].startswith(f"{sf.url}/id/")
    assert body["signature"]
    assert "expires_in" not in body  # Salesforce does not say; a 401 tells


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "no"},
         "invalid_client"),
        ({"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
         "unsupported_grant_type"),
    ],
)  # fmt: skip
def test_token_errors_are_oauth_errors(http, sf, form, error) -> None:
    answer = http.post(f"{sf.url}/services/oauth2/token", data=form, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_basic_auth_client_credentials_are_accepted(http, sf) -> None:
    answer = http.post(f"{sf.url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                       auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 200


def test_query_contact_by_email_ignores_case(http, sf, auth) -> None:
    # GIVEN a Contact already in the org
    contact_id = sf.add_contact({"LastName": "Lovelace", "Email": "ada@example.com"})
    # WHEN a recipe looks it up by e-mail
    answer = soql(http, sf, auth, "SELECT Id, Email FROM Contact WHERE Email = 'ADA@example.com' "
                  "LIMIT 1")  # fmt: skip
    # THEN Salesforce's query answer holds it
    assert answer.status_code == 200
    body = answer.json()
    assert (body["totalSize"], body["done"]) == (1, True)
    assert body["records"][0]["Id"] == contact_id
    assert body["records"][0]["attributes"]["type"] == "Contact"


def test_query_escapes_and_in_lists(http, sf, auth) -> None:
    sf.add_lead({"LastName": "O'Brien", "Company": "X", "Email": "o'brien@example.com"})
    found = soql(http, sf, auth, r"SELECT Id FROM Lead WHERE Email = 'o\'brien@example.com'")
    listed = soql(http, sf, auth, "SELECT Id FROM Lead WHERE Email IN ('a@b.co', "
                  r"'O\'BRIEN@example.com') AND IsConverted = false")  # fmt: skip
    assert found.json()["totalSize"] == 1
    assert listed.json()["totalSize"] == 1


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("SELECT Id FROM Contact WHERE Email LIKE 'a%'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'unclosed", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact LIMIT", "MALFORMED_QUERY"),
        ("DELETE FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
    ],
)
def test_query_refuses_what_it_does_not_understand(http, sf, auth, statement, code) -> None:
    answer = soql(http, sf, auth, statement)
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == code


def test_create_lead_requires_last_name_and_company(http, sf, auth) -> None:
    missing = http.post(f"{sf.url}{V}/sobjects/Lead", json={"LastName": "Hopper"}, headers=auth,
                        timeout=TIMEOUT)  # fmt: skip
    created = http.post(f"{sf.url}{V}/sobjects/Lead", json={
        "LastName": "Hopper", "Company": "[not provided]", "Email": "grace@example.com"},
        headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert missing.status_code == 400
    assert missing.json() == [
        {
            "message": "Required fields are missing: [Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Company"],
        }
    ]
    assert created.status_code == 201
    assert created.json()["success"] is True
    assert created.json()["id"].startswith("00Q")
    assert sf.count_persons() == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"LastName": "X", "Colour__c": "red"}, "INVALID_FIELD"),
        ({"LastName": "X", "Name": "X"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"LastName": "X", "Email": "not an email"}, "INVALID_EMAIL_ADDRESS"),
        ({"LastName": "X" * 81}, "STRING_TOO_LONG"),
    ],
)
def test_contact_field_errors(http, sf, auth, fields, code) -> None:
    answer = http.post(f"{sf.url}{V}/sobjects/Contact", json=fields, headers=auth,
                       timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == code
    assert sf.count_persons() == 0


def test_task_upsert_by_external_id_creates_then_updates(http, sf, auth) -> None:
    # GIVEN a Lead to attach the conversation to
    lead_id = sf.add_lead({"LastName": "Hopper", "Company": "Navy"})
    url = f"{sf.url}{V}/sobjects/Task/Drift_Conversation_Id__c/3275727977"
    task = {"WhoId": lead_id, "Subject": "Drift conversation", "Status": "Completed",
            "ActivityDate": "2024-05-01", "Description": "Visitor: hi\nAgent: hello"}  # fmt: skip
    # WHEN the same conversation is pushed twice
    first = http.patch(url, json=task, headers=auth, timeout=TIMEOUT)
    second = http.patch(url, json={**task, "Description": "more"}, headers=auth, timeout=TIMEOUT)
    # THEN the first creates (201) and the second updates (200) the one Task
    assert (first.status_code, second.status_code) == (201, 200)
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    assert first.json()["id"] == second.json()["id"]
    [stored] = sf.tasks_for(lead_id)
    assert stored["Description"] == "more"
    assert stored["IsClosed"] is True
    assert stored["Drift_Conversation_Id__c"] == "3275727977"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Subject": "x", "ActivityDate": "2024-05-01T10:00:00Z"}, "JSON_PARSER_ERROR"),
        ({"Subject": "x", "Status": "Done"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Subject": "x", "Description": "d" * 32_001}, "STRING_TOO_LONG"),
        ({"Subject": "x", "WhoId": "001000000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION"),
    ],
)
def test_task_field_rules(http, sf, auth, fields, code) -> None:
    answer = http.patch(f"{sf.url}{V}/sobjects/Task/Drift_Conversation_Id__c/1", json=fields,
                        headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == code
    assert sf.count_activities() == 0


def test_upsert_on_a_field_that_is_not_an_external_id_is_404(http, sf, auth) -> None:
    answer = http.patch(f"{sf.url}{V}/sobjects/Task/Subject/x", json={}, headers=auth,
                        timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 404
    assert answer.json()[0]["errorCode"] == "NOT_FOUND"


def test_update_get_delete_by_15_or_18_character_id(http, sf, auth) -> None:
    contact_id = sf.add_contact({"LastName": "Lovelace", "Email": "ada@example.com"})
    short = contact_id[:15]
    assert eighteen(short) == contact_id
    patched = http.patch(f"{sf.url}{V}/sobjects/Contact/{short}", json={"FirstName": "Ada"},
                         headers=auth, timeout=TIMEOUT)  # fmt: skip
    fetched = http.get(f"{sf.url}{V}/sobjects/Contact/{contact_id}", headers=auth, timeout=TIMEOUT)
    deleted = http.delete(f"{sf.url}{V}/sobjects/Contact/{contact_id}", headers=auth,
                          timeout=TIMEOUT)  # fmt: skip
    again = http.delete(f"{sf.url}{V}/sobjects/Contact/{contact_id}", headers=auth, timeout=TIMEOUT)
    assert (patched.status_code, fetched.status_code, deleted.status_code) == (204, 200, 204)
    assert fetched.json()["Name"] == "Ada Lovelace"
    assert again.status_code == 404
    assert sf.count_persons() == 0
    assert sf.deleted == [{"type": "Contact", "Id": contact_id, "Email": "ada@example.com"}]


def test_composite_query_then_upsert_with_references(http, sf, auth) -> None:
    # GIVEN a Contact with the visitor's e-mail
    contact_id = sf.add_contact({"LastName": "Lovelace", "Email": "ada@example.com"})
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "GET", "referenceId": "person",
         "url": f"{V}/query?q=SELECT+Id+FROM+Contact+WHERE+Email+%3D+%27ada%40example.com%27"},
        {"method": "PATCH", "referenceId": "task",
         "url": f"{V}/sobjects/Task/Drift_Conversation_Id__c/42",
         "body": {"WhoId": "@{person.records[0].Id}", "Subject": "Drift", "Status": "Completed"}},
    ]}  # fmt: skip
    # WHEN it is sent in one call
    answer = http.post(f"{sf.url}{V}/composite", json=body, headers=auth, timeout=TIMEOUT)
    # THEN both subrequests succeeded and the Task points at the Contact
    assert answer.status_code == 200
    results = answer.json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [200, 201]
    assert [r["referenceId"] for r in results] == ["person", "task"]
    assert [t["WhoId"] for t in sf.tasks_for(contact_id)] == [contact_id]
    assert len(sf.requests) == 2  # the token call and the composite: one API call


def test_composite_all_or_none_rolls_back(http, sf, auth) -> None:
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "referenceId": "lead", "url": f"{V}/sobjects/Lead",
         "body": {"LastName": "Hopper", "Company": "Navy"}},
        {"method": "PATCH", "referenceId": "task", "url": f"{V}/sobjects/Task/Nope__c/1",
         "body": {"WhoId": "@{lead.id}"}},
        {"method": "GET", "referenceId": "after", "url": f"{V}/query?q=SELECT+Id+FROM+Lead"},
    ]}  # fmt: skip
    answer = http.post(f"{sf.url}{V}/composite", json=body, headers=auth, timeout=TIMEOUT)
    results = answer.json()["compositeResponse"]
    assert answer.status_code == 200
    assert [r["httpStatusCode"] for r in results] == [400, 404, 400]
    assert results[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.count_persons() == 0


def test_composite_without_all_or_none_keeps_what_succeeded(http, sf, auth) -> None:
    body = {"compositeRequest": [
        {"method": "POST", "referenceId": "lead", "url": f"{V}/sobjects/Lead",
         "body": {"LastName": "Hopper", "Company": "Navy"}},
        {"method": "POST", "referenceId": "bad", "url": f"{V}/sobjects/Lead", "body": {}},
        {"method": "POST", "referenceId": "task", "url": f"{V}/sobjects/Task",
         "body": {"WhoId": "@{missing.id}", "Subject": "x"}},
    ]}  # fmt: skip
    results = http.post(f"{sf.url}{V}/composite", json=body, headers=auth,
                        timeout=TIMEOUT).json()["compositeResponse"]  # fmt: skip
    assert [r["httpStatusCode"] for r in results] == [201, 400, 400]
    assert "Invalid reference specified" in results[2]["body"][0]["message"]
    assert sf.count_persons() == 1


def test_composite_refuses_malformed_requests(http, sf, auth) -> None:
    too_many = {"compositeRequest": [{"method": "GET", "referenceId": f"r{n}",
                                      "url": f"{V}/query?q=SELECT+Id+FROM+Lead"}
                                     for n in range(26)]}  # fmt: skip
    no_ref = {"compositeRequest": [{"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Lead"}]}
    for body in (too_many, no_ref):
        answer = http.post(f"{sf.url}{V}/composite", json=body, headers=auth, timeout=TIMEOUT)
        assert answer.status_code == 400


def test_collections_upsert_by_external_id(http, sf, auth) -> None:
    lead_id = sf.add_lead({"LastName": "Hopper", "Company": "Navy"})
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Task"}, "Drift_Conversation_Id__c": "7", "WhoId": lead_id,
         "Subject": "Drift"}]}  # fmt: skip
    url = f"{sf.url}{V}/composite/sobjects/Task/Drift_Conversation_Id__c"
    first = http.patch(url, json=body, headers=auth, timeout=TIMEOUT).json()
    second = http.patch(url, json=body, headers=auth, timeout=TIMEOUT).json()
    assert (first[0]["created"], second[0]["created"]) == (True, False)
    assert sf.count_activities() == 1


def test_expired_session_is_401_until_a_new_token(http, sf, auth) -> None:
    # GIVEN a session that Salesforce ends
    sf.expire_token()
    # WHEN the recipe calls with it
    stale = soql(http, sf, auth, "SELECT Id FROM Lead")
    # THEN it is INVALID_SESSION_ID, and a fresh token works
    assert stale.status_code == 401
    assert stale.json() == [{"message": "Session expired or invalid",
                             "errorCode": "INVALID_SESSION_ID"}]  # fmt: skip
    fresh = {"Authorization": f"Bearer {token(http, sf)['access_token']}"}
    assert soql(http, sf, fresh, "SELECT Id FROM Lead").status_code == 200
    assert soql(http, sf, {}, "SELECT Id FROM Lead").status_code == 401


def test_rate_limit_is_403_request_limit_exceeded_and_spares_the_token(http, sf, auth) -> None:
    sf.rate_limit(times=1)
    limited = soql(http, sf, auth, "SELECT Id FROM Lead")
    assert limited.status_code == 403
    assert limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Retry-After" not in limited.headers
    sf.rate_limit(times=1)
    token(http, sf)  # the token endpoint takes only faults aimed at it by name
    assert soql(http, sf, auth, "SELECT Id FROM Lead").status_code == 403


def test_lost_answer_after_upsert_then_retry_updates(http, sf, auth) -> None:
    lead_id = sf.add_lead({"LastName": "Hopper", "Company": "Navy"})
    url = f"{sf.url}{V}/sobjects/Task/Drift_Conversation_Id__c/9"
    sf.lose_answer(endpoint="sobjects.upsert")
    with pytest.raises(requests.ConnectionError):
        http.patch(url, json={"WhoId": lead_id, "Subject": "x"}, headers=auth, timeout=TIMEOUT)
    retry = http.patch(url, json={"WhoId": lead_id, "Subject": "x"}, headers=auth,
                       timeout=TIMEOUT)  # fmt: skip
    assert retry.status_code == 200
    assert sf.count_activities() == 1
    assert sf.calls("sobjects.upsert")[0].lost_status == 201


def test_wrong_content_type_is_415(http, sf, auth) -> None:
    answer = http.post(f"{sf.url}{V}/sobjects/Lead", data="LastName=x", headers={
        **auth, "Content-Type": "text/plain"}, timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 415
    assert answer.json()[0]["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_recipe_shaped_conversation_passes_the_rest_guide_rules(http, sf, auth) -> None:
    # GIVEN the calls a Salesforce recipe makes: find the person, create a Lead, upsert a Task
    found = soql(http, sf, auth, "SELECT Id FROM Contact WHERE Email = 'ada@example.com' LIMIT 1")
    assert found.json()["totalSize"] == 0
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "referenceId": "lead", "url": f"{V}/sobjects/Lead",
         "body": {"LastName": "Lovelace", "Company": "[not provided]",
                  "Email": "ada@example.com"}},
        {"method": "PATCH", "referenceId": "task",
         "url": f"{V}/sobjects/Task/Drift_Conversation_Id__c/42",
         "body": {"WhoId": "@{lead.id}", "Subject": "Drift conversation", "Status": "Completed",
                  "ActivityDate": "2024-05-01", "Description": "a\nb"}},
    ]}  # fmt: skip
    composite = http.post(f"{sf.url}{V}/composite", json=body, headers=auth, timeout=TIMEOUT)
    assert [r["httpStatusCode"] for r in composite.json()["compositeResponse"]] == [201, 201]
    lead = sf.person_by_email("ada@example.com")
    gdpr = http.delete(f"{sf.url}{V}/sobjects/Lead/{lead['Id']}", headers=auth, timeout=TIMEOUT)
    assert gdpr.status_code == 204
    # THEN every request the stand-in received follows the REST guide's rules
    assert_all_valid(sf.requests)
