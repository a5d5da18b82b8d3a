"""The webhook as the previous release published: one Publish RPC through the generated client
(proto-plus messages, an api_core retry), instead of the plain-protobuf call on the same channel
that ``shared.pubsub.publish`` makes now. Kept so that ``make bench`` measures the previous path
and the shipped one side by side in one run. Served by functions-framework with ``--source``
pointing here, target ``webhook``.
"""

from __future__ import annotations

from bench.publish import direct_publish
from shared import pubsub
from shared.errors import PublishError


def publish(
    project: str, topic: str, data: bytes, attributes: dict[str, str], timeout: float
) -> str:
    try:
        path = pubsub.topic_path(project, topic)
        return direct_publish(pubsub.publisher(), path, data, attributes, timeout)
    except Exception as error:
        raise PublishError(f"publish to {topic} failed: {type(error).__name__}") from None


pubsub.publish = publish

from functions.webhook.main import webhook  # noqa: E402 - after the patch, on purpose

__all__ = ["webhook"]
