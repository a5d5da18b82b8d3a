"""The deployable bundles: what is inside, that they are reproducible, and that they boot.

Booting is done the way Cloud Functions does it: the zip unpacked into an empty folder,
its requirements.txt (the lock: exact versions and hashes) installed with
``--require-hashes`` into a clean virtual environment (one, shared by both bundles, since
their requirements.txt is the same file), then ``functions-framework
--target <entry point>`` started in that folder, main.py at its root. The worker is started
with ``FUNCTION_SIGNATURE_TYPE=http`` on purpose: Terraform deploys it without an event
trigger, and only its ``@functions_framework.cloud_event`` decorator makes it a CloudEvent
function; the test proves the decorator wins.

Each function then gets one request: the webhook a wrong token (401 proves it booted and
parsed its settings), the worker a Pub/Sub push of an event type it ignores (2xx).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.bundle

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "scripts" / "bundle.py"
FUNCTIONS = ("webhook", "worker")
BOOT_TIMEOUT = 90.0  # seconds for functions-framework to answer on its port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_bundle(out: Path, root: Path = ROOT) -> dict[str, Path]:
    result = subprocess.run(
        [sys.executable, str(BUNDLE), "--out", str(out), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = dict(reversed(line.split()) for line in result.stdout.splitlines())
    zips = {name: out / f"{name}.zip" for name in FUNCTIONS}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for name, path in zips.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert printed[str(path)] == digest
        assert manifest[name]["sha256"] == digest
        with zipfile.ZipFile(path) as archive:
            assert manifest[name]["files"] == archive.namelist()
    return zips


def copy_sources(target: Path) -> Path:
    """A snapshot of what the bundles are made of, safe from edits while the test runs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("functions", "shared", "examples"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    shutil.copy2(ROOT / "requirements.txt", target / "requirements.txt")
    (target / "terraform").mkdir()
    shutil.copy2(ROOT / "terraform" / "deploy.auto.tfvars", target / "terraform")
    return target


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return run_bundle(tmp_path_factory.mktemp("dist"))


# --- contents ------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bundle_has_main_shared_and_requirements_at_the_root(
    bundles: dict[str, Path], name: str
) -> None:
    with zipfile.ZipFile(bundles[name]) as archive:
        names = archive.namelist()
        assert archive.read("main.py") == (ROOT / "functions" / name / "main.py").read_bytes()
        assert archive.read("requirements.txt") == (ROOT / "requirements.txt").read_bytes()
    assert "shared/__init__.py" in names
    shared_py = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "shared").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert shared_py <= set(names), shared_py - set(names)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bundle_holds_nothing_else(bundles: dict[str, Path], name: str) -> None:
    with zipfile.ZipFile(bundles[name]) as archive:
        names = archive.namelist()
    assert names == sorted(names), "entries must be sorted (reproducible bytes)"
    for entry in names:
        parts = entry.split("/")
        assert "__pycache__" not in parts and not entry.endswith((".pyc", ".pyo")), entry
        assert not {"tests", "test", "devtools", "terraform", "dist"} & set(parts), entry
        assert not parts[-1].startswith((".", "test_")), entry
        allowed = {"shared", "examples"} if name == "worker" else {"shared"}
        assert parts[0] in allowed or len(parts) == 1, f"unexpected top-level entry {entry}"
        if parts[0] == "examples":
            assert parts[1] in {"mappings", "recipes"} and entry.endswith(
                (".yaml", ".yml", ".json")
            )


def test_worker_bundle_ships_the_mappings_and_recipes_at_their_repository_paths(
    bundles: dict[str, Path],
) -> None:
    # GIVEN CRM_MAPPING_FILE / CRM_RECIPE name paths relative to the repository root
    with zipfile.ZipFile(bundles["worker"]) as archive:
        names = set(archive.namelist())
    # THEN each example mapping and recipe is in the worker's bundle at that same path
    for folder in ("mappings", "recipes"):
        for path in (ROOT / "examples" / folder).glob("*.y*ml"):
            assert path.relative_to(ROOT).as_posix() in names, path


