variable "name" {
  description = "Name of the Provisioner object."
  type        = string
  default     = "spot"
}

variable "cluster_name" {
  description = "Name of the cluster; the default subnet and security group selectors are karpenter.sh/discovery set to the cluster name."
  type        = string
}

variable "instance_profile" {
  description = "Instance profile the nodes launch with (e.g. karpenter_instance_profile.node.name or module.karpenter.instance_profile_name)."
  type        = string
}

variable "controller_objects" {
  description = "The controller installation's objects (e.g. karpenter_controller.controller.objects or module.karpenter.controller_objects), so that the Provisioner is created after its CRD and deleted while the controller still runs to drain its nodes. Use this rather than depends_on on the module, which would defer the instance type query to apply time."
  type        = list(string)
  default     = []
}

variable "on_demand_fallback" {
  description = "Allow on-demand capacity when spot has none: the controller still launches spot first for pods that do not ask for a capacity type."
  type        = bool
  default     = false
}

variable "burstable" {
  description = "true: only burstable (T family) types; false: only fixed-performance types. One provisioner never mixes the two."
  type        = bool
  default     = false
}

variable "cpu_architecture" {
  description = "CPU architecture of every type, x86_64 or arm64; the Provisioner also requires the matching kubernetes.io/arch."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.cpu_architecture)
    error_message = "cpu_architecture must be x86_64 or arm64."
  }
}

variable "min_vcpus" {
  description = "Smallest vCPU count of a type."
  type        = number
  default     = 2
}

variable "max_vcpus" {
  description = "Largest vCPU count of a type."
  type        = number
  default     = 16
}

variable "min_memory_gib" {
  description = "Least memory of a type in GiB; null for no bound."
  type        = number
  default     = null
}

variable "max_memory_gib" {
  description = "Most memory of a type in GiB; null for no bound."
  type        = number
  default     = null
}

variable "families" {
  description = "Only these instance families, e.g. [\"c5\", \"m5\", \"r5\"]; null for any."
  type        = set(string)
  default     = null
}

variable "current_generation" {
  description = "true: current generation only; false: previous generations only; null: both (more spot pools)."
  type        = bool
  default     = null
}

variable "max_price_per_hour" {
  description = "Highest spot USD hourly price of a type; null for no ceiling."
  type        = number
  default     = null
}

variable "zones" {
  description = "Zones to launch in; null for every zone of the region that offers the selected types."
  type        = set(string)
  default     = null
}

variable "max_instance_types" {
  description = "How many of the cheapest matching types the Provisioner allows."
  type        = number
  default     = 30

  validation {
    condition     = var.max_instance_types >= 1 && var.max_instance_types <= 60
    error_message = "max_instance_types must be from 1 to 60: the controller offers CreateFleet at most the 60 cheapest types of a launch, so more are never used."
  }
}

variable "ttl_seconds_after_empty" {
  description = "Delete a node this many seconds after its last non-daemonset pod left; null to keep empty nodes."
  type        = number
  default     = 30
}

variable "ttl_seconds_until_expired" {
  description = "Replace nodes older than this many seconds (the seed's 30 days); null for never."
  type        = number
  default     = 2592000
}

variable "limits" {
  description = "Resource limits over all nodes of the Provisioner, e.g. { cpu = \"1000\", memory = \"1000Gi\" }; null for none."
  type        = map(string)
  default     = null
}

variable "labels" {
  description = "Labels put on every node."
  type        = map(string)
  default     = null
}

variable "taints" {
  description = "Taints put on every node."
  type        = list(object({ key = string, value = optional(string), effect = string }))
  default     = []
}

variable "weight" {
  description = "Preference among provisioners, 1 to 100 (higher first); null for none."
  type        = number
  default     = null
}

variable "subnet_selector" {
  description = "Tags selecting the subnets nodes launch in; null for karpenter.sh/discovery set to the cluster name."
  type        = map(string)
  default     = null
}

variable "security_group_selector" {
  description = "Tags selecting the nodes' security groups; null for karpenter.sh/discovery set to the cluster name."
  type        = map(string)
  default     = null
}

variable "ami_family" {
  description = "AMI family of the nodes: AL2023 (the default when null), Bottlerocket or Custom."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the instances and volumes the controller launches."
  type        = map(string)
  default     = null
}
