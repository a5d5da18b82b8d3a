"""The Pub/Sub and Firestore emulators from the gcloud CLI: start on a free port, wait until
ready, stop.

Used by the tests (one emulator of each per test session), ``make demo``, ``make local`` and
``make bench``. ``stop()`` kills the whole process group, since gcloud starts a Java child.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class EmulatorError(RuntimeError):
    """The emulator cannot run here (gcloud or Java missing, port taken, no answer)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections of a stopped server in TIME_WAIT do not count,
    as they do not stop a new server from binding it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def check_prerequisites() -> None:
    """Raise EmulatorError with a clear message when gcloud or Java is missing."""
    if shutil.which("gcloud") is None:
        raise EmulatorError(
            "the gcloud CLI is not installed: install the Google Cloud SDK and run "
            "'gcloud components install pubsub-emulator beta'"
        )
    if shutil.which("java") is None:
        raise EmulatorError("Java is not installed: the Pub/Sub emulator needs a Java 11+ runtime")


class _GcloudEmulator:
    """One running gcloud emulator process group: ``start()`` on a free port and wait until it
    answers, ``environment()`` points Google's clients in this process (and its children) at
    it, ``stop()`` ends the whole group (gcloud's wrapper and its Java child)."""

    NAME = ""  # as people call it, for messages
    COMMAND = ""  # gcloud beta emulators COMMAND start
    COMPONENT = ""  # gcloud components install COMPONENT
    ENVIRONMENT = ""  # the variable Google's clients read
    START_TIMEOUT = 60.0

    def __init__(self, project: str = "drift-bridge-local", port: int | None = None) -> None:
        self.project = project
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the emulator
            prefix=f"{self.COMMAND}-emulator-", suffix=".log", delete=False
        )

    def _arguments(self) -> list[str]:
        """Arguments after ``gcloud beta emulators COMMAND start``."""
        return []

    def start(self, timeout: float | None = None) -> _GcloudEmulator:
        if shutil.which("gcloud") is None:
            raise EmulatorError(
                "the gcloud CLI is not installed: install the Google Cloud SDK and run "
                f"'gcloud components install {self.COMPONENT} beta'"
            )
        if shutil.which("java") is None:
            raise EmulatorError(f"Java is not installed: the {self.NAME} emulator needs Java 11+")
        if not port_is_free(self.port):
            raise EmulatorError(f"port {self.port} is already taken: choose another or stop it")
        self._process = subprocess.Popen(
            [
                "gcloud",
                "beta",
                "emulators",
                self.COMMAND,
                "start",
                f"--host-port={self.host}",
                *self._arguments(),
                "--quiet",
                "--verbosity=error",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait = self.START_TIMEOUT if timeout is None else timeout
        try:
            wait_until(self._ready, wait, f"the {self.NAME} emulator on {self.host}", 0.1)
        except TimeoutError as error:
            self.stop()
            raise EmulatorError(f"{error}; its output is in {self._log.name}") from None
        return self

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            output = Path(self._log.name).read_text(errors="replace")[-2000:]
            raise EmulatorError(f"the {self.NAME} emulator exited at start:\n{output}")
        try:
            with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        if self._process is None:
            return
        _stop_group(self._process)
        self._process = None

    def __enter__(self) -> _GcloudEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """Point Google's clients in this process (and its children) at the emulator."""
        previous = os.environ.get(self.ENVIRONMENT)
        os.environ[self.ENVIRONMENT] = self.host
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(self.ENVIRONMENT, None)
            else:
                os.environ[self.ENVIRONMENT] = previous


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``process``, SIGKILL it if it lingers, then make sure."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # The emulator's Java child outlives gcloud's wrapper: make sure the group is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class PubSubEmulator(_GcloudEmulator):
    """The Pub/Sub emulator (``PUBSUB_EMULATOR_HOST``), with a fresh data directory."""

    NAME, COMMAND, COMPONENT = "Pub/Sub", "pubsub", "pubsub-emulator"
    ENVIRONMENT = "PUBSUB_EMULATOR_HOST"

    def _arguments(self) -> list[str]:
        data_dir = tempfile.mkdtemp(prefix="pubsub-emulator-data-")
        return [f"--project={self.project}", f"--data-dir={data_dir}"]


class FirestoreEmulator(_GcloudEmulator):
    """The Firestore emulator in Native mode (``FIRESTORE_EMULATOR_HOST``); the delivery
    ledger's store."""

    NAME, COMMAND, COMPONENT = "Firestore", "firestore", "cloud-firestore-emulator"
    ENVIRONMENT = "FIRESTORE_EMULATOR_HOST"
    START_TIMEOUT = 90.0

    def clear(self, database: str = "(default)") -> None:
        """Delete every document of ``database`` (the emulator's own reset endpoint)."""
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}/databases/{database}"
            "/documents",
            method="DELETE",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
