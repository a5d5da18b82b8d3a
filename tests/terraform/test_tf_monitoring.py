"""monitoring.tf and dashboard.tf: the alerts fire for the failures that lose or stall events,
once per cause, and never for Cloud Run's own request log.

The log-based metric filters are rendered from the module's locals and evaluated (with the
small query-language evaluator in logfilter.py) against log entries shaped like the ones the
functions write: the structured lines of shared/logger.py, and Cloud Run's request log.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from logfilter import matches

pytestmark = pytest.mark.terraform

PROJECT = "my-drift-bridge-project"
PREFIX = "drift-bridge"
WEBHOOK, WORKER = f"{PREFIX}-webhook", f"{PREFIX}-worker"
VARIABLES = {"var.project_id": PROJECT, "var.name_prefix": PREFIX}


def render(template: str, tf: dict[str, Any]) -> str:
    """Resolve the ${...} references a filter template uses (locals, names, variables)."""
    names = {
        f"local.names.{k}": v.replace("${var.name_prefix}", PREFIX)
        for k, v in tf["locals"]["names"].items()
        if isinstance(v, str)
    }

    def resolve(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference in VARIABLES:
            return VARIABLES[reference]
        if reference in names:
            return names[reference]
        if reference.startswith("local.") and reference[6:] in tf["locals"]:
            return render(tf["locals"][reference[6:]], tf)
        raise AssertionError(f"cannot render ${{{reference}}}")

    return re.sub(r"\$\{([^}]+)\}", resolve, template)


@pytest.fixture(scope="module")
def metric_filters(tf: dict[str, Any]) -> dict[str, str]:
    """Metric name -> its effective log filter, exactly as google_logging_metric.this builds it."""
    resource = tf["resource"]["google_logging_metric"]["this"]
    assert resource["for_each"] == "local.log_metrics"
    assert resource["filter"] == (
        'join("\\n", ["resource.type=\\"cloud_run_revision\\"", "(${local.own_logs})", '
        "local.service_filter[each.value.service], each.value.match])"
    )
    services = tf["locals"]["service_filter"]
    return {
        name: "\n".join(
            [
                'resource.type="cloud_run_revision"',
                f"({render(tf['locals']['own_logs'], tf)})",
                render(services[spec["service"]], tf),
                render(spec["match"], tf),
            ]
        )
        for name, spec in tf["locals"]["log_metrics"].items()
    }


def line(service: str, severity: str, message: str, **fields: Any) -> dict[str, Any]:
    """A structured line a function writes to stdout, as Cloud Logging stores it."""
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "severity": severity,
        "jsonPayload": {"message": message, "severity": severity, **fields},
    }


def request_log(service: str, status: int) -> dict[str, Any]:
    """Cloud Run's own request log entry (one per request, 5xx for every deliberate retry)."""
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
        "severity": "ERROR" if status >= 500 else "INFO",
        "httpRequest": {"status": status, "requestMethod": "POST"},
    }


RETRY = "event failed, Pub/Sub will redeliver it"
# cause -> (log entry, the alert that must fire, or None for "nothing pages")
CAUSES: dict[str, tuple[dict[str, Any], str | None]] = {
    "app disconnected": (
        line(
            WORKER,
            "ERROR",
            "Drift app disconnected: events stop until it is reinstalled",
            alert="app_disconnected",
        ),
        "app_disconnected",
    ),
    "wrong verification token": (
        line(WEBHOOK, "WARNING", "webhook rejected", status=401, reason="wrong token"),
        "webhook_unauthorized",
    ),
    "CRM refused an event": (
        line(
            WORKER,
            "ERROR",
            "event dead-lettered",
            reason="CRM answered 422",
            error="CrmRejectedError",
        ),
        "crm_rejected",
    ),
    "Drift has no such conversation": (
        line(
            WORKER,
            "ERROR",
            "event dead-lettered",
            reason="Drift /conversations/1: not found",
            error="DriftNotFoundError",
        ),
        "dead_lettered_other",
    ),
    "Drift rate limit": (
        line(WORKER, "WARNING", RETRY, reason="Drift /conversations/1: 429 rate limited"),
        "drift_rate_limited",
    ),
    "worker cannot start": (
        line(WORKER, "ERROR", "CRM_ENDPOINT_URL: required by CRM_RECIPE=webhook"),
        "unexpected_errors",
    ),
    "publish failed": (
        line(WEBHOOK, "ERROR", "webhook not accepted", reason="publish timed out"),
        "unexpected_errors",
    ),
    # A CRM outage Pub/Sub rides out: each retry is a WARNING and a 5xx request log entry.
    # No page per retry; the backlog-age alert fires if it lasts.
    "CRM outage retry": (line(WORKER, "WARNING", RETRY, reason="CRM answered 503"), None),
    "Drift 500 on an id containing 429": (
        line(WORKER, "WARNING", RETRY, reason="Drift /conversations/14290: 500 oops"),
        None,
    ),
    "request log of a retried push": (request_log(WORKER, 500), None),
    "request log of a rejected webhook": (request_log(WEBHOOK, 401), None),
    "webhook rejects a bad body": (
        line(WEBHOOK, "WARNING", "webhook rejected", status=400, reason="not JSON"),
        None,
    ),
    "another service's error": (
        line("someone-else", "ERROR", "event dead-lettered", error="CrmRejectedError"),
        None,
    ),
}


