//! Well-known node label keys and values that requirements, node selectors and Node objects use.

pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
pub const PROVISIONER_NAME: &str = "karpenter.sh/provisioner-name";
pub const ARCH: &str = "kubernetes.io/arch";
pub const OS: &str = "kubernetes.io/os";
pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";

pub const CAPACITY_TYPE_SPOT: &str = "spot";
pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
pub const CAPACITY_TYPES: [&str; 2] = [CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND];

pub const ARCH_AMD64: &str = "amd64";
pub const ARCH_ARM64: &str = "arm64";
pub const OS_LINUX: &str = "linux";

/// Resource names the scheduler understands.
pub const RESOURCE_CPU: &str = "cpu";
pub const RESOURCE_MEMORY: &str = "memory";
pub const RESOURCE_EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const RESOURCE_PODS: &str = "pods";
pub const RESOURCE_NVIDIA_GPU: &str = "nvidia.com/gpu";

/// Keys whose values come from the instance type and its offerings: a requirement on them narrows
/// the instance types instead of needing a provisioner label.
pub const INSTANCE_TYPE_KEYS: [&str; 12] = [
    INSTANCE_TYPE,
    ZONE,
    CAPACITY_TYPE,
    ARCH,
    OS,
    INSTANCE_FAMILY,
    INSTANCE_CATEGORY,
    INSTANCE_CPU,
    INSTANCE_MEMORY,
    INSTANCE_GENERATION,
    INSTANCE_SIZE,
    INSTANCE_GPU_COUNT,
];

/// Keys users may not set on a Provisioner: the controller owns them.
pub const RESTRICTED_KEYS: [&str; 2] = [HOSTNAME, PROVISIONER_NAME];

pub fn is_instance_type_key(key: &str) -> bool {
    INSTANCE_TYPE_KEYS.contains(&key)
}
