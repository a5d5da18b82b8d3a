"""The worker's logic: one Pub/Sub delivery in, one outcome out (contract section 5).

* ``conversation_push`` / ``_inactive`` / ``_manual_push``: gather the conversation from Drift,
  render it with the CRM mapping, deliver it with the event's idempotency key.
* ``gdpr_delete_requested``: send the CRM a deletion request naming the contact.
* ``app_disconnected``: an ERROR line with the org id, for alerting.
* any other type: logged and acknowledged.

Transient errors propagate (the function fails, Pub/Sub redelivers with backoff). Permanent
ones, and events older than ``MAX_EVENT_AGE_SECONDS``, are dead-lettered with their reason and
acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shared import deadletter
from shared.config import WorkerSettings
from shared.crm import CrmClient
from shared.drift_client import DriftClient, RetryPolicy, event_deadline
from shared.errors import EventTooOldError, PermanentError, TransientError
from shared.events import (
    APP_DISCONNECTED,
    CONVERSATION_EVENTS,
    GDPR_DELETE_REQUESTED,
    DriftEvent,
    GdprDeleteData,
)
from shared.gather import Gatherer
from shared.idempotency import IdempotencyStore
from shared.logger import get_logger, log_context
from shared.mapping import Mapping, load_mapping
from shared.push import PushedMessage
from shared.secrets import Secret
from shared.users import UserDirectory

log = get_logger("worker")


class Outcome(Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    LOGGED = "logged"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Outbound:
    """One request for the CRM."""

    what: str
    url: str
    method: str
    body: bytes


class Handler:
    """Built once per instance; its clients and caches are reused by every event."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        token = Secret.from_settings(settings, "drift_access_token")
        assert token is not None  # guaranteed by WorkerSettings
        self.drift = DriftClient(
            str(settings.drift_api_base_url),
            token,
            connect_timeout=settings.drift_connect_timeout_seconds,
            read_timeout=settings.drift_read_timeout_seconds,
            policy=RetryPolicy(
                max_attempts=settings.drift_max_attempts,
                budget_seconds=settings.drift_retry_budget_seconds,
            ),
        )
        self.gatherer = Gatherer(
            self.drift,
            UserDirectory(self.drift, ttl_seconds=settings.users_cache_ttl_seconds),
            include_messages=settings.include_messages,
        )
        self.crm = CrmClient(
            timeout=settings.crm_timeout_seconds,
            api_token=Secret.from_settings(settings, "crm_api_token"),
            signing_secret=Secret.from_settings(settings, "crm_signing_secret"),
        )
        self.conversation_mapping: Mapping = load_mapping(
            settings.crm_mapping_file, "conversation", "CRM_MAPPING_FILE"
        )
        self.gdpr_mapping: Mapping = load_mapping(
            settings.crm_gdpr_mapping_file, "gdpr", "CRM_GDPR_MAPPING_FILE"
        )
        self.idempotency = IdempotencyStore()

    def handle(self, message: PushedMessage) -> Outcome:
        """Raises ``TransientError`` to have Pub/Sub redeliver; otherwise the event is done."""
        try:
            event = message.event()
            self._check_age(message)
        except PermanentError as error:
            return self._dead_letter(message, error, event_type=message.attributes.get("type"))
        key = event.key()
        with log_context(
            event_type=event.type,
            event_key=key,
            org_id=event.org_id,
            conversation_id=event.conversation_id,
            message_id=message.message_id,
        ):
            try:
                return self._dispatch(event, key, message)
            except PermanentError as error:
                return self._dead_letter(message, error, event_type=event.type)
            except TransientError as error:
                log.warning("event failed, Pub/Sub will redeliver it", reason=error.reason)
                raise

    def _dispatch(self, event: DriftEvent, key: str, message: PushedMessage) -> Outcome:
        if event.type in CONVERSATION_EVENTS or event.type == GDPR_DELETE_REQUESTED:
            return self._once(key, lambda: self._deliver(event, key, message))
        if event.type == APP_DISCONNECTED:
            log.error(
                "Drift app disconnected: events stop until it is reinstalled",
                alert="app_disconnected",
            )
            return Outcome.LOGGED
        log.info("event type not handled; acknowledged")
        return Outcome.IGNORED

    def _once(self, key: str, work: Any) -> Outcome:
        if not self.idempotency.begin(key):
            log.info("duplicate event already delivered by this instance; acknowledged")
            return Outcome.DUPLICATE
        try:
            outcome = work()
        except BaseException:
            self.idempotency.release(key)
            raise
        self.idempotency.complete(key)
        return outcome

    def _deliver(self, event: DriftEvent, key: str, message: PushedMessage) -> Outcome:
        outbound = self.prepare(event, key, message)
        delivery = self.crm.send(outbound.url, outbound.body, key, outbound.method)
        log.info(f"{outbound.what} delivered to the CRM", crm_status=delivery.status)
        return Outcome.DELIVERED

    def prepare(self, event: DriftEvent, key: str, message: PushedMessage) -> Outbound:
        """What the CRM would receive for ``event`` (gathers from Drift; sends nothing)."""
        if event.type == GDPR_DELETE_REQUESTED:
            return self._gdpr_request(event, key)
        with event_deadline(self.settings.drift_retry_budget_seconds):
            record = self.gatherer.record(event, key, message)
        log.info(
            "conversation gathered",
            contact_id=record.contact.id if record.contact else None,
            participants=len(record.participants),
            transcript_chars=len(record.transcript),
        )
        return Outbound(
            what="conversation",
            url=str(self.settings.crm_endpoint_url),
            method=self.conversation_mapping.method or "POST",
            body=_encode(self.conversation_mapping.render(record.to_json_dict())),
        )

    def _gdpr_request(self, event: DriftEvent, key: str) -> Outbound:
        data = GdprDeleteData.model_validate(event.data if isinstance(event.data, dict) else {})
        email, contact_id = data.contact_email, data.contact_id
        if email is None and contact_id is None:
            raise PermanentError("gdpr_delete_requested names no contact (no email, no id)")
        document = {
            "event": {"type": event.type, "org_id": event.org_id, "key": key},
            "contact": {"email": email, "id": contact_id},
        }
        return Outbound(
            what="GDPR deletion request",
            url=str(self.settings.crm_gdpr_url or self.settings.crm_endpoint_url),
            method=self.gdpr_mapping.method or self.settings.crm_gdpr_method,
            body=_encode(self.gdpr_mapping.render(document)),
        )

    def _check_age(self, message: PushedMessage) -> None:
        age = message.age_seconds()
        if age is not None and age > self.settings.max_event_age_seconds:
            raise EventTooOldError(
                f"event is {age:.0f}s old, beyond MAX_EVENT_AGE_SECONDS="
                f"{self.settings.max_event_age_seconds:g}; not retried again"
            )

    def _dead_letter(
        self, message: PushedMessage, error: PermanentError, event_type: str | None
    ) -> Outcome:
        settings = self.settings
        dead_letter_id = deadletter.dead_letter(
            message,
            error,
            settings.project,
            settings.dead_letter_topic,
            settings.publish_timeout_seconds,
        )
        log.error(
            "event dead-lettered",
            reason=error.reason,
            error=type(error).__name__,
            event_type=event_type,
            dead_letter_message_id=dead_letter_id,
        )
        return Outcome.DEAD_LETTERED


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
