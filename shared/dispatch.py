"""Which action each event type gets: the dispatch follows the payload union.

* ``ConversationPush`` (``conversation_push``/``_inactive``/``_manual_push``): delivered;
* ``GdprDeleteRequested``: the recipe's deletion, or a report for a person (``GDPR_ACTION``);
* ``AppDisconnected``: an ERROR line with ``alert=app_disconnected``, for alerting;
* ``OtherEvent``: logged and acknowledged.
"""

from __future__ import annotations

from typing import Literal

from shared.delivery import Deliveries
from shared.events import (
    AppDisconnected,
    ConversationPush,
    DriftEvent,
    GdprDeleteRequested,
)
from shared.gdpr import GdprReportedError, GdprRequest
from shared.logger import get_logger
from shared.outcome import Outcome
from shared.push import PushedMessage

log = get_logger("worker")


class Dispatcher:
    def __init__(self, deliveries: Deliveries, gdpr_action: Literal["delete", "report"]) -> None:
        self.deliveries = deliveries
        self.gdpr_action = gdpr_action

    def dispatch(self, event: DriftEvent, message: PushedMessage) -> Outcome:
        """Raises ``TransientError`` for a retry, ``PermanentError`` for a dead letter."""
        payload = event.payload
        if isinstance(payload, ConversationPush):
            return self.deliveries.conversation(event, payload, message)
        if isinstance(payload, GdprDeleteRequested):
            return self._gdpr(event, GdprRequest.of(event, payload), message)
        if isinstance(payload, AppDisconnected):
            log.error(
                "Drift app disconnected: events stop until it is reinstalled",
                alert="app_disconnected",
            )
            return Outcome.LOGGED
        log.info("event type not handled; acknowledged")
        return Outcome.IGNORED

    def _gdpr(self, event: DriftEvent, request: GdprRequest, message: PushedMessage) -> Outcome:
        if self.gdpr_action == "report":
            log.warning(
                "GDPR deletion requested; GDPR_ACTION=report leaves it to a person",
                alert="gdpr_report",
                has_email=request.email is not None,
                contact_id=request.contact_id,
            )
            raise GdprReportedError(
                "GDPR_ACTION=report: delete this contact in the CRM by hand, then acknowledge"
            )
        return self.deliveries.gdpr(event, request, message)
