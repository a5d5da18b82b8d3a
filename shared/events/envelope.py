"""The transport wrapper of every Drift event: ``{"type", "orgId", "token", "data"}``.

The webhook validates ``WebhookEnvelope`` and drops the token; the worker rebuilds a
``DriftEvent`` from the published body and asks it for its typed ``payload``. Unknown fields
are kept (Drift documents few payloads) and field names stay as on the wire.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, field_validator

from shared.events.payloads import DriftPayload, parse_payload
from shared.ids import as_id


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

    model_config = ConfigDict(extra="allow", frozen=True, ignored_types=(cached_property,))

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

    @cached_property
    def payload(self) -> DriftPayload:
        """The typed payload of this event (raises pydantic's ``ValidationError``)."""
        return parse_payload(self.type, self.data)

    @property
    def org_id(self) -> int | None:
        return as_id(self.orgId)

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
    if isinstance(inner, dict) and as_id(inner.get("conversationId")) is not None:
        return as_id(inner.get("conversationId"))
    return as_id(data.get("conversationId"))


def event_key(body: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of an event body, without its token. ``surrogatepass``
    keeps the key computable for any text JSON can carry (a lone surrogate, half an emoji cut
    by a web form, included) and equal to the key of every earlier release for all other text."""
    canonical = {k: v for k, v in body.items() if k != "token"}
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()
