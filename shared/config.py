"""Settings, read from the environment once per process and validated (pydantic-settings).

``load(WebhookSettings)`` returns the validated settings or raises ``ConfigError`` whose message
is one line naming every setting at fault, without echoing any value (a value may be a secret).
The functions call it at import so that a bad deployment fails at start-up, not on the first
event. Each secret ``X`` has a companion ``X_SECRET`` (Secret Manager resource); see
``shared.secrets``.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

LOCAL_PROJECT = "drift-bridge-local"
MiB = 1024 * 1024
_TIMEOUT_MARGIN = 5.0  # seconds of a worker invocation kept for the ledger and dead-lettering

S = TypeVar("S", bound="CommonSettings")
# Pub/Sub's rule for topic and subscription ids: 3-255 characters, a letter first, not "goog".
_PUBSUB_ID = re.compile(r"(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}")


def _pubsub_id(value: str) -> str:
    if not _PUBSUB_ID.fullmatch(value):
        raise ValueError(
            "not a Pub/Sub id (3-255 letters, digits, - _ . ~ + %; a letter first; not goog...)"
        )
    return value


PubSubId = Annotated[str, AfterValidator(_pubsub_id)]


class CommonSettings(BaseSettings):
    """What both functions need."""

    # defer_build: each function builds only the validator of the settings it loads.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, defer_build=True)

    google_cloud_project: str | None = Field(default=None, min_length=1)
    pubsub_emulator_host: str | None = None
    secret_manager_endpoint: str | None = Field(
        default=None,
        description="host:port of a plaintext Secret Manager gRPC endpoint (tests, local use)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    publish_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _check(self) -> CommonSettings:
        """Every problem beyond single fields, reported together (one restart, all of them)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """What is wrong across settings, each as "SETTING: why"; subclasses add theirs."""
        if self.google_cloud_project is None:
            if not self.pubsub_emulator_host:
                return ["GOOGLE_CLOUD_PROJECT: required outside the local emulator"]
            object.__setattr__(self, "google_cloud_project", LOCAL_PROJECT)
        return []

    @property
    def project(self) -> str:
        return self.google_cloud_project or LOCAL_PROJECT


def _require_secret(settings: BaseSettings, name: str) -> list[str]:
    value: SecretStr | None = getattr(settings, name)
    reference: str | None = getattr(settings, f"{name}_secret")
    upper = name.upper()
    if reference and reference.strip():
        return []  # Secret Manager wins; the value is checked when read
    if value is None:
        return [f"{upper}: set {upper} or {upper}_SECRET"]
    if not value.get_secret_value().strip():
        return [f"{upper}: is empty; set the token or use {upper}_SECRET"]
    return []


class WebhookSettings(CommonSettings):
    """The HTTP function that Drift calls."""

    pubsub_topic: PubSubId = "drift-events"
    drift_verification_token: SecretStr | None = None
    drift_verification_token_secret: str | None = None
    # "eager": the Pub/Sub client and its channel are made at start-up, so Drift's first
    # request to a new instance does not wait for them (make bench measures both ways);
    # "lazy": on the first request.
    pubsub_client_warmup: Literal["eager", "lazy"] = "eager"
    max_body_bytes: int = Field(default=MiB, gt=0, le=9 * MiB)  # a Pub/Sub message holds 10 MB

    def problems(self) -> list[str]:
        return [*super().problems(), *_require_secret(self, "drift_verification_token")]


