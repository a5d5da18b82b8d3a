# Inputs, sorted by name. Every variable has a description, a type and, where a wrong value
# is possible, a validation block (the bools cannot be wrong). The README's table is generated
# from this file by scripts/tf_docs.py.

variable "alert_email" {
  description = "E-mail address that receives the alerts (an email notification channel is created for it). Null or empty: no channel is created; alerts still open incidents in Cloud Monitoring and go to notification_channels."
  type        = string
  default     = null
  validation {
    condition = (
      var.alert_email == null
      ? true
      : var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    )
    error_message = "alert_email must be a single e-mail address such as oncall@example.com (or null/empty for none)."
  }
}

variable "alert_thresholds" {
  description = "When the alerts fire: backlog_age_seconds (oldest unacked event on the worker's subscription), drift_429_per_10_minutes (Drift rate-limit answers), webhook_401_per_10_minutes (requests rejected for a wrong verification token)."
  type = object({
    backlog_age_seconds        = optional(number, 900)
    drift_429_per_10_minutes   = optional(number, 20)
    webhook_401_per_10_minutes = optional(number, 5)
  })
  default = {}
  validation {
    condition = (
      var.alert_thresholds.backlog_age_seconds >= 60
      && var.alert_thresholds.drift_429_per_10_minutes >= 1
      && var.alert_thresholds.webhook_401_per_10_minutes >= 1
    )
    error_message = "alert_thresholds: backlog_age_seconds must be at least 60 and the two rates at least 1."
  }
}

variable "bundle_dir" {
  description = "Directory holding webhook.zip, worker.zip and manifest.json built by `make bundle` (relative to the directory terraform runs in)."
  type        = string
  default     = "../dist"
  validation {
    condition = alltrue([
      for name in ["webhook.zip", "worker.zip", "manifest.json"] : fileexists("${var.bundle_dir}/${name}")
    ])
    error_message = "bundle_dir must contain webhook.zip, worker.zip and manifest.json: run `make bundle` at the repository root first."
  }
}

variable "crm_base_url" {
  description = "Base URL of the CRM's API for a built-in or custom recipe (CRM_BASE_URL). Null: the recipe's vendor default (Salesforce: the token response's instance_url)."
  type        = string
  default     = null
  validation {
    condition     = var.crm_base_url == null ? true : can(regex("^https://[^\\s/?#]+(/[^\\s?#]*)?$", var.crm_base_url))
    error_message = "crm_base_url must be an https:// URL without query or fragment, e.g. https://api.hubapi.com."
  }
}

variable "crm_endpoint_url" {
  description = "HTTPS URL the worker POSTs each conversation record (and deletion request) to with the default webhook recipe (CRM_ENDPOINT_URL). Required when crm_recipe is webhook, unused otherwise."
  type        = string
  default     = null
  validation {
    condition     = var.crm_endpoint_url == null ? true : can(regex("^https://[^\\s/?#]+(/[^\\s]*)?$", var.crm_endpoint_url))
    error_message = "crm_endpoint_url must be an https:// URL: records leave Google's network and carry personal data."
  }
}

variable "crm_mapping_file" {
  description = "Optional path, relative to the repository root, of a declarative CRM mapping file (e.g. examples/mappings/hubspot.yaml). make bundle ships it in the worker's bundle and the plan fails if it is not there. Null: the built-in generic mapping."
  type        = string
  default     = null
  validation {
    condition = (
      var.crm_mapping_file == null
      ? true
      : can(regex("^[A-Za-z0-9_][A-Za-z0-9_./-]*\\.(ya?ml|json)$", var.crm_mapping_file)) && !strcontains(var.crm_mapping_file, "..")
    )
    error_message = "crm_mapping_file must be a relative .yaml/.yml/.json path inside the repository, without '..'."
  }
}

