"""The local stack in this process (as the tests and ``make demo`` use it): the Firestore
emulator it starts for the ledger, fresh logs per run, a quiet readiness probe, one clear line
for a component that cannot start, and a bounded stop with requests in flight."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from devtools.emulator import port_is_free, wait_until
from devtools.pubsub_admin import PubSubAdmin, PushSettings
from devtools.stack import LocalStack, StackConfig, StackError
from samples import drift_seed as seed_data

pytestmark = [pytest.mark.emulator, pytest.mark.stack]

TOKEN = "local-stack-test-token"


def _environ(pid: int) -> dict[str, str]:
    """The environment a running process was started with (what the stack passed it)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _config(emulator, unique, **overrides) -> StackConfig:
    values = {
        "project": emulator.project,
        "topic": unique("ls-events"),
        "dead_letter_topic": unique("ls-dead"),
        "webhook_port": 0,
        "worker_port": 0,
        "verification_token": TOKEN,
        "emulator_host": emulator.host,
        "ledger": "memory",
        "push": PushSettings(ack_deadline_seconds=30, retry_policy=False),
    }
    values.update(overrides)
    return StackConfig(**values)


def _delete(config: StackConfig) -> None:
    with PubSubAdmin(config.project) as admin:
        admin.delete_subscription(config.push_subscription)
        admin.delete_subscription(config.dead_letter_subscription)
        admin.delete_topic(config.topic)
        admin.delete_topic(config.dead_letter_topic)


def test_the_stack_starts_a_firestore_emulator_for_the_worker_and_stops_it(
    emulator, unique, monkeypatch
):
    # GIVEN a stack with the Firestore ledger and no emulator address given (nor in the
    # environment)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    config = _config(emulator, unique, ledger="firestore")
    stack = LocalStack(config)
    try:
        stack.start()
        # THEN it started a Firestore emulator and handed it, with a prefix of its own, to the
        # worker (and only to the worker)
        assert stack.firestore is not None and stack.firestore_host
        firestore_pid, firestore_port = stack.firestore.pid, stack.firestore.port
        worker = _environ(stack.worker.pid)
        assert worker["LEDGER"] == "firestore"
        assert worker["FIRESTORE_EMULATOR_HOST"] == stack.firestore_host
        assert worker["LEDGER_COLLECTION_PREFIX"] == stack.ledger_prefix
        assert stack.ledger_prefix.startswith("stack_")
        # AND the event goes through, its progress in that ledger
        assert stack.send(seed_data.sample_conversation_push(TOKEN))[0] == 200
        stack.sink.wait_for(1, timeout=60)
    finally:
        stack.stop()
        _delete(config)
    # AND once stopped the emulator is gone and its port free
    assert not _running(firestore_pid)
    wait_until(lambda: port_is_free(firestore_port), 15, "the Firestore emulator's port")


def test_a_stack_uses_the_firestore_emulator_of_its_environment(
    emulator, unique, firestore_emulator
):
    # GIVEN the test session's Firestore emulator in this process's environment
    config = _config(emulator, unique, ledger="firestore")
    stack = LocalStack(config)
    try:
        stack.start()
        # THEN the stack starts none of its own and hands that one to the worker
        assert stack.firestore is None
        assert _environ(stack.worker.pid)["FIRESTORE_EMULATOR_HOST"] == firestore_emulator.host
    finally:
        stack.stop()
        _delete(config)


def test_a_stack_of_its_own_gets_a_prefix_of_its_own(emulator, unique):
    first, second = LocalStack(_config(emulator, unique)), LocalStack(_config(emulator, unique))
    assert first.ledger_prefix != second.ledger_prefix
    assert LocalStack(_config(emulator, unique, ledger_collection_prefix="t1_")).ledger_prefix == (
        "t1_"
    )


def test_an_unknown_ledger_is_refused_in_one_line(emulator, unique):
    with pytest.raises(StackError, match="LEDGER must be one of firestore, memory"):
        _config(emulator, unique, ledger="postgres")


def test_logs_start_fresh_each_run_and_the_probe_logs_no_warning(emulator, unique, tmp_path):
    # GIVEN the logs of a previous run in the log folder
    (tmp_path / "worker.log").write_text('{"severity": "ERROR", "message": "stale-worker"}\n')
    (tmp_path / "webhook.log").write_text('{"severity": "ERROR", "message": "stale-webhook"}\n')
    config = _config(emulator, unique, log_dir=tmp_path)
    stack = LocalStack(config)
    try:
        # WHEN the stack starts (and its readiness probe has had its answers)
        stack.start()
        worker_env = _environ(stack.worker.pid)
    finally:
        stack.stop()
        _delete(config)
    # THEN the previous run's logs are kept as .1 and this run's start empty of them
    assert "stale-worker" in (tmp_path / "worker.log.1").read_text()
    assert "stale-webhook" in (tmp_path / "webhook.log.1").read_text()
    for name in ("worker.log", "webhook.log"):
        text = (tmp_path / name).read_text()
        assert "stale" not in text
        # AND the probe made neither function log a warning (no 405 for a GET)
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert [e for e in entries if e.get("severity") in ("WARNING", "ERROR")] == [], name
    assert worker_env["LEDGER"] == "memory"


def test_a_worker_that_cannot_start_is_reported_in_one_clear_line(emulator, unique):
    # GIVEN a worker setting that stops it at start-up
    config = _config(emulator, unique, worker_env={"DRIFT_MAX_ATTEMPTS": "many"})
    stack = LocalStack(config)
    try:
        # WHEN the stack starts THEN it fails with one line naming the component and setting
        with pytest.raises(StackError) as caught:
            stack.start(timeout=60)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith("the worker did not start (exit code")
        assert "DRIFT_MAX_ATTEMPTS" in message
        assert "Traceback" not in message
        # AND what it had started is stopped
        assert stack.webhook is None or stack.webhook.exited()
    finally:
        stack.stop()
        _delete(config)


def test_stop_is_bounded_while_the_crm_holds_requests(emulator, unique):
    # GIVEN a CRM that holds every request far longer than the grace period
    config = _config(emulator, unique, stop_grace_seconds=2.0)
    stack = LocalStack(config).start()
    try:
        stack.sink.slow_seconds = 600
        stack.sink.add_fault("slow", times=None)
        senders = [
            threading.Thread(
                target=stack.send,
                args=(seed_data.sample_conversation_push(TOKEN, seed_data.SAMPLE_PUSHED_AT + n),),
                daemon=True,
            )
            for n in range(4)
        ]
        for sender in senders:
            sender.start()
        wait_until(lambda: stack.sink.in_flight >= 1, 60, "a CRM request in flight")
        pids = stack.pids()
    finally:
        # WHEN the stack stops
        started = time.monotonic()
        stack.stop()
        took = time.monotonic() - started
        _delete(config)
    # THEN it took the grace period and the reaping, not the functions' own shutdown timeouts
    assert took < config.stop_grace_seconds + 6, took
    assert not [pid for pid in pids if _running(pid)]
