# Remote state in a GCS bucket, configured at init time (partial configuration) so
# that no bucket name is committed:
#
#   terraform init \
#     -backend-config="bucket=<state bucket>" \
#     -backend-config="prefix=drift-crm-bridge"
#
# cloudbuild.yaml passes the same two values from its _TF_STATE_BUCKET and
# _TF_STATE_PREFIX substitutions.

terraform {
  backend "gcs" {}
}
