"""A customer's own recipe reaching a real CRM: BottleCRM (django-crm on PyPI), which nobody on
this team wrote, on loopback. Drift's webhook -> Pub/Sub -> the worker with
CRM_RECIPE=examples/recipes/bottlecrm.yaml -> BottleCRM's REST API; then BottleCRM's own API
says what it holds: one contact per visitor, one case per conversation holding its transcript,
updated by later pushes, never duplicated by repeats, and the contact gone after a GDPR request.

BottleCRM's server runs in a virtualenv of Python 3.12 (devtools.bottlecrm); these tests are
skipped, saying so, only where no Python 3.12 exists (and fail there instead with
DRIFT_BRIDGE_REQUIRE_BOTTLECRM=1, as in CI).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools._httpbase import BackgroundServer, BaseHandler
from devtools.bottlecrm import BottleCrm, find_python
from devtools.emulator import wait_until
from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig
from samples import drift_seed as seed_data
from shared import deadletter

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "examples" / "recipes" / "bottlecrm.yaml"
TOKEN = "bottlecrm-verification-token-3e1"
PUSH = PushSettings(ack_deadline_seconds=30, retry_policy=False, max_delivery_attempts=5)
# Drift's article prints the visitor's address as Cloudflare's "[email protected]" placeholder,
# which BottleCRM (a Django EmailField) rightly refuses; the visitors here have real-looking ones.
SEED_VISITOR_EMAIL = "gregg.parker@example.com"


# -- a proxy that loses answers -------------------------------------------------------------


class _ProxyHandler(BaseHandler):
    server: Any

    def _dispatch(self) -> None:
        if not self._prepare():
            return
        proxy: LosingProxy = self.server.app
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() in ("authorization", "content-type", "accept")
        }
        answer = requests.request(
            self.command,
            proxy.target + self.path,
            data=self.body or None,
            headers=headers,
            timeout=30,
            allow_redirects=False,
        )
        if proxy.take_loss(self.command, self.route):
            self.drop_connection(reset=False)  # BottleCRM wrote it; the answer never arrives
            return
        self.send_bytes(
            answer.status_code,
            answer.content,
            answer.headers.get("Content-Type", "application/json"),
        )


class LosingProxy(BackgroundServer):
    """Forwards every request to BottleCRM; drops the answers it is told to lose."""

    handler_class = _ProxyHandler
    thread_name = "bottlecrm-proxy"

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self._lock = threading.Lock()
        self._losses: list[tuple[str, str]] = []
        self.lost: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def lose(self, method: str, route: str) -> None:
        """The next answer to ``method route`` is lost after BottleCRM has acted on it."""
        with self._lock:
            self._losses.append((method, route))

    def take_loss(self, method: str, route: str) -> bool:
        with self._lock:
            if (method, route) in self._losses:
                self._losses.remove((method, route))
                self.lost.append((method, route))
                return True
            return False


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BottleCrm]:
    if find_python() is None:
        reason = "BottleCRM (django-crm) runs on Python 3.12, and this machine has none"
        if os.environ.get("DRIFT_BRIDGE_REQUIRE_BOTTLECRM") == "1":
            pytest.fail(f"{reason} (DRIFT_BRIDGE_REQUIRE_BOTTLECRM=1)")
        pytest.skip(reason)
    server = BottleCrm(tmp_path_factory.mktemp("bottlecrm")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(crm: BottleCrm) -> Iterator[LosingProxy]:
    with LosingProxy(crm.url) as running:
        yield running


@pytest.fixture(scope="module")
def stack(emulator, firestore_emulator, crm: BottleCrm, proxy: LosingProxy) -> Iterator[LocalStack]:
    """One stack for the module (every test has visitors and conversations of its own)."""
    suffix = uuid.uuid4().hex[:8]
    config = StackConfig(
        project=emulator.project,
        topic=f"bottlecrm-events-{suffix}",
        dead_letter_topic=f"bottlecrm-dead-{suffix}",
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        push=PUSH,
        worker_env={
            "CRM_RECIPE": str(RECIPE),
            "CRM_BASE_URL": proxy.url,
            "CRM_API_TOKEN": crm.token,
            "DRIFT_RETRY_BUDGET_SECONDS": "3",
            "DRIFT_MAX_ATTEMPTS": "2",
        },
    )
    running = LocalStack(config).start()
    yield running
    running.stop()
    with PubSubAdmin(config.project) as admin:
        admin.delete_subscription(config.push_subscription)
        admin.delete_subscription(config.dead_letter_subscription)
        admin.delete_topic(config.topic)
        admin.delete_topic(config.dead_letter_topic)


# -- helpers -----------------------------------------------------------------------------------

_next_id = iter(range(3_275_800_001, 3_275_900_000))


def add_visit(
    stack: LocalStack,
    email: str,
    *,
    first_name: str = "Gregg",
    conversation_id: int | None = None,
    contact_id: int | None = None,
    transcript: str = seed_data.SAMPLE_TRANSCRIPT,
) -> int:
    """The seed's conversation (its contact, transcript and messages) under new ids, with the
    visitor's email and first name given; the conversation id."""
    conversation = seed_data.sample_conversation()
    contact = seed_data.sample_contact()
    conversation["id"] = conversation_id or next(_next_id)
    if contact_id is not None:
        contact["id"] = contact_id
    conversation["contactId"] = contact["id"]
    contact["attributes"]["email"] = email
    contact["attributes"]["first_name"] = first_name
    stack.simulator.add_conversation(
        conversation,
        contact=contact,
        transcript=transcript,
        messages=seed_data.sample_messages(),
    )
    return conversation["id"]


