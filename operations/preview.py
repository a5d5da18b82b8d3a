"""Show every request a recipe would send to the CRM, sending nothing.

* no arguments: Drift's sample conversation (its record built from ``samples/``);
* ``--conversation-id N``: that conversation from the Drift API named by the settings
  (``DRIFT_API_BASE_URL``, ``DRIFT_ACCESS_TOKEN``), or from the simulator when unset;
* ``--event FILE``: a webhook body (a conversation event or ``gdpr_delete_requested``).

``recipe`` (``make preview RECIPE=hubspot``, or a file; default ``CRM_RECIPE``, else ``webhook``)
and ``--mapping`` / ``--gdpr-mapping`` (or ``CRM_MAPPING_FILE`` / ``CRM_GDPR_MAPPING_FILE``)
choose what is rendered. Each request shows its step, whether it runs (``yes``; ``no: <reason>``;
``if <condition>`` when that depends on an earlier answer), method, URL, query, headers (secrets
masked), body, what it keeps from the answer it needs, and the request a retry would send first
after a lost answer. Values that earlier answers would give read ``<name from step>``.

An expression that gives null on the record is reported on stderr (without failing), with the
closest field name when the path does not exist: "did you mean contact.email?".
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import jmespath

from operations import synthetic
from shared import config, mapping
from shared.config import WorkerSettings
from shared.events import ConversationPush, DriftEvent, GdprDeleteRequested
from shared.gdpr import GdprRequest
from shared.push import PushedMessage
from shared.recipes import RecipeRunner, load_recipe
from shared.recipes.expressions import RESERVED
from shared.recipes.loader import Recipe

PREVIEW_CRM_URL = "https://crm.example.invalid/records"
# Stand-ins for the credentials a recipe needs, so a preview runs before any are set up.
_PLACEHOLDERS = {
    "crm_api_token": "preview-api-token",
    "crm_oauth_client_id": "preview-client-id",
    "crm_oauth_client_secret": "preview-client-secret",
    "crm_oauth_refresh_token": "preview-refresh-token",
    "crm_oauth_token_url": "https://token.example.invalid/oauth2/token",
}


@contextlib.contextmanager
def _drift() -> Iterator[dict[str, str]]:
    """Drift settings: the real API when configured; else the sample needs none (its record is
    built from the sample data, so the operator commands need no test double)."""
    if os.environ.get("DRIFT_API_BASE_URL"):
        yield {}
        return
    yield {"drift_access_token": "preview-unused"}


def preview(
    mapping_file: str | None = None,
    conversation_id: int | None = None,
    event_file: str | None = None,
    gdpr_mapping: str | None = None,
    recipe: str | None = None,
    memory: dict[str, Any] | None = None,
    warnings: TextIO | None = None,
) -> list[dict[str, Any]]:
    """The requests the worker would send, as dicts; warnings go to ``warnings`` (stderr)."""
    from samples import drift_seed as seed_data

    out = warnings if warnings is not None else sys.stderr
    if event_file:
        body = _read_event(event_file)
    elif conversation_id is not None:
        body = synthetic.conversation_event(conversation_id, None, None, "bridge_preview")
    else:
        body = seed_data.sample_conversation_push("preview")
        body.pop("token")
    event = DriftEvent.from_body(body)
    payload = event.payload
    if not isinstance(payload, ConversationPush | GdprDeleteRequested):
        raise ValueError(f"a {event.type} event sends nothing to the CRM")
    with _drift() as drift:
        overrides: dict[str, Any] = {
            "google_cloud_project": os.environ.get("GOOGLE_CLOUD_PROJECT", config.LOCAL_PROJECT),
            "crm_endpoint_url": os.environ.get("CRM_ENDPOINT_URL", PREVIEW_CRM_URL),
            **drift,
        }
        if recipe:
            overrides["crm_recipe"] = recipe
        if mapping_file:
            overrides["crm_mapping_file"] = mapping_file
        if gdpr_mapping:
            overrides["crm_gdpr_mapping_file"] = gdpr_mapping
        settings = WorkerSettings(**overrides)
        loaded = load_recipe(
            settings.crm_recipe,
            mapping_file=settings.crm_mapping_file,
            gdpr_mapping_file=settings.crm_gdpr_mapping_file,
        )
        settings = _with_placeholders(settings, loaded)
        if isinstance(payload, GdprDeleteRequested):
            kind, what = "gdpr", "GDPR deletion request"
            document = GdprRequest.of(event, payload).document()
        else:
            kind, what = "conversation", "conversation"
            if os.environ.get("DRIFT_API_BASE_URL"):
                document = _gather(settings, event, payload)
            else:
                document = _sample_record(event, payload)
    runner = RecipeRunner(loaded, settings)
    try:
        skipped = runner.skip_reason(kind, document, memory)
        if skipped is not None:
            print(f"nothing would be sent: {skipped}", file=out)
            return []
        nulls: list[tuple[str, str, bool]] = []
        mapping.observe(
            lambda field, source, value, fallback: _null(nulls, field, source, value, fallback)
        )
        try:
            planned = runner.plan(kind, document, memory)
        finally:
            mapping.observe(None)
    finally:
        runner.close()
    for line in null_warnings(nulls, {**document, "memory": memory or {}}):
        print(f"warning: {line}", file=out)
    return [
        {
            "what": what,
            "step": item.step,
            "runs": item.runs,
            "method": item.method,
            "url": item.url,
            **({"query": dict(item.query)} if item.query else {}),
            "headers": item.headers,
            "body": item.body,
            **({"saves": item.saves} if item.saves else {}),
            **({"after_a_lost_answer_first": item.recover} if item.recover else {}),
            **({"problem": item.problem} if item.problem else {}),
        }
        for item in planned
    ]


def _gather(settings: WorkerSettings, event: DriftEvent, push: ConversationPush) -> dict[str, Any]:
    from shared.drift_client import DriftClient
    from shared.gather import Gatherer
    from shared.secrets import Secret
    from shared.users import UserDirectory

    token = Secret.from_settings(settings, "drift_access_token")
    assert token is not None  # guaranteed by WorkerSettings
    client = DriftClient(str(settings.drift_api_base_url), token)
    try:
        gatherer = Gatherer(
            client, UserDirectory(client), include_messages=settings.include_messages
        )
        record = gatherer.record(event, push, event.key(), PushedMessage(b"", {}, "preview", None))
    finally:
        client.close()
    return record.to_json_dict()


def _sample_record(event: DriftEvent, push: ConversationPush) -> dict[str, Any]:
    """The record the worker would gather for Drift's sample conversation, from the sample."""
    from samples import drift_seed
    from shared import records
    from shared.gather import event_info

    info = records.conversation_info(drift_seed.sample_conversation(), push.conversation_id)
    users = {user["id"]: user for user in drift_seed.sample_users()}
    participants = [
        found
        for found in (records.participant(users.get(i, {"id": i})) for i in info.participant_ids)
        if found is not None
    ]
    record = records.ConversationRecord(
        event=event_info(event, push, event.key(), PushedMessage(b"", {}, "preview", None)),
        conversation=info,
        contact=records.contact_info(drift_seed.sample_contact()),
        participants=participants,
        transcript=drift_seed.SAMPLE_TRANSCRIPT,
    )
    return record.to_json_dict()


