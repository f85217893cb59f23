//! The Provisioner custom resource (karpenter.sh/v1alpha5) as the seed's YAML writes it.
//!
//! Field names follow the Kubernetes JSON (camelCase); empty collections and absent options are
//! skipped on output so that an object read from the API server and written back is unchanged.

use super::quantity::Quantity;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

pub const API_GROUP: &str = "karpenter.sh";
pub const API_VERSION: &str = "karpenter.sh/v1alpha5";
pub const KIND: &str = "Provisioner";

fn api_version() -> String {
    API_VERSION.to_string()
}
fn kind() -> String {
    KIND.to_string()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioner {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ProvisionerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProvisionerStatus>,
}

impl Provisioner {
    pub fn new(name: impl Into<String>, spec: ProvisionerSpec) -> Self {
        Provisioner {
            api_version: api_version(),
            kind: kind(),
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

/// The subset of Kubernetes object metadata the core needs; the controller uses kube's own type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionerSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<NodeSelectorRequirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_empty: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_until_expired: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub startup_taints: Vec<Taint>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<AwsNodeTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_configuration: Option<KubeletConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidation: Option<Consolidation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disruption: Option<Disruption>,
}

/// `consolidation.enabled` (v1alpha5): remove or replace nodes whose pods fit elsewhere or on
/// something cheaper. Excludes `ttlSecondsAfterEmpty`, which it supersedes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consolidation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Disruption controls (a karpenter-rs extension of v1alpha5, shaped after v1's NodePool):
/// how many nodes voluntary disruption may take at once, and how long a drain may be held up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// The most restrictive applies; none means one budget of 10%.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<Budget>,
    /// After this long draining, a node whose pods a PodDisruptionBudget or `do-not-evict` still
    /// holds has them deleted and its instance terminated. Unset: a drain waits as long as it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// A count (`"3"`) or a percentage of the provisioner's nodes (`"10%"`, rounded up).
    pub nodes: String,
}

/// The budget when none is written.
pub const DEFAULT_BUDGET: &str = "10%";

impl Budget {
    /// How many of `total` nodes this budget allows; None when `nodes` is neither form.
    pub fn allowed(&self, total: usize) -> Option<usize> {
        match self.nodes.strip_suffix('%') {
            Some(p) => {
                let pct: usize = p.parse().ok().filter(|p| *p <= 100)?;
                Some((total * pct).div_ceil(100))
            }
            None => self.nodes.parse().ok(),
        }
    }
}

impl ProvisionerSpec {
    pub fn consolidation_enabled(&self) -> bool {
        self.consolidation
            .as_ref()
            .and_then(|c| c.enabled)
            .unwrap_or(false)
    }

    /// How many of the provisioner's `total` nodes may be voluntarily disrupted at once: the most
    /// restrictive budget (10% when none is written).
    pub fn allowed_disruptions(&self, total: usize) -> usize {
        let budgets = self
            .disruption
            .as_ref()
            .map(|d| d.budgets.as_slice())
            .unwrap_or_default();
        let default = [Budget {
            nodes: DEFAULT_BUDGET.into(),
        }];
        let budgets = if budgets.is_empty() {
            &default[..]
        } else {
            budgets
        };
        budgets
            .iter()
            .filter_map(|b| b.allowed(total))
            .min()
            .unwrap_or(0)
    }

    /// A digest of what a node is launched from (requirements, labels, taints, startup taints,
    /// kubelet settings, the AWS launch settings): a node stamped with another digest has
    /// drifted from its provisioner. Limits, TTLs, weight and the disruption settings change how
    /// nodes are chosen or ended, not what they are, so they are left out.
    pub fn drift_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let launch = serde_json::json!({
            "requirements": self.requirements,
            "labels": self.labels,
            "taints": self.taints,
            "startupTaints": self.startup_taints,
            "kubeletConfiguration": self.kubelet_configuration,
            "provider": self.provider,
        });
        let digest = Sha256::digest(launch.to_string().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn termination_grace_period(&self) -> Option<std::time::Duration> {
        self.disruption
            .as_ref()
            .and_then(|d| d.termination_grace_period_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs)
    }
}

/// The kubelet settings nodes of a provisioner boot with (the v1alpha5 fields). Written into the
/// bootstrap user data, and the scheduler's allocatable for a new node is computed from the same
/// numbers (crate::scheduling::kubelet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    #[serde(default, rename = "clusterDNS", skip_serializing_if = "Vec::is_empty")]
    pub cluster_dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods_per_core: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_reserved: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kube_reserved: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eviction_hard: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eviction_soft: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eviction_soft_grace_period: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_max_pod_grace_period: Option<i32>,
    #[serde(
        default,
        rename = "imageGCHighThresholdPercent",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_gc_high_threshold_percent: Option<i32>,
    #[serde(
        default,
        rename = "imageGCLowThresholdPercent",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_gc_low_threshold_percent: Option<i32>,
    #[serde(
        default,
        rename = "cpuCFSQuota",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_cfs_quota: Option<bool>,
}

/// `{key, operator, values}` as in a Kubernetes NodeSelectorRequirement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    pub fn new(key: impl Into<String>, operator: Operator, values: &[&str]) -> Self {
        NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

impl fmt::Display for NodeSelectorRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.operator)?;
        match self.operator {
            Operator::Exists | Operator::DoesNotExist => Ok(()),
            Operator::Gt | Operator::Lt => write!(f, " {}", self.values.join(",")),
            _ => write!(f, " [{}]", self.values.join(", ")),
        }
    }
}

