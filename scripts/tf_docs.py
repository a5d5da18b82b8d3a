"""Generate terraform/README.md's variables and outputs tables from the .tf files.

    python scripts/tf_docs.py           # rewrite the tables in place
    python scripts/tf_docs.py --check   # exit 1 when the README is out of date

The tables sit between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``; the rest of
the README is left alone. tests/terraform/test_docs.py runs the check, so the table cannot
drift from variables.tf.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tfparse  # the sibling module, importable through the sys.path line above

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(body: dict[str, Any]) -> str:
    if "default" not in body:
        return ""
    value = body["default"]
    if isinstance(value, str):
        return f'`"{value}"`'
    rendered = json.dumps(value, separators=(", ", ": "))
    return f"`{_cell(rendered)}`"


def render(directory: Path = TERRAFORM) -> str:
    """The markdown that belongs between the markers."""
    config = tfparse.load_dir(directory)
    lines = [
        BEGIN,
        "## Variables",
        "",
        "| name | description | type | default | required |",
        "|---|---|---|---|:---:|",
    ]
    for name, body in sorted(config.get("variable", {}).items()):
        required = "yes" if "default" not in body else ""
        description = _cell(body.get("description", ""))
        type_ = _cell(str(body.get("type", "")))
        lines.append(f"| `{name}` | {description} | `{type_}` | {_default(body)} | {required} |")
    lines += ["", "## Outputs", "", "| name | description |", "|---|---|"]
    for name, body in sorted(config.get("output", {}).items()):
        lines.append(f"| `{name}` | {_cell(body.get('description', ''))} |")
    lines.append(END)
    return "\n".join(lines)


def replace_block(readme: str, block: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} ... {END} section")
    return readme[:start] + block + readme[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, do not write")
    parser.add_argument("--dir", type=Path, default=TERRAFORM, help="Terraform directory")
    args = parser.parse_args(argv)
    readme_path = args.dir / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    updated = replace_block(readme, render(args.dir))
    if args.check:
        if updated != readme:
            print(f"{readme_path} is out of date: run python scripts/tf_docs.py", file=sys.stderr)
            return 1
        return 0
    if updated != readme:
        readme_path.write_text(updated, encoding="utf-8")
        print(f"updated {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
