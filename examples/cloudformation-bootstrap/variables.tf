variable "cluster_name" {
  description = "Name of the cluster; the stack is Karpenter-<cluster_name>."
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

variable "interruption_kinds" {
  description = "Which interruption events get an EventBridge rule in the stack."
  type        = set(string)
  default     = ["spot_interruption", "rebalance_recommendation", "scheduled_change", "instance_state_change"]
}

variable "on_demand_fallback" {
  description = "Let the provisioner fall back to on-demand when spot has no capacity."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Stack tags; CloudFormation copies them to the objects it creates."
  type        = map(string)
  default     = null
}
