//! Plan-time checks of a Provisioner: the core's validation (the same rules the CRD enforces)
//! reported at Terraform attribute paths, and the seed's advice as warnings.

use std::collections::BTreeSet;

use karpenter_core::api::{Operator, ProvisionerSpec, labels};

use crate::plugin::{AttributePath, Diagnostics};

/// Renames from the Kubernetes JSON to the HCL schema; blocks of at most one element get `[0]`.
fn hcl_name(segment: &str) -> (String, bool) {
    match segment {
        "requirements" => ("requirement".into(), false),
        "taints" => ("taint".into(), false),
        "startupTaints" => ("startup_taint".into(), false),
        "provider" => ("aws".into(), true),
        "metadataOptions" => ("metadata_options".into(), true),
        "blockDeviceMappings" => ("block_device_mapping".into(), false),
        "ebs" => ("ebs".into(), true),
        "httpProtocolIPv6" => ("http_protocol_ipv6".into(), false),
        "kmsKeyID" => ("kms_key_id".into(), false),
        "snapshotID" => ("snapshot_id".into(), false),
        "kubeletConfiguration" => ("kubelet_configuration".into(), true),
        "consolidation" => ("consolidation".into(), true),
        "disruption" => ("disruption".into(), true),
        "budgets" => ("budget".into(), false),
        "clusterDNS" => ("cluster_dns".into(), false),
        "imageGCHighThresholdPercent" => ("image_gc_high_threshold_percent".into(), false),
        "imageGCLowThresholdPercent" => ("image_gc_low_threshold_percent".into(), false),
        "cpuCFSQuota" => ("cpu_cfs_quota".into(), false),
        other => (snake(other), false),
    }
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `spec.requirements[1].values[0]` -> `requirement[1].values[0]`;
/// `spec.limits.resources[cpu]` -> `limits["cpu"]`; `spec.provider.subnetSelector` ->
/// `aws[0].subnet_selector`.
pub fn attribute_path(core_path: &str) -> AttributePath {
    let rest = core_path.strip_prefix("spec.").unwrap_or(core_path);
    let mut path = AttributePath::root();
    let mut after_limits = false;
    // Map keys may hold dots (`labels[kubernetes.io/hostname]`): split on dots outside brackets only.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    for part in parts {
        let (field, subscripts) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if after_limits && field == "resources" {
            after_limits = false;
        } else if !field.is_empty() {
            let (name, single) = hcl_name(field);
            after_limits = name == "limits";
            path = path.push_attr(name);
            if single {
                path = path.push_index(0);
            }
        }
        for sub in subscripts.split(']').filter(|s| !s.is_empty()) {
            let key = sub.trim_start_matches('[');
            path = match key.parse::<usize>() {
                Ok(i) => path.push_index(i),
                Err(_) => path.push_key(key),
            };
        }
    }
    path
}

/// Every rule the CRD and the controller enforce, as errors at attribute paths.
pub fn validate(spec: &ProvisionerSpec, diags: &mut Diagnostics) {
    if let Err(errors) = spec.validate() {
        for e in errors.0 {
            diags.error_at(
                attribute_path(&e.path),
                "Invalid provisioner",
                format!(
                    "{}: {} (the CRD or the controller refuses it too)",
                    e.path, e.message
                ),
            );
        }
    }
}

/// Values a requirement allows for `key` when it lists them with `In`, with its index.
pub fn allowed(spec: &ProvisionerSpec, key: &str) -> Option<(usize, Vec<String>)> {
    spec.requirements
        .iter()
        .enumerate()
        .find(|(_, r)| r.key == key && r.operator == Operator::In)
        .map(|(i, r)| (i, r.values.clone()))
}

fn family(instance_type: &str) -> &str {
    instance_type.split('.').next().unwrap_or(instance_type)
}

