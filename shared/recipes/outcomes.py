"""How a CRM's answer is read: outcome rules, ``Retry-After``, and the errors raised.

A rule matches an answer by status (``429``, ``"5xx"``, ``"500-599"`` or a list of those) and,
optionally, by a condition on the answer (``when``: a JMESPath expression on the context with
``response``), and says what the answer means: ``success``, ``transient`` (Pub/Sub redelivers;
``Retry-After`` or the rule's ``backoff`` hint travels with the error), ``permanent``
(dead-lettered with the vendor's answer as ``detail``) or ``renew_token`` (renew the credentials
once and send again). A step's own rules are tried first, then the recipe's, then the defaults:
2xx success; 401 renew_token; 408, 409, 429 and 5xx transient; anything else permanent.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from typing import Any

from shared.crm import describe_answer
from shared.errors import CrmRejectedError, CrmTransientError
from shared.mapping import Invalid, type_name
from shared.recipes.expressions import Expression, expression, truthy
from shared.recipes.models import RuleSpec

_CLASS = re.compile(r"^([1-5])xx$")
_RANGE = re.compile(r"^([1-5][0-9][0-9])-([1-5][0-9][0-9])$")


@dataclass(frozen=True)
class Rule:
    field: str
    ranges: tuple[tuple[int, int], ...] | None  # None: any status
    when: Expression | None
    outcome: str
    backoff: float | None = None
    reason: str | None = None

    def matches(self, status: int, context: dict[str, Any]) -> bool:
        if self.ranges is not None and not any(lo <= status <= hi for lo, hi in self.ranges):
            return False
        return self.when is None or truthy(self.when.value(context))


DEFAULT_RULES = (
    Rule("default", ((200, 299),), None, "success"),
    Rule("default", ((401, 401),), None, "renew_token"),
    Rule("default", ((408, 409), (429, 429), (500, 599)), None, "transient"),
    Rule("default", None, None, "permanent"),
)


def compile_rules(specs: list[RuleSpec], field: str) -> tuple[Rule, ...]:
    rules = []
    for index, spec in enumerate(specs):
        where = f"{field}[{index}]"
        ranges = _statuses(spec.status, f"{where}.status")
        when = expression(spec.when, f"{where}.when") if spec.when is not None else None
        if ranges is None and when is None:
            raise Invalid(where, "a rule needs status, when, or both")
        rules.append(Rule(where, ranges, when, spec.outcome, spec.backoff, spec.reason))
    return tuple(rules)


def _statuses(spec: Any, field: str) -> tuple[tuple[int, int], ...] | None:
    if spec is None:
        return None
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise Invalid(field, "an empty list of statuses")
    ranges = []
    for item in items:
        if type(item) is int and 100 <= item <= 599:
            ranges.append((item, item))
            continue
        if isinstance(item, str):
            match = _CLASS.match(item)
            if match:
                first = int(match.group(1)) * 100
                ranges.append((first, first + 99))
                continue
            match = _RANGE.match(item)
            if match and int(match.group(1)) <= int(match.group(2)):
                ranges.append((int(match.group(1)), int(match.group(2))))
                continue
        shown = repr(item) if isinstance(item, str | int) else type_name(item)
        raise Invalid(
            field, f'a status is 100-599, a class like "4xx" or a range like "500-599", got {shown}'
        )
    return tuple(ranges)


@dataclass(frozen=True)
class Verdict:
    outcome: str
    rule: Rule


def classify(rules: tuple[Rule, ...], status: int, context: dict[str, Any]) -> Verdict:
    """The first rule (step, recipe, defaults) that matches the answer."""
    for rule in (*rules, *DEFAULT_RULES):
        if rule.matches(status, context):
            return Verdict(rule.outcome, rule)
    raise AssertionError("the last default rule matches every answer")  # pragma: no cover


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if sent."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def answer_text(text: str, reason: str | None = None) -> tuple[str, str]:
    """``(summary, detail)`` of an answer: the summary (the vendor's error code and a digest) is
    safe in a log line; the detail (the answer, redacted and trimmed) goes to dead letters only."""
    return describe_answer(text, reason)


def transient(
    reason: str,
    detail: str | None = None,
    retry: float | None = None,
    backoff: float | None = None,
) -> Exception:
    """``retry``: the vendor's ``Retry-After``; ``backoff``: the recipe rule's hint."""
    return CrmTransientError(reason, detail=detail, retry_after=retry, backoff=backoff)


def permanent(reason: str, detail: str | None = None) -> Exception:
    return CrmRejectedError(reason, detail=detail)
