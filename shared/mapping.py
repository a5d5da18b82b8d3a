"""Declarative mappings from the canonical record to the body a CRM expects.

A mapping is a small YAML file (``CRM_MAPPING_FILE``, ``CRM_GDPR_MAPPING_FILE``) whose ``body``
mirrors the JSON the CRM wants; each leaf is a constant or a JMESPath expression evaluated on the
record document (``ConversationRecord.to_json_dict()``, or the GDPR document). The reference for
customers is ``examples/mappings/README.md``.

Why JMESPath (https://jmespath.org) rather than templates or code:

- declarative and standard: a written specification with a compliance suite and implementations
  in many languages, so a mapping can be read, tested and previewed outside this project;
- safe: expressions only select and reshape data; nothing runs code, reads files or reaches the
  network (unlike Python hooks, or Jinja2, which can also render text that is not valid JSON);
- JSON in, JSON out with types preserved: an id stays an integer (exact beyond 2**53, since
  nothing goes through a float), a list stays a list, null stays null.

Besides JMESPath's own functions, expressions may call the text functions of
``shared.recipes.functions`` (truncate, text_to_html, format_datetime, replace...). Recipes
(``shared.recipes``) build their request bodies, queries and headers with the same node compiler
(``compile_node``), so a mapping's body is a recipe step's ``json``.

A file is validated completely when it is loaded: every expression is compiled and every function
call is checked by name and arity, so a typo stops the worker at start-up with one line naming the
setting, the file and the field (``CRM_MAPPING_FILE: m.yaml: body.note.subject: ...``) instead of
dead-lettering events one by one. What can only fail on a particular record (a function given the
wrong type) raises ``MappingError``, a ``PermanentError``, naming the field.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jmespath
import yaml
from jmespath import exceptions as jmespath_errors
from jmespath.functions import TYPES_MAP

from shared.errors import ConfigError, PermanentError
from shared.recipes import functions

Kind = Literal["conversation", "gdpr"]

VERSION = 1
TOP_LEVEL_KEYS = ("version", "method", "body")
NODE_KEYS = ("expr", "const", "default", "omit_if_null")
METHODS = ("POST", "PUT", "PATCH", "DELETE")
BUILTIN_DIR = Path(__file__).parent / "mappings"

_FUNCTIONS = functions.RecipeFunctions.FUNCTION_TABLE
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MappingError(PermanentError):
    """A mapping could not be rendered for this record (the reason names the field)."""


class Invalid(Exception):
    """A problem in a mapping (or recipe) file, at ``field`` (empty for the file as a whole)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


_Invalid = Invalid
OMIT = _OMIT = object()  # what a node left out (omit_if_null) renders to

# Called with (field, source, value, has_fallback) for every expression evaluated while set:
# the preview uses it to point at expressions that give null on the sample.
Observer = Callable[[str, str, Any, bool], None]
_observer: contextvars.ContextVar[Observer | None] = contextvars.ContextVar(
    "mapping_observer", default=None
)


def observe(observer: Observer | None) -> contextvars.Token[Observer | None]:
    """Report every expression evaluated in this context to ``observer`` (``None``: stop)."""
    return _observer.set(observer)


# -- compiled nodes ------------------------------------------------------------------------------


class _Const:
    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, document: Any) -> Any:
        value = self.value
        return copy.deepcopy(value) if isinstance(value, dict | list) else value


class _Expr:
    def __init__(
        self, field: str, source: str, compiled: Any, default: Any, omit_if_null: bool
    ) -> None:
        self.field = field
        self.source = source
        self.compiled = compiled
        self.default = _Const(default)
        self.omit_if_null = omit_if_null

    def render(self, document: Any) -> Any:
        try:
            value = self.compiled.search(document, options=functions.options(document))
        except functions.FunctionError as error:
            raise MappingError(
                f"{self.field}: {error.problem} (expression {self.source!r})"
            ) from None
        except jmespath_errors.JMESPathTypeError as error:
            # The error's own text quotes the offending value, which may be personal data or the
            # transcript: say what was expected and what came, never the value itself.
            expected = " or ".join(error.expected_types)
            raise MappingError(
                f"{self.field}: {error.function_name}() expected {expected}, "
                f"got {_actual_type(error.actual_type)} (expression {self.source!r})"
            ) from None
        except Exception as error:
            raise MappingError(
                f"{self.field}: expression {self.source!r} failed: {type(error).__name__}"
            ) from None
        observer = _observer.get()
        if observer is not None:
            fallback = self.omit_if_null or self.default.value is not None
            observer(self.field, self.source, value, fallback)
        if value is None:
            value = self.default.render(document)
        if value is None and self.omit_if_null:
            return _OMIT
        return value


class _Object:
    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items

    def render(self, document: Any) -> Any:
        result = {}
        for key, node in self.items:
            value = node.render(document)
            if value is not _OMIT:
                result[key] = value
        return result


class _List:
    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    def render(self, document: Any) -> Any:
        return [value for value in (n.render(document) for n in self.nodes) if value is not _OMIT]


