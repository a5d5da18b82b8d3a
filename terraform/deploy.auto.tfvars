# The deployment's settings: committed, and read by Terraform itself both when you run it by
# hand in this directory and in Cloud Build (cloudbuild-plan.yaml, cloudbuild-apply.yaml pass
# no variables of their own), so the two paths cannot diverge. Change a setting here, open a
# pull request, read its plan, merge, approve the apply. No secret values here: they go to
# Secret Manager (README.md, "Add the secret values"). Every other input keeps the default
# shown in README.md's table; terraform.tfvars.example shows the common ones.

project_id = "my-drift-bridge-project"
region     = "europe-west1"

# How records reach the CRM: the default webhook recipe POSTs each record to crm_endpoint_url.
crm_recipe       = "webhook"
crm_endpoint_url = "https://crm.example.com/api/drift/conversations"

# Alerts: an e-mail channel is created for alert_email.
alert_email = "oncall@example.com"

# The Cloud Build pipeline (cicd.tf): service accounts and triggers. Connect the repository
# first (README.md, "Cloud Build"), then set its id and the state bucket of deploy.gcs.tfbackend.
# pipeline = {
#   repository   = "projects/my-drift-bridge-project/locations/europe-west1/connections/github/repositories/drift-crm-bridge"
#   state_bucket = "my-drift-bridge-project-tfstate"
# }
