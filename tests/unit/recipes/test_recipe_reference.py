"""The language reference (examples/recipes/README.md) stays true: its complete example and its
outcome rules load, and it documents every key of the schema and every text function."""

from __future__ import annotations

import re
from pathlib import Path

from shared.recipes import load_recipe
from shared.recipes.functions import CUSTOM_FUNCTIONS
from shared.recipes.models import AuthSpec, EventSpec, RecipeSpec, RecoverSpec, RuleSpec, StepSpec

README = Path(__file__).resolve().parents[3] / "examples" / "recipes" / "README.md"
TEXT = README.read_text(encoding="utf-8")


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", TEXT, flags=re.S)


def test_the_complete_example_loads(tmp_path):
    (example,) = [block for block in blocks() if block.startswith("version: 1")]
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    recipe = load_recipe(str(path))
    assert [s.name for s in recipe.event("conversation").steps] == [
        "find",
        "create",
        "update_note",
        "note",
    ]


def test_the_outcome_examples_load(tmp_path):
    (rules,) = [block for block in blocks() if block.startswith("outcomes:")]
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        + rules
        + 'conversation:\n  steps:\n    - {name: a, method: GET, url: "https://x.example/"}\n',
        encoding="utf-8",
    )
    assert len(load_recipe(str(path)).rules) == 6


def test_every_key_and_function_is_documented():
    for model in (RecipeSpec, EventSpec, StepSpec, RecoverSpec, RuleSpec, AuthSpec):
        for name, info in model.model_fields.items():
            assert f"`{info.alias or name}`" in TEXT, f"{model.__name__}.{name} is not documented"
    for function in CUSTOM_FUNCTIONS:
        assert f"`{function}(" in TEXT, f"{function}() is not documented"