variable "crm_oauth_client_id" {
  description = "OAuth2 client id for recipes that use OAuth2 (CRM_OAUTH_CLIENT_ID). Not a secret; the client secret is the crm-oauth-client-secret secret (enable_crm_oauth_client_secret)."
  type        = string
  default     = null
  validation {
    condition     = var.crm_oauth_client_id == null ? true : can(regex("^[^\\s]{1,512}$", var.crm_oauth_client_id))
    error_message = "crm_oauth_client_id must be 1 to 512 characters without spaces."
  }
}

variable "crm_oauth_scope" {
  description = "OAuth2 scope(s), space-separated, requested by recipes that use OAuth2 (CRM_OAUTH_SCOPE). Null: the recipe's default."
  type        = string
  default     = null
  validation {
    condition     = var.crm_oauth_scope == null ? true : can(regex("^[^\\s]+( [^\\s]+)*$", var.crm_oauth_scope))
    error_message = "crm_oauth_scope must be scopes separated by single spaces, e.g. \"ZohoCRM.modules.ALL\"."
  }
}

variable "crm_oauth_token_url" {
  description = "OAuth2 token endpoint for recipes that use OAuth2 (CRM_OAUTH_TOKEN_URL). Null: the recipe's vendor default."
  type        = string
  default     = null
  validation {
    condition     = var.crm_oauth_token_url == null ? true : can(regex("^https://[^\\s/?#]+(/[^\\s?#]*)?$", var.crm_oauth_token_url))
    error_message = "crm_oauth_token_url must be an https:// URL without query or fragment."
  }
}

variable "crm_recipe" {
  description = "How records reach the CRM (CRM_RECIPE): webhook (one POST to crm_endpoint_url), a built-in recipe (hubspot, salesforce, pipedrive, zoho, dynamics, marketo) or the path, relative to the repository root, of a recipe file (e.g. examples/recipes/my-crm.yaml) that make bundle ships in the worker's bundle."
  type        = string
  default     = "webhook"
  validation {
    condition = (
      contains(["webhook", "hubspot", "salesforce", "pipedrive", "zoho", "dynamics", "marketo"], var.crm_recipe)
      || (can(regex("^[A-Za-z0-9_][A-Za-z0-9_./-]*\\.ya?ml$", var.crm_recipe)) && !strcontains(var.crm_recipe, ".."))
    )
    error_message = "crm_recipe must be webhook, hubspot, salesforce, pipedrive, zoho, dynamics, marketo, or a relative .yaml path inside the repository without '..'."
  }
}

variable "dead_letter_retention_days" {
  description = "How long the dead-letter subscription keeps undelivered events, in days (Pub/Sub allows 1 to 31)."
  type        = number
  default     = 31
  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 31 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number from 1 to 31."
  }
}

variable "dead_letter_topic_name" {
  description = "Name of the dead-letter topic (DEAD_LETTER_TOPIC): events that cannot succeed end up here."
  type        = string
  default     = "drift-events-dead-letter"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.dead_letter_topic_name)) && !startswith(lower(var.dead_letter_topic_name), "goog")
    error_message = "dead_letter_topic_name must be a valid Pub/Sub topic id (3-255 chars, starts with a letter, not with 'goog')."
  }
}

variable "drift_api_base_url" {
  description = "Base URL of the Drift REST API (DRIFT_API_BASE_URL)."
  type        = string
  default     = "https://driftapi.com"
  validation {
    condition     = can(regex("^https://[^\\s/?#]+$", var.drift_api_base_url))
    error_message = "drift_api_base_url must be an https:// origin without a path or trailing slash, e.g. https://driftapi.com."
  }
}

variable "enable_crm_api_token" {
  description = "Create the CRM API token secret and send its value to the CRM (Authorization: Bearer for webhook and HubSpot, x-api-token for Pipedrive; CRM_API_TOKEN_SECRET)."
  type        = bool
  default     = false
}

