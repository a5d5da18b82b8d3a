"""Repository-level checks of terraform/: formatting, checkov skips, the generated README."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
SKIP = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?")


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt_check() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", "terraform"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt -recursive terraform:\n{result.stdout}"


def test_every_checkov_skip_gives_a_reason(tf_sources: dict[str, str]) -> None:
    # GIVEN a skip silences a security check THEN it must say why, in words a reviewer can judge
    skips = [(name, m) for name, text in tf_sources.items() for m in SKIP.finditer(text)]
    assert skips, "expected the documented skips (CMEK, bucket logging, public webhook)"
    for name, match in skips:
        reason = (match.group("reason") or "").strip()
        assert len(reason) >= 60, f"{name}: {match.group('id')} skipped without a real reason"


def test_skips_are_the_reviewed_ones(tf_sources: dict[str, str]) -> None:
    ids = sorted(m.group("id") for text in tf_sources.values() for m in SKIP.finditer(text))
    assert ids == [
        "CKV_GCP_102",
        "CKV_GCP_124",
        "CKV_GCP_62",
        "CKV_GCP_83",
        "CKV_GCP_83",
        "CKV_GCP_84",
    ]


def test_generated_root_and_readme_tables_match_the_module() -> None:
    # The root's variables.tf, outputs.tf and main.tf and both README tables are generated
    # from the module: the check fails when any of them has drifted.
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tf_docs.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    not (ROOT / ".venv-checkov" / "bin" / "checkov").exists(),
    reason="make tf-check installs checkov",
)
def test_checkov_finds_no_failed_check(tf_sources: dict[str, str]) -> None:
    # GIVEN checkov from its locked venv over the root and the module
    result = subprocess.run(
        [
            str(ROOT / ".venv-checkov" / "bin" / "checkov"),
            "--skip-download",
            "-d",
            "terraform",
            "--framework",
            "terraform",
            "-o",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    # THEN nothing fails, and what is skipped is the reviewed list (each with its reason)
    failed = sum(r["summary"]["failed"] for r in reports)
    assert failed == 0, result.stdout[:4000]
    skipped = sorted({c["check_id"] for r in reports for c in r["results"]["skipped_checks"]})
    documented = {m.group("id") for text in tf_sources.values() for m in SKIP.finditer(text)}
    assert skipped and set(skipped) <= documented, (skipped, documented)


def test_state_and_real_tfvars_are_never_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "terraform/terraform.tfvars" in ignored
    assert "terraform/*.tfstate*" in ignored
    assert "terraform/.terraform/" in ignored
