# The seed's spot-fleet Provisioner with everything it needs around it: the node role and instance
# profile, the interruption queue fed by EventBridge, the controller's policy and its installation.
#
# AWS comes from the standard SDK configuration (AWS_ENDPOINT_URL, AWS_REGION, credentials) and the
# cluster from KUBECONFIG, so the same files apply to the local environment (`make demo`) and to EKS.

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

resource "karpenter_node_role" "node" {}

resource "karpenter_instance_profile" "node" {
  role_name = karpenter_node_role.node.name
}

resource "karpenter_interruption_queue" "events" {}

resource "karpenter_interruption_rule" "events" {
  for_each  = toset(var.interruption_kinds)
  kind      = each.key
  queue_arn = karpenter_interruption_queue.events.arn
}

resource "karpenter_controller_policy" "controller" {
  node_role_arn = karpenter_node_role.node.arn
  queue_arn     = karpenter_interruption_queue.events.arn
}

# With the cluster's OIDC provider, the controller's pods assume this role through IRSA.
resource "karpenter_controller_role" "controller" {
  count             = var.oidc_provider_arn != null ? 1 : 0
  policy_arn        = karpenter_controller_policy.controller.arn
  oidc_provider_arn = var.oidc_provider_arn
}

resource "karpenter_controller" "controller" {
  image              = var.controller_image
  env                = var.controller_env
  cluster_endpoint   = var.cluster_endpoint
  interruption_queue = karpenter_interruption_queue.events.name

  role_arn                   = var.oidc_provider_arn != null ? karpenter_controller_role.controller[0].arn : null
  project_web_identity_token = var.oidc_provider_arn != null && var.project_web_identity_token
}

# The seed's Provisioner, field for field.
resource "karpenter_provisioner" "spot_fleet" {
  name = "spot-fleet"
  requirement {
    key      = "node.kubernetes.io/instance-type"
    operator = "In"
    values   = ["m5.large", "m5.2xlarge"]
  }
  requirement {
    key      = "topology.kubernetes.io/zone"
    operator = "In"
    values   = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
  }
  requirement {
    key      = "karpenter.sh/capacity-type" # defaults to on-demand
    operator = "In"
    values   = ["spot"] # ["spot", "on-demand"]
  }
  aws {
    subnet_selector = { "karpenter.sh/discovery" = var.cluster_name }
  }
  ttl_seconds_until_expired = 2592000

  # Destroy deletes the Provisioner (its nodes drained by the controller) before the controller.
  depends_on = [karpenter_controller.controller]
}
