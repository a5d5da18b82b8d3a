"""The ceiling for the webhook: a functions-framework HTTP function that answers 200 "ok" at once.

Started exactly like the webhook (same framework, server and threads), so the difference between
the two is the webhook's own work: verification, validation, logging and the Pub/Sub publish.
"""

from __future__ import annotations

import flask
import functions_framework


@functions_framework.http
def noop(request: flask.Request) -> tuple[str, int]:
    return "ok", 200
