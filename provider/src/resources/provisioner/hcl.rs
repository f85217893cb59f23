//! The HCL form of a Provisioner: the schema of `karpenter_provisioner` and the conversions
//! between its values and the Kubernetes JSON of the spec (camelCase, as the seed's YAML writes it).
//!
//! Both directions go through karpenter-core's `ProvisionerSpec`, so what Terraform sends is exactly
//! what `kubectl apply` of the same YAML sends, and what it reads back is normalised the same way.

use std::collections::BTreeMap;

use karpenter_core::api::ProvisionerSpec;
use serde_json::{Value as Json, json};

use super::model::ProvisionerHcl;
use crate::plugin::Model;

use crate::plugin::validate::IntBetween;
use crate::plugin::{Attribute, Block, BlockNesting, NestedBlock, Schema, Value};

fn list_block(name: &str, description: &str, block: Block) -> NestedBlock {
    NestedBlock::new(name, BlockNesting::List, block.description(description))
}

fn opt_str(name: &str, text: &str) -> Attribute {
    Attribute::string(name).optional().description(text)
}

fn requirement_block() -> Block {
    Block::new()
        .attribute(Attribute::string("key").required().description(
            "Label key, e.g. `node.kubernetes.io/instance-type`, `topology.kubernetes.io/zone`, `karpenter.sh/capacity-type`.",
        ))
        .attribute(
            Attribute::string("operator")
                .required()
                .description("One of `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`."),
        )
        .attribute(Attribute::string_list("values").optional().description("Values for `In`/`NotIn` (one or more) and `Gt`/`Lt` (one integer)."))
}

fn taint_block() -> Block {
    Block::new()
        .attribute(
            Attribute::string("key")
                .required()
                .description("Taint key."),
        )
        .attribute(opt_str("value", "Taint value."))
        .attribute(
            Attribute::string("effect")
                .required()
                .description("`NoSchedule`, `PreferNoSchedule` or `NoExecute`."),
        )
}

fn aws_block() -> Block {
    let metadata = Block::new()
        .attribute(opt_str("http_endpoint", "`enabled` or `disabled`."))
        .attribute(opt_str("http_protocol_ipv6", "`enabled` or `disabled`."))
        .attribute(
            Attribute::number("http_put_response_hop_limit")
                .optional()
                .description("1 to 64; 2 lets pods reach IMDS through the node.")
                .validator(IntBetween(1, 64)),
        )
        .attribute(opt_str(
            "http_tokens",
            "`required` (IMDSv2 only) or `optional`.",
        ));
    let ebs = Block::new()
        .attribute(
            Attribute::bool("delete_on_termination")
                .optional()
                .description("Delete the volume with the instance."),
        )
        .attribute(
            Attribute::bool("encrypted")
                .optional()
                .description("Encrypt the volume."),
        )
        .attribute(
            Attribute::number("iops")
                .optional()
                .description("Provisioned IOPS (io1, io2, gp3)."),
        )
        .attribute(opt_str("kms_key_id", "KMS key for encryption."))
        .attribute(opt_str(
            "snapshot_id",
            "Snapshot to create the volume from.",
        ))
        .attribute(
            Attribute::number("throughput")
                .optional()
                .description("Throughput in MiB/s (gp3)."),
        )
        .attribute(opt_str(
            "volume_size",
            "Size as a Kubernetes quantity, e.g. `100Gi`.",
        ))
        .attribute(opt_str(
            "volume_type",
            "`standard`, `io1`, `io2`, `gp2`, `sc1`, `st1` or `gp3`.",
        ));
    let bdm = Block::new()
        .attribute(opt_str("device_name", "Device name, e.g. `/dev/xvda`."))
        .block(list_block("ebs", "The EBS volume.", ebs).max_items(1));
    Block::new()
        .attribute(
            Attribute::string_map("subnet_selector")
                .optional()
                .description(
                    "Tags selecting the subnets nodes launch in (required by the controller).",
                ),
        )
        .attribute(
            Attribute::string_map("security_group_selector")
                .optional()
                .description("Tags selecting the nodes' security groups."),
        )
        .attribute(opt_str(
            "instance_profile",
            "Instance profile of the nodes.",
        ))
        .attribute(opt_str(
            "ami_family",
            "`AL2023` (default), `Bottlerocket` or `Custom`: how nodes bootstrap (nodeadm NodeConfig, Bottlerocket TOML settings, or `user_data` verbatim). `AL2` is refused (end of support), as are `Ubuntu` and `Windows*`.",
        ))
        .attribute(
            Attribute::string_map("ami_selector")
                .optional()
                .description(
                    "Images to launch instead of the family's public one: `aws::ids` (comma-separated AMI ids), \
                     `aws::name` (a name, `*` wildcards allowed), `aws::owners` (comma-separated account ids, `self` or \
                     `amazon`; default `self,amazon`) and any tag key (value `*` for any value). Every entry must match; \
                     the newest image per architecture wins. Required by `ami_family = \"Custom\"`.",
                ),
        )
        .attribute(
            Attribute::string_map("tags")
                .optional()
                .description("Tags of the instances and volumes."),
        )
        .attribute(opt_str(
            "user_data",
            "Your user data, merged with the bootstrap the controller writes: for AL2023 a script, cloud-config, NodeConfig or MIME multi-part document whose parts go before the controller's NodeConfig; for Bottlerocket TOML settings the controller's `settings.kubernetes` keys are merged over; for Custom the whole user data, verbatim.",
        ))
        .block(
            list_block(
                "metadata_options",
                "Instance metadata service options.",
                metadata,
            )
            .max_items(1),
        )
        .block(list_block(
            "block_device_mapping",
            "Block devices of the nodes.",
            bdm,
        ))
}

