"""The Zoho contract check against Zoho's v8 OpenAPI files (cross-file references rewritten to
the local folder): requests a recipe would send pass, and each kind of mistake is caught."""

from __future__ import annotations

import pytest

from tests.contract import zoho_contract
from tests.contract.vendor_contract import assert_all_valid, make_request, problems

AUTH = {"Authorization": "Zoho-oauthtoken 1000.token"}
LEAD = "6049012000000500001"
NOTE = {"data": [{"Note_Title": "Drift conversation", "Note_Content": "a\nb",
                  "Parent_Id": {"module": {"api_name": "Leads"}, "id": LEAD}}]}  # fmt: skip


def zoho(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", AUTH)
    return make_request("zoho", method, target, **kwargs)


VALID = [
    make_request("zoho", "POST", "/oauth/v2/token?grant_type=refresh_token&client_id=c&"
                 "client_secret=s&refresh_token=r"),
    zoho("POST", "/crm/v8/Leads/upsert", json={
        "data": [{"Last_Name": "Lovelace", "Email": "ada@example.com"}],
        "duplicate_check_fields": ["Email"]}),
    zoho("GET", "/crm/v8/Contacts/search?email=ada%40example.com"),
    zoho("GET", "/crm/v8/Leads/search?criteria=%28Email%3Aequals%3Aada%40example.com%29"),
    zoho("POST", "/crm/v8/Notes", json=NOTE),
    zoho("PUT", "/crm/v8/Notes/6049012000000500002", json=NOTE),
    zoho("GET", f"/crm/v8/Leads/{LEAD}/Notes"),
    zoho("DELETE", f"/crm/v8/Leads/{LEAD}"),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


def test_cross_file_references_resolve_locally() -> None:
    # GIVEN the rewritten documents
    docs = zoho_contract._documents()
    text = repr(docs)
    # THEN no reference points at the network, and the absent files are stood in for
    assert "raw.githubusercontent.com" not in text
    assert {"users.json", "modules.json", "record.json", "notes.json"} <= set(docs)
    assert docs["users.json"]["components"]["schemas"]["Minified_User"] == {"type": "object"}
    assert "record.json#/components/parameters/If-Modified-Since" in repr(docs["notes.json"])


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (zoho("POST", "/crm/v8/Leads/upsert", json={"records": [{"Last_Name": "L"}]}),
         "'records' was unexpected"),
        (zoho("POST", "/crm/v8/Leads/upsert", json={"data": {"Last_Name": "L"}}),
         "is not of type 'array'"),
        (zoho("POST", "/crm/v8/Leads/upsert", json={"data": [{"Last_Name": "L"}],
                                                    "duplicate_check_fields": "Email"}),
         "is not of type 'array'"),
        (zoho("POST", "/crm/v8/Notes", json={"data": [{"Note_Title": "t", "Note_Content": "c",
                                                       "Parent_Id": LEAD}]}),
         "is not of type 'object'"),
        (zoho("POST", "/crm/v8/Notes", json={"data": [{"Note_Title": "t", "Parent_Id": {
            "module": {"api_name": "Leads"}, "id": LEAD}}]}), "'Note_Content' is a required"),
        (zoho("POST", "/crm/v8/Notes", json={"data": [{**NOTE["data"][0], "id": "1"}]}),
         "read-only"),
        (zoho("GET", "/crm/v8/Leads/search?mail=ada%40example.com"), "not declared"),
        (zoho("PATCH", f"/crm/v8/Leads/{LEAD}", json={"data": []}), "no such operation"),
        (zoho("POST", "/crm/v8/Notes", json=NOTE, headers={"Authorization": "Bearer 1000.t"}),
         "Zoho-oauthtoken"),
        (make_request("zoho", "POST", "/oauth/v2/token?grant_type=client_credentials"),
         "grant_type must be refresh_token"),
        (zoho("GET", "/crm/v2/Leads"), "not a Zoho CRM v8 path"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
