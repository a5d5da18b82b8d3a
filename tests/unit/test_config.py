"""Settings (contract section 3): defaults, one clear line naming each bad setting, no secret
value ever echoed, ``load()`` cached per process and ``reload()`` to read again."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared import config
from shared.config import MiB, WebhookSettings, WorkerSettings
from shared.errors import BridgeError, ConfigError

# Distinctive values: if one shows up in an error message, a secret leaked.
VERIFY_VALUE = "verify-value-7Hq2Zp9Lx"
ACCESS_VALUE = "access-value-Rk4Tn8Vw2"
CRM_TOKEN_VALUE = "crm-token-value-Jd6Yb3Qs"
SIGNING_VALUE = "signing-value-Mc5Xe1Ua"
SECRET_VALUES = (VERIFY_VALUE, ACCESS_VALUE, CRM_TOKEN_VALUE, SIGNING_VALUE)

# Every variable either settings class reads, so that the developer's shell cannot leak in.
_SETTING_NAMES = sorted(
    {name.upper() for kind in (WebhookSettings, WorkerSettings) for name in kind.model_fields}
)

Env = Callable[..., None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A clean environment holding only what the test sets; cached settings forgotten."""
    for name in _SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    config.load.cache_clear()

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.load.cache_clear()

    yield apply
    config.load.cache_clear()


def webhook_env(**overrides: str) -> dict[str, str]:
    return {"GOOGLE_CLOUD_PROJECT": "bridge-prod", "DRIFT_VERIFICATION_TOKEN": VERIFY_VALUE} | (
        overrides
    )


def worker_env(**overrides: str) -> dict[str, str]:
    return {
        "GOOGLE_CLOUD_PROJECT": "bridge-prod",
        "DRIFT_ACCESS_TOKEN": ACCESS_VALUE,
        "CRM_API_TOKEN": CRM_TOKEN_VALUE,
        "CRM_SIGNING_SECRET": SIGNING_VALUE,
        "CRM_ENDPOINT_URL": "https://crm.example.com/drift",
    } | overrides


def config_error(kind: type, env: Env, **values: str) -> str:
    """The message of the ConfigError that loading ``kind`` with ``values`` raises."""
    env(**values)
    with pytest.raises(ConfigError) as caught:
        config.load(kind)
    return str(caught.value)


def assert_one_clear_line(message: str, name: str) -> None:
    assert len(message.splitlines()) == 1 and "\r" not in message, message
    assert name in message, message
    for value in SECRET_VALUES:
        assert value not in message


# --- defaults ---------------------------------------------------------------------------------


def test_webhook_defaults(env):
    # GIVEN only the project and the verification token
    env(**webhook_env())
    # WHEN the settings are loaded
    settings = config.load(WebhookSettings)
    # THEN every other setting has the contract's default
    assert settings.project == "bridge-prod"
    assert settings.pubsub_topic == "drift-events"
    assert settings.publish_timeout_seconds == 10.0
    assert settings.max_body_bytes == MiB
    assert settings.log_level == "INFO"
    assert settings.secret_manager_endpoint is None
    assert settings.drift_verification_token.get_secret_value() == VERIFY_VALUE
    assert settings.drift_verification_token_secret is None


def test_worker_defaults(env):
    env(
        GOOGLE_CLOUD_PROJECT="bridge-prod",
        DRIFT_ACCESS_TOKEN=ACCESS_VALUE,
        CRM_ENDPOINT_URL="https://crm.example.com/drift",
    )
    settings = config.load(WorkerSettings)
    assert settings.dead_letter_topic == "drift-events-dead-letter"
    assert str(settings.drift_api_base_url) == "https://driftapi.com/"
    assert str(settings.crm_endpoint_url) == "https://crm.example.com/drift"
    assert settings.crm_api_token is None and settings.crm_signing_secret is None
    assert settings.crm_mapping_file is None
    assert settings.crm_gdpr_method == "POST"
    assert settings.include_messages is False
    assert settings.drift_access_token.get_secret_value() == ACCESS_VALUE


def test_project_defaults_to_the_local_one_under_the_emulator(env):
    env(PUBSUB_EMULATOR_HOST="127.0.0.1:8085", DRIFT_VERIFICATION_TOKEN=VERIFY_VALUE)
    settings = config.load(WebhookSettings)
    assert settings.project == config.LOCAL_PROJECT == "drift-bridge-local"


def test_project_is_required_outside_the_emulator(env):
    message = config_error(WebhookSettings, env, DRIFT_VERIFICATION_TOKEN=VERIFY_VALUE)
    assert_one_clear_line(message, "GOOGLE_CLOUD_PROJECT")


def test_a_secret_manager_reference_replaces_the_value(env):
    env(GOOGLE_CLOUD_PROJECT="bridge-prod", DRIFT_VERIFICATION_TOKEN_SECRET="drift-verify")
    settings = config.load(WebhookSettings)
    assert settings.drift_verification_token is None
    assert settings.drift_verification_token_secret == "drift-verify"


