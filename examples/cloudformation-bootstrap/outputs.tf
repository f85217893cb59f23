output "stack_id" {
  description = "ID (ARN) of the bootstrap stack."
  value       = karpenter_bootstrap_stack.karpenter.stack_id
}

output "stack_name" {
  description = "Name of the bootstrap stack, for the seed's clean-up command."
  value       = karpenter_bootstrap_stack.karpenter.name
}

output "controller_role_arn" {
  description = "Role in the stack to associate with the controller's service account (EKS Pod Identity)."
  value       = local.stack["ControllerRoleArn"]
}

output "interruption_queue_url" {
  description = "URL of the interruption queue in the stack."
  value       = local.stack["InterruptionQueueUrl"]
}

output "instance_profile" {
  description = "Instance profile in the stack that the nodes launch with."
  value       = local.stack["InstanceProfileName"]
}

output "provisioner" {
  description = "Name of the provisioner."
  value       = module.provisioner.name
}
