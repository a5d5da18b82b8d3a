# One configuration for both paths. Every setting lives in deploy.auto.tfvars (committed),
# which Terraform reads by itself by hand and in Cloud Build. A git-ignored terraform.tfvars
# or another *.auto.tfvars would take effect by hand only, and the next pipeline apply
# would undo what it set (a region, a secret, a mapping), so a plan that finds one fails.

locals {
  stray_tfvars = setunion(
    fileset(path.root, "terraform.tfvars*"),
    setsubtract(fileset(path.root, "*.auto.tfvars*"), ["deploy.auto.tfvars"]),
  )
}

resource "terraform_data" "one_configuration" {
  input = "deploy.auto.tfvars"
  lifecycle {
    precondition {
      condition     = length(setsubtract(local.stray_tfvars, ["terraform.tfvars.example"])) == 0
      error_message = "Settings belong in deploy.auto.tfvars (committed, read by hand and by the pipeline alike); move these into it and delete them: the pipeline would not see them."
    }
  }
}
