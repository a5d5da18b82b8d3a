"""A small evaluator of Cloud Logging's query language, for the log-based metric filters.

It covers what monitoring.tf writes and nothing more: comparisons ``field="text"``,
``field=~"regex"`` (RE2 read as Python ``re``, the same for these patterns),
``field>=VALUE`` / ``field=VALUE`` (severities compare by rank, numbers as numbers),
``AND``, ``OR``, ``NOT``, parentheses, and line breaks or spaces as an implicit AND. A field
is a dotted path into the entry (``jsonPayload.reason``, ``resource.labels.service_name``); a
missing field makes a comparison false, as in Cloud Logging.
"""

from __future__ import annotations

import re
from typing import Any

SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"]
_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<word>AND|OR|NOT)(?![\w.])"
    r"|(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>=~|>=|<=|!=|=|>|<)\s*"
    r'(?:"(?P<text>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s()]+)))'
)


def _tokens(query: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    query = query.strip()
    while position < len(query):
        match = _TOKEN.match(query, position)
        if not match:
            raise ValueError(f"cannot read the filter at: {query[position : position + 40]!r}")
        position = match.end()
        if match.group("paren"):
            tokens.append(("paren", match.group("paren")))
        elif match.group("word"):
            tokens.append(("word", match.group("word")))
        else:
            text = match.group("text")
            value = text.replace('\\"', '"') if text is not None else match.group("bare")
            tokens.append(("term", (match.group("field"), match.group("op"), value)))
        while position < len(query) and query[position].isspace():
            position += 1
    return tokens


def _lookup(entry: dict[str, Any], field: str) -> Any:
    value: Any = entry
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _compare(entry: dict[str, Any], field: str, op: str, wanted: str) -> bool:
    actual = _lookup(entry, field)
    if actual is None:
        return False
    if op == "=~":
        return re.search(wanted, str(actual)) is not None
    if field == "severity":
        left, right = SEVERITIES.index(str(actual)), SEVERITIES.index(wanted)
    elif isinstance(actual, int | float):
        left, right = actual, float(wanted)
    else:
        left, right = str(actual), wanted
    return {
        "=": left == right,
        "!=": left != right,
        ">=": left >= right,
        "<=": left <= right,
        ">": left > right,
        "<": left < right,
    }[op]


def matches(query: str, entry: dict[str, Any]) -> bool:
    """Whether ``entry`` (a LogEntry as a dict) matches ``query``."""
    tokens = _tokens(query)
    position = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse_or() -> bool:
        result = parse_and()
        while peek() == ("word", "OR"):
            take()
            right = parse_and()
            result = result or right
        return result

    def parse_and() -> bool:
        result = parse_not()
        while (token := peek()) is not None and token not in (("word", "OR"), ("paren", ")")):
            if token == ("word", "AND"):
                take()
            right = parse_not()
            result = result and right
        return result

    def parse_not() -> bool:
        if peek() == ("word", "NOT"):
            take()
            return not parse_not()
        kind, value = take()
        if (kind, value) == ("paren", "("):
            result = parse_or()
            if take() != ("paren", ")"):
                raise ValueError("unbalanced parentheses")
            return result
        if kind != "term":
            raise ValueError(f"unexpected {value!r}")
        return _compare(entry, *value)

    result = parse_or()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r}")
    return result
