# Optional (var.pipeline): the Cloud Build pipeline, with one identity per trust level.
#
#   trigger   branches       build file             identity  can
#   tests     every branch   cloudbuild.yaml        ci        write its build logs: nothing else
#   plan      every branch   cloudbuild-plan.yaml   plan      read the project (roles/viewer) and
#                                                             the state (objectViewer on the
#                                                             state bucket; plans run -lock=false)
#   apply     main only,     cloudbuild-apply.yaml  deploy    change the deployment
#             after approval
#
# Builds of any branch run repository code that nobody has reviewed yet (the tests, the
# Terraform configuration of a pull request, whose data sources run at plan time), so the
# identities that run them can change nothing. The deploy identity only runs what reached
# the main branch, and only once a person with Cloud Build Approver
# (roles/cloudbuild.builds.approver) has approved the build.

locals {
  pipeline_enabled  = var.pipeline != null
  pipeline_location = local.pipeline_enabled ? coalesce(var.pipeline.location, var.region) : null

  pipeline_identities = local.pipeline_enabled ? {
    ci = {
      display     = "Drift bridge CI tests"
      description = "Runs make test on every branch: can write its build logs and nothing else."
    }
    plan = {
      display     = "Drift bridge plan (read-only)"
      description = "Runs terraform plan on every branch: reads the project and the state, changes nothing."
    }
    deploy = {
      display     = "Drift bridge deploy"
      description = "Applies Terraform, from the main branch only, after an approval."
    }
  } : {}

  # Everything the deploy identity needs to create, change and delete what this module
  # manages (and the pipeline itself). Only it holds admin roles.
  deploy_roles = [
    "roles/artifactregistry.admin",
    "roles/cloudbuild.builds.editor",
    "roles/cloudfunctions.admin",
    "roles/datastore.owner",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/logging.configWriter",
    "roles/monitoring.editor",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ]
  pipeline_project_roles = {
    ci     = ["roles/logging.logWriter"]
    plan   = ["roles/logging.logWriter", "roles/viewer"]
    deploy = concat(["roles/logging.logWriter"], local.deploy_roles)
  }
  pipeline_project_grants = local.pipeline_enabled ? {
    for grant in flatten([
      for identity, roles in local.pipeline_project_roles : [
        for role in roles : { identity = identity, role = role }
      ]
    ]) : "${grant.identity} ${grant.role}" => grant
  } : {}

  # The Terraform state: the plan identity reads it, the deploy identity writes it.
  pipeline_state_roles = local.pipeline_enabled ? {
    plan   = "roles/storage.objectViewer"
    deploy = "roles/storage.objectAdmin"
  } : {}

  pipeline_branch_triggers = local.pipeline_enabled ? {
    tests = {
      identity    = "ci"
      filename    = var.pipeline.test_filename
      description = "make test on every push: lint, Terraform checks, the whole test suite. Deploys nothing."
    }
    plan = {
      identity    = "plan"
      filename    = var.pipeline.plan_filename
      description = "terraform plan on every push, with the read-only identity: shows what a merge would change."
    }
  } : {}
}

resource "google_service_account" "pipeline" {
  for_each     = local.pipeline_identities
  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = each.value.display
  description  = each.value.description
  depends_on   = [time_sleep.apis]
}

resource "google_project_iam_member" "pipeline" {
  for_each = local.pipeline_project_grants
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.pipeline[each.value.identity].email}"
}

resource "google_storage_bucket_iam_member" "pipeline_state" {
  for_each = local.pipeline_state_roles
  bucket   = var.pipeline.state_bucket
  role     = each.value
  member   = "serviceAccount:${google_service_account.pipeline[each.key].email}"
}

resource "google_cloudbuild_trigger" "pipeline_branch" {
  for_each        = local.pipeline_branch_triggers
  project         = var.project_id
  location        = local.pipeline_location
  name            = "${var.name_prefix}-${each.key}"
  description     = each.value.description
  filename        = each.value.filename
  service_account = google_service_account.pipeline[each.value.identity].id
  repository_event_config {
    repository = var.pipeline.repository
    push {
      branch = ".*"
    }
  }
  depends_on = [google_project_iam_member.pipeline]
}

resource "google_cloudbuild_trigger" "pipeline_apply" {
  count           = local.pipeline_enabled ? 1 : 0
  project         = var.project_id
  location        = local.pipeline_location
  name            = "${var.name_prefix}-apply"
  description     = "terraform apply of ${var.pipeline.branch}, with the deploy identity, once a person has approved the build."
  filename        = var.pipeline.apply_filename
  service_account = google_service_account.pipeline["deploy"].id
  repository_event_config {
    repository = var.pipeline.repository
    push {
      branch = "^${var.pipeline.branch}$"
    }
  }
  approval_config {
    approval_required = true
  }
  # cloudbuild-apply.yaml refuses to run for any other branch, should the trigger change.
  substitutions = {
    _DEPLOY_BRANCH = var.pipeline.branch
  }
  depends_on = [google_project_iam_member.pipeline]
}
