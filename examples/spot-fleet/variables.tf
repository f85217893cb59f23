variable "cluster_name" {
  description = "Name of the cluster; the seed's subnet selector is karpenter.sh/discovery = <cluster_name>."
  type        = string
  default     = "demo"
}

variable "region" {
  description = "AWS region of the cluster (the seed's zones are in ap-southeast-1)."
  type        = string
  default     = "ap-southeast-1"
}

variable "cluster_endpoint" {
  description = "API server URL that new nodes join."
  type        = string
  default     = "https://127.0.0.1:6443"
}

variable "controller_image" {
  description = "Image of the karpenter-rs controller."
  type        = string
  default     = "ghcr.io/karpenter-rs/controller:0.1.0"
}

variable "interruption_kinds" {
  description = "Which interruption events EventBridge forwards to the queue."
  type        = list(string)
  default     = ["spot_interruption", "rebalance_recommendation", "scheduled_change", "instance_state_change"]
}
