"""The webhook's logic: verify Drift's request, then publish it to Pub/Sub.

Order of checks, cheapest and least revealing first: method (405), size (413), JSON object
(400), verification token (401), envelope (400). Only a verified envelope is published, without
its token; the caller answers 200 only after Pub/Sub confirmed it (else 503).
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydantic import ValidationError

from shared import jsonutil, pubsub
from shared.config import WebhookSettings
from shared.errors import PermanentError
from shared.events import WebhookEnvelope, conversation_id_of
from shared.secrets import Secret

TOKEN_HEADER = "X-Verification-Token"  # noqa: S105 - a header name


class RejectedRequest(PermanentError):
    """The request is refused with ``status``; ``reason`` is short and safe to return."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Message:
    """What goes to Pub/Sub for one verified webhook."""

    data: bytes
    attributes: dict[str, str]


class TokenVerifier:
    """Constant-time comparison of every presented token with the configured one. A mismatch
    re-reads a Secret Manager token (a rotation) at most once per ``REFRESH_INTERVAL_SECONDS``,
    so a flood of wrong tokens cannot exhaust Secret Manager's quota."""

    REFRESH_INTERVAL_SECONDS = 60.0

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def verify(self, presented: list[str]) -> bool:
        expected = self._secret.get()
        if _all_match(presented, expected):
            return True
        if self._secret.from_secret_manager:
            return _all_match(presented, self._secret.refresh(stale=expected))
        return False


def _all_match(presented: list[str], expected: str) -> bool:
    wanted = expected.encode("utf-8")
    # Every token is compared (no short-circuit), each with hmac.compare_digest.
    results = [
        hmac.compare_digest(token.encode("utf-8", "surrogatepass"), wanted) for token in presented
    ]
    return bool(results) and all(results)


def read_body(method: str, content_length: int | None, stream: BinaryIO, limit: int) -> bytes:
    """The raw body of a POST, at most ``limit`` bytes."""
    if method != "POST":
        raise RejectedRequest(405, "method not allowed; Drift sends POST")
    if content_length is not None and content_length > limit:
        raise RejectedRequest(413, "body too large")
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RejectedRequest(413, "body too large")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400."""
    try:
        parsed = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise RejectedRequest(400, "body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise RejectedRequest(400, "body must be a JSON object")
    return parsed


def presented_tokens(body: dict[str, Any], header: str | None) -> list[str]:
    tokens = []
    if header is not None:
        tokens.append(header)
    if "token" in body:
        value = body["token"]
        # A token that is not a string can never match; compare a placeholder to stay uniform.
        tokens.append(value if isinstance(value, str) else "\x00")
    return tokens


def build_message(body: dict[str, Any]) -> Message:
    """Validate the envelope and turn it into a Pub/Sub message without the token."""
    try:
        envelope = WebhookEnvelope.model_validate(body)
    except (ValidationError, RecursionError):
        raise RejectedRequest(400, "body needs a string 'type'") from None
    payload = {key: value for key, value in body.items() if key != "token"}
    try:
        data = jsonutil.dumps(payload)
    except (ValueError, RecursionError):
        raise RejectedRequest(400, "body is not valid JSON") from None
    attributes = {"type": envelope.type}
    if envelope.orgId is not None:
        attributes["orgId"] = str(envelope.orgId)[:100]
    conversation_id = conversation_id_of(envelope.data)
    if conversation_id is not None:
        attributes["conversationId"] = str(conversation_id)
    return Message(data=data, attributes=attributes)


class Ingress:
    """Verifies and publishes webhooks for one set of settings (one per instance)."""

    @staticmethod
    def check_settings(settings: WebhookSettings) -> None:
        """Start-up check beyond the settings model: the secret reference parses."""
        Secret.from_settings(settings, "drift_verification_token")

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        secret = Secret.from_settings(
            settings,
            "drift_verification_token",
            refresh_interval=TokenVerifier.REFRESH_INTERVAL_SECONDS,
        )
        assert secret is not None  # guaranteed by WebhookSettings
        self.verifier = TokenVerifier(secret)

    def accept(
        self, method: str, content_length: int | None, stream: BinaryIO, header_token: str | None
    ) -> Message:
        """Everything short of publishing; raises ``RejectedRequest``."""
        raw = read_body(method, content_length, stream, self.settings.max_body_bytes)
        body = parse_object(raw)
        tokens = presented_tokens(body, header_token)
        if not tokens:
            raise RejectedRequest(401, "missing verification token")
        if not self.verifier.verify(tokens):
            raise RejectedRequest(401, "invalid verification token")
        return build_message(body)

    def publish(self, message: Message) -> str:
        """Publish and wait for the confirmation; raises ``PublishError``."""
        return pubsub.publish(
            self.settings.project,
            self.settings.pubsub_topic,
            message.data,
            message.attributes,
            self.settings.publish_timeout_seconds,
        )
