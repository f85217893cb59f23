variable "cluster_name" {
  description = "Name of the cluster, the same as the provider's cluster_name; the default provisioner's subnet and security group selectors are karpenter.sh/discovery set to the cluster name."
  type        = string
}

variable "cluster_endpoint" {
  description = "API server URL that new nodes join (the controller's clusterEndpoint setting); null: the controller asks EKS DescribeCluster."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every AWS object the module creates (added to the provider's default_tags) and of the instances the default provisioner launches."
  type        = map(string)
  default     = null
}

variable "node_additional_policy_arns" {
  description = "Managed policies attached to the node role beyond the four every node gets."
  type        = set(string)
  default     = null
}

variable "node_access_enabled" {
  description = "Let nodes with the node role join the cluster (an EKS access entry or an aws-auth entry). Turn off when something else maps the role."
  type        = bool
  default     = true
}

variable "node_access_mode" {
  description = "access_entry or aws_auth; null to follow the EKS cluster's authentication mode."
  type        = string
  default     = null
}

variable "interruption_kinds" {
  description = "Which interruption events EventBridge forwards to the queue, one rule each."
  type        = set(string)
  default     = ["spot_interruption", "rebalance_recommendation", "scheduled_change", "instance_state_change", "capacity_reservation_interruption"]

  validation {
    condition = alltrue([
      for k in var.interruption_kinds :
      contains(["spot_interruption", "rebalance_recommendation", "scheduled_change", "instance_state_change", "capacity_reservation_interruption"], k)
    ])
    error_message = "interruption_kinds may hold only spot_interruption, rebalance_recommendation, scheduled_change, instance_state_change and capacity_reservation_interruption."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long the interruption queue keeps an undelivered event."
  type        = number
  default     = 300
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider: the controller role then trusts the controller's service account through IRSA and the service account carries the role annotation. null: the role trusts EKS Pod Identity (associate it with the service account outside this module)."
  type        = string
  default     = null
}

variable "controller_image" {
  description = "Image of the karpenter-rs controller, best by digest. There is no published image: build and push one with `make image`, which prints its reference (docs/guides/controller-image.md)."
  type        = string
}

variable "controller_env" {
  description = "Further environment variables of the controller (e.g. AWS_ENDPOINT_URL for a VPC endpoint, HTTPS_PROXY); AWS_REGION is always the provider's region."
  type        = map(string)
  default     = null
}

variable "controller_project_web_identity_token" {
  description = "With oidc_provider_arn: mount the service-account token for sts.amazonaws.com and set AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE in the controller, for clusters without the EKS pod identity webhook."
  type        = bool
  default     = false
}

variable "controller_namespace" {
  description = "Namespace of the controller."
  type        = string
  default     = "karpenter"
}

variable "controller_replicas" {
  description = "Controller replicas; one leads, the others stand by."
  type        = number
  default     = 2
}

variable "controller_log_level" {
  description = "RUST_LOG of the controller."
  type        = string
  default     = "info"
}

variable "imds_monitor" {
  description = "Also run the IMDS monitor on every Linux node (a DaemonSet): it cordons and drains its node from the instance metadata's spot and maintenance notices, without the queue."
  type        = bool
  default     = false
}

variable "controller_service_account_annotations" {
  description = "Further annotations of the controller's service account."
  type        = map(string)
  default     = null
}

variable "interruption_actions" {
  description = "Action per interruption kind (ignore, cordon, cordon-and-drain, replace-and-cordon, replace-and-drain); kinds left out keep the controller's defaults."
  type        = map(string)
  default     = null
}

variable "spot_quota_fallback" {
  description = "Launch on-demand when the account's spot quota is exhausted (MaxSpotInstanceCountExceeded); null for the controller's default (no fallback)."
  type        = bool
  default     = null
}

variable "batch_idle_duration" {
  description = "Controller setting batchIdleDuration, e.g. 1s; null for the controller's default."
  type        = string
  default     = null
}

variable "batch_max_duration" {
  description = "Controller setting batchMaxDuration, e.g. 10s; null for the controller's default."
  type        = string
  default     = null
}

variable "ice_cache_ttl" {
  description = "Controller setting iceCacheTTL: how long a pool that reported insufficient capacity is avoided, e.g. 3m; null for the controller's default."
  type        = string
  default     = null
}

variable "registration_timeout" {
  description = "Controller setting registrationTimeout, e.g. 15m; null for the controller's default."
  type        = string
  default     = null
}

variable "provisioner_enabled" {
  description = "Create the default spot-first provisioner (modules/spot-provisioner)."
  type        = bool
  default     = true
}

variable "provisioner_name" {
  description = "Name of the default provisioner."
  type        = string
  default     = "default"
}

variable "provisioner_on_demand_fallback" {
  description = "Let the default provisioner fall back to on-demand when spot has no capacity."
  type        = bool
  default     = true
}

variable "provisioner_cpu_architecture" {
  description = "CPU architecture of the default provisioner's types, x86_64 or arm64."
  type        = string
  default     = "x86_64"
}

variable "provisioner_min_vcpus" {
  description = "Smallest vCPU count of the default provisioner's types."
  type        = number
  default     = 2
}

variable "provisioner_max_vcpus" {
  description = "Largest vCPU count of the default provisioner's types."
  type        = number
  default     = 16
}

variable "provisioner_max_instance_types" {
  description = "How many of the cheapest matching types the default provisioner allows."
  type        = number
  default     = 30
}

variable "provisioner_zones" {
  description = "Zones of the default provisioner; null for every zone offering its types."
  type        = set(string)
  default     = null
}

variable "provisioner_limits" {
  description = "Resource limits of the default provisioner, e.g. { cpu = \"1000\" }; null for none."
  type        = map(string)
  default     = null
}

variable "provisioner_ttl_seconds_after_empty" {
  description = "Seconds after which an empty node of the default provisioner is deleted."
  type        = number
  default     = 30
}

variable "provisioner_ttl_seconds_until_expired" {
  description = "Seconds after which a node of the default provisioner is replaced (the seed's 30 days)."
  type        = number
  default     = 2592000
}
