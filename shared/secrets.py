"""Secrets: the value of the setting ``X``, or Secret Manager when ``X_SECRET`` names one.

A ``Secret`` reads its value on first use and caches it for the life of the instance.
``refresh(stale)`` re-reads it from Secret Manager, once however many threads saw the same stale
value fail, so a rotated Drift token takes effect without a redeploy. Every value read is
registered with the log guard so it never appears in a log line.

``X_SECRET`` accepts a full resource name (``projects/P/secrets/S/versions/V``), a secret name
(``projects/P/secrets/S``, version ``latest``) or a bare secret id (in ``GOOGLE_CLOUD_PROJECT``).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from pydantic import SecretStr

from shared import logger
from shared.errors import ConfigError, SecretAccessError

REFRESH_INTERVAL_SECONDS = 2.0
_client: Any = None
_client_lock = threading.Lock()
_client_endpoint: str | None = None


def configure_client(endpoint: str | None) -> None:
    """Use a plaintext gRPC endpoint (a local server) instead of Google's, before first use."""
    global _client, _client_endpoint
    with _client_lock:
        if endpoint != _client_endpoint:
            _client, _client_endpoint = None, endpoint


def _secret_manager() -> Any:
    """The Secret Manager client, created on first use and reused."""
    global _client
    with _client_lock:
        if _client is None:
            from google.cloud import secretmanager

            if _client_endpoint:
                import grpc
                from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (  # noqa: E501
                    SecretManagerServiceGrpcTransport,
                )

                channel = grpc.insecure_channel(_client_endpoint)
                transport = SecretManagerServiceGrpcTransport(channel=channel)
                _client = secretmanager.SecretManagerServiceClient(transport=transport)
            else:
                _client = secretmanager.SecretManagerServiceClient()
        return _client


_PROJECT = r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}"  # ids, numbers, legacy domain:project
_SECRET_ID = r"[A-Za-z0-9_-]{1,255}"  # noqa: S105 - a pattern, not a secret
_VERSION = r"(?:latest|[1-9][0-9]{0,19})"
_BARE = re.compile(_SECRET_ID)
_NAME = re.compile(rf"projects/{_PROJECT}/secrets/{_SECRET_ID}")
_VERSIONED = re.compile(rf"projects/{_PROJECT}/secrets/{_SECRET_ID}/versions/{_VERSION}")


def resource_name(reference: str, project: str, setting: str = "secret reference") -> str:
    """Normalise an ``X_SECRET`` value to ``projects/P/secrets/S/versions/V``."""
    text = reference.strip().strip("/")
    if _BARE.fullmatch(text):
        return f"projects/{project}/secrets/{text}/versions/latest"
    if _NAME.fullmatch(text):
        return f"{text}/versions/latest"
    if _VERSIONED.fullmatch(text):
        return text
    raise ConfigError(
        f"{setting}: expected a secret id or projects/PROJECT/secrets/SECRET[/versions/VERSION]"
    )


