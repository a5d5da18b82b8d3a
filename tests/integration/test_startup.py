"""Start-up of the real processes (contract section 3): under functions-framework, a missing or
invalid setting stops the function with one CRITICAL JSON line naming it and no traceback; a
valid configuration starts and answers."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.stack

FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
WORKER_SOURCE = ROOT / "functions/worker/main.py"
START_TIMEOUT = 60.0  # seconds for a process to either exit or answer

needs_worker = pytest.mark.skipif(
    not WORKER_SOURCE.exists(), reason="functions/worker/main.py does not exist yet"
)

# Everything the bridge reads, so that the caller's shell (or another test) cannot leak in.
_SCRUBBED_PREFIXES = ("DRIFT_", "CRM_", "PUBSUB_", "DEAD_LETTER", "PUBLISH_", "SECRET_MANAGER")
_SCRUBBED = {
    "GOOGLE_CLOUD_PROJECT",
    "LOG_LEVEL",
    "MAX_BODY_BYTES",
    "INCLUDE_MESSAGES",
    "USERS_CACHE_TTL_SECONDS",
    "MAX_EVENT_AGE_SECONDS",
    "FUNCTION_TARGET",
    "FUNCTION_SIGNATURE_TYPE",
    "FUNCTION_SOURCE",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_address() -> str:
    return f"127.0.0.1:{free_port()}"


def environment(**values: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name not in _SCRUBBED
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def webhook_env(**values: str) -> dict[str, str]:
    return {
        "PUBSUB_EMULATOR_HOST": closed_port_address(),
        "DRIFT_VERIFICATION_TOKEN": "startup-verification-token",
        "PUBLISH_TIMEOUT_SECONDS": "1",
    } | values


def worker_env(**values: str) -> dict[str, str]:
    return {
        "PUBSUB_EMULATOR_HOST": closed_port_address(),
        "DRIFT_ACCESS_TOKEN": "startup-access-token",
        "DRIFT_API_BASE_URL": f"http://{closed_port_address()}",
        "CRM_ENDPOINT_URL": f"http://{closed_port_address()}/crm",
        "PUBLISH_TIMEOUT_SECONDS": "1",
    } | values


class Function:
    """One functions-framework process; its stdout and stderr merged into one output."""

    def __init__(self, target: str, source: Path, signature: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(FUNCTIONS_FRAMEWORK),
                "--target",
                target,
                "--source",
                str(source),
                "--signature-type",
                signature,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=environment(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""

    def get(self) -> int | None:
        """The status of ``GET /``, or None while nothing listens."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def exit_or_answer(self, timeout: float = START_TIMEOUT) -> int | None:
        """Poll until the process exits (None) or answers a GET (its status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.output = self.process.communicate(timeout=10)[0]
                return None
            status = self.get()
            if status is not None:
                return status
            time.sleep(0.1)  # poll interval, not a guess at readiness
        pytest.fail(f"neither exited nor answered within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.output += self.process.communicate(timeout=20)[0]
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output += self.process.communicate()[0]


@pytest.fixture
def start():
    started: list[Function] = []

    def run(target: str, source: Path, signature: str, env: dict[str, str]) -> Function:
        function = Function(target, source, signature, env)
        started.append(function)
        return function

    yield run
    for function in started:
        function.stop()


def assert_stopped_naming(function: Function, name: str) -> None:
    # THEN the process exited non-zero without ever serving
    status = function.exit_or_answer()
    output = function.output
    assert status is None, f"started and answered {status} instead of stopping:\n{output}"
    assert function.process.returncode != 0, output
    # AND exactly one line names the setting: a Cloud Logging JSON line at CRITICAL
    naming = [line for line in output.splitlines() if name in line]
    assert len(naming) == 1, output
    line = json.loads(naming[0])
    assert line["severity"] == "CRITICAL"
    assert name in line["message"]
    # AND no Python traceback reached the output
    assert "Traceback" not in output, output


# --- the webhook --------------------------------------------------------------------------------


def test_webhook_without_verification_token_stops_with_one_critical_line(start):
    env = webhook_env()
    del env["DRIFT_VERIFICATION_TOKEN"]
    webhook = start("webhook", ROOT / "functions/webhook/main.py", "http", env)
    assert_stopped_naming(webhook, "DRIFT_VERIFICATION_TOKEN")


def test_webhook_with_a_non_numeric_publish_timeout_stops_with_one_critical_line(start):
    env = webhook_env(PUBLISH_TIMEOUT_SECONDS="abc")
    webhook = start("webhook", ROOT / "functions/webhook/main.py", "http", env)
    assert_stopped_naming(webhook, "PUBLISH_TIMEOUT_SECONDS")
    assert "startup-verification-token" not in webhook.output


def test_webhook_with_valid_settings_starts_and_answers_get_with_405(start):
    # GIVEN a valid configuration whose Pub/Sub emulator is not even running
    webhook = start("webhook", ROOT / "functions/webhook/main.py", "http", webhook_env())
    # WHEN it is polled until it answers
    status = webhook.exit_or_answer()
    # THEN it answers a GET with 405 (Drift only POSTs), and stops on SIGTERM
    assert status == 405, webhook.output
    webhook.stop()
    assert webhook.process.returncode is not None
    assert "startup-verification-token" not in webhook.output
    assert "Traceback" not in webhook.output


def test_webhook_with_an_empty_verification_token_stops(start):
    # Regression: it used to start, and then verified any body whose token was ''.
    env = webhook_env(DRIFT_VERIFICATION_TOKEN="")
    webhook = start("webhook", ROOT / "functions/webhook/main.py", "http", env)
    assert_stopped_naming(webhook, "DRIFT_VERIFICATION_TOKEN")


def test_webhook_with_an_invalid_secret_reference_stops(start):
    # Regression: it used to start, then answer every request (even a GET) with 500.
    env = webhook_env(DRIFT_VERIFICATION_TOKEN_SECRET="not/a/reference")
    del env["DRIFT_VERIFICATION_TOKEN"]
    webhook = start("webhook", ROOT / "functions/webhook/main.py", "http", env)
    assert_stopped_naming(webhook, "DRIFT_VERIFICATION_TOKEN_SECRET")


# --- the worker ---------------------------------------------------------------------------------


@needs_worker
@pytest.mark.parametrize("name", ["CRM_ENDPOINT_URL", "DRIFT_ACCESS_TOKEN"])
def test_worker_without_a_required_setting_stops_with_one_critical_line(start, name):
    env = worker_env()
    del env[name]
    worker = start("worker", WORKER_SOURCE, "cloudevent", env)
    assert_stopped_naming(worker, name)


@needs_worker
def test_worker_with_an_invalid_crm_url_stops_with_one_critical_line(start):
    worker = start("worker", WORKER_SOURCE, "cloudevent", worker_env(CRM_ENDPOINT_URL="not a url"))
    assert_stopped_naming(worker, "CRM_ENDPOINT_URL")
    assert "startup-access-token" not in worker.output


@needs_worker
def test_worker_with_an_invalid_secret_reference_names_it(start):
    # Regression: the worker stopped, but its line did not name the bad setting.
    env = worker_env(DRIFT_ACCESS_TOKEN_SECRET="not/a/reference")
    del env["DRIFT_ACCESS_TOKEN"]
    worker = start("worker", WORKER_SOURCE, "cloudevent", env)
    assert_stopped_naming(worker, "DRIFT_ACCESS_TOKEN_SECRET")


@needs_worker
def test_worker_with_valid_settings_starts_and_refuses_get(start):
    worker = start("worker", WORKER_SOURCE, "cloudevent", worker_env())
    status = worker.exit_or_answer()
    assert status == 405, worker.output  # CloudEvents arrive as POST only
    worker.stop()
    assert "startup-access-token" not in worker.output
    assert "Traceback" not in worker.output
