"""Build the deployable bundles: one zip per function, exactly what Terraform uploads.

``python scripts/bundle.py --out dist`` writes ``dist/webhook.zip`` and ``dist/worker.zip``.
Each holds what Cloud Functions needs at the root of the source:

* ``main.py`` (and any other module) from ``functions/<name>/``,
* the whole ``shared/`` package: its ``.py`` files and package data (``*.yaml``, ...),
  never ``__pycache__``, compiled files or tests (the built-in recipes live there),
* ``requirements.txt`` from the repository root: the lock, exact versions with hashes, so
  Cloud Functions installs what the tests ran,
* for the worker only: the CRM mappings and recipes under ``examples/mappings/`` and
  ``examples/recipes/``, and any mapping or recipe file that ``terraform/deploy.auto.tfvars``
  names (``crm_mapping_file``, ``crm_recipe``), at the same relative path, so the path the
  worker is configured with is the path in its bundle.

``dist/manifest.json`` lists each zip's SHA-256 and files; Terraform reads it to refuse, at
plan time, a mapping or recipe path the worker would not find at start-up.

The zips are byte-reproducible: entries sorted, fixed timestamps and permissions, and
stored rather than deflated, so the bytes do not depend on the zlib build either. The
same tree gives the same SHA-256 on any machine, which Terraform puts in the object's
name: a code change redeploys, an unchanged tree does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("webhook", "worker")
SHARED_PACKAGE = "shared"
DATA_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".json", ".txt"})
DATA_NAMES = frozenset({"py.typed"})
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache"})
CONFIG_DIRS = ("examples/mappings", "examples/recipes")  # shipped in the worker's bundle
DEPLOY_SETTINGS = Path("terraform") / "deploy.auto.tfvars"
# crm_mapping_file = "x.yaml" / crm_recipe = "x.yaml" in the committed settings (stdlib only:
# a bundle must build with nothing but Python).
_SETTING_FILE = re.compile(
    r'^\s*(crm_mapping_file|crm_recipe)\s*=\s*"([^"]+\.(?:ya?ml|json))"\s*(?:#.*)?$', re.M
)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can carry
FILE_MODE = 0o100644  # regular file, rw-r--r--


class BundleError(Exception):
    """The source tree cannot make a bundle (a file the runtime needs is missing)."""


def _is_test_module(path: Path) -> bool:
    return (
        path.name.startswith("test_")
        or path.name.endswith("_test.py")
        or path.name == "conftest.py"
    )


def _package_files(directory: Path) -> Iterator[Path]:
    """Files under ``directory`` that belong in a bundle, in no particular order."""
    for current, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(current, name)
            if name.startswith(".") or _is_test_module(path):
                continue
            if path.suffix in DATA_SUFFIXES or name in DATA_NAMES:
                yield path


def configured_files(root: Path) -> list[str]:
    """Mapping and recipe paths that terraform/deploy.auto.tfvars names."""
    settings = root / DEPLOY_SETTINGS
    if not settings.is_file():
        return []
    return [match.group(2) for match in _SETTING_FILE.finditer(settings.read_text("utf-8"))]


def _worker_config(root: Path) -> dict[str, Path]:
    entries: dict[str, Path] = {}
    for folder in CONFIG_DIRS:
        for path in _package_files(root / folder):
            if path.suffix in {".yaml", ".yml", ".json"}:
                entries[path.relative_to(root).as_posix()] = path
    for name in configured_files(root):
        path = root / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise BundleError(f"{DEPLOY_SETTINGS}: {name} must be a path inside the repository")
        if not path.is_file():
            raise BundleError(f"{DEPLOY_SETTINGS} names {name}, which does not exist")
        entries[Path(name).as_posix()] = path
    return entries


def bundle_entries(root: Path, function: str) -> dict[str, Path]:
    """Archive name -> source file for one function's bundle."""
    function_dir = root / "functions" / function
    main = function_dir / "main.py"
    if not main.is_file():
        raise BundleError(f"{main.relative_to(root)} is missing")
    entries: dict[str, Path] = {}
    for path in _package_files(function_dir):
        if path.suffix == ".py":
            entries[path.relative_to(function_dir).as_posix()] = path
    shared = root / SHARED_PACKAGE
    if not (shared / "__init__.py").is_file():
        raise BundleError(f"{SHARED_PACKAGE}/__init__.py is missing")
    for path in _package_files(shared):
        entries[path.relative_to(root).as_posix()] = path
    requirements = root / "requirements.txt"
    if not requirements.is_file():
        raise BundleError("requirements.txt is missing")
    entries["requirements.txt"] = requirements
    if function == "worker":
        entries.update(_worker_config(root))
    return entries


def write_zip(entries: dict[str, Path], target: Path) -> None:
    """Write ``entries`` to ``target`` reproducibly (atomic replace)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_STORED
                info.create_system = 3  # Unix, so external_attr means st_mode
                info.external_attr = FILE_MODE << 16
                archive.writestr(info, entries[name].read_bytes())
        tmp.chmod(0o644)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def build(out: Path, root: Path = ROOT, functions: Iterable[str] = FUNCTIONS) -> dict[str, Path]:
    """Build every function's bundle into ``out``; return function -> zip path."""
    built: dict[str, Path] = {}
    manifest: dict[str, dict[str, object]] = {}
    for function in functions:
        target = out / f"{function}.zip"
        entries = bundle_entries(root, function)
        write_zip(entries, target)
        built[function] = target
        manifest[function] = {"sha256": sha256(target), "files": sorted(entries)}
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    try:
        built = build(args.out, args.root.resolve())
    except BundleError as error:
        print(f"bundle: {error}", file=sys.stderr)
        return 1
    for path in built.values():
        print(f"{sha256(path)}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
