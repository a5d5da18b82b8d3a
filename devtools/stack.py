"""The whole pipeline on one machine: ``make demo``, ``make local``, and the end-to-end tests.

Pub/Sub emulator (gcloud) -> webhook (functions-framework) -> events topic -> push subscription
(same retry and dead-letter rules as Terraform) -> worker (functions-framework) -> Drift API
simulator and CRM sink (in this process, unless real URLs are given).

Both functions run as separate processes started the way Cloud Functions starts them, so what
works here works there. Every process started is stopped on exit, the emulator included.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
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


class StackError(RuntimeError):
    """Something the stack needs is missing or did not come up."""


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
    emulator_host: str | None = None  # None: start one
    push: PushSettings = field(default_factory=PushSettings)
    simulator_latency: float = 0.0
    sink_signing_secret: str | None = None
    sink_api_token: str | None = None
    webhook_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None

    @property
    def push_subscription(self) -> str:
        return f"{self.topic}-worker"

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.dead_letter_topic}-hold"  # as terraform/locals.tf names it


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
    ) -> None:
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

    def start(self) -> FunctionProcess:
        if not port_is_free(self.port):
            raise StackError(f"port {self.port} for the {self.name} is taken: set a free one")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-1500:]
            raise StackError(
                f"the {self.name} exited at start (code {self.process.returncode}):\n{tail}"
            )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        try:
            urllib.request.urlopen(self.url, timeout=2)
        except urllib.error.HTTPError:
            return True  # it answered (405/400 is an answer)
        except (urllib.error.URLError, OSError):
            return False
        return True

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """Kill at once, as a crashed instance would die (no cleanup)."""
        self.stop(signal.SIGKILL)


class LocalStack:
    """Start with ``start()`` (or ``with``); ``webhook_url``; ``stop()``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.emulator: PubSubEmulator | None = None
        self.emulator_host: str | None = self.config.emulator_host
        self.simulator: DriftSimulator | None = None
        self.sink: CrmSink | None = None
        self.webhook: FunctionProcess | None = None
        self.worker: FunctionProcess | None = None
        self.admin: PubSubAdmin | None = None
        self.log_dir = self.config.log_dir or Path(tempfile.mkdtemp(prefix="drift-bridge-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._previous_emulator_env: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> LocalStack:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        cfg = self.config
        for name, port in (("webhook", cfg.webhook_port), ("worker", cfg.worker_port)):
            if port and not port_is_free(port):
                raise StackError(
                    f"port {port} for the {name} is already taken: stop what uses it or set "
                    f"{name.upper()}_PORT to a free port"
                )
        if self.emulator_host is None:
            self.emulator = PubSubEmulator(project=cfg.project).start()
            self.emulator_host = self.emulator.host
        self._previous_emulator_env = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = self.emulator_host
        if cfg.drift_api_base_url is None:
            self.simulator = DriftSimulator(
                access_token=cfg.access_token, latency=cfg.simulator_latency
            ).start()
        if cfg.crm_endpoint_url is None:
            self.sink = CrmSink(
                signing_secret=cfg.sink_signing_secret, api_token=cfg.sink_api_token
            ).start()

        self.admin = PubSubAdmin(cfg.project)
        self.admin.create_topic(cfg.topic)
        self.admin.create_topic(cfg.dead_letter_topic)
        self.admin.create_pull_subscription(cfg.dead_letter_topic, cfg.dead_letter_subscription)

        common = {
            "GOOGLE_CLOUD_PROJECT": cfg.project,
            "PUBSUB_EMULATOR_HOST": self.emulator_host,
            "LOG_LEVEL": "INFO",
        }
        self.worker = FunctionProcess(
            "worker",
            "worker",
            cfg.worker_port or free_port(),
            {
                **common,
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
            },
            self.log_dir / "worker.log",
            signature="cloudevent",
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
            self.log_dir / "webhook.log",
        ).start()
        wait_until(self.worker.ready, timeout, "the worker to answer")
        wait_until(self.webhook.ready, timeout, "the webhook to answer")
        self.admin.create_push_subscription(
            cfg.topic, cfg.push_subscription, self.worker.url, cfg.dead_letter_topic, cfg.push
        )

    def restart_worker(self, timeout: float = 60.0) -> None:
        """Start the worker again on the same port (after ``worker.kill()``)."""
        assert self.worker is not None
        wait_until(lambda: port_is_free(self.worker.port), 30, "the worker's port to be free")
        self.worker.start()
        wait_until(self.worker.ready, timeout, "the restarted worker to answer")

    def stop(self) -> None:
        for process in (self.webhook, self.worker):
            if process is not None:
                process.stop()
        if self.admin is not None:
            with contextlib.suppress(Exception):
                self.admin.close()
            self.admin = None
        for server in (self.simulator, self.sink):
            if server is not None:
                server.stop()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self._previous_emulator_env is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = self._previous_emulator_env

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
        if self.emulator and self.emulator.pid:
            found.append(self.emulator.pid)
        return found

    def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a webhook body as Drift would; returns (status, text)."""
        import json

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
    args = parser.parse_args(argv)
    from devtools import demo, local

    try:
        if args.mode == "demo":
            return demo.run()
        return local.run()
    except (StackError, EmulatorError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run the imported module's main(), not this __main__ copy: demo.py and local.py raise the
    # imported module's StackError, which only its main() catches.
    from devtools import stack

    sys.exit(stack.main())
