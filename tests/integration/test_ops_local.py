"""The operator commands without credentials (one line saying what to run), and with ``--local``
(the emulators a running ``make local`` names in its state file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operations import localstate

ROOT = Path(__file__).resolve().parent.parent.parent
_DROPPED = (
    "DRIFT_",
    "CRM_",
    "PUBSUB_",
    "DEAD_LETTER",
    "LEDGER",
    "LOCAL_STACK_DIR",
    "GOOGLE_",
    "FIRESTORE_",
    "CLOUDSDK_",
)


def _cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """An operator's shell without any Google credentials (fresh HOME and gcloud config)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    base.update(
        HOME=str(home),
        CLOUDSDK_CONFIG=str(home / "gcloud"),
        NO_GCE_CHECK="True",  # not on Google Cloud: do not wait for a metadata server
        LOCAL_STACK_DIR=str(home / "local"),
    )
    return subprocess.run(
        [sys.executable, "-m", "operations", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "--dry-run"),
        ("sync", "3275727977"),
        ("trace", "3275727977"),
        ("backfill", "--since", "2021-10-01T00:00:00Z", "--dry-run"),
    ],
    ids=["replay", "sync", "trace", "backfill"],
)
def test_without_credentials_one_line_says_what_to_run(tmp_path, args):
    # GIVEN an operator who has not logged in to Google Cloud
    # WHEN they run an operator command against a project
    result = _cli(
        *args, home=tmp_path, GOOGLE_CLOUD_PROJECT="some-project", DRIFT_ACCESS_TOKEN="t0ken"
    )
    # THEN one line tells them how to log in (or to use the local stack), no traceback
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "gcloud auth application-default login" in lines[0]
    assert "--local" in lines[0]
    assert "Traceback" not in result.stderr


def test_local_without_a_running_stack_says_so_in_one_line(tmp_path):
    result = _cli("--local", "replay", "--dry-run", home=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "make local" in line and "state.json" in line


def test_a_stale_state_file_is_not_used(tmp_path):
    # GIVEN the state file of a `make local` that is no longer running
    state = tmp_path / "local" / "state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": 2**22 + 12345, "pubsub_emulator_host": "127.0.0.1:1"}))
    result = _cli("--local", "trace", "1", home=tmp_path)
    assert result.returncode == 2
    assert "no running `make local`" in result.stderr


@pytest.fixture
def local_state(tmp_path, emulator, firestore_emulator, ledger_prefix, topic_factory):
    """A state file as a running ``make local`` writes it (this test process stands in for it:
    its pid is alive), naming the session's emulators."""
    dead, events = topic_factory("lo-dl"), topic_factory("lo-ev")
    previous = os.environ.get(localstate.LOCAL_DIR_ENV)
    os.environ[localstate.LOCAL_DIR_ENV] = str(tmp_path / "local")
    try:
        localstate.write_state(
            {
                "project": emulator.project,
                "pubsub_emulator_host": emulator.host,
                "firestore_emulator_host": firestore_emulator.host,
                "ledger": "firestore",
                "ledger_collection_prefix": ledger_prefix,
                "topic": events.name,
                "dead_letter_subscription": dead.subscription,
            }
        )
    finally:
        if previous is None:
            os.environ.pop(localstate.LOCAL_DIR_ENV)
        else:
            os.environ[localstate.LOCAL_DIR_ENV] = previous
    return dead, events


@pytest.mark.emulator
def test_local_talks_to_the_emulators_named_in_the_state_file(tmp_path, admin, local_state):
    dead, _events = local_state
    admin.publish(dead.name, b'{"type":"conversation_push","orgId":1}', type="conversation_push")
    # WHEN the operator adds --local (anywhere on the line), without any credentials
    replayed = _cli("replay", "--dry-run", "--local", home=tmp_path)
    traced = _cli("--local", "trace", "3275727977", home=tmp_path)
    # THEN the commands reach make local's Pub/Sub and Firestore emulators
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip().splitlines()[-1].startswith("would replay 1 events")
    assert traced.returncode == 1, traced.stderr  # reached the ledger: nothing traced yet
    assert "nothing in the ledger for 3275727977" in traced.stderr
    assert "gcloud auth" not in replayed.stderr + traced.stderr


@pytest.mark.emulator
def test_a_running_make_local_is_used_when_nothing_points_elsewhere(tmp_path, local_state):
    result = _cli("sync", "3275727977", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "using the running `make local`" in result.stderr
    (message,) = local_state[1].drain()
    assert message.attributes["conversationId"] == "3275727977"
