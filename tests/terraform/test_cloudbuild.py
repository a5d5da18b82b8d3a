"""The pipeline: cloudbuild*.yaml and cicd.tf follow least privilege, and both deployment
paths read one configuration.

Three builds, three identities: tests (every branch, can deploy nothing), plan (every
branch, read-only), apply (main only, after an approval, the one identity that can deploy).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
BUILD_FILES = ("cloudbuild.yaml", "cloudbuild-plan.yaml", "cloudbuild-apply.yaml")
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
# Roles that read, or write build logs: nothing that can change the deployment.
READ_ONLY = {"roles/logging.logWriter", "roles/viewer", "roles/storage.objectViewer"}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def steps(name: str) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in load(name)["steps"]}


def command(step: dict[str, Any]) -> str:
    """Everything the step runs, as one string."""
    return " ".join([step.get("entrypoint", ""), *map(str, step.get("args", []))])


def everything(name: str) -> str:
    return " ".join(command(step) for step in load(name)["steps"])


def runs_terraform(step: dict[str, Any], verb: str) -> bool:
    return "terraform" in (step.get("name", "") + command(step)) and verb in step.get("args", [])


# --- the build files ----------------------------------------------------------------------


def test_the_test_build_runs_make_test_and_touches_no_deployment() -> None:
    build = steps("cloudbuild.yaml")
    script = command(build["test"])
    assert re.search(r"\bmake test\b", script)
    assert "python:3.11" in build["test"]["name"]
    assert "google-cloud-cli-pubsub-emulator" in script and "default-jre" in script
    assert "google-cloud-cli-firestore-emulator" in script
    assert any(e.startswith("PATH=/workspace/.tools/bin:") for e in build["test"]["env"])
    # GIVEN this build runs any branch's code THEN it never plans, applies or inits a backend
    for step in build.values():
        for verb in ("plan", "apply", "init"):
            assert not runs_terraform(step, verb), (step["id"], verb)


def test_the_plan_build_plans_without_writing_anything() -> None:
    build = steps("cloudbuild-plan.yaml")
    plan = build["terraform-plan"]["args"]
    assert "plan" in plan
    assert "-lock=false" in plan, "a lock is a write: the read-only identity cannot take it"
    assert not any(arg.startswith("-out") for arg in plan), "a plan from a branch is never applied"
    assert "apply" not in everything("cloudbuild-plan.yaml").split()
    assert "scripts/bundle.py" in command(build["bundle"])


def test_the_apply_build_applies_its_own_saved_plan_on_the_deploy_branch_only() -> None:
    build = load("cloudbuild-apply.yaml")
    ids = [step["id"] for step in build["steps"]]
    assert ids[0] == "branch-guard", "the guard runs before anything else"
    guard = command(build["steps"][0])
    assert re.search(r'if \[ "\$\{BRANCH_NAME\}" != "\$\{_DEPLOY_BRANCH\}" \]; then', guard)
    assert "exit 1" in guard
    assert build["substitutions"]["_DEPLOY_BRANCH"] == "main"
    by_id = {step["id"]: step for step in build["steps"]}
    assert by_id["terraform-plan"]["args"][-1] == "-out=tfplan"
    assert by_id["terraform-apply"]["args"][-2:] == ["-input=false", "tfplan"]
    assert "-auto-approve" not in everything("cloudbuild-apply.yaml")
    assert ids.index("bundle") < ids.index("terraform-plan") < ids.index("terraform-apply")
    # invoker_iam_disabled runs gcloud from Terraform: the apply steps have it
    assert "google-cloud-cli" in by_id["terraform-apply"]["name"]


@pytest.mark.parametrize("name", ["cloudbuild-plan.yaml", "cloudbuild-apply.yaml"])
def test_both_pipeline_paths_read_the_committed_configuration_only(name: str) -> None:
    # GIVEN the hand path reads terraform/deploy.auto.tfvars and deploy.gcs.tfbackend
    build = steps(name)
    init = build["terraform-init"]["args"]
    assert "-backend-config=deploy.gcs.tfbackend" in init
    assert [a for a in init if a.startswith("-backend-config")] == [
        "-backend-config=deploy.gcs.tfbackend"
    ]
    # THEN the pipeline passes no setting of its own: no -var, no -var-file, no TF_VAR_
    for step in build.values():
        assert not any(a.startswith(("-var", "-var-file")) for a in map(str, step.get("args", [])))
        assert not any(str(e).startswith("TF_VAR_") for e in step.get("env", [])), step["id"]
    assert "-chdir=terraform" in build["terraform-plan"]["args"]


@pytest.mark.parametrize("name", BUILD_FILES)
def test_every_substitution_used_is_declared(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    body = text.split("\nsteps:", 1)[1]
    used = {a or b for a, b in SUBSTITUTION.findall(body)}
    user = {n for n in used if n.startswith("_")}
    declared = set(load(name).get("substitutions", {}))
    assert user <= declared, user - declared
    assert used - user <= BUILTINS, used - user - BUILTINS


@pytest.mark.parametrize("name", BUILD_FILES)
def test_build_options(name: str) -> None:
    build = load(name)
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"  # required with a custom SA
    assert build["timeout"].endswith("s")


# --- the identities and triggers (cicd.tf) --------------------------------------------------


@pytest.fixture(scope="module")
def roles(tf: dict[str, Any]) -> dict[str, set[str]]:
    """Identity -> every role it holds (project and state bucket)."""
    locals_ = tf["locals"]
    project = {
        k: set(v) for k, v in locals_["pipeline_project_roles"].items() if isinstance(v, list)
    }
    project["deploy"] = {"roles/logging.logWriter", *locals_["deploy_roles"]}
    state = re.findall(r"(\w+)\s*=\s*\"(roles/[\w.]+)\"", str(locals_["pipeline_state_roles"]))
    for identity, role in state:
        project[identity].add(role)
    return project


@pytest.fixture(scope="module")
def triggers(resources: dict[str, dict[str, Any]], tf: dict[str, Any]) -> dict[str, dict]:
    """Trigger -> {identity, branch, filename, approval}."""
    found = {}
    branch_specs = re.findall(
        r"(\w+)\s*=\s*\{identity\s*=\s*\"(\w+)\",\s*filename\s*=\s*var\.pipeline\.(\w+)",
        str(tf["locals"]["pipeline_branch_triggers"]),
    )
    branch = resources["google_cloudbuild_trigger"]["pipeline_branch"]
    for name, identity, filename in branch_specs:
        found[name] = {
            "identity": identity,
            "branch": branch["repository_event_config"][0]["push"][0]["branch"],
            "filename": filename,
            "approval": "approval_config" in branch,
        }
    apply = resources["google_cloudbuild_trigger"]["pipeline_apply"]
    found["apply"] = {
        "identity": re.search(r'pipeline\["(\w+)"\]', apply["service_account"]).group(1),
        "branch": apply["repository_event_config"][0]["push"][0]["branch"],
        "filename": "apply_filename",
        "approval": apply.get("approval_config") == [{"approval_required": True}],
    }
    assert branch["service_account"] == "google_service_account.pipeline[each.value.identity].id"
    return found


def test_no_identity_that_runs_unreviewed_code_can_change_anything(
    triggers: dict[str, dict], roles: dict[str, set[str]]
) -> None:
    # GIVEN the triggers that run on every branch (code nobody has reviewed yet)
    every_branch = {name: t for name, t in triggers.items() if t["branch"] == ".*"}
    assert set(every_branch) == {"tests", "plan"}
    # THEN their identities only read or write build logs
    for name, trigger in every_branch.items():
        assert roles[trigger["identity"]] <= READ_ONLY, (name, roles[trigger["identity"]])


def test_tests_run_with_an_identity_that_can_read_nothing_either(roles: dict[str, set]) -> None:
    assert roles["ci"] == {"roles/logging.logWriter"}


def test_plan_identity_is_viewer_plus_the_state(roles: dict[str, set[str]]) -> None:
    assert roles["plan"] == {
        "roles/logging.logWriter",
        "roles/viewer",
        "roles/storage.objectViewer",
    }


def test_only_the_deploy_identity_applies_from_main_after_an_approval(
    triggers: dict[str, dict], roles: dict[str, set[str]]
) -> None:
    # GIVEN the only trigger whose identity can change the deployment
    writers = {n: t for n, t in triggers.items() if not roles[t["identity"]] <= READ_ONLY}
    assert set(writers) == {"apply"}
    apply = writers["apply"]
    # THEN it runs for the deploy branch only, and a person approves every build first
    assert apply["branch"] == "^${var.pipeline.branch}$"
    assert apply["approval"] is True
    assert apply["identity"] == "deploy"


def test_admin_roles_belong_to_the_deploy_identity_alone(roles: dict[str, set[str]]) -> None:
    for identity, held in roles.items():
        admin = {r for r in held if "admin" in r.lower() or r in {"roles/owner", "roles/editor"}}
        if identity != "deploy":
            assert not admin, (identity, admin)
    assert "roles/owner" not in roles["deploy"] and "roles/editor" not in roles["deploy"]
    assert "roles/storage.objectAdmin" in roles["deploy"]  # writes the state


def test_pipeline_is_optional_and_off_by_default(tf: dict[str, Any]) -> None:
    assert tf["variable"]["pipeline"]["default"] is None
    assert tf["locals"]["pipeline_enabled"] == "var.pipeline != null"
    for name in (
        "pipeline_identities",
        "pipeline_project_grants",
        "pipeline_state_roles",
        "pipeline_branch_triggers",
    ):
        assert str(tf["locals"][name]).startswith("${local.pipeline_enabled ?") or str(
            tf["locals"][name]
        ).startswith("local.pipeline_enabled ?"), name


def test_triggers_build_the_files_in_this_repository(triggers: dict[str, dict], tf: Any) -> None:
    pipeline_type = tf["variable"]["pipeline"]["type"]
    for filename in BUILD_FILES:
        assert (ROOT / filename).is_file()
        assert f'"{filename}"' in pipeline_type, filename
