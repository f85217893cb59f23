variable "cluster_name" {
  description = "Name of the cluster; subnets and security groups are selected by karpenter.sh/discovery = <cluster_name>."
  type        = string
  default     = "demo"
}

variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "ap-southeast-1"
}

variable "cluster_endpoint" {
  description = "API server URL that new nodes join; null: the controller asks EKS DescribeCluster."
  type        = string
  default     = null
}

variable "controller_image" {
  description = "Image of the karpenter-rs controller, best by digest. There is no published image: build and push one with `make image`, which prints its reference (docs/guides/controller-image.md)."
  type        = string
}

variable "controller_env" {
  description = "Further environment variables of the controller, e.g. AWS_ENDPOINT_URL for a VPC endpoint or the local environment's AWS emulator."
  type        = map(string)
  default     = {}
}

variable "min_vcpus" {
  description = "Smallest vCPU count of an allowed instance type."
  type        = number
  default     = 2
}

variable "max_vcpus" {
  description = "Largest vCPU count of an allowed instance type."
  type        = number
  default     = 8
}

variable "zones" {
  description = "Zones to launch in; null for every zone of the region offering the types."
  type        = set(string)
  default     = null
}

variable "limits" {
  description = "Ceiling on the provisioner's total capacity, spot and on-demand together."
  type        = map(string)
  default     = { cpu = "200", memory = "800Gi" }
}
