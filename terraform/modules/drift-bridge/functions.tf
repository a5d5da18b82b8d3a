# The two Cloud Functions (2nd gen) and the registry their images go to.
#
# webhook: HTTP, public (Drift cannot authenticate; the verification token is
#          checked in code), publishes each verified event to the events topic.
#          prevent_destroy: its URL is pasted into the Drift app.
# worker:  CloudEvent function with no event_trigger: Terraform's push
#          subscription (pubsub.tf) delivers to it. Its entry point is declared
#          with @functions_framework.cloud_event, and functions-framework gives a
#          decorator's signature type precedence over FUNCTION_SIGNATURE_TYPE, so
#          the raw Pub/Sub push body is converted to a CloudEvent without any
#          build or runtime setting (tests/terraform/test_bundle_boot.py starts
#          it exactly like that).

locals {
  builtin_recipes = ["webhook", "hubspot", "salesforce", "pipedrive", "zoho", "dynamics", "marketo"]
  recipe_is_file  = !contains(local.builtin_recipes, var.crm_recipe)

  webhook_env = {
    GOOGLE_CLOUD_PROJECT            = var.project_id
    PUBSUB_TOPIC                    = google_pubsub_topic.events.name
    DRIFT_VERIFICATION_TOKEN_SECRET = local.secret_versions["drift_verification_token"]
    LOG_LEVEL                       = var.log_level
  }

  # Set only when they have a value (no empty or null variables reach the function).
  worker_optional_env = {
    CRM_API_TOKEN_SECRET           = lookup(local.secret_versions, "crm_api_token", null)
    CRM_SIGNING_SECRET_SECRET      = lookup(local.secret_versions, "crm_signing_secret", null)
    CRM_OAUTH_CLIENT_SECRET_SECRET = lookup(local.secret_versions, "crm_oauth_client_secret", null)
    CRM_OAUTH_REFRESH_TOKEN_SECRET = lookup(local.secret_versions, "crm_oauth_refresh_token", null)
    CRM_ENDPOINT_URL               = var.crm_endpoint_url
    CRM_MAPPING_FILE               = var.crm_mapping_file
    CRM_BASE_URL                   = var.crm_base_url
    CRM_OAUTH_TOKEN_URL            = var.crm_oauth_token_url
    CRM_OAUTH_CLIENT_ID            = var.crm_oauth_client_id
    CRM_OAUTH_SCOPE                = var.crm_oauth_scope
  }

  worker_env = merge(
    {
      GOOGLE_CLOUD_PROJECT      = var.project_id
      DEAD_LETTER_TOPIC         = google_pubsub_topic.dead_letter.name
      DRIFT_ACCESS_TOKEN_SECRET = local.secret_versions["drift_access_token"]
      DRIFT_API_BASE_URL        = var.drift_api_base_url
      CRM_RECIPE                = var.crm_recipe
      GDPR_ACTION               = var.gdpr_action
      LEDGER                    = "firestore"
      FIRESTORE_DATABASE        = google_firestore_database.ledger.name
      LEDGER_COLLECTION_PREFIX  = var.ledger_collection_prefix
      LEDGER_RETENTION_DAYS     = tostring(var.ledger_retention_days)
      RECORD_REUSE_SECONDS      = tostring(var.record_reuse_seconds)
      FUNCTION_TIMEOUT_SECONDS  = tostring(var.worker_timeout_seconds)
      MAX_EVENT_AGE_SECONDS     = tostring(var.max_event_age_seconds)
      LOG_LEVEL                 = var.log_level
    },
    { for k, v in local.worker_optional_env : k => v if v != null && v != "" },
    var.worker_extra_env,
  )

  # Serving more than one request per instance needs a whole vCPU.
  webhook_cpu = var.webhook_concurrency > 1 ? "1" : null
  worker_cpu  = var.worker_concurrency > 1 ? "1" : null

  # Most Drift API calls that can be in flight at once, across all workers.
  worker_max_in_flight = var.worker_max_instances * var.worker_concurrency
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only the functions' images, rebuilt from git on every deploy and holding no data or secrets; Google-managed encryption at rest suffices and a CMEK key would be one more key to operate for no gain.
  project                = var.project_id
  location               = var.region
  repository_id          = local.names.artifact_repository
  description            = "Container images of the Drift bridge functions, built by Cloud Build."
  format                 = "DOCKER"
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s" # 30 days; the five most recent versions are kept anyway
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_cloudfunctions2_function" "webhook" {
  #checkov:skip=CKV_GCP_124:Drift delivers webhooks from the public internet from addresses it no longer publishes, so ingress is ALLOW_ALL by default (var.webhook_ingress_settings admits a load balancer instead); every request is authenticated in code with the Drift verification token. The worker is internal-only.
  project     = var.project_id
  location    = var.region
  name        = local.names.webhook
  description = "Drift webhook: verifies the token, publishes the event to Pub/Sub, then answers."

  build_config {
    runtime           = var.runtime
    entry_point       = "webhook"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["webhook"].name
      }
    }
  }

  service_config {
    available_memory                 = "${var.webhook_memory_mb}M"
    available_cpu                    = local.webhook_cpu
    timeout_seconds                  = var.webhook_timeout_seconds
    min_instance_count               = var.webhook_min_instances
    max_instance_count               = var.webhook_max_instances
    max_instance_request_concurrency = var.webhook_concurrency
    # Drift posts from the internet, from addresses it no longer publishes.
    ingress_settings               = var.webhook_ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.webhook.email
    environment_variables          = local.webhook_env
  }

  # Drift posts to this function's URL: replacing it (a new name or region) would
  # leave Drift posting to a URL that no longer exists, so a plan that would fails.
  lifecycle {
    prevent_destroy = true
  }

  depends_on = [
    time_sleep.build_iam,
    google_pubsub_topic_iam_member.events_webhook,
    google_secret_manager_secret_iam_member.accessor,
  ]
}

