"""Marketo requests checked against Adobe's own Swagger 2.0 files for Marketo Engage
(``marketo/swagger-mapi.json`` for the REST API, ``marketo/swagger-identity.json`` for the
identity service), validated directly as Swagger 2.0 (no conversion):

- the path must match one of the description's path templates for that method (the most
  specific wins);
- every ``required`` parameter must be there; query parameters must be declared ones, of the
  declared ``type`` (``integer``, ``boolean``, ``enum``; ``array`` as comma-separated values);
- the ``Content-Type`` must be one the operation ``consumes``;
- the ``body`` parameter's schema is checked with JSON Schema draft 4 (which Swagger 2.0 schemas
  are written in) against the file's ``definitions``.

Repairs, because Adobe uses one schema for what it sends and receives, and its own descriptions
say so: ``CustomObject`` requires ``marketoGUID`` and ``seq``, which "should only be part of
responses and should not be submitted" -- they are no longer required; ``CustomActivity``
requires the answer-only ``id`` and ``errors`` -- dropped from ``required``; an ``Attribute``
takes its name as ``name`` or ``apiName`` (the documentation's examples use ``apiName``) and
any ``value`` (typed ``object``, though the examples send strings and numbers). And the request
wrappers (``...Request``) refuse keys they do not declare; the records in them stay open.

On top: REST calls carry ``Authorization: Bearer <token>``; the ``access_token`` query parameter
is refused (Adobe retired it; a token in the URL ends up in logs). The description declares no
security, so this follows
https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

from jsonschema import Draft4Validator

from tests.contract.spec_files import spec_path


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    spec = json.loads(spec_path(f"marketo/{name}").read_text(encoding="utf-8"))
    definitions = spec.get("definitions", {})
    if "CustomObject" in definitions:
        definitions["CustomObject"]["required"] = []
    if "CustomActivity" in definitions:
        required = definitions["CustomActivity"].get("required", [])
        definitions["CustomActivity"]["required"] = [
            r for r in required if r not in ("id", "errors")
        ]
    if "Attribute" in definitions:
        attribute = definitions["Attribute"]
        attribute["required"] = ["value"]
        attribute["anyOf"] = [{"required": ["name"]}, {"required": ["apiName"]}]
        attribute["properties"]["value"] = {}  # typed "object", yet it holds any value
    for name, definition in definitions.items():
        # request wrappers refuse keys they do not declare (a misspelt "lookupfield" is caught)
        if name.endswith("Request") and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return spec


def _operation(path: str, method: str) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    name = "swagger-identity.json" if path.startswith("/identity/") else "swagger-mapi.json"
    spec = _spec(name)
    found = []
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            found.append((template.count("{"), template, item[method.lower()], spec))
    if not found:
        return None
    _, template, operation, spec = min(found, key=lambda f: f[0])
    return template, operation, spec


def _type_problem(param: dict[str, Any], value: str) -> str | None:
    kind = param.get("type")
    values = value.split(",") if kind == "array" else [value]
    item_kind = (param.get("items") or {}).get("type") if kind == "array" else kind
    enum = param.get("enum") or ((param.get("items") or {}).get("enum") if kind == "array"
                                 else None)  # fmt: skip
    for item in values:
        if item_kind == "integer" and not re.fullmatch(r"-?\d+", item):
            return f"{param['name']} must be an integer, got {item!r}"
        if item_kind == "boolean" and item not in ("true", "false"):
            return f"{param['name']} must be true or false, got {item!r}"
        if enum and item not in enum:
            return f"{param['name']} must be one of {enum}, got {item!r}"
    return None


def problems(request: Any) -> list[str]:
    """Every way ``request`` departs from Adobe's description (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    found = _operation(request.path, request.method)
    if found is None:
        return [f"{where}: no such operation in Marketo's Swagger description"]
    template, operation, spec = found
    out: list[str] = []
    is_identity = request.path.startswith("/identity/")
    if not is_identity:
        authorization = request.headers.get("Authorization") or ""
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            out.append("no Authorization: Bearer <token> header")
        if "access_token" in request.query:
            out.append("access_token is in the URL; send it in the Authorization header")
    params = operation.get("parameters", [])
    declared_query = {p["name"] for p in params if p.get("in") == "query"}
    for name in request.query:
        if name == "access_token" and not is_identity:
            continue
        if name not in declared_query:
            out.append(f"query parameter {name} is not declared for {template}")
    body_param = None
    for param in params:
        where_in = param.get("in")
        if where_in == "query":
            values = request.query.get(param["name"])
            if values is None:
                if param.get("required"):
                    out.append(f"required query parameter {param['name']} is missing")
                continue
            problem = _type_problem(param, ",".join(values))
            if problem:
                out.append(problem)
        elif where_in == "header" and param.get("required") and \
                request.headers.get(param["name"]) is None:  # fmt: skip
            out.append(f"required header {param['name']} is missing")
        elif where_in == "body":
            body_param = param
        elif where_in == "formData" and param.get("required"):
            out.append(f"{template} takes a form field {param['name']}; not supported here")
    if body_param is None:
        if request.body and request.method != "GET":
            out.append(f"{template} takes no body")
        return [f"{where}: {p}" for p in out]
    if not request.body:
        if body_param.get("required"):
            out.append(f"{template} needs a JSON body ({body_param['name']})")
        return [f"{where}: {p}" for p in out]
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    consumes = operation.get("consumes") or spec.get("consumes") or ["application/json"]
    if content_type not in consumes:
        out.append(f"Content-Type {content_type or 'none'} is not one of {consumes}")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return [f"{where}: {p}" for p in [*out, "the body is not JSON"]]
    schema = {**copy.deepcopy(body_param["schema"]), "definitions": spec.get("definitions", {})}
    validator = Draft4Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"body{at}: {error.message}")
    return [f"{where}: {p}" for p in out]
