"""Pydantic models of Drift's webhook envelope and the event types the bridge acts on.

The envelope (``{"type", "orgId", "token", "data"}``) is validated first; the inner ``data`` is
parsed by the model of its type only when the worker needs it. Field names stay as on the wire.
Drift documents few payloads (see ``../shared/DRIFT_API.md``), so unknown fields are kept and
the models accept both the nested (``data.data.conversationId``) and the flat
(``data.conversationId``) shapes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    field_validator,
)

CONVERSATION_EVENTS = frozenset(
    {"conversation_push", "conversation_inactive", "conversation_manual_push"}
)
GDPR_DELETE_REQUESTED = "gdpr_delete_requested"
APP_DISCONNECTED = "app_disconnected"


_MAX_ID = 2**64  # Drift ids exceed 2**53 but are 64-bit


def _as_id(value: Any) -> int | None:
    """Drift ids are integers that may exceed 2**53; accept their decimal string form too.
    Anything else (bools, floats, words, unicode digits, out-of-range numbers) is no id."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 20):
            return None
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < _MAX_ID else None


DriftId = Annotated[int | None, BeforeValidator(_as_id)]


class WebhookEnvelope(BaseModel):
    """What Drift POSTs to the webhook; ``token`` is checked and then dropped."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1, max_length=200)
    orgId: StrictInt | str | None = None
    token: str | None = Field(default=None, repr=False)
    data: Any = None

    @field_validator("type")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("type must be printable")
        return value


class DriftEvent(BaseModel):
    """A verified Drift event as the worker receives it (the webhook body minus ``token``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1)
    orgId: Any = None
    data: Any = None
    _body: dict[str, Any] | None = PrivateAttr(default=None)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> DriftEvent:
        """Validate ``body`` and keep it, so ``key()`` hashes exactly what was published."""
        event = cls.model_validate(body)
        event._body = body
        return event

    @property
    def org_id(self) -> int | None:
        return _as_id(self.orgId)

    @property
    def conversation_id(self) -> int | None:
        return conversation_id_of(self.data)

    def key(self) -> str:
        """A stable id for this event: equal for duplicate webhooks and redeliveries, different
        for a later push of the same conversation (its ``pushedAt``/``lastUpdated`` differ)."""
        return event_key(
            self._body
            if self._body is not None
            else self.model_dump(mode="json", exclude_unset=True)
        )


def conversation_id_of(data: Any) -> int | None:
    """``data.data.conversationId`` (Drift's sample) or ``data.conversationId``."""
    if not isinstance(data, dict):
        return None
    inner = data.get("data")
    if isinstance(inner, dict) and _as_id(inner.get("conversationId")) is not None:
        return _as_id(inner.get("conversationId"))
    return _as_id(data.get("conversationId"))


def event_key(body: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of an event body, without its token."""
    canonical = {k: v for k, v in body.items() if k != "token"}
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class ConversationPushInner(BaseModel):
    model_config = ConfigDict(extra="allow")

    conversationId: DriftId = None
    userId: DriftId = None
    pushedAt: DriftId = None


class ConversationPushData(BaseModel):
    """``conversation_push`` / ``_manual_push`` / ``_inactive`` payloads, nested or flat."""

    model_config = ConfigDict(extra="allow")

    source: str | None = None
    data: ConversationPushInner | None = None
    conversationId: DriftId = None
    lastUpdated: DriftId = None

    @field_validator("source", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value if isinstance(value, str) else None

    @field_validator("data", mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None

    @property
    def pushed_at(self) -> int | None:
        return (self.data.pushedAt if self.data else None) or self.lastUpdated

    @property
    def pushed_by(self) -> int | None:
        return self.data.userId if self.data else None


class GdprDeleteData(BaseModel):
    """``gdpr_delete_requested``: no public payload exists, so every plausible name is read."""

    model_config = ConfigDict(extra="allow")

    email: Any = None
    contactId: DriftId = None
    endUserId: DriftId = None
    id: DriftId = None
    attributes: Any = None
    data: Any = None

    @property
    def contact_email(self) -> str | None:
        for source in (self.model_dump(), self.attributes, self.data):
            if not isinstance(source, dict):
                continue
            email = source.get("email") or source.get("contactEmail")
            if isinstance(email, str) and email.strip():
                return email.strip()
        return None

    @property
    def contact_id(self) -> int | None:
        for source in (self.model_dump(), self.data):
            if not isinstance(source, dict):
                continue
            for name in ("contactId", "endUserId", "id"):
                value = _as_id(source.get(name))
                if value is not None:
                    return value
        return None