class Secret:
    """One secret value, from the environment or Secret Manager, cached and refreshable."""

    def __init__(
        self,
        name: str,
        value: str | None = None,
        resource: str | None = None,
        refresh_interval: float = REFRESH_INTERVAL_SECONDS,
    ) -> None:
        if resource is None and not (value and value.strip()):
            raise ConfigError(f"{name.upper()}: set {name.upper()} or {name.upper()}_SECRET")
        self.name = name
        self._resource = resource
        self._value = value
        self._lock = threading.Lock()
        self._refreshed_at: float | None = None
        self._refresh_interval = refresh_interval
        logger.register_secret(value)

    @classmethod
    def from_settings(
        cls, settings: Any, name: str, refresh_interval: float = REFRESH_INTERVAL_SECONDS
    ) -> Secret | None:
        """The secret ``name`` of a settings object, or None when neither form is set.
        ``refresh_interval``: the least time between two re-reads (``refresh``)."""
        value: SecretStr | None = getattr(settings, name)
        reference: str | None = getattr(settings, f"{name}_secret")
        if reference:
            setting = f"{name.upper()}_SECRET"
            resource = resource_name(reference, settings.project, setting)
            return cls(name, resource=resource, refresh_interval=refresh_interval)
        if value is not None:
            return cls(name, value=value.get_secret_value())
        return None

    @property
    def from_secret_manager(self) -> bool:
        return self._resource is not None

    def get(self) -> str:
        """The cached value; read from Secret Manager the first time."""
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._read()
                value = self._value
        return value

    def refresh(self, stale: str | None = None) -> str:
        """Re-read the value, unless another caller already replaced ``stale`` or it was re-read
        less than ``refresh_interval`` ago (many threads that saw the same refusal cause one
        read, not one each)."""
        if self._resource is None:
            return self.get()
        with self._lock:
            if stale is not None and self._value is not None:
                replaced = self._value != stale
                refreshed = self._refreshed_at
                recent = refreshed is not None and (
                    time.monotonic() - refreshed < self._refresh_interval
                )
                if replaced or recent:
                    return self._value
            self._value = self._read()
            self._refreshed_at = time.monotonic()
            return self._value

    def _read(self) -> str:
        assert self._resource is not None
        try:
            response = _secret_manager().access_secret_version(
                request={"name": self._resource}, timeout=10.0
            )
        except Exception as error:
            raise SecretAccessError(
                f"could not read secret {self.name} from Secret Manager: "
                f"{type(error).__name__}: {getattr(error, 'message', '') or error}"
            ) from None
        value = response.payload.data.decode("utf-8").strip()
        if not value:
            raise SecretAccessError(f"secret {self.name} is empty in Secret Manager")
        logger.register_secret(value)
        return value

    def __repr__(self) -> str:  # never show the value
        source = self._resource or "environment"
        return f"Secret({self.name!r}, source={source!r})"


class SecretVersions:
    """Every enabled version of a secret, newest first (at most ``MAX_VERSIONS``), for keys that
    are rotated with an overlap, such as ``CRM_SIGNING_SECRET``: while an old and a new version
    are both enabled, both are used (the CRM is sent a signature for each), so a receiver can
    move to the new one at its own pace. Re-read from Secret Manager every
    ``RECHECK_SECONDS`` and on ``refresh()``, so a rotation takes effect without a redeploy.
    From the environment (or a reference to one pinned version) it is that one value."""

    MAX_VERSIONS = 2
    RECHECK_SECONDS = 60.0

    def __init__(self, secret: Secret, clock: Any = time.monotonic) -> None:
        self._secret = secret
        self._clock = clock
        self._values: tuple[str, ...] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._secret.name

    @property
    def from_secret_manager(self) -> bool:
        return self._secret.from_secret_manager

    def get(self) -> tuple[str, ...]:
        """The values to use now, newest first."""
        values = self._values
        if values is not None and self._clock() - self._read_at < self.RECHECK_SECONDS:
            return values
        return self.refresh()

    def refresh(self) -> tuple[str, ...]:
        with self._lock:
            resource = self._secret._resource
            if resource is None or not resource.endswith("/versions/latest"):
                self._values = (self._secret.get(),)
            else:
                self._values = self._read_enabled(resource.removesuffix("/versions/latest"))
            self._read_at = self._clock()
            return self._values

    def _read_enabled(self, parent: str) -> tuple[str, ...]:
        try:
            listed = _secret_manager().list_secret_versions(
                request={"parent": parent, "filter": "state:ENABLED"}, timeout=10.0
            )
            names = [version.name for version in listed][: self.MAX_VERSIONS]
        except Exception as error:
            raise SecretAccessError(
                f"could not list versions of secret {self.name} in Secret Manager: "
                f"{type(error).__name__}"
            ) from None
        if not names:
            raise SecretAccessError(f"secret {self.name} has no enabled version")
        values = []
        for name in names:
            values.append(Secret(self.name, resource=name).get())
        return tuple(values)
