output "node_role_name" {
  description = "Name of the node IAM role."
  value       = karpenter_node_role.node.name
}

output "node_role_arn" {
  description = "ARN of the node IAM role."
  value       = karpenter_node_role.node.arn
}

output "instance_profile_name" {
  description = "Instance profile the nodes launch with, for further provisioners."
  value       = karpenter_instance_profile.node.name
}

output "instance_profile_arn" {
  description = "ARN of the instance profile."
  value       = karpenter_instance_profile.node.arn
}

output "controller_policy_arn" {
  description = "ARN of the controller's IAM policy."
  value       = karpenter_controller_policy.controller.arn
}

output "controller_role_name" {
  description = "Name of the controller's IAM role."
  value       = karpenter_controller_role.controller.name
}

output "controller_role_arn" {
  description = "ARN of the controller's IAM role, for an EKS Pod Identity association when oidc_provider_arn is null."
  value       = karpenter_controller_role.controller.arn
}

output "interruption_queue_name" {
  description = "Name of the interruption queue."
  value       = karpenter_interruption_queue.events.name
}

output "interruption_queue_url" {
  description = "URL of the interruption queue."
  value       = karpenter_interruption_queue.events.url
}

output "interruption_queue_arn" {
  description = "ARN of the interruption queue."
  value       = karpenter_interruption_queue.events.arn
}

output "interruption_rule_names" {
  description = "EventBridge rule name by interruption kind."
  value       = { for kind, rule in karpenter_interruption_rule.events : kind => rule.name }
}

output "node_access_mode" {
  description = "How nodes are let into the cluster (access_entry or aws_auth); null when node_access_enabled is false."
  value       = one(karpenter_node_access.node[*].mode)
}

output "controller_namespace" {
  description = "Namespace of the controller."
  value       = karpenter_controller.controller.namespace
}

output "controller_objects" {
  description = "Objects of the controller installation, for modules/spot-provisioner's controller_objects."
  value       = karpenter_controller.controller.objects
}

output "provisioner_name" {
  description = "Name of the default provisioner; null when provisioner_enabled is false."
  value       = one(module.provisioner[*].name)
}

output "provisioner_instance_types" {
  description = "Instance types of the default provisioner; null when provisioner_enabled is false."
  value       = one(module.provisioner[*].instance_types)
}

output "provisioner_zones" {
  description = "Zones of the default provisioner; null when provisioner_enabled is false."
  value       = one(module.provisioner[*].zones)
}
