//! Instance types as the catalog describes them, and what a node of that type can hold.

use super::resources::Resources;
use crate::api::labels;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceType {
    pub name: String,
    pub arch: String,
    #[serde(default = "linux")]
    pub os: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    #[serde(default)]
    pub gpus: u32,
    pub max_pods: u32,
    #[serde(default = "twenty")]
    pub ephemeral_storage_gib: u32,
    pub family: String,
    pub category: String,
    pub generation: u32,
    pub size: String,
    pub offerings: Vec<Offering>,
}

fn linux() -> String {
    labels::OS_LINUX.to_string()
}

fn twenty() -> u32 {
    20
}

/// One (zone, capacity type) pool with its hourly price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offering {
    pub zone: String,
    pub capacity_type: String,
    pub price: f64,
    #[serde(default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

impl InstanceType {
    /// What the machine's kubelet reports as its capacity, and what limits count: its vCPUs, the
    /// memory the VM sees (less than the nominal size; [`crate::scheduling::kubelet::memory_capacity`]), the
    /// root volume and the ENI pod limit.
    pub fn capacity(&self) -> Resources {
        Resources {
            cpu_millis: i64::from(self.vcpus) * 1000,
            memory_bytes: crate::scheduling::kubelet::memory_capacity(self),
            ephemeral_bytes: i64::from(self.ephemeral_storage_gib) << 30,
            pods: i64::from(self.max_pods),
            gpus: i64::from(self.gpus),
        }
    }

    /// What pods can request on a node of this type booted with the default kubelet settings
    /// (see [`crate::scheduling::kubelet`], which also applies a Provisioner's kubeletConfiguration).
    pub fn allocatable(&self) -> Resources {
        crate::scheduling::kubelet::allocatable(self, None)
    }

    /// The value a node of this type carries for a well-known label, zone and capacity type
    /// excepted (those depend on the offering).
    pub fn label(&self, key: &str) -> Option<String> {
        Some(match key {
            labels::INSTANCE_TYPE => self.name.clone(),
            labels::ARCH => self.arch.clone(),
            labels::OS => self.os.clone(),
            labels::INSTANCE_FAMILY => self.family.clone(),
            labels::INSTANCE_CATEGORY => self.category.clone(),
            labels::INSTANCE_GENERATION => self.generation.to_string(),
            labels::INSTANCE_SIZE => self.size.clone(),
            labels::INSTANCE_CPU => self.vcpus.to_string(),
            labels::INSTANCE_MEMORY => self.memory_mib.to_string(),
            labels::INSTANCE_GPU_COUNT => self.gpus.to_string(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    #[test]
    fn allocatable_is_less_than_capacity_by_the_documented_overheads() {
        let m5_large = InstanceType::named("m5.large", 2, 8192).max_pods(29);
        let a = m5_large.allocatable();
        assert_eq!(a.cpu_millis, 1930);
        // 8192 MiB * 0.925 - (11 * 29 + 355) MiB
        assert_eq!(a.memory_bytes, 8192 * MIB * 925 / 1000 - 674 * MIB);
        assert_eq!(a.pods, 29);
        let c = m5_large.capacity();
        assert_eq!(c.memory_bytes, 8192 * MIB * 925 / 1000);
        assert_eq!(c.memory_bytes - a.memory_bytes, 674 * MIB);
    }

    #[test]
    fn well_known_labels_come_from_the_type() {
        let t = InstanceType::named("c6g.2xlarge", 8, 16384).arch("arm64");
        assert_eq!(t.label(labels::INSTANCE_FAMILY).as_deref(), Some("c6g"));
        assert_eq!(t.label(labels::INSTANCE_CATEGORY).as_deref(), Some("c"));
        assert_eq!(t.label(labels::INSTANCE_GENERATION).as_deref(), Some("6"));
        assert_eq!(t.label(labels::INSTANCE_SIZE).as_deref(), Some("2xlarge"));
        assert_eq!(t.label(labels::ARCH).as_deref(), Some("arm64"));
        assert_eq!(t.label(labels::ZONE), None);
    }
}
