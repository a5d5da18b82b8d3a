"""Parse a Terraform directory with python-hcl2 into plain, version-independent Python data.

python-hcl2 7 and 8 render the same HCL differently: 8 keeps the quotes of string literals
(``'"roles/x"'``) and of block labels, marks blocks with ``__is_block__`` and attaches
comments; 7 does none of that. ``load_dir`` irons both into one shape:

* a string literal is its text (``roles/x``), a lone expression is its source without the
  ``${...}`` wrapper (``var.x``), a template keeps its interpolations (``${var.p}-w``);
* ``{"resource": {type: {name: body}}, "variable": {name: body}, "output": ...,
  "data": {type: {name: body}}, "locals": {name: expr}, "terraform": [...], ...}``
  with every ``*.tf`` file of the directory merged (a name defined twice is an error);
* nested blocks stay lists of dicts, as HCL allows repeating them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

_MARKERS = ("__is_block__", "__comments__", "__start_line__", "__end_line__")
_LABELLED = {"resource": 2, "data": 2, "variable": 1, "output": 1, "module": 1, "provider": 1}


def _single_interpolation(text: str) -> bool:
    """``${...}`` spanning the whole string (not ``${a}-${b}``)."""
    if not (text.startswith("${") and text.endswith("}")):
        return False
    depth = 0
    for index, char in enumerate(text[1:], start=1):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index == len(text) - 1
    return False


def _string(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if _single_interpolation(text):
        return text[2:-1]
    return text


def _label(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def normalize(value: Any) -> Any:
    """Plain data from one python-hcl2 value (any version)."""
    if isinstance(value, dict):
        return {_label(k): normalize(v) for k, v in value.items() if k not in _MARKERS}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, str):
        return _string(value)
    return value


def _merge_labelled(target: dict[str, Any], item: dict[str, Any], depth: int, where: str) -> None:
    for label, body in item.items():
        if depth > 1:
            _merge_labelled(target.setdefault(label, {}), body, depth - 1, where)
        elif label in target:
            raise ValueError(f"{where}: {label} is defined twice")
        else:
            target[label] = body


def load_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return normalize(hcl2.load(handle))


def load_dir(directory: Path) -> dict[str, Any]:
    """Every ``*.tf`` file of ``directory`` (not recursive), merged."""
    merged: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, items in load_file(path).items():
            if kind in _LABELLED:
                target = merged.setdefault(kind, {})
                for item in items:
                    _merge_labelled(target, item, _LABELLED[kind], f"{path.name} {kind}")
            elif kind == "locals":
                target = merged.setdefault("locals", {})
                for item in items:
                    _merge_labelled(target, item, 1, f"{path.name} locals")
            else:
                merged.setdefault(kind, []).extend(items)
    return merged