def push(stack: LocalStack, conversation_id: int, pushed_at: int | None = None) -> None:
    body = seed_data.sample_conversation_push(TOKEN, pushed_at, conversation_id=conversation_id)
    status, _ = stack.send(body)
    assert status == 200


def contacts_with(crm: BottleCrm, email: str) -> list[dict[str, Any]]:
    """BottleCRM's contacts with exactly this email (its own filter matches parts of it)."""
    listed = crm.get("/api/contacts/", {"email": email, "limit": 100})["contact_obj_list"]
    return [c for c in listed if c["email"].lower() == email.lower()]


def cases_of(crm: BottleCrm, conversation_id: int) -> list[dict[str, Any]]:
    name = f"Drift conversation {conversation_id}"
    listed = crm.get("/api/cases/", {"name": name, "limit": 100})["cases"]
    return [c for c in listed if c["name"] == name]


def wait_for_case(
    crm: BottleCrm, conversation_id: int, transcript: str, timeout: float = 90
) -> dict[str, Any]:
    def written() -> dict[str, Any] | None:
        # BottleCRM saves the case, then links its contacts: wait for both.
        found = cases_of(crm, conversation_id)
        done = found and found[0]["description"] == transcript and found[0].get("contacts")
        return found[0] if done else None

    return wait_until(written, timeout, f"BottleCRM's case for conversation {conversation_id}")


def recovered_steps(stack: LocalStack, conversation_id: int) -> set[str]:
    """The steps the worker logged as recovered after a lost answer, for the conversation."""
    found = set()
    for line in stack.logs().splitlines():
        if line.startswith("{") and "recovered after a lost answer" in line:
            entry = json.loads(line)
            if entry.get("conversation_id") == conversation_id:
                found.add(entry["step"])
    return found


def email() -> str:
    return f"visitor-{uuid.uuid4().hex[:10]}@example.com"


# -- tests -------------------------------------------------------------------------------------


def test_seed_conversation_gives_one_contact_and_one_case_with_the_transcript(stack, crm):
    # GIVEN the seed conversation, its visitor with a real address
    conversation_id = add_visit(
        stack,
        SEED_VISITOR_EMAIL,
        conversation_id=seed_data.SAMPLE_CONVERSATION_ID,
        contact_id=seed_data.SAMPLE_CONTACT_ID,
    )
    # WHEN Drift pushes it, twice (a duplicate webhook)
    push(stack, conversation_id)
    push(stack, conversation_id)
    # THEN BottleCRM holds the case with the whole transcript, line breaks kept
    case = wait_for_case(crm, conversation_id, seed_data.SAMPLE_TRANSCRIPT)
    assert case["status"] == "Closed"  # the seed conversation is closed
    assert case["closed_on"] == "2021-09-21"
    assert case["description"].count("\n") == 11
    # AND exactly one contact with that email, made from Drift's contact, linked to the case
    (contact,) = contacts_with(crm, SEED_VISITOR_EMAIL)
    assert (contact["first_name"], contact["last_name"]) == ("Gregg", "Parker")
    assert contact["address"]["city"] == "Boston"
    assert contact["description"] == (
        f"Drift contact {seed_data.SAMPLE_CONTACT_ID}\nOwner, Director\nCamp Waziyatah"
    )
    assert [c["id"] for c in case["contacts"]] == [contact["id"]]
    # AND the duplicate wrote nothing more
    assert len(cases_of(crm, conversation_id)) == 1
    # AND neither the token, the transcript nor the visitor's address reached the logs
    logs = stack.logs()
    assert crm.token not in logs
    assert seed_data.SAMPLE_TRANSCRIPT not in logs
    assert SEED_VISITOR_EMAIL not in logs


