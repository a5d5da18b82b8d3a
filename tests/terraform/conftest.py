"""Fixtures for the static checks of terraform/: the configuration parsed once per session.

The google provider cannot be downloaded here, so `terraform validate` and `plan` cannot
run; these tests read the HCL with python-hcl2 (through scripts/tfparse.py) and check the
intent the design relies on, and tests/terraform/test_tf_schema.py checks every resource
against the provider's schema (scripts/tf_schema.py).

``tf`` is the drift-bridge module (terraform/modules/drift-bridge/), where every resource
lives; ``root`` is the thin root configuration (terraform/) that calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULE = TERRAFORM / "modules" / "drift-bridge"

sys.path.insert(0, str(ROOT / "scripts"))

import tfparse  # noqa: E402  (scripts/ is not a package: the line above makes it importable)


@pytest.fixture(scope="session")
def tf() -> dict[str, Any]:
    """Every module *.tf file, merged: {"resource": {type: {name: body}}, "variable": ...}."""
    return tfparse.load_dir(MODULE)


@pytest.fixture(scope="session")
def root() -> dict[str, Any]:
    """The root configuration's *.tf files, merged."""
    return tfparse.load_dir(TERRAFORM)


@pytest.fixture(scope="session")
def resources(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return tf["resource"]


@pytest.fixture(scope="session")
def tf_sources() -> dict[str, str]:
    """Path relative to terraform/ -> raw text of every *.tf file, root and module."""
    return {
        path.relative_to(TERRAFORM).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(TERRAFORM.rglob("*.tf"))
        if ".terraform" not in path.parts
    }
