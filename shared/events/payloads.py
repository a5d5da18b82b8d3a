"""Payload models, one per event type the worker acts on, as a union discriminated on ``type``.

Drift documents few payloads, so the models accept both shapes seen for conversation events
(the nested ``data.data.conversationId`` of Drift's sample and the flat ``data.conversationId``)
and keep unknown fields. A conversation event without a conversation id, or a GDPR request that
names no contact, does not validate: nothing could be done with it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from shared.ids import DriftId, as_id

CONVERSATION_EVENTS = frozenset(
    {"conversation_push", "conversation_inactive", "conversation_manual_push"}
)
GDPR_DELETE_REQUESTED = "gdpr_delete_requested"
APP_DISCONNECTED = "app_disconnected"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ConversationPushInner(_Payload):
    conversationId: DriftId = None
    userId: DriftId = None
    pushedAt: DriftId = None


class ConversationPushData(_Payload):
    """The ``data`` of ``conversation_push`` / ``_manual_push`` / ``_inactive``, nested or flat."""

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
    def conversation_id(self) -> int | None:
        nested = self.data.conversationId if self.data else None
        return nested if nested is not None else self.conversationId

    @property
    def pushed_at(self) -> int | None:
        return (self.data.pushedAt if self.data else None) or self.lastUpdated

    @property
    def pushed_by(self) -> int | None:
        return self.data.userId if self.data else None


class GdprDeleteData(_Payload):
    """The ``data`` of ``gdpr_delete_requested``. Drift publishes no schema for it, so the
    contact is read from the names seen in practice: ``email``/``contactEmail`` (top level,
    in ``attributes`` or in a nested ``data``) and ``contactId``/``endUserId``. A bare ``id``
    is not read as the contact's id: it could name the request itself, and deleting the wrong
    person is worse than asking a person to look."""

    email: Any = None
    contactId: DriftId = None
    endUserId: DriftId = None
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
            for name in ("contactId", "endUserId"):
                value = as_id(source.get(name))
                if value is not None:
                    return value
        return None


class ConversationPush(_Payload):
    """A conversation to deliver: closed, inactive, or pushed by hand."""

    type: Literal["conversation_push", "conversation_inactive", "conversation_manual_push"]
    data: ConversationPushData
    conversation_id: int

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, value: Any) -> Any:
        data = value.get("data")
        push = ConversationPushData.model_validate(data if isinstance(data, dict) else {})
        if push.conversation_id is None:
            raise ValueError(f"{value.get('type')} names no conversationId")
        return {"type": value.get("type"), "data": push, "conversation_id": push.conversation_id}


class GdprDeleteRequested(_Payload):
    """A person asked Drift to forget them; ``email`` and/or ``contact_id`` name them."""

    type: Literal["gdpr_delete_requested"]
    email: str | None = None
    contact_id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, value: Any) -> Any:
        data = value.get("data")
        parsed = GdprDeleteData.model_validate(data if isinstance(data, dict) else {})
        if parsed.contact_email is None and parsed.contact_id is None:
            raise ValueError("gdpr_delete_requested names no contact (no email, no contact id)")
        return {
            "type": GDPR_DELETE_REQUESTED,
            "email": parsed.contact_email,
            "contact_id": parsed.contact_id,
        }


class AppDisconnected(_Payload):
    """The Drift app was uninstalled: events stop until it is installed again."""

    type: Literal["app_disconnected"]


class OtherEvent(_Payload):
    """Any type the worker does not act on; logged and acknowledged."""

    type: str


def _kind(value: Any) -> str:
    type_ = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if type_ in CONVERSATION_EVENTS:
        return "conversation"
    if type_ == GDPR_DELETE_REQUESTED:
        return "gdpr"
    if type_ == APP_DISCONNECTED:
        return "disconnected"
    return "other"


DriftPayload = Annotated[
    Annotated[ConversationPush, Tag("conversation")]
    | Annotated[GdprDeleteRequested, Tag("gdpr")]
    | Annotated[AppDisconnected, Tag("disconnected")]
    | Annotated[OtherEvent, Tag("other")],
    Discriminator(_kind),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(DriftPayload)


def parse_payload(type_: str, data: Any) -> DriftPayload:
    """The payload model of an event of ``type_`` whose ``data`` is ``data``; raises pydantic's
    ``ValidationError`` (a ``ValueError``) when it cannot be acted on."""
    return _ADAPTER.validate_python({"type": type_, "data": data})
