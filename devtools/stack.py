"""The whole pipeline on one machine: ``make demo``, ``make local``, and the end-to-end tests.

Pub/Sub emulator (gcloud) -> webhook (functions-framework) -> events topic -> push subscription
(same retry and dead-letter rules as Terraform) -> worker (functions-framework) -> Drift API
simulator and CRM sink (in this process, unless real URLs are given). The worker's delivery
ledger lives in the Firestore emulator (gcloud), or in the worker's memory with
``ledger="memory"``. With ``crm_standin="hubspot"`` (or another built-in recipe with a
stand-in, see ``devtools.crm_standins``) the worker runs that recipe against the project's
stand-in of the vendor's API, started in this process, instead of the sink.

Both functions run as separate processes started the way Cloud Functions starts them, so what
works here works there. Every process started is stopped on exit, the emulators included:

* ``stop()`` is bounded: every process group gets SIGTERM at once, and whatever still runs
  after ``stop_grace_seconds`` gets SIGKILL; then each is reaped. It works in any state of the
  stack, also while ``start()`` is still running in another thread (``make local`` starts the
  stack in a thread so that a signal during start-up is acted on at once).
* If the stack's own process dies without stopping (SIGKILL, a crash), a small watchdog
  process notices (its pipe from the stack reaches end of file) and kills every process the
  stack started, found by a marker in their environment (``DRIFT_BRIDGE_STACK_ID``), so the
  emulators' Java children and gunicorn's workers are found too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.crm_sink import CrmSink
from devtools.drift_simulator import DriftSimulator
from devtools.emulator import EmulatorError, PubSubEmulator, free_port, port_is_free, wait_until
from devtools.pubsub_admin import PubSubAdmin, PushSettings

ROOT = Path(__file__).resolve().parent.parent
LOCAL_PROJECT = "drift-bridge-local"
LOCAL_VERIFICATION_TOKEN = "local-verification-token"
LOCAL_ACCESS_TOKEN = "local-access-token"
STACK_MARKER = "DRIFT_BRIDGE_STACK_ID"
LEDGERS = ("firestore", "memory")


class StackError(RuntimeError):
    """Something the stack needs is missing or did not come up."""


class StackStopped(StackError):
    """``stop()`` was called while the stack was still starting."""


@dataclass
class StackConfig:
    project: str = LOCAL_PROJECT
    topic: str = "drift-events"
    dead_letter_topic: str = "drift-events-dead-letter"
    webhook_port: int = 8080
    worker_port: int = 8081
    verification_token: str = LOCAL_VERIFICATION_TOKEN
    access_token: str = LOCAL_ACCESS_TOKEN
    drift_api_base_url: str | None = None  # None: the simulator
    crm_endpoint_url: str | None = None  # None: the CRM sink
    # A built-in recipe's name: the worker runs it against that vendor's stand-in (started
    # here, with its own local credentials); the sink still starts, unused.
    crm_standin: str | None = None
    emulator_host: str | None = None  # None: start one
    push: PushSettings = field(default_factory=PushSettings)
    simulator_latency: float = 0.0
    sink_signing_secret: str | None = None
    sink_api_token: str | None = None
    webhook_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    ledger: str = "firestore"  # or "memory": the worker keeps its ledger in its own memory
    # None with ledger="firestore": FIRESTORE_EMULATOR_HOST of this process if set (the test
    # session's emulator; each stack has a collection prefix of its own), else start one.
    firestore_emulator_host: str | None = None
    ledger_collection_prefix: str | None = None  # None: one of this stack's own
    stop_grace_seconds: float = 5.0  # SIGTERM first; SIGKILL for what still runs after this

    def __post_init__(self) -> None:
        if self.ledger not in LEDGERS:
            raise StackError(f"LEDGER must be one of {', '.join(LEDGERS)}, not {self.ledger!r}")

    @property
    def push_subscription(self) -> str:
        return f"{self.topic}-worker"

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.dead_letter_topic}-hold"  # as terraform/locals.tf names it


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (every process the stack starts leads one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _running(pid: int) -> bool:
    """``pid`` exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc/self/stat").exists()
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _start_failure(name: str, code: int | None, log_path: Path) -> StackError:
    """One clear line for a component that exited at start: the reason it logged, not a tail."""
    reason = ""
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                reason = reason or line[:300]
                continue
            if isinstance(entry, dict) and entry.get("severity") in ("CRITICAL", "ERROR"):
                reason = str(entry.get("message", ""))[:500]
    detail = f": {reason}" if reason else ""
    return StackError(f"the {name} did not start (exit code {code}){detail} (its log: {log_path})")


