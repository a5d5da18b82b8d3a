# Topics and subscriptions.
#
#   webhook -> events topic -> worker push subscription -> worker
#                                   | after max_delivery_attempts
#                                   v
#                           dead-letter topic -> dead-letter hold subscription (kept)
#
# The worker's subscription is Terraform's own "direct Pub/Sub trigger" rather
# than an Eventarc trigger: Eventarc manages its subscription itself, so neither
# its dead-letter policy nor its retry policy could be set here.
#
# Loss-proofing: both topics keep every message for topic_retention_days whether or not
# it was acknowledged, so a re-created subscription starts from nothing lost and
# `gcloud pubsub subscriptions seek <sub> --time=...` replays a window. Topics and
# subscriptions are prevent_destroy: the webhook publishes to the topic by name and the
# subscriptions hold undelivered events.

locals {
  # Pub/Sub waits this long for the worker's answer before it redelivers: it must
  # cover the function's timeout, or a slow delivery would run twice in parallel.
  worker_ack_deadline_seconds = min(600, var.worker_timeout_seconds + 30)

  # Upper bound of how long an event can keep being retried before Pub/Sub
  # dead-letters it; MAX_EVENT_AGE_SECONDS must not cut that window short.
  retry_window_seconds = var.max_delivery_attempts * (var.retry_maximum_backoff_seconds + local.worker_ack_deadline_seconds)
}

# The Pub/Sub service agent (service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com)
# forwards dead letters and mints the push OIDC tokens. Enabling the API does not
# always create it; this resource does, before any grant names it. It exists in
# google-beta only.
resource "google_project_service_identity" "pubsub" {
  provider   = google-beta
  project    = var.project_id
  service    = "pubsub.googleapis.com"
  depends_on = [time_sleep.apis]
}

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.pubsub_kms_key_name; by default Pub/Sub encrypts at rest with Google-managed keys, which fits transient event payloads.
  project                    = var.project_id
  name                       = var.events_topic_name
  kms_key_name               = var.pubsub_kms_key_name
  message_retention_duration = "${var.topic_retention_days * 86400}s"
  lifecycle {
    prevent_destroy = true
  }
  depends_on = [time_sleep.apis, google_kms_crypto_key_iam_member.pubsub_agent]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.pubsub_kms_key_name; by default Pub/Sub encrypts with Google-managed keys.
  project                    = var.project_id
  name                       = var.dead_letter_topic_name
  kms_key_name               = var.pubsub_kms_key_name
  message_retention_duration = "${var.topic_retention_days * 86400}s"
  lifecycle {
    prevent_destroy = true
  }
  depends_on = [time_sleep.apis, google_kms_crypto_key_iam_member.pubsub_agent]
}

# Keeps every dead letter (Pub/Sub drops messages published to a topic without a
# subscription) until an operator pulls it, for as long as Pub/Sub allows.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = local.names.dead_letter_hold
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 600 # an operator pulls, reads and replays by hand
  message_retention_duration = "${var.dead_letter_retention_days * 86400}s"
  retain_acked_messages      = false
  expiration_policy {
    ttl = "" # never expires, however long nobody pulls
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_pubsub_subscription" "worker" {
  project                    = var.project_id
  name                       = local.names.worker_push_subscription
  topic                      = google_pubsub_topic.events.id
  ack_deadline_seconds       = local.worker_ack_deadline_seconds
  message_retention_duration = "${var.events_retention_days * 86400}s"

  push_config {
    # The run.app URL of the worker's Cloud Run service. The body stays Pub/Sub's
    # standard push envelope, which functions-framework turns into a CloudEvent.
    push_endpoint = google_cloudfunctions2_function.worker.service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.worker.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # a quiet week must not delete the pipeline
  }

  lifecycle {
    prevent_destroy = true
    precondition {
      condition     = var.retry_minimum_backoff_seconds <= var.retry_maximum_backoff_seconds
      error_message = "retry_minimum_backoff_seconds must not exceed retry_maximum_backoff_seconds."
    }
    precondition {
      condition     = var.max_event_age_seconds >= local.retry_window_seconds
      error_message = "max_event_age_seconds is shorter than the retry window (max_delivery_attempts x (retry_maximum_backoff_seconds + ack deadline)): the worker would give up on events (as too old) that Pub/Sub is still retrying."
    }
  }

  # Deliveries start as soon as the subscription exists: the worker must accept
  # the invoker, and dead-lettering must be allowed, from the first message.
  depends_on = [
    google_cloud_run_v2_service_iam_member.worker_push_invoker,
    google_project_iam_member.push_invoker_worker_by_name,
    google_pubsub_subscription.dead_letter,
    google_pubsub_topic_iam_member.dead_letter_pubsub_agent,
    google_service_account_iam_member.push_invoker_token_creator,
  ]
}
