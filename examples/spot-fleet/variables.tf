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
  description = "Which interruption events EventBridge forwards to the queue."
  type        = list(string)
  default     = ["spot_interruption", "rebalance_recommendation", "scheduled_change", "instance_state_change"]
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider; with it the controller runs with its own role through IRSA. null: the controller uses the SDK's default credentials (the node's instance profile on EKS)."
  type        = string
  default     = null
}

variable "project_web_identity_token" {
  description = "With oidc_provider_arn, mount the IRSA token into the controller itself (clusters without the EKS pod identity webhook, such as the local environment)."
  type        = bool
  default     = false
}
