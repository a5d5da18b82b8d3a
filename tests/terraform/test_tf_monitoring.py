"""monitoring.tf: log-based metrics and alerts on app_disconnected, ERROR logs, dead letters."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def metrics(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return resources["google_logging_metric"]


@pytest.fixture(scope="module")
def alerts(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return resources["google_monitoring_alert_policy"]


def threshold(alert: dict[str, Any]) -> dict[str, Any]:
    return alert["conditions"][0]["condition_threshold"][0]


def test_app_disconnected_metric_matches_the_workers_error_line(
    metrics: dict[str, dict[str, Any]],
) -> None:
    log_filter = metrics["app_disconnected"]["filter"]
    assert 'resource.type="cloud_run_revision"' in log_filter
    assert "local.names.worker" in log_filter
    assert "severity>=ERROR" in log_filter
    assert 'jsonPayload.event_type="app_disconnected"' in log_filter


def test_error_metric_covers_both_functions(
    tf: dict[str, Any], metrics: dict[str, dict[str, Any]]
) -> None:
    log_filter = metrics["function_errors"]["filter"]
    assert "severity>=ERROR" in log_filter and "local.function_logs" in log_filter
    function_logs = tf["locals"]["function_logs"]
    assert "local.names.webhook" in function_logs and "local.names.worker" in function_logs
    for metric in metrics.values():
        descriptor = metric["metric_descriptor"][0]
        assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "INT64")


@pytest.mark.parametrize("name", ["app_disconnected", "function_errors"])
def test_each_log_metric_has_an_alert(alerts: dict[str, dict[str, Any]], name: str) -> None:
    condition = threshold(alerts[name])
    metric_type = f"logging.googleapis.com/user/${{google_logging_metric.{name}.name}}"
    assert metric_type in condition["filter"]
    assert 'resource.type=\\"cloud_run_revision\\"' in condition["filter"] or (
        'resource.type="cloud_run_revision"' in condition["filter"]
    )
    assert condition["comparison"] == "COMPARISON_GT"
    assert condition["threshold_value"] == 0
    # A new log-based metric is not visible to Monitoring at once.
    assert alerts[name]["depends_on"] == ["time_sleep.log_metrics"]


def test_dead_letter_backlog_alert(alerts: dict[str, dict[str, Any]]) -> None:
    condition = threshold(alerts["dead_letter_backlog"])
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in condition["filter"]
    assert "google_pubsub_subscription.dead_letter.name" in condition["filter"]
    assert condition["comparison"] == "COMPARISON_GT"
    assert condition["threshold_value"] == 0


def test_alerts_go_to_the_configured_channels(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]], alerts: dict[str, dict[str, Any]]
) -> None:
    assert set(alerts) == {"app_disconnected", "function_errors", "dead_letter_backlog"}
    for alert in alerts.values():
        assert alert["notification_channels"] == "local.notification_channels"
        assert alert["documentation"][0]["content"].strip()
    channels = tf["locals"]["notification_channels"]
    assert "google_monitoring_notification_channel.email[*].name" in channels
    assert "var.notification_channels" in channels
    email = resources["google_monitoring_notification_channel"]["email"]
    assert email["type"] == "email"
    assert email["count"] == 'local.alert_email == "" ? 0 : 1'