def test_a_file_named_in_the_deploy_settings_is_shipped_and_a_missing_one_refused(
    tmp_path: Path,
) -> None:
    source = copy_sources(tmp_path / "src")
    (source / "custom").mkdir()
    (source / "custom" / "crm.yaml").write_text("conversation: {}\n", encoding="utf-8")
    settings = source / "terraform" / "deploy.auto.tfvars"
    # GIVEN deploy.auto.tfvars names a recipe outside examples/
    settings.write_text('project_id = "p"\ncrm_recipe = "custom/crm.yaml"\n', encoding="utf-8")
    zips = run_bundle(tmp_path / "out", source)
    # THEN the worker's bundle holds it (and the webhook's does not)
    with zipfile.ZipFile(zips["worker"]) as archive:
        assert "custom/crm.yaml" in archive.namelist()
    with zipfile.ZipFile(zips["webhook"]) as archive:
        assert "custom/crm.yaml" not in archive.namelist()
    # WHEN it names a file that does not exist THEN the bundle is refused with the path
    settings.write_text('crm_mapping_file = "examples/mappings/nope.yaml"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(BUNDLE), "--out", str(tmp_path / "x"), "--root", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "examples/mappings/nope.yaml, which does not exist" in result.stderr


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bundle_entries_have_fixed_timestamps_and_modes(
    bundles: dict[str, Path], name: str
) -> None:
    with zipfile.ZipFile(bundles[name]) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.external_attr >> 16 == 0o100644, info.filename


def test_same_tree_gives_the_same_bytes_and_a_change_changes_them(tmp_path: Path) -> None:
    # GIVEN a snapshot of the sources built twice
    source = copy_sources(tmp_path / "src")
    first = run_bundle(tmp_path / "a", source)
    second = run_bundle(tmp_path / "b", source)
    # THEN the zips are identical, byte for byte
    for name in FUNCTIONS:
        assert first[name].read_bytes() == second[name].read_bytes(), name
    # WHEN a shared module changes THEN both bundles change (new hash, so a redeploy)
    (source / "shared" / "__init__.py").write_text(
        (source / "shared" / "__init__.py").read_text(encoding="utf-8") + "\n# changed\n",
        encoding="utf-8",
    )
    third = run_bundle(tmp_path / "c", source)
    for name in FUNCTIONS:
        assert third[name].read_bytes() != first[name].read_bytes(), name


def test_bundle_refuses_a_tree_without_main(tmp_path: Path) -> None:
    source = copy_sources(tmp_path / "src")
    (source / "functions" / "worker" / "main.py").unlink()
    result = subprocess.run(
        [sys.executable, str(BUNDLE), "--out", str(tmp_path / "out"), "--root", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "functions/worker/main.py is missing" in result.stderr


# --- boot ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unpacked(bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for name, path in bundles.items():
        folder = tmp_path_factory.mktemp(f"{name}-source")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)
        folders[name] = folder
    return folders


@pytest.fixture(scope="module")
def venv(unpacked: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clean virtual environment with the bundles' requirements.txt installed."""
    requirements = {(folder / "requirements.txt").read_bytes() for folder in unpacked.values()}
    assert len(requirements) == 1, "both bundles must ship the same requirements.txt"
    assert requirements == {(ROOT / "requirements.txt").read_bytes()}, "the bundles ship the lock"
    assert b"--hash=sha256:" in next(iter(requirements))
    python = shutil.which("python3.11") or sys.executable
    home = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([python, "-m", "venv", str(home)], check=True, timeout=120)
    install = subprocess.run(
        [
            str(home / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--require-hashes",
            "-r",
            str(unpacked["webhook"] / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, f"pip install -r requirements.txt failed:\n{install.stderr}"
    return home


class Function:
    """functions-framework serving one unpacked bundle, in its own process group."""

    def __init__(self, venv: Path, folder: Path, target: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = folder.parent / f"{target}.log"
        environment = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(folder.parent),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            **env,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(venv / "bin" / "functions-framework"),
                    "--target",
                    target,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=folder,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"functions-framework exited {self.process.returncode}:\n{self.output()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"functions-framework did not listen within {BOOT_TIMEOUT}s:\n{self.output()}")

    def post(self, body: dict, headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def serve(venv: Path, unpacked: dict[str, Path]) -> Iterator:
    started: list[Function] = []

    def start(name: str, env: dict[str, str]) -> Function:
        function = Function(venv, unpacked[name], name, env)
        started.append(function)
        function.wait_until_ready()
        return function

    yield start
    for function in started:
        function.stop()


@pytest.mark.timeout(900)
def test_webhook_bundle_boots_and_rejects_a_wrong_token(serve) -> None:
    # GIVEN the webhook bundle served like Cloud Functions serves it, Pub/Sub unreachable
    webhook = serve(
        "webhook",
        {
            "DRIFT_VERIFICATION_TOKEN": "boot-verification-token",
            "PUBSUB_TOPIC": "drift-events",
            "GOOGLE_CLOUD_PROJECT": "drift-bridge-boot",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}",
            "PUBLISH_TIMEOUT_SECONDS": "2",
        },
    )
    # WHEN Drift's body arrives with the wrong token
    status = webhook.post(
        {"type": "conversation_push", "orgId": 1, "token": "wrong", "data": {}},
        {"X-Verification-Token": "wrong"},
    )
    # THEN it answers 401: the code loaded, read its settings and checked the token
    assert status == 401, webhook.output()


@pytest.mark.timeout(900)
def test_worker_bundle_boots_and_acks_an_ignored_event(serve) -> None:
    closed = f"127.0.0.1:{free_port()}"
    # GIVEN the worker bundle served with no signature type hint but the platform's default
    worker = serve(
        "worker",
        {
            "FUNCTION_SIGNATURE_TYPE": "http",
            "DRIFT_ACCESS_TOKEN": "boot-access-token",
            "CRM_ENDPOINT_URL": f"http://{closed}/",
            "DRIFT_API_BASE_URL": f"http://{closed}",
            "DEAD_LETTER_TOPIC": "drift-events-dead-letter",
            "GOOGLE_CLOUD_PROJECT": "drift-bridge-boot",
            "PUBSUB_EMULATOR_HOST": closed,
        },
    )
    event = {"type": "user_unsubscribed", "orgId": 1, "data": {}}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # WHEN Pub/Sub pushes its standard envelope (what the Terraform subscription sends)
    status = worker.post(
        {
            "message": {
                "data": base64.b64encode(json.dumps(event).encode()).decode(),
                "attributes": {"type": "user_unsubscribed", "orgId": "1"},
                "messageId": "1234567890",
                "publishTime": now,
            },
            "subscription": "projects/drift-bridge-boot/subscriptions/drift-bridge-worker-push",
        }
    )
    # THEN the event is acknowledged (2xx), with no Drift, CRM or Pub/Sub call needed
    assert 200 <= status < 300, worker.output()
