# The seed's instance type query,
#
#   ec2-instance-selector --memory 4 --vcpus 2 --cpu-architecture x86_64 -r ap-southeast-1
#
# asked of EC2 by the karpenter_instance_types data source at plan time, its answer feeding the
# Provisioners. The seed's list mixes burstable types (t2.medium, t3.medium, ...) with fixed-performance
# ones (c5.large, c6i.large, ...), and its own advice is never to mix them in one Provisioner: the
# answer is therefore split in two, each spread over every zone that offers its types.

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

module "karpenter" {
  source = "../../modules/karpenter"

  cluster_name        = var.cluster_name
  cluster_endpoint    = var.cluster_endpoint
  controller_image    = var.controller_image
  controller_env      = var.controller_env
  provisioner_enabled = false
}

data "karpenter_instance_types" "selector" {
  memory_gib       = var.memory_gib
  vcpus            = var.vcpus
  cpu_architecture = var.cpu_architecture
  capacity_type    = "spot"
}

locals {
  selected = data.karpenter_instance_types.selector.instance_types
  # EC2's BurstablePerformanceSupported is not set for every T family type; the name settles it.
  is_burstable = { for t in local.selected : t.name => t.burstable || can(regex("^t[0-9]", t.name)) }

  groups = {
    fixed     = [for t in local.selected : t if !local.is_burstable[t.name]]
    burstable = [for t in local.selected : t if local.is_burstable[t.name]]
  }
  # Only groups with types become Provisioners: an empty `In` requirement is invalid.
  provisioners = {
    for group, types in local.groups : group => {
      name           = group == "fixed" ? var.name : "${var.name}-burstable"
      weight         = group == "fixed" ? 10 : 1
      instance_types = sort([for t in types : t.name])
      zones          = sort(distinct(flatten([for t in types : t.zones])))
    }
    if length(types) > 0 && (group == "fixed" || var.burstable_provisioner)
  }
  discovery = { "karpenter.sh/discovery" = var.cluster_name }
}

resource "karpenter_provisioner" "selected" {
  for_each = local.provisioners

  name = each.value.name
  # Fixed-performance capacity is preferred; the burstable types only take what it cannot.
  weight = each.value.weight

  requirement {
    key      = "node.kubernetes.io/instance-type"
    operator = "In"
    values   = each.value.instance_types
  }
  requirement {
    key      = "topology.kubernetes.io/zone"
    operator = "In"
    values   = each.value.zones
  }
  requirement {
    key      = "karpenter.sh/capacity-type"
    operator = "In"
    values   = ["spot"]
  }
  aws {
    subnet_selector         = local.discovery
    security_group_selector = local.discovery
    instance_profile        = module.karpenter.instance_profile_name
  }
  ttl_seconds_after_empty   = 30
  ttl_seconds_until_expired = 2592000

  # After the controller (its CRD) is installed, and destroyed while it still runs to drain nodes.
  depends_on = [module.karpenter]
}
