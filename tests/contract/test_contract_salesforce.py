"""The Salesforce contract rules: requests a recipe would send pass, and each kind of mistake
the REST API Developer Guide warns about is caught."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.contract.vendor_contract import assert_all_valid, make_request, problems

AUTH = {"Authorization": "Bearer 00D!token"}
V = "/services/data/v62.0"
CONTACT_ID = "0035g0000000001AAA"


def sf(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", AUTH)
    return make_request("salesforce", method, target, **kwargs)


def query(soql: str):
    return sf("GET", f"{V}/query?q={quote(soql)}")


PERSON_SOQL = "SELECT Id FROM Contact WHERE Email = 'a@example.com'"
TASK = {"WhoId": CONTACT_ID, "Subject": "Drift conversation", "Status": "Completed",
        "ActivityDate": "2024-05-01", "Description": "a\nb"}  # fmt: skip
COMPOSITE = {"allOrNone": True, "compositeRequest": [
    {"method": "GET", "referenceId": "person",
     "url": f"{V}/query?q={quote(PERSON_SOQL)}"},
    {"method": "PATCH", "referenceId": "task",
     "url": f"{V}/sobjects/Task/Drift_Conversation_Id__c/42",
     "body": {**TASK, "WhoId": "@{person.records[0].Id}"}},
]}  # fmt: skip

VALID = [
    make_request("salesforce", "POST", "/services/oauth2/token", form={
        "grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}),
    query("SELECT Id FROM Contact WHERE Email = 'ada@example.com' LIMIT 1"),
    query(r"SELECT Id FROM Lead WHERE Email = 'o\'brien@example.com' AND IsConverted = false"),
    sf("POST", f"{V}/sobjects/Lead", json={"LastName": "Lovelace", "Company": "[not provided]",
                                           "Email": "ada@example.com"}),
    sf("PATCH", f"{V}/sobjects/Contact/{CONTACT_ID}", json={"FirstName": "Ada"}),
    sf("PATCH", f"{V}/sobjects/Task/Drift_Conversation_Id__c/42", json=TASK),
    sf("DELETE", f"{V}/sobjects/Lead/00Q5g0000000001AAA"),
    sf("POST", f"{V}/composite", json=COMPOSITE),
    sf("PATCH", f"{V}/composite/sobjects/Task/Drift_Conversation_Id__c", json={"records": [
        {"attributes": {"type": "Task"}, "Drift_Conversation_Id__c": "42", **TASK}]}),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


def _composite_with(**changes):
    body = {**COMPOSITE, "compositeRequest": [dict(s) for s in COMPOSITE["compositeRequest"]]}
    body["compositeRequest"][1].update(changes)
    return sf("POST", f"{V}/composite", json=body)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (make_request("salesforce", "POST", "/services/oauth2/token?client_secret=s",
                      form={"grant_type": "client_credentials", "client_id": "c"}),
         "client_secret is in the URL"),
        (make_request("salesforce", "POST", "/services/oauth2/token", json={
            "grant_type": "client_credentials"}), "form-urlencoded"),
        (query("SELECT Id FROM Contact WHERE Email = 'o'brien@example.com'"),
         "cannot be read"),
        (query("SELECT Id FROM Contact WHERE Email = 'ada@example.com"), "not closed"),
        (query("UPDATE Contact SET Email = 'a@example.com'"), "SELECT <fields> FROM"),
        (query("SELECT Id FROM Contact LIMIT 1 WHERE Email = 'a'"), "out of order"),
        (query("SELECT Id FROM Contact WHERE Email = :email"), "bind variable"),
        (sf("GET", f"{V}/query"), "exactly one q"),
        (sf("POST", f"{V}/sobjects/Lead", json={"LastName": "L"}), "needs Company"),
        (sf("POST", f"{V}/sobjects/Contact", json={"Email": "a@example.com"}), "needs LastName"),
        (sf("POST", f"{V}/sobjects/Contact", json={"LastName": "L", "Emial": "x"}),
         "no standard field Emial"),
        (sf("POST", f"{V}/sobjects/Contact", json={"LastName": "L", "Name": "x"}),
         "read-only"),
        (sf("PATCH", f"{V}/sobjects/Task/Drift_Conversation_Id__c/42", json={
            **TASK, "ActivityDate": "2024-05-01T10:00:00Z"}), "YYYY-MM-DD"),
        (sf("PATCH", f"{V}/sobjects/Task/Drift_Conversation_Id__c/42", json={
            **TASK, "Description": "x" * 32_001}), "at most 32000"),
        (sf("PATCH", f"{V}/sobjects/Task/Drift_Conversation_Id__c/42", json={
            **TASK, "Status": "Done"}), "Task.Status"),
        (sf("PATCH", f"{V}/sobjects/Task/Drift_Conversation_Id__c/42", json={
            **TASK, "WhoId": "ada@example.com"}), "not a record id"),
        (sf("PATCH", f"{V}/sobjects/Task/Subject/42", json=TASK), "cannot be an external id"),
        (sf("PATCH", f"{V}/sobjects/Contact/123", json={}), "not a 15- or 18-character"),
        (sf("POST", f"{V}/sobjects/Lead", body=b"LastName=x", headers={
            **AUTH, "Content-Type": "application/x-www-form-urlencoded"}),
         "Content-Type: application/json"),
        (sf("POST", f"{V}/sobjects/Lead", json={"LastName": "L", "Company": "C"}, headers={}),
         "Authorization: Bearer"),
        (_composite_with(referenceId="task-1"), "letters, digits and underscores"),
        (_composite_with(method="patch"), "upper case"),
        (_composite_with(url="/services/data/v61.0/sobjects/Task/Drift_Conversation_Id__c/4"),
         "uses v61.0"),
        (_composite_with(body={**TASK, "WhoId": "@{lead.id}"}), "not an earlier subrequest"),
        (_composite_with(url="/sobjects/Task"), "must start with /services/data"),
        (sf("POST", f"{V}/composite", json={"compositeRequest": [
            {"method": "GET", "referenceId": f"r{n}", "url": f"{V}/query?q=SELECT+Id+FROM+Lead"}
            for n in range(26)]}), "1 to 25"),
        (sf("POST", f"{V}/composite/sobjects", json={"records": [{"LastName": "x"}]}),
         "attributes.type"),
        (sf("GET", "/services/apexrest/x"), "not a Salesforce REST path"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
