"""The fault-injection suite's stacks and its accounting helper.

Every scenario counts events in and out with a ``Ledger``: each event sent is either delivered
to the CRM (its ``Idempotency-Key`` is among what the sink accepted) or on the dead-letter topic
with a reason (the worker's ``deadLetterReason``, or Pub/Sub's own ``CloudPubSubDeadLetter*``
attributes when the subscription's maximum attempts moved it), never both and never neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from devtools.crm_sink import SinkRecord
from devtools.emulator import PubSubEmulator
from devtools.pubsub_admin import PubSubAdmin, PushSettings, Received
from devtools.stack import LocalStack, StackConfig
from samples import drift_seed as seed_data
from shared import deadletter
from shared.events import event_key

TOKEN = "faults-verification-token-3e7d51"
#: Retries fast enough for a test. The attempts and the dead-letter policy are production's
#: (terraform/pubsub.tf); the backoff is left out on the emulator, which can stop redelivering
#: pushes that fail together under a retry policy (see ``PushSettings.retry_policy``): four
#: events refused at once by the CRM were pushed two or three times each and then never again,
#: nor dead-lettered. Without a policy it retries after about a second and still counts
#: attempts for the dead-letter policy, which is all these tests rely on.
FAST_RETRIES = PushSettings(
    ack_deadline_seconds=30,
    minimum_backoff_seconds=1,
    maximum_backoff_seconds=3,
    max_delivery_attempts=5,
    retry_policy=False,
)
#: Small Drift/CRM budgets so that a failing attempt ends (and Pub/Sub redelivers) quickly.
FAST_WORKER_ENV = {
    "THREADS": "16",
    "DRIFT_RETRY_BUDGET_SECONDS": "5",
    "DRIFT_MAX_ATTEMPTS": "3",
    "DRIFT_READ_TIMEOUT_SECONDS": "1.5",
    "CRM_TIMEOUT_SECONDS": "2",
}
PUBSUB_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
POLL_SECONDS = 0.1


def new_name(prefix: str) -> str:
    """A Pub/Sub id nobody else in this session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def push_body(conversation_id: int, token: str = TOKEN, pushed_at: int | None = None) -> dict:
    """Drift's ``conversation_push`` webhook body for ``conversation_id``."""
    return seed_data.sample_conversation_push(
        token, pushed_at=pushed_at, conversation_id=conversation_id
    )


def wait_for(predicate: Callable[[], Any], timeout: float, what: str | Callable[[], str]) -> Any:
    """Poll ``predicate`` until truthy; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g}s waiting for {detail}")
        time.sleep(POLL_SECONDS)


# -- stacks ------------------------------------------------------------------------------------


def stack_config(emulator: PubSubEmulator, **overrides: Any) -> StackConfig:
    """A stack on the session emulator with its own topics, fast retries and small budgets;
    ``worker_env`` and ``webhook_env`` overrides are merged into the defaults."""
    worker_env = {**FAST_WORKER_ENV, **overrides.pop("worker_env", {})}
    webhook_env = {"PUBLISH_TIMEOUT_SECONDS": "10", **overrides.pop("webhook_env", {})}
    config = StackConfig(
        project=emulator.project,
        topic=new_name("faults-events"),
        dead_letter_topic=new_name("faults-dead"),
        webhook_port=0,
        worker_port=0,
        verification_token=TOKEN,
        emulator_host=emulator.host,
        push=FAST_RETRIES,
        worker_env=worker_env,
        webhook_env=webhook_env,
    )
    return replace(config, **overrides)


def delete_topics(config: StackConfig, *extra_subscriptions: str) -> None:
    with PubSubAdmin(config.project) as admin:
        for name in (config.push_subscription, config.dead_letter_subscription):
            admin.delete_subscription(name)
        for name in extra_subscriptions:
            admin.delete_subscription(name)
        admin.delete_topic(config.topic)
        admin.delete_topic(config.dead_letter_topic)


@contextlib.contextmanager
def running_stack(
    config: StackConfig, before_start: Callable[[StackConfig], Iterable[str]] | None = None
) -> Iterator[LocalStack]:
    """Start a LocalStack; always stop it and delete its topics and subscriptions.
    ``before_start`` may create subscriptions of its own (returned names are deleted too)."""
    extra: list[str] = []
    stack = LocalStack(config)
    try:
        if before_start is not None:
            extra.extend(before_start(config))
        stack.start()
        yield stack
    finally:
        stack.stop()
        delete_topics(config, *extra)


@pytest.fixture
def make_stack(
    emulator: PubSubEmulator, firestore_emulator: Any
) -> Iterator[Callable[..., LocalStack]]:
    """A fresh stack per call (for scenarios that kill processes or change the worker's
    configuration); every one is stopped and its topics deleted at teardown."""
    with contextlib.ExitStack() as cleanup:

        def make(**overrides: Any) -> LocalStack:
            return cleanup.enter_context(running_stack(stack_config(emulator, **overrides)))

        yield make


_REPORT = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a line for the end-of-run summary (figures that are printed, not asserted)."""
    lines = request.config.stash.setdefault(_REPORT, [])
    return lines.append


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("fault-injection figures")
        for line in lines:
            terminalreporter.write_line(line)


