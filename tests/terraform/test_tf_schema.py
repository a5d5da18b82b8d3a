"""The schema check: every resource, data source, attribute and block in terraform/ exists in
hashicorp/google 6.50.0's schema (read from cdktf-cdktf-provider-google 16.12.1, see
scripts/tf_schema.py), required ones are present and block counts fit.

The first run downloads the hash-pinned wheel and caches the extracted schema in .venv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tf_schema  # scripts/, put on sys.path by conftest.py

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return tf_schema.load_schema()


def check(tmp_path: Path, schema: dict[str, Any], hcl: str) -> list[str]:
    path = tmp_path / "main.tf"
    path.write_text(hcl, encoding="utf-8")
    return [p.message for p in tf_schema.check_paths([path], schema, tmp_path)]


def test_the_cache_is_the_pinned_providers_schema(schema: dict[str, Any]) -> None:
    assert schema["provider"] == "hashicorp/google 6.50.0"
    assert schema["source"] == "cdktf-cdktf-provider-google==16.12.1"
    assert len(schema["resource"]) > 1000 and len(schema["data"]) > 300
    topic = schema["resource"]["google_pubsub_topic"]
    assert topic["a"]["name"] == "r" and "message_retention_duration" in topic["a"]
    # Blocks keep their nesting and counts: one template (required), many traffic blocks.
    service = schema["resource"]["google_cloud_run_v2_service"]
    assert service["b"]["template"][:2] == [1, 1]
    assert service["b"]["traffic"][:2] == [0, None]
    assert "invoker_iam_disabled" in service["a"]
    assert "containers" in service["b"]["template"][2]["b"]


def test_terraform_passes_the_schema_check(schema: dict[str, Any]) -> None:
    # GIVEN the root and the module WHEN checked THEN nothing is unknown, missing or miscounted
    problems = tf_schema.check_paths([ROOT / "terraform"], schema)
    assert not problems, "\n".join(map(str, problems))


def test_it_catches_a_misspelt_attribute(tmp_path: Path, schema: dict[str, Any]) -> None:
    problems = check(
        tmp_path,
        schema,
        """
resource "google_pubsub_topic" "events" {
  name                     = "drift-events"
  mesage_retention_duration = "604800s"
}
""",
    )
    assert problems == [
        "unsupported argument mesage_retention_duration (did you mean message_retention_duration?)"
    ]


def test_it_catches_a_missing_required_attribute(tmp_path: Path, schema: dict[str, Any]) -> None:
    problems = check(
        tmp_path,
        schema,
        """
resource "google_firestore_field" "ttl" {
  collection = "ledger_events"
  ttl_config {}
}
""",
    )
    assert problems == ["required attribute field is missing"]


def test_it_catches_an_unknown_resource_type(tmp_path: Path, schema: dict[str, Any]) -> None:
    problems = check(
        tmp_path,
        schema,
        """
resource "google_pubsub_topik" "events" {
  name = "drift-events"
}
data "google_projekt" "this" {}
""",
    )
    assert problems == [
        "unknown resource type google_pubsub_topik (did you mean google_pubsub_topic?)",
        "unknown data type google_projekt (did you mean google_project?)",
    ]


def test_it_catches_nested_errors_counts_and_shapes(tmp_path: Path, schema: dict[str, Any]) -> None:
    problems = check(
        tmp_path,
        schema,
        """
resource "google_pubsub_subscription" "worker" {
  name  = "w"
  topic = "t"
  retry_policy {
    minimum_backoff = "10s"
  }
  retry_policy {
    minimum_backoff = "10s"
  }
  labels {
    app = "x"
  }
  dynamic "push_config" {
    for_each = [1]
    content {
      push_endpont = "https://x"
    }
  }
}
resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  url      = "https://x"
}
resource "google_cloud_run_v2_service" "s" {
  name     = "s"
  location = "europe-west1"
}
""",
    )
    assert problems == [
        "retry_policy may appear at most 1 time(s), found 2",
        "labels is an attribute: write labels = ..., not a block",
        "unsupported argument push_endpont (did you mean push_endpoint?)",
        "required attribute push_endpoint is missing",
        "url is computed by the provider and cannot be set",
        "required block template is missing",
    ]


def test_beta_only_resources_must_say_so(tmp_path: Path, schema: dict[str, Any]) -> None:
    # GIVEN the one resource only google-beta has
    assert set(tf_schema.BETA_ONLY) == {"google_project_service_identity"}
    # THEN it passes only when it names the beta provider
    without = check(
        tmp_path,
        schema,
        """
resource "google_project_service_identity" "pubsub" {
  service = "pubsub.googleapis.com"
}
""",
    )
    assert without and "unknown resource type" in without[0]
    with_beta = check(
        tmp_path,
        schema,
        """
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  service  = "pubsub.googleapis.com"
}
""",
    )
    assert with_beta == []


def test_the_cli_fails_on_a_problem(tmp_path: Path, schema: dict[str, Any]) -> None:
    (tmp_path / "bad.tf").write_text('resource "google_pubsub_topic" "t" {}\n', encoding="utf-8")
    assert tf_schema.main([str(tmp_path)]) == 1
    assert tf_schema.main([str(ROOT / "terraform")]) == 0
