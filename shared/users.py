"""The Drift users directory, cached per instance.

``/users/list`` returns every user at once; it is read when the cache is empty or older than
its TTL, and again (at most once per ``min_refresh_seconds``) when a conversation names a user
it does not know. A user still unknown after that is fetched alone with ``/users/{id}``, and a
user Drift no longer has becomes a participant with only an id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from shared.drift_client import DriftClient
from shared.errors import DriftNotFoundError
from shared.ids import as_id
from shared.logger import get_logger

log = get_logger("users")


class UserDirectory:
    def __init__(
        self, client: DriftClient, ttl_seconds: float = 300.0, min_refresh_seconds: float = 30.0
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_seconds
        self._users: dict[int, dict[str, Any]] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    @property
    def stale(self) -> bool:
        loaded = self._loaded_at
        return loaded is None or time.monotonic() - loaded > self._ttl

    def refresh(self, only_if_stale: bool = False) -> None:
        """Read ``/users/list`` (once, however many threads ask at the same time)."""
        with self._lock:
            if only_if_stale and not self.stale:
                return
            loaded = self._loaded_at
            if (
                loaded is not None
                and time.monotonic() - loaded < self._min_refresh
                and (not only_if_stale)
            ):
                return
            users = self._client.list_users()
            fresh = {
                as_id(user.get("id")): user for user in users if as_id(user.get("id")) is not None
            }
            self._users = {**self._users, **fresh}
            self._loaded_at = time.monotonic()

    def resolve(self, user_ids: Iterable[int]) -> list[dict[str, Any]]:
        """A user record for each id, in order (``{"id": id}`` for one Drift no longer has)."""
        ids = [user_id for user_id in user_ids if as_id(user_id) is not None]
        if self.stale:
            self.refresh(only_if_stale=True)
        if any(user_id not in self._users for user_id in ids):
            self.refresh()
        resolved = []
        for user_id in ids:
            user = self._users.get(user_id)
            if user is None:
                user = self._fetch_one(user_id)
            resolved.append(user)
        return resolved

    def _fetch_one(self, user_id: int) -> dict[str, Any]:
        try:
            user = self._client.get_user(user_id)
        except DriftNotFoundError:
            log.warning("participant not found in Drift", user_id=user_id)
            return {"id": user_id}
        with self._lock:
            self._users[user_id] = user
        return user
