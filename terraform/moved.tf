# A deployment made before the module existed keeps everything it has: these blocks move
# each resource of the old single-directory layout to its address in the module, so the
# first plan after the upgrade moves state instead of destroying and re-creating (which the
# prevent_destroy resources would refuse anyway). The old function_errors metric is
# replaced by unexpected_errors (a new name, so a new metric) and the dead-letter backlog
# alert is removed: dead letters now page once, through crm_rejected or dead_lettered_other.
# Safe to delete once every deployment has applied a plan with them.

moved {
  from = google_project_service.enabled
  to   = module.drift_bridge.google_project_service.enabled
}

moved {
  from = time_sleep.apis
  to   = module.drift_bridge.time_sleep.apis
}

moved {
  from = google_storage_bucket.sources
  to   = module.drift_bridge.google_storage_bucket.sources
}

moved {
  from = google_storage_bucket_object.bundle
  to   = module.drift_bridge.google_storage_bucket_object.bundle
}

moved {
  from = google_artifact_registry_repository.functions
  to   = module.drift_bridge.google_artifact_registry_repository.functions
}

moved {
  from = google_cloudfunctions2_function.webhook
  to   = module.drift_bridge.google_cloudfunctions2_function.webhook
}

moved {
  from = google_cloudfunctions2_function.worker
  to   = module.drift_bridge.google_cloudfunctions2_function.worker
}

moved {
  from = google_pubsub_topic_iam_member.events_webhook
  to   = module.drift_bridge.google_pubsub_topic_iam_member.events_webhook
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_worker
  to   = module.drift_bridge.google_pubsub_topic_iam_member.dead_letter_worker
}

moved {
  from = google_secret_manager_secret_iam_member.accessor
  to   = module.drift_bridge.google_secret_manager_secret_iam_member.accessor
}

moved {
  from = google_cloud_run_v2_service_iam_member.worker_push_invoker
  to   = module.drift_bridge.google_cloud_run_v2_service_iam_member.worker_push_invoker
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_pubsub_agent
  to   = module.drift_bridge.google_pubsub_topic_iam_member.dead_letter_pubsub_agent
}

moved {
  from = google_pubsub_subscription_iam_member.worker_pubsub_agent
  to   = module.drift_bridge.google_pubsub_subscription_iam_member.worker_pubsub_agent
}

moved {
  from = google_service_account_iam_member.push_invoker_token_creator
  to   = module.drift_bridge.google_service_account_iam_member.push_invoker_token_creator
}

moved {
  from = google_kms_crypto_key_iam_member.pubsub_agent
  to   = module.drift_bridge.google_kms_crypto_key_iam_member.pubsub_agent
}

moved {
  from = google_project_iam_member.build_log_writer
  to   = module.drift_bridge.google_project_iam_member.build_log_writer
}

moved {
  from = google_artifact_registry_repository_iam_member.build_writer
  to   = module.drift_bridge.google_artifact_registry_repository_iam_member.build_writer
}

moved {
  from = google_storage_bucket_iam_member.build_source_reader
  to   = module.drift_bridge.google_storage_bucket_iam_member.build_source_reader
}

moved {
  from = google_project_iam_member.build_staged_sources
  to   = module.drift_bridge.google_project_iam_member.build_staged_sources
}

moved {
  from = time_sleep.build_iam
  to   = module.drift_bridge.time_sleep.build_iam
}

moved {
  from = google_monitoring_notification_channel.email
  to   = module.drift_bridge.google_monitoring_notification_channel.email
}

moved {
  from = time_sleep.log_metrics
  to   = module.drift_bridge.time_sleep.log_metrics
}

moved {
  from = google_project_service_identity.pubsub
  to   = module.drift_bridge.google_project_service_identity.pubsub
}

moved {
  from = google_pubsub_topic.events
  to   = module.drift_bridge.google_pubsub_topic.events
}

moved {
  from = google_pubsub_topic.dead_letter
  to   = module.drift_bridge.google_pubsub_topic.dead_letter
}

moved {
  from = google_pubsub_subscription.dead_letter
  to   = module.drift_bridge.google_pubsub_subscription.dead_letter
}

moved {
  from = google_pubsub_subscription.worker
  to   = module.drift_bridge.google_pubsub_subscription.worker
}

moved {
  from = google_secret_manager_secret.this
  to   = module.drift_bridge.google_secret_manager_secret.this
}

moved {
  from = google_service_account.webhook
  to   = module.drift_bridge.google_service_account.webhook
}

moved {
  from = google_service_account.worker
  to   = module.drift_bridge.google_service_account.worker
}

moved {
  from = google_service_account.push_invoker
  to   = module.drift_bridge.google_service_account.push_invoker
}

moved {
  from = google_service_account.build
  to   = module.drift_bridge.google_service_account.build
}

moved {
  from = google_cloud_run_v2_service_iam_member.webhook_public
  to   = module.drift_bridge.google_cloud_run_v2_service_iam_member.webhook_public[0]
}

moved {
  from = google_logging_metric.app_disconnected
  to   = module.drift_bridge.google_logging_metric.this["app_disconnected"]
}

moved {
  from = google_monitoring_alert_policy.app_disconnected
  to   = module.drift_bridge.google_monitoring_alert_policy.log["app_disconnected"]
}

moved {
  from = google_monitoring_alert_policy.function_errors
  to   = module.drift_bridge.google_monitoring_alert_policy.log["unexpected_errors"]
}