def test_secret_values_never_show_in_the_settings_repr(env):
    env(**worker_env())
    settings = config.load(WorkerSettings)
    for text in (repr(settings), str(settings)):
        for value in (ACCESS_VALUE, CRM_TOKEN_VALUE, SIGNING_VALUE):
            assert value not in text


# --- invalid settings: one line naming the variable, no value echoed ---------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLISH_TIMEOUT_SECONDS", "abc"),
        ("PUBLISH_TIMEOUT_SECONDS", "0"),
        ("PUBLISH_TIMEOUT_SECONDS", "-1"),
        ("PUBLISH_TIMEOUT_SECONDS", "61"),
        ("PUBLISH_TIMEOUT_SECONDS", "nan"),
        ("PUBSUB_TOPIC", "bad topic name"),
        ("PUBSUB_TOPIC", "1starts-with-digit"),
        ("PUBSUB_TOPIC", "projects/p/topics/drift-events"),
        ("PUBSUB_TOPIC", ""),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", "verbose"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", "lots"),
        ("GOOGLE_CLOUD_PROJECT", ""),
    ],
)
def test_invalid_webhook_setting_is_one_line_naming_it(env, name, value):
    # GIVEN a valid webhook environment (a real token value included) with one bad setting
    # WHEN it is loaded
    message = config_error(WebhookSettings, env, **webhook_env(**{name: value}))
    # THEN one line names the setting, echoing neither the token nor the bad value
    assert_one_clear_line(message, name)
    if len(value) >= 4:
        assert value not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CRM_ENDPOINT_URL", "not a url"),
        ("CRM_ENDPOINT_URL", "crm.example.com/drift"),
        ("CRM_ENDPOINT_URL", "ftp://crm.example.com/drift"),
        ("DRIFT_API_BASE_URL", "driftapi"),
        ("DEAD_LETTER_TOPIC", "dead letter"),
        ("DRIFT_MAX_ATTEMPTS", "0"),
        ("INCLUDE_MESSAGES", "perhaps"),
        ("CRM_GDPR_METHOD", "GET"),
        ("CRM_GDPR_URL", "not a url"),
        ("PUBLISH_TIMEOUT_SECONDS", "abc"),
    ],
)
def test_invalid_worker_setting_is_one_line_naming_it(env, name, value):
    # GIVEN a worker environment with every secret set to a real value and one bad setting
    message = config_error(WorkerSettings, env, **worker_env(**{name: value}))
    # THEN the message names the setting and holds none of the secret values
    assert_one_clear_line(message, name)
    if len(value) >= 4:
        assert value not in message


def test_several_bad_settings_are_all_named_on_one_line(env):
    message = config_error(
        WebhookSettings,
        env,
        **webhook_env(PUBLISH_TIMEOUT_SECONDS="abc", PUBSUB_TOPIC="bad name", LOG_LEVEL="LOUD"),
    )
    for name in ("PUBLISH_TIMEOUT_SECONDS", "PUBSUB_TOPIC", "LOG_LEVEL"):
        assert_one_clear_line(message, name)


def test_missing_crm_endpoint_is_named(env):
    values = worker_env()
    del values["CRM_ENDPOINT_URL"]
    message = config_error(WorkerSettings, env, **values)
    assert_one_clear_line(message, "CRM_ENDPOINT_URL")


@pytest.mark.parametrize(
    ("kind", "values", "name"),
    [
        (WebhookSettings, {"GOOGLE_CLOUD_PROJECT": "p"}, "DRIFT_VERIFICATION_TOKEN"),
        (
            WorkerSettings,
            {"GOOGLE_CLOUD_PROJECT": "p", "CRM_ENDPOINT_URL": "https://crm.example.com/"},
            "DRIFT_ACCESS_TOKEN",
        ),
    ],
)
def test_missing_token_names_both_forms(env, kind, values, name):
    # GIVEN neither X nor X_SECRET
    message = config_error(kind, env, **values)
    # THEN the one line tells the operator both ways to provide it
    assert_one_clear_line(message, name)
    assert f"{name}_SECRET" in message
    assert message.count(name) >= 2


def test_config_error_belongs_to_the_bridge_hierarchy(env):
    env(GOOGLE_CLOUD_PROJECT="p")
    with pytest.raises(BridgeError) as caught:
        config.load(WebhookSettings)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.reason == str(caught.value)


# --- caching ----------------------------------------------------------------------------------


def test_load_caches_and_reload_reads_again(env, monkeypatch):
    # GIVEN settings loaded once
    env(**webhook_env(PUBSUB_TOPIC="first-topic"))
    first = config.load(WebhookSettings)
    # WHEN the environment changes, even to something invalid
    monkeypatch.setenv("PUBSUB_TOPIC", "second-topic")
    monkeypatch.setenv("PUBLISH_TIMEOUT_SECONDS", "2")
    # THEN load() still returns the very same object
    assert config.load(WebhookSettings) is first
    assert first.pubsub_topic == "first-topic"
    # AND reload() reads the environment again
    second = config.reload(WebhookSettings)
    assert second is not first
    assert second.pubsub_topic == "second-topic"
    assert second.publish_timeout_seconds == 2.0
    assert config.load(WebhookSettings) is second