/// Requirement operators. An operator we do not know is kept (not a parse error) so that
/// validation can point at the exact field instead of failing the whole document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Unknown(String),
}

impl Operator {
    pub const KNOWN: [&'static str; 6] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];

    pub fn as_str(&self) -> &str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
            Operator::Gt => "Gt",
            Operator::Lt => "Lt",
            Operator::Unknown(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            other => Operator::Unknown(other.to_string()),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Operator::parse(&String::deserialize(d)?))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, Quantity>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

impl Taint {
    pub const EFFECTS: [&'static str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    pub fn new(key: &str, value: Option<&str>, effect: &str) -> Self {
        Taint {
            key: key.to_string(),
            value: value.map(str::to_string),
            effect: effect.to_string(),
        }
    }
}

/// The inline `provider:` block: how AWS nodes of this provisioner are launched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsNodeTemplate {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subnet_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub security_group_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_family: Option<String>,
    /// Images by `aws::ids`, `aws::name`, `aws::owners` or tags; the newest match per
    /// architecture is launched instead of the family's public image.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ami_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_options: Option<MetadataOptions>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_endpoint: Option<String>,
    #[serde(
        default,
        rename = "httpProtocolIPv6",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_protocol_ipv6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_put_response_hop_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_tokens: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs: Option<BlockDevice>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    #[serde(default, rename = "kmsKeyID", skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(
        default,
        rename = "snapshotID",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_size: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
}

impl BlockDevice {
    pub const VOLUME_TYPES: [&'static str; 7] =
        ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"];
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Resources of the nodes this provisioner launched and that still exist (what limits count).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::labels;

    const SEED_AS_JSON: &str = r#"{
      "apiVersion": "karpenter.sh/v1alpha5",
      "kind": "Provisioner",
      "metadata": {"name": "spot-fleet"},
      "spec": {
        "requirements": [
          {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large", "m5.2xlarge"]},
          {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]},
          {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
        ],
        "provider": {"subnetSelector": {"karpenter.sh/discovery": "demo"}},
        "ttlSecondsUntilExpired": 2592000
      }
    }"#;

    #[test]
    fn the_seed_provisioner_parses_and_serialises_back_unchanged() -> Result<(), serde_json::Error>
    {
        let p: Provisioner = serde_json::from_str(SEED_AS_JSON)?;
        assert_eq!(p.name(), "spot-fleet");
        assert_eq!(p.spec.requirements.len(), 3);
        assert_eq!(p.spec.requirements[2].key, labels::CAPACITY_TYPE);
        assert_eq!(p.spec.ttl_seconds_until_expired, Some(2_592_000));
        let back = serde_json::to_value(&p)?;
        let original: serde_json::Value = serde_json::from_str(SEED_AS_JSON)?;
        assert_eq!(back, original);
        Ok(())
    }

    #[test]
    fn every_aws_field_uses_the_kubernetes_json_name() -> Result<(), serde_json::Error> {
        let json = r#"{"subnetSelector":{"a":"b"},"securityGroupSelector":{"c":"d"},
          "instanceProfile":"KarpenterNodeInstanceProfile","amiFamily":"Bottlerocket","tags":{"team":"x"},
          "metadataOptions":{"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":2,"httpTokens":"required"},
          "blockDeviceMappings":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":"100Gi","volumeType":"gp3","encrypted":true,
            "deleteOnTermination":true,"iops":3000,"throughput":125,"kmsKeyID":"k","snapshotID":"s"}}],
          "userData":"echo hi"}"#;
        let t: AwsNodeTemplate = serde_json::from_str(json)?;
        assert_eq!(
            t.metadata_options
                .as_ref()
                .and_then(|m| m.http_put_response_hop_limit),
            Some(2)
        );
        assert_eq!(
            t.block_device_mappings[0]
                .ebs
                .as_ref()
                .and_then(|e| e.kms_key_id.clone())
                .as_deref(),
            Some("k")
        );
        let original: serde_json::Value = serde_json::from_str(json)?;
        assert_eq!(serde_json::to_value(&t)?, original);
        Ok(())
    }

    #[test]
    fn an_unknown_operator_survives_parsing_for_validation_to_report()
    -> Result<(), serde_json::Error> {
        let r: NodeSelectorRequirement =
            serde_json::from_str(r#"{"key":"k","operator":"Maybe","values":["x"]}"#)?;
        assert_eq!(r.operator, Operator::Unknown("Maybe".into()));
        assert_eq!(
            serde_json::to_string(&r)?,
            r#"{"key":"k","operator":"Maybe","values":["x"]}"#
        );
        Ok(())
    }

    #[test]
    fn status_carries_conditions_resources_and_node_count() -> Result<(), serde_json::Error> {
        let s: ProvisionerStatus = serde_json::from_str(
            r#"{"conditions":[{"type":"Ready","status":"True"}],"resources":{"cpu":"4","memory":"16Gi"},"nodeCount":2}"#,
        )?;
        assert_eq!(s.node_count, Some(2));
        assert_eq!(s.resources["memory"].units_ceil(), Ok(16 << 30));
        Ok(())
    }
}