def firing(entry: dict[str, Any], tf: dict[str, Any], filters: dict[str, str]) -> set[str]:
    """The log alerts this one entry counts towards."""
    fired = set()
    for name, alert in tf["locals"]["log_alerts"].items():
        if not matches(filters[alert["metric"]], entry):
            continue
        wanted = re.findall(r'metric\.label\.(\w+)=\\?"([^"\\]+)', alert["labels"])
        label = tf["locals"]["log_metrics"][alert["metric"]]["label"]
        if wanted:
            key, value = wanted[0]
            assert label and label["key"] == key
            if str(entry["jsonPayload"].get(key)) != value:
                continue
        fired.add(name)
    return fired


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_each_cause_pages_exactly_once_and_retries_not_at_all(
    cause: str, tf: dict[str, Any], metric_filters: dict[str, str]
) -> None:
    # GIVEN the log entry a failure leaves WHEN the alerts' metrics count it
    entry, expected = CAUSES[cause]
    fired = firing(entry, tf, metric_filters)
    # THEN exactly the one alert for that cause fires (or none for a deliberate retry)
    assert fired == ({expected} if expected else set()), cause


def test_every_metric_counts_only_the_functions_own_lines(metric_filters: dict[str, str]) -> None:
    # GIVEN Cloud Run's request log, which has a 5xx entry for every retried push
    for name, query in metric_filters.items():
        for status in (200, 401, 429, 500, 503):
            for service in (WEBHOOK, WORKER):
                # THEN no metric counts it
                assert not matches(query, request_log(service, status)), (name, status)
        assert "run.googleapis.com%2Fstdout" in query and "run.googleapis.com%2Fstderr" in query
        assert "run.googleapis.com%2Frequests" not in query


def test_every_dead_letter_counts_in_exactly_one_metric(
    metric_filters: dict[str, str],
) -> None:
    # GIVEN every error class the worker can dead-letter with
    classes = [
        "CrmRejectedError",
        "DriftNotFoundError",
        "DriftAuthError",
        "DriftRequestError",
        "InvalidEventError",
        "EventTooOldError",
        "MappingError",
        "GdprReportedError",
    ]
    for error in classes:
        entry = line(WORKER, "ERROR", "event dead-lettered", reason="x", error=error)
        counted = {
            name
            for name in ("crm_rejected", "dead_lettered_other", "unexpected_errors")
            if matches(metric_filters[name], entry)
        }
        # THEN exactly one dead-letter metric counts it, and the ERROR alert does not
        assert len(counted) == 1 and "unexpected_errors" not in counted, (error, counted)


def test_dashboard_counts_deliveries_and_retries(metric_filters: dict[str, str]) -> None:
    delivered = line(WORKER, "INFO", "conversation delivered to the CRM", requests=2)
    gdpr = line(WORKER, "INFO", "GDPR deletion request delivered to the CRM", requests=1)
    skipped = line(WORKER, "INFO", "conversation not delivered", reason="no email")
    assert matches(metric_filters["delivered"], delivered)
    assert matches(metric_filters["delivered"], gdpr)
    assert not matches(metric_filters["delivered"], skipped)
    published = line(WEBHOOK, "INFO", "webhook published", message_id="1")
    assert matches(metric_filters["events_published"], published)
    assert matches(metric_filters["retries"], CAUSES["CRM outage retry"][0])


