"""The Zoho recipe end to end on the local stack (webhook, Pub/Sub emulator, worker with its
ledger in the Firestore emulator, Drift simulator) against the Zoho CRM v8 stand-in: the cases
of ``harness.VendorCases``, then every request the stand-in received validated against Zoho's
own OpenAPI files (tests/contract/zoho_contract.py, cross-file references rewritten)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import ZohoStandIn
from tests.e2e_vendors.harness import VendorCases, all_requests_conform, start_stack

pytestmark = [pytest.mark.emulator, pytest.mark.stack, pytest.mark.timeout(240)]
CLIENT_ID, CLIENT_SECRET, REFRESH = "1000.E2ECLIENT", "e2e-zoho-secret-5c1", "1000.e2e.refresh.77"


@pytest.fixture(scope="module")
def standin() -> Iterator[ZohoStandIn]:
    with ZohoStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                     refresh_token=REFRESH) as zoho:  # fmt: skip
        yield zoho


@pytest.fixture(scope="module")
def stack(emulator, firestore_emulator, standin) -> Iterator[Any]:
    yield from start_stack(emulator, {
        "CRM_RECIPE": "zoho",
        "CRM_BASE_URL": standin.url,
        "CRM_OAUTH_TOKEN_URL": f"{standin.url}/oauth/v2/token",
        "CRM_OAUTH_CLIENT_ID": CLIENT_ID,
        "CRM_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "CRM_OAUTH_REFRESH_TOKEN": REFRESH,
    })  # fmt: skip


@pytest.fixture(autouse=True)
def _each_test(stack, standin) -> Iterator[None]:
    standin.clear_faults()
    standin.reset_counts()
    yield
    all_requests_conform(standin)
    text = stack.logs()
    assert CLIENT_SECRET not in text and REFRESH not in text


class TestZoho(VendorCases):
    token_endpoints = ("oauth.token",)
    create_activity = "notes.create"
    update_activity = "notes.update"
    recovery = "records.notes"

    def persons(self, standin, email):
        return [p for p in standin.persons() if (p.get("Email") or "").lower() == email.lower()]

    def activities(self, standin, email):
        return [n for p in self.persons(standin, email) for n in standin.notes_for(p["id"])]

    def text(self, activity):
        return activity["Note_Content"]

    def add_person(self, standin, email):
        standin.add_record("Contacts", {"Last_Name": "Lovelace", "Email": email})
