"""devtools.bottlecrm: a real BottleCRM server that starts empty, answers only its own token,
stops with stop() and with the process that started it; and the example recipe's requests
against it, counted (the numbers its header promises)."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from devtools.bottlecrm import BottleCrm, find_python
from devtools.emulator import wait_until
from shared.recipes import RecipeRunner, load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "examples" / "recipes" / "bottlecrm.yaml"


@pytest.fixture(autouse=True, scope="module")
def _python_3_12() -> None:
    """Skip where no Python 3.12 exists (fail with DRIFT_BRIDGE_REQUIRE_BOTTLECRM=1)."""
    if find_python() is None:
        reason = "BottleCRM (django-crm) runs on Python 3.12, and this machine has none"
        if os.environ.get("DRIFT_BRIDGE_REQUIRE_BOTTLECRM") == "1":
            pytest.fail(f"{reason} (DRIFT_BRIDGE_REQUIRE_BOTTLECRM=1)")
        pytest.skip(reason)


RECORD: dict[str, Any] = {
    "event": {"type": "conversation_push", "org_id": 5000883, "pushed_at": 1632349419751},
    "conversation": {"id": 3275727977, "status": "open", "updated_at": "2021-09-21T16:08:10Z"},
    "contact": {
        "id": 11751623441268736,
        "email": "gregg@example.com",
        "first_name": "Gregg",
        "last_name": "Parker",
        "name": "Gregg Parker",
        "company": "Camp Waziyatah",
        "title": None,
        "city": None,
        "state": None,
    },
    "participants": [],
    "transcript": "Hello <there>\nHow can I help?",
    "messages": None,
}


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BottleCrm]:
    with BottleCrm(tmp_path_factory.mktemp("bottlecrm")) as server:
        yield server


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has ended, whoever reaps it


def test_a_started_server_is_empty_and_answers_its_own_token_only(crm):
    # GIVEN a server just started WHEN its API is read with the token THEN it holds nothing
    assert crm.get("/api/contacts/")["contacts_count"] == 0
    assert crm.get("/api/cases/")["cases_count"] == 0
    # AND without the token, or with it under another scheme, BottleCRM refuses
    assert requests.get(f"{crm.url}/api/contacts/", timeout=10).status_code == 401
    bearer = {"Authorization": f"Bearer {crm.token}"}
    assert requests.get(f"{crm.url}/api/contacts/", headers=bearer, timeout=10).status_code == 401


def test_stop_ends_the_server(tmp_path):
    # GIVEN a running server
    server = BottleCrm(tmp_path).start()
    process = server.process
    assert process is not None
    # WHEN it is stopped THEN its process has ended and nothing answers at its address
    server.stop()
    assert process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/contacts/", timeout=5)


def test_the_server_dies_with_the_process_that_started_it(tmp_path):
    # GIVEN a process that started a server and then got killed without stopping it
    script = (
        "import sys; from devtools.bottlecrm import BottleCrm\n"
        f"crm = BottleCrm({str(tmp_path)!r}).start()\n"
        "print(crm.process.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        server_pid = int(starter.stdout.readline())
        assert _alive(server_pid)
        # WHEN the starter dies
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(timeout=10)
        # THEN the kernel ends the server too
        wait_until(lambda: not _alive(server_pid), 20, "the orphaned server to end")
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait(timeout=10)


def _runner(crm: BottleCrm) -> RecipeRunner:
    names = ("crm_api_token", "crm_oauth_client_secret", "crm_oauth_refresh_token")
    settings = SimpleNamespace(
        project="drift-bridge-test",
        crm_recipe=str(RECIPE),
        crm_endpoint_url=None,
        crm_gdpr_url=None,
        crm_gdpr_method="POST",
        crm_base_url=crm.url,
        crm_oauth_token_url=None,
        crm_oauth_client_id=None,
        crm_oauth_scope=None,
        crm_timeout_seconds=10.0,
        gdpr_action="delete",
        crm_signing_secret=None,
        crm_signing_secret_secret=None,
        **{name: None for name in names},
        **{f"{name}_secret": None for name in names},
    )
    settings.crm_api_token = SecretStr(crm.token)
    return RecipeRunner(load_recipe(str(RECIPE)), settings)


def _steps(delivery: Any) -> list[str]:
    return [f"{sent.method} {sent.step} {sent.status}" for sent in delivery.requests]


def test_the_recipe_sends_what_its_header_says(crm):
    runner = _runner(crm)
    # WHEN a new visitor's conversation is delivered THEN 6 requests: two lookups, two
    # creations, each followed by the lookup that gives its id
    first = runner.deliver("conversation", RECORD)
    assert _steps(first) == [
        "GET find_case 200",
        "GET find_contact 200",
        "POST create_contact 200",
        "GET find_new_contact 200",
        "POST create_case 200",
        "GET find_new_case 200",
    ]
    assert set(first.memory) == {"case_id", "contact_id"}
    # WHEN a later push of it is delivered with that memory THEN one PUT of the case
    later = runner.deliver(
        "conversation", {**RECORD, "transcript": "Hello\nAgain"}, memory=first.memory
    )
    assert _steps(later) == ["PUT update_case 200"]
    (case,) = crm.get("/api/cases/", {"name": "Drift conversation 3275727977"})["cases"]
    assert case["description"] == "Hello\nAgain"
    assert case["status"] == "New"
    # WHEN the same visitor has a new conversation THEN 4: the contact is found
    other = copy.deepcopy(RECORD)
    other["conversation"]["id"] = 3275727978
    assert _steps(runner.deliver("conversation", other)) == [
        "GET find_case 200",
        "GET find_contact 200",
        "POST create_case 200",
        "GET find_new_case 200",
    ]
    # WHEN a conversation delivered before comes again without its memory THEN 2
    assert _steps(runner.deliver("conversation", other)) == [
        "GET find_case 200",
        "PUT update_found_case 200",
    ]
    # WHEN the visitor asks to be forgotten THEN 2: find, delete
    gdpr = {"event": RECORD["event"], "contact": {"email": "GREGG@example.com", "id": None}}
    assert _steps(runner.deliver("gdpr", gdpr)) == [
        "GET find_contact 200",
        "DELETE delete_contact 200",
    ]
    assert crm.get("/api/contacts/", {"email": "gregg@example.com"})["contact_obj_list"] == []
    runner.close()
