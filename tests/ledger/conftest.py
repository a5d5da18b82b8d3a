"""Ledger fixtures: configs on the session's Firestore emulator, each test its own prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.emulator import FirestoreEmulator
from shared.ledger import FirestoreLedger, LedgerConfig

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("ledger_child.py")
PROJECT = "drift-bridge-test"


@pytest.fixture
def ledger_config(
    firestore_emulator: FirestoreEmulator, ledger_prefix: str
) -> Callable[..., LedgerConfig]:
    """A ledger config on the emulator with the test's prefix (overrides as keywords)."""

    def make(**overrides: Any) -> LedgerConfig:
        values: dict[str, Any] = {
            "backend": "firestore",
            "project": PROJECT,
            "collection_prefix": ledger_prefix,
            "deadline_seconds": 10.0,
        }
        values.update(overrides)
        return LedgerConfig(**values)

    return make


@pytest.fixture
def instance(ledger_config: Callable[..., LedgerConfig]) -> Callable[..., FirestoreLedger]:
    """A new Firestore ledger, as a separate worker instance would have (its own local cache;
    the process's one client)."""
    return lambda **overrides: FirestoreLedger(ledger_config(**overrides))


class Child:
    """A separate Python process running tests/ledger/ledger_child.py; talks JSON lines."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def read(self) -> dict[str, Any]:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            errors = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the child process ended without answering:\n{errors[-3000:]}")
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def spawn(firestore_emulator: FirestoreEmulator) -> Iterator[Callable[..., Child]]:
    """Start ledger child processes (killed at the end of the test)."""
    children: list[Child] = []

    def start(config: LedgerConfig, *args: str) -> Child:
        env = {
            **os.environ,
            "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
            "PYTHONPATH": str(ROOT),
        }
        process = subprocess.Popen(
            [sys.executable, str(CHILD), config.model_dump_json(), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        child = Child(process)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
        for stream in (child.process.stdin, child.process.stdout, child.process.stderr):
            if stream:
                stream.close()
