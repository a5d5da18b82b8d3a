"""Pub/Sub publishing, tuned for an HTTP acknowledgement path.

The webhook publishes one message and must wait for the server's confirmation before it
answers. The client's batching layer is built for the opposite case: by default it waits up to
10 ms for company, and even with one-message batches it starts a commit thread per message and
hands the answer back through a future. So ``publish`` calls the Publish RPC itself, on the
request's thread (the generated client's ``publish``), with a bounded retry and deadline: the
webhook answers 503 within ``timeout`` rather than hanging while Pub/Sub is away. ``make bench``
measures both paths side by side.

The client (which honours ``PUBSUB_EMULATOR_HOST``) is created on first use and reused by every
invocation of the instance; Google's libraries are imported then too, not at module import, so
a cold start that never publishes (the worker's usual path) does not pay for them.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.errors import PublishError

_client: Any = None
_topics: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def publisher() -> Any:
    """The process-wide PublisherClient."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                from google.cloud import pubsub_v1

                _client = pubsub_v1.PublisherClient()
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


def _retry(timeout: float) -> Any:
    from google.api_core import exceptions as api_exceptions
    from google.api_core import retry as api_retry

    return api_retry.Retry(
        predicate=api_retry.if_exception_type(
            api_exceptions.Aborted,
            api_exceptions.DeadlineExceeded,
            api_exceptions.InternalServerError,
            api_exceptions.ResourceExhausted,
            api_exceptions.ServiceUnavailable,
            api_exceptions.Unknown,
            api_exceptions.Cancelled,
        ),
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )


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
    from google.pubsub_v1 import types as gapic_types
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisher

    try:
        # The generated client's Publish RPC (the subclass overrides ``publish`` with batching).
        response = GapicPublisher.publish(
            publisher(),
            topic=topic_path(project, topic),
            messages=[gapic_types.PubsubMessage(data=data, attributes=attributes)],
            retry=_retry(timeout),
            timeout=timeout,
        )
        return response.message_ids[0]
    except Exception as error:
        raise PublishError(
            f"publish to {topic} failed: {type(error).__name__}: {_short(error)}"
        ) from None


def _short(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.splitlines()[0][:200] if text else ""
