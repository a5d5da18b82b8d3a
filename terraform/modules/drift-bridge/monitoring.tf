# Alerting: log-based metrics over the functions' own structured logs, and one alert per
# cause of lost or stuck events, sent to the e-mail channel made from var.alert_email and
# to var.notification_channels.
#
# 2nd gen functions log as Cloud Run revisions whose service is the function. Every metric
# counts only the lines the code writes (run.googleapis.com/stdout and stderr, one JSON
# object per line): Cloud Run's own request log (run.googleapis.com/requests) records every
# deliberate retry as a 5xx, and counting it would page for each CRM outage Pub/Sub rides out.
#
# One cause, one alert:
#   app_disconnected     the Drift app was uninstalled: no event arrives any more
#   webhook_unauthorized Drift's requests fail the token check (401): every event is lost
#   worker_backlog       the oldest undelivered event keeps waiting: deliveries are failing
#                        (CRM or Drift outage, a broken deploy) and events head for the
#                        dead-letter topic once the retries run out
#   drift_rate_limited   Drift answers 429 often: deliveries slow down, the backlog grows
#   crm_rejected         the CRM refused events for good (4xx): dead-lettered
#   dead_lettered_other  events dead-lettered for any other reason (Drift 404, invalid
#                        event, too old, GDPR request to report)
#   unexpected_errors    any other ERROR line (start-up failure, publish failure)
# Each dead letter the worker sends counts in exactly one of crm_rejected and
# dead_lettered_other, and unexpected_errors leaves out what those and app_disconnected
# count, so no event pages twice. Events Pub/Sub forwards after the last attempt were a
# worker_backlog alert for hours before (see README.md, "Alerts").

