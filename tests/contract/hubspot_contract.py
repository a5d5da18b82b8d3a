"""HubSpot requests checked against HubSpot's official Python SDK, ``hubspot-api-client``.

HubSpot's OpenAPI files are not licensed for outside use; its SDK (Apache-2.0) is generated from
them, so the SDK is the licensed description used here:

- the operation: every ``*_with_http_info`` method of every SDK API class under
  ``hubspot.crm`` names its path template and method (``self.api_client.call_api("/crm/v3/...",
  "POST", ...)``), its query parameters and its body parameter with the body's model type
  (``:type simple_public_object_input_for_create: SimplePublicObjectInputForCreate``). They are
  read from the SDK's source text, without calling HubSpot. A request must match one (the most
  specific template wins), use only its query parameters, and carry a body exactly when the
  operation takes one.
- the body: it must deserialize into that model. Each JSON key must be one of the model's
  ``attribute_map`` keys (an unknown key is refused), each value must fit the type in
  ``openapi_types`` (recursively, ``list[...]`` and ``dict[str, ...]`` included), and the model's
  own constructor must accept the values (it refuses a missing required field and a value
  outside an enum, e.g. ``associationCategory``).
- the transport: ``Authorization: Bearer <private app token>``, and ``Content-Type:
  application/json`` with a body.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CALL = re.compile(r'call_api\(\s*"(?P<path>[^"]+)",\s*"(?P<method>[A-Z]+)"')
_QUERY = re.compile(r'query_params\.append\(\("(?P<name>[^"]+)"')
_BODY = re.compile(r'body_params = local_var_params\["(?P<param>\w+)"\]')
_TYPE = r":type {param}: (?P<type>[^\n]+)"
_CLASS = re.compile(r"\nclass (?P<name>\w+)\(")
_FUNC = re.compile(r"\n    def (?P<name>\w+)_with_http_info\(")
_LIST = re.compile(r"^list\[(?P<inner>.+)\]$")
_DICT = re.compile(
    r"^dict\((?P<key>[^,]+), (?P<value>.+)\)$|^dict\[(?P<key2>[^,]+), (?P<value2>.+)\]$"
)


@dataclass(frozen=True)
class Operation:
    api: str  # e.g. "hubspot.crm.contacts.api.basic_api.BasicApi.create"
    method: str
    template: str
    pattern: re.Pattern[str]
    variables: int
    query: frozenset[str]
    body_type: str | None  # e.g. "SimplePublicObjectInputForCreate" or "list[AssociationSpec]"
    models: str  # the package holding the models, e.g. "hubspot.crm.contacts.models"


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the SDK's CRM API classes (read from their source)."""
    import hubspot.crm

    root = Path(hubspot.crm.__file__).parent
    found: list[Operation] = []
    for source in sorted(root.rglob("api/*_api.py")):
        relative = source.relative_to(root.parent.parent).with_suffix("")
        module = ".".join(relative.parts)
        models = module.rsplit(".api.", 1)[0] + ".models"
        text = source.read_text(encoding="utf-8")
        starts = [m for m in _FUNC.finditer(text)]
        for index, start in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
            chunk = text[start.start() : end]
            call = _CALL.search(chunk)
            if call is None:
                continue
            body_type = None
            body = _BODY.search(chunk)
            if body is not None:
                typed = re.search(_TYPE.format(param=body.group("param")), chunk)
                body_type = typed.group("type").strip() if typed else "object"
            template = call.group("path")
            pieces = re.split(r"(\{[^}]+\})", template)
            regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in pieces)
            owner = [c for c in _CLASS.finditer(text) if c.start() < start.start()]
            class_name = owner[-1].group("name") if owner else "?"
            found.append(
                Operation(
                    api=f"{module}.{class_name}.{start.group('name')}",
                    method=call.group("method"),
                    template=template,
                    pattern=re.compile(f"^{regex}$"),
                    variables=template.count("{"),
                    query=frozenset(m.group("name") for m in _QUERY.finditer(chunk)),
                    body_type=body_type,
                    models=models,
                )
            )
    return tuple(found)


def find_operation(method: str, path: str) -> Operation | None:
    matches = [op for op in operations() if op.method == method and op.pattern.match(path)]
    if not matches:
        return None
    return min(matches, key=lambda op: (op.variables, len(op.template)))


