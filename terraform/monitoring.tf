# Alerting: two log-based metrics (app_disconnected, ERROR logs of either
# function) and three alert policies on them and on the dead-letter backlog, sent
# to the e-mail channel made from var.alert_email and to var.notification_channels.
#
# 2nd gen functions log as Cloud Run revisions whose service is the function.

locals {
  alert_email = var.alert_email == null ? "" : trimspace(var.alert_email)

  notification_channels = concat(
    google_monitoring_notification_channel.email[*].name,
    var.notification_channels,
  )

  function_logs = join(" OR ", [
    for name in [local.names.webhook, local.names.worker] :
    "resource.labels.service_name=\"${name}\""
  ])
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

resource "google_logging_metric" "app_disconnected" {
  project     = var.project_id
  name        = "${var.name_prefix}/app_disconnected"
  description = "Drift app_disconnected events logged by the worker: the Drift app was uninstalled and no event will arrive until it is reconnected."
  filter = trimspace(<<-EOT
    resource.type="cloud_run_revision"
    resource.labels.service_name="${local.names.worker}"
    severity>=ERROR
    (jsonPayload.event_type="app_disconnected" OR jsonPayload.alert="app_disconnected")
  EOT
  )
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Drift app disconnected"
  }
  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "function_errors" {
  project     = var.project_id
  name        = "${var.name_prefix}/function_errors"
  description = "Log entries at ERROR or above from the webhook or the worker, per function."
  filter = trimspace(<<-EOT
    resource.type="cloud_run_revision"
    (${local.function_logs})
    severity>=ERROR
  EOT
  )
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Drift bridge function errors"
    labels {
      key         = "function"
      value_type  = "STRING"
      description = "The function (Cloud Run service) that logged the error."
    }
  }
  label_extractors = {
    function = "EXTRACT(resource.labels.service_name)"
  }
  depends_on = [time_sleep.apis]
}

# A new log-based metric can take minutes to become visible to Cloud Monitoring;
# an alert policy created before that fails with "Cannot find metric(s)".
resource "time_sleep" "log_metrics" {
  create_duration = "120s"
  triggers = {
    app_disconnected = google_logging_metric.app_disconnected.id
    function_errors  = google_logging_metric.function_errors.id
  }
}

resource "google_monitoring_alert_policy" "app_disconnected" {
  project               = var.project_id
  display_name          = "Drift bridge: Drift app disconnected"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.notification_channels
  conditions {
    display_name = "app_disconnected logged by ${local.names.worker}"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.app_disconnected.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_SUM"
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
    content   = <<-EOT
      Drift sent `app_disconnected`: the Drift app was uninstalled or its
      authorization revoked, so Drift sends no more events and the access token
      stops working. Reinstall the app in Drift, put the new OAuth access token in
      Secret Manager (`gcloud secrets versions add ${var.name_prefix}-drift-access-token --data-file=-`),
      and check the webhook URL and event subscriptions at dev.drift.com.
    EOT
  }
  depends_on = [time_sleep.log_metrics]
}

resource "google_monitoring_alert_policy" "function_errors" {
  project               = var.project_id
  display_name          = "Drift bridge: errors logged"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  conditions {
    display_name = "ERROR logs in ${local.names.webhook} or ${local.names.worker}"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.function_errors.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = "3600s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The webhook or the worker logged at ERROR in the last 5 minutes (publish
      failures, permanent CRM or Drift failures sent to the dead-letter topic,
      start-up failures naming a bad setting). Logs:
      `resource.type="cloud_run_revision" severity>=ERROR resource.labels.service_name="<function>"`.
    EOT
  }
  depends_on = [time_sleep.log_metrics]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "Drift bridge: events in the dead-letter subscription"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  conditions {
    display_name = "${local.names.dead_letter_hold} holds undelivered events"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
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
    content   = <<-EOT
      Events reached the dead-letter topic: permanent failures (Drift 404, CRM 4xx)
      or events that kept failing for ${var.max_delivery_attempts} deliveries. Each
      message carries the reason. Inspect with
      `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter.name} --limit=10`
      (add `--auto-ack` once handled); see README.md, "Dead letters".
    EOT
  }
}
