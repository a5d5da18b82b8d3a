# Providers the module needs. The root configuration (terraform/versions.tf) pins the exact
# release line; a module only states what it was written for, so a platform team embedding
# it can pin within that range. google-beta is used for one resource only
# (google_project_service_identity, see pubsub.tf); time gives the API and IAM propagation
# pauses an empty project needs (see apis.tf and iam.tf).

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50.0, < 7.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.50.0, < 7.0.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.12.0"
    }
  }
}
