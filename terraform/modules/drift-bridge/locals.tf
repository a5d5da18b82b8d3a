# Names and identities shared by several files.

locals {
  names = {
    artifact_repository      = "${var.name_prefix}-functions"
    build_sa                 = "${var.name_prefix}-build"
    dead_letter_hold         = "${var.dead_letter_topic_name}-hold"
    push_invoker_sa          = "${var.name_prefix}-invoker"
    source_bucket            = "${var.project_id}-${var.name_prefix}-sources"
    webhook                  = "${var.name_prefix}-webhook"
    worker                   = "${var.name_prefix}-worker"
    worker_push_subscription = "${var.name_prefix}-worker-push"
  }

  members = {
    build        = "serviceAccount:${google_service_account.build.email}"
    pubsub_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
    push_invoker = "serviceAccount:${google_service_account.push_invoker.email}"
    webhook      = "serviceAccount:${google_service_account.webhook.email}"
    worker       = "serviceAccount:${google_service_account.worker.email}"
  }

  project_number = data.google_project.this.number
}

data "google_project" "this" {
  project_id = var.project_id
  depends_on = [google_project_service.enabled]
}