variable "enable_crm_oauth_client_secret" {
  description = "Create the CRM OAuth2 client secret (CRM_OAUTH_CLIENT_SECRET_SECRET), readable by the worker only, for recipes that use OAuth2 (Salesforce, Dynamics, Zoho, Marketo)."
  type        = bool
  default     = false
}

variable "enable_crm_oauth_refresh_token" {
  description = "Create the CRM OAuth2 refresh token secret (CRM_OAUTH_REFRESH_TOKEN_SECRET), readable by the worker only, for the refresh-token grant (Zoho)."
  type        = bool
  default     = false
}

variable "enable_crm_signing_secret" {
  description = "Create the CRM signing secret and sign each CRM body with it (X-Signature, CRM_SIGNING_SECRET_SECRET)."
  type        = bool
  default     = false
}

variable "events_retention_days" {
  description = "How long the worker's push subscription keeps an event it could not deliver yet, in days (Pub/Sub allows 1 to 31)."
  type        = number
  default     = 7
  validation {
    condition     = var.events_retention_days >= 1 && var.events_retention_days <= 31 && floor(var.events_retention_days) == var.events_retention_days
    error_message = "events_retention_days must be a whole number from 1 to 31."
  }
}

variable "events_topic_name" {
  description = "Name of the topic the webhook publishes verified Drift events to (PUBSUB_TOPIC)."
  type        = string
  default     = "drift-events"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.events_topic_name)) && !startswith(lower(var.events_topic_name), "goog")
    error_message = "events_topic_name must be a valid Pub/Sub topic id (3-255 chars, starts with a letter, not with 'goog')."
  }
}

variable "firestore_database" {
  description = "Id of the Firestore (Native mode) database of the delivery ledger (FIRESTORE_DATABASE), created in the function's region. An existing database of that id must be imported first (README)."
  type        = string
  default     = "(default)"
  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be (default) or 4-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "gdpr_action" {
  description = "What the worker does with gdpr_delete_requested (GDPR_ACTION): delete (the CRM receives the deletion request) or report (dead-lettered for a person to handle)."
  type        = string
  default     = "delete"
  validation {
    condition     = contains(["delete", "report"], var.gdpr_action)
    error_message = "gdpr_action must be delete or report."
  }
}

variable "labels" {
  description = "Labels applied to every resource that supports them (provider default_labels)."
  type        = map(string)
  default     = { app = "drift-crm-bridge" }
  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must match ^[a-z][a-z0-9_-]{0,62}$ and values ^[a-z0-9_-]{0,63}$."
  }
}

variable "ledger_collection_prefix" {
  description = "Prefix of the ledger's Firestore collections, <prefix>events and <prefix>conversations (LEDGER_COLLECTION_PREFIX); both get a TTL policy on expireAt."
  type        = string
  default     = "ledger_"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,40}$", var.ledger_collection_prefix))
    error_message = "ledger_collection_prefix must be 1-41 letters, digits, '_' or '-', starting with a letter."
  }
}

variable "ledger_retention_days" {
  description = "Days a ledger document is kept after its last change before the Firestore TTL policy deletes it (LEDGER_RETENTION_DAYS)."
  type        = number
  default     = 30
  validation {
    condition     = var.ledger_retention_days >= 1 && var.ledger_retention_days <= 3650 && floor(var.ledger_retention_days) == var.ledger_retention_days
    error_message = "ledger_retention_days must be a whole number from 1 to 3650."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of both functions."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one event to the worker before Pub/Sub forwards it to the dead-letter topic."
  type        = number
  default     = 10
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number from 5 to 100 (Pub/Sub's limits)."
  }
}

variable "max_event_age_seconds" {
  description = "MAX_EVENT_AGE_SECONDS of the worker: older events are not processed any more. Must cover the retry window (max_delivery_attempts x (maximum backoff + worker timeout)), which a precondition checks."
  type        = number
  default     = 604800
  validation {
    condition     = var.max_event_age_seconds >= 3600 && var.max_event_age_seconds <= 2678400
    error_message = "max_event_age_seconds must be from 3600 (1 hour) to 2678400 (31 days)."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, subscriptions, secrets, bucket)."
  type        = string
  default     = "drift-bridge"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,16}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-18 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen (service account ids are limited to 30 characters)."
  }
}