@functools.cache
def _strict_configuration(models: str) -> Any:
    """The SDK package's Configuration with its client-side validation on (off by default)."""
    package = models.rsplit(".", 1)[0]
    configuration = importlib.import_module(f"{package}.configuration").Configuration()
    configuration.client_side_validation = True
    return configuration


def _model_class(models: str, name: str) -> type | None:
    try:
        module = importlib.import_module(models)
    except ImportError:
        return None
    return getattr(module, name, None)


def deserialize(data: Any, type_name: str, models: str, where: str) -> tuple[Any, list[str]]:
    """``data`` read as the SDK type ``type_name``: (the value, problems)."""
    type_name = type_name.strip()
    if data is None:
        return None, []
    listed = _LIST.match(type_name)
    if listed:
        if not isinstance(data, list):
            return None, [f"{where}: expected a list ({type_name}), got {type(data).__name__}"]
        values, out = [], []
        for index, item in enumerate(data):
            value, problems = deserialize(item, listed.group("inner"), models, f"{where}[{index}]")
            values.append(value)
            out += problems
        return values, out
    mapped = _DICT.match(type_name)
    if mapped:
        inner = mapped.group("value") or mapped.group("value2")
        if not isinstance(data, dict):
            return None, [f"{where}: expected an object ({type_name}), got {type(data).__name__}"]
        values, out = {}, []
        for key, item in data.items():
            value, problems = deserialize(item, inner, models, f"{where}.{key}")
            values[key] = value
            out += problems
        return values, out
    if type_name == "object":
        return data, []
    if type_name == "str":
        if isinstance(data, (dict, list)):
            return None, [f"{where}: expected a string, got {type(data).__name__}"]
        return data if isinstance(data, str) else str(data), []
    if type_name == "int":
        if isinstance(data, bool) or not (isinstance(data, int) or (
                isinstance(data, str) and data.lstrip("-").isdigit())):  # fmt: skip
            return None, [f"{where}: expected an integer, got {data!r}"]
        return int(data), []
    if type_name == "float":
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            return None, [f"{where}: expected a number, got {data!r}"]
        return float(data), []
    if type_name == "bool":
        if not isinstance(data, bool):
            return None, [f"{where}: expected true or false, got {data!r}"]
        return data, []
    if type_name in ("datetime", "date"):
        try:
            text = str(data).replace("Z", "+00:00")
            parsed = dt.datetime.fromisoformat(text) if type_name == "datetime" else \
                dt.date.fromisoformat(text)  # fmt: skip
        except ValueError:
            return None, [f"{where}: expected an ISO {type_name}, got {data!r}"]
        return parsed, []
    cls = _model_class(models, type_name)
    if cls is None:
        return None, [f"{where}: the SDK has no model {type_name} in {models}"]
    if not isinstance(data, dict):
        return None, [f"{where}: expected an object ({type_name}), got {type(data).__name__}"]
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json))
    out = [f"{where}: {type_name} has no field {key!r}" for key in unknown]
    kwargs = {}
    for json_key, item in data.items():
        attr = by_json.get(json_key)
        if attr is None:
            continue
        value, problems = deserialize(item, cls.openapi_types[attr], models, f"{where}.{json_key}")
        kwargs[attr] = value
        out += problems
    try:
        instance = cls(**kwargs, local_vars_configuration=_strict_configuration(models))
    except (ValueError, TypeError) as exc:
        out.append(f"{where}: {type_name} refuses it: {exc}")
        instance = None
    return instance, out


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from the SDK's description (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    out: list[str] = []
    authorization = request.headers.get("Authorization") or ""
    if not authorization.startswith("Bearer ") or not authorization[7:].strip():
        out.append(f"{where}: no Authorization: Bearer <token> header")
    operation = find_operation(request.method, request.path)
    if operation is None:
        return [*out, f"{where}: no operation of the HubSpot SDK has this method and path"]
    extra = sorted(set(request.query) - operation.query)
    if extra:
        out.append(f"{where}: query parameter(s) {extra} are not parameters of {operation.api}")
    import json

    if operation.body_type is None:
        if request.body:
            out.append(f"{where}: {operation.api} takes no body")
        return out
    if not request.body:
        return [*out, f"{where}: {operation.api} needs a {operation.body_type} body"]
    if "application/json" not in (request.headers.get("Content-Type") or "").lower():
        out.append(f"{where}: a JSON body needs Content-Type: application/json")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return [*out, f"{where}: the body is not JSON"]
    _, found = deserialize(data, operation.body_type, operation.models, operation.body_type)
    return out + [f"{where}: {p}" for p in found]
