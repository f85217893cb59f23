output "interruption_queue_url" {
  description = "URL of the interruption queue."
  value       = karpenter_interruption_queue.events.url
}

output "instance_profile" {
  description = "Instance profile the nodes launch with."
  value       = karpenter_instance_profile.node.name
}

output "controller_policy_arn" {
  description = "Policy to attach to the controller's IAM role."
  value       = karpenter_controller_policy.controller.arn
}
