"""Fixtures for the static checks of terraform/: the configuration parsed once per session.

The google provider cannot be downloaded here, so `terraform validate` and `plan` cannot
run; these tests read the HCL with python-hcl2 (through scripts/tfparse.py, which irons out
the differences between python-hcl2 7 and 8) and assert the wiring the design relies on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"

sys.path.insert(0, str(ROOT / "scripts"))

import tfparse  # noqa: E402  (scripts/ is not a package: the line above makes it importable)


@pytest.fixture(scope="session")
def tf() -> dict[str, Any]:
    """Every terraform/*.tf file, merged: {"resource": {type: {name: body}}, "variable": ...}."""
    return tfparse.load_dir(TERRAFORM)


@pytest.fixture(scope="session")
def resources(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return tf["resource"]


@pytest.fixture(scope="session")
def tf_sources() -> dict[str, str]:
    """File name -> raw text of every terraform/*.tf file."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(TERRAFORM.glob("*.tf"))}