variable "notification_channels" {
  description = "Ids of existing notification channels (Slack, PagerDuty, ...) that also receive the alerts, as projects/<project>/notificationChannels/<id>."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "Each notification channel must look like projects/<project>/notificationChannels/<numeric id>."
  }
}

variable "pipeline" {
  description = "Optional Cloud Build pipeline (cicd.tf): three service accounts (tests, read-only plan, deploy) and three triggers on a connected repository (2nd gen: projects/<p>/locations/<l>/connections/<c>/repositories/<r>). state_bucket is the Terraform state bucket (read by the plan identity, written by the deploy identity). Null: no pipeline resources."
  type = object({
    repository     = string
    state_bucket   = string
    branch         = optional(string, "main")
    location       = optional(string)
    test_filename  = optional(string, "cloudbuild.yaml")
    plan_filename  = optional(string, "cloudbuild-plan.yaml")
    apply_filename = optional(string, "cloudbuild-apply.yaml")
  })
  default = null
  validation {
    condition = (
      var.pipeline == null
      ? true
      : can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.pipeline.repository))
      && can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.pipeline.state_bucket))
      && can(regex("^[A-Za-z0-9._/-]+$", var.pipeline.branch))
    )
    error_message = "pipeline.repository must be a Cloud Build repository id (projects/<p>/locations/<l>/connections/<c>/repositories/<r>), state_bucket a bucket name and branch a branch name."
  }
}

variable "project_id" {
  description = "Id of the GCP project to deploy into (GOOGLE_CLOUD_PROJECT of both functions)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "pubsub_kms_key_name" {
  description = "Optional Cloud KMS key (projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>) that encrypts both topics (CMEK). Null: Google-managed encryption. The Pub/Sub service agent is granted encrypter/decrypter on the key."
  type        = string
  default     = null
  validation {
    condition = (
      var.pubsub_kms_key_name == null
      ? true
      : can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.pubsub_kms_key_name))
    )
    error_message = "pubsub_kms_key_name must look like projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>."
  }
}

variable "record_reuse_seconds" {
  description = "How long a gathered conversation kept in the ledger is reused by a redelivery instead of calling Drift again (RECORD_REUSE_SECONDS)."
  type        = number
  default     = 900
  validation {
    condition     = var.record_reuse_seconds >= 0 && var.record_reuse_seconds <= 86400 && floor(var.record_reuse_seconds) == var.record_reuse_seconds
    error_message = "record_reuse_seconds must be a whole number from 0 to 86400."
  }
}

variable "region" {
  description = "Region of the functions, the Firestore database, the source bucket, the image repository and (with secret_replication = user_managed) the secrets."
  type        = string
  default     = "europe-west1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a GCP region such as europe-west1 or us-central1."
  }
}

