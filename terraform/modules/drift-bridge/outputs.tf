# Outputs, sorted by name.

output "build_service_account_email" {
  description = "Service account Cloud Build uses to build the functions."
  value       = google_service_account.build.email
}

output "dashboard_id" {
  description = "The Cloud Monitoring dashboard of the bridge (Monitoring > Dashboards)."
  value       = google_monitoring_dashboard.bridge.id
}

output "dead_letter_subscription" {
  description = "Subscription that keeps dead-lettered events: pull it to inspect or replay them."
  value       = google_pubsub_subscription.dead_letter.name
}

output "dead_letter_topic" {
  description = "Topic events that cannot succeed end up in (DEAD_LETTER_TOPIC)."
  value       = google_pubsub_topic.dead_letter.name
}

output "events_topic" {
  description = "Topic the webhook publishes verified Drift events to (PUBSUB_TOPIC)."
  value       = google_pubsub_topic.events.name
}

output "firestore_database" {
  description = "The delivery ledger's Firestore database (FIRESTORE_DATABASE of the worker)."
  value       = google_firestore_database.ledger.name
}

output "pipeline_service_account_emails" {
  description = "The pipeline's identities by role (ci, plan, deploy); empty without var.pipeline."
  value       = { for k, v in google_service_account.pipeline : k => v.email }
}

output "push_invoker_service_account_email" {
  description = "Service account in the OIDC token of the worker's push subscription."
  value       = google_service_account.push_invoker.email
}

output "secret_ids" {
  description = "Secret Manager secret ids, by purpose: add each value with `gcloud secrets versions add <id> --data-file=-`."
  value       = { for k, v in google_secret_manager_secret.this : k => v.secret_id }
}

output "source_bucket" {
  description = "Bucket holding the deployed bundles."
  value       = google_storage_bucket.sources.name
}

output "webhook_service_account_email" {
  description = "Runtime service account of the webhook."
  value       = google_service_account.webhook.email
}

output "webhook_url" {
  description = "The URL to paste into the Drift app's webhook settings (dev.drift.com > App > Events > Request URL)."
  value       = google_cloudfunctions2_function.webhook.service_config[0].uri
}

output "worker_service_account_email" {
  description = "Runtime service account of the worker."
  value       = google_service_account.worker.email
}

output "worker_subscription" {
  description = "The worker's push subscription (retry and dead-letter policies)."
  value       = google_pubsub_subscription.worker.name
}

output "worker_url" {
  description = "URL of the worker (internal ingress, invoked by Pub/Sub push only)."
  value       = google_cloudfunctions2_function.worker.service_config[0].uri
}
