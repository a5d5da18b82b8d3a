"""The webhook as it was before ``shared.pubsub.publish`` called the Publish RPC directly: the
publish goes through the client's batching layer (one-message batches, a commit thread per
message, the answer through a future). Kept so that ``make bench`` measures the previous path
and the shipped one side by side in one run. Served by functions-framework with ``--source``
pointing here, target ``webhook``.
"""

from __future__ import annotations

from shared import pubsub
from shared.errors import PublishError

_batching_client = None


def publish(
    project: str, topic: str, data: bytes, attributes: dict[str, str], timeout: float
) -> str:
    global _batching_client
    from google.cloud import pubsub_v1

    if _batching_client is None:
        _batching_client = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=float("inf"))
        )
    try:
        future = _batching_client.publish(
            pubsub.topic_path(project, topic),
            data,
            retry=pubsub._retry(timeout),
            timeout=timeout,
            **attributes,
        )
        return future.result(timeout=timeout + 1.0)
    except Exception as error:
        raise PublishError(f"publish to {topic} failed: {type(error).__name__}") from None


pubsub.publish = publish

from functions.webhook.main import webhook  # noqa: E402 - after the patch, on purpose

__all__ = ["webhook"]
