"""Text functions that JMESPath lacks, for mappings and recipes.

Each takes null for its text and gives null back, so ``default`` and ``omit_if_null`` still
apply. Lengths count UTF-16 code units, as the CRMs' field limits do (an emoji counts two), so a
truncated value always fits the field. A failure names the function and never the value (which
may be personal data); it becomes a ``MappingError`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import quote

from jmespath import Options
from jmespath.functions import Functions, signature

_TEXT = {"types": ["string", "null"]}
_NUMBER = {"types": ["number"]}
_STRING = {"types": ["string"]}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_OPEN_MARKUP = re.compile(r"(<[^>]*|&[#A-Za-z0-9]*)$")  # an unfinished tag or entity at the end


class FunctionError(Exception):
    """A text function could not work on its arguments; ``problem`` never quotes a value."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def utf16_length(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _cut(text: str, units: int) -> str:
    """The longest prefix of ``text`` that is at most ``units`` UTF-16 code units long."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def _limit(name: str, limit: Any, marker: str) -> int:
    if isinstance(limit, bool) or int(limit) != limit or limit < 1:
        raise FunctionError(f"{name}() wants a whole number of characters above 0")
    room = int(limit) - utf16_length(marker)
    if room < 0:
        raise FunctionError(f"{name}(): the marker is longer than the limit")
    return room


def _moment(name: str, value: Any) -> dt.datetime:
    if isinstance(value, bool):
        raise FunctionError(f"{name}() wants an ISO 8601 timestamp or epoch milliseconds")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FunctionError(f"{name}() was given text that is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class RecipeFunctions(Functions):
    """JMESPath's functions plus the text functions (see examples/recipes/README.md)."""

    def __init__(self, root: Any = None) -> None:
        self._root = root

    @signature(_TEXT, _NUMBER, _STRING)
    def _func_truncate(self, text: str | None, limit: Any, marker: str) -> str | None:
        """At most ``limit`` characters: cut, then ``marker`` appended, when longer."""
        if text is None:
            return None
        room = _limit("truncate", limit, marker)
        if utf16_length(text) <= limit:
            return text
        return _cut(text, room) + marker

    @signature(_TEXT, _NUMBER, _STRING)
    def _func_truncate_html(self, text: str | None, limit: Any, marker: str) -> str | None:
        """As truncate, but never cuts inside a tag or an entity (``&amp;``)."""
        if text is None:
            return None
        room = _limit("truncate_html", limit, marker)
        if utf16_length(text) <= limit:
            return text
        return _OPEN_MARKUP.sub("", _cut(text, room)) + marker

    @signature(_TEXT)
    def _func_text_to_html(self, text: str | None) -> str | None:
        """Plain text as HTML: ``<``, ``>``, ``&`` escaped, each line break a ``<br>``."""
        if text is None:
            return None
        return _LINE_BREAK.sub("<br>", html.escape(text, quote=False))

    @signature({"types": ["string", "number", "null"]}, _STRING)
    def _func_format_datetime(self, value: Any, pattern: str) -> str | None:
        """An ISO 8601 timestamp or epoch milliseconds, in UTC, with strftime's ``pattern``."""
        if value is None:
            return None
        return _moment("format_datetime", value).strftime(pattern)

    @signature({"types": ["string", "number", "null"]})
    def _func_to_epoch_millis(self, value: Any) -> int | None:
        """An ISO 8601 timestamp (or epoch milliseconds) as epoch milliseconds."""
        if value is None:
            return None
        return round(_moment("to_epoch_millis", value).timestamp() * 1000)

    @signature(_TEXT, _STRING, _STRING)
    def _func_replace(self, text: str | None, old: str, new: str) -> str | None:
        """Every ``old`` in ``text`` replaced by ``new``."""
        if text is None:
            return None
        if not old:
            raise FunctionError("replace() cannot replace empty text")
        return text.replace(old, new)

    @signature(_TEXT)
    def _func_lower(self, text: str | None) -> str | None:
        return None if text is None else text.lower()

    @signature({"types": ["string", "number", "null"]})
    def _func_url_encode(self, value: Any) -> str | None:
        """Percent-encoded for a URL path segment or query value (only A-Z a-z 0-9 - _ . ~ kept)."""
        if value is None:
            return None
        if isinstance(value, bool):
            raise FunctionError("url_encode() wants text or a number")
        return quote(str(value), safe="")

    @signature(_TEXT)
    def _func_soql_string(self, text: str | None) -> str | None:
        """A Salesforce SOQL string literal: quoted, with ``\\`` and ``'`` escaped."""
        if text is None:
            return None
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    @signature(_TEXT)
    def _func_odata_string(self, text: str | None) -> str | None:
        """An OData string literal: quoted, with ``'`` doubled."""
        if text is None:
            return None
        return "'" + text.replace("'", "''") + "'"

    @signature()
    def _func_root(self) -> Any:
        """The whole document, so a filter can compare with a value outside the list it walks:
        ``results[?properties.id == to_string(root().conversation.id)]``."""
        return self._root


def options(document: Any) -> Options:
    """Evaluation options for ``document`` (``root()`` gives it back)."""
    return Options(custom_functions=RecipeFunctions(document))


CUSTOM_FUNCTIONS = tuple(
    sorted(
        name
        for name in RecipeFunctions.FUNCTION_TABLE
        if name not in Functions.FUNCTION_TABLE  # type: ignore[attr-defined]
    )
)
