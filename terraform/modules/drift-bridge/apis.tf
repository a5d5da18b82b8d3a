# The Google APIs the bridge uses. Never disabled on destroy: other workloads in
# the project may rely on them, and re-enabling is slow.

locals {
  services = toset([
    "artifactregistry.googleapis.com",     # the functions' container images
    "cloudbuild.googleapis.com",           # builds the bundles into images
    "cloudfunctions.googleapis.com",       # the two functions (2nd gen)
    "cloudresourcemanager.googleapis.com", # project lookup and project IAM
    "firestore.googleapis.com",            # the delivery ledger
    "iam.googleapis.com",                  # service accounts
    "logging.googleapis.com",              # log-based metrics
    "monitoring.googleapis.com",           # alert policies, notification channels
    "pubsub.googleapis.com",               # topics and subscriptions
    "run.googleapis.com",                  # 2nd gen functions run on Cloud Run
    "secretmanager.googleapis.com",        # the Drift and CRM secrets
    "storage.googleapis.com",              # the bundle bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each                   = local.services
  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}

# A freshly enabled API can answer "has not been used in project ... or it is
# disabled" for a minute or two. Everything that calls one of these APIs waits on
# this pause, which only runs when the set of services changes.
resource "time_sleep" "apis" {
  create_duration = "60s"
  triggers = {
    services = join(",", sort(tolist(local.services)))
  }
  depends_on = [google_project_service.enabled]
}
