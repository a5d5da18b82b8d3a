"""Pub/Sub-fed Cloud Function: turn one Drift event into a CRM delivery.

Returning acknowledges the message (delivered, dead-lettered, or nothing to do); raising a
``TransientError`` makes functions-framework answer 500 so that Pub/Sub redelivers it with
backoff, until the subscription's dead-letter policy takes it. See shared/handler.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework
from cloudevents.http import CloudEvent

from shared.config import WorkerSettings
from shared.startup import boot, check_worker_settings

if TYPE_CHECKING:
    from shared.handler import Handler

settings = boot(WorkerSettings, "worker", check=check_worker_settings)
_handler: Handler | None = None


def _get_handler() -> Handler:
    """Built on the first event (its HTTP clients and their imports too), then reused."""
    global _handler
    if _handler is None:
        from shared.handler import Handler

        _handler = Handler(settings)
    return _handler


@functions_framework.cloud_event
def worker(cloud_event: CloudEvent) -> None:
    from shared.push import PushedMessage

    _get_handler().handle(PushedMessage.from_cloud_event(cloud_event))