class FunctionProcess:
    """One function under functions-framework, in its own process group."""

    def __init__(
        self,
        name: str,
        target: str,
        port: int,
        env: dict[str, str],
        log_path: Path,
        signature: str = "http",
        source: Path | None = None,
        *,
        guard: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        """``guard``: a context manager factory held around the spawn (the stack's: no spawn
        once it is stopping); ``cancelled``: ``ready()`` gives up when it turns true."""
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log_path
        executable = Path(sys.executable).parent / "functions-framework"
        self.argv = [
            str(executable),
            f"--target={target}",
            f"--signature-type={signature}",
            f"--source={source or ROOT / 'functions' / name / 'main.py'}",
            "--host=127.0.0.1",
            f"--port={port}",
        ]
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None
        self._guard = guard or contextlib.nullcontext
        self._cancelled = cancelled or (lambda: False)

    def start(self) -> FunctionProcess:
        if not port_is_free(self.port):
            raise StackError(f"port {self.port} for the {self.name} is taken: set a free one")
        with self._guard():
            log = self.log_path.open("ab")
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            finally:
                log.close()
        return self

    def ready(self) -> bool:
        """Listening and answering HTTP. The probe asks for ``/robots.txt``, which
        functions-framework answers itself (404, or 405 for an event function) without
        calling the function, so the function logs nothing for it."""
        if self._cancelled():
            raise StackStopped(f"stopped while waiting for the {self.name}")
        process = self.process
        if process is not None and process.poll() is not None:
            raise _start_failure(self.name, process.returncode, self.log_path)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        try:
            urllib.request.urlopen(f"{self.url}robots.txt", timeout=2)
        except urllib.error.HTTPError:
            return True  # it answered (404/405 is an answer)
        except (urllib.error.URLError, OSError):
            return False
        return True

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def send_signal(self, sig: int) -> None:
        """Signal its process group (gunicorn's master and workers), if it still runs."""
        process = self.process
        if process is not None and process.poll() is None:
            _signal_group(process.pid, sig)

    def exited(self) -> bool:
        process = self.process
        return process is None or process.poll() is not None

    def reap(self, timeout: float = 5.0) -> None:
        """Kill what is left of its group and collect its exit status."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout)
        _signal_group(process.pid, signal.SIGKILL)  # the group may outlive its leader
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
        self.process = None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        if self.process is None:
            return
        self.send_signal(sig)
        deadline = time.monotonic() + grace
        while not self.exited() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.send_signal(signal.SIGKILL)
        self.reap()

    def kill(self) -> None:
        """Kill at once, as a crashed instance would die (no cleanup)."""
        self.stop(signal.SIGKILL)


_WATCHDOG_CODE = r"""
import os, signal, sys, time
marker = sys.argv[1].encode()
me = os.getpid()

def marked():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            found.append(int(name))
    return found

def sweep():
    for _ in range(100):
        pids = marked()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, lambda *_: (sweep(), os._exit(0)))
for line in sys.stdin:
    command = line.strip()
    if command == "sweep":
        sweep()
        sys.stdout.write("swept\n")
        sys.stdout.flush()
    elif command == "bye":
        os._exit(0)
sweep()
"""


class Watchdog:
    """A separate process that kills every process marked with this stack's id once the stack
    goes away without saying goodbye (its stdin, a pipe from the stack, reaches end of file:
    the kernel closes it however the stack's process ends). Linux (it reads /proc)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Watchdog:
        if not Path("/proc/self/environ").exists():
            return self  # not Linux: the stack's own stop() is all there is
        env = {k: v for k, v in os.environ.items() if k != STACK_MARKER}
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG_CODE, self.marker],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,
        )
        return self

    def sweep(self, timeout: float = 10.0) -> None:
        """Kill whatever marked process is still alive now (bounded)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            process.stdin.write("sweep\n")
            process.stdin.flush()
        except OSError:
            return
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if ready:
            process.stdout.readline()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.write("bye\n")
            process.stdin.flush()
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        with contextlib.suppress(OSError):
            process.stdout.close()


def rotate_log(path: Path) -> None:
    """Start ``path`` afresh, keeping the previous run's as ``<name>.1``."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


