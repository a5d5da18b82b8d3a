"""The Pipedrive stand-in over real loopback HTTP: persons (v2 and v1), exact e-mail search,
notes, soft deletion, Pipedrive's ``success``/``data`` envelope and errors, the API token and
the faults. Its own traffic, and its answers, match Pipedrive's published description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devtools.vendors.pipedrive import PipedriveStandIn
from tests.contract.vendor_contract import assert_all_valid

API_TOKEN = "pipedrive-test-token"
AUTH = {"x-api-token": API_TOKEN}
TIMEOUT = 10


@pytest.fixture
def pipedrive() -> Iterator[PipedriveStandIn]:
    with PipedriveStandIn(api_token=API_TOKEN) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def search(http, pipedrive, term: str, **params) -> requests.Response:
    query = {"term": term, "fields": "email", "exact_match": "true", **params}
    return http.get(f"{pipedrive.url}/api/v2/persons/search", params=query, headers=AUTH,
                    timeout=TIMEOUT)  # fmt: skip


def create_person(http, pipedrive, email: str, name: str = "Ada Lovelace") -> requests.Response:
    return http.post(f"{pipedrive.url}/api/v2/persons", json={
        "name": name, "emails": [{"value": email, "primary": True, "label": "work"}]},
        headers=AUTH, timeout=TIMEOUT)  # fmt: skip


def test_create_person_and_find_it_by_exact_email(pipedrive, http) -> None:
    # GIVEN a person created with v2
    created = create_person(http, pipedrive, "ada@example.com")
    assert created.status_code == 200
    assert created.json()["success"] is True
    person_id = created.json()["data"]["id"]
    # WHEN searching by e-mail, exactly, in another case, and by a part of it
    exact = search(http, pipedrive, "ADA@example.com")
    partial = search(http, pipedrive, "ada@", exact_match="false")
    nothing = search(http, pipedrive, "ada@exam")
    # THEN the exact search finds it once, the partial one too, the exact partial not
    [item] = exact.json()["data"]["items"]
    assert item["item"]["id"] == person_id
    assert item["item"]["emails"] == ["ada@example.com"]
    assert exact.json()["additional_data"] == {"next_cursor": None}
    assert len(partial.json()["data"]["items"]) == 1
    assert nothing.json()["data"]["items"] == []


def test_emails_are_not_unique_in_pipedrive(pipedrive, http) -> None:
    create_person(http, pipedrive, "ada@example.com")
    create_person(http, pipedrive, "ada@example.com")
    assert pipedrive.count_persons() == 2  # what a recipe must avoid: search before create
    assert len(pipedrive.persons_by_email("ada@example.com")) == 2


def test_search_pages_by_cursor(pipedrive, http) -> None:
    for n in range(3):
        pipedrive.add_person({"name": f"P{n}", "emails": [{"value": f"p{n}@example.com"}]})
    first = http.get(f"{pipedrive.url}/api/v2/persons/search", params={
        "term": "example", "limit": 2}, headers=AUTH, timeout=TIMEOUT).json()  # fmt: skip
    cursor = first["additional_data"]["next_cursor"]
    second = http.get(f"{pipedrive.url}/api/v2/persons/search", params={
        "term": "example", "limit": 2, "cursor": cursor}, headers=AUTH,
        timeout=TIMEOUT).json()  # fmt: skip
    assert (len(first["data"]["items"]), len(second["data"]["items"])) == (2, 1)
    assert second["additional_data"]["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "status"),
    [({"term": "a", "exact_match": "false"}, 400), ({"term": "a"}, 200),
     ({"term": "ada", "fields": "mail"}, 400), ({"term": "ada", "limit": "0"}, 400)],
)  # fmt: skip
def test_search_parameters_are_checked(pipedrive, http, params, status) -> None:
    answer = http.get(f"{pipedrive.url}/api/v2/persons/search", params={
        "exact_match": "true", **params}, headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == status
    assert answer.json()["success"] is (status == 200)


def test_person_validation(pipedrive, http) -> None:
    no_name = http.post(f"{pipedrive.url}/api/v2/persons", json={"emails": []}, headers=AUTH,
                        timeout=TIMEOUT)  # fmt: skip
    v1_field = http.post(f"{pipedrive.url}/api/v2/persons", json={"name": "A", "email": "a@b.co"},
                         headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    bad_emails = http.post(f"{pipedrive.url}/api/v2/persons", json={"name": "A", "emails": "x"},
                           headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    for answer in (no_name, v1_field, bad_emails):
        assert answer.status_code == 400
        body = answer.json()
        assert (body["success"], body["data"]) == (False, None)
        assert body["error"]
    assert pipedrive.count_persons() == 0


def test_update_and_delete_person(pipedrive, http) -> None:
    person_id = pipedrive.add_person({"name": "Ada", "emails": [{"value": "ada@example.com"}]})
    patched = http.patch(f"{pipedrive.url}/api/v2/persons/{person_id}", json={
        "name": "Ada Lovelace"}, headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    deleted = http.delete(f"{pipedrive.url}/api/v2/persons/{person_id}", headers=AUTH,
                          timeout=TIMEOUT)  # fmt: skip
    again = http.delete(f"{pipedrive.url}/api/v2/persons/{person_id}", headers=AUTH,
                        timeout=TIMEOUT)  # fmt: skip
    assert patched.json()["data"]["name"] == "Ada Lovelace"
    assert deleted.json() == {"success": True, "data": {"id": person_id}}
    assert again.status_code == 404
    assert pipedrive.count_persons() == 0
    assert [p["id"] for p in pipedrive.deleted_persons()] == [person_id]
    assert search(http, pipedrive, "ada@example.com").json()["data"]["items"] == []


def test_v1_person_routes(pipedrive, http) -> None:
    created = http.post(f"{pipedrive.url}/v1/persons", json={"name": "Grace",
                        "email": ["grace@example.com"]}, headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    assert created.status_code == 201
    person = created.json()["data"]
    assert person["email"][0]["value"] == "grace@example.com"
    found = http.get(f"{pipedrive.url}/api/v1/persons/search", params={
        "term": "grace@example.com", "fields": "email", "exact_match": "true"},
        headers=AUTH, timeout=TIMEOUT).json()  # fmt: skip
    assert found["data"]["items"][0]["item"]["id"] == person["id"]
    assert found["additional_data"]["pagination"]["more_items_in_collection"] is False


def test_note_for_person_created_updated_listed(pipedrive, http) -> None:
    person_id = pipedrive.add_person({"name": "Ada", "emails": [{"value": "ada@example.com"}]})
    created = http.post(f"{pipedrive.url}/v1/notes", json={
        "content": "Visitor: hi<br>Agent: hello", "person_id": person_id}, headers=AUTH,
        timeout=TIMEOUT)  # fmt: skip
    note_id = created.json()["data"]["id"]
    updated = http.put(f"{pipedrive.url}/v1/notes/{note_id}", json={"content": "<p>more</p>"},
                       headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    listed = http.get(f"{pipedrive.url}/v1/notes", params={"person_id": person_id},
                      headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    assert created.json()["data"]["person"] == {"name": "Ada"}
    assert updated.json()["data"]["content"] == "<p>more</p>"
    assert [n["id"] for n in listed.json()["data"]] == [note_id]
    [note] = pipedrive.notes_for_person(person_id)
    assert note["content"] == "<p>more</p>"


@pytest.mark.parametrize(
    "body",
    [{"person_id": 1}, {"content": "x"}, {"content": "x", "person_id": 999},
     {"content": "x", "person_id": 1, "colour": "red"}],
)  # fmt: skip
def test_note_validation(pipedrive, http, body) -> None:
    pipedrive.add_person({"name": "Ada"})  # id 101, not 1
    answer = http.post(f"{pipedrive.url}/v1/notes", json=body, headers=AUTH, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert pipedrive.count_activities() == 0


def test_token_in_header_or_query_else_401(pipedrive, http) -> None:
    url = f"{pipedrive.url}/api/v2/persons/search"
    assert http.get(url, params={"term": "ada"}, headers=AUTH, timeout=TIMEOUT).ok
    assert http.get(url, params={"term": "ada", "api_token": API_TOKEN}, timeout=TIMEOUT).ok
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": f"Bearer {API_TOKEN}"}):
        answer = http.get(url, params={"term": "ada"}, headers=headers, timeout=TIMEOUT)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized access"


def test_rate_limit_is_429_with_retry_after(pipedrive, http) -> None:
    pipedrive.rate_limit(times=1, retry_after=2)
    limited = create_person(http, pipedrive, "ada@example.com")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["success"] is False
    assert pipedrive.count_persons() == 0
    assert create_person(http, pipedrive, "ada@example.com").ok


def test_lost_answer_then_a_blind_retry_duplicates(pipedrive, http) -> None:
    # GIVEN the answer to a person create is lost after Pipedrive wrote it
    pipedrive.lose_answer(endpoint="persons.create")
    with pytest.raises(requests.ConnectionError):
        create_person(http, pipedrive, "ada@example.com")
    # WHEN a client retries without searching
    create_person(http, pipedrive, "ada@example.com")
    # THEN there are two persons: exactly the failure a repeat-safe recipe avoids
    assert pipedrive.count_persons() == 2
    assert pipedrive.calls("persons.create")[0].lost_status == 200


def test_recipe_shaped_traffic_and_answers_match_pipedrives_description(pipedrive, http) -> None:
    # GIVEN the calls a Pipedrive recipe makes for a new visitor's conversation and a GDPR request
    assert search(http, pipedrive, "ada@example.com").json()["data"]["items"] == []
    person_id = create_person(http, pipedrive, "ada@example.com").json()["data"]["id"]
    note = http.post(f"{pipedrive.url}/v1/notes", json={"content": "a<br>b",
                     "person_id": person_id}, headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    http.put(f"{pipedrive.url}/v1/notes/{note.json()['data']['id']}", json={"content": "c"},
             headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    http.patch(f"{pipedrive.url}/api/v2/persons/{person_id}", json={"name": "Ada L"},
               headers=AUTH, timeout=TIMEOUT)  # fmt: skip
    http.delete(f"{pipedrive.url}/api/v2/persons/{person_id}", headers=AUTH, timeout=TIMEOUT)
    # THEN every request conforms to Pipedrive's OpenAPI description
    assert all(r.status == 200 for r in pipedrive.requests)
    assert_all_valid(pipedrive.requests)


def test_stand_in_answers_match_pipedrives_response_schemas(pipedrive, http) -> None:
    # GIVEN Pipedrive's own response schemas
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    from tests.contract.pipedrive_contract import _spec

    _, v2 = _spec("v2")
    _, v1 = _spec("v1")
    # WHEN the stand-in answers a search, a person create and a note create
    person = create_person(http, pipedrive, "ada@example.com")
    create_person(http, pipedrive, "grace@example.com")
    # (a page with a next page: the description types next_cursor as a string, though its own
    # prose says it is null on the last page, which is what the stand-in sends then)
    found = search(http, pipedrive, "example.com", exact_match="false", limit=1)
    assert found.json()["additional_data"]["next_cursor"]
    note = http.post(f"{pipedrive.url}/v1/notes", json={"content": "x",
                     "person_id": person.json()["data"]["id"]}, headers=AUTH,
                     timeout=TIMEOUT)  # fmt: skip
    # THEN each answer validates against the response schema of its operation
    for api, answer in ((v2, person), (v2, found), (v1, note)):
        prepared = answer.request.copy()
        prepared.url = prepared.url.replace(pipedrive.url, "https://api.pipedrive.com")
        api.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(answer))
