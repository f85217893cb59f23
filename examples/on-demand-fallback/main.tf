# Spot first, on-demand when spot has no capacity: one Provisioner allowing both capacity types.
# The controller launches spot for every pod that does not ask for a capacity type, and only when
# CreateFleet reports no spot capacity in any allowed pool does it launch on-demand instead.
#
# AWS comes from the standard SDK configuration (AWS_ENDPOINT_URL, AWS_REGION, credentials) and the
# cluster from KUBECONFIG, as in examples/spot-fleet.

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

  cluster_name     = var.cluster_name
  cluster_endpoint = var.cluster_endpoint
  controller_image = var.controller_image
  controller_env   = var.controller_env

  # The seed's Karpenter does not fall back when the account's spot quota is reached
  # (MaxSpotInstanceCountExceeded), only when the pools are out of capacity; here both fall back.
  spot_quota_fallback = true

  # The provisioner below replaces the module's default one.
  provisioner_enabled = false
}

module "spot_with_fallback" {
  source = "../../modules/spot-provisioner"

  name               = "spot-with-fallback"
  cluster_name       = var.cluster_name
  instance_profile   = module.karpenter.instance_profile_name
  controller_objects = module.karpenter.controller_objects

  on_demand_fallback = true
  min_vcpus          = var.min_vcpus
  max_vcpus          = var.max_vcpus
  zones              = var.zones
  limits             = var.limits
}
