output "name" {
  description = "Name of the Provisioner."
  value       = karpenter_provisioner.this.name
}

output "instance_types" {
  description = "Instance types the Provisioner allows, sorted by name."
  value       = local.instance_types
}

output "zones" {
  description = "Zones the Provisioner allows."
  value       = local.zones
}

output "capacity_types" {
  description = "Capacity types the Provisioner allows: spot, and on-demand when on_demand_fallback is set."
  value       = local.capacity_types
}

output "spot_pools" {
  description = "Number of (instance type, zone) pairs offered in the region among those allowed: where spot capacity can come from."
  value       = length(flatten([for t in local.chosen : t.zones]))
}

output "spot_prices" {
  description = "Cheapest current spot USD hourly price of each allowed type at plan time, by type."
  value       = { for t in local.chosen : t.name => t.spot_price }
}
