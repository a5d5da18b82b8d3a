"""Where a running ``make local`` says what it started, so operator commands can talk to it.

``make local`` writes ``.local/state.json`` (the folder is ``LOCAL_STACK_DIR`` when set) once
every component is ready, and removes it when it stops: the project id, the Pub/Sub and
Firestore emulators' addresses, the topic and dead-letter subscription, the ledger's
collection prefix, the webhook's URL. ``python -m operations --local ...`` reads it (as does any
operator command while the stack that wrote it still runs), and then sets the environment the
Google clients read (``PUBSUB_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``, ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "state.json"
LOCAL_DIR_ENV = "LOCAL_STACK_DIR"

# state key -> the environment variable an operator command reads it from
_ENVIRONMENT = {
    "project": "GOOGLE_CLOUD_PROJECT",
    "pubsub_emulator_host": "PUBSUB_EMULATOR_HOST",
    "firestore_emulator_host": "FIRESTORE_EMULATOR_HOST",
    "topic": "PUBSUB_TOPIC",
    "dead_letter_subscription": "DEAD_LETTER_SUBSCRIPTION",
    "ledger": "LEDGER",
    "ledger_collection_prefix": "LEDGER_COLLECTION_PREFIX",
    "drift_api_base_url": "DRIFT_API_BASE_URL",
    "local_drift_access_token": "DRIFT_ACCESS_TOKEN",  # the simulator's, never a real one
}


class LocalStackNotRunning(RuntimeError):
    """``--local`` was asked for, and no running ``make local`` left its state file."""


def local_dir() -> Path:
    configured = os.environ.get(LOCAL_DIR_ENV)
    return Path(configured).expanduser() if configured else ROOT / ".local"


def state_path() -> Path:
    return local_dir() / STATE_FILE


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_state(state: dict[str, Any]) -> Path:
    """Write the state file atomically (this process's pid included); returns its path."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps({**state, "pid": os.getpid()}, indent=2))
    temporary.replace(path)
    return path


def remove_state() -> None:
    """Remove the state file if this process wrote it."""
    path = state_path()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def read_state() -> dict[str, Any] | None:
    """The state of a ``make local`` that is still running, or None."""
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not _alive(state.get("pid")):
        return None
    return state


def use_local_stack(required: bool) -> dict[str, Any] | None:
    """Point this process at a running ``make local`` (its emulators, topic, ledger), if any;
    with ``required`` raise ``LocalStackNotRunning`` when there is none. Settings already in
    the environment win, except the emulators' addresses, which must be the stack's own."""
    state = read_state()
    if state is None:
        if required:
            raise LocalStackNotRunning(
                f"--local: no running `make local` found ({state_path()} is missing or stale); "
                "start it with `make local` in another terminal"
            )
        return None
    for key, variable in _ENVIRONMENT.items():
        value = state.get(key)
        if not value:
            continue
        if variable.endswith("_EMULATOR_HOST"):
            os.environ[variable] = str(value)
        else:
            os.environ.setdefault(variable, str(value))
    if not state.get("firestore_emulator_host"):
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
    return state
