"""Fixtures for the recipe tests: recipe files in a temporary folder, settings objects, and a
runner against pytest-httpserver (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import mapping
from shared.recipes import RecipeRunner, clear_cache, load_recipe
from tests.unit.recipes.helpers import make_settings


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_cache()
    mapping.clear_cache()
    yield
    clear_cache()
    mapping.clear_cache()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], str]:
    """Write a recipe file and return its path."""
    counter = iter(range(1000))

    def _write(text: str) -> str:
        path = tmp_path / f"recipe{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture
def runner_for(
    write: Callable[[str], str], httpserver: Any
) -> Iterator[Callable[..., RecipeRunner]]:
    """A runner for recipe text, its relative URLs sent to the loopback server."""
    made: list[RecipeRunner] = []

    def make(text: str, **settings: Any) -> RecipeRunner:
        settings.setdefault("crm_base_url", httpserver.url_for("/").rstrip("/"))
        runner = RecipeRunner(load_recipe(write(text)), make_settings(**settings))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()
