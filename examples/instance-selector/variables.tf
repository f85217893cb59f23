variable "cluster_name" {
  description = "Name of the cluster; subnets and security groups are selected by karpenter.sh/discovery = <cluster_name>."
  type        = string
  default     = "demo"
}

variable "region" {
  description = "AWS region of the cluster; the seed asks ap-southeast-1."
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

variable "vcpus" {
  description = "vCPUs of every type (the seed's --vcpus)."
  type        = number
  default     = 2
}

variable "memory_gib" {
  description = "Memory of every type in GiB (the seed's --memory)."
  type        = number
  default     = 4
}

variable "cpu_architecture" {
  description = "CPU architecture of every type (the seed's --cpu-architecture)."
  type        = string
  default     = "x86_64"
}

variable "name" {
  description = "Name of the fixed-performance provisioner; the burstable one is <name>-burstable."
  type        = string
  default     = "instance-selector"
}

variable "burstable_provisioner" {
  description = "Also create the provisioner of the burstable types the query returns."
  type        = bool
  default     = true
}
