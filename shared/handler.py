"""The worker's composition root and its one entry: a Pub/Sub delivery in, an outcome out.

``Handler`` is built once per instance; the clients and caches it creates (Drift client and
users directory, the recipe runner and its CRM session and tokens, the ledger) are reused by
every event. ``handle`` parses the message, refuses events older than ``MAX_EVENT_AGE_SECONDS``,
dispatches the typed payload (``shared.dispatch``) and maps errors to outcomes: a
``TransientError`` propagates (Pub/Sub redelivers with backoff), a ``PermanentError`` is
dead-lettered with its reason and acknowledged.
"""

from __future__ import annotations

from shared.config import WorkerSettings
from shared.deadletter import DeadLetters
from shared.delivery import Deliveries
from shared.dispatch import Dispatcher
from shared.drift_client import DriftClient, RetryPolicy
from shared.errors import EventTooOldError, PermanentError, TransientError
from shared.gather import Gatherer
from shared.ledger import open_ledger
from shared.logger import get_logger, log_context
from shared.outcome import Outcome
from shared.push import PushedMessage
from shared.recipes import RecipeRunner, load_recipe
from shared.secrets import Secret
from shared.users import UserDirectory

log = get_logger("worker")
__all__ = ["Handler", "Outcome"]


class Handler:
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
        self.recipe = load_recipe(
            settings.crm_recipe,
            mapping_file=settings.crm_mapping_file,
            gdpr_mapping_file=settings.crm_gdpr_mapping_file,
        )
        self.runner = RecipeRunner(self.recipe, settings)
        self.ledger = open_ledger(settings)
        self.dead_letters = DeadLetters(
            settings.project, settings.dead_letter_topic, settings.publish_timeout_seconds
        )
        self.dispatcher = Dispatcher(
            Deliveries(
                self.gatherer,
                self.runner,
                self.ledger,
                self.dead_letters,
                drift_budget_seconds=settings.drift_retry_budget_seconds,
                record_reuse_seconds=settings.record_reuse_seconds,
            ),
            settings.gdpr_action,
        )

    def handle(self, message: PushedMessage) -> Outcome:
        """Raises ``TransientError`` to have Pub/Sub redeliver; otherwise the event is done."""
        try:
            event = message.event()
            self._check_age(message)
        except PermanentError as error:
            self.dead_letters.send(message, error, message.attributes.get("type"))
            return Outcome.DEAD_LETTERED
        with log_context(
            event_type=event.type,
            event_key=event.key(),
            org_id=event.org_id,
            conversation_id=event.conversation_id,
            message_id=message.message_id,
        ):
            try:
                return self.dispatcher.dispatch(event, message)
            except PermanentError as error:
                self.dead_letters.send(message, error, event.type)
                return Outcome.DEAD_LETTERED
            except TransientError as error:
                log.warning("event failed, Pub/Sub will redeliver it", reason=error.reason)
                raise

    def _check_age(self, message: PushedMessage) -> None:
        age = message.age_seconds()
        if age is not None and age > self.settings.max_event_age_seconds:
            raise EventTooOldError(
                f"event is {age:.0f}s old, beyond MAX_EVENT_AGE_SECONDS="
                f"{self.settings.max_event_age_seconds:g}; not retried again"
            )

    def close(self) -> None:
        self.drift.close()
        self.runner.close()