def test_later_push_updates_the_case_and_a_new_conversation_adds_one(stack, crm):
    # GIVEN a visitor's conversation delivered once
    address = email()
    first = add_visit(stack, address, first_name="Ines")
    push(stack, first)
    wait_for_case(crm, first, seed_data.SAMPLE_TRANSCRIPT)
    # WHEN the conversation goes on and Drift pushes it again
    longer = seed_data.SAMPLE_TRANSCRIPT + "\nSep 21,\n09: 09: 00 AM PDT Ines: One more thing"
    add_visit(stack, address, first_name="Ines", conversation_id=first, transcript=longer)
    push(stack, first, pushed_at=seed_data.SAMPLE_PUSHED_AT + 60_000)
    # THEN the same case now holds the longer transcript: updated, not duplicated
    updated = wait_for_case(crm, first, longer)
    assert len(cases_of(crm, first)) == 1
    # WHEN the same visitor (same email, same Drift contact) starts a new conversation
    second = add_visit(stack, address, first_name="Ines")
    push(stack, second)
    # THEN it is a second case, linked to the same single contact
    new_case = wait_for_case(crm, second, seed_data.SAMPLE_TRANSCRIPT)
    (contact,) = contacts_with(crm, address)
    assert [c["id"] for c in updated["contacts"]] == [contact["id"]]
    assert [c["id"] for c in new_case["contacts"]] == [contact["id"]]
    assert new_case["id"] != updated["id"]


def test_answers_lost_after_bottlecrm_wrote_leave_no_duplicate(stack, crm, proxy):
    # GIVEN BottleCRM's answers to the contact's and the case's creation both lost on the way
    address = email()
    conversation_id = add_visit(stack, address, first_name="Lovisa")
    proxy.lose("POST", "/api/contacts/")
    proxy.lose("POST", "/api/cases/")
    # WHEN the conversation is pushed (the worker fails, Pub/Sub redelivers, the recipe
    # looks before creating again)
    push(stack, conversation_id)
    # THEN each retry found what the lost request had made instead of making it again
    wait_until(
        lambda: recovered_steps(stack, conversation_id) == {"create_contact", "create_case"},
        90,
        "both creations recovered",
    )
    assert proxy.lost == [("POST", "/api/contacts/"), ("POST", "/api/cases/")]
    # AND BottleCRM holds one contact and one case, as without the losses
    case = wait_for_case(crm, conversation_id, seed_data.SAMPLE_TRANSCRIPT)
    (contact,) = contacts_with(crm, address)
    assert len(cases_of(crm, conversation_id)) == 1
    assert [c["id"] for c in case["contacts"]] == [contact["id"]]


def test_a_first_name_bottlecrm_already_has_gets_the_email_beside_it(stack, crm):
    # GIVEN BottleCRM keeps first names unique, and a contact named Theodora already exists
    taken = email()
    push(stack, add_visit(stack, taken, first_name="Theodora"))
    wait_until(lambda: contacts_with(crm, taken), 90, "the first Theodora")
    # WHEN another visitor named Theodora chats
    address = email()
    conversation_id = add_visit(stack, address, first_name="Theodora")
    push(stack, conversation_id)
    # THEN that visitor is a contact of its own, named with its email, with the case
    case = wait_for_case(crm, conversation_id, seed_data.SAMPLE_TRANSCRIPT)
    (contact,) = contacts_with(crm, address)
    assert contact["first_name"] == f"Theodora ({address})"
    assert [c["id"] for c in case["contacts"]] == [contact["id"]]


def test_gdpr_request_deletes_the_contact(stack, crm):
    # GIVEN a visitor BottleCRM holds
    address = email()
    conversation_id = add_visit(stack, address, first_name="Marit")
    push(stack, conversation_id)
    wait_for_case(crm, conversation_id, seed_data.SAMPLE_TRANSCRIPT)
    (contact,) = contacts_with(crm, address)
    # WHEN Drift asks for the visitor's data to be deleted
    body = copy.deepcopy(seed_data.sample_gdpr_delete_requested(TOKEN))
    body["data"] = {"email": address.upper(), "contactId": seed_data.SAMPLE_CONTACT_ID}
    assert stack.send(body)[0] == 200
    # THEN BottleCRM no longer has the contact
    wait_until(lambda: not contacts_with(crm, address), 90, "the contact to be deleted")
    with pytest.raises(requests.HTTPError) as gone:
        crm.get(f"/api/contacts/{contact['id']}/")
    assert gone.value.response.status_code == 404


def test_the_article_placeholder_address_is_refused_and_dead_lettered(stack, crm):
    # GIVEN a visitor whose email is the article's "[email protected]" placeholder
    conversation_id = add_visit(stack, seed_data.SEED_EMAIL, first_name="Placeholder")
    # WHEN it is pushed
    push(stack, conversation_id)
    # THEN BottleCRM refuses the contact, and the event is dead-lettered with its reason
    (dead,) = stack.dead_letters(1, timeout=90)
    assert json.loads(dead.data)["data"]["data"]["conversationId"] == conversation_id
    reason = dead.attributes[deadletter.REASON]
    assert "400" in reason and "create_contact" in reason
    assert cases_of(crm, conversation_id) == []
