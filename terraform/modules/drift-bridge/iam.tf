# Every grant the bridge needs, each on the narrowest resource that carries it.
# Additive *_iam_member resources only: nothing here can remove a binding that
# someone else manages. tests/terraform/test_tf_iam.py pins this exact list.
#
#   webhook SA       pubsub.publisher            events topic
#                    secretmanager.secretAccessor verification token secret
#   worker SA        pubsub.publisher            dead-letter topic
#                    secretmanager.secretAccessor Drift access token (+ CRM secrets)
#                    datastore.user              project, conditioned on the ledger's
#                                                database (Firestore grants are project-wide)
#   push invoker SA  run.invoker                 worker's Cloud Run service, and project-wide
#                                                conditioned on the worker's service name
#   allUsers         run.invoker                 webhook's Cloud Run service (webhook_access =
#                                                all_users; with invoker_iam_disabled no one)
#   Pub/Sub agent    pubsub.publisher            dead-letter topic (dead-lettering)
#                    pubsub.subscriber           worker subscription (dead-lettering)
#                    iam.serviceAccountTokenCreator  push invoker SA (OIDC tokens)
#                    cloudkms.cryptoKeyEncrypterDecrypter  the CMEK key, if any
#   build SA         logging.logWriter           project (build logs)
#                    artifactregistry.writer     the functions' repository
#                    storage.objectViewer        the bundle bucket
#                    storage.objectAdmin         project, conditioned on the
#                                                gcf-v2-sources-<number>-<region>
#                                                bucket Cloud Functions stages
#                                                the source in
#
# The pipeline's identities and their grants are in cicd.tf.

# --- webhook ----------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "events_webhook" {
  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = local.members.webhook
}

# Drift cannot authenticate to Google, so the webhook's Cloud Run service is the
# one public resource; the function rejects any request without the app's
# verification token (401) before doing anything else. Two ways to open it:
#
# all_users: an allUsers run.invoker binding on the service.
# invoker_iam_disabled: for organisations whose iam.allowedPolicyMemberDomains
#   (domain restricted sharing) refuses allUsers. Cloud Run can skip the invoker
#   check of a service altogether (its invokerIamDisabled field); Cloud Functions
#   manages the webhook's service and has no such field of its own, so Terraform
#   sets it with `gcloud run services update --no-invoker-iam-check` (the gcloud CLI
#   must be where terraform runs: cloudbuild-apply.yaml runs it in the gcloud image)
#   and again after every change of the function.
resource "google_cloud_run_v2_service_iam_member" "webhook_public" {
  #checkov:skip=CKV_GCP_102:Public on purpose: Drift's webhook delivery cannot send Google credentials. The function authenticates every request with Drift's verification token (constant-time compare) and only publishes to Pub/Sub.
  count    = var.webhook_access == "all_users" ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
  lifecycle {
    # A replaced function is a new Cloud Run service without this binding.
    replace_triggered_by = [google_cloudfunctions2_function.webhook.id]
  }
}

resource "terraform_data" "webhook_invoker_check_disabled" {
  count = var.webhook_access == "invoker_iam_disabled" ? 1 : 0
  triggers_replace = [
    google_cloudfunctions2_function.webhook.service_config[0].service,
    google_cloudfunctions2_function.webhook.update_time,
  ]
  provisioner "local-exec" {
    command = "gcloud run services update ${google_cloudfunctions2_function.webhook.service_config[0].service} --project=${var.project_id} --region=${var.region} --no-invoker-iam-check --quiet"
  }
}

# --- worker -----------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "dead_letter_worker" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.members.worker
}

# The ledger. Firestore roles exist only at project level; the condition narrows this
# one to the ledger's database.
resource "google_project_iam_member" "worker_ledger" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.members.worker
  condition {
    title       = "ledger-database-only"
    description = "Only the delivery ledger's Firestore database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.ledger.name}\""
  }
}

# --- secrets: each one readable by the one function that uses it -------------

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = google_secret_manager_secret.this
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.members[local.secrets[each.key].reader]
}

# --- push invoker -----------------------------------------------------------

# No 403 window when the worker is replaced: a replaced function is a new Cloud Run
# service of the same name, created without the service-level binding below until
# Terraform re-creates it. This project-level grant, conditioned on the service's name,
# does not belong to the service, so it holds from the first request of the new one.
# The service-level binding stays as the plain, unconditioned grant.
resource "google_project_iam_member" "push_invoker_worker_by_name" {
  project = var.project_id
  role    = "roles/run.invoker"
  member  = local.members.push_invoker
  condition {
    title       = "worker-service-only"
    description = "Only the worker's Cloud Run service, whatever its generation."
    expression  = "resource.name.endsWith(\"/locations/${var.region}/services/${local.names.worker}\")"
  }
}

resource "google_cloud_run_v2_service_iam_member" "worker_push_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.worker.service_config[0].service
  role     = "roles/run.invoker"
  member   = local.members.push_invoker
  lifecycle {
    replace_triggered_by = [google_cloudfunctions2_function.worker.id]
  }
}

# --- Pub/Sub service agent --------------------------------------------------

# Dead-lettering: the agent republishes to the dead-letter topic and acks the
# original on the worker's subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_pubsub_agent" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.members.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "worker_pubsub_agent" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker.name
  role         = "roles/pubsub.subscriber"
  member       = local.members.pubsub_agent
}

# The agent signs the push OIDC tokens as the invoker. Projects whose agent
# predates April 2021 need this grant; it is granted on that one account only.
resource "google_service_account_iam_member" "push_invoker_token_creator" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.members.pubsub_agent
}

# Only with CMEK (var.pubsub_kms_key_name): the agent encrypts and decrypts the
# topics' messages with the key.
resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  count         = var.pubsub_kms_key_name == null ? 0 : 1
  crypto_key_id = var.pubsub_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.members.pubsub_agent
}

# --- build service account (Cloud Build, while deploying the functions) ------

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = local.members.build
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = local.members.build
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = local.members.build
}

# Cloud Functions copies the bundle into its own gcf-v2-sources-<number>-<region>
# bucket, which it creates on first deploy (so no bucket-level grant can exist
# beforehand), and the build fetches it from there.
resource "google_project_iam_member" "build_staged_sources" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = local.members.build
  condition {
    title       = "gcf-v2-sources-only"
    description = "Only the bucket Cloud Functions stages function sources in."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${local.project_number}-${var.region}\")"
  }
}

# New grants can take a minute to reach Cloud Build; the first build must not
# start before they do.
resource "time_sleep" "build_iam" {
  create_duration = "60s"
  triggers = {
    build_sa = google_service_account.build.email
  }
  depends_on = [
    google_artifact_registry_repository_iam_member.build_writer,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_staged_sources,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}
