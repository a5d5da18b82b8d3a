"""The Zoho CRM stand-in over real loopback HTTP: the refresh-token grant, upsert by
duplicate_check_fields, search (204 when nothing matches), notes on a record, 202 answers with
per-record errors, INVALID_TOKEN, 429 and lost answers. Its own traffic passes Zoho's v8
OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.zoho import ZohoStandIn
from tests.contract.vendor_contract import assert_all_valid

CLIENT_ID, CLIENT_SECRET, REFRESH = "1000.TESTCLIENT", "test-secret", "1000.test.refresh"
TIMEOUT = 10


@pytest.fixture
def zoho() -> Iterator[ZohoStandIn]:
    with ZohoStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                     refresh_token=REFRESH) as running:  # fmt: skip
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def grant(http, zoho, **changes) -> requests.Response:
    params = {"grant_type": "refresh_token", "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET, "refresh_token": REFRESH, **changes}  # fmt: skip
    return http.post(f"{zoho.url}/oauth/v2/token", params=params, timeout=TIMEOUT)


@pytest.fixture
def auth(http, zoho) -> dict:
    return {"Authorization": f"Zoho-oauthtoken {grant(http, zoho).json()['access_token']}"}


def upsert(http, zoho, auth, module: str, *records, check=("Email",)) -> requests.Response:
    return http.post(f"{zoho.url}/crm/v8/{module}/upsert", json={
        "data": list(records), "duplicate_check_fields": list(check)}, headers=auth,
        timeout=TIMEOUT)  # fmt: skip


def note(parent_id: str, module: str = "Leads", content: str = "Visitor: hi\nAgent: hello"):
    return {
        "data": [
            {
                "Note_Title": "Drift conversation 42",
                "Note_Content": content,
                "Parent_Id": {"module": {"api_name": module}, "id": parent_id},
            }
        ]
    }


def test_refresh_token_grant_answers_api_domain_and_expiry(http, zoho) -> None:
    body = grant(http, zoho).json()
    assert body["api_domain"] == zoho.url
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert grant(http, zoho, refresh_token="wrong").json() == {"error": "invalid_code"}
    assert grant(http, zoho, client_secret="wrong").json() == {"error": "invalid_client"}
    assert grant(http, zoho, grant_type="password").status_code == 200  # Zoho: errors in 200


def test_upsert_inserts_then_updates_on_email(http, zoho, auth) -> None:
    first = upsert(http, zoho, auth, "Leads", {"Last_Name": "Lovelace", "Email": "ada@example.com"})
    second = upsert(http, zoho, auth, "Leads", {"Last_Name": "Lovelace", "First_Name": "Ada",
                                                "Email": "ADA@example.com"})  # fmt: skip
    [one], [two] = first.json()["data"], second.json()["data"]
    assert (one["code"], one["action"], two["action"]) == ("SUCCESS", "insert", "update")
    assert two["duplicate_field"] == "Email"
    assert one["details"]["id"] == two["details"]["id"]
    assert zoho.count_persons() == 1
    assert zoho.person_by_email("ada@example.com")["First_Name"] == "Ada"


def test_per_record_errors_are_202(http, zoho, auth) -> None:
    # GIVEN a Lead without the mandatory Last_Name and one with a bad e-mail
    answer = upsert(http, zoho, auth, "Leads", {"Email": "ada@example.com"},
                    {"Last_Name": "X", "Email": "not an email"})  # fmt: skip
    # THEN the call is 202 and every record carries its own error; nothing was written
    assert answer.status_code == 202
    codes = [item["code"] for item in answer.json()["data"]]
    assert codes == ["MANDATORY_NOT_FOUND", "INVALID_DATA"]
    assert answer.json()["data"][0]["details"]["api_name"] == "Last_Name"
    assert zoho.count_persons() == 0


def test_search_by_email_and_criteria_204_when_none(http, zoho, auth) -> None:
    lead_id = zoho.add_record("Leads", {"Last_Name": "Hopper", "Email": "grace@example.com"})
    by_email = http.get(f"{zoho.url}/crm/v8/Leads/search", params={"email": "GRACE@example.com"},
                        headers=auth, timeout=TIMEOUT)  # fmt: skip
    by_criteria = http.get(
        f"{zoho.url}/crm/v8/Leads/search",
        params={"criteria": "(Email:equals:grace@example.com)"},
        headers=auth,
        timeout=TIMEOUT,
    )
    none = http.get(f"{zoho.url}/crm/v8/Contacts/search", params={"email": "grace@example.com"},
                    headers=auth, timeout=TIMEOUT)  # fmt: skip
    bad = http.get(f"{zoho.url}/crm/v8/Leads/search", params={"criteria": "Email = x"},
                   headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert by_email.json()["data"][0]["id"] == lead_id
    assert by_criteria.json()["info"]["count"] == 1
    assert (none.status_code, none.content) == (204, b"")
    assert bad.status_code == 400


def test_note_on_a_lead_created_updated_listed(http, zoho, auth) -> None:
    lead_id = zoho.add_record("Leads", {"Last_Name": "Hopper", "Email": "grace@example.com"})
    created = http.post(f"{zoho.url}/crm/v8/Notes", json=note(lead_id), headers=auth,
                        timeout=TIMEOUT)  # fmt: skip
    assert created.status_code == 201
    note_id = created.json()["data"][0]["details"]["id"]
    updated = http.put(f"{zoho.url}/crm/v8/Notes/{note_id}", json={"data": [
        {"Note_Title": "Drift conversation 42", "Note_Content": "more"}]}, headers=auth,
        timeout=TIMEOUT)  # fmt: skip
    listed = http.get(f"{zoho.url}/crm/v8/Leads/{lead_id}/Notes", headers=auth, timeout=TIMEOUT)
    assert updated.status_code == 200
    assert [n["id"] for n in listed.json()["data"]] == [note_id]
    [stored] = zoho.notes_for(lead_id)
    assert stored["Note_Content"] == "more"
    assert stored["Parent_Id"] == {"module": {"api_name": "Leads"}, "id": lead_id}


def test_note_errors_are_202(http, zoho, auth) -> None:
    lead_id = zoho.add_record("Leads", {"Last_Name": "Hopper"})
    for body in (note("6049012000009999999"), note(lead_id, content=""),
                 {"data": [{"Note_Content": "x"}]}):  # fmt: skip
        answer = http.post(f"{zoho.url}/crm/v8/Notes", json=body, headers=auth, timeout=TIMEOUT)
        assert answer.status_code == 202
        assert answer.json()["data"][0]["status"] == "error"
    assert zoho.count_activities() == 0


def test_older_parent_form_with_se_module_is_understood(http, zoho, auth) -> None:
    lead_id = zoho.add_record("Leads", {"Last_Name": "Hopper"})
    answer = http.post(f"{zoho.url}/crm/v8/Notes", json={"data": [
        {"Note_Content": "x", "Parent_Id": lead_id, "se_module": "Leads"}]}, headers=auth,
        timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 201
    assert len(zoho.notes_for(lead_id)) == 1


def test_delete_record_takes_its_notes(http, zoho, auth) -> None:
    lead_id = zoho.add_record("Leads", {"Last_Name": "Hopper", "Email": "grace@example.com"})
    http.post(f"{zoho.url}/crm/v8/Notes", json=note(lead_id), headers=auth, timeout=TIMEOUT)
    gone = http.delete(f"{zoho.url}/crm/v8/Leads/{lead_id}", headers=auth, timeout=TIMEOUT)
    again = http.delete(f"{zoho.url}/crm/v8/Leads/{lead_id}", headers=auth, timeout=TIMEOUT)
    assert gone.json()["data"][0]["code"] == "SUCCESS"
    assert again.status_code == 202
    assert (zoho.count_persons(), zoho.count_activities()) == (0, 0)


def test_expired_or_wrong_token_is_401_invalid_token(http, zoho, auth) -> None:
    zoho.expire_token()
    stale = http.get(f"{zoho.url}/crm/v8/Leads/search", params={"email": "a@b.co"},
                     headers=auth, timeout=TIMEOUT)  # fmt: skip
    bearer = http.get(f"{zoho.url}/crm/v8/Leads/search", params={"email": "a@b.co"}, headers={
        "Authorization": auth["Authorization"].replace("Zoho-oauthtoken", "Bearer")},
        timeout=TIMEOUT)  # fmt: skip
    assert stale.status_code == 401
    assert stale.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    assert bearer.status_code == 401
    fresh = {"Authorization": f"Zoho-oauthtoken {grant(http, zoho).json()['access_token']}"}
    assert http.get(f"{zoho.url}/crm/v8/Leads/search", params={"email": "a@b.co"},
                    headers=fresh, timeout=TIMEOUT).status_code == 204  # fmt: skip


def test_rate_limit_and_lost_answer(http, zoho, auth) -> None:
    zoho.rate_limit(times=1)
    limited = upsert(http, zoho, auth, "Leads", {"Last_Name": "L", "Email": "a@example.com"})
    assert limited.status_code == 429
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    zoho.lose_answer()
    with pytest.raises(requests.ConnectionError):
        upsert(http, zoho, auth, "Leads", {"Last_Name": "L", "Email": "a@example.com"})
    retry = upsert(http, zoho, auth, "Leads", {"Last_Name": "L", "Email": "a@example.com"})
    assert retry.json()["data"][0]["action"] == "update"
    assert zoho.count_persons() == 1


def test_recipe_shaped_traffic_passes_zohos_description(http, zoho, auth) -> None:
    found = http.get(f"{zoho.url}/crm/v8/Contacts/search", params={"email": "ada@example.com"},
                     headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert found.status_code == 204
    lead = upsert(http, zoho, auth, "Leads", {"Last_Name": "Lovelace", "Company": "-",
                                              "Email": "ada@example.com"})  # fmt: skip
    lead_id = lead.json()["data"][0]["details"]["id"]
    created = http.post(f"{zoho.url}/crm/v8/Notes", json=note(lead_id), headers=auth,
                        timeout=TIMEOUT)  # fmt: skip
    note_id = created.json()["data"][0]["details"]["id"]
    http.put(f"{zoho.url}/crm/v8/Notes/{note_id}", json=note(lead_id, content="more"),
             headers=auth, timeout=TIMEOUT)  # fmt: skip
    http.delete(f"{zoho.url}/crm/v8/Leads/{lead_id}", headers=auth, timeout=TIMEOUT)
    assert all(200 <= r.status < 300 for r in zoho.requests)
    assert_all_valid(zoho.requests)
