"""Reproducible artefacts: the hash-pinned locks come from the short inputs by `make lock`.

`make lock` compiles requirements*.in with uv (`uv pip compile --universal --generate-hashes
--exclude-newer LOCK_DATE`): nothing uploaded after LOCK_DATE is considered, so the same
inputs give the same lock on any machine and any day. The first test runs that very target
on a copy of the inputs and compares the result, byte for byte, with what is committed: an
edited input without a re-lock, a hand-edited version or hash, or a changed compile option
fails it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "requirements.in": "requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-checkov.in": "requirements-checkov.txt",
}
UV = ROOT / ".venv" / "bin" / "uv"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)", re.M)


def pins(text: str) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall(text)}


@pytest.mark.timeout(600)
def test_make_lock_reproduces_the_committed_locks(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.fail("uv is missing from .venv: it is in requirements-dev.txt (make installs it)")
    # GIVEN a copy of the inputs and of the Makefile, and no lock at all
    for name in [*LOCKS, "Makefile"]:
        shutil.copy2(ROOT / name, tmp_path / name)
    # WHEN make lock runs there
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(tmp_path), "lock", f"UV={UV}"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # THEN it writes exactly the committed locks
    for lock in LOCKS.values():
        made = (tmp_path / lock).read_text(encoding="utf-8")
        committed = (ROOT / lock).read_text(encoding="utf-8")
        assert made == committed, f"{lock} is not what make lock makes: run make lock"


@pytest.mark.parametrize(("source", "lock"), sorted(LOCKS.items()))
def test_every_locked_package_is_exact_and_hashed(source: str, lock: str) -> None:
    text = (ROOT / lock).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(entries) > 5
    for entry in entries:
        assert PIN.match(entry), f"{lock}: not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]} has no hash"


@pytest.mark.parametrize("source", sorted(LOCKS))
def test_inputs_are_short_ranges_not_pins(source: str) -> None:
    lines = [
        line
        for line in (ROOT / source).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in lines:
        assert "==" not in line and "--hash" not in line, f"{source}: {line} (pins go in the lock)"


def test_runtime_inputs_hold_what_the_functions_import() -> None:
    names = pins((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for package in (
        "functions-framework",
        "google-cloud-pubsub",
        "google-cloud-secret-manager",
        "google-cloud-firestore",
        "authlib",
        "requests",
        "pydantic",
        "jmespath",
    ):
        assert package in names, package
    dev = pins((ROOT / "requirements-dev.txt").read_text(encoding="utf-8"))
    for package in ("openapi-core", "hubspot-api-client", "pytest", "uv", "python-hcl2"):
        assert package in dev, package


def test_the_tests_run_the_exact_runtime_packages_the_bundles_ship() -> None:
    # GIVEN the dev lock is compiled with the runtime lock as constraints
    runtime = pins((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    dev = pins((ROOT / "requirements-dev.txt").read_text(encoding="utf-8"))
    # THEN every runtime package has the same version in both
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_lock_is_valid_for_the_functions_runtime_too() -> None:
    # The functions run python312; a --universal lock carries markers instead of assuming 3.11.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--universal" in makefile and "--python-version 3.11" in makefile
    assert "--generate-hashes" in makefile and "--exclude-newer $(LOCK_DATE)" in makefile


def test_installs_refuse_anything_not_in_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^\n]*", makefile)
    assert installs and all("--require-hashes" in line for line in installs), installs
    assert "--upgrade pip" not in makefile, "an unpinned pip upgrade is not reproducible"
