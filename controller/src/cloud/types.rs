//! Plain values that cross the cloud seam: capacity types, pools, network objects and instances.

use karpenter_core::api::labels;
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityType {
    Spot,
    OnDemand,
}

impl CapacityType {
    /// The value of the `karpenter.sh/capacity-type` label and of EC2's fleet `Lifecycle`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::Spot => labels::CAPACITY_TYPE_SPOT,
            CapacityType::OnDemand => labels::CAPACITY_TYPE_ON_DEMAND,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            labels::CAPACITY_TYPE_SPOT => Some(CapacityType::Spot),
            labels::CAPACITY_TYPE_ON_DEMAND => Some(CapacityType::OnDemand),
            _ => None,
        }
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CPU architecture as Kubernetes names it (`kubernetes.io/arch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => labels::ARCH_AMD64,
            Arch::Arm64 => labels::ARCH_ARM64,
        }
    }

    /// The name EC2 and the EKS AMI parameters use.
    pub fn aws_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Maps EC2's architecture names; i386 and the mac variants are not Kubernetes node arches.
    pub fn from_aws(s: &str) -> Option<Self> {
        match s {
            "x86_64" => Some(Arch::Amd64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capacity pool: what EC2 runs out of, and the key of the unavailable-offerings cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pool {
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: CapacityType,
}

impl Pool {
    pub fn new(
        instance_type: impl Into<String>,
        zone: impl Into<String>,
        capacity_type: CapacityType,
    ) -> Self {
        Pool {
            instance_type: instance_type.into(),
            zone: zone.into(),
            capacity_type,
        }
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.instance_type, self.zone, self.capacity_type
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub zone: String,
    pub available_ips: i32,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

/// EC2 instance states, as far as the controller distinguishes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    Other(String),
}

impl InstanceState {
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            other => InstanceState::Other(other.to_string()),
        }
    }
}

/// One of our instances as DescribeInstances reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: String,
    pub instance_type: String,
    pub zone: String,
    pub subnet_id: Option<String>,
    pub capacity_type: CapacityType,
    pub state: InstanceState,
    pub image_id: Option<String>,
    pub private_dns_name: Option<String>,
    pub launch_time: Option<SystemTime>,
    /// The value of our provisioner-name tag, when present.
    pub provisioner: Option<String>,
    pub tags: BTreeMap<String, String>,
}