variable "retry_maximum_backoff_seconds" {
  description = "Longest wait, in seconds, between two deliveries of an event the worker failed (exponential backoff)."
  type        = number
  default     = 600
  validation {
    condition     = var.retry_maximum_backoff_seconds >= 0 && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be from 0 to 600 (Pub/Sub's limits)."
  }
}

variable "retry_minimum_backoff_seconds" {
  description = "Shortest wait, in seconds, before redelivering an event the worker failed (exponential backoff)."
  type        = number
  default     = 10
  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be from 0 to 600 (Pub/Sub's limits)."
  }
}

variable "runtime" {
  description = "Cloud Functions Python runtime of both functions (the lock in requirements.txt is valid for 3.11 and later)."
  type        = string
  default     = "python312"
  validation {
    condition     = contains(["python311", "python312", "python313"], var.runtime)
    error_message = "runtime must be python311, python312 or python313 (the code needs Python 3.11 or later)."
  }
}

variable "secret_replication" {
  description = "Where Secret Manager keeps the secrets: automatic (Google chooses, multi-region) or user_managed (one replica, in region), for organisations whose gcp.resourceLocations policy forbids global resources. Fixed at creation: the secrets cannot be replaced."
  type        = string
  default     = "automatic"
  validation {
    condition     = contains(["automatic", "user_managed"], var.secret_replication)
    error_message = "secret_replication must be automatic or user_managed."
  }
}

variable "topic_retention_days" {
  description = "How long both topics keep every published message, acknowledged or not, in days (Pub/Sub allows up to 31): a re-created subscription loses nothing and `gcloud pubsub subscriptions seek` can replay."
  type        = number
  default     = 7
  validation {
    condition     = var.topic_retention_days >= 1 && var.topic_retention_days <= 31 && floor(var.topic_retention_days) == var.topic_retention_days
    error_message = "topic_retention_days must be a whole number from 1 to 31."
  }
}

variable "webhook_access" {
  description = "How the public webhook is opened to Drift: all_users (an allUsers run.invoker binding) or invoker_iam_disabled (no binding; the Cloud Run invoker IAM check is turned off on the webhook's service with gcloud, for organisations whose iam.allowedPolicyMemberDomains policy forbids allUsers). The verification token is checked in code either way."
  type        = string
  default     = "all_users"
  validation {
    condition     = contains(["all_users", "invoker_iam_disabled"], var.webhook_access)
    error_message = "webhook_access must be all_users or invoker_iam_disabled."
  }
}

variable "webhook_concurrency" {
  description = "Requests one webhook instance serves at once. Above 1 the instance gets a whole vCPU."
  type        = number
  default     = 10
  validation {
    condition     = var.webhook_concurrency >= 1 && var.webhook_concurrency <= 80 && floor(var.webhook_concurrency) == var.webhook_concurrency
    error_message = "webhook_concurrency must be a whole number from 1 to 80."
  }
}

variable "webhook_ingress_settings" {
  description = "Ingress of the webhook. Drift posts from the internet, so ALLOW_ALL unless a load balancer in front of it (ALLOW_INTERNAL_AND_GCLB) receives Drift's requests."
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB"], var.webhook_ingress_settings)
    error_message = "webhook_ingress_settings must be ALLOW_ALL or ALLOW_INTERNAL_AND_GCLB (internal-only would shut Drift out)."
  }
}

variable "webhook_max_instances" {
  description = "Maximum number of webhook instances."
  type        = number
  default     = 10
  validation {
    condition     = var.webhook_max_instances >= 1 && var.webhook_max_instances <= 100 && floor(var.webhook_max_instances) == var.webhook_max_instances
    error_message = "webhook_max_instances must be a whole number from 1 to 100."
  }
}

variable "webhook_memory_mb" {
  description = "Memory of a webhook instance, in MiB."
  type        = number
  default     = 256
  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.webhook_memory_mb)
    error_message = "webhook_memory_mb must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "webhook_min_instances" {
  description = "Webhook instances kept warm (0 scales to zero; 1 avoids cold starts on Drift's requests at a cost)."
  type        = number
  default     = 0
  validation {
    condition     = var.webhook_min_instances >= 0 && var.webhook_min_instances <= 10 && floor(var.webhook_min_instances) == var.webhook_min_instances
    error_message = "webhook_min_instances must be a whole number from 0 to 10."
  }
}

variable "webhook_timeout_seconds" {
  description = "Request timeout of the webhook, in seconds. It only verifies and publishes, so keep it short."
  type        = number
  default     = 30
  validation {
    condition     = var.webhook_timeout_seconds >= 5 && var.webhook_timeout_seconds <= 300 && floor(var.webhook_timeout_seconds) == var.webhook_timeout_seconds
    error_message = "webhook_timeout_seconds must be a whole number from 5 to 300."
  }
}

