# The deployable bundles built by `make bundle` (scripts/bundle.py): one zip per
# function, main.py at its root, the shared package and the locked requirements.txt; the
# worker's also holds examples/mappings/ and examples/recipes/ and any mapping or recipe
# file terraform/deploy.auto.tfvars names. Each object's name carries the zip's SHA-256,
# so any code change is a new object and a redeploy, and an unchanged tree (the zips are
# byte-reproducible) is no change. manifest.json lists what each zip holds, so the plan
# can refuse a mapping or recipe file the worker would not find at start-up.

locals {
  bundles = {
    webhook = "${var.bundle_dir}/webhook.zip"
    worker  = "${var.bundle_dir}/worker.zip"
  }
  bundle_manifest     = jsondecode(file("${var.bundle_dir}/manifest.json"))
  worker_bundle_files = toset(local.bundle_manifest.worker.files)
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds only the two deploy bundles (code, no data or secrets), written by Terraform and read by Cloud Build; a usage-log bucket would record nothing worth reviewing. Enable Data Access audit logs project-wide if your policy needs object-level records.
  project                     = var.project_id
  name                        = local.names.source_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build inputs, reproducible from git

  versioning {
    enabled = true
  }

  # Replaced bundles become noncurrent versions: keep a few for forensics only.
  lifecycle_rule {
    condition {
      num_newer_versions = 3
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_storage_bucket_object" "bundle" {
  for_each     = local.bundles
  bucket       = google_storage_bucket.sources.name
  name         = "${each.key}-${filesha256(each.value)}.zip"
  source       = each.value
  content_type = "application/zip"
}
