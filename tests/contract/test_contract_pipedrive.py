"""The Pipedrive contract check: requests a recipe would send pass, and each kind of mistake is
caught against Pipedrive's own OpenAPI files (or the header rule the description states)."""

from __future__ import annotations

import pytest

from tests.contract.vendor_contract import assert_all_valid, make_request, problems

AUTH = {"x-api-token": "token"}


def pipedrive(method: str, target: str, **kwargs):
    kwargs.setdefault("headers", AUTH)
    return make_request("pipedrive", method, target, **kwargs)


VALID = [
    pipedrive("GET", "/api/v2/persons/search?term=ada%40example.com&fields=email&exact_match=true"),
    pipedrive("POST", "/api/v2/persons", json={
        "name": "Ada Lovelace", "emails": [{"value": "ada@example.com", "primary": True}]}),
    pipedrive("PATCH", "/api/v2/persons/101", json={"name": "Ada"}),
    pipedrive("DELETE", "/api/v2/persons/101"),
    pipedrive("POST", "/v1/notes", json={"content": "a<br>b", "person_id": 101}),
    pipedrive("PUT", "/api/v1/notes/5001", json={"content": "c"}),
    pipedrive("GET", "/v1/notes?person_id=101"),
]  # fmt: skip


def test_requests_a_recipe_sends_conform() -> None:
    assert_all_valid(VALID)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (pipedrive("GET", "/api/v2/persons/search?term=a&fields=mail"), "'mail' is not one of"),
        (pipedrive("GET", "/api/v2/persons/search?fields=email"), "term"),
        (pipedrive("GET", "/api/v2/persons/search?term=ada&exact=true"), "not declared"),
        (pipedrive("POST", "/api/v2/persons", json={"name": "A", "email": "a@example.com"}),
         "'email' was unexpected"),
        (pipedrive("POST", "/api/v2/persons", json={"name": "A", "emails": ["a@example.com"]}),
         "is not of type 'object'"),
        (pipedrive("PATCH", "/api/v2/persons/abc", json={"name": "A"}), "id"),
        (pipedrive("POST", "/v1/notes", json={"person_id": 101}), "'content' is a required"),
        (pipedrive("POST", "/v1/notes", json={"content": "x", "person_id": "101x"}),
         "is not of type 'integer'"),
        (pipedrive("POST", "/v1/persons", json={"name": "A"}), "no such operation"),
        (pipedrive("GET", "/api/v2/persons/search?term=ada&api_token=t", headers={}),
         "x-api-token"),
        (pipedrive("GET", "/api/v2/persons/search?term=ada", headers={}), "no x-api-token"),
        (pipedrive("GET", "/persons/search?term=ada"), "not a Pipedrive API path"),
    ],
)  # fmt: skip
def test_mistakes_are_caught(request_, expected) -> None:
    found = problems(request_)
    assert any(expected in p for p in found), found
    with pytest.raises(AssertionError, match="contract problem"):
        assert_all_valid([request_])