variable "worker_concurrency" {
  description = "Events one worker instance processes at once. worker_max_instances x worker_concurrency bounds the calls in flight to the Drift API (rate limited); a precondition keeps the product at 20 or less."
  type        = number
  default     = 1
  validation {
    condition     = var.worker_concurrency >= 1 && var.worker_concurrency <= 10 && floor(var.worker_concurrency) == var.worker_concurrency
    error_message = "worker_concurrency must be a whole number from 1 to 10."
  }
}

variable "worker_extra_env" {
  description = "Further worker settings as environment variables (e.g. CRM_GDPR_URL, CRM_TIMEOUT_SECONDS). Secrets do not go here: names containing TOKEN, SECRET, PASSWORD, KEY or CREDENTIAL are refused, and so are the variables Terraform sets itself."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.worker_extra_env) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "worker_extra_env keys must be UPPER_SNAKE_CASE environment variable names."
  }
  validation {
    condition     = !anytrue([for k in keys(var.worker_extra_env) : can(regex("TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL", k))])
    error_message = "worker_extra_env must not carry secrets (a name with TOKEN, SECRET, PASSWORD, KEY or CREDENTIAL): put them in Secret Manager."
  }
  validation {
    condition = length(setintersection(keys(var.worker_extra_env), [
      "CRM_BASE_URL", "CRM_ENDPOINT_URL", "CRM_MAPPING_FILE", "CRM_OAUTH_CLIENT_ID", "CRM_OAUTH_SCOPE",
      "CRM_RECIPE", "DEAD_LETTER_TOPIC", "DRIFT_API_BASE_URL", "FIRESTORE_DATABASE",
      "FIRESTORE_EMULATOR_HOST", "FUNCTION_TIMEOUT_SECONDS", "GDPR_ACTION", "GOOGLE_CLOUD_PROJECT",
      "LEDGER", "LEDGER_COLLECTION_PREFIX", "LEDGER_RETENTION_DAYS", "LOG_LEVEL",
      "MAX_EVENT_AGE_SECONDS", "PUBSUB_EMULATOR_HOST", "RECORD_REUSE_SECONDS",
    ])) == 0
    error_message = "worker_extra_env must not override a variable Terraform sets from its own inputs (CRM_RECIPE, LEDGER, LOG_LEVEL, ...)."
  }
}

variable "worker_ingress_settings" {
  description = "Ingress of the worker. ALLOW_INTERNAL_ONLY admits Pub/Sub push from this project and nothing from the internet; IAM (run.invoker for the push invoker only) applies on top of any setting."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.worker_ingress_settings)
    error_message = "worker_ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "worker_max_instances" {
  description = "Maximum number of worker instances (see worker_concurrency for the Drift rate limit)."
  type        = number
  default     = 3
  validation {
    condition     = var.worker_max_instances >= 1 && var.worker_max_instances <= 20 && floor(var.worker_max_instances) == var.worker_max_instances
    error_message = "worker_max_instances must be a whole number from 1 to 20."
  }
}

variable "worker_memory_mb" {
  description = "Memory of a worker instance, in MiB."
  type        = number
  default     = 512
  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.worker_memory_mb)
    error_message = "worker_memory_mb must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "worker_timeout_seconds" {
  description = "Timeout of one worker delivery, in seconds (FUNCTION_TIMEOUT_SECONDS: the ledger's lease outlives it). The push subscription's ack deadline is set to cover it, so it is capped at Pub/Sub's 600."
  type        = number
  default     = 300
  validation {
    condition     = var.worker_timeout_seconds >= 10 && var.worker_timeout_seconds <= 600 && floor(var.worker_timeout_seconds) == var.worker_timeout_seconds
    error_message = "worker_timeout_seconds must be a whole number from 10 to 600 (a push subscription's ack deadline cannot exceed 600 s)."
  }
}
