# The AWS side as one CloudFormation stack (node role and instance profile, interruption queue and
# rules, controller role), as the seed's getting-started path creates it, and the cluster side from
# Terraform. The seed's own clean-up (`aws cloudformation delete-stack --stack-name
# Karpenter-<cluster>`) removes exactly what the stack made; `terraform destroy` removes everything.

terraform {
  required_version = ">= 1.10"
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

provider "karpenter" {
  region       = var.region
  cluster_name = var.cluster_name
}

resource "karpenter_bootstrap_stack" "karpenter" {
  interruption_kinds = var.interruption_kinds
  tags               = var.tags
}

locals {
  stack = karpenter_bootstrap_stack.karpenter.outputs
}

resource "karpenter_node_access" "node" {
  node_role_arn = local.stack["NodeRoleArn"]
}

resource "karpenter_controller" "controller" {
  image              = var.controller_image
  env                = var.controller_env
  cluster_endpoint   = var.cluster_endpoint
  interruption_queue = local.stack["InterruptionQueueName"]

  # Nodes must be able to join while the controller runs, also while it drains them on destroy.
  depends_on = [karpenter_node_access.node]
}

module "provisioner" {
  source = "../../modules/spot-provisioner"

  name               = "default"
  cluster_name       = var.cluster_name
  instance_profile   = local.stack["InstanceProfileName"]
  controller_objects = karpenter_controller.controller.objects
  on_demand_fallback = var.on_demand_fallback
}
