# One Cloud Monitoring dashboard for the whole path: events in, delivered, dead-lettered,
# the worker's backlog, ack and worker latency, and the Drift and CRM errors.

locals {
  log_metric_type = { for k, m in google_logging_metric.this : k => "logging.googleapis.com/user/${m.name}" }

  # title -> list of (metric filter, aligner, legend)
  dashboard_charts = [
    {
      title = "Events in (published by the webhook) and delivered to the CRM"
      series = [
        ["metric.type=\"${local.log_metric_type.events_published}\"", "ALIGN_SUM", "published"],
        ["metric.type=\"${local.log_metric_type.delivered}\"", "ALIGN_SUM", "delivered"],
      ]
    },
    {
      title = "Dead-lettered (CRM refusals and other reasons)"
      series = [
        ["metric.type=\"${local.log_metric_type.crm_rejected}\"", "ALIGN_SUM", "CRM rejected"],
        ["metric.type=\"${local.log_metric_type.dead_lettered_other}\"", "ALIGN_SUM", "other"],
      ]
    },
    {
      title = "Oldest undelivered event on the worker's subscription (s)"
      series = [
        ["metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.label.subscription_id=\"${google_pubsub_subscription.worker.name}\"", "ALIGN_MAX", "age"],
      ]
    },
    {
      title = "Ack latency: Pub/Sub push to the worker (p99, ms)"
      series = [
        ["metric.type=\"pubsub.googleapis.com/subscription/push_request_latencies\" AND resource.label.subscription_id=\"${google_pubsub_subscription.worker.name}\"", "ALIGN_PERCENTILE_99", "push p99"],
      ]
    },
    {
      title = "Worker latency (p50 and p99, ms)"
      series = [
        ["metric.type=\"run.googleapis.com/request_latencies\" AND resource.label.service_name=\"${local.names.worker}\"", "ALIGN_PERCENTILE_50", "p50"],
        ["metric.type=\"run.googleapis.com/request_latencies\" AND resource.label.service_name=\"${local.names.worker}\"", "ALIGN_PERCENTILE_99", "p99"],
      ]
    },
    {
      title = "Drift and CRM errors (retried, and refused for good)"
      series = [
        ["metric.type=\"${local.log_metric_type.drift_rate_limited}\"", "ALIGN_SUM", "Drift 429"],
        ["metric.type=\"${local.log_metric_type.retries}\"", "ALIGN_SUM", "all retries"],
        ["metric.type=\"${local.log_metric_type.crm_rejected}\"", "ALIGN_SUM", "CRM rejected"],
      ]
    },
    {
      title = "Webhook rejections by status, and unexpected errors"
      series = [
        ["metric.type=\"${local.log_metric_type.webhook_rejected}\"", "ALIGN_SUM", "rejected"],
        ["metric.type=\"${local.log_metric_type.unexpected_errors}\"", "ALIGN_SUM", "unexpected errors"],
      ]
    },
  ]

  dashboard = {
    displayName = "Drift bridge (${var.name_prefix})"
    mosaicLayout = {
      columns = 12
      tiles = [
        for index, chart in local.dashboard_charts : {
          xPos   = (index % 2) * 6
          yPos   = floor(index / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = chart.title
            xyChart = {
              dataSets = [
                for series in chart.series : {
                  plotType           = "LINE"
                  legendTemplate     = series[2]
                  minAlignmentPeriod = "60s"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = series[0]
                      aggregation = {
                        alignmentPeriod    = "60s"
                        perSeriesAligner   = series[1]
                        crossSeriesReducer = startswith(series[1], "ALIGN_PERCENTILE") ? "REDUCE_MAX" : "REDUCE_SUM"
                      }
                    }
                  }
                }
              ]
            }
          }
        }
      ]
    }
  }
}

resource "google_monitoring_dashboard" "bridge" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)
  depends_on     = [time_sleep.log_metrics]
}
