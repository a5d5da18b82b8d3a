"""The expression pieces of a recipe: conditions (``when``), values picked from answers
(``save``, ``remember``) and URL templates (``/crm/v3/objects/notes/{memory.note_id}``).

Every expression is JMESPath, compiled when the recipe loads, evaluated on the context of one
delivery: the record's keys at the top level, plus ``saved`` (what earlier steps of this delivery
saved), ``memory`` (what earlier deliveries of the conversation saved), ``vars`` (the recipe's
constants), ``settings`` (the non-secret CRM settings), ``idempotency_key`` and, inside ``save``
and outcome rules, ``response`` (``status``, ``headers``, ``body``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.mapping import Invalid, MappingError, compile_expression, search, type_name

RESERVED = ("saved", "memory", "vars", "settings", "idempotency_key", "response")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[^{}]+|[{}]")


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; everything else is true."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


@dataclass(frozen=True)
class Expression:
    field: str
    source: str
    compiled: Any

    def value(self, context: dict[str, Any]) -> Any:
        return search(self.compiled, context, self.field, self.source)

    @property
    def reads_answers(self) -> bool:
        """True when the value depends on what the CRM answered (saved values, the response)."""
        return bool(re.search(r"\b(saved|response)\b", self.source))


def expression(source: Any, field: str) -> Expression:
    return Expression(field, source, compile_expression(source, field))


@dataclass(frozen=True)
class Condition:
    expression: Expression
    reason: str

    def holds(self, context: dict[str, Any]) -> bool:
        return truthy(self.expression.value(context))


def conditions(spec: Any, field: str) -> list[Condition]:
    """``when``: an expression, ``{expr, reason}``, or a list of those (all must hold)."""
    if spec is None:
        return []
    if isinstance(spec, list):
        if not spec:
            raise Invalid(field, "an empty list of conditions (leave when out instead)")
        return [_condition(item, f"{field}[{i}]") for i, item in enumerate(spec)]
    return [_condition(spec, field)]


def _condition(spec: Any, field: str) -> Condition:
    if isinstance(spec, str):
        return Condition(expression(spec, field), f"{spec} is not true")
    if isinstance(spec, dict):
        unknown = [str(key) for key in spec if key not in ("expr", "reason")]
        if unknown:
            raise Invalid(
                field, f"unknown key {unknown[0]!r} in a condition (allowed: expr, reason)"
            )
        if "expr" not in spec:
            raise Invalid(field, "a condition needs expr")
        reason = spec.get("reason")
        if reason is not None and (not isinstance(reason, str) or not reason.strip()):
            raise Invalid(f"{field}.reason", f"must be non-empty text, got {type_name(reason)}")
        source = spec["expr"]
        compiled = expression(source, f"{field}.expr")
        return Condition(compiled, reason or f"{source} is not true")
    raise Invalid(field, f"a condition is an expression or {{expr, reason}}, got {type_name(spec)}")


def picks(spec: dict[str, str], field: str) -> list[tuple[str, Expression]]:
    """``save`` / ``remember``: name -> expression."""
    result = []
    for name, source in spec.items():
        where = f"{field}.{name}"
        if not NAME.match(name):
            raise Invalid(
                where, "a saved name is lower-case letters, digits and _ (a letter first)"
            )
        result.append((name, expression(source, where)))
    return result


_RESERVED = ":/?#[]@!$&'()*+,;=%"


class UrlTemplate:
    """Text with ``{expression}`` placeholders, each value percent-encoded as one path segment
    (or query value); ``{+expression}`` keeps the characters URLs reserve (``/``, ``?``...), as
    RFC 6570's reserved expansion does, for a value that is a path (``{+vars.api}/composite``).
    ``{{`` and ``}}`` are literal braces. A URL given as a node (``{expr: ...}``) is used as it
    renders, unencoded."""

    def __init__(self, source: str, field: str) -> None:
        self.source = source
        self.field = field
        self.parts: list[str | tuple[Expression, bool]] = []
        for match in _TOKEN.finditer(source):
            token = match.group(0)
            if token in ("{{", "}}"):
                self.parts.append(token[0])
            elif token in ("{", "}"):
                raise Invalid(
                    field, f"unmatched {token!r} in the URL (write {token * 2} for a brace)"
                )
            elif match.group(1) is not None:
                source = match.group(1).strip()
                reserved = source.startswith("+")
                compiled = expression(source[1:].strip() if reserved else source, field)
                self.parts.append((compiled, reserved))
            else:
                self.parts.append(token)

    @property
    def starts_with_path(self) -> bool:
        """A relative URL (after the API base): ``/...`` or ``{+...}`` first."""
        first = self.parts[0] if self.parts else ""
        return (isinstance(first, str) and first.startswith("/")) or (
            isinstance(first, tuple) and first[1]
        )

    @property
    def reads_answers(self) -> bool:
        return any(isinstance(p, tuple) and p[0].reads_answers for p in self.parts)

    def render(self, context: dict[str, Any]) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            compiled, reserved = part
            value = compiled.value(context)
            if value is None or isinstance(value, bool | list | dict):
                got = "null" if value is None else type_name(value)
                raise MappingError(
                    f"{self.field}: {{{compiled.source}}} must give text or a number, got {got}"
                )
            out.append(quote(str(value), safe=_RESERVED if reserved else ""))
        return "".join(out)
