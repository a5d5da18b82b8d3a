"""The Pub/Sub push envelope, as functions-framework hands it to the worker (a CloudEvent).

The envelope model validates the transport wrapper (``{"message": {data (base64), attributes,
messageId, publishTime}}``); ``PushedMessage.event()`` then parses the inner Drift event. What
does not parse is a permanent ``InvalidEventError``, and the raw bytes are kept so the message
can be dead-lettered exactly as received.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidEventError
from shared.events import DriftEvent


class PubSubMessage(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    data: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    messageId: str | None = None
    publishTime: dt.datetime | None = None


class PushEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: PubSubMessage


class PushedMessage:
    """One delivery of a Pub/Sub message to the worker."""

    def __init__(
        self,
        data: bytes,
        attributes: dict[str, str],
        message_id: str | None,
        publish_time: dt.datetime | None,
        problem: str | None = None,
    ) -> None:
        self.data = data
        self.attributes = attributes
        self.message_id = message_id
        self.publish_time = publish_time
        self._problem = problem

    @classmethod
    def from_cloud_event(cls, cloud_event: Any) -> PushedMessage:
        """Never raises: a malformed envelope becomes a message that fails ``event()``."""
        payload = cloud_event.data if cloud_event is not None else None
        try:
            envelope = PushEnvelope.model_validate(payload)
        except ValidationError:
            if isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            elif isinstance(payload, str):
                raw = payload.encode("utf-8")
            else:
                raw = json.dumps(payload, default=str).encode("utf-8")
            return cls(raw, {}, _get(cloud_event, "id"), None, "not a Pub/Sub push message")
        message = envelope.message
        try:
            data = base64.b64decode(message.data, validate=True)
        except (binascii.Error, ValueError):
            return cls(
                message.data.encode("utf-8"),
                message.attributes,
                message.messageId or _get(cloud_event, "id"),
                message.publishTime,
                "message data is not base64",
            )
        return cls(
            data,
            message.attributes,
            message.messageId or _get(cloud_event, "id"),
            message.publishTime,
        )

    def event(self) -> DriftEvent:
        """The Drift event inside, or ``InvalidEventError``."""
        if self._problem:
            raise InvalidEventError(self._problem)
        try:
            body = json.loads(self.data)
        except (ValueError, RecursionError):
            raise InvalidEventError("message data is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidEventError("message data is not a JSON object")
        try:
            event = DriftEvent.from_body(body)
        except ValidationError as error:
            first = error.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "event"
            raise InvalidEventError(f"not a Drift event: {where}: {first['msg']}") from None
        try:
            event.payload  # noqa: B018 - parsed once here, so a bad payload is dead-lettered
        except ValidationError as error:
            first = error.errors(include_input=False, include_url=False)[0]
            problem = first["msg"].removeprefix("Value error, ")
            raise InvalidEventError(f"{event.type} cannot be acted on: {problem}") from None
        return event

    def age_seconds(self, now: dt.datetime | None = None) -> float | None:
        if self.publish_time is None:
            return None
        publish_time = self.publish_time
        if publish_time.tzinfo is None:
            publish_time = publish_time.replace(tzinfo=dt.UTC)
        return ((now or dt.datetime.now(dt.UTC)) - publish_time).total_seconds()


def _get(cloud_event: Any, name: str) -> str | None:
    try:
        value = cloud_event[name]
    except (KeyError, TypeError):
        return None
    return str(value) if value is not None else None
