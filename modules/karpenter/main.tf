# Everything karpenter-rs needs for one cluster. Names of the AWS objects derive from the provider's
# cluster_name, so one provider configuration holds one instance of this module.

terraform {
  # The lowest versions the tests run: OpenTofu 1.10 (and Terraform 1.11).
  required_version = ">= 1.10"
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

resource "karpenter_node_role" "node" {
  additional_policy_arns = var.node_additional_policy_arns
  tags                   = var.tags
}

resource "karpenter_instance_profile" "node" {
  role_name = karpenter_node_role.node.name
  tags      = var.tags
}

resource "karpenter_node_access" "node" {
  count         = var.node_access_enabled ? 1 : 0
  node_role_arn = karpenter_node_role.node.arn
  mode          = var.node_access_mode
}

resource "karpenter_interruption_queue" "events" {
  message_retention_seconds = var.queue_message_retention_seconds
  tags                      = var.tags
}

resource "karpenter_interruption_rule" "events" {
  for_each  = var.interruption_kinds
  kind      = each.key
  queue_arn = karpenter_interruption_queue.events.arn
  tags      = var.tags
}

resource "karpenter_controller_policy" "controller" {
  node_role_arn = karpenter_node_role.node.arn
  queue_arn     = karpenter_interruption_queue.events.arn
  tags          = var.tags
}

resource "karpenter_controller_role" "controller" {
  policy_arn        = karpenter_controller_policy.controller.arn
  oidc_provider_arn = var.oidc_provider_arn
  # The service account's namespace is part of an IRSA trust only; Pod Identity names it in the
  # association instead.
  namespace = var.oidc_provider_arn != null ? var.controller_namespace : null
  tags      = var.tags
}

resource "karpenter_controller" "controller" {
  image                       = var.controller_image
  namespace                   = var.controller_namespace
  replicas                    = var.controller_replicas
  log_level                   = var.controller_log_level
  role_arn                    = var.oidc_provider_arn != null ? karpenter_controller_role.controller.arn : null
  service_account_annotations = var.controller_service_account_annotations
  imds_monitor                = var.imds_monitor
  env                         = var.controller_env
  # A token without a role to exchange it for is refused, so it follows the IRSA choice.
  project_web_identity_token = var.oidc_provider_arn != null && var.controller_project_web_identity_token

  cluster_endpoint     = var.cluster_endpoint
  interruption_queue   = karpenter_interruption_queue.events.name
  interruption_actions = var.interruption_actions
  spot_quota_fallback  = var.spot_quota_fallback
  batch_idle_duration  = var.batch_idle_duration
  batch_max_duration   = var.batch_max_duration
  ice_cache_ttl        = var.ice_cache_ttl
  registration_timeout = var.registration_timeout

  # The controller drains and terminates nodes while it is being destroyed, so its role, its
  # policy, the node access and the rules feeding its queue must outlive it; created first, they
  # are in place when its pods start.
  depends_on = [
    karpenter_controller_role.controller,
    karpenter_node_access.node,
    karpenter_interruption_rule.events,
  ]
}

module "provisioner" {
  source = "../spot-provisioner"
  count  = var.provisioner_enabled ? 1 : 0

  name                      = var.provisioner_name
  cluster_name              = var.cluster_name
  instance_profile          = karpenter_instance_profile.node.name
  controller_objects        = karpenter_controller.controller.objects
  on_demand_fallback        = var.provisioner_on_demand_fallback
  cpu_architecture          = var.provisioner_cpu_architecture
  min_vcpus                 = var.provisioner_min_vcpus
  max_vcpus                 = var.provisioner_max_vcpus
  max_instance_types        = var.provisioner_max_instance_types
  zones                     = var.provisioner_zones
  limits                    = var.provisioner_limits
  ttl_seconds_after_empty   = var.provisioner_ttl_seconds_after_empty
  ttl_seconds_until_expired = var.provisioner_ttl_seconds_until_expired
  tags                      = var.tags
}
