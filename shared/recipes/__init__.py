"""CRM recipes: how a record reaches a CRM's own REST API, written in YAML (no code).

A recipe names, per event kind (``conversation``, ``gdpr``), the ordered HTTP requests to send,
each built from the record with the mapping language (``shared.mapping``), what to keep from each
answer, and how to read the answers. ``CRM_RECIPE`` selects a built-in recipe by name
(``webhook``, the default, is the one request of today; ``hubspot``, ``salesforce``, ``pipedrive``)
or a file. The language reference for customers is ``examples/recipes/README.md``.

    recipe = load_recipe(settings.crm_recipe, mapping_file=..., gdpr_mapping_file=...)
    runner = RecipeRunner(recipe, settings)
    delivery = runner.deliver("conversation", record, journal=claim, memory=memory,
                              idempotency_key=key)

Names are imported on first use (PEP 562) so that ``shared.mapping`` can use
``shared.recipes.functions`` without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "load_recipe": "shared.recipes.loader",
    "clear_cache": "shared.recipes.loader",
    "builtin_names": "shared.recipes.loader",
    "Recipe": "shared.recipes.loader",
    "RecipeRunner": "shared.recipes.runner",
    "Delivery": "shared.recipes.runner",
    "SentRequest": "shared.recipes.runner",
    "PlannedRequest": "shared.recipes.runner",
    "Journal": "shared.recipes.journal",
    "MemoryJournal": "shared.recipes.journal",
    "Checkpoint": "shared.recipes.journal",
}

__all__ = [
    "Checkpoint",
    "Delivery",
    "Journal",
    "MemoryJournal",
    "PlannedRequest",
    "Recipe",
    "RecipeRunner",
    "SentRequest",
    "builtin_names",
    "clear_cache",
    "load_recipe",
]

if TYPE_CHECKING:  # pragma: no cover
    from shared.recipes.journal import Checkpoint, Journal, MemoryJournal
    from shared.recipes.loader import Recipe, builtin_names, clear_cache, load_recipe
    from shared.recipes.runner import Delivery, PlannedRequest, RecipeRunner, SentRequest


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shared.recipes' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
