"""The HubSpot contract check against the official SDK: requests a recipe would send pass, and
each kind of mistake (path, query, model field, type, enum, required field, auth) is caught."""

from __future__ import annotations

import pytest

from tests.contract import hubspot_contract
from tests.contract.vendor_contract import assert_all_valid, make_request, problems

AUTH = {"Authorization": "Bearer pat-na1-x"}
NOTE = {
    "properties": {"hs_timestamp": "2024-05-01T10:00:00Z", "hs_note_body": "a<br>b"},
    "associations": [{"to": {"id": "151"}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}],
}  # fmt: skip
SEARCH = {"filterGroups": [{"filters": [
    {"propertyName": "email", "operator": "EQ", "value": "ada@example.com"}]}],
    "properties": ["email"], "limit": 1}  # fmt: skip


def hubspot(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", AUTH)
    return make_request("hubspot", method, target, **kwargs)


VALID = [
    hubspot("POST", "/crm/v3/objects/contacts/search", json=SEARCH),
    hubspot("POST", "/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}}),
    hubspot("POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"idProperty": "email", "id": "a@example.com", "properties": {"firstname": "A"}}]}),
    hubspot("PATCH", "/crm/v3/objects/contacts/151", json={"properties": {"lastname": "L"}}),
    hubspot("PATCH", "/crm/v3/objects/contacts/a%40example.com?idProperty=email",
            json={"properties": {"lastname": "L"}}),
    hubspot("POST", "/crm/v3/objects/notes", json=NOTE),
    hubspot("PATCH", "/crm/v3/objects/notes/48000000001", json={"properties": {
        "hs_note_body": "c"}}),
    hubspot("PUT", "/crm/v4/objects/notes/48000000001/associations/default/contact/151"),
    hubspot("PUT", "/crm/v4/objects/notes/48000000001/associations/contacts/151", json=[
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]),
    hubspot("POST", "/crm/v3/objects/contacts/gdpr-delete", json={
        "objectId": "a@example.com", "idProperty": "email"}),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


def test_operations_come_from_the_sdk() -> None:
    # GIVEN the SDK's API classes
    operation = hubspot_contract.find_operation("POST", "/crm/v3/objects/contacts/batch/upsert")
    # THEN the operation, its body model and its package are the SDK's own
    assert operation is not None
    assert operation.api == "hubspot.crm.contacts.api.batch_api.BatchApi.upsert"
    assert operation.body_type == "BatchInputSimplePublicObjectBatchInputUpsert"
    assert len(hubspot_contract.operations()) > 100


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (hubspot("POST", "/crm/v3/object/contacts", json={"properties": {}}),
         "no operation of the HubSpot SDK"),
        (hubspot("PUT", "/crm/v3/objects/contacts/151", json={"properties": {}}),
         "no operation of the HubSpot SDK"),
        (hubspot("PATCH", "/crm/v3/objects/contacts/1?id_property=email",
                 json={"properties": {}}), "query parameter(s) ['id_property']"),
        (hubspot("POST", "/crm/v3/objects/contacts", json={"props": {"email": "a"}}),
         "has no field 'props'"),
        (hubspot("POST", "/crm/v3/objects/contacts", json={"associations": []}),
         "`properties`, must not be `None`"),
        (hubspot("POST", "/crm/v3/objects/notes", json={**NOTE, "associations": [
            {"to": {"id": "151"}, "types": [{"associationCategory": "HUBSPOT",
                                             "associationTypeId": 202}]}]}),
         "Invalid value for `association_category`"),
        (hubspot("POST", "/crm/v3/objects/notes", json={**NOTE, "associations": [
            {"to": {"id": "151"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                             "associationTypeId": "note_to_contact"}]}]}),
         "expected an integer"),
        (hubspot("POST", "/crm/v3/objects/contacts", json={"properties": {"tags": ["a"]}}),
         "expected a string"),
        (hubspot("POST", "/crm/v3/objects/contacts/search", json={"filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQUALS", "value": "a"}]}]}),
         "Invalid value for `operator`"),
        (hubspot("POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
            {"idProperty": "email", "properties": {}}]}), "`id`, must not be `None`"),
        (hubspot("POST", "/crm/v3/objects/contacts/gdpr-delete", json={"email": "a@b.co"}),
         "has no field 'email'"),
        (hubspot("PUT", "/crm/v3/objects/notes/1/associations/contacts/151/202"),
         "no operation of the HubSpot SDK"),
        (hubspot("POST", "/crm/v3/objects/contacts", json={"properties": {}}, headers={}),
         "Authorization: Bearer"),
        (hubspot("POST", "/crm/v3/objects/contacts", body=b"email=a", headers={
            **AUTH, "Content-Type": "application/x-www-form-urlencoded"}),
         "Content-Type: application/json"),
        (hubspot("POST", "/crm/v3/objects/contacts"), "needs a SimplePublicObjectInputForCreate"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