resource "google_cloudfunctions2_function" "worker" {
  project     = var.project_id
  location    = var.region
  name        = local.names.worker
  description = "Drift worker: fetches each pushed conversation from Drift and posts the record to the CRM."

  build_config {
    runtime           = var.runtime
    entry_point       = "worker"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle["worker"].name
      }
    }
  }

  service_config {
    available_memory = "${var.worker_memory_mb}M"
    available_cpu    = local.worker_cpu
    timeout_seconds  = var.worker_timeout_seconds
    # min 0: the worker only runs when Pub/Sub pushes. max x concurrency bounds
    # the pressure on the Drift API's leaky-bucket rate limit; a 429 still ends
    # in a retry with backoff, never in a lost event.
    min_instance_count               = 0
    max_instance_count               = var.worker_max_instances
    max_instance_request_concurrency = var.worker_concurrency
    # Pub/Sub push from this project counts as internal traffic for Cloud Run
    # ingress, so the worker needs no internet ingress; only the push invoker
    # holds run.invoker on it in any case.
    ingress_settings               = var.worker_ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.worker.email
    environment_variables          = local.worker_env
  }

  lifecycle {
    precondition {
      condition     = local.worker_max_in_flight <= 20
      error_message = "worker_max_instances x worker_concurrency must be 20 or less: each event makes several Drift API calls and Drift rate-limits every app."
    }
    precondition {
      condition     = var.crm_recipe != "webhook" || var.crm_endpoint_url != null
      error_message = "crm_endpoint_url is required with crm_recipe = \"webhook\" (the default): it is where every record is POSTed."
    }
    precondition {
      condition     = !local.recipe_is_file || contains(local.worker_bundle_files, var.crm_recipe)
      error_message = "crm_recipe names a file that is not in the worker's bundle: put it under examples/recipes/ (or name it in terraform/deploy.auto.tfvars) and run make bundle."
    }
    precondition {
      condition     = var.crm_mapping_file == null || contains(local.worker_bundle_files, coalesce(var.crm_mapping_file, "-"))
      error_message = "crm_mapping_file is not in the worker's bundle: use a file under examples/mappings/ (or name it in terraform/deploy.auto.tfvars) and run make bundle."
    }
  }

  # The ledger must exist (with its TTL policies) and be writable before the first event.
  depends_on = [
    time_sleep.build_iam,
    google_firestore_field.ledger_ttl,
    google_project_iam_member.worker_ledger,
    google_pubsub_topic_iam_member.dead_letter_worker,
    google_secret_manager_secret_iam_member.accessor,
  ]
}
