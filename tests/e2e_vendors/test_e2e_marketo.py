"""The Marketo recipe end to end on the local stack (webhook, Pub/Sub emulator, worker with its
ledger in the Firestore emulator, Drift simulator) against the Marketo Engage stand-in: the
cases of ``harness.VendorCases`` (the conversation is a driftConversation_c custom object
record, deduplicated on conversationId), then every request the stand-in received validated
against Adobe's Swagger 2.0 files (tests/contract/marketo_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.vendors import MarketoStandIn
from devtools.vendors.marketo import QUOTA
from tests.e2e_vendors.harness import (
    VendorCases,
    Visitor,
    all_requests_conform,
    logged,
    push,
    start_stack,
    transcript,
    wait_for,
)

pytestmark = [pytest.mark.emulator, pytest.mark.stack, pytest.mark.timeout(240)]
CLIENT_ID, CLIENT_SECRET = "e2e-marketo-client", "e2e-marketo-secret-8b7"


@pytest.fixture(scope="module")
def standin() -> Iterator[MarketoStandIn]:
    with MarketoStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as marketo:
        yield marketo


@pytest.fixture(scope="module")
def stack(emulator, firestore_emulator, standin) -> Iterator[Any]:
    yield from start_stack(emulator, {
        "CRM_RECIPE": "marketo",
        "CRM_BASE_URL": standin.url,
        "CRM_OAUTH_TOKEN_URL": f"{standin.url}/identity/oauth/token",
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


class TestMarketo(VendorCases):
    token_endpoints = ("identity.token", "identity.token_post")
    create_activity = "customobjects.sync"
    update_activity = "customobjects.sync"
    recovery = None  # createOrUpdate on the dedupe field: the retry sends the upsert again

    def persons(self, standin, email):
        return [lead for lead in standin.leads()
                if (lead.get("email") or "").lower() == email.lower()]  # fmt: skip

    def activities(self, standin, email):
        ids = {lead["id"] for lead in self.persons(standin, email)}
        return [r for r in standin.custom_object_records() if r.get("leadID") in ids]

    def text(self, activity):
        return activity["transcript"]

    def add_person(self, standin, email):
        standin.add_lead({"email": email, "lastName": "Lovelace"})

    def test_daily_quota_is_retried_later_not_dead_lettered(self, stack, standin):
        # GIVEN Marketo answers 607 (daily quota) once
        standin.add_fault(QUOTA, endpoint="leads.sync")
        visitor = Visitor(stack, "quota.visitor@example.com")
        text = transcript("Visitor: quota?")
        conversation_id = visitor.conversation(text)
        push(stack, conversation_id)
        # THEN the event failed transiently, naming the quota, and was delivered on redelivery
        line = wait_for(
            lambda: logged(
                stack, "event failed, Pub/Sub will redeliver it", conversation_id=conversation_id
            ),
            "the transient failure",
        )
        assert "daily quota reached" in line["reason"]
        wait_for(self.delivered(standin, visitor.email, text), "delivery after the quota")
        self.exactly_one_of_each(standin, visitor.email, text)
