"""Secrets (contract section 3): ``X`` from the environment or ``X_SECRET`` from Secret Manager,
cached per instance, re-read once on an auth failure, never shown, always guarded in logs.

Secret Manager is the in-process gRPC server of ``devtools.secret_manager_server`` (the real
client library talks to it), never a mock."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.secret_manager_server import SecretManagerServer
from shared import secrets
from shared.config import WebhookSettings
from shared.errors import ConfigError, SecretAccessError, TransientError
from shared.logger import REDACTED, get_logger
from shared.secrets import Secret, resource_name
from tests.conftest import PROJECT

THREADS = 8


@pytest.fixture
def server(secret_manager: SecretManagerServer) -> Iterator[SecretManagerServer]:
    """The session's Secret Manager server, with the bridge's client pointed at it."""
    secrets.configure_client(secret_manager.endpoint)
    yield secret_manager
    secrets.configure_client(None)


@pytest.fixture
def unreachable() -> Iterator[None]:
    """Point the client at a port nothing listens on: any call would fail."""
    secrets.configure_client("127.0.0.1:9")
    yield
    secrets.configure_client(None)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def stored(server: SecretManagerServer, value: str) -> tuple[str, Secret]:
    """A new secret holding ``value`` and a ``Secret`` reading its latest version."""
    name = server.add_version(PROJECT, fresh("secret"), value)
    return name, Secret("drift_access_token", resource=f"{name}/versions/latest")


# --- resource names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("drift-verify", "projects/proj/secrets/drift-verify/versions/latest"),
        ("projects/other/secrets/s", "projects/other/secrets/s/versions/latest"),
        ("projects/other/secrets/s/versions/3", "projects/other/secrets/s/versions/3"),
        ("projects/other/secrets/s/versions/latest", "projects/other/secrets/s/versions/latest"),
        ("  /projects/other/secrets/s/ ", "projects/other/secrets/s/versions/latest"),
        ("123456789", "projects/proj/secrets/123456789/versions/latest"),
    ],
)
def test_resource_name_forms(reference, expected):
    assert resource_name(reference, "proj") == expected


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "   ",
        "/",
        "a/b",
        "projects/p/secrets",
        "projects/p/topics/s",
        "projects/p/secrets/s/versions",
        "projects/p/secrets/s/aliases/1",
        "folders/p/secrets/s",
        "projects/p/secrets/s/versions/1/extra",
    ],
)
def test_invalid_resource_name_is_a_config_error(reference):
    with pytest.raises(ConfigError) as caught:
        resource_name(reference, "proj")
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    "reference",
    [
        "projects//secrets/s",
        "projects/p/secrets//versions/1",
        "my secret",
        "projects/p/secrets/a b",
    ],
)
def test_resource_name_refuses_empty_or_illegal_ids(reference):
    # Regression: only the count of segments used to be checked.
    with pytest.raises(ConfigError):
        resource_name(reference, "proj")


def test_invalid_reference_error_names_the_setting():
    with pytest.raises(ConfigError) as caught:
        resource_name("a/b", "proj", "DRIFT_ACCESS_TOKEN_SECRET")
    assert str(caught.value).startswith("DRIFT_ACCESS_TOKEN_SECRET")
    assert len(str(caught.value).splitlines()) == 1


# --- a secret from the environment ------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "  "], ids=["none", "empty", "blank"])
def test_no_usable_value_is_a_config_error_naming_both_forms(value):
    # Regression: an empty value used to make a secret that verified the token ''.
    with pytest.raises(ConfigError) as caught:
        Secret("drift_access_token", value=value)
    assert "DRIFT_ACCESS_TOKEN" in str(caught.value)
    assert "DRIFT_ACCESS_TOKEN_SECRET" in str(caught.value)


def test_environment_secret_never_calls_secret_manager(unreachable):
    # GIVEN a secret from the environment, and no reachable Secret Manager
    secret = Secret("drift_access_token", value="env-token-6Yq1")
    # WHEN it is read and refreshed (as after an auth failure)
    # THEN the same value comes back each time, without an error from the absent server
    assert not secret.from_secret_manager
    assert secret.get() == "env-token-6Yq1"
    assert secret.refresh() == "env-token-6Yq1"
    assert secret.refresh(stale="env-token-6Yq1") == "env-token-6Yq1"


def test_from_settings_prefers_the_reference_and_returns_none_without_either(monkeypatch):
    for name in ("DRIFT_VERIFICATION_TOKEN", "DRIFT_VERIFICATION_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    both = WebhookSettings(
        google_cloud_project="proj",
        drift_verification_token="env-value-1234",
        drift_verification_token_secret="verify",
    )
    secret = Secret.from_settings(both, "drift_verification_token")
    assert secret is not None and secret.from_secret_manager
    assert "projects/proj/secrets/verify/versions/latest" in repr(secret)

    value_only = WebhookSettings(
        google_cloud_project="proj", drift_verification_token="env-value-1234"
    )
    secret = Secret.from_settings(value_only, "drift_verification_token")
    assert secret is not None and not secret.from_secret_manager
    assert secret.get() == "env-value-1234"

    neither = WebhookSettings.model_construct(
        google_cloud_project="proj",
        drift_verification_token=None,
        drift_verification_token_secret=None,
    )
    assert Secret.from_settings(neither, "drift_verification_token") is None


def test_an_invalid_reference_from_settings_names_the_variable(monkeypatch):
    # Regression: the start-up line used to say "invalid secret reference" without the name.
    for name in ("DRIFT_VERIFICATION_TOKEN", "DRIFT_VERIFICATION_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = WebhookSettings(
        google_cloud_project="proj", drift_verification_token_secret="not/a/reference"
    )
    with pytest.raises(ConfigError) as caught:
        Secret.from_settings(settings, "drift_verification_token")
    assert "DRIFT_VERIFICATION_TOKEN_SECRET" in str(caught.value)


def test_environment_secret_is_registered_with_the_log_guard(logs):
    value = fresh("env-secret")
    Secret("crm_api_token", value=value)
    get_logger("unit.secrets").info(f"header Bearer {value}")
    assert value not in logs.text
    assert logs.lines()[0]["message"] == f"header Bearer {REDACTED}"


# --- a secret from Secret Manager -------------------------------------------------------------


def test_secret_manager_value_is_read_once_and_cached(server):
    # GIVEN a secret in Secret Manager
    name, secret = stored(server, "sm-value-first")
    assert secret.from_secret_manager
    assert server.access_count(name) == 0  # nothing read before first use
    # WHEN it is read twice
    assert secret.get() == "sm-value-first"
    assert secret.get() == "sm-value-first"
    # THEN Secret Manager was asked once
    assert server.access_count(name) == 1


def test_a_pinned_version_is_read_as_named(server):
    name = server.add_version(PROJECT, fresh("pinned"), "version-one")
    server.add_version(PROJECT, name.rsplit("/", 1)[1], "version-two")
    pinned = Secret("drift_access_token", resource=f"{name}/versions/1")
    latest = Secret("drift_access_token", resource=f"{name}/versions/latest")
    assert pinned.get() == "version-one"
    assert latest.get() == "version-two"


def test_surrounding_whitespace_of_a_stored_value_is_ignored(server):
    _, secret = stored(server, "  value-with-newline\n")
    assert secret.get() == "value-with-newline"


def test_refresh_after_rotation_reads_once_for_eight_concurrent_callers(server):
    # GIVEN a cached value that has since been rotated in Secret Manager
    name, secret = stored(server, "before-rotation")
    stale = secret.get()
    server.add_version(PROJECT, name.rsplit("/", 1)[1], "after-rotation")
    reads = server.access_count(name)
    # WHEN eight threads that all saw the stale value fail refresh at the same moment
    barrier = threading.Barrier(THREADS)

    def refresh() -> str:
        barrier.wait()
        return secret.refresh(stale=stale)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: refresh(), range(THREADS)))
    # THEN every one gets the new value, and Secret Manager was read once more, not eight times
    assert results == ["after-rotation"] * THREADS
    assert server.access_count(name) == reads + 1
    assert secret.get() == "after-rotation"
    assert server.access_count(name) == reads + 1


def test_refresh_with_an_outdated_stale_value_does_not_read(server):
    name, secret = stored(server, "current-value")
    secret.get()
    assert secret.refresh(stale="some-older-value") == "current-value"
    assert server.access_count(name) == 1


def test_refresh_without_stale_always_reads(server):
    name, secret = stored(server, "current-value")
    secret.get()
    assert secret.refresh() == "current-value"
    assert server.access_count(name) == 2


def test_refresh_of_an_unrotated_secret_reads_once_for_eight_concurrent_callers(server):
    # Regression: each caller that still held the current value used to re-read it.
    name, secret = stored(server, "never-rotated")
    stale = secret.get()
    barrier = threading.Barrier(THREADS)

    def refresh() -> str:
        barrier.wait()
        return secret.refresh(stale=stale)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: refresh(), range(THREADS)))
    assert results == ["never-rotated"] * THREADS
    assert server.access_count(name) == 2


def test_a_rotation_after_a_fruitless_refresh_is_read_once_the_interval_passed(server, monkeypatch):
    # GIVEN a refresh that found nothing new, and a rotation right after it
    name, secret = stored(server, "first-value")
    stale = secret.get()
    assert secret.refresh(stale=stale) == "first-value"
    server.add_version(PROJECT, name.rsplit("/", 1)[1], "second-value")
    reads = server.access_count(name)
    # WHEN refreshed again within the interval, THEN the cached value comes back, no read
    monkeypatch.setattr(secret, "_refresh_interval", 3600.0)
    assert secret.refresh(stale=stale) == "first-value"
    assert server.access_count(name) == reads
    # AND once the interval has passed, the rotated value is read
    monkeypatch.setattr(secret, "_refresh_interval", 0.0)
    assert secret.refresh(stale=stale) == "second-value"
    assert server.access_count(name) == reads + 1


@pytest.mark.parametrize("value", ["", "   ", "\n"], ids=["empty", "spaces", "newline"])
def test_empty_secret_is_a_secret_access_error(server, value):
    _, secret = stored(server, value)
    with pytest.raises(SecretAccessError, match="drift_access_token"):
        secret.get()


def test_unknown_secret_is_a_transient_secret_access_error_until_it_exists(server):
    # GIVEN a reference to a secret that does not exist (yet)
    secret_id = fresh("missing")
    secret = Secret(
        "drift_access_token", resource=f"projects/{PROJECT}/secrets/{secret_id}/versions/latest"
    )
    # WHEN it is read, THEN the failure is of the transient family (Pub/Sub will redeliver)
    with pytest.raises(SecretAccessError) as caught:
        secret.get()
    assert isinstance(caught.value, TransientError)
    assert "drift_access_token" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
    # AND the failure is not cached: once the secret exists, the next read succeeds
    server.add_version(PROJECT, secret_id, "created-later")
    assert secret.get() == "created-later"


def test_repr_never_shows_the_value(server):
    _, from_manager = stored(server, "manager-value-Pw3")
    from_manager.get()
    from_env = Secret("crm_signing_secret", value="env-value-Kd8")
    for secret, value in ((from_manager, "manager-value-Pw3"), (from_env, "env-value-Kd8")):
        assert value not in repr(secret)
        assert value not in str(secret)
        assert value not in f"{[secret]}"
    assert "environment" in repr(from_env)


def test_secret_manager_value_is_registered_with_the_log_guard(server, logs):
    value = fresh("manager-secret")
    _, secret = stored(server, value)
    secret.get()
    get_logger("unit.secrets").warning(f"Drift said 403 for {value}")
    assert value not in logs.text
    assert logs.lines()[0]["message"] == f"Drift said 403 for {REDACTED}"


def test_rotated_value_is_registered_too(server, logs):
    old, new = fresh("old-secret"), fresh("new-secret")
    name, secret = stored(server, old)
    secret.get()
    server.add_version(PROJECT, name.rsplit("/", 1)[1], new)
    secret.refresh(stale=old)
    get_logger("unit.secrets").info(f"{old} then {new}")
    assert old not in logs.text and new not in logs.text