/// The T families (t2, t3, t3a, t4g): a `t` followed by the generation digit, which keeps
/// trn1 and the like out.
fn is_burstable(family: &str) -> bool {
    let mut chars = family.chars();
    chars.next() == Some('t') && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Fewer distinct (instance type, zone) pools than this gives spot little room to find capacity.
pub const MIN_SPOT_POOLS: usize = 10;

/// The seed's advice that does not need AWS: do not mix burstable and fixed-performance families,
/// and spread spot over enough pools to ride out interruptions.
pub fn advise(spec: &ProvisionerSpec, diags: &mut Diagnostics) {
    let types = allowed(spec, labels::INSTANCE_TYPE);
    if let Some((i, types)) = &types {
        let families: BTreeSet<&str> = types.iter().map(|t| family(t)).collect();
        let (burst, fixed): (Vec<&str>, Vec<&str>) = families.iter().partition(|f| is_burstable(f));
        if !burst.is_empty() && !fixed.is_empty() {
            diags.warning_at(
                AttributePath::attr("requirement").push_index(*i).push_attr("values"),
                "Burstable and non-burstable instance families mixed",
                format!(
                    "Burstable families ({}) share CPU credits and perform differently from {}; pods may land on either. \
                     Put burstable types in their own provisioner.",
                    burst.join(", "),
                    fixed.join(", ")
                ),
            );
        }
    }
    let spot_allowed = match allowed(spec, labels::CAPACITY_TYPE) {
        Some((_, v)) => v.iter().any(|c| c == "spot"),
        None => false,
    };
    if let (true, Some((i, types)), Some((_, zones))) =
        (spot_allowed, &types, allowed(spec, labels::ZONE))
    {
        let pools = types.len() * zones.len();
        if pools < MIN_SPOT_POOLS {
            diags.warning_at(
                AttributePath::attr("requirement").push_index(*i).push_attr("values"),
                "Few spot capacity pools",
                format!(
                    "{} instance types x {} zones = {pools} spot pools; with fewer than {MIN_SPOT_POOLS} an interruption wave \
                     can leave no capacity. Allow more instance types (similar size, other families or generations).",
                    types.len(),
                    zones.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::api::NodeSelectorRequirement;

    fn p(s: &str) -> String {
        format!("{:?}", attribute_path(s))
    }

    #[test]
    fn core_paths_become_hcl_paths() {
        let eq = |core: &str, want: AttributePath| assert_eq!(attribute_path(core), want, "{core}");
        eq(
            "spec.disruption.budgets[1].nodes",
            AttributePath::attr("disruption")
                .push_index(0)
                .push_attr("budget")
                .push_index(1)
                .push_attr("nodes"),
        );
        let req = AttributePath::attr("requirement");
        eq(
            "spec.requirements[1].operator",
            req.push_index(1).push_attr("operator"),
        );
        eq(
            "spec.requirements[0].values[2]",
            req.push_index(0).push_attr("values").push_index(2),
        );
        eq(
            "spec.limits.resources[cpu]",
            AttributePath::attr("limits").push_key("cpu"),
        );
        eq(
            "spec.labels[kubernetes.io/hostname]",
            AttributePath::attr("labels").push_key("kubernetes.io/hostname"),
        );
        eq(
            "spec.provider.subnetSelector",
            AttributePath::attr("aws")
                .push_index(0)
                .push_attr("subnet_selector"),
        );
        eq(
            "spec.provider.metadataOptions.httpPutResponseHopLimit",
            AttributePath::attr("aws")
                .push_index(0)
                .push_attr("metadata_options")
                .push_index(0)
                .push_attr("http_put_response_hop_limit"),
        );
        eq(
            "spec.provider.blockDeviceMappings[1].ebs.volumeSize",
            AttributePath::attr("aws")
                .push_index(0)
                .push_attr("block_device_mapping")
                .push_index(1)
                .push_attr("ebs")
                .push_index(0)
                .push_attr("volume_size"),
        );
        eq(
            "spec.kubeletConfiguration.clusterDNS[1]",
            AttributePath::attr("kubelet_configuration")
                .push_index(0)
                .push_attr("cluster_dns")
                .push_index(1),
        );
        eq(
            "spec.kubeletConfiguration.evictionHard[memory.available]",
            AttributePath::attr("kubelet_configuration")
                .push_index(0)
                .push_attr("eviction_hard")
                .push_key("memory.available"),
        );
        eq(
            "spec.startupTaints[0].effect",
            AttributePath::attr("startup_taint")
                .push_index(0)
                .push_attr("effect"),
        );
        eq(
            "spec.ttlSecondsAfterEmpty",
            AttributePath::attr("ttl_seconds_after_empty"),
        );
        assert_ne!(p("spec.weight"), p("spec.labels"));
    }

    fn spec(types: &[&str], zones: &[&str], capacity: &[&str]) -> ProvisionerSpec {
        let mut s = ProvisionerSpec::default();
        s.requirements.push(NodeSelectorRequirement::new(
            labels::INSTANCE_TYPE,
            Operator::In,
            types,
        ));
        s.requirements.push(NodeSelectorRequirement::new(
            labels::ZONE,
            Operator::In,
            zones,
        ));
        s.requirements.push(NodeSelectorRequirement::new(
            labels::CAPACITY_TYPE,
            Operator::In,
            capacity,
        ));
        s
    }

    fn summaries(s: &ProvisionerSpec) -> Vec<String> {
        let mut d = Diagnostics::new();
        advise(s, &mut d);
        d.iter().map(|d| d.summary.clone()).collect()
    }

    #[test]
    fn mixing_burstable_and_fixed_families_is_warned() {
        let s = spec(
            &["t3.large", "m5.large", "m5a.large", "c5.large", "r5.large"],
            &["a", "b"],
            &["on-demand"],
        );
        assert_eq!(
            summaries(&s),
            vec!["Burstable and non-burstable instance families mixed"]
        );
        let s = spec(&["t3.large", "t3a.large"], &["a"], &["on-demand"]);
        assert!(summaries(&s).is_empty());
        // Trainium is not a T family.
        let s = spec(&["trn1.2xlarge", "p4d.24xlarge"], &["a"], &["on-demand"]);
        assert!(summaries(&s).is_empty());
    }

    #[test]
    fn the_seed_spot_fleet_has_too_few_pools() {
        let s = spec(&["m5.large", "m5.2xlarge"], &["a", "b", "c"], &["spot"]);
        assert_eq!(summaries(&s), vec!["Few spot capacity pools"]);
        let s = spec(
            &["m5.large", "m5a.large", "m6i.large", "m5n.large"],
            &["a", "b", "c"],
            &["spot"],
        );
        assert!(summaries(&s).is_empty());
        let s = spec(&["m5.large"], &["a"], &["on-demand"]);
        assert!(summaries(&s).is_empty(), "pools only matter for spot");
    }
}
