# Terraform and provider pins of the deployment. The google provider is pinned to the
# release line the configuration was written and schema-checked against (6.50, see
# scripts/tf_schema.py); commit the .terraform.lock.hcl that the first `terraform init`
# writes, so every run, Cloud Build's included, uses the same provider builds.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }
}
