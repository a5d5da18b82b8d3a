# Remote state in a GCS bucket. The bucket and prefix are in deploy.gcs.tfbackend
# (committed), which the hand path and the pipeline both pass to init:
#
#   terraform init -backend-config=deploy.gcs.tfbackend

terraform {
  backend "gcs" {}
}
