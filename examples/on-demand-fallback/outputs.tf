output "provisioner" {
  description = "Name of the spot-first provisioner."
  value       = module.spot_with_fallback.name
}

output "capacity_types" {
  description = "Capacity types the provisioner allows; the controller tries spot first."
  value       = module.spot_with_fallback.capacity_types
}

output "instance_types" {
  description = "Instance types the provisioner allows."
  value       = module.spot_with_fallback.instance_types
}

output "spot_pools" {
  description = "(instance type, zone) pools spot capacity can come from."
  value       = module.spot_with_fallback.spot_pools
}

output "interruption_queue_url" {
  description = "URL of the interruption queue."
  value       = module.karpenter.interruption_queue_url
}

output "controller_role_arn" {
  description = "Role to associate with the controller's service account (EKS Pod Identity)."
  value       = module.karpenter.controller_role_arn
}