locals {
  alert_email = var.alert_email == null ? "" : trimspace(var.alert_email)

  notification_channels = concat(
    google_monitoring_notification_channel.email[*].name,
    var.notification_channels,
  )

  # The functions' own lines: stdout and stderr of their Cloud Run revisions.
  own_logs = "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\" OR logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fstderr\""
  service_filter = {
    webhook = "resource.labels.service_name=\"${local.names.webhook}\""
    worker  = "resource.labels.service_name=\"${local.names.worker}\""
    both    = "(resource.labels.service_name=\"${local.names.webhook}\" OR resource.labels.service_name=\"${local.names.worker}\")"
  }

  retry_line       = "jsonPayload.message=\"event failed, Pub/Sub will redeliver it\""
  dead_letter_line = "jsonPayload.message=\"event dead-lettered\""
  crm_error        = "jsonPayload.error=~\"^Crm\""

  log_metrics = {
    app_disconnected = {
      service     = "worker"
      match       = "severity>=ERROR AND jsonPayload.alert=\"app_disconnected\""
      description = "Drift app_disconnected events logged by the worker: the Drift app was uninstalled and no event will arrive until it is reconnected."
      label       = null
    }
    crm_rejected = {
      service     = "worker"
      match       = "${local.dead_letter_line} AND ${local.crm_error}"
      description = "Events dead-lettered because the CRM refused them for good (a 4xx other than 408/409/429), by error class."
      label       = { key = "error", extractor = "EXTRACT(jsonPayload.error)" }
    }
    dead_lettered_other = {
      service     = "worker"
      match       = "${local.dead_letter_line} AND NOT ${local.crm_error}"
      description = "Events dead-lettered by the worker for any reason but a CRM refusal (Drift 404, invalid or too old event, GDPR report), by error class."
      label       = { key = "error", extractor = "EXTRACT(jsonPayload.error)" }
    }
    delivered = {
      service     = "worker"
      match       = "severity=INFO AND jsonPayload.message=~\"delivered to the CRM$\""
      description = "Conversations and GDPR requests delivered to the CRM."
      label       = null
    }
    drift_rate_limited = {
      service     = "worker"
      match       = "severity=WARNING AND ${local.retry_line} AND jsonPayload.reason=~\"^Drift [^:]*: 429( |$)\""
      description = "Deliveries that failed because Drift answered 429 (rate limited); Pub/Sub redelivers them."
      label       = null
    }
    events_published = {
      service     = "webhook"
      match       = "jsonPayload.message=\"webhook published\""
      description = "Verified Drift events the webhook published to the events topic."
      label       = null
    }
    retries = {
      service     = "worker"
      match       = "severity=WARNING AND ${local.retry_line}"
      description = "Deliveries that failed transiently (Drift or CRM unavailable, rate limits); Pub/Sub redelivers them."
      label       = null
    }
    unexpected_errors = {
      service     = "both"
      match       = "severity>=ERROR AND NOT ${local.dead_letter_line} AND NOT jsonPayload.alert=\"app_disconnected\""
      description = "ERROR lines of either function that no other alert covers (start-up failures naming a bad setting, publish failures), per function."
      label       = { key = "function", extractor = "EXTRACT(resource.labels.service_name)" }
    }
    webhook_rejected = {
      service     = "webhook"
      match       = "jsonPayload.message=\"webhook rejected\""
      description = "Requests the webhook rejected, by HTTP status (401: wrong or missing verification token)."
      label       = { key = "status", extractor = "EXTRACT(jsonPayload.status)" }
    }
  }

  # Alerts on the log-based metrics: threshold is a count per window.
  log_alerts = {
    app_disconnected = {
      metric    = "app_disconnected"
      title     = "Drift app disconnected"
      severity  = "CRITICAL"
      window    = "60s"
      threshold = 0
      labels    = ""
      doc       = "Drift sent `app_disconnected`: the app was uninstalled or its authorization revoked, so Drift sends no more events and the access token stops working. Reinstall the app in Drift, store the new OAuth access token (`gcloud secrets versions add ${var.name_prefix}-drift-access-token --data-file=-`) and check the webhook URL and event subscriptions at dev.drift.com."
    }
    crm_rejected = {
      metric    = "crm_rejected"
      title     = "CRM rejected events"
      severity  = "ERROR"
      window    = "300s"
      threshold = 0
      labels    = ""
      doc       = "The CRM answered a 4xx other than 408/409/429, so the worker dead-lettered the event with the CRM's reason. Usually a mapping or recipe that no longer fits the CRM (a required field, a removed property) or a token without a scope. Read the reason: `python -m operations trace <conversation id>` or pull `${local.names.dead_letter_hold}`; replay with `make ops ARGS=\"replay\"` once fixed."
    }
    dead_lettered_other = {
      metric    = "dead_lettered_other"
      title     = "Events dead-lettered"
      severity  = "WARNING"
      window    = "300s"
      threshold = 0
      labels    = ""
      doc       = "The worker dead-lettered events for a reason other than the CRM (Drift 404 for the conversation, an invalid or too old event, a GDPR request with gdpr_action = report). The metric's error label names the class; the messages in `${local.names.dead_letter_hold}` carry the reason."
    }
    drift_rate_limited = {
      metric    = "drift_rate_limited"
      title     = "Drift rate limit"
      severity  = "WARNING"
      window    = "600s"
      threshold = var.alert_thresholds.drift_429_per_10_minutes
      labels    = ""
      doc       = "Drift answered 429 more than ${var.alert_thresholds.drift_429_per_10_minutes} times in 10 minutes. Events are retried with backoff and not lost, but deliveries slow down. Lower worker_max_instances x worker_concurrency, or ask Drift about the app's limit."
    }
    unexpected_errors = {
      metric    = "unexpected_errors"
      title     = "Unexpected errors"
      severity  = "ERROR"
      window    = "300s"
      threshold = 0
      labels    = ""
      doc       = "A function logged at ERROR for a reason no other alert covers: a start-up failure naming a bad setting, a publish failure (the webhook answered 503 and Drift retries). Logs: `resource.type=\"cloud_run_revision\" severity>=ERROR resource.labels.service_name=\"<function>\"`."
    }
    webhook_unauthorized = {
      metric    = "webhook_rejected"
      title     = "Webhook rejects requests (401)"
      severity  = "CRITICAL"
      window    = "600s"
      threshold = var.alert_thresholds.webhook_401_per_10_minutes
      labels    = " AND metric.label.status=\"401\""
      doc       = "More than ${var.alert_thresholds.webhook_401_per_10_minutes} requests in 10 minutes failed the verification token check. If they come from Drift, every event is being lost: the verification token secret (`${var.name_prefix}-drift-verification-token`) does not match the Drift app's (dev.drift.com > your app > App Settings). Add the right value as a new version; no redeploy is needed."
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  count        = local.alert_email == "" ? 0 : 1
  project      = var.project_id
  display_name = "Drift bridge alerts (${local.alert_email})"
  type         = "email"
  labels = {
    email_address = local.alert_email
  }
  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "this" {
  for_each    = local.log_metrics
  project     = var.project_id
  name        = "${var.name_prefix}/${each.key}"
  description = each.value.description
  filter = join("\n", [
    "resource.type=\"cloud_run_revision\"",
    "(${local.own_logs})",
    local.service_filter[each.value.service],
    each.value.match,
  ])
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Drift bridge ${replace(each.key, "_", " ")}"
    dynamic "labels" {
      for_each = each.value.label == null ? [] : [each.value.label]
      content {
        key        = labels.value.key
        value_type = "STRING"
      }
    }
  }
  label_extractors = each.value.label == null ? null : { (each.value.label.key) = each.value.label.extractor }
  depends_on       = [time_sleep.apis]
}

# A new log-based metric can take minutes to become visible to Cloud Monitoring;
# an alert policy created before that fails with "Cannot find metric(s)".
resource "time_sleep" "log_metrics" {
  create_duration = "120s"
  triggers = {
    metrics = join(",", sort([for m in google_logging_metric.this : m.id]))
  }
}

resource "google_monitoring_alert_policy" "log" {
  for_each              = local.log_alerts
  project               = var.project_id
  display_name          = "Drift bridge: ${each.value.title}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = local.notification_channels
  conditions {
    display_name = each.value.title
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this[each.value.metric].name}\" AND resource.type=\"cloud_run_revision\"${each.value.labels}"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
      aggregations {
        alignment_period     = each.value.window
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = each.value.doc
  }
  depends_on = [time_sleep.log_metrics]
}

resource "google_monitoring_alert_policy" "worker_backlog" {
  project               = var.project_id
  display_name          = "Drift bridge: events waiting for delivery"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  conditions {
    display_name = "oldest undelivered event on ${local.names.worker_push_subscription}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.worker.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.backlog_age_seconds
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "An event has waited more than ${var.alert_thresholds.backlog_age_seconds} s for the worker: deliveries keep failing (the CRM or Drift is down, a token expired, a deploy broke the worker). Pub/Sub retries with backoff and dead-letters after ${var.max_delivery_attempts} attempts. Look at the worker's WARNING lines (`event failed, Pub/Sub will redeliver it`, with the reason) and the dashboard."
  }
}