/// (attribute, API field, kind) of the kubelet_configuration block.
const KUBELET_FIELDS: [(&str, &str, KubeletKind); 12] = [
    ("cluster_dns", "clusterDNS", KubeletKind::List),
    ("max_pods", "maxPods", KubeletKind::Number),
    ("pods_per_core", "podsPerCore", KubeletKind::Number),
    ("system_reserved", "systemReserved", KubeletKind::Map),
    ("kube_reserved", "kubeReserved", KubeletKind::Map),
    ("eviction_hard", "evictionHard", KubeletKind::Map),
    ("eviction_soft", "evictionSoft", KubeletKind::Map),
    (
        "eviction_soft_grace_period",
        "evictionSoftGracePeriod",
        KubeletKind::Map,
    ),
    (
        "eviction_max_pod_grace_period",
        "evictionMaxPodGracePeriod",
        KubeletKind::Number,
    ),
    (
        "image_gc_high_threshold_percent",
        "imageGCHighThresholdPercent",
        KubeletKind::Number,
    ),
    (
        "image_gc_low_threshold_percent",
        "imageGCLowThresholdPercent",
        KubeletKind::Number,
    ),
    ("cpu_cfs_quota", "cpuCFSQuota", KubeletKind::Bool),
];

#[derive(Clone, Copy)]
enum KubeletKind {
    List,
    Number,
    Map,
    Bool,
}

fn kubelet_block() -> Block {
    let describe = |field: &str| {
        format!(
            "Kubelet `{field}`; defaults, units and how allocatable follows: docs/reference/kubelet-configuration.md."
        )
    };
    KUBELET_FIELDS
        .iter()
        .fold(Block::new(), |b, &(attr, field, kind)| {
            let a = match kind {
                KubeletKind::List => Attribute::string_list(attr),
                KubeletKind::Number => Attribute::number(attr),
                KubeletKind::Map => Attribute::string_map(attr),
                KubeletKind::Bool => Attribute::bool(attr),
            };
            b.attribute(a.optional().description(describe(field)))
        })
}