def test_reload_raises_for_an_environment_that_became_invalid(env, monkeypatch):
    env(**webhook_env())
    config.load(WebhookSettings)
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        config.reload(WebhookSettings)


def test_each_settings_class_is_cached_separately(env):
    env(**{**webhook_env(), **worker_env()})
    webhook = config.load(WebhookSettings)
    worker = config.load(WorkerSettings)
    assert isinstance(webhook, WebhookSettings) and isinstance(worker, WorkerSettings)
    assert config.load(WebhookSettings) is webhook and config.load(WorkerSettings) is worker


# --- regressions: bugs this suite found, since fixed ----------------------------------------


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
@pytest.mark.parametrize("kind", [WebhookSettings, WorkerSettings])
def test_an_empty_token_stops_start_up(env, kind, value):
    # An empty DRIFT_VERIFICATION_TOKEN used to pass, and the webhook then verified token ''.
    env(**{**webhook_env(DRIFT_VERIFICATION_TOKEN=value), **worker_env(DRIFT_ACCESS_TOKEN=value)})
    with pytest.raises(ConfigError) as caught:
        config.load(kind)
    name = "DRIFT_VERIFICATION_TOKEN" if kind is WebhookSettings else "DRIFT_ACCESS_TOKEN"
    assert_one_clear_line(str(caught.value), name)


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("PUBSUB_TOPIC", "ab"),
        ("PUBSUB_TOPIC", "goog-events"),
        ("PUBSUB_TOPIC", "t" * 256),
        ("PUBSUB_TOPIC", "événements"),
        ("DEAD_LETTER_TOPIC", "googly"),
    ],
    ids=["too-short", "goog-prefix", "too-long", "non-ascii", "dead-letter-goog"],
)
def test_topic_names_pubsub_refuses_stop_start_up(env, name, topic):
    # These passed the old pattern; every publish to them would then have failed.
    if name == "PUBSUB_TOPIC":
        message = config_error(WebhookSettings, env, **webhook_env(PUBSUB_TOPIC=topic))
    else:
        message = config_error(WorkerSettings, env, **worker_env(**{name: topic}))
    assert_one_clear_line(message, name)


@pytest.mark.parametrize("topic", ["abc", "t" * 255, "Drift.events_v2~+%-"])
def test_topic_names_at_pubsubs_limits_are_accepted(env, topic):
    env(**webhook_env(PUBSUB_TOPIC=topic))
    assert config.load(WebhookSettings).pubsub_topic == topic


def test_max_body_bytes_cannot_exceed_what_pubsub_accepts(env):
    # A Pub/Sub message holds 10 MB: a bigger body could be accepted but never published.
    message = config_error(WebhookSettings, env, **webhook_env(MAX_BODY_BYTES=str(16 * MiB)))
    assert_one_clear_line(message, "MAX_BODY_BYTES")


def test_a_worker_missing_three_settings_names_all_three_at_once(env):
    # GIVEN a worker with no project, no Drift token and no CRM endpoint (and no emulator)
    values = worker_env()
    for name in ("GOOGLE_CLOUD_PROJECT", "DRIFT_ACCESS_TOKEN", "CRM_ENDPOINT_URL"):
        values.pop(name, None)
    message = config_error(WorkerSettings, env, **values)
    # THEN one line names every one of them, so one restart fixes them all
    assert "\n" not in message
    for name in ("GOOGLE_CLOUD_PROJECT", "DRIFT_ACCESS_TOKEN", "CRM_ENDPOINT_URL"):
        assert name in message


def test_the_drift_budget_must_fit_the_function_timeout(env):
    message = config_error(
        WorkerSettings,
        env,
        **worker_env(DRIFT_RETRY_BUDGET_SECONDS="50", FUNCTION_TIMEOUT_SECONDS="60"),
    )
    assert "DRIFT_RETRY_BUDGET_SECONDS" in message and "FUNCTION_TIMEOUT_SECONDS" in message
    env(**worker_env(DRIFT_RETRY_BUDGET_SECONDS="20", FUNCTION_TIMEOUT_SECONDS="60"))
    assert config.reload(WorkerSettings).drift_retry_budget_seconds == 20


def test_an_invalid_setting_and_missing_ones_are_named_together(env):
    # GIVEN one invalid value and two missing settings
    values = worker_env(DRIFT_MAX_ATTEMPTS="many")
    for name in ("DRIFT_ACCESS_TOKEN", "CRM_ENDPOINT_URL"):
        values.pop(name, None)
    message = config_error(WorkerSettings, env, **values)
    # THEN one line names all three
    for name in ("DRIFT_MAX_ATTEMPTS", "DRIFT_ACCESS_TOKEN", "CRM_ENDPOINT_URL"):
        assert name in message
    assert "\n" not in message and "many" not in message
