# Secret Manager secrets, without values: no secret value ever enters Terraform
# state. Add each value after `terraform apply` (see README.md):
#
#   printf %s "$TOKEN" | gcloud secrets versions add <secret id> --data-file=-
#
# The functions read `.../versions/latest` at run time through their own service
# account and re-read it on an authentication failure, so rotating a value is one
# `versions add` with no redeploy. prevent_destroy: a secret holds its versions, and
# nothing can bring a deleted value back, so a plan that would delete one fails.

locals {
  secrets = {
    drift_verification_token = {
      enabled = true
      env     = "DRIFT_VERIFICATION_TOKEN_SECRET"
      reader  = "webhook"
      summary = "Verification token of the Drift app (dev.drift.com > your app > App Settings)."
    }
    drift_access_token = {
      enabled = true
      env     = "DRIFT_ACCESS_TOKEN_SECRET"
      reader  = "worker"
      summary = "OAuth access token of the Drift app, for the Drift REST API."
    }
    crm_api_token = {
      enabled = var.enable_crm_api_token
      env     = "CRM_API_TOKEN_SECRET"
      reader  = "worker"
      summary = "API token the worker sends to the CRM (bearer token, or the vendor's token header)."
    }
    crm_signing_secret = {
      enabled = var.enable_crm_signing_secret
      env     = "CRM_SIGNING_SECRET_SECRET"
      reader  = "worker"
      summary = "HMAC-SHA256 key the worker signs CRM bodies with (X-Signature)."
    }
    crm_oauth_client_secret = {
      enabled = var.enable_crm_oauth_client_secret
      env     = "CRM_OAUTH_CLIENT_SECRET_SECRET"
      reader  = "worker"
      summary = "OAuth2 client secret of the CRM app, for recipes that use OAuth2."
    }
    crm_oauth_refresh_token = {
      enabled = var.enable_crm_oauth_refresh_token
      env     = "CRM_OAUTH_REFRESH_TOKEN_SECRET"
      reader  = "worker"
      summary = "OAuth2 refresh token of the CRM app, for the refresh-token grant."
    }
  }
  enabled_secrets = { for k, v in local.secrets : k => v if v.enabled }

  # automatic: Google places the replicas; user_managed: one replica in the function's
  # region, for a gcp.resourceLocations policy that refuses global resources.
  secret_replica_locations = var.secret_replication == "user_managed" ? [var.region] : []

  # What the functions get in their *_SECRET variables.
  secret_versions = {
    for k, v in google_secret_manager_secret.this :
    k => "projects/${var.project_id}/secrets/${v.secret_id}/versions/latest"
  }
}

resource "google_secret_manager_secret" "this" {
  for_each  = local.enabled_secrets
  project   = var.project_id
  secret_id = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  annotations = {
    summary = each.value.summary
  }
  replication {
    dynamic "auto" {
      for_each = length(local.secret_replica_locations) == 0 ? [true] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = length(local.secret_replica_locations) == 0 ? [] : [true]
      content {
        dynamic "replicas" {
          for_each = local.secret_replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }
  lifecycle {
    prevent_destroy = true
  }
  depends_on = [time_sleep.apis]
}