pub fn schema() -> Schema {
    Schema::new(
        Block::new()
            .description(
                "A Provisioner (`karpenter.sh/v1alpha5`): the constraints and limits of the nodes karpenter-rs launches. \
                 Written with server-side apply (field manager `terraform-provider-karpenter`); changes made in the cluster \
                 show up as drift. Deleting it waits until the controller has drained and terminated its nodes.",
            )
            .attribute(
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .description("Name of the Provisioner object."),
            )
            .attribute(Attribute::string_map("limits").optional().description("Resource limits over the capacity of all nodes of this provisioner (memory counts what the kubelet reports, about 7.5% below the instance type's nominal size), e.g. `{ cpu = \"1000\", memory = \"1000Gi\" }`."))
            .attribute(Attribute::number("ttl_seconds_after_empty").optional().description("Delete a node this many seconds after its last non-daemonset pod left."))
            .attribute(Attribute::number("ttl_seconds_until_expired").optional().description("Replace nodes older than this many seconds."))
            .attribute(Attribute::string_map("labels").optional().description("Labels put on every node."))
            .attribute(Attribute::number("weight").optional().description("Preference among provisioners, 1 to 100 (higher first)."))
            .block(list_block("requirement", "A node selector requirement every node satisfies.", requirement_block()))
            .block(list_block("taint", "A taint on every node.", taint_block()))
            .block(list_block(
                "startup_taint",
                "A taint on every new node that something else removes once the node is ready.",
                taint_block(),
            ))
            .block(list_block("aws", "How AWS nodes are launched: the seed's `provider:` block.", aws_block()).max_items(1))
            .block(list_block(
                "consolidation",
                "Remove or replace nodes whose pods fit on the other nodes or on something cheaper (v1alpha5 \
                 `consolidation`). Cannot be combined with `ttl_seconds_after_empty`; see docs/reference/disruption.md.",
                Block::new().attribute(
                    Attribute::bool("enabled")
                        .optional()
                        .description("Turn consolidation on."),
                ),
            ).max_items(1))
            .block(list_block(
                "disruption",
                "Disruption controls: how many of this provisioner's nodes voluntary disruption (consolidation, \
                 expiry, drift, emptiness) may take at once, and how long a drain may be held up. See \
                 docs/reference/disruption.md.",
                Block::new()
                    .attribute(
                        Attribute::number("termination_grace_period_seconds")
                            .optional()
                            .validator(IntBetween(0, i64::from(i32::MAX)))
                            .description(
                                "After this long draining, pods that a PodDisruptionBudget or `do-not-evict` still \
                                 holds on the node are deleted and its instance is terminated, with an event saying so. \
                                 Unset: a drain waits as long as it takes.",
                            ),
                    )
                    .block(list_block(
                        "budget",
                        "A limit on nodes disrupted at once; the most restrictive applies. None: one budget of `10%`.",
                        Block::new().attribute(
                            Attribute::string("nodes")
                                .required()
                                .description("A count (`\"3\"`) or a percentage of the provisioner's nodes (`\"10%\"`, rounded up)."),
                        ),
                    )),
            ).max_items(1))
            .block(list_block(
                "kubelet_configuration",
                "Kubelet settings written into the nodes' bootstrap (nodeadm NodeConfig or Bottlerocket settings); \
                 the controller computes what a new node can hold from the same numbers.",
                kubelet_block(),
            ).max_items(1))
            .block(NestedBlock::new(
                "timeouts",
                BlockNesting::Single,
                Block::new()
                    .description("How long operations may take.")
                    .attribute(opt_str("delete", "How long to wait for the nodes to be drained and the object to go, e.g. `15m` (the default).")),
            )),
    )
}

