//! The HCL form of a Provisioner as typed models. Each field is named twice, once: its attribute
//! name (the field) and its name in the Kubernetes spec (serde), so the spec Terraform writes is
//! the model serialised and the state it reads is the spec deserialised into the model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model;
use crate::plugin::Value;

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ProvisionerHcl {
        #[serde(skip)]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "resources")]
        limits: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds_after_empty: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds_until_expired: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weight: Option<i64>,
        #[serde(default, rename = "requirements", skip_serializing_if = "Vec::is_empty")]
        requirement: Vec<Requirement>,
        #[serde(default, rename = "taints", skip_serializing_if = "Vec::is_empty")]
        taint: Vec<Taint>,
        #[serde(default, rename = "startupTaints", skip_serializing_if = "Vec::is_empty")]
        startup_taint: Vec<Taint>,
        #[serde(default, rename = "provider", skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        aws: Vec<Aws>,
        #[serde(default, rename = "kubeletConfiguration", skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        kubelet_configuration: Vec<Kubelet>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        consolidation: Vec<Consolidation>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        disruption: Vec<Disruption>,
        #[serde(skip)]
        timeouts: Value,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    pub struct Requirement {
        key: String,
        operator: String,
        #[serde(default, skip_serializing_if = "none_or_empty")]
        values: Option<Vec<String>>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    pub struct Taint {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        effect: String,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Aws {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subnet_selector: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        security_group_selector: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_profile: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ami_family: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ami_selector: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tags: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_data: Option<String>,
        #[serde(default, rename = "metadataOptions", skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        metadata_options: Vec<MetadataOptions>,
        #[serde(default, rename = "blockDeviceMappings", skip_serializing_if = "Vec::is_empty")]
        block_device_mapping: Vec<BlockDevice>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MetadataOptions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_endpoint: Option<String>,
        #[serde(default, rename = "httpProtocolIPv6", skip_serializing_if = "Option::is_none")]
        http_protocol_ipv6: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_put_response_hop_limit: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_tokens: Option<String>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct BlockDevice {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_name: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "at_most_one")]
        ebs: Vec<Ebs>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Ebs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delete_on_termination: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iops: Option<i64>,
        #[serde(default, rename = "kmsKeyID", skip_serializing_if = "Option::is_none")]
        kms_key_id: Option<String>,
        #[serde(default, rename = "snapshotID", skip_serializing_if = "Option::is_none")]
        snapshot_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        throughput: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume_size: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume_type: Option<String>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Kubelet {
        #[serde(default, rename = "clusterDNS", skip_serializing_if = "none_or_empty")]
        cluster_dns: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_pods: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pods_per_core: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_reserved: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kube_reserved: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eviction_hard: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eviction_soft: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eviction_soft_grace_period: Option<BTreeMap<String, String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eviction_max_pod_grace_period: Option<i64>,
        #[serde(default, rename = "imageGCHighThresholdPercent", skip_serializing_if = "Option::is_none")]
        image_gc_high_threshold_percent: Option<i64>,
        #[serde(default, rename = "imageGCLowThresholdPercent", skip_serializing_if = "Option::is_none")]
        image_gc_low_threshold_percent: Option<i64>,
        #[serde(default, rename = "cpuCFSQuota", skip_serializing_if = "Option::is_none")]
        cpu_cfs_quota: Option<bool>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    pub struct Consolidation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Disruption {
        #[serde(default, rename = "budgets", skip_serializing_if = "Vec::is_empty")]
        budget: Vec<Budget>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        termination_grace_period_seconds: Option<i64>,
    }
}

model! {
    #[derive(Serialize, Deserialize)]
    pub struct Budget {
        nodes: String,
    }
}

fn none_or_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// A block of at most one item (a list in HCL) is an object in the spec, or absent.
mod at_most_one {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        v.first().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        Ok(Option::<T>::deserialize(d)?.into_iter().collect())
    }
}

/// `limits` in HCL is the spec's `limits.resources`.
mod resources {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Limits {
        #[serde(default)]
        resources: Option<BTreeMap<String, String>>,
    }

    pub fn serialize<S: Serializer>(
        v: &Option<BTreeMap<String, String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.clone()
            .map(|r| Limits { resources: Some(r) })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BTreeMap<String, String>>, D::Error> {
        Ok(Option::<Limits>::deserialize(d)?.and_then(|l| l.resources))
    }
}
