"""Shared values for the recipe tests: a record and a settings object."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

SECRET_NAMES = (
    "crm_api_token",
    "crm_oauth_client_secret",
    "crm_oauth_refresh_token",
    "crm_signing_secret",
)

RECORD: dict[str, Any] = {
    "event": {"type": "conversation_push", "org_id": 5000883, "key": "k" * 64},
    "conversation": {
        "id": 3275727977,
        "status": "closed",
        "updated_at": "2021-09-21T16:08:10.684Z",
        "tags": [],
    },
    "contact": {
        "id": 11751623441268736,
        "email": "gregg@example.com",
        "first_name": "Gregg",
        "last_name": "Parker",
        "company": "Camp Waziyatah",
    },
    "participants": [{"id": 2322756, "name": "Agent", "email": "agent@example.com"}],
    "transcript": "Hello <there>\nHow can I help?",
    "messages": None,
}


def make_settings(**values: Any) -> SimpleNamespace:
    """What the runner reads of WorkerSettings; secrets given as plain text become SecretStr."""
    base: dict[str, Any] = {
        "project": "drift-bridge-test",
        "crm_recipe": "test",
        "crm_endpoint_url": None,
        "crm_gdpr_url": None,
        "crm_gdpr_method": "POST",
        "crm_base_url": None,
        "crm_oauth_token_url": None,
        "crm_oauth_client_id": None,
        "crm_oauth_scope": None,
        "crm_timeout_seconds": 5.0,
        "gdpr_action": "delete",
    }
    for name in SECRET_NAMES:
        base[name] = None
        base[f"{name}_secret"] = None
    for name, value in values.items():
        if name in SECRET_NAMES and isinstance(value, str):
            value = SecretStr(value)
        base[name] = value
    return SimpleNamespace(**base)
