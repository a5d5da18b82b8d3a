"""What every section of the benchmark shares: the emulator, a log directory, the figures."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Figure
from devtools.emulator import PubSubEmulator
from devtools.pubsub_admin import PubSubAdmin
from devtools.stack import LOCAL_VERIFICATION_TOKEN
from samples import drift_seed as seed_data

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
TOKEN = LOCAL_VERIFICATION_TOKEN
DRIFT_LATENCY_SECONDS = 0.050  # the simulator's delay per Drift call in the worker and e2e runs


@dataclass
class Context:
    emulator: PubSubEmulator
    admin: PubSubAdmin
    log_dir: Path
    quick: bool = False
    figures: list[Figure] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.emulator.project

    def topic(self, prefix: str) -> str:
        """A new topic on the emulator (no subscription: published messages are dropped)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.admin.create_topic(name)
        return name

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def scaled(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def webhook_env(self, topic: str) -> dict[str, str]:
        """The webhook's environment as devtools.stack.LocalStack sets it."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PUBSUB_EMULATOR_HOST": self.emulator.host,
            "LOG_LEVEL": "INFO",
            "PUBSUB_TOPIC": topic,
            "DRIFT_VERIFICATION_TOKEN": TOKEN,
        }


def sample_body(conversation_id: int = seed_data.SAMPLE_CONVERSATION_ID) -> dict[str, Any]:
    return seed_data.sample_conversation_push(TOKEN, conversation_id=conversation_id)


@contextlib.contextmanager
def patched_env(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    previous = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
