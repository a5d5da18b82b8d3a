"""``make demo RECIPE=...`` and ``make local`` with ``CRM_RECIPE`` set, run as a user runs them.

``python -m devtools.stack demo --recipe NAME`` (what the Makefile runs) delivers Drift's sample
conversation with that built-in recipe to the project's stand-in of the vendor's API and
prints what the CRM then holds; ``make local`` with ``CRM_RECIPE`` and no vendor URL starts the
same stand-in, and its banner names the page showing the stand-in's records.
"""

from __future__ import annotations

import os
import re
import signal
import urllib.request

import pytest

from devtools.stack import LOCAL_VERIFICATION_TOKEN
from samples import drift_seed as seed_data
from tests.integration.test_demo_local import (
    STOP_BOUND_SECONDS,
    TreeWatcher,
    _env,
    _feed_line,
    _local,
    _no_leftovers,
    _post_json,
    _run_stack,
    _two_free_ports,
)

pytestmark = pytest.mark.stack


@pytest.fixture
def reaper():
    """As in test_demo_local: whatever a command left running is killed at teardown."""
    watchers: list[TreeWatcher] = []
    yield watchers
    for watcher in watchers:
        watcher.kill_leftovers()


DEMO_EMAIL = "gregg.parker@example.com"
# What each vendor then holds, as the demo prints it: (person line, activity line).
HOLDS = {
    "hubspot": (
        rf"Contact \d+: Gregg Parker <{DEMO_EMAIL}>",
        r"Note \d+\n    on: contact \d+ \(association type 202\)",
    ),
    "salesforce": (
        rf"Lead 00Q\w+: Gregg Parker <{DEMO_EMAIL}>",
        r"Task 00T\w+: Drift conversation 3275727977\n    WhoId: 00Q\w+\n    Status: Completed",
    ),
    "pipedrive": (
        rf"Person \d+: Gregg Parker <{DEMO_EMAIL}>",
        r"Note \d+\n    person_id: \d+",
    ),
    "zoho": (
        rf"Lead \w+: Gregg Parker <{DEMO_EMAIL}>",
        r"Note \w+: Drift conversation 3275727977\n    on: \w+",
    ),
    "dynamics": (
        rf"Contact [\w-]+: Gregg Parker <{DEMO_EMAIL}>",
        r"Note [\w-]+: Drift conversation 3275727977\n    on: [\w-]+",
    ),
    "marketo": (
        rf"Lead \d+: Gregg Parker <{DEMO_EMAIL}>",
        r"driftConversation_c 3275727977: Drift conversation 3275727977\n    on: \d+",
    ),
}


@pytest.mark.parametrize("recipe", sorted(HOLDS))
def test_demo_with_a_recipe_prints_what_the_crm_holds(recipe, reaper):
    # GIVEN a user's shell with no CRM settings
    webhook_port, worker_port = _two_free_ports()
    env = _env(WEBHOOK_PORT=str(webhook_port), WORKER_PORT=str(worker_port))
    # WHEN they run make demo RECIPE=<recipe>
    code, out, err, watcher = _run_stack("demo", env, 180, reaper, ("--recipe", recipe))
    # THEN it exits 0, having delivered both events through the recipe
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert out.count("the worker: delivered") == 2, out
    # AND it printed the person and the activity the vendor's stand-in holds, with the whole
    # transcript line by line
    person, activity = HOLDS[recipe]
    holds = out.split("What ", 1)[1].split("-> Drift sent gdpr_delete_requested")[0]
    assert re.search(r"holds: 1 person\(s\), 1 activity\(ies\)", holds), holds
    assert re.search(person, holds), holds
    assert re.search(activity, holds), holds
    for line in seed_data.SAMPLE_TRANSCRIPT.splitlines():
        assert f"      {line}\n" in holds, line
    # AND, after the GDPR deletion request, no person is left
    assert "holds after the GDPR deletion request: 0 person(s)" in out
    # AND every process it started is gone
    _no_leftovers(watcher)


def test_demo_with_a_recipe_that_has_no_stand_in_says_so(reaper):
    env = _env(WEBHOOK_PORT="0", WORKER_PORT="0")
    code, out, err, watcher = _run_stack("demo", env, 60, reaper, ("--recipe", "nosuchcrm"))
    assert code == 2
    assert "RECIPE=nosuchcrm" in err and "hubspot, salesforce, pipedrive, zoho" in err, err
    assert "Traceback" not in out + err
    _no_leftovers(watcher)


def test_local_with_a_recipe_and_no_vendor_url_uses_the_stand_in_and_shows_its_records(
    reaper, tmp_path
):
    # GIVEN make local with CRM_RECIPE=hubspot and no CRM_BASE_URL
    webhook_port, worker_port = _two_free_ports()
    env = _env(
        WEBHOOK_PORT=str(webhook_port),
        WORKER_PORT=str(worker_port),
        LOCAL_STACK_DIR=str(tmp_path),
        LEDGER="memory",
        CRM_RECIPE="hubspot",
    )
    with _local(env, reaper) as (process, _watcher, output):
        text = output.until("Ready.", timeout=120)
        # THEN the banner names HubSpot's stand-in as the CRM and the page of its records
        assert re.search(r"CRM\s+http://127\.0\.0\.1:\d+ \(HubSpot stand-in", text), text
        page_url = re.search(r"CRM records\s+(\S+/_standin/records)", text).group(1)
        assert "CRM sink page" not in text
        with urllib.request.urlopen(page_url, timeout=10) as response:
            assert "text/html" in response.headers["Content-Type"]
            assert "People (0)" in response.read().decode()
        # WHEN the sample event is sent, as the banner's curl line sends it
        webhook_url = re.search(r"^Webhook URL: (\S+)$", text, re.M).group(1)
        body = seed_data.sample_conversation_push(LOCAL_VERIFICATION_TOKEN)
        assert _post_json(webhook_url, body) == 200
        _feed_line(output, "delivered", str(seed_data.SAMPLE_CONVERSATION_ID))
        # THEN the page shows the contact and the note with the transcript's lines
        with urllib.request.urlopen(page_url, timeout=10) as response:
            page = response.read().decode()
        assert "People (1)" in page and "Activities (1)" in page, page
        assert DEMO_EMAIL in page
        assert "09: 07: 46 AM PDT Bot (Agent): Hey there!" in page
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_BOUND_SECONDS)
