"""Fixtures shared by every tier: the Pub/Sub and Firestore emulators (once per session),
per-test topics and ledger collection prefixes, the Secret Manager server, functions-framework
test clients and captured log lines."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.emulator import FirestoreEmulator, PubSubEmulator
from devtools.pubsub_admin import PubSubAdmin
from devtools.secret_manager_server import SecretManagerServer
from shared import config, logger, pubsub, secrets

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "drift-bridge-test"
VERIFICATION_TOKEN = "test-verification-token-5f2b9c"
SENTINEL = "sentinel"


@pytest.fixture(scope="session")
def emulator() -> Iterator[PubSubEmulator]:
    """One Pub/Sub emulator for the whole run; each test makes its own topics."""
    with PubSubEmulator(project=PROJECT) as running, running.environment():
        yield running
    pubsub.reset()


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    """One Firestore emulator for the whole run; each test uses its own collection prefix."""
    from shared.ledger import client as ledger_client

    with FirestoreEmulator(project=PROJECT) as running, running.environment():
        yield running
        ledger_client.reset()


@pytest.fixture
def ledger_prefix() -> str:
    """A collection prefix of the test's own (``<prefix>events``, ``<prefix>conversations``)."""
    return f"t{uuid.uuid4().hex[:12]}_"


@pytest.fixture(scope="session")
def admin(emulator: PubSubEmulator) -> Iterator[PubSubAdmin]:
    with PubSubAdmin(PROJECT) as client:
        yield client


class Topic:
    """A test's own topic with a pull subscription on it."""

    def __init__(self, admin: PubSubAdmin, name: str) -> None:
        self.admin = admin
        self.name = name
        self.subscription = f"{name}-sub"
        admin.create_topic(name)
        admin.create_pull_subscription(name, self.subscription)

    def drain(self, timeout: float = 30.0) -> list[Any]:
        """Every message published before this call: publish a sentinel, pull until it comes
        back, return what came before it (no sleeping on a guess)."""
        self.admin.publish(self.name, b"{}", kind=SENTINEL)
        received: list[Any] = []
        for message in self.admin.wait_for_predicate(
            self.subscription,
            lambda got: any(m.attributes.get("kind") == SENTINEL for m in got),
            timeout,
        ):
            if message.attributes.get("kind") != SENTINEL:
                received.append(message)
        return received

    def delete(self) -> None:
        self.admin.delete_subscription(self.subscription)
        self.admin.delete_topic(self.name)


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_factory(
    admin: PubSubAdmin, unique: Callable[[str], str]
) -> Iterator[Callable[[], Topic]]:
    made: list[Topic] = []

    def make(prefix: str = "events") -> Topic:
        topic = Topic(admin, unique(prefix))
        made.append(topic)
        return topic

    yield make
    for topic in made:
        topic.delete()


@pytest.fixture
def topic(topic_factory: Callable[[], Topic]) -> Topic:
    return topic_factory()


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[SecretManagerServer]:
    with SecretManagerServer() as server:
        yield server
    secrets.configure_client(None)


class LogCapture:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Every line the bridge logs during the test, parsed."""
    capture = LogCapture()
    logger.configure("DEBUG", stream=capture.stream)
    yield capture
    logger.configure("INFO", stream=io.StringIO())


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set a function's environment and forget cached settings and clients."""

    def apply(**env: str | None) -> None:
        for name in list(os.environ):
            if name.startswith(("DRIFT_", "CRM_", "PUBSUB_TOPIC", "DEAD_LETTER", "PUBLISH_")):
                monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        config.load.cache_clear()

    yield apply
    config.load.cache_clear()


@pytest.fixture
def webhook_app(function_env: Callable[..., None]) -> Callable[..., Any]:
    """A functions-framework test client of the webhook with the given environment."""
    from functions_framework import create_app

    def make(topic: str = "drift-events", **env: str) -> Any:
        values = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "PUBSUB_TOPIC": topic,
            "DRIFT_VERIFICATION_TOKEN": VERIFICATION_TOKEN,
            "PUBLISH_TIMEOUT_SECONDS": "5",
        }
        values.update(env)
        function_env(**values)
        app = create_app("webhook", str(ROOT / "functions/webhook/main.py"), "http")
        return app.test_client()

    return make
