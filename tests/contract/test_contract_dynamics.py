"""The Dataverse contract rules: requests a recipe would send pass, and each kind of mistake the
Web API documentation warns about is caught."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.contract.vendor_contract import assert_all_valid, make_request, problems

HEADERS = {"Authorization": "Bearer eyJ0", "Accept": "application/json",
           "OData-MaxVersion": "4.0", "OData-Version": "4.0"}  # fmt: skip
API = "/api/data/v9.2"
CONTACT = "a77de9fa-d5a1-4656-8c91-0e92deaf6af2"
NOTE = "0b6c1f4e-1d2e-5f00-8000-000000000001"
BIND = f"/contacts({CONTACT})"


def dyn(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", HEADERS)
    return make_request("dynamics", method, target, **kwargs)


def token(**form):
    return make_request("dynamics", "POST", "/tenant-id/oauth2/v2.0/token", form={
        "grant_type": "client_credentials", "client_id": "c", "client_secret": "s",
        "scope": "https://org.crm.dynamics.com/.default", **form})  # fmt: skip


VALID = [
    token(),
    dyn("GET", f"{API}/contacts?$filter=" + quote("emailaddress1 eq 'o''brien@example.com'")
        + "&$select=contactid&$top=1"),
    dyn("POST", f"{API}/contacts", json={"emailaddress1": "ada@example.com", "lastname": "L"}),
    dyn("PATCH", f"{API}/contacts(emailaddress1='ada@example.com')", json={"lastname": "L"}),
    dyn("PATCH", f"{API}/annotations({NOTE})", json={
        "subject": "Drift", "notetext": "a\nb", "objectid_contact@odata.bind": BIND}),
    dyn("POST", f"{API}/tasks", json={"subject": "Drift", "statecode": 1, "statuscode": 5,
                                      "regardingobjectid_contact@odata.bind": BIND}),
    dyn("GET", f"{API}/annotations?$filter=" + quote(f"_objectid_value eq {CONTACT}")),
    dyn("DELETE", f"{API}/contacts({CONTACT})"),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (token(scope="https://org.crm.dynamics.com"), "/.default"),
        (token(grant_type="password"), "client_credentials"),
        (make_request("dynamics", "POST", "/t/oauth2/v2.0/token?client_secret=s", form={
            "grant_type": "client_credentials", "client_id": "c",
            "scope": "https://o.crm.dynamics.com/.default"}), "client_secret is in the URL"),
        (dyn("GET", f"{API}/contacts", headers={"Authorization": "Bearer x"}), "OData-Version"),
        (dyn("GET", f"{API}/contacts", headers={**HEADERS, "Authorization": ""}), "Bearer"),
        (dyn("GET", f"{API}/contacts?$filter=" + quote("emailaddress1 eq 'o'brien@example.com'")),
         "unclosed or badly escaped"),
        (dyn("GET", f"{API}/contacts?$filter=" + quote("EmailAddress1 eq 'a@example.com'")),
         "not a column"),
        (dyn("GET", f"{API}/contacts?$select=email"), "not a column of contacts"),
        (dyn("GET", f"{API}/contacts?filter=x"), "not a system query option"),
        (dyn("GET", f"{API}/contacts?$top=zero"), "positive whole number"),
        (dyn("PATCH", f"{API}/contacts(ada@example.com)", json={}), "neither a GUID"),
        (dyn("POST", f"{API}/contacts", json={"EmailAddress1": "a@example.com"}), "lower-case"),
        (dyn("POST", f"{API}/contacts", json={"email": "a@example.com"}), "no column email"),
        (dyn("POST", f"{API}/annotations", json={"objectid_contact@odata.bind": CONTACT}),
         "must be /<entity set>(<id>)"),
        (dyn("POST", f"{API}/annotations", json={"regardingobjectid_contact@odata.bind":
                                                 f"/contacts({CONTACT})"}),
         "not a navigation property"),
        (dyn("POST", f"{API}/annotations", json={"_objectid_value": CONTACT}), "read-only"),
        (dyn("POST", f"{API}/tasks", json={"subject": "x" * 201}), "at most 200"),
        (dyn("POST", f"{API}/tasks", json={"statecode": 1, "statuscode": 2}),
         "does not belong to statecode"),
        (dyn("PATCH", f"{API}/contacts", json={}), "PATCH needs a key"),
        (dyn("POST", f"{API}/contacts", body=b"lastname=x", headers={
            **HEADERS, "Content-Type": "application/x-www-form-urlencoded"}), "application/json"),
        (dyn("GET", "/XRMServices/2011/Organization.svc"), "not a Dataverse Web API path"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
