"""Pub/Sub-fed Cloud Function: turn one Drift event into a CRM delivery.

Returning acknowledges the message (delivered, dead-lettered, or nothing to do); raising a
``TransientError`` makes functions-framework answer 500 so that Pub/Sub redelivers it with
backoff, until the subscription's dead-letter policy takes it. See shared/handler.py.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.config import WorkerSettings
from shared.handler import Handler
from shared.push import PushedMessage
from shared.startup import boot

settings = boot(WorkerSettings, "worker", check=Handler.check_settings)
_handler: Handler | None = None


def _get_handler() -> Handler:
    global _handler
    if _handler is None:
        _handler = Handler(settings)
    return _handler


@functions_framework.cloud_event
def worker(cloud_event: CloudEvent) -> None:
    _get_handler().handle(PushedMessage.from_cloud_event(cloud_event))
