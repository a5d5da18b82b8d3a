"""HTTP Cloud Function that Drift calls: verify, publish to Pub/Sub, then acknowledge.

200 only after Pub/Sub confirmed the publish; 503 when it did not (Drift may retry);
400/401/405/413 for requests that must not be published. See shared/ingress.py.
"""

from __future__ import annotations

import json

import flask
import functions_framework

from shared import pubsub
from shared.config import WebhookSettings
from shared.errors import TransientError
from shared.ingress import TOKEN_HEADER, Ingress, RejectedRequest
from shared.logger import get_logger
from shared.startup import boot

settings = boot(WebhookSettings, "webhook", check=Ingress.check_settings)
log = get_logger("webhook")
if settings.pubsub_client_warmup == "eager":
    pubsub.warm_up()
_ingress: Ingress | None = None


def _get_ingress() -> Ingress:
    global _ingress
    if _ingress is None:
        _ingress = Ingress(settings)
    return _ingress


def _reply(code: int, **body: str) -> flask.Response:
    response = flask.Response(json.dumps(body), code, mimetype="application/json")
    if code == 405:
        response.headers["Allow"] = "POST"
    return response


@functions_framework.http
def webhook(request: flask.Request) -> flask.Response:
    ingress = _get_ingress()
    try:
        message = ingress.accept(
            request.method,
            request.content_length,
            request.stream,
            request.headers.get(TOKEN_HEADER),
        )
        message_id = ingress.publish(message)
    except RejectedRequest as rejected:
        log.warning("webhook rejected", status=rejected.status, reason=rejected.reason)
        return _reply(rejected.status, error=rejected.reason)
    except TransientError as error:  # Pub/Sub or Secret Manager away: Drift may send it again
        log.error("webhook not accepted", reason=error.reason)
        return _reply(503, error="event not accepted, try again")
    log.info("webhook published", message_id=message_id, **message.attributes)
    return _reply(200, status="published", messageId=message_id)
