"""Where the vendors' published API descriptions are found, and what a test does without them.

The descriptions are data kept outside this repository (they are the vendors' files, not ours):
``DRIFT_BRIDGE_SPECS_DIR`` names the folder; without it, the ``shared/specs`` folder beside the
repository's root folder is used. A test that needs a file that is not there is skipped with the
reason, unless ``DRIFT_BRIDGE_REQUIRE_SPECS=1`` (CI), in which case it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS_ENV = "DRIFT_BRIDGE_SPECS_DIR"
REQUIRE_ENV = "DRIFT_BRIDGE_REQUIRE_SPECS"


def specs_dir() -> Path:
    configured = os.environ.get(SPECS_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return (ROOT.parent / "shared" / "specs").resolve()


def specs_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


class SpecsMissing(RuntimeError):
    """A vendor description is not where the settings say."""


def spec_path(relative: str) -> Path:
    """The path of ``relative`` inside the specs folder; skips (or fails) the test when absent."""
    path = specs_dir() / relative
    if path.is_file():
        return path
    reason = (
        f"vendor API description {relative} not found in {specs_dir()} (set {SPECS_ENV} to the "
        "folder holding the vendors' published descriptions)"
    )
    if specs_required():
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(reason)
    raise SpecsMissing(reason)  # pragma: no cover - pytest.skip raises
