"""Loading a recipe: the YAML file (or a built-in by name), checked completely and compiled once.

``load_recipe`` raises ``ConfigError`` with one line naming the setting, the file and the field
(``CRM_RECIPE: crm.yaml: conversation.steps[1].url: ...``), so a mistake stops the worker at
start-up. A mapping file given as ``CRM_RECIPE`` is a one-step recipe: the webhook recipe with
that file as the conversation body.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from shared.errors import ConfigError
from shared.mapping import (
    Invalid,
    Mapping,
    check_json,
    child_field,
    compile_node,
    load_mapping,
    read_file,
    type_name,
)
from shared.recipes.expressions import (
    NAME,
    Condition,
    Expression,
    UrlTemplate,
    conditions,
    picks,
)
from shared.recipes.models import (
    AuthSpec,
    EventSpec,
    RecipeSpec,
    RequestSpec,
    SignatureSpec,
    StepSpec,
    describe,
)
from shared.recipes.outcomes import Rule, compile_rules

VERSION = 1
SETTING = "CRM_RECIPE"
BUILTIN_DIR = Path(__file__).parent / "builtin"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KINDS = ("conversation", "gdpr")
# Settings an expression may read as settings.<name>: none of them is a secret.
SETTINGS = (
    "crm_recipe",
    "crm_endpoint_url",
    "crm_gdpr_url",
    "crm_gdpr_method",
    "crm_base_url",
    "crm_oauth_client_id",
    "gdpr_action",
)
_SCHEME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REFERENCE = re.compile(r"\b(saved|memory|vars|settings)\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Request:
    """One HTTP request of a step (or of its ``recover``), compiled."""

    field: str
    method: str | Any | None  # text, a node ({expr: ...}), or None: the mapping's method or POST
    url: UrlTemplate | Any  # a template, or a node rendered as it is
    query: Any | None
    headers: Any | None
    body_kind: str | None  # "json" | "form" | None
    body: Any | None  # a node, or a Mapping (``mapping:``)
    save: tuple[tuple[str, Expression], ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Recover(Request):
    found: Condition | None = None


@dataclass(frozen=True)
class Step(Request):
    name: str = ""
    description: str | None = None
    when: tuple[Condition, ...] = ()
    recover: Recover | None = None


@dataclass(frozen=True)
class EventRecipe:
    kind: str
    when: tuple[Condition, ...]
    steps: tuple[Step, ...]
    remember: tuple[tuple[str, Expression], ...]


@dataclass(frozen=True)
class Recipe:
    """A validated, compiled recipe."""

    name: str
    base_url: str | None
    auth: AuthSpec
    signature: SignatureSpec | None
    vars: dict[str, Any]
    headers: Any | None
    rules: tuple[Rule, ...]
    events: dict[str, EventRecipe] = field(default_factory=dict)

    def event(self, kind: str) -> EventRecipe | None:
        return self.events.get(kind)

    def __repr__(self) -> str:
        return f"Recipe(name={self.name!r}, kinds={sorted(self.events)})"


def builtin_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def load_recipe(
    recipe: str, mapping_file: str | None = None, gdpr_mapping_file: str | None = None
) -> Recipe:
    """The built-in recipe ``recipe`` names, or the recipe (or mapping) file at that path.

    ``mapping_file`` / ``gdpr_mapping_file`` (``CRM_MAPPING_FILE``, ``CRM_GDPR_MAPPING_FILE``)
    are the bodies of steps that say ``mapping: conversation`` / ``mapping: gdpr`` (the webhook
    recipe's). Compiled once per arguments and process.
    """
    if not recipe or not recipe.strip():
        raise ConfigError(
            f"{SETTING}: empty (a built-in name: {', '.join(builtin_names())}, or a file)"
        )
    try:
        return _load(recipe.strip(), mapping_file or None, gdpr_mapping_file or None)
    except Invalid as invalid:
        where = f": {invalid.field}" if invalid.field else ""
        raise ConfigError(f"{SETTING}: {recipe.strip()}{where}: {invalid.problem}") from None


def clear_cache() -> None:
    _load.cache_clear()


@functools.lru_cache(maxsize=32)
def _load(recipe: str, mapping_file: str | None, gdpr_mapping_file: str | None) -> Recipe:
    if recipe in builtin_names():
        return _compile(
            recipe, read_file(BUILTIN_DIR / f"{recipe}.yaml"), mapping_file, gdpr_mapping_file
        )
    path = Path(recipe)
    if not path.exists() and "/" not in recipe and not recipe.endswith((".yaml", ".yml")):
        raise Invalid("", f"not a built-in recipe ({', '.join(builtin_names())}) and no such file")
    data = read_file(path)
    if isinstance(data, dict) and "body" in data and not any(k in data for k in KINDS):
        # A mapping file: the webhook recipe with this file as the conversation body.
        load_mapping(recipe, "conversation", SETTING)
        webhook = read_file(BUILTIN_DIR / "webhook.yaml")
        return _compile(recipe, webhook, recipe, gdpr_mapping_file)
    return _compile(recipe, data, mapping_file, gdpr_mapping_file)


# -- compiling -----------------------------------------------------------------------------------


def _compile(name: str, data: Any, mapping_file: str | None, gdpr_file: str | None) -> Recipe:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type_name(data)
        raise Invalid(
            "", f"the top level must be a mapping with version and conversation or gdpr, got {got}"
        )
    if "version" not in data:
        raise Invalid("version", f"required (write version: {VERSION})")
    version = data["version"]
    if type(version) is not int or version != VERSION:
        raise Invalid("version", f"unsupported version {version!r} (this bridge reads {VERSION})")
    try:
        spec = RecipeSpec.model_validate(data)
    except ValidationError as error:
        raise Invalid(*describe(error)) from None
    if spec.conversation is None and spec.gdpr is None:
        raise Invalid("", "a recipe needs conversation, gdpr, or both")
    if spec.base_url is not None:
        _absolute_url(spec.base_url, "base_url")
    auth = spec.auth or AuthSpec(type="none")
    _check_auth(auth)
    for key, value in spec.vars.items():
        if not NAME.match(key):
            raise Invalid(
                f"vars.{key}", "a name is lower-case letters, digits and _ (a letter first)"
            )
        check_json(value, f"vars.{key}")
    headers = _object_node(spec.headers, "headers")
    mappings = {"conversation": mapping_file, "gdpr": gdpr_file}
    events = {}
    for kind in KINDS:
        event: EventSpec | None = getattr(spec, kind)
        if event is not None:
            _check_references(data[kind], kind, spec, event)
            events[kind] = _event(kind, event, mappings)
    return Recipe(
        name=name,
        base_url=spec.base_url,
        auth=auth,
        signature=spec.signature,
        vars=dict(spec.vars),
        headers=headers,
        rules=compile_rules(spec.outcomes, "outcomes"),
        events=events,
    )


def _check_auth(auth: AuthSpec) -> None:
    kind = auth.type
    if kind == "api_key" and (auth.header is None) == (auth.query is None):
        raise Invalid("auth", "api_key sends the key in a header or a query parameter: give one")
    if kind != "api_key":
        for key in ("header", "query"):
            if getattr(auth, key) is not None:
                raise Invalid(f"auth.{key}", f"only for type api_key, not {kind}")
    if auth.scheme is not None:
        if kind not in ("bearer", "oauth2_client_credentials", "oauth2_refresh_token"):
            raise Invalid("auth.scheme", f"only for bearer and oauth2 types, not {kind}")
        if not _SCHEME.match(auth.scheme):
            raise Invalid("auth.scheme", f"{auth.scheme!r} is not an HTTP authorization scheme")
    if auth.username is not None and kind != "basic":
        raise Invalid("auth.username", f"only for type basic, not {kind}")
    oauth = kind.startswith("oauth2_")
    for key in ("token_url", "scope", "api_base_from"):
        if getattr(auth, key) is not None and not oauth:
            raise Invalid(f"auth.{key}", f"only for the oauth2 types, not {kind}")
    if auth.token_url is not None:
        _absolute_url(auth.token_url, "auth.token_url")
    if oauth and auth.secret is not None:
        raise Invalid(
            "auth.secret",
            "the oauth2 types read CRM_OAUTH_CLIENT_SECRET (and CRM_OAUTH_REFRESH_TOKEN)",
        )
    if kind == "none" and (auth.secret is not None or auth.optional):
        raise Invalid("auth", "type none takes no secret")


def _absolute_url(text: str, where: str) -> None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(where, f"must be an absolute http(s) URL, got {text!r}")


def _event(kind: str, spec: EventSpec, mappings: dict[str, str | None]) -> EventRecipe:
    steps: list[Step] = []
    seen: set[str] = set()
    for index, step_spec in enumerate(spec.steps):
        where = f"{kind}.steps[{index}]"
        if not NAME.match(step_spec.name):
            raise Invalid(
                f"{where}.name", "a step name is lower-case letters, digits and _ (a letter first)"
            )
        if step_spec.name in seen:
            raise Invalid(f"{where}.name", f"another step is already named {step_spec.name!r}")
        seen.add(step_spec.name)
        steps.append(_step(step_spec, where, mappings))
    return EventRecipe(
        kind=kind,
        when=tuple(conditions(spec.when, f"{kind}.when")),
        steps=tuple(steps),
        remember=tuple(picks(spec.remember, f"{kind}.remember")),
    )


def _step(spec: StepSpec, where: str, mappings: dict[str, str | None]) -> Step:
    mapping: Mapping | None = None
    if spec.mapping is not None:
        if spec.json_body is not None or spec.form is not None:
            raise Invalid(where, "a step's body is one of json, form or mapping")
        setting = "CRM_MAPPING_FILE" if spec.mapping == "conversation" else "CRM_GDPR_MAPPING_FILE"
        mapping = load_mapping(mappings[spec.mapping], spec.mapping, setting)  # type: ignore[arg-type]
    request = _request(spec, where, mapping_step=mapping is not None)
    if mapping is not None:
        request = {**request, "body_kind": "json", "body": mapping}
    recover = None
    if spec.recover is not None:
        recover = Recover(**_request(spec.recover, f"{where}.recover"), found=None)
        found = spec.recover.found
        if found is not None:
            (condition,) = conditions(found, f"{where}.recover.found")
            recover = Recover(**{**recover.__dict__, "found": condition})
        if not spec.recover.save:
            raise Invalid(
                f"{where}.recover.save",
                "required: what the recovery finds (the step's saved values)",
            )
        missing = [name for name in spec.save if name not in spec.recover.save]
        if missing:
            raise Invalid(
                f"{where}.recover.save",
                f"must save what the step saves (missing: {', '.join(missing)})",
            )
    return Step(
        **request,
        name=spec.name,
        description=spec.description,
        when=tuple(conditions(spec.when, f"{where}.when")),
        recover=recover,
    )


def _request(spec: RequestSpec, where: str, mapping_step: bool = False) -> dict[str, Any]:
    method: Any
    if spec.method is None:
        if not mapping_step:
            raise Invalid(f"{where}.method", f"required ({', '.join(METHODS)})")
        method = None
    elif isinstance(spec.method, str):
        if spec.method.upper() not in METHODS:
            raise Invalid(
                f"{where}.method", f"must be one of {', '.join(METHODS)}, got {spec.method!r}"
            )
        method = spec.method.upper()
    elif isinstance(spec.method, dict):
        method = compile_node(spec.method, f"{where}.method")
    else:
        raise Invalid(
            f"{where}.method", f"must be text or {{expr: ...}}, got {type_name(spec.method)}"
        )
    if spec.url is None:
        raise Invalid(
            f"{where}.url", "required (a path such as /crm/v3/objects/notes/{saved.note_id})"
        )
    if isinstance(spec.url, str):
        if not spec.url.startswith(("/", "http://", "https://", "{+")):
            raise Invalid(
                f"{where}.url",
                "must start with / (a path after the API base), http(s):// or {+...} "
                "(for a URL that an expression gives whole, write {expr: ...})",
            )
        url: Any = UrlTemplate(spec.url, f"{where}.url")
    elif isinstance(spec.url, dict):
        url = compile_node(spec.url, f"{where}.url")
    else:
        raise Invalid(f"{where}.url", f"must be text or {{expr: ...}}, got {type_name(spec.url)}")
    if spec.json_body is not None and spec.form is not None:
        raise Invalid(where, "a step's body is one of json, form or mapping")
    body_kind, body = None, None
    if spec.json_body is not None:
        body_kind, body = "json", compile_node(spec.json_body, f"{where}.json")
    elif spec.form is not None:
        body_kind, body = "form", _object_node(spec.form, f"{where}.form")
    return {
        "field": where,
        "method": method,
        "url": url,
        "query": _object_node(spec.query, f"{where}.query"),
        "headers": _object_node(spec.headers, f"{where}.headers"),
        "body_kind": body_kind,
        "body": body,
        "save": tuple(picks(spec.save, f"{where}.save")),
        "rules": compile_rules(spec.outcomes, f"{where}.outcomes"),
    }


def _object_node(spec: Any, where: str) -> Any:
    if spec is None:
        return None
    if not isinstance(spec, dict) or any(k in ("expr", "const") for k in spec):
        raise Invalid(where, f"must be a mapping of names to values, got {_what(spec)}")
    return compile_node(spec, where)


def _what(spec: Any) -> str:
    return "an expression node" if isinstance(spec, dict) else type_name(spec)


# -- references to saved values, memory, vars and settings ----------------------------------------


def _check_references(raw: Any, kind: str, spec: RecipeSpec, event: EventSpec) -> None:
    """``saved.x`` must be saved by an earlier step, ``memory.x`` remembered by this kind,
    ``vars.x`` declared, ``settings.x`` one of the readable settings: a typo is caught here
    rather than rendering null on every event."""
    remembered = set(event.remember)
    names = {"vars": set(spec.vars), "settings": set(SETTINGS), "memory": remembered}
    saved: set[str] = set()
    _scan(raw.get("when"), f"{kind}.when", {**names, "saved": set()})
    steps = raw.get("steps") or []
    for index, step in enumerate(event.steps):
        where = f"{kind}.steps[{index}]"
        raw_step = steps[index] if isinstance(steps[index], dict) else {}
        recover = raw_step.get("recover")
        for key, value in raw_step.items():
            if key == "recover":
                continue
            _scan(value, child_field(where, str(key)), {**names, "saved": saved})
        if isinstance(recover, dict):
            own = set(step.recover.save) if step.recover else set()
            for key, value in recover.items():
                scope = saved | own if key == "found" else saved
                _scan(value, f"{where}.recover.{key}", {**names, "saved": scope})
        saved = saved | set(step.save) | (set(step.recover.save) if step.recover else set())
    _scan(raw.get("remember"), f"{kind}.remember", {**names, "saved": saved})


def _scan(value: Any, where: str, names: dict[str, set[str]]) -> None:
    if isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            space, name = match.group(1), match.group(2)
            if name not in names[space]:
                known = ", ".join(sorted(names[space])) or "none"
                raise Invalid(where, f"{space}.{name} is not {_meaning(space)} (known: {known})")
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = where if key in ("expr", "reason", "default") else child_field(where, str(key))
            _scan(item, inner, names)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _scan(item, f"{where}[{index}]", names)


def _meaning(space: str) -> str:
    return {
        "saved": "saved by an earlier step",
        "memory": "remembered by this event kind (remember:)",
        "vars": "declared in vars",
        "settings": "a setting a recipe can read",
    }[space]
