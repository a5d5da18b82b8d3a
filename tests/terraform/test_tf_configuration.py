"""One configuration for the hand path and the pipeline, and an upgrade that keeps a running
deployment: connecting the trigger to a hand-made deployment changes nothing it holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tfparse  # scripts/, put on sys.path by conftest.py

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"


def test_settings_and_state_location_are_committed_files() -> None:
    # GIVEN both paths must read the same settings and the same state
    settings = tfparse.load_file(TERRAFORM / "deploy.auto.tfvars")
    assert settings["project_id"] and settings["region"]
    backend = tfparse.load_file(TERRAFORM / "deploy.gcs.tfbackend")
    assert set(backend) == {"bucket", "prefix"}
    # THEN neither is git-ignored (terraform.tfvars, the old hand-only file, still is)
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for name in ("terraform/deploy.auto.tfvars", "terraform/deploy.gcs.tfbackend"):
        assert name not in ignored and not any(
            line.endswith(("*.tfvars", "*.auto.tfvars", "*.tfbackend")) for line in ignored
        ), name


def test_a_hand_only_settings_file_fails_the_plan(root: dict[str, Any]) -> None:
    # GIVEN a git-ignored terraform.tfvars or another *.auto.tfvars would apply by hand only
    stray = root["locals"]["stray_tfvars"]
    assert 'fileset(path.root, "terraform.tfvars*")' in stray
    assert 'fileset(path.root, "*.auto.tfvars*")' in stray and '"deploy.auto.tfvars"' in stray
    # THEN the root refuses to plan while one exists
    guard = root["resource"]["terraform_data"]["one_configuration"]
    condition = guard["lifecycle"][0]["precondition"][0]["condition"]
    assert condition == (
        'length(setsubtract(local.stray_tfvars, ["terraform.tfvars.example"])) == 0'
    )


def test_the_backend_is_configured_only_from_the_committed_file(root: dict[str, Any]) -> None:
    backend = next(b for b in root["terraform"] if "backend" in b)["backend"][0]["gcs"]
    assert backend in ({}, [{}]), "bucket and prefix belong in deploy.gcs.tfbackend"
    readme = (TERRAFORM / "README.md").read_text(encoding="utf-8")
    assert "terraform init -backend-config=deploy.gcs.tfbackend" in readme


def test_the_root_is_thin(root: dict[str, Any]) -> None:
    # GIVEN a platform team embeds the module in its own configuration
    # THEN the root holds the backend, providers, the module call and the guard only
    assert set(root["module"]) == {"drift_bridge"}
    assert set(root["resource"]) == {"terraform_data"}
    assert set(root["provider"]) == {"google", "google-beta"}
    assert not root.get("data")


def test_every_resource_of_the_old_layout_is_moved_not_recreated(
    root: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the state of a deployment made with the single-directory layout
    moved = tfparse.load_file(TERRAFORM / "moved.tf")["moved"]
    sources = {block["from"] for block in moved}
    kept = {
        "google_pubsub_topic.events",
        "google_pubsub_topic.dead_letter",
        "google_pubsub_subscription.worker",
        "google_pubsub_subscription.dead_letter",
        "google_secret_manager_secret.this",
        "google_cloudfunctions2_function.webhook",
        "google_cloudfunctions2_function.worker",
        "google_storage_bucket.sources",
        "google_cloud_run_v2_service_iam_member.webhook_public",
        "google_cloud_run_v2_service_iam_member.worker_push_invoker",
    }
    # THEN every resource that holds data or is pointed at moves into the module
    assert kept <= sources, kept - sources
    for block in moved:
        target = re.fullmatch(r"module\.drift_bridge\.(\w+)\.(\w+)(\[.+\])?", block["to"])
        assert target, block
        assert target.group(2) in resources.get(target.group(1), {}), block["to"]