/// The spec as the API server will see it, from a wholly known configuration or plan.
pub fn spec_from_hcl(v: &Value) -> Result<ProvisionerSpec, serde_json::Error> {
    let hcl = ProvisionerHcl::decode(v).map_err(serde::de::Error::custom)?;
    serde_json::from_value(serde_json::to_value(&hcl)?)
}

/// The whole object for server-side apply.
pub fn object_json(name: &str, spec: &ProvisionerSpec) -> Json {
    json!({
        "apiVersion": karpenter_core::api::provisioner::API_VERSION,
        "kind": karpenter_core::api::provisioner::KIND,
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// The state of a Provisioner named `name` whose spec is `spec` (normalised through the core type).
/// `prior` supplies what the API cannot tell apart from absence (an empty map the user wrote) and
/// the `timeouts` block, which lives only in Terraform.
pub fn state_from_spec(name: &str, spec: &ProvisionerSpec, prior: &Value) -> Value {
    let mut hcl: ProvisionerHcl = serde_json::to_value(spec)
        .and_then(serde_json::from_value)
        .unwrap_or_default();
    let prior = ProvisionerHcl::decode(prior).unwrap_or_default();
    let keep_empty = |now: &mut Option<BTreeMap<String, String>>,
                      before: &Option<BTreeMap<String, String>>| {
        if now.is_none() && before.as_ref().is_some_and(BTreeMap::is_empty) {
            *now = Some(BTreeMap::new());
        }
    };
    keep_empty(&mut hcl.limits, &prior.limits);
    keep_empty(&mut hcl.labels, &prior.labels);
    hcl.name = Some(name.to_string());
    hcl.timeouts = prior.timeouts;
    hcl.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_hcl() -> Value {
        let req = |k: &str, vals: &[&str]| {
            Value::object([
                ("key", Value::string(k)),
                ("operator", Value::string("In")),
                (
                    "values",
                    Value::List(vals.iter().map(|v| Value::string(*v)).collect()),
                ),
            ])
        };
        Value::object([
            ("name", Value::string("spot-fleet")),
            (
                "requirement",
                Value::List(vec![
                    req(
                        "node.kubernetes.io/instance-type",
                        &["m5.large", "m5.2xlarge"],
                    ),
                    req(
                        "topology.kubernetes.io/zone",
                        &["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"],
                    ),
                    req("karpenter.sh/capacity-type", &["spot"]),
                ]),
            ),
            (
                "aws",
                Value::List(vec![Value::object([(
                    "subnet_selector",
                    Value::string_map([("karpenter.sh/discovery", "demo")]),
                )])]),
            ),
            ("ttl_seconds_until_expired", Value::int(2_592_000)),
            ("taint", Value::List(vec![])),
        ])
    }

    #[test]
    fn the_seed_in_hcl_becomes_the_seed_json() -> Result<(), serde_json::Error> {
        let spec = spec_from_hcl(&seed_hcl())?;
        let want = json!({
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large", "m5.2xlarge"]},
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
            ],
            "provider": {"subnetSelector": {"karpenter.sh/discovery": "demo"}},
            "ttlSecondsUntilExpired": 2592000
        });
        assert_eq!(serde_json::to_value(&spec)?, want);
        Ok(())
    }

    #[test]
    fn every_aws_field_round_trips_through_state() -> Result<(), serde_json::Error> {
        let spec: ProvisionerSpec = serde_json::from_value(json!({
            "requirements": [{"key": "kubernetes.io/arch", "operator": "Exists"}],
            "limits": {"resources": {"cpu": "1000", "memory": "1000Gi"}},
            "ttlSecondsAfterEmpty": 30,
            "taints": [{"key": "a", "value": "b", "effect": "NoSchedule"}],
            "startupTaints": [{"key": "c", "effect": "NoExecute"}],
            "labels": {"team": "x"},
            "weight": 10,
            "consolidation": {"enabled": false},
            "disruption": {"budgets": [{"nodes": "1"}, {"nodes": "20%"}], "terminationGracePeriodSeconds": 600},
            "provider": {"subnetSelector": {"a": "b"}, "securityGroupSelector": {"c": "d"},
              "instanceProfile": "P", "amiFamily": "Bottlerocket", "tags": {"t": "v"},
              "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 2, "httpTokens": "required"},
              "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi", "volumeType": "gp3",
                "encrypted": true, "deleteOnTermination": true, "iops": 3000, "throughput": 125, "kmsKeyID": "k", "snapshotID": "s"}}],
              "userData": "echo hi"}
        }))?;
        let state = state_from_spec("p", &spec, &Value::Null);
        assert_eq!(spec_from_hcl(&state)?, spec);
        Ok(())
    }

    #[test]
    fn the_kubelet_blocks_attributes_and_api_fields_are_the_models() -> Result<(), serde_json::Error>
    {
        use super::super::model::Kubelet;
        let attrs: Vec<&str> = KUBELET_FIELDS.iter().map(|(a, _, _)| *a).collect();
        assert_eq!(attrs, Kubelet::ATTRIBUTES);
        let all: Kubelet = serde_json::from_value(json!({
            "clusterDNS": ["10.0.0.10"], "maxPods": 1, "podsPerCore": 1,
            "systemReserved": {"cpu": "1"}, "kubeReserved": {"cpu": "1"},
            "evictionHard": {"memory.available": "1%"}, "evictionSoft": {"memory.available": "2%"},
            "evictionSoftGracePeriod": {"memory.available": "1m"}, "evictionMaxPodGracePeriod": 1,
            "imageGCHighThresholdPercent": 90, "imageGCLowThresholdPercent": 80, "cpuCFSQuota": true
        }))?;
        let fields: Vec<String> = serde_json::to_value(&all)?
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut want: Vec<String> = KUBELET_FIELDS
            .iter()
            .map(|(_, f, _)| f.to_string())
            .collect();
        want.sort();
        assert_eq!(fields, want);
        Ok(())
    }

    #[test]
    fn every_block_is_its_model() {
        use super::super::model::*;
        use crate::resources::framework::assert_model_matches;
        let nested = |b: &Block, name: &str| {
            b.blocks
                .iter()
                .find(|n| n.name == name)
                .map(|n| n.block.clone())
                .unwrap_or_default()
        };
        let top = schema().block;
        assert_model_matches::<ProvisionerHcl>("karpenter_provisioner", &top, &[]);
        assert_model_matches::<Requirement>("requirement", &requirement_block(), &[]);
        assert_model_matches::<Taint>("taint", &taint_block(), &[]);
        assert_model_matches::<Kubelet>("kubelet_configuration", &kubelet_block(), &[]);
        let aws = aws_block();
        assert_model_matches::<Aws>("aws", &aws, &[]);
        let metadata = nested(&aws, "metadata_options");
        assert_model_matches::<MetadataOptions>("metadata_options", &metadata, &[]);
        let device = nested(&aws, "block_device_mapping");
        assert_model_matches::<BlockDevice>("block_device_mapping", &device, &[]);
        assert_model_matches::<Ebs>("ebs", &nested(&device, "ebs"), &[]);
        let disruption = nested(&top, "disruption");
        assert_model_matches::<Disruption>("disruption", &disruption, &[]);
        assert_model_matches::<Budget>("budget", &nested(&disruption, "budget"), &[]);
        assert_model_matches::<Consolidation>("consolidation", &nested(&top, "consolidation"), &[]);
    }

    #[test]
    fn an_empty_map_the_user_wrote_is_not_drift() {
        let prior = Value::object([("labels", Value::Map(Default::default()))]);
        let state = state_from_spec("p", &ProvisionerSpec::default(), &prior);
        assert_eq!(state.get("labels"), &Value::Map(Default::default()));
        assert_eq!(state.get("limits"), &Value::Null);
    }
}