class LocalStack:
    """Start with ``start()`` (or ``with``); ``webhook_url``; ``stop()``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.emulator: PubSubEmulator | None = None
        self.emulator_host: str | None = self.config.emulator_host
        self.firestore: Any = None  # devtools.emulator.FirestoreEmulator when started here
        self.firestore_host: str | None = self.config.firestore_emulator_host or (
            os.environ.get("FIRESTORE_EMULATOR_HOST") or None
        )
        self.ledger_prefix = self.config.ledger_collection_prefix or (
            f"stack_{uuid.uuid4().hex[:10]}_"
        )
        self.simulator: DriftSimulator | None = None
        self.sink: CrmSink | None = None
        self.crm_standin: Any = None  # devtools.vendors.VendorStandIn with config.crm_standin
        self.webhook: FunctionProcess | None = None
        self.worker: FunctionProcess | None = None
        self.admin: PubSubAdmin | None = None
        self.log_dir = self.config.log_dir or Path(tempfile.mkdtemp(prefix="drift-bridge-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stack_id = uuid.uuid4().hex
        self._watchdog: Watchdog | None = None
        self._previous_emulator_env: str | None = None
        self._env_saved = False
        self._lock = threading.Lock()  # guards _cancelled and every spawn
        self._stop_lock = threading.Lock()
        self._cancelled = False
        self._starting: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> LocalStack:
        self._starting = threading.current_thread()
        try:
            self._start(timeout)
        except BaseException:
            if not self.cancelled:  # else whoever cancelled is stopping everything
                self.stop()
            raise
        finally:
            self._starting = None
        return self

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @contextlib.contextmanager
    def _spawning(self) -> Iterator[None]:
        with self._lock:
            if self._cancelled:
                raise StackStopped("the stack is stopping")
            yield

    @contextlib.contextmanager
    def _marked_environment(self) -> Iterator[None]:
        """Children that inherit this process's environment (the emulators) carry the marker."""
        previous = os.environ.get(STACK_MARKER)
        os.environ[STACK_MARKER] = self.stack_id
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(STACK_MARKER, None)
            else:
                os.environ[STACK_MARKER] = previous

    def _start(self, timeout: float) -> None:
        cfg = self.config
        for name, port in (("webhook", cfg.webhook_port), ("worker", cfg.worker_port)):
            if port and not port_is_free(port):
                raise StackError(
                    f"port {port} for the {name} is already taken: stop what uses it or set "
                    f"{name.upper()}_PORT to a free port"
                )
        with self._spawning():
            self._watchdog = Watchdog(f"{STACK_MARKER}={self.stack_id}").start()
        if self.emulator_host is None:
            with self._spawning():
                self.emulator = PubSubEmulator(project=cfg.project)
            with self._marked_environment():
                self.emulator.start()
            self.emulator_host = self.emulator.host
        if cfg.ledger == "firestore" and self.firestore_host is None:
            from devtools.emulator import FirestoreEmulator

            with self._spawning():
                self.firestore = FirestoreEmulator(project=cfg.project)
            with self._marked_environment():
                self.firestore.start()
            self.firestore_host = self.firestore.host
        self._previous_emulator_env = os.environ.get("PUBSUB_EMULATOR_HOST")
        self._env_saved = True
        os.environ["PUBSUB_EMULATOR_HOST"] = self.emulator_host
        if cfg.drift_api_base_url is None:
            self.simulator = DriftSimulator(
                access_token=cfg.access_token, latency=cfg.simulator_latency
            ).start()
        if cfg.crm_endpoint_url is None:
            self.sink = CrmSink(
                signing_secret=cfg.sink_signing_secret, api_token=cfg.sink_api_token
            ).start()
        standin_env: dict[str, str] = {}
        if cfg.crm_standin:
            from devtools import crm_standins

            self.crm_standin = crm_standins.start(cfg.crm_standin)
            standin_env = crm_standins.worker_settings(cfg.crm_standin, self.crm_standin)
            if self.simulator is not None:
                self._deliverable_seed(crm_standins.DEMO_EMAIL)

        self.admin = PubSubAdmin(cfg.project)
        self.admin.create_topic(cfg.topic)
        self.admin.create_topic(cfg.dead_letter_topic)
        self.admin.create_pull_subscription(cfg.dead_letter_topic, cfg.dead_letter_subscription)
        if self.cancelled:
            raise StackStopped("the stack is stopping")

        common = {
            "GOOGLE_CLOUD_PROJECT": cfg.project,
            "PUBSUB_EMULATOR_HOST": self.emulator_host,
            "LOG_LEVEL": "INFO",
            STACK_MARKER: self.stack_id,
        }
        ledger_env = {"LEDGER": cfg.ledger}
        if cfg.ledger == "firestore":
            ledger_env["FIRESTORE_EMULATOR_HOST"] = self.firestore_host or ""
            ledger_env["LEDGER_COLLECTION_PREFIX"] = self.ledger_prefix
        worker_log, webhook_log = self.log_dir / "worker.log", self.log_dir / "webhook.log"
        rotate_log(worker_log)
        rotate_log(webhook_log)
        self.worker = FunctionProcess(
            "worker",
            "worker",
            cfg.worker_port or free_port(),
            {
                **common,
                **ledger_env,
                "DEAD_LETTER_TOPIC": cfg.dead_letter_topic,
                "DRIFT_ACCESS_TOKEN": cfg.access_token,
                "DRIFT_API_BASE_URL": cfg.drift_api_base_url or self.simulator.url,
                "CRM_ENDPOINT_URL": cfg.crm_endpoint_url or f"{self.sink.url}/crm/records",
                **(
                    {"CRM_SIGNING_SECRET": cfg.sink_signing_secret}
                    if cfg.sink_signing_secret
                    else {}
                ),
                **({"CRM_API_TOKEN": cfg.sink_api_token} if cfg.sink_api_token else {}),
                **cfg.worker_env,
                **standin_env,
            },
            worker_log,
            signature="cloudevent",
            guard=self._spawning,
            cancelled=lambda: self.cancelled,
        ).start()
        self.webhook = FunctionProcess(
            "webhook",
            "webhook",
            cfg.webhook_port or free_port(),
            {
                **common,
                "PUBSUB_TOPIC": cfg.topic,
                "DRIFT_VERIFICATION_TOKEN": cfg.verification_token,
                **cfg.webhook_env,
            },
            webhook_log,
            guard=self._spawning,
            cancelled=lambda: self.cancelled,
        ).start()
        wait_until(self.worker.ready, timeout, "the worker to answer")
        wait_until(self.webhook.ready, timeout, "the webhook to answer")
        self.admin.create_push_subscription(
            cfg.topic, cfg.push_subscription, self.worker.url, cfg.dead_letter_topic, cfg.push
        )

    def _deliverable_seed(self, email: str) -> None:
        """The simulator's sample conversation with a visitor address a CRM accepts (the seed
        article's own is obfuscated, "[email protected]", and a CRM refuses it)."""
        from samples import drift_seed

        assert self.simulator is not None
        contact = drift_seed.sample_contact()
        contact["attributes"]["email"] = email
        self.simulator.add_conversation(
            drift_seed.sample_conversation(),
            contact=contact,
            transcript=drift_seed.SAMPLE_TRANSCRIPT,
            messages=drift_seed.sample_messages(),
        )

    def restart_worker(self, timeout: float = 60.0) -> None:
        """Start the worker again on the same port (after ``worker.kill()``)."""
        assert self.worker is not None
        wait_until(lambda: port_is_free(self.worker.port), 30, "the worker's port to be free")
        self.worker.start()
        wait_until(self.worker.ready, timeout, "the restarted worker to answer")

    def _functions(self) -> list[FunctionProcess]:
        return [p for p in (self.webhook, self.worker) if p is not None]

    def _emulators(self) -> list[Any]:
        return [e for e in (self.emulator, self.firestore) if e is not None]

    def _signal_all(self, sig: int, signalled: set[int]) -> None:
        for function in self._functions():
            pid = function.pid
            if pid is not None and pid not in signalled and not function.exited():
                function.send_signal(sig)
                signalled.add(pid)
        for emulator in self._emulators():
            pid = emulator.pid
            if pid is not None and pid not in signalled:
                _signal_group(pid, sig)
                signalled.add(pid)

    def _all_exited(self) -> bool:
        if not all(function.exited() for function in self._functions()):
            return False
        return not any(_running(e.pid) for e in self._emulators() if e.pid is not None)

    def stop(self, urgent: Callable[[], bool] | None = None) -> None:
        """Stop everything, bounded: SIGTERM to every process group at once, SIGKILL to what
        still runs after the grace period (at once when ``urgent()`` turns true), reap each,
        then the in-process servers. Safe to call twice, and from another thread while
        ``start()`` runs."""
        with self._lock:
            self._cancelled = True
        with self._stop_lock:
            if self._stopped:
                return
            try:
                self._stop_processes(urgent or (lambda: False))
            finally:
                self._stopped = True
                self._stop_servers()

    def _stop_processes(self, urgent: Callable[[], bool]) -> None:
        starter = self._starting
        other_thread_starting = starter is not None and starter is not threading.current_thread()
        terminated: set[int] = set()
        deadline = time.monotonic() + self.config.stop_grace_seconds
        while time.monotonic() < deadline and not urgent():
            self._signal_all(signal.SIGTERM, terminated)  # also what start() spawns meanwhile
            still_starting = other_thread_starting and self._starting is starter
            if self._all_exited() and not still_starting:
                break
            time.sleep(0.05)
        killed: set[int] = set()
        self._signal_all(signal.SIGKILL, killed)
        if other_thread_starting:
            # Its waits fail fast now that every process is gone; bounded all the same.
            settle = time.monotonic() + 10
            while self._starting is starter and time.monotonic() < settle:
                self._signal_all(signal.SIGKILL, killed)
                time.sleep(0.05)
        for function in self._functions():
            function.reap(timeout=5)
        for emulator in self._emulators():
            with contextlib.suppress(Exception):
                emulator.stop()
        self.emulator = None
        self.firestore = None
        if self._watchdog is not None:
            self._watchdog.sweep()
            self._watchdog.close()
            self._watchdog = None

    def _stop_servers(self) -> None:
        if self.admin is not None:
            with contextlib.suppress(Exception):
                self.admin.close()
            self.admin = None
        for server in (self.simulator, self.sink, self.crm_standin):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        if self._env_saved:
            if self._previous_emulator_env is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = self._previous_emulator_env
            self._env_saved = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -----------------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str:
        assert self.webhook is not None
        return self.webhook.url

    def pids(self) -> list[int]:
        found = [p.pid for p in (self.webhook, self.worker) if p and p.pid]
        for emulator in self._emulators():
            if emulator.pid:
                found.append(emulator.pid)
        return found

    def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a webhook body as Drift would; returns (status, text)."""
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def dead_letters(self, count: int, timeout: float = 60.0) -> list[Any]:
        assert self.admin is not None
        return self.admin.wait_for(self.config.dead_letter_subscription, count, timeout)

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log"))
        )


@contextlib.contextmanager
def running(config: StackConfig) -> Iterator[LocalStack]:
    stack = LocalStack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack")
    parser.add_argument("mode", choices=["demo", "local"])
    parser.add_argument(
        "--recipe",
        help="a built-in CRM recipe (hubspot, salesforce, pipedrive): the demo delivers to the "
        "project's stand-in of that vendor's API and prints what it then holds; for local, "
        "the same as CRM_RECIPE",
    )
    args = parser.parse_args(argv)
    from devtools import demo, local

    try:
        if args.mode == "demo":
            return demo.run(recipe=args.recipe or None)
        if args.recipe:
            os.environ["CRM_RECIPE"] = args.recipe
        return local.run()
    except (StackError, EmulatorError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run the imported module's main(), not this __main__ copy: demo.py and local.py raise the
    # imported module's StackError, which only its main() catches.
    from devtools import stack

    sys.exit(stack.main())
