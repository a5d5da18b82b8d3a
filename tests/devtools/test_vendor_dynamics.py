"""The Dataverse (Dynamics 365) stand-in over real loopback HTTP: Entra client credentials,
contacts found by emailaddress1, annotations and tasks bound to a contact, PATCH upsert and its
guards, cascade delete, 429 with Retry-After, 401 and lost answers. Its own traffic passes the
Dataverse Web API rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.dynamics import DynamicsStandIn
from tests.contract.vendor_contract import assert_all_valid

TIMEOUT = 10
ODATA = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


@pytest.fixture
def crm() -> Iterator[DynamicsStandIn]:
    with DynamicsStandIn(alternate_keys={"contacts": ["emailaddress1"]}) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def token(http, crm, **changes) -> requests.Response:
    form = {"grant_type": "client_credentials", "client_id": crm.client_id,
            "client_secret": crm.client_secret, "scope": crm.scope, **changes}  # fmt: skip
    return http.post(crm.token_url, data=form, timeout=TIMEOUT)


@pytest.fixture
def auth(http, crm) -> dict:
    return {**ODATA, "Authorization": f"Bearer {token(http, crm).json()['access_token']}"}


def api(crm) -> str:
    return f"{crm.url}/api/data/v9.2"


def find(http, crm, auth, email: str) -> requests.Response:
    return http.get(f"{api(crm)}/contacts", params={
        "$filter": f"emailaddress1 eq '{email}'", "$select": "contactid", "$top": "1"},
        headers=auth, timeout=TIMEOUT)  # fmt: skip


def test_entra_token_and_its_errors(http, crm) -> None:
    good = token(http, crm).json()
    assert (good["token_type"], good["expires_in"]) == ("Bearer", 3599)
    assert good["ext_expires_in"] == 3599
    bad_secret = token(http, crm, client_secret="nope")
    bad_scope = token(http, crm, scope="https://other.crm.dynamics.com/.default")
    wrong_tenant = http.post(f"{crm.url}/someone-else/oauth2/v2.0/token", timeout=TIMEOUT)
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")
    assert "AADSTS90002" in wrong_tenant.json()["error_description"]


def test_create_contact_then_find_it_by_email(http, crm, auth) -> None:
    created = http.post(f"{api(crm)}/contacts", json={"emailaddress1": "ada@example.com",
                        "lastname": "Lovelace"}, headers=auth, timeout=TIMEOUT)  # fmt: skip
    assert created.status_code == 204
    entity_id = created.headers["OData-EntityId"]
    contact_id = entity_id.rsplit("(", 1)[1].rstrip(")")
    found = find(http, crm, auth, "ADA@example.com").json()
    assert found["@odata.context"].endswith("$metadata#contacts(contactid)")
    assert [row["contactid"] for row in found["value"]] == [contact_id]
    assert found["value"][0]["@odata.etag"].startswith('W/"')
    assert find(http, crm, auth, "nobody@example.com").json()["value"] == []


def test_return_representation_is_201_with_the_row(http, crm, auth) -> None:
    created = http.post(f"{api(crm)}/contacts", json={"lastname": "Hopper"}, headers={
        **auth, "Prefer": "return=representation"}, timeout=TIMEOUT)  # fmt: skip
    assert created.status_code == 201
    assert created.json()["fullname"] == "Hopper"


def test_annotation_bound_to_contact_upserted_by_a_chosen_id(http, crm, auth) -> None:
    # GIVEN a contact and a note id derived from the conversation (a recipe's stable key)
    contact_id = crm.add_contact({"emailaddress1": "ada@example.com", "lastname": "Lovelace"})
    note_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "drift:conversation:42"))
    note = {"subject": "Drift conversation", "notetext": "Visitor: hi\nAgent: hello",
            "objectid_contact@odata.bind": f"/contacts({contact_id})"}  # fmt: skip
    # WHEN it is PATCHed twice (an upsert: create, then update)
    first = http.patch(f"{api(crm)}/annotations({note_id})", json=note, headers=auth,
                       timeout=TIMEOUT)  # fmt: skip
    second = http.patch(f"{api(crm)}/annotations({note_id})", json={**note, "notetext": "more"},
                        headers=auth, timeout=TIMEOUT)  # fmt: skip
    # THEN one note exists, linked to the contact, with the latest text
    assert (first.status_code, second.status_code) == (204, 204)
    [stored] = crm.activities_for(contact_id)
    assert (stored["annotationid"], stored["notetext"]) == (note_id, "more")
    assert stored["_objectid_value"] == contact_id


def test_patch_guards_if_match_and_if_none_match(http, crm, auth) -> None:
    missing = str(uuid.uuid4())
    update_only = http.patch(f"{api(crm)}/contacts({missing})", json={"lastname": "X"},
                             headers={**auth, "If-Match": "*"}, timeout=TIMEOUT)  # fmt: skip
    assert update_only.status_code == 404
    contact_id = crm.add_contact({"lastname": "Y"})
    create_only = http.patch(
        f"{api(crm)}/contacts({contact_id})",
        json={"lastname": "X"},
        headers={**auth, "If-None-Match": "*"},
        timeout=TIMEOUT,
    )
    assert create_only.status_code == 412
    assert crm.count_persons() == 1


def test_upsert_by_alternate_key(http, crm, auth) -> None:
    url = f"{api(crm)}/contacts(emailaddress1='grace@example.com')"
    for lastname in ("Hopper", "Hopper-Murray"):
        answer = http.patch(url, json={"lastname": lastname}, headers=auth, timeout=TIMEOUT)
        assert answer.status_code == 204
    assert crm.count_persons() == 1
    assert crm.contact_by_email("grace@example.com")["lastname"] == "Hopper-Murray"
    not_a_key = http.patch(f"{api(crm)}/contacts(lastname='x')", json={}, headers=auth,
                           timeout=TIMEOUT)  # fmt: skip
    assert not_a_key.status_code == 400


@pytest.mark.parametrize(
    ("entity_set", "body", "code"),
    [
        ("contacts", {"email": "a@example.com"}, "0x80060888"),
        ("contacts", {"fullname": "A"}, "0x80048d19"),
        ("tasks", {"subject": "x" * 201}, "0x80044331"),
        ("tasks", {"subject": "x", "statecode": 1, "statuscode": 2}, "0x80040203"),
        ("annotations", {"subject": "x", "objectid_contact@odata.bind": "/contacts(00000000-"
                         "0000-0000-0000-000000000000)"}, "0x80040217"),
        ("annotations", {"subject": "x", "regardingobjectid_contact@odata.bind": "/contacts(1)"},
         "0x80060888"),
    ],
)  # fmt: skip
def test_dataverse_refuses_bad_bodies(http, crm, auth, entity_set, body, code) -> None:
    answer = http.post(f"{api(crm)}/{entity_set}", json=body, headers=auth, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert crm.rows(entity_set) == []


def test_a_completed_task_is_read_only_until_reopened(http, crm, auth) -> None:
    contact_id = crm.add_contact({"lastname": "L"})
    task_id = str(uuid.uuid4())
    done = {"subject": "Drift", "description": "a", "statecode": 1, "statuscode": 5,
            "regardingobjectid_contact@odata.bind": f"/contacts({contact_id})"}  # fmt: skip
    assert http.patch(f"{api(crm)}/tasks({task_id})", json=done, headers=auth,
                      timeout=TIMEOUT).status_code == 204  # fmt: skip
    locked = http.patch(f"{api(crm)}/tasks({task_id})", json={"description": "b"}, headers=auth,
                        timeout=TIMEOUT)  # fmt: skip
    reopened = http.patch(
        f"{api(crm)}/tasks({task_id})",
        json={"statecode": 0, "statuscode": 2, "description": "b"},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert locked.status_code == 400
    assert reopened.status_code == 204


def test_query_refuses_what_it_does_not_read(http, crm, auth) -> None:
    for params in (
        {"$filter": "contains(emailaddress1,'a')"},
        {"$select": "email"},
        {"$filter": "emailaddress1 eq 'unclosed"},
        {"$top": "0"},
        {"top": "1"},
    ):
        answer = http.get(f"{api(crm)}/contacts", params=params, headers=auth, timeout=TIMEOUT)
        assert answer.status_code == 400, params


def test_delete_contact_takes_its_notes_and_tasks(http, crm, auth) -> None:
    contact_id = crm.add_contact({"lastname": "L", "emailaddress1": "a@example.com"})
    http.post(f"{api(crm)}/annotations", json={"notetext": "x", "objectid_contact@odata.bind":
              f"/contacts({contact_id})"}, headers=auth, timeout=TIMEOUT)  # fmt: skip
    gone = http.delete(f"{api(crm)}/contacts({contact_id})", headers=auth, timeout=TIMEOUT)
    again = http.delete(f"{api(crm)}/contacts({contact_id})", headers=auth, timeout=TIMEOUT)
    assert (gone.status_code, again.status_code) == (204, 404)
    assert (crm.count_persons(), crm.count_activities()) == (0, 0)


def test_expired_token_is_401_with_challenge(http, crm, auth) -> None:
    crm.expire_token()
    stale = find(http, crm, auth, "a@example.com")
    assert stale.status_code == 401
    assert stale.headers["WWW-Authenticate"].startswith("Bearer error=invalid_token")
    fresh = {**ODATA, "Authorization": f"Bearer {token(http, crm).json()['access_token']}"}
    assert find(http, crm, fresh, "a@example.com").status_code == 200


def test_rate_limit_429_retry_after_and_lost_answer(http, crm, auth) -> None:
    crm.rate_limit(times=1, retry_after=7)
    limited = find(http, crm, auth, "a@example.com")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert limited.json()["error"]["code"] == "0x80072322"
    crm.lose_answer(endpoint="contacts.create")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{api(crm)}/contacts", json={"lastname": "L"}, headers=auth, timeout=TIMEOUT)
    assert crm.count_persons() == 1


def test_recipe_shaped_traffic_passes_the_dataverse_rules(http, crm, auth) -> None:
    assert find(http, crm, auth, "ada@example.com").json()["value"] == []
    created = http.post(f"{api(crm)}/contacts", json={"emailaddress1": "ada@example.com",
                        "lastname": "Lovelace"}, headers=auth, timeout=TIMEOUT)  # fmt: skip
    contact_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    note_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "drift:conversation:42"))
    http.patch(f"{api(crm)}/annotations({note_id})", json={
        "subject": "Drift conversation", "notetext": "a\nb",
        "objectid_contact@odata.bind": f"/contacts({contact_id})"}, headers=auth,
        timeout=TIMEOUT)  # fmt: skip
    http.delete(f"{api(crm)}/contacts({contact_id})", headers=auth, timeout=TIMEOUT)
    assert all(r.status in (200, 204) for r in crm.requests)
    assert_all_valid(crm.requests)
