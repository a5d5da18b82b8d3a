"""Checkpoints of one delivery's steps, so that a retry neither re-sends a finished step nor
creates twice what a lost answer had already created.

The worker passes its ledger claim; ``MemoryJournal`` is the same interface in memory (tests,
previews, a worker without a ledger).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class StepState(Protocol):
    status: str  # "done" | "in_flight"
    saved: dict[str, Any]


class Journal(Protocol):
    @property
    def steps(self) -> Mapping[str, StepState]: ...

    def step_started(self, name: str) -> None: ...

    def step_done(self, name: str, saved: dict[str, Any], status: int | None = None) -> None: ...


@dataclass
class Checkpoint:
    status: str
    saved: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    http_status: int | None = None


class MemoryJournal:
    """A journal held in memory; ``calls`` lists what the runner told it, in order."""

    def __init__(self, steps: Mapping[str, Checkpoint] | None = None) -> None:
        self._steps: dict[str, Checkpoint] = dict(steps or {})
        self.calls: list[tuple[str, str]] = []

    @property
    def steps(self) -> dict[str, Checkpoint]:
        return dict(self._steps)

    def step_started(self, name: str) -> None:
        self.calls.append(("started", name))
        self._steps[name] = Checkpoint("in_flight")

    def step_done(self, name: str, saved: dict[str, Any], status: int | None = None) -> None:
        self.calls.append(("done", name))
        self._steps[name] = Checkpoint("done", dict(saved), http_status=status)
