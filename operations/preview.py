"""Render what the CRM would receive, without sending anything.

* no arguments: Drift's sample conversation, served by an in-process Drift simulator;
* ``--conversation-id N``: that conversation from the Drift API named by the settings
  (``DRIFT_API_BASE_URL``, ``DRIFT_ACCESS_TOKEN``), or from the simulator when unset;
* ``--event FILE``: a webhook body (any handled type, GDPR included).

``--mapping FILE`` (or ``CRM_MAPPING_FILE``) chooses the mapping; the output is the method,
URL, headers and JSON body of each request, so a customer can iterate on a mapping in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from operations import synthetic
from shared import config
from shared.config import WorkerSettings
from shared.events import DriftEvent
from shared.handler import Handler, Outbound
from shared.push import PushedMessage
from shared.startup import check_worker_settings

PREVIEW_CRM_URL = "https://crm.example.invalid/records"


@contextlib.contextmanager
def _drift() -> Iterator[dict[str, str]]:
    """Drift settings: the real API when configured, else a simulator in this process."""
    if os.environ.get("DRIFT_API_BASE_URL"):
        yield {}
        return
    from devtools.drift_simulator import DriftSimulator

    with DriftSimulator() as simulator:
        yield {"drift_api_base_url": simulator.url, "drift_access_token": simulator.access_token}


def preview(
    mapping: str | None = None,
    conversation_id: int | None = None,
    event_file: str | None = None,
    gdpr_mapping: str | None = None,
) -> list[dict[str, Any]]:
    """The requests the worker would send, as dicts (method, url, headers, body)."""
    from samples import drift_seed as seed_data

    if event_file:
        body = _read_event(event_file)
    elif conversation_id is not None:
        body = synthetic.conversation_event(conversation_id, None, None, "bridge_preview")
    else:
        body = seed_data.sample_conversation_push("preview")
        body.pop("token")
    event = DriftEvent.from_body(body)
    with _drift() as drift:
        overrides: dict[str, Any] = {
            "google_cloud_project": os.environ.get("GOOGLE_CLOUD_PROJECT", config.LOCAL_PROJECT),
            "crm_endpoint_url": os.environ.get("CRM_ENDPOINT_URL", PREVIEW_CRM_URL),
            **drift,
        }
        if mapping:
            overrides["crm_mapping_file"] = mapping
        if gdpr_mapping:
            overrides["crm_gdpr_mapping_file"] = gdpr_mapping
        settings = WorkerSettings(**overrides)
        check_worker_settings(settings)
        handler = Handler(settings)
        key = event.key()
        outbound = handler.prepare(event, key, PushedMessage(b"", {}, "preview", None))
    return [_as_dict(outbound, key, settings)]


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


def _as_dict(outbound: Outbound, key: str, settings: WorkerSettings) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if settings.crm_api_token or settings.crm_api_token_secret:
        headers["Authorization"] = "Bearer ***"
    if settings.crm_signing_secret or settings.crm_signing_secret_secret:
        headers["X-Signature"] = "t=<unix seconds>,v1=<hex HMAC-SHA256>"
    return {
        "what": outbound.what,
        "method": outbound.method,
        "url": outbound.url,
        "headers": headers,
        "body": json.loads(outbound.body),
    }
