"""The canonical record of one Drift conversation: what every CRM mapping starts from.

Ids are Python ints (exact beyond 2**53); Drift's epoch-millisecond timestamps become ISO 8601
UTC strings (``2021-09-21T16:07:41.843Z``); the transcript is kept unchanged; the contact has
named fields for what CRMs ask for and every raw Drift attribute besides.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from shared.errors import DriftTransientError
from shared.ids import as_id


def _from_epoch_millis(value: Any) -> dt.datetime | None:
    """Drift's epoch milliseconds (or a datetime) to an aware UTC datetime; anything else,
    or a number out of range, is no timestamp."""
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # epoch milliseconds given as a string
            value = int(text)
        else:
            try:
                value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    dt.datetime | None,
    BeforeValidator(_from_epoch_millis),
    PlainSerializer(_iso, return_type=str | None),
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventInfo(_Record):
    type: str
    org_id: int | None = None
    key: str = Field(description="stable id of this Drift event; the CRM's Idempotency-Key")
    source: str | None = None
    pushed_at: Timestamp = None
    pushed_by_user_id: int | None = None
    message_id: str | None = None
    published_at: Timestamp = None


class ConversationInfo(_Record):
    id: int
    status: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    inbox_id: int | None = None
    playbook_id: int | None = None
    contact_id: int | None = None
    participant_ids: list[int] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class ContactInfo(_Record):
    id: int | None = None
    email: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None
    title: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    location: str | None = None
    external_id: str | None = None
    created_at: Timestamp = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Participant(_Record):
    id: int
    name: str | None = None
    email: str | None = None
    alias: str | None = None
    role: str | None = None
    bot: bool | None = None


class MessageInfo(_Record):
    id: int | str | None = None
    type: str | None = None
    author_type: str | None = None
    author_id: int | str | None = None
    bot: bool | None = None
    body: str | None = None
    created_at: Timestamp = None


class ConversationRecord(_Record):
    """Everything gathered for one conversation event."""

    event: EventInfo
    conversation: ConversationInfo
    contact: ContactInfo | None = None
    participants: list[Participant] = Field(default_factory=list)
    transcript: str = ""
    messages: list[MessageInfo] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# -- builders from Drift's wire shapes --------------------------------------------------------


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _first(attributes: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = _str(attributes.get(name))
        if value:
            return value
    return None


def _id_or_text(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    return as_id(value) if isinstance(value, int) else _str(value)


def conversation_info(data: dict[str, Any], requested_id: int | None = None) -> ConversationInfo:
    """The conversation from Drift's answer; ``requested_id`` (what was asked for) stands in
    when the answer carries no usable id, so a conversation is never recorded as id 0."""
    answered = as_id(data.get("id"))
    if answered is None and requested_id is None:
        raise DriftTransientError("Drift's conversation answer carries no conversation id")
    tags = [
        str(tag.get("name"))
        for tag in data.get("conversationTags") or []
        if isinstance(tag, dict) and tag.get("name")
    ]
    return ConversationInfo(
        id=requested_id if answered is None else answered,
        status=_str(data.get("status")),
        created_at=data.get("createdAt"),
        updated_at=data.get("updatedAt"),
        inbox_id=as_id(data.get("inboxId")),
        playbook_id=as_id(data.get("relatedPlaybookId")),
        contact_id=as_id(data.get("contactId")),
        participant_ids=[
            p for p in (as_id(x) for x in data.get("participants") or []) if p is not None
        ],
        tags=tags,
    )


def contact_info(data: dict[str, Any]) -> ContactInfo:
    attributes = data.get("attributes") if isinstance(data.get("attributes"), dict) else {}
    first = _first(attributes, "first_name", "firstName")
    last = _first(attributes, "last_name", "lastName")
    name = _first(attributes, "name", "display_name") or (
        " ".join(filter(None, [first, last])) or None
    )
    city, state, country = (_first(attributes, key) for key in ("city", "state", "country"))
    return ContactInfo(
        id=as_id(data.get("id")),
        email=_first(attributes, "email"),
        name=name,
        first_name=first,
        last_name=last,
        phone=_first(attributes, "phone", "phone_number"),
        company=_first(attributes, "company", "company_name", "employment_name"),
        title=_first(attributes, "title", "job_title", "employment_title"),
        city=city,
        state=state,
        country=country,
        location=_first(attributes, "display_location")
        or (", ".join(filter(None, [city, state, country])) or None),
        external_id=_first(attributes, "externalId", "external_id"),
        created_at=data.get("createdAt"),
        attributes=attributes,
    )


def participant(user: dict[str, Any]) -> Participant | None:
    """The participant, or ``None`` for a user record without a usable id."""
    user_id = as_id(user.get("id"))
    if user_id is None:
        return None
    return Participant(
        id=user_id,
        name=_str(user.get("name")),
        email=_str(user.get("email")),
        alias=_str(user.get("alias")),
        role=_str(user.get("role")),
        bot=user.get("bot") if isinstance(user.get("bot"), bool) else None,
    )


def message_info(message: dict[str, Any]) -> MessageInfo:
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    return MessageInfo(
        id=_id_or_text(message.get("id")),
        type=_str(message.get("type")),
        author_type=_str(author.get("type")),
        author_id=_id_or_text(author.get("id")),
        bot=author.get("bot") if isinstance(author.get("bot"), bool) else None,
        body=message.get("body") if isinstance(message.get("body"), str) else None,
        created_at=message.get("createdAt"),
    )