def test_log_alerts_point_at_their_metric_after_it_exists(tf: dict[str, Any]) -> None:
    alert = tf["resource"]["google_monitoring_alert_policy"]["log"]
    assert alert["for_each"] == "local.log_alerts"
    condition = alert["conditions"][0]["condition_threshold"][0]
    assert "google_logging_metric.this[each.value.metric].name" in condition["filter"]
    assert condition["comparison"] == "COMPARISON_GT"
    assert alert["depends_on"] == ["time_sleep.log_metrics"]
    assert alert["notification_channels"] == "local.notification_channels"
    for name, spec in tf["locals"]["log_alerts"].items():
        assert spec["metric"] in tf["locals"]["log_metrics"], name
        assert len(spec["doc"]) > 80, f"{name}: the alert must say what to do"


def test_rates_have_thresholds_from_variables(tf: dict[str, Any]) -> None:
    alerts = tf["locals"]["log_alerts"]
    assert alerts["webhook_unauthorized"]["threshold"] == (
        "var.alert_thresholds.webhook_401_per_10_minutes"
    )
    assert alerts["drift_rate_limited"]["threshold"] == (
        "var.alert_thresholds.drift_429_per_10_minutes"
    )
    for name in ("app_disconnected", "crm_rejected", "dead_lettered_other", "unexpected_errors"):
        assert alerts[name]["threshold"] == 0, f"{name}: a single occurrence must page"


def test_backlog_alert_watches_the_worker_subscriptions_oldest_unacked_message(
    resources: dict[str, dict[str, Any]],
) -> None:
    alert = resources["google_monitoring_alert_policy"]["worker_backlog"]
    condition = alert["conditions"][0]["condition_threshold"][0]
    assert "pubsub.googleapis.com/subscription/oldest_unacked_message_age" in condition["filter"]
    assert "google_pubsub_subscription.worker.name" in condition["filter"]
    assert condition["threshold_value"] == "var.alert_thresholds.backlog_age_seconds"
    assert condition["aggregations"][0]["per_series_aligner"] == "ALIGN_MAX"


def test_one_alert_per_cause_no_backlog_alert_on_the_dead_letters(
    resources: dict[str, dict[str, Any]], tf: dict[str, Any]
) -> None:
    # GIVEN each worker dead letter already pages through crm_rejected or dead_lettered_other
    # THEN nothing also alerts on the dead-letter subscription's backlog (the same event twice)
    policies = resources["google_monitoring_alert_policy"]
    assert set(policies) == {"log", "worker_backlog"}
    for name, body in policies.items():
        text = str(body)
        assert "google_pubsub_subscription.dead_letter" not in text, name
    assert set(tf["locals"]["log_alerts"]) == {
        "app_disconnected",
        "crm_rejected",
        "dead_lettered_other",
        "drift_rate_limited",
        "unexpected_errors",
        "webhook_unauthorized",
    }


def test_alerts_go_to_the_configured_channels(
    tf: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    channels = tf["locals"]["notification_channels"]
    assert "google_monitoring_notification_channel.email[*].name" in channels
    assert "var.notification_channels" in channels
    email = resources["google_monitoring_notification_channel"]["email"]
    assert email["type"] == "email"
    for body in resources["google_monitoring_alert_policy"].values():
        assert body["notification_channels"] == "local.notification_channels"


def test_dashboard_shows_the_whole_path(tf: dict[str, Any], resources: dict[str, Any]) -> None:
    dashboard = resources["google_monitoring_dashboard"]["bridge"]
    assert dashboard["dashboard_json"] == "jsonencode(local.dashboard)"
    charts = tf["locals"]["dashboard_charts"]
    titles = " | ".join(chart["title"] for chart in charts).lower()
    for topic in (
        "events in",
        "delivered",
        "dead-lettered",
        "ack latency",
        "worker latency",
        "drift",
        "crm",
        "oldest undelivered",
    ):
        assert topic in titles, topic
    series = str(charts)
    for metric in (
        "events_published",
        "delivered",
        "crm_rejected",
        "dead_lettered_other",
        "drift_rate_limited",
        "push_request_latencies",
        "request_latencies",
    ):
        assert metric in series, metric
