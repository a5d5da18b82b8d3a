"""Topics and subscriptions on the emulator, with the same settings Terraform gives GCP.

``PushSettings`` mirrors terraform/pubsub.tf (retry backoff, dead-letter policy, ack deadline):
the local stack and the tests exercise the same delivery rules as production.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2


@dataclass(frozen=True)
class PushSettings:
    """Delivery rules of the worker's push subscription (defaults as in terraform/variables.tf)."""

    ack_deadline_seconds: int = 60
    minimum_backoff_seconds: int = 10
    maximum_backoff_seconds: int = 600
    max_delivery_attempts: int = 10
    # The emulator (0.8.x) can stop redelivering pushes that failed together under a retry
    # policy; without one it retries after about a second and still counts attempts for the
    # dead-letter policy. Tests that fail several events at once turn it off.
    retry_policy: bool = True


@dataclass
class Received:
    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _ignore_exists(call: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(api_exceptions.AlreadyExists):
        call(*args, **kwargs)


class PubSubAdmin:
    """Admin operations against the emulator named by ``PUBSUB_EMULATOR_HOST``."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()

    def close(self) -> None:
        self.subscriber.close()
        self.publisher.stop()

    def __enter__(self) -> PubSubAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def topic(self, name: str) -> str:
        return self.publisher.topic_path(self.project, name)

    def subscription(self, name: str) -> str:
        return self.subscriber.subscription_path(self.project, name)

    def create_topic(self, name: str) -> str:
        _ignore_exists(self.publisher.create_topic, request={"name": self.topic(name)})
        return self.topic(name)

    def delete_topic(self, name: str) -> None:
        with contextlib.suppress(api_exceptions.NotFound):
            self.publisher.delete_topic(request={"topic": self.topic(name)})

    def create_pull_subscription(self, topic: str, name: str, ack_deadline: int = 10) -> str:
        _ignore_exists(
            self.subscriber.create_subscription,
            request={
                "name": self.subscription(name),
                "topic": self.topic(topic),
                "ack_deadline_seconds": ack_deadline,
            },
        )
        return self.subscription(name)

    def create_push_subscription(
        self,
        topic: str,
        name: str,
        endpoint: str,
        dead_letter_topic: str,
        settings: PushSettings = PushSettings(),
    ) -> str:
        request: dict[str, Any] = {
            "name": self.subscription(name),
            "topic": self.topic(topic),
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": settings.ack_deadline_seconds,
            "dead_letter_policy": {
                "dead_letter_topic": self.topic(dead_letter_topic),
                "max_delivery_attempts": settings.max_delivery_attempts,
            },
        }
        if settings.retry_policy:
            request["retry_policy"] = {
                "minimum_backoff": duration_pb2.Duration(seconds=settings.minimum_backoff_seconds),
                "maximum_backoff": duration_pb2.Duration(seconds=settings.maximum_backoff_seconds),
            }
        _ignore_exists(self.subscriber.create_subscription, request=request)
        return self.subscription(name)

    def delete_subscription(self, name: str) -> None:
        with contextlib.suppress(api_exceptions.NotFound):
            self.subscriber.delete_subscription(request={"subscription": self.subscription(name)})

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        return self.publisher.publish(self.topic(topic), data, **attributes).result(timeout=30)

    def pull(self, subscription: str, max_messages: int = 100, ack: bool = True) -> list[Received]:
        """One synchronous pull (returns at once when nothing is there)."""
        response = self.subscriber.pull(
            request={
                "subscription": self.subscription(subscription),
                "max_messages": max_messages,
                "return_immediately": True,
            },
            timeout=10,
        )
        received = [
            Received(
                data=item.message.data,
                attributes=dict(item.message.attributes),
                message_id=item.message.message_id,
                delivery_attempt=item.delivery_attempt or None,
            )
            for item in response.received_messages
        ]
        if ack and response.received_messages:
            self.subscriber.acknowledge(
                request={
                    "subscription": self.subscription(subscription),
                    "ack_ids": [item.ack_id for item in response.received_messages],
                }
            )
        return received

    def wait_for_predicate(
        self, subscription: str, done: Any, timeout: float = 30.0
    ) -> list[Received]:
        """Pull (and ack) until ``done(messages so far)`` holds; bounded by ``timeout``."""
        messages: list[Received] = []
        deadline = time.monotonic() + timeout
        while not done(messages):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{len(messages)} messages on {subscription} after {timeout:.0f}s, "
                    "condition not met"
                )
            batch = self.pull(subscription)
            messages.extend(batch)
            if not batch:
                time.sleep(0.05)
        return messages

    def wait_for(self, subscription: str, count: int, timeout: float = 30.0) -> list[Received]:
        """Pull until at least ``count`` messages arrived (bounded by ``timeout``)."""
        return self.wait_for_predicate(subscription, lambda got: len(got) >= count, timeout)
