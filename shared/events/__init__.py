"""Drift's events as models: the webhook envelope, then a payload model per event type.

``DriftEvent.from_body`` validates the envelope and parses its ``data`` into one of
``ConversationPush``, ``GdprDeleteRequested``, ``AppDisconnected`` or ``OtherEvent`` (a union
discriminated on ``type``), so inner code receives a typed payload, never a dict.
"""

from shared.events.envelope import DriftEvent, WebhookEnvelope, conversation_id_of, event_key
from shared.events.payloads import (
    APP_DISCONNECTED,
    CONVERSATION_EVENTS,
    GDPR_DELETE_REQUESTED,
    AppDisconnected,
    ConversationPush,
    ConversationPushData,
    DriftPayload,
    GdprDeleteData,
    GdprDeleteRequested,
    OtherEvent,
    parse_payload,
)

__all__ = [
    "APP_DISCONNECTED",
    "CONVERSATION_EVENTS",
    "GDPR_DELETE_REQUESTED",
    "AppDisconnected",
    "ConversationPush",
    "ConversationPushData",
    "DriftEvent",
    "DriftPayload",
    "GdprDeleteData",
    "GdprDeleteRequested",
    "OtherEvent",
    "WebhookEnvelope",
    "conversation_id_of",
    "event_key",
    "parse_payload",
]
