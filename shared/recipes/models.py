"""The shape of a recipe file, as pydantic models (unknown keys refused, no type coercion).

Values that are nodes of the mapping language (bodies, queries, headers, URLs given as
expressions) or conditions stay ``Any`` here; ``shared.recipes.loader`` compiles them and
reports each problem with the field it is at. ``describe`` turns a pydantic error into the
one-line problem the loader reports.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.mapping import child_field, type_name

SecretName = Literal[
    "crm_api_token", "crm_oauth_client_secret", "crm_oauth_refresh_token", "crm_signing_secret"
]
AuthType = Literal[
    "none",
    "bearer",
    "api_key",
    "basic",
    "oauth2_client_credentials",
    "oauth2_refresh_token",
]
OutcomeName = Literal["success", "transient", "permanent", "renew_token"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class RuleSpec(_Model):
    """One outcome rule: which answers it matches, and what they mean."""

    status: Any = None
    when: str | None = None
    outcome: OutcomeName
    backoff: float | None = Field(default=None, ge=0, le=86400)
    reason: str | None = Field(default=None, min_length=1, max_length=200)


class RequestSpec(_Model):
    """What a step and a step's ``recover`` have in common: one HTTP request."""

    method: Any = None
    url: Any = None
    query: Any = None
    headers: Any = None
    json_body: Any = Field(default=None, alias="json")
    form: Any = None
    save: dict[str, str] = Field(default_factory=dict)
    outcomes: list[RuleSpec] = Field(default_factory=list)


class RecoverSpec(RequestSpec):
    found: str | None = None


class StepSpec(RequestSpec):
    name: str
    description: str | None = None
    when: Any = None
    mapping: Literal["conversation", "gdpr"] | None = None
    recover: RecoverSpec | None = None


class EventSpec(_Model):
    when: Any = None
    steps: list[StepSpec] = Field(min_length=1)
    remember: dict[str, str] = Field(default_factory=dict)


class AuthSpec(_Model):
    type: AuthType
    secret: SecretName | None = None
    optional: bool = False
    header: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    scheme: str | None = Field(default=None, min_length=1)
    username: str | None = None
    token_url: str | None = None
    scope: str | None = None
    client_auth: Literal["client_secret_post", "client_secret_basic", "query"] = (
        "client_secret_post"
    )
    api_base_from: str | None = Field(default=None, min_length=1)
    expiry_margin_seconds: float = Field(default=60.0, ge=0, le=3600)


class SignatureSpec(_Model):
    header: str = Field(default="X-Signature", min_length=1)
    secret: SecretName = "crm_signing_secret"  # noqa: S105 - a setting's name


class RecipeSpec(_Model):
    version: Any = None
    description: str | None = None
    base_url: str | None = None
    auth: AuthSpec | None = None
    signature: SignatureSpec | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    headers: Any = None
    outcomes: list[RuleSpec] = Field(default_factory=list)
    conversation: EventSpec | None = None
    gdpr: EventSpec | None = None


def describe(error: ValidationError) -> tuple[str, str]:
    """(field, problem) of the first problem pydantic found, in the loader's words."""
    item = error.errors(include_url=False)[0]
    loc = [part for part in item["loc"] if not _is_union_tag(part)]
    field = _field(loc)
    kind = item["type"]
    value = item.get("input")
    if kind == "extra_forbidden":
        model = _model_at(RecipeSpec, loc[:-1])
        allowed = ", ".join(_keys(model)) if model else ""
        return field, f"unknown key (allowed: {allowed})"
    if kind == "missing":
        return field, "required"
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return field, f"must be one of {expected}, got {_shown(value)}"
    if kind == "model_type" or kind == "model_attributes_type":
        return field, f"must be a mapping, got {type_name(value)}"
    if kind == "dict_type":
        return field, f"must be a mapping, got {type_name(value)}"
    if kind == "list_type":
        return field, f"must be a list, got {type_name(value)}"
    if kind in ("string_type", "str_type"):
        return field, f"must be a string, got {type_name(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return field, f"must be true or false, got {type_name(value)}"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing"):
        return field, f"must be a number, got {type_name(value)}"
    if kind == "too_short" and isinstance(value, list):
        return field, "must not be empty"
    message = item["msg"].removeprefix("Value error, ")
    return field, message[0].lower() + message[1:]


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str | int | float | bool) else type_name(value)


def _is_union_tag(part: Any) -> bool:
    # pydantic names the member of an ``X | None`` union it tried ("AuthSpec", "str"...)
    return isinstance(part, str) and (part[:1].isupper() or part in ("str", "float", "bool"))


def _field(loc: list[Any]) -> str:
    field = ""
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field = child_field(field, str(part)) if field else str(part)
    return field


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _model_at(model: type[BaseModel] | None, loc: list[Any]) -> type[BaseModel] | None:
    """The model class the location ``loc`` points into (for the list of allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # inside a list: the same element type
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = next(
            (i for n, i in current.model_fields.items() if (i.alias or n) == part),
            None,
        )
        if info is None:
            return None
        current = _unwrap(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X; ``list[X]`` -> X; ``dict[str, X]`` -> X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else annotation
    if origin in (list, dict):
        return _unwrap(typing.get_args(annotation)[-1])
    return annotation
