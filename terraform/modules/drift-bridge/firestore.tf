# The delivery ledger: a Firestore database in Native mode, in the functions' region, where
# the worker records each event's progress (claims, step checkpoints, conversation memory).
#
# Point-in-time recovery keeps 7 days of versions to read or restore from; delete protection
# refuses a delete through the API, and prevent_destroy refuses a plan that would delete it.
# Every ledger document carries an expireAt timestamp; the TTL policies below delete a
# document once that time has passed (Firestore removes expired documents within a day or
# so), so the ledger keeps ledger_retention_days of history and no more.
#
# An existing database of the same id (for instance a (default) database made in the
# console) must be imported before the first apply, see README.md.

locals {
  ledger_collections = {
    events        = "${var.ledger_collection_prefix}events"
    conversations = "${var.ledger_collection_prefix}conversations"
  }
}

resource "google_firestore_database" "ledger" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC" # transactions lock: claims never race
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  lifecycle {
    prevent_destroy = true
  }
  depends_on = [time_sleep.apis]
}

# TTL on expireAt for both collection groups. index_config {} removes the single-field
# indexes of expireAt: nothing queries it, and an index on an ever-growing timestamp is a
# write hotspot Firestore's TTL documentation warns about.
resource "google_firestore_field" "ledger_ttl" {
  for_each   = local.ledger_collections
  project    = var.project_id
  database   = google_firestore_database.ledger.name
  collection = each.value
  field      = "expireAt"
  ttl_config {}
  index_config {}
}
