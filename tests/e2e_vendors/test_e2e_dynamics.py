"""The Dynamics 365 recipe end to end on the local stack (webhook, Pub/Sub emulator, worker with
its ledger in the Firestore emulator, Drift simulator) against the Dataverse Web API and Entra ID
stand-in: the cases of ``harness.VendorCases``, then every request the stand-in received checked
against the Dataverse Web API documentation. Dataverse publishes no static description of its
API (only each environment's OData $metadata), so the rules are hand-written in
tests/contract/dynamics_contract.py from these pages:

- https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
- https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
- https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
- https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/annotation
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import DynamicsStandIn
from tests.e2e_vendors.harness import VendorCases, all_requests_conform, start_stack

pytestmark = [pytest.mark.emulator, pytest.mark.stack, pytest.mark.timeout(240)]
TENANT = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
CLIENT_ID, CLIENT_SECRET = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a", "e2e-entra-secret-4d2"


@pytest.fixture(scope="module")
def standin() -> Iterator[DynamicsStandIn]:
    with DynamicsStandIn(tenant=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as crm:
        yield crm


@pytest.fixture(scope="module")
def stack(emulator, firestore_emulator, standin) -> Iterator[Any]:
    yield from start_stack(emulator, {
        "CRM_RECIPE": "dynamics",
        "CRM_BASE_URL": standin.url,
        "CRM_OAUTH_TOKEN_URL": standin.token_url,
        "CRM_OAUTH_SCOPE": standin.scope,
        "CRM_OAUTH_CLIENT_ID": CLIENT_ID,
        "CRM_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
    })  # fmt: skip


@pytest.fixture(autouse=True)
def _each_test(stack, standin) -> Iterator[None]:
    standin.clear_faults()
    standin.reset_counts()
    yield
    all_requests_conform(standin)
    assert CLIENT_SECRET not in stack.logs()


class TestDynamics(VendorCases):
    token_endpoints = ("oauth.token",)
    create_activity = "annotations.create"
    update_activity = "annotations.update"
    recovery = "annotations.query"

    def persons(self, standin, email):
        return [c for c in standin.contacts()
                if (c.get("emailaddress1") or "").lower() == email.lower()]  # fmt: skip

    def activities(self, standin, email):
        return [a for c in self.persons(standin, email)
                for a in standin.activities_for(c["contactid"])]  # fmt: skip

    def text(self, activity):
        return activity["notetext"]

    def add_person(self, standin, email):
        standin.add_contact({"emailaddress1": email, "lastname": "Lovelace"})