class WorkerSettings(CommonSettings):
    """The Pub/Sub-fed function that gathers Drift data and delivers it to the CRM."""

    dead_letter_topic: PubSubId = "drift-events-dead-letter"
    drift_access_token: SecretStr | None = None
    drift_access_token_secret: str | None = None
    drift_api_base_url: AnyHttpUrl = AnyHttpUrl("https://driftapi.com")
    drift_connect_timeout_seconds: float = Field(default=3.05, gt=0, le=60)
    drift_read_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    drift_retry_budget_seconds: float = Field(default=30.0, gt=0, le=300)
    drift_max_attempts: int = Field(default=5, ge=1, le=20)
    users_cache_ttl_seconds: float = Field(default=300.0, ge=0, le=86400)
    include_messages: bool = False

    crm_endpoint_url: AnyHttpUrl | None = None  # required by the webhook recipe
    crm_recipe: str = Field(default="webhook", min_length=1)
    crm_base_url: AnyHttpUrl | None = None
    crm_oauth_token_url: AnyHttpUrl | None = None
    crm_oauth_client_id: str | None = None
    crm_oauth_scope: str | None = None
    crm_oauth_client_secret: SecretStr | None = None
    crm_oauth_client_secret_secret: str | None = None
    crm_oauth_refresh_token: SecretStr | None = None
    crm_oauth_refresh_token_secret: str | None = None
    crm_api_token: SecretStr | None = None
    crm_api_token_secret: str | None = None
    crm_signing_secret: SecretStr | None = None
    crm_signing_secret_secret: str | None = None
    crm_mapping_file: str | None = None
    crm_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    crm_gdpr_url: AnyHttpUrl | None = None
    crm_gdpr_method: Literal["POST", "DELETE", "PUT", "PATCH"] = "POST"
    crm_gdpr_mapping_file: str | None = None

    gdpr_action: Literal["delete", "report"] = "delete"

    ledger: Literal["firestore", "memory"] = "firestore"
    firestore_emulator_host: str | None = None
    firestore_database: str = Field(default="(default)", min_length=1, max_length=63)
    ledger_collection_prefix: str = Field(default="ledger_", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    ledger_retention_days: int = Field(default=30, ge=1, le=3650)
    record_reuse_seconds: float = Field(default=900.0, ge=0, le=7 * 24 * 3600)
    function_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)

    max_event_age_seconds: float = Field(default=7 * 24 * 3600, gt=0, le=31 * 24 * 3600)

    def problems(self) -> list[str]:
        found = [*super().problems(), *_require_secret(self, "drift_access_token")]
        if self.crm_recipe == "webhook" and self.crm_endpoint_url is None:
            found.append("CRM_ENDPOINT_URL: required by CRM_RECIPE=webhook (the default)")
        needed = self.drift_retry_budget_seconds + self.crm_timeout_seconds + _TIMEOUT_MARGIN
        if needed > self.function_timeout_seconds:
            found.append(
                "DRIFT_RETRY_BUDGET_SECONDS: with CRM_TIMEOUT_SECONDS and a "
                f"{_TIMEOUT_MARGIN:g}s margin it must fit FUNCTION_TIMEOUT_SECONDS "
                f"({self.drift_retry_budget_seconds:g}+{self.crm_timeout_seconds:g}+"
                f"{_TIMEOUT_MARGIN:g} > {self.function_timeout_seconds:g})"
            )
        return found


class OperatorSettings(CommonSettings):
    """The operator commands (replay, sync, backfill): where events go, and Drift access."""

    pubsub_topic: PubSubId = "drift-events"
    dead_letter_subscription: PubSubId = "drift-events-dead-letter-hold"
    drift_access_token: SecretStr | None = None
    drift_access_token_secret: str | None = None
    drift_api_base_url: AnyHttpUrl = AnyHttpUrl("https://driftapi.com")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


@functools.cache
def load(kind: type[S]) -> S:
    """Read and validate ``kind`` from the environment once per process."""
    try:
        return kind()
    except ValidationError as error:
        problems = [_describe(error)]
        problems += _problems_beyond(kind, error)
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}") from None


def _problems_beyond(kind: type[S], error: ValidationError) -> list[str]:
    """What the cross-setting checks say once the invalid settings are set aside (given their
    defaults), so that one start-up names every problem, not the field errors first and the
    missing settings at the next restart."""
    bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    fields = kind.model_fields
    if not bad or not all(name in fields and not fields[name].is_required() for name in bad):
        return []
    defaults = {name: fields[name].get_default() for name in bad}
    try:
        kind(**defaults)
    except ValidationError as second:
        return [
            message
            for message in _describe(second).split("; ")
            if not any(message.startswith(f"{name.upper()}:") for name in bad)
        ]
    return []


def reload(kind: type[S]) -> S:
    """Forget the cached settings and read them again (tests, local tooling)."""
    load.cache_clear()
    return load(kind)