class Mapping:
    """A validated, compiled mapping: ``render(document)`` builds the CRM body."""

    def __init__(self, name: str, method: str | None, body: Any) -> None:
        self.name = name
        self.method = method
        self._body = body

    def render(self, document: dict[str, Any]) -> Any:
        """The JSON-serialisable body for ``document``; ``MappingError`` names the failing field."""
        try:
            return self._body.render(document)
        except MappingError as error:
            raise MappingError(f"mapping {self.name}: {error.reason}") from None

    def __repr__(self) -> str:
        return f"Mapping(name={self.name!r}, method={self.method!r})"


# -- loading -------------------------------------------------------------------------------------


def load_mapping(path: str | os.PathLike[str] | None, kind: Kind, setting: str) -> Mapping:
    """The built-in mapping for ``kind`` when ``path`` is empty, else the file at ``path``.

    Compiled once per (path, kind) and process. Any problem raises ``ConfigError`` with one line:
    ``"{setting}: {path}: {field}: {problem}"``.
    """
    if kind not in ("conversation", "gdpr"):
        raise ValueError(f"unknown mapping kind {kind!r}")
    key = os.fspath(path) if path else None
    try:
        return _load(key, kind)
    except _Invalid as invalid:
        where = f"{key}: " if key else f"builtin:{kind}: "
        field = f"{invalid.field}: " if invalid.field else ""
        raise ConfigError(f"{setting}: {where}{field}{invalid.problem}") from None


def clear_cache() -> None:
    """Forget compiled mappings (tests, local tooling that edits a file and reloads it)."""
    _load.cache_clear()


