"""The Marketo contract check against Adobe's Swagger 2.0 files, validated directly: requests a
recipe would send pass, and each kind of mistake is caught."""

from __future__ import annotations

import pytest

from tests.contract.vendor_contract import assert_all_valid, make_request, problems

AUTH = {"Authorization": "Bearer standin-marketo-1:ab"}
OBJECT = "/rest/v1/customobjects/driftConversation_c.json"


def mkto(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", AUTH)
    return make_request("marketo", method, target, **kwargs)


VALID = [
    make_request("marketo", "GET", "/identity/oauth/token?grant_type=client_credentials&"
                 "client_id=c&client_secret=s"),
    mkto("POST", "/rest/v1/leads.json", json={"action": "createOrUpdate", "lookupField": "email",
                                              "input": [{"email": "ada@example.com"}]}),
    mkto("GET", "/rest/v1/leads.json?filterType=email&filterValues=ada%40example.com&"
         "fields=id,email&batchSize=1"),
    mkto("POST", OBJECT, json={"action": "createOrUpdate", "dedupeBy": "dedupeFields",
                               "input": [{"conversationId": "42", "leadID": 1001,
                                          "transcript": "a\nb"}]}),
    mkto("POST", "/rest/v1/activities/external.json", json={"input": [{
        "leadId": 1001, "activityDate": "2024-05-01T10:00:00Z", "activityTypeId": 100001,
        "primaryAttributeValue": "42", "attributes": [{"apiName": "transcript", "value": "a"}]}]}),
    mkto("POST", "/rest/v1/leads/delete.json", json={"input": [{"id": 1001}]}),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (mkto("POST", "/rest/v1/leads.json", json={"action": "upsert", "input": []}),
         "'upsert' is not one of"),
        (mkto("POST", "/rest/v1/leads.json", json={"input": {"email": "a@example.com"}}),
         "is not of type 'array'"),
        (mkto("POST", "/rest/v1/leads.json", json={"lookupfield": "email", "input": []}),
         "Additional properties are not allowed"),
        (mkto("POST", "/rest/v1/leads.json", json={"action": "createOrUpdate"}),
         "'input' is a required property"),
        (mkto("GET", "/rest/v1/leads.json?filterValues=a"), "filterType is missing"),
        (mkto("GET", "/rest/v1/leads.json?filterType=email&filterValues=a&batchSize=ten"),
         "batchSize must be an integer"),
        (mkto("GET", "/rest/v1/leads.json?filterType=email&filterValues=a&colour=red"),
         "colour is not declared"),
        (mkto("POST", OBJECT, json={"dedupeBy": "email", "input": [], "action": "merge"}),
         "'merge' is not one of"),
        (mkto("POST", "/rest/v1/activities/external.json", json={"input": [{
            "leadId": 1001, "activityDate": "2024-05-01", "primaryAttributeValue": "42",
            "attributes": []}]}), "'activityTypeId' is a required property"),
        (mkto("POST", "/rest/v1/activities/external.json", json={"input": [{
            "leadId": 1001, "activityDate": "2024", "activityTypeId": 1,
            "primaryAttributeValue": "42", "attributes": [{"value": "a"}]}]}), "is not valid"),
        (mkto("POST", "/rest/v1/leads.json", json={"input": []}, headers={}), "Bearer"),
        (mkto("GET", "/rest/v1/leads.json?filterType=email&filterValues=a&access_token=t"),
         "access_token is in the URL"),
        (mkto("POST", "/rest/v1/leads.json", body=b"{}", headers={
            **AUTH, "Content-Type": "text/plain"}), "Content-Type text/plain"),
        (mkto("POST", "/rest/v1/lead.json", json={"input": []}), "no such operation"),
        (make_request("marketo", "GET", "/identity/oauth/token?grant_type=password&"
                      "client_id=c&client_secret=s"), "grant_type must be one of"),
        (make_request("marketo", "GET", "/identity/oauth/token?grant_type=client_credentials"),
         "client_id is missing"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