def _with_placeholders(settings: WorkerSettings, recipe: Recipe) -> WorkerSettings:
    """Stand-in credentials where the recipe requires some that are not set."""
    auth = recipe.auth
    needed: list[str] = []
    if auth.type in ("bearer", "api_key", "basic") and not auth.optional:
        needed.append(auth.secret or "crm_api_token")
        if auth.type == "basic" and not auth.username:
            needed.append("crm_oauth_client_id")
    elif auth.type.startswith("oauth2_"):
        needed += ["crm_oauth_client_id", "crm_oauth_token_url"]
        needed.append(
            "crm_oauth_refresh_token"
            if auth.type == "oauth2_refresh_token"
            else "crm_oauth_client_secret"
        )
    missing = {
        name: _PLACEHOLDERS[name]
        for name in needed
        if not getattr(settings, name, None) and not getattr(settings, f"{name}_secret", None)
    }
    if not missing:
        return settings
    values = settings.model_dump(exclude_unset=False)
    for name, value in values.items():
        if hasattr(value, "get_secret_value"):
            values[name] = value.get_secret_value()
    return WorkerSettings(**{**values, **missing})


def _null(
    nulls: list[tuple[str, str, bool]], field: str, source: str, value: Any, fallback: bool
) -> None:
    if value is None:
        nulls.append((field, source, fallback))


def null_warnings(nulls: list[tuple[str, str, bool]], document: dict[str, Any]) -> list[str]:
    """One line per expression that gave null: a path that does not exist (with the closest
    one), or, in a request, a value that is null on this record and has no fallback."""
    known = sorted(_paths(document))
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for field, source, fallback in nulls:
        if (field, source) in seen:
            continue
        seen.add((field, source))
        missing = [path for path in _referenced(source) if not _exists(document, path)]
        if missing:
            for path in missing:
                close = difflib.get_close_matches(path, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else ""
                lines.append(f"{field}: {path} does not exist in the record{hint}")
        elif not fallback and not _reads_answers(source) and not _is_condition(field):
            lines.append(f"{field}: {source} is null for this record")
    return lines


def _is_condition(field: str) -> bool:
    return field.endswith(".when") or ".when[" in field or field.endswith(".expr")


def _reads_answers(source: str) -> bool:
    return any(word in source for word in ("saved.", "response.", "memory."))


def _referenced(source: str) -> list[str]:
    """Dotted field paths an expression reads from the record (``contact.email``)."""
    try:
        tree = jmespath.compile(source).parsed
    except jmespath.exceptions.JMESPathError:
        return []
    found: list[str] = []

    def chain(node: dict[str, Any]) -> list[str] | None:
        if node.get("type") == "field":
            return [node["value"]]
        if node.get("type") == "subexpression":
            parts = []
            for child in node["children"]:
                inner = chain(child)
                if inner is None:
                    return None
                parts += inner
            return parts
        return None

    def walk(node: Any, top: bool) -> None:
        if not isinstance(node, dict):
            return
        names = chain(node) if top else None
        if names:
            if names[0] not in RESERVED:
                found.append(".".join(names))
            return
        kind = node.get("type")
        # inside a projection or filter, names refer to list elements, not the record
        inner_top = top and kind not in ("projection", "filter_projection", "value_projection")
        for child in node.get("children", []):
            walk(child, inner_top)

    walk(tree, True)
    return found


def _exists(document: Any, path: str) -> bool:
    current = document
    for name in path.split("."):
        if not isinstance(current, dict):
            return True  # null or a scalar on the way: the path may exist on another record
        if name not in current:
            return False
        current = current[name]
    return True


def _paths(document: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            if key != "attributes" or prefix != "contact":
                yield from _paths(value, path)


def _read_event(path: str) -> dict[str, Any]:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"--event {path}: cannot read it ({error.strerror})") from None
    except ValueError:
        raise ValueError(f"--event {path}: not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise ValueError(f"--event {path}: not a Drift webhook body (a JSON object with a type)")
    body.pop("token", None)
    return body
