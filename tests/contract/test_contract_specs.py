"""Finding the vendors' descriptions: the settings, the default place, and what a test does
when they are absent (skip with the reason; fail when CI requires them)."""

from __future__ import annotations

import pytest

from tests.contract import spec_files


def test_the_env_var_names_the_folder(monkeypatch, tmp_path) -> None:
    (tmp_path / "pipedrive").mkdir()
    (tmp_path / "pipedrive" / "v2.yaml").write_text("openapi: 3.0.1\n")
    monkeypatch.setenv(spec_files.SPECS_ENV, str(tmp_path))
    assert spec_files.specs_dir() == tmp_path.resolve()
    assert spec_files.spec_path("pipedrive/v2.yaml") == tmp_path.resolve() / "pipedrive/v2.yaml"


def test_default_is_the_shared_specs_folder_beside_the_repository(monkeypatch) -> None:
    monkeypatch.delenv(spec_files.SPECS_ENV, raising=False)
    assert spec_files.specs_dir() == (spec_files.ROOT.parent / "shared" / "specs").resolve()


def test_absent_description_skips_with_the_reason(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(spec_files.SPECS_ENV, str(tmp_path))
    monkeypatch.delenv(spec_files.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"zoho/record\.json not found"):
        spec_files.spec_path("zoho/record.json")


def test_absent_description_fails_when_required(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(spec_files.SPECS_ENV, str(tmp_path))
    monkeypatch.setenv(spec_files.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"DRIFT_BRIDGE_REQUIRE_SPECS=1"):
        spec_files.spec_path("zoho/record.json")
