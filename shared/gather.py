"""Gather every piece of one conversation from Drift, in about two round trips of wall time.

The critical path is conversation -> contact (the contact id is in the conversation). The
transcript, the users directory (when its cache is cold) and, if asked for, the messages only
need the conversation id, so they are fetched concurrently with the conversation. With a warm
users cache an event costs three Drift calls: conversation, contact, transcript.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from shared import records
from shared.drift_client import DriftClient
from shared.errors import DriftNotFoundError
from shared.events import ConversationPush, DriftEvent
from shared.logger import get_logger
from shared.push import PushedMessage
from shared.users import UserDirectory

log = get_logger("gather")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per instance, created on first use (threads are reused across events)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="drift")
    return _pool


class Gatherer:
    def __init__(
        self, client: DriftClient, users: UserDirectory, include_messages: bool = False
    ) -> None:
        self.client = client
        self.users = users
        self.include_messages = include_messages

    def record(
        self, event: DriftEvent, push: ConversationPush, key: str, pushed: PushedMessage
    ) -> records.ConversationRecord:
        conversation_id = push.conversation_id
        pool = _executor()

        def submit(fn: Callable[..., T], *args: Any) -> Future[T]:
            # Pool threads share this event's Drift deadline (a context variable).
            return pool.submit(contextvars.copy_context().run, fn, *args)

        transcript_f = submit(self._transcript, conversation_id)
        users_f: Future[None] | None = None
        if self.users.stale:
            users_f = submit(self.users.refresh, True)
        messages_f = submit(self._messages, conversation_id) if self.include_messages else None
        try:
            conversation = self.client.get_conversation(conversation_id)
            info = records.conversation_info(conversation, conversation_id)
            contact = self._contact(info.contact_id)
            if users_f is not None:
                users_f.result()
            participants = [
                found
                for found in map(records.participant, self.users.resolve(info.participant_ids))
                if found is not None
            ]
            transcript = transcript_f.result()
            messages = messages_f.result() if messages_f is not None else None
        finally:
            for future in (transcript_f, users_f, messages_f):
                if future is not None:
                    future.cancel()
        return records.ConversationRecord(
            event=event_info(event, push, key, pushed),
            conversation=info,
            contact=contact,
            participants=participants,
            transcript=transcript,
            messages=messages,
        )

    def _contact(self, contact_id: int | None) -> records.ContactInfo | None:
        if contact_id is None:
            return None
        try:
            return records.contact_info(self.client.get_contact(contact_id))
        except DriftNotFoundError:
            log.warning(
                "contact not found in Drift; record keeps its id only", contact_id=contact_id
            )
            return records.ContactInfo(id=contact_id)

    def _transcript(self, conversation_id: int) -> str:
        try:
            return self.client.get_transcript(conversation_id)
        except DriftNotFoundError:
            return ""

    def _messages(self, conversation_id: int) -> list[records.MessageInfo]:
        return [records.message_info(m) for m in self.client.iter_messages(conversation_id)]


def event_info(
    event: DriftEvent, push: ConversationPush, key: str, pushed: PushedMessage
) -> records.EventInfo:
    """What the record says of the event itself: type, org, key, who pushed it and when."""
    return records.EventInfo(
        type=event.type,
        org_id=event.org_id,
        key=key,
        source=push.data.source,
        pushed_at=push.data.pushed_at,
        pushed_by_user_id=push.data.pushed_by,
        message_id=pushed.message_id,
        published_at=pushed.publish_time,
    )
