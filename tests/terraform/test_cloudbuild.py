"""cloudbuild.yaml: parses, tests first, builds the bundles, then init/plan, and applies on main."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "LOCATION",
    "BUILD_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REF_NAME",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "TRIGGER_NAME",
    "TRIGGER_BUILD_CONFIG_PATH",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
}
# $NAME or ${NAME} that Cloud Build substitutes ($$ is a literal dollar for the shell).
SUBSTITUTION = re.compile(r"(?<!\$)\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))")


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def steps(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in build["steps"]}


def command(step: dict[str, Any]) -> str:
    """Everything the step runs, as one string."""
    return " ".join([step.get("entrypoint", ""), *map(str, step.get("args", []))])


def position(build: dict[str, Any], step_id: str) -> int:
    return [step["id"] for step in build["steps"]].index(step_id)


def test_steps_are_named_and_in_order(build: dict[str, Any]) -> None:
    ids = [step["id"] for step in build["steps"]]
    assert len(ids) == len(set(ids))
    assert ids.index("test") < ids.index("bundle") < ids.index("terraform-init")
    assert ids.index("terraform-init") < ids.index("terraform-plan") < ids.index("terraform-apply")
    assert all("waitFor" not in step for step in build["steps"]), "steps run one after another"


def test_runs_make_test_with_what_it_needs(steps: dict[str, dict[str, Any]]) -> None:
    script = command(steps["test"])
    assert re.search(r"\bmake test\b", script)
    assert "python:3.11" in steps["test"]["name"]
    assert "google-cloud-cli-pubsub-emulator" in script and "default-jre" in script
    # terraform fmt -check inside make test finds the binary the first step copied.
    assert any(e.startswith("PATH=/workspace/.tools/bin:") for e in steps["test"]["env"])
    assert "/workspace/.tools/bin" in command(steps["terraform-binary"])


def test_builds_the_bundles(steps: dict[str, dict[str, Any]]) -> None:
    script = command(steps["bundle"])
    assert "scripts/bundle.py" in script and "--out dist" in script


def test_init_uses_the_gcs_backend_from_substitutions(steps: dict[str, dict[str, Any]]) -> None:
    args = steps["terraform-init"]["args"]
    assert "init" in args and "-chdir=terraform" in args
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in args
    assert "-backend-config=prefix=${_TF_STATE_PREFIX}" in args


def test_plan_writes_a_plan_file(steps: dict[str, dict[str, Any]]) -> None:
    step = steps["terraform-plan"]
    assert "plan" in step["args"] and "-out=tfplan" in step["args"]
    assert "TF_VAR_project_id=${PROJECT_ID}" in step["env"]
    assert "TF_VAR_crm_endpoint_url=${_CRM_ENDPOINT_URL}" in step["env"]


def test_apply_only_on_main_and_only_the_reviewed_plan(steps: dict[str, dict[str, Any]]) -> None:
    script = command(steps["terraform-apply"])
    guard = re.search(
        r'if \[ "\$\{?BRANCH_NAME\}?" = "main" \]; then(?P<then>.*?)else', script, re.S
    )
    assert guard, "apply must sit behind a BRANCH_NAME == main test"
    assert "apply -input=false tfplan" in guard.group("then")
    assert script.count(" apply ") == 1, "no apply outside the main branch guard"
    assert "-auto-approve" not in script, "a saved plan needs no auto-approve"


def test_every_substitution_used_is_declared(build: dict[str, Any]) -> None:
    text = (ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    body = text.split("\nsteps:", 1)[1]
    used = {a or b for a, b in SUBSTITUTION.findall(body)}
    user = {name for name in used if name.startswith("_")}
    assert user <= set(build["substitutions"]), user - set(build["substitutions"])
    assert used - user <= BUILTINS, used - user - BUILTINS
    for name in ("_TF_STATE_BUCKET", "_TF_STATE_PREFIX"):
        assert build["substitutions"][name], f"{name} needs a default"


def test_build_options(build: dict[str, Any]) -> None:
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert build["options"]["dynamicSubstitutions"] is True  # _TF_STATE_BUCKET uses PROJECT_ID
    assert build["timeout"].endswith("s")
