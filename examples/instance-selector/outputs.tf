output "selected" {
  description = "Every type the query returned, cheapest spot price first: the seed's ec2-instance-selector list."
  value       = data.karpenter_instance_types.selector.names
}

output "provisioners" {
  description = "Instance types and zones of each provisioner, by provisioner name."
  value = {
    for group, p in local.provisioners : karpenter_provisioner.selected[group].name => {
      instance_types = p.instance_types
      zones          = p.zones
    }
  }
}
