"""Pub/Sub publishing, tuned for an HTTP acknowledgement path.

The client is created on first use and reused by every invocation of the instance. Its default
batching waits up to 10 ms for company before sending; a webhook publishes one message and
waits for the server's confirmation, so batches here hold one message and go out at once
(``max_messages=1``; no commit timer). Each publish has a bounded retry and deadline: the
webhook answers 503 within ``timeout`` rather than hanging while Pub/Sub is away.
"""

from __future__ import annotations

import threading
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry

from shared.errors import PublishError

_RETRYABLE = (
    api_exceptions.Aborted,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
    api_exceptions.Cancelled,
)

_client: Any = None
_topics: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def publisher() -> Any:
    """The process-wide PublisherClient (honours ``PUBSUB_EMULATOR_HOST``)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                from google.cloud import pubsub_v1

                _client = pubsub_v1.PublisherClient(
                    batch_settings=pubsub_v1.types.BatchSettings(
                        max_messages=1, max_latency=float("inf")
                    ),
                )
    return _client


def reset() -> None:
    """Drop the client (tests that switch emulators; never needed in production)."""
    global _client
    with _lock:
        client, _client = _client, None
        _topics.clear()
    if client is not None:
        client.stop()


def topic_path(project: str, topic: str) -> str:
    key = (project, topic)
    path = _topics.get(key)
    if path is None:
        path = _topics[key] = f"projects/{project}/topics/{topic}"
    return path


def publish(
    project: str,
    topic: str,
    data: bytes,
    attributes: dict[str, str],
    timeout: float,
) -> str:
    """Publish one message and wait for Pub/Sub to confirm it; returns the message id.

    Raises ``PublishError`` when the server does not confirm within ``timeout`` seconds.
    """
    retry = api_retry.Retry(
        predicate=api_retry.if_exception_type(*_RETRYABLE),
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )
    try:
        future = publisher().publish(
            topic_path(project, topic), data, retry=retry, timeout=timeout, **attributes
        )
        return future.result(timeout=timeout + 1.0)
    except Exception as error:
        raise PublishError(
            f"publish to {topic} failed: {type(error).__name__}: {_short(error)}"
        ) from None


def _short(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.splitlines()[0][:200] if text else ""