@functools.lru_cache(maxsize=32)
def _load(path: str | None, kind: Kind) -> Mapping:
    if path is None:
        name, file = f"builtin:{kind}", BUILTIN_DIR / f"builtin_{kind}.yaml"
    else:
        name, file = path, Path(path)
    return _compile(name, _read(file))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: let PyYAML report it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Invalid("", "file not found") from None
    except IsADirectoryError:
        raise _Invalid("", "is a directory, not a file") from None
    except UnicodeDecodeError:
        raise _Invalid("", "not UTF-8 text") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise _Invalid("", f"cannot read the file: {reason}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise _Invalid("", f"not valid YAML: {_yaml_problem(error)}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return _one_line(f"{where}{problem}")


def _compile(name: str, data: Any) -> Mapping:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _type_name(data)
        raise _Invalid("", f"the top level must be a mapping with version and body, got {got}")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise _Invalid(
                _key_text(key), f"unknown top-level key (allowed: {', '.join(TOP_LEVEL_KEYS)})"
            )
    if "version" not in data:
        raise _Invalid("version", f"required (write version: {VERSION})")
    version = data["version"]
    if type(version) is not int or version != VERSION:
        raise _Invalid("version", f"unsupported version {version!r} (this bridge reads {VERSION})")
    method = data.get("method")
    if method is not None:
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise _Invalid("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
        method = method.upper()
    if "body" not in data:
        raise _Invalid("body", "required (the shape of the JSON sent to the CRM)")
    body = _node(data["body"], "body")
    if isinstance(body, _Expr) and body.omit_if_null:
        raise _Invalid("body", "omit_if_null cannot apply to the body itself")
    return Mapping(name, method, body)


def compile_node(spec: Any, field: str) -> Any:
    """Compile one node (constant, expression, object or list); ``Invalid`` names the field.
    The result has ``render(document)``, which may return ``OMIT``."""
    return _node(spec, field)


def compile_expression(source: Any, field: str) -> Any:
    """Compile a JMESPath expression given as a YAML value (a non-empty string)."""
    if not isinstance(source, str) or not source.strip():
        got = "an empty string" if isinstance(source, str) else _type_name(source)
        raise _Invalid(field, f"must be a JMESPath expression (a non-empty string), got {got}")
    return _compile_expression(source, field)


def search(compiled: Any, document: Any, field: str, source: str) -> Any:
    """Evaluate a compiled expression; a failure is a ``MappingError`` naming ``field``."""
    return _Expr(field, source, compiled, None, False).render(document)


def read_file(file: Path) -> Any:
    """The YAML data of ``file`` (duplicate keys refused); ``Invalid`` for the file as a whole."""
    return _read(file)


def _node(spec: Any, field: str) -> Any:
    if isinstance(spec, list):
        return _List([_node(item, f"{field}[{i}]") for i, item in enumerate(spec)])
    if isinstance(spec, dict):
        if any(key in NODE_KEYS for key in spec):
            return _leaf(spec, field)
        items = []
        for key, value in spec.items():
            if not isinstance(key, str):
                raise _Invalid(
                    _child(field, str(key)),
                    f"object keys must be strings, got {_type_name(key)} (quote the key)",
                )
            items.append((key, _node(value, _child(field, key))))
        return _Object(items)
    _check_json(spec, field)
    return _Const(spec)


def _leaf(spec: dict[Any, Any], field: str) -> Any:
    for key in spec:
        if key not in NODE_KEYS:
            raise _Invalid(
                field, f"unknown node key {_key_text(key)!r} (allowed: {', '.join(NODE_KEYS)})"
            )
    if "expr" in spec and "const" in spec:
        raise _Invalid(field, "a node has either expr or const, not both")
    if "expr" not in spec:
        for modifier in ("default", "omit_if_null"):
            if modifier in spec:
                raise _Invalid(field, f"{modifier} used without expr")
    if "const" in spec:
        _check_json(spec["const"], field)
        return _Const(spec["const"])
    source = spec["expr"]
    if not isinstance(source, str) or not source.strip():
        got = "an empty string" if isinstance(source, str) else _type_name(source)
        raise _Invalid(field, f"expr must be a non-empty string, got {got}")
    omit_if_null = spec.get("omit_if_null", False)
    if not isinstance(omit_if_null, bool):
        raise _Invalid(field, f"omit_if_null must be true or false, got {omit_if_null!r}")
    default = spec.get("default")
    _check_json(default, field)
    return _Expr(field, source, _compile_expression(source, field), default, omit_if_null)


def _compile_expression(source: str, field: str) -> Any:
    try:
        with warnings.catch_warnings():
            # `foo` (a literal that is not JSON) is deprecated by JEP-12 and read as a string
            # for now; refuse it so that a mapping does not change meaning with a later release.
            warnings.simplefilter("error", PendingDeprecationWarning)
            compiled = jmespath.compile(source)
    except PendingDeprecationWarning:
        raise _Invalid(
            field,
            f"invalid JMESPath expression {source!r}: a `literal` must be JSON "
            "(write `\"text\"` or 'text' for a string)",
        ) from None
    except jmespath_errors.LexerError as error:
        raise _Invalid(
            field,
            f"invalid JMESPath expression {source!r}: {_one_line(error.message)} "
            f"at column {error.lexer_position + 1}",
        ) from None
    except jmespath_errors.ParseError as error:
        raise _Invalid(
            field,
            f"invalid JMESPath expression {source!r}: {_one_line(error.msg)} "
            f"at column {error.lex_position + 1}",
        ) from None
    except jmespath_errors.JMESPathError as error:
        problem = _one_line(str(error))
        raise _Invalid(field, f"invalid JMESPath expression {source!r}: {problem}") from None
    problem = _check_functions(compiled.parsed)
    if problem:
        raise _Invalid(field, f"invalid JMESPath expression {source!r}: {problem}")
    return compiled


def _check_functions(ast: dict[str, Any]) -> str | None:
    """Unknown functions and wrong arities, which JMESPath itself reports only when it runs,
    and ``!a.b``, which JMESPath reads as ``(!a).b`` (always null)."""
    children = ast.get("children") or []
    if (
        ast.get("type") in ("subexpression", "index_expression", "projection")
        and children
        and isinstance(children[0], dict)
        and children[0].get("type") == "not_expression"
    ):
        return "! applies to the first name only (JMESPath reads !a.b as (!a).b): write !(a.b)"
    if ast.get("type") == "function_expression":
        name, arity = ast["value"], len(ast["children"])
        entry = _FUNCTIONS.get(name)
        if entry is None:
            return (
                f"unknown function {name}() (see https://jmespath.org/specification.html and "
                "the text functions in examples/recipes/README.md)"
            )
        signature = entry["signature"]
        if signature and signature[-1].get("variadic"):
            if arity < len(signature):
                return f"{name}() takes at least {len(signature)} argument(s), got {arity}"
        elif arity != len(signature):
            return f"{name}() takes {len(signature)} argument(s), got {arity}"
    for child in ast.get("children", ()):
        if isinstance(child, dict):
            problem = _check_functions(child)
            if problem:
                return problem
    return None


def check_json(value: Any, field: str) -> None:
    """``Invalid`` unless ``value`` is a JSON value (YAML also has dates, sets, NaN...)."""
    _check_json(value, field)


def _check_json(value: Any, field: str) -> None:
    """Constants and defaults must be JSON values (YAML also has dates, sets, NaN...)."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(field, f"{value!r} is not a JSON number")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{field}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(
                    _child(field, str(key)),
                    f"object keys must be strings, got {_type_name(key)} (quote the key)",
                )
            _check_json(item, _child(field, key))
        return
    raise _Invalid(field, f"a {_type_name(value)} is not a JSON value (quote it to make a string)")


# -- helpers -------------------------------------------------------------------------------------


def _actual_type(name: str) -> str:
    # JMESPath names the argument's type ("string"), or, when an array holds a wrong element,
    # the element's Python type ("int").
    if name in TYPES_MAP:
        return f"an array holding a {TYPES_MAP[name]}"
    return name


def child_field(field: str, key: str) -> str:
    """``field.key``, or ``field["key"]`` when the key is not an identifier."""
    return _child(field, key)


def one_line(text: str) -> str:
    return _one_line(text)


def type_name(value: Any) -> str:
    """``a string``, ``a number``, ``a list``... as problems name a YAML value's type."""
    return _type_name(value)


def _child(field: str, key: str) -> str:
    return f"{field}.{key}" if _SIMPLE_KEY.match(key) else f"{field}[{_quote(key)}]"


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _type_name(value: Any) -> str:
    names: dict[type, str] = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    return names.get(type(value), type(value).__name__)
