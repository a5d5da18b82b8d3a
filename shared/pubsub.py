"""Pub/Sub publishing, tuned for an HTTP acknowledgement path.

The webhook publishes one message and must wait for the server's confirmation before it
answers. The client's batching layer is built for the opposite case: by default it waits up to
10 ms for company, and even with one-message batches it starts a commit thread per message and
hands the answer back through a future. So ``publish`` calls the Publish RPC itself, on the
request's thread (the generated client's ``publish``), with a bounded retry and deadline: the
webhook answers 503 within ``timeout`` rather than hanging while Pub/Sub is away. ``make bench``
measures both paths side by side.

The client (which honours ``PUBSUB_EMULATOR_HOST``) is created once and reused by every
invocation of the instance: by the webhook at start-up (``warm_up``), by other callers on first
use. Google's libraries are imported then
too, not at module import, so a process that never publishes does not pay for them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shared.errors import PublishError

_client: Any = None
_topics: dict[tuple[str, str], str] = {}
_lock = threading.RLock()


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
    global _client, _stub
    with _lock:
        client, _client, _stub = _client, None, None
        _topics.clear()
    if client is not None:
        client.stop()


def topic_path(project: str, topic: str) -> str:
    key = (project, topic)
    path = _topics.get(key)
    if path is None:
        path = _topics[key] = f"projects/{project}/topics/{topic}"
    return path


_RETRIED_CODES: frozenset[Any] | None = None
_stub: Any = None


def _publish_stub() -> Any:
    """The Publish RPC on the client's own channel (its credentials, endpoint, emulator
    setting), with plain protobuf messages: proto-plus wrapping and the generated client's
    per-call plumbing cost more CPU than the rest of an acknowledgement."""
    global _stub, _RETRIED_CODES
    if _stub is not None:
        return _stub
    with _lock:
        if _stub is None:
            import grpc
            from google.pubsub_v1.types import pubsub as pubsub_types

            channel = publisher()._transport.grpc_channel
            _RETRIED_CODES = frozenset(
                {
                    grpc.StatusCode.ABORTED,
                    grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.INTERNAL,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.UNKNOWN,
                }
            )
            _stub = channel.unary_unary(
                "/google.pubsub.v1.Publisher/Publish",
                request_serializer=pubsub_types.PublishRequest.pb().SerializeToString,
                response_deserializer=pubsub_types.PublishResponse.pb().FromString,
            )
        return _stub


def warm_up() -> None:
    """Create the client, its channel and the Publish stub now (the webhook's start-up), so
    Drift's first request to a new instance does not wait for them. Done on the importing
    thread: importing gRPC on a second thread while the framework imports on the first can
    hand one of them a half-initialised module. A failure is logged; the first publish tries
    again and answers 503 if it must."""
    try:
        _publish_stub()
    except Exception as error:
        from shared.logger import get_logger

        get_logger("pubsub").warning(
            "Pub/Sub client not ready at start-up; the first publish retries",
            error=type(error).__name__,
        )


def _request(topic_path_: str, data: bytes, attributes: dict[str, str]) -> Any:
    from google.pubsub_v1.types import pubsub as pubsub_types

    request = pubsub_types.PublishRequest.pb()(topic=topic_path_)
    message = request.messages.add()
    message.data = data
    message.attributes.update(attributes)
    return request


def publish(
    project: str,
    topic: str,
    data: bytes,
    attributes: dict[str, str],
    timeout: float,
) -> str:
    """Publish one message and wait for Pub/Sub to confirm it; returns the message id.

    Retries what Google's client retries for Publish (unavailable, aborted, deadline per
    attempt...) with exponential backoff; raises ``PublishError`` when the server has not
    confirmed within ``timeout`` seconds in all, or refused the message for good.
    """
    path = topic_path(project, topic)
    deadline = time.monotonic() + timeout
    delay = 0.05
    try:
        stub = _publish_stub()
        import grpc

        request = _request(path, data, attributes)
        metadata = (("x-goog-request-params", f"topic={path}"),)
        while True:
            remaining = deadline - time.monotonic()
            try:
                return stub(request, timeout=max(remaining, 0.001), metadata=metadata).message_ids[
                    0
                ]
            except grpc.RpcError as error:
                retried = _RETRIED_CODES or frozenset()
                if error.code() not in retried or time.monotonic() + delay >= deadline:
                    raise
            time.sleep(delay)  # backoff between attempts, bounded by the deadline above
            delay = min(delay * 2, 1.0)
    except Exception as error:
        raise PublishError(
            f"publish to {topic} failed: {type(error).__name__}: {_short(error)}"
        ) from None


def _short(error: Exception) -> str:
    details = getattr(error, "details", None)
    text = (details() if callable(details) else None) or getattr(error, "message", None)
    text = text or str(error)
    return text.splitlines()[0][:200] if text else ""