def process_group_memory(pid: int | None) -> dict[int, int]:
    """``{pid: VmHWM in KiB}`` of every live process in ``pid``'s process group."""
    if pid is None:
        return {}
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            if os.getpgid(int(entry.name)) != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    found[int(entry.name)] = int(line.split()[1])
    return found


# -- accounting --------------------------------------------------------------------------------


@dataclass
class DeadLetter:
    key: str | None  # event_key of the data, None when the data is not an event body
    reason: str
    message: Received


def dead_letter_reason(attributes: dict[str, str]) -> str:
    """The worker's reason, or Pub/Sub's own record of moving the message ("" if neither)."""
    if attributes.get(deadletter.REASON):
        return attributes[deadletter.REASON]
    moved = {k: v for k, v in attributes.items() if k.startswith(PUBSUB_DEAD_LETTER_PREFIX)}
    if moved:
        attempts = moved.get(f"{PUBSUB_DEAD_LETTER_PREFIX}DeliveryCount", "?")
        return f"moved by Pub/Sub after {attempts} delivery attempts"
    return ""


def _key_of(data: bytes) -> str | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return event_key(body) if isinstance(body, dict) else None


@dataclass
class Ledger:
    """Events sent through one stack, and where each one ended."""

    stack: LocalStack
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)

    def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        """POST ``body`` to the webhook (it must be acknowledged); returns the event's key."""
        status, text = self.stack.send(body, headers)
        assert status == 200, f"the webhook answered {status}: {text}"
        key = event_key(body)
        self.sent[key] = body
        return key

    def collect(self) -> None:
        """Pull (and keep) whatever reached the dead-letter topic since the last call."""
        assert self.stack.admin is not None
        for message in self.stack.admin.pull(self.stack.config.dead_letter_subscription):
            reason = dead_letter_reason(message.attributes)
            self.dead.append(DeadLetter(_key_of(message.data), reason, message))

    def delivered(self) -> dict[str, list[SinkRecord]]:
        assert self.stack.sink is not None
        return {
            key: records
            for key, records in self.stack.sink.by_idempotency_key().items()
            if key is not None
        }

    def dead_lettered(self) -> dict[str, list[DeadLetter]]:
        grouped: dict[str, list[DeadLetter]] = {}
        for dead in self.dead:
            if dead.key is not None:
                grouped.setdefault(dead.key, []).append(dead)
        return grouped

    def missing(self, keys: Iterable[str]) -> list[str]:
        self.collect()
        delivered, dead = self.delivered(), self.dead_lettered()
        return [key for key in keys if key not in delivered and key not in dead]

    def account(self, keys: Iterable[str], timeout: float = 120.0) -> Accounting:
        """Wait (bounded) until every key is delivered or dead-lettered; then check that none
        is both, that every dead letter has a reason, and return where each one ended."""
        keys = list(keys)
        unknown = [key for key in keys if key not in self.sent]
        assert not unknown, f"keys never sent through this ledger: {unknown}"
        wait_for(lambda: not self.missing(keys), timeout, lambda: self._describe(keys))
        self.collect()
        delivered, dead = self.delivered(), self.dead_lettered()
        both = [key for key in keys if key in delivered and key in dead]
        assert not both, f"delivered AND dead-lettered: {both}; {self._describe(keys)}"
        for key in keys:
            for letter in dead.get(key, []):
                assert letter.reason, f"dead letter without a reason: {letter.message.attributes}"
        return Accounting(
            delivered={key: delivered[key] for key in keys if key in delivered},
            dead={key: dead[key] for key in keys if key in dead},
        )

    def _describe(self, keys: list[str]) -> str:
        delivered, dead = self.delivered(), self.dead_lettered()
        missing = [k[:12] for k in keys if k not in delivered and k not in dead]
        sink = self.stack.sink
        attempts = sink.attempt_count if sink is not None else "?"
        log_tail = "\n".join(self.stack.logs().splitlines()[-15:])
        return (
            f"every event accounted for: {len(keys)} sent, "
            f"{sum(k in delivered for k in keys)} delivered, "
            f"{sum(k in dead for k in keys)} dead-lettered, missing {missing}; "
            f"CRM attempts in all: {attempts}; last log lines:\n{log_tail}"
        )


@dataclass
class Accounting:
    delivered: dict[str, list[SinkRecord]]
    dead: dict[str, list[DeadLetter]]

    def assert_all_delivered(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        assert not self.dead, {k[:12]: [d.reason for d in v] for k, v in self.dead.items()}
        assert sorted(self.delivered) == sorted(keys)
        for key, records in self.delivered.items():
            assert {record.idempotency_key for record in records} == {key}
