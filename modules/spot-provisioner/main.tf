# A spot-first Provisioner over many instance types and zones, picked by the karpenter_instance_types
# data source: the seed's advice is that every extra (type, zone) pool is another place spot capacity
# can come from, and that burstable and fixed-performance families must not share a provisioner.

terraform {
  # The lowest versions the tests run: OpenTofu 1.10 (and Terraform 1.11).
  required_version = ">= 1.10"
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

data "karpenter_instance_types" "candidates" {
  capacity_type      = "spot"
  cpu_architecture   = var.cpu_architecture
  min_vcpus          = var.min_vcpus
  max_vcpus          = var.max_vcpus
  min_memory_gib     = var.min_memory_gib
  max_memory_gib     = var.max_memory_gib
  families           = var.families
  current_generation = var.current_generation
  max_price_per_hour = var.max_price_per_hour
  zones              = var.zones
  exclude_burstable  = !var.burstable
}

locals {
  # The data source's `burstable` is what EC2 reports (BurstablePerformanceSupported), which is not
  # set for every T family type; the seed's concern is the T family itself, so the name counts too.
  matching = [
    for t in data.karpenter_instance_types.candidates.instance_types : t
    if var.burstable == (t.burstable || can(regex("^t[0-9]", t.name)))
  ]
  # Cheapest first, then sorted by name: a price change that keeps the same types is no diff.
  chosen         = slice(local.matching, 0, min(length(local.matching), var.max_instance_types))
  instance_types = sort([for t in local.chosen : t.name])
  zones          = sort(distinct(flatten([for t in local.chosen : t.zones])))
  capacity_types = var.on_demand_fallback ? ["spot", "on-demand"] : ["spot"]
  discovery      = { "karpenter.sh/discovery" = var.cluster_name }
  kube_arch      = { x86_64 = "amd64", arm64 = "arm64" }[var.cpu_architecture]
}

# Creating this object after the controller's and destroying it before gives the Provisioner the
# ordering depends_on would, without making the data source above wait for the controller.
resource "terraform_data" "controller" {
  input = var.controller_objects
}

resource "karpenter_provisioner" "this" {
  name = var.name

  requirement {
    key      = "node.kubernetes.io/instance-type"
    operator = "In"
    values   = local.instance_types
  }
  requirement {
    key      = "topology.kubernetes.io/zone"
    operator = "In"
    values   = local.zones
  }
  requirement {
    key      = "karpenter.sh/capacity-type"
    operator = "In"
    values   = local.capacity_types
  }
  requirement {
    key      = "kubernetes.io/arch"
    operator = "In"
    values   = [local.kube_arch]
  }

  dynamic "taint" {
    for_each = var.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  aws {
    subnet_selector         = var.subnet_selector != null ? var.subnet_selector : local.discovery
    security_group_selector = var.security_group_selector != null ? var.security_group_selector : local.discovery
    instance_profile        = var.instance_profile
    ami_family              = var.ami_family
    tags                    = var.tags
  }

  labels                    = var.labels
  limits                    = var.limits
  weight                    = var.weight
  ttl_seconds_after_empty   = var.ttl_seconds_after_empty
  ttl_seconds_until_expired = var.ttl_seconds_until_expired

  lifecycle {
    precondition {
      condition     = length(local.instance_types) > 0
      error_message = "No ${var.burstable ? "burstable" : "fixed-performance"} ${var.cpu_architecture} instance type sold as spot matches the filters (vCPUs ${var.min_vcpus}-${var.max_vcpus}, families, memory, price, zones): widen them."
    }
  }

  depends_on = [terraform_data.controller]
}
