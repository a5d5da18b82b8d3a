# One service account per role, each granted only what it uses (iam.tf).

resource "google_service_account" "webhook" {
  project      = var.project_id
  account_id   = local.names.webhook
  display_name = "Drift bridge webhook"
  description  = "Runtime identity of the webhook: publishes to the events topic, reads the verification token."
  depends_on   = [time_sleep.apis]
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = local.names.worker
  display_name = "Drift bridge worker"
  description  = "Runtime identity of the worker: reads the Drift and CRM secrets, publishes to the dead-letter topic."
  depends_on   = [time_sleep.apis]
}

resource "google_service_account" "push_invoker" {
  project      = var.project_id
  account_id   = local.names.push_invoker_sa
  display_name = "Drift bridge push invoker"
  description  = "Identity in the OIDC token of the worker's push subscription: may invoke the worker, nothing else."
  depends_on   = [time_sleep.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = local.names.build_sa
  display_name = "Drift bridge function builds"
  description  = "Cloud Build identity that turns the bundles into the functions' images."
  depends_on   = [time_sleep.apis]
}
