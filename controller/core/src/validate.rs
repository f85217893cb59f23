//! Validation of a Provisioner: every problem a user can make, named by its field path.
//!
//! The provider mirrors these rules at plan time and the CRD schema at the API server; keeping the
//! rules here gives all three one source of truth for the messages.

use crate::api::labels;
use crate::api::provisioner::{
    AwsNodeTemplate, BlockDevice, KubeletConfiguration, NodeSelectorRequirement, Operator,
    Provisioner, ProvisionerSpec, Taint,
};
use crate::bootstrap::{self, AmiFamily};
use crate::scheduling::kubelet;
use crate::scheduling::requirements::Requirements;
use std::fmt;

/// One problem at one field, e.g. `spec.requirements[1].operator: unknown operator "Maybe" ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

impl Provisioner {
    /// Checks everything the controller cannot honour. Returns all problems, not just the first.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector(Vec::new());
        if self.metadata.name.is_empty() {
            c.push("metadata.name", "must not be empty");
        }
        self.spec.validate_into(&mut c, "spec");
        if c.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(c.0))
        }
    }
}

impl ProvisionerSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector(Vec::new());
        self.validate_into(&mut c, "spec");
        if c.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(c.0))
        }
    }

    fn validate_into(&self, c: &mut Collector, at: &str) {
        let before = c.0.len();
        for (i, r) in self.requirements.iter().enumerate() {
            validate_requirement(c, &format!("{at}.requirements[{i}]"), r);
        }
        // Contradictions only make sense once each requirement is well-formed on its own.
        if c.0.len() == before {
            match Requirements::from_node_selector(&self.requirements) {
                Err(e) => c.push(format!("{at}.requirements"), e.to_string()),
                Ok(reqs) => {
                    let no_capacity_type = !labels::CAPACITY_TYPES
                        .iter()
                        .any(|ct| reqs.allows(labels::CAPACITY_TYPE, Some(ct)));
                    if no_capacity_type {
                        c.push(
                            format!("{at}.requirements"),
                            "the karpenter.sh/capacity-type requirements allow neither spot nor on-demand",
                        );
                    }
                    if let Some(key) = reqs.first_unsatisfiable_key() {
                        c.push(
                            format!("{at}.requirements"),
                            format!("the requirements on {key:?} contradict each other: no value satisfies all of them"),
                        );
                    }
                }
            }
        }
        if let Some(limits) = &self.limits {
            for (name, q) in &limits.resources {
                if let Err(e) = q.non_negative_millis() {
                    c.push(format!("{at}.limits.resources[{name}]"), e.to_string());
                }
            }
        }
        for (field, ttl) in [
            ("ttlSecondsAfterEmpty", self.ttl_seconds_after_empty),
            ("ttlSecondsUntilExpired", self.ttl_seconds_until_expired),
        ] {
            if let Some(v) = ttl
                && v < 0
            {
                c.push(
                    format!("{at}.{field}"),
                    format!("must be 0 or more seconds, got {v}"),
                );
            }
        }
        if self.consolidation_enabled() && self.ttl_seconds_after_empty.is_some() {
            c.push(
                format!("{at}.ttlSecondsAfterEmpty"),
                "cannot be set with consolidation.enabled: consolidation removes empty nodes \
                 itself; remove one of the two"
                    .to_string(),
            );
        }
        if let Some(d) = &self.disruption {
            for (i, b) in d.budgets.iter().enumerate() {
                if b.allowed(100).is_none() {
                    c.push(
                        format!("{at}.disruption.budgets[{i}].nodes"),
                        format!(
                            "{:?} is neither a count (\"3\") nor a percentage from 0% to 100% (\"10%\")",
                            b.nodes
                        ),
                    );
                }
            }
            if let Some(s) = d.termination_grace_period_seconds
                && s < 0
            {
                c.push(
                    format!("{at}.disruption.terminationGracePeriodSeconds"),
                    format!("must be 0 or more seconds, got {s}"),
                );
            }
        }
        for (field, taints) in [
            ("taints", &self.taints),
            ("startupTaints", &self.startup_taints),
        ] {
            for (i, t) in taints.iter().enumerate() {
                validate_taint(c, &format!("{at}.{field}[{i}]"), t);
            }
        }
        for (key, value) in &self.labels {
            let path = format!("{at}.labels[{key}]");
            if labels::RESTRICTED_KEYS.contains(&key.as_str()) {
                c.push(
                    path,
                    format!("label {key:?} is set by the controller and cannot be set here"),
                );
            } else if let Err(m) = check_label_key(key) {
                c.push(path, m);
            } else if let Err(m) = check_label_value(value) {
                c.push(path, m);
            }
        }
        if let Some(w) = self.weight
            && !(1..=100).contains(&w)
        {
            c.push(
                format!("{at}.weight"),
                format!("must be between 1 and 100, got {w}"),
            );
        }
        if let Some(p) = &self.provider {
            validate_provider(c, &format!("{at}.provider"), p);
        }
        if let Some(k) = &self.kubelet_configuration {
            let family = self
                .provider
                .as_ref()
                .and_then(|p| AmiFamily::parse(p.ami_family.as_deref()).ok())
                .unwrap_or(AmiFamily::DEFAULT);
            validate_kubelet(c, &format!("{at}.kubeletConfiguration"), k, family);
        }
    }
}

const EVICTION_SIGNALS: [&str; 6] = [
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];

/// A Go duration as the kubelet reads it: `1m30s`, `500ms`, `2h`.
fn is_go_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "ms", "h", "m", "s"]
            .iter()
            .find(|u| rest.starts_with(*u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn validate_kubelet(c: &mut Collector, at: &str, k: &KubeletConfiguration, family: AmiFamily) {
    for (i, ip) in k.cluster_dns.iter().enumerate() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            c.push(
                format!("{at}.clusterDNS[{i}]"),
                format!("{ip:?} is not an IP address"),
            );
        }
    }
    if let Some(n) = k.max_pods
        && !(1..=1000).contains(&n)
    {
        c.push(
            format!("{at}.maxPods"),
            format!("must be between 1 and 1000, got {n}"),
        );
    }
    if let Some(n) = k.pods_per_core {
        if n < 0 {
            c.push(
                format!("{at}.podsPerCore"),
                format!("must not be negative, got {n}"),
            );
        } else if family == AmiFamily::Bottlerocket {
            c.push(
                format!("{at}.podsPerCore"),
                "Bottlerocket has no pods-per-core setting; set maxPods instead",
            );
        }
    }
    for (field, map) in [
        ("kubeReserved", &k.kube_reserved),
        ("systemReserved", &k.system_reserved),
    ] {
        for (resource, q) in map {
            let path = format!("{at}.{field}[{resource}]");
            if !kubelet::RESERVABLE.contains(&resource.as_str()) {
                c.push(
                    path,
                    format!(
                        "unknown resource; use one of {}",
                        kubelet::RESERVABLE.join(", ")
                    ),
                );
            } else if let Err(e) = q.non_negative_millis() {
                c.push(path, e.to_string());
            }
        }
    }
    for (field, map) in [
        ("evictionHard", &k.eviction_hard),
        ("evictionSoft", &k.eviction_soft),
    ] {
        for (signal, value) in map {
            let path = format!("{at}.{field}[{signal}]");
            if !EVICTION_SIGNALS.contains(&signal.as_str()) {
                c.push(
                    path,
                    format!(
                        "unknown eviction signal; use one of {}",
                        EVICTION_SIGNALS.join(", ")
                    ),
                );
            } else if kubelet::threshold(value, 100).is_none() {
                c.push(
                    path,
                    format!("{value:?} is neither a quantity (100Mi) nor a percentage (10%)"),
                );
            } else if field == "evictionHard"
                && value.trim().ends_with('%')
                && kubelet::threshold(value, 100) == Some(100)
            {
                c.push(
                    path,
                    format!(
                        "{value:?} leaves pods nothing: the kubelet would evict as soon as they use any; \
                         use a lower threshold such as 10%"
                    ),
                );
            }
        }
    }
    for signal in k.eviction_soft.keys() {
        if !k.eviction_soft_grace_period.contains_key(signal) {
            c.push(
                format!("{at}.evictionSoftGracePeriod"),
                format!("evictionSoft[{signal}] needs a grace period here; the kubelet refuses to start without one"),
            );
        }
    }
    for (signal, period) in &k.eviction_soft_grace_period {
        let path = format!("{at}.evictionSoftGracePeriod[{signal}]");
        if !k.eviction_soft.contains_key(signal) {
            c.push(path, "has no evictionSoft threshold of the same signal");
        } else if !is_go_duration(period) {
            c.push(path, format!("{period:?} is not a duration like 1m30s"));
        }
    }
    if let Some(n) = k.eviction_max_pod_grace_period
        && n < 0
    {
        c.push(
            format!("{at}.evictionMaxPodGracePeriod"),
            format!("must not be negative, got {n}"),
        );
    }
    for (field, v) in [
        (
            "imageGCHighThresholdPercent",
            k.image_gc_high_threshold_percent,
        ),
        (
            "imageGCLowThresholdPercent",
            k.image_gc_low_threshold_percent,
        ),
    ] {
        if let Some(p) = v
            && !(0..=100).contains(&p)
        {
            c.push(
                format!("{at}.{field}"),
                format!("must be between 0 and 100, got {p}"),
            );
        }
    }
    if let (Some(high), Some(low)) = (
        k.image_gc_high_threshold_percent,
        k.image_gc_low_threshold_percent,
    ) && low >= high
    {
        c.push(
            format!("{at}.imageGCLowThresholdPercent"),
            format!("must be below imageGCHighThresholdPercent ({high}), got {low}"),
        );
    }
}

fn validate_requirement(c: &mut Collector, at: &str, r: &NodeSelectorRequirement) {
    if let Err(m) = check_label_key(&r.key) {
        c.push(format!("{at}.key"), m);
    }
    if labels::RESTRICTED_KEYS.contains(&r.key.as_str()) {
        c.push(
            format!("{at}.key"),
            format!(
                "{:?} is set by the controller and cannot be required",
                r.key
            ),
        );
    }
    let values = format!("{at}.values");
    match &r.operator {
        Operator::Unknown(op) => c.push(
            format!("{at}.operator"),
            format!(
                "unknown operator {op:?}; use one of {}",
                Operator::KNOWN.join(", ")
            ),
        ),
        Operator::In | Operator::NotIn => {
            if r.values.is_empty() {
                c.push(
                    values,
                    format!("operator {} needs at least one value", r.operator),
                );
            } else if r.key == labels::CAPACITY_TYPE {
                for (i, v) in r.values.iter().enumerate() {
                    if !labels::CAPACITY_TYPES.contains(&v.as_str()) {
                        c.push(
                            format!("{at}.values[{i}]"),
                            format!("capacity type {v:?} is not one of \"spot\", \"on-demand\""),
                        );
                    }
                }
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !r.values.is_empty() {
                c.push(values, format!("operator {} takes no values", r.operator));
            }
        }
        Operator::Gt | Operator::Lt => {
            if r.values.len() != 1 || r.values[0].parse::<i64>().is_err() {
                c.push(
                    values,
                    format!(
                        "operator {} needs exactly one integer value, got {:?}",
                        r.operator, r.values
                    ),
                );
            }
        }
    }
}

fn validate_taint(c: &mut Collector, at: &str, t: &Taint) {
    if let Err(m) = check_label_key(&t.key) {
        c.push(format!("{at}.key"), m);
    }
    if let Some(v) = &t.value
        && let Err(m) = check_label_value(v)
    {
        c.push(format!("{at}.value"), m);
    }
    if !Taint::EFFECTS.contains(&t.effect.as_str()) {
        c.push(
            format!("{at}.effect"),
            format!(
                "effect {:?} is not one of {}",
                t.effect,
                Taint::EFFECTS.join(", ")
            ),
        );
    }
}

fn validate_provider(c: &mut Collector, at: &str, p: &AwsNodeTemplate) {
    if p.subnet_selector.is_empty() {
        c.push(
            format!("{at}.subnetSelector"),
            "must select subnets by at least one tag, e.g. karpenter.sh/discovery: <cluster>",
        );
    }
    for (key, value) in &p.ami_selector {
        if let Err(e) = bootstrap::ami_selector::check_entry(key, value) {
            c.push(format!("{at}.amiSelector[{key}]"), e);
        }
    }
    match AmiFamily::parse(p.ami_family.as_deref()) {
        Ok(AmiFamily::Custom) if p.ami_selector.is_empty() => c.push(
            format!("{at}.amiSelector"),
            "amiFamily Custom needs an amiSelector naming the image, e.g. aws::ids: ami-0123456789abcdef0",
        ),
        Ok(family) => {
            if let Some(user) = &p.user_data
                && let Err(e) = bootstrap::check_user_data(family, user)
            {
                c.push(
                    format!("{at}.userData"),
                    format!("{e} (amiFamily {family})"),
                );
            }
        }
        Err(e) => c.push(format!("{at}.amiFamily"), e),
    }
    if let Some(m) = &p.metadata_options {
        let one_of = |c: &mut Collector, field: &str, v: &Option<String>, allowed: &[&str]| {
            if let Some(v) = v
                && !allowed.contains(&v.as_str())
            {
                c.push(
                    format!("{at}.metadataOptions.{field}"),
                    format!("{v:?} is not one of {}", allowed.join(", ")),
                );
            }
        };
        one_of(
            c,
            "httpEndpoint",
            &m.http_endpoint,
            &["enabled", "disabled"],
        );
        one_of(
            c,
            "httpProtocolIPv6",
            &m.http_protocol_ipv6,
            &["enabled", "disabled"],
        );
        one_of(c, "httpTokens", &m.http_tokens, &["required", "optional"]);
        if let Some(h) = m.http_put_response_hop_limit
            && !(1..=64).contains(&h)
        {
            c.push(
                format!("{at}.metadataOptions.httpPutResponseHopLimit"),
                format!("must be between 1 and 64, got {h}"),
            );
        }
    }
    for (i, b) in p.block_device_mappings.iter().enumerate() {
        let Some(ebs) = &b.ebs else { continue };
        let path = format!("{at}.blockDeviceMappings[{i}].ebs");
        if let Some(size) = &ebs.volume_size {
            match size.non_negative_millis() {
                Err(e) => c.push(format!("{path}.volumeSize"), e.to_string()),
                Ok(0) => c.push(format!("{path}.volumeSize"), "must be larger than 0"),
                Ok(_) => {}
            }
        }
        if let Some(t) = &ebs.volume_type
            && !BlockDevice::VOLUME_TYPES.contains(&t.as_str())
        {
            c.push(
                format!("{path}.volumeType"),
                format!(
                    "volume type {t:?} is not one of {}",
                    BlockDevice::VOLUME_TYPES.join(", ")
                ),
            );
        }
    }
}

/// A qualified name as Kubernetes label keys use: optional DNS prefix, '/', then a name of at most
/// 63 characters of alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            }))
    {
        return Err(format!(
            "label key {key:?} has an invalid prefix (a lowercase DNS subdomain)"
        ));
    }
    if name.is_empty() || name.len() > 63 || !is_label_name(name) {
        return Err(format!(
            "label key {key:?} must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || (value.len() <= 63 && is_label_name(value)) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?} must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    ends_ok(s.chars().next())
        && ends_ok(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::provisioner::{BlockDeviceMapping, Limits, MetadataOptions};
    use crate::api::quantity::Quantity;

    fn spot_fleet() -> Provisioner {
        Provisioner::new(
            "spot-fleet",
            ProvisionerSpec {
                requirements: vec![
                    NodeSelectorRequirement::new(
                        labels::INSTANCE_TYPE,
                        Operator::In,
                        &["m5.large", "m5.2xlarge"],
                    ),
                    NodeSelectorRequirement::new(labels::CAPACITY_TYPE, Operator::In, &["spot"]),
                ],
                provider: Some(AwsNodeTemplate {
                    subnet_selector: [("karpenter.sh/discovery".to_string(), "demo".to_string())]
                        .into(),
                    ..AwsNodeTemplate::default()
                }),
                ttl_seconds_until_expired: Some(2_592_000),
                ..ProvisionerSpec::default()
            },
        )
    }

    fn paths(p: &Provisioner) -> Vec<String> {
        match p.validate() {
            Ok(()) => vec![],
            Err(e) => e.0.into_iter().map(|f| f.path).collect(),
        }
    }

    #[test]
    fn consolidation_excludes_ttl_after_empty_and_budgets_are_counts_or_percentages() {
        use crate::api::{Budget, Consolidation, Disruption};
        let mut p = Provisioner::new("p", ProvisionerSpec::default());
        p.spec.consolidation = Some(Consolidation {
            enabled: Some(true),
        });
        p.spec.ttl_seconds_after_empty = Some(30);
        p.spec.disruption = Some(Disruption {
            budgets: vec![
                Budget {
                    nodes: "10%".into(),
                },
                Budget {
                    nodes: "two".into(),
                },
                Budget {
                    nodes: "101%".into(),
                },
            ],
            termination_grace_period_seconds: Some(-1),
        });
        let Err(errors) = p.spec.validate() else {
            panic!("invalid spec accepted");
        };
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.ttlSecondsAfterEmpty",
                "spec.disruption.budgets[1].nodes",
                "spec.disruption.budgets[2].nodes",
                "spec.disruption.terminationGracePeriodSeconds"
            ]
        );
    }

    #[test]
    fn the_most_restrictive_budget_applies_and_ten_percent_rounded_up_is_the_default() {
        use crate::api::{Budget, Disruption};
        let mut spec = ProvisionerSpec::default();
        assert_eq!(spec.allowed_disruptions(5), 1);
        assert_eq!(spec.allowed_disruptions(30), 3);
        assert_eq!(spec.allowed_disruptions(0), 0);
        spec.disruption = Some(Disruption {
            budgets: vec![
                Budget {
                    nodes: "50%".into(),
                },
                Budget { nodes: "2".into() },
            ],
            termination_grace_period_seconds: None,
        });
        assert_eq!(spec.allowed_disruptions(10), 2);
        assert_eq!(spec.allowed_disruptions(3), 2);
        assert_eq!(spec.allowed_disruptions(1), 1);
    }

    #[test]
    fn the_seed_provisioner_is_valid() {
        assert_eq!(spot_fleet().validate(), Ok(()));
    }

    #[test]
    fn an_unknown_operator_is_reported_at_its_path() {
        let mut p = spot_fleet();
        p.spec.requirements[1].operator = Operator::Unknown("Maybe".into());
        let err = p
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("spec.requirements[1].operator: unknown operator \"Maybe\""),
            "{err}"
        );
    }

    #[test]
    fn a_capacity_type_other_than_spot_or_on_demand_is_rejected() {
        let mut p = spot_fleet();
        p.spec.requirements[1].values = vec!["spot".into(), "reserved".into()];
        assert_eq!(paths(&p), vec!["spec.requirements[1].values[1]"]);
    }

    #[test]
    fn negative_ttls_are_rejected() {
        let mut p = spot_fleet();
        p.spec.ttl_seconds_after_empty = Some(-1);
        p.spec.ttl_seconds_until_expired = Some(-5);
        assert_eq!(
            paths(&p),
            vec!["spec.ttlSecondsAfterEmpty", "spec.ttlSecondsUntilExpired"]
        );
    }

    #[test]
    fn gt_and_lt_need_exactly_one_integer() {
        let mut p = spot_fleet();
        p.spec.requirements.push(NodeSelectorRequirement::new(
            labels::INSTANCE_CPU,
            Operator::Gt,
            &["four"],
        ));
        p.spec.requirements.push(NodeSelectorRequirement::new(
            labels::INSTANCE_CPU,
            Operator::Lt,
            &["1", "2"],
        ));
        assert_eq!(
            paths(&p),
            vec!["spec.requirements[2].values", "spec.requirements[3].values"]
        );
    }

    #[test]
    fn in_needs_values_and_exists_takes_none() {
        let mut p = spot_fleet();
        p.spec
            .requirements
            .push(NodeSelectorRequirement::new("team", Operator::In, &[]));
        p.spec.requirements.push(NodeSelectorRequirement::new(
            "team",
            Operator::Exists,
            &["a"],
        ));
        assert_eq!(
            paths(&p),
            vec!["spec.requirements[2].values", "spec.requirements[3].values"]
        );
    }

    #[test]
    fn contradicting_requirements_are_reported() {
        let mut p = spot_fleet();
        p.spec.requirements.push(NodeSelectorRequirement::new(
            labels::INSTANCE_TYPE,
            Operator::NotIn,
            &["m5.large", "m5.2xlarge"],
        ));
        assert_eq!(paths(&p), vec!["spec.requirements"]);
    }

    #[test]
    fn a_capacity_type_requirement_that_allows_nothing_is_rejected() {
        let mut p = spot_fleet();
        p.spec.requirements[1] = NodeSelectorRequirement::new(
            labels::CAPACITY_TYPE,
            Operator::NotIn,
            &["spot", "on-demand"],
        );
        assert_eq!(paths(&p), vec!["spec.requirements"]);
    }

    #[test]
    fn bad_quantities_in_limits_and_volumes_are_rejected() {
        let mut p = spot_fleet();
        p.spec.limits = Some(Limits {
            resources: [
                ("cpu".to_string(), Quantity::new("1000")),
                ("memory".to_string(), Quantity::new("10Gb")),
            ]
            .into(),
        });
        if let Some(t) = p.spec.provider.as_mut() {
            t.block_device_mappings = vec![BlockDeviceMapping {
                device_name: Some("/dev/xvda".into()),
                ebs: Some(BlockDevice {
                    volume_size: Some(Quantity::new("-20Gi")),
                    volume_type: Some("gp9".into()),
                    ..BlockDevice::default()
                }),
            }];
        }
        assert_eq!(
            paths(&p),
            vec![
                "spec.limits.resources[memory]",
                "spec.provider.blockDeviceMappings[0].ebs.volumeSize",
                "spec.provider.blockDeviceMappings[0].ebs.volumeType",
            ]
        );
    }

    #[test]
    fn restricted_labels_taint_effects_weight_and_metadata_options_are_checked() {
        let mut p = spot_fleet();
        p.spec
            .labels
            .insert(labels::PROVISIONER_NAME.into(), "x".into());
        p.spec
            .taints
            .push(Taint::new("dedicated", Some("gpu"), "NoWay"));
        p.spec.weight = Some(0);
        if let Some(t) = p.spec.provider.as_mut() {
            t.metadata_options = Some(MetadataOptions {
                http_tokens: Some("sometimes".into()),
                http_put_response_hop_limit: Some(99),
                ..MetadataOptions::default()
            });
            t.ami_family = Some("Gentoo".into());
        }
        assert_eq!(
            paths(&p),
            vec![
                "spec.taints[0].effect",
                "spec.labels[karpenter.sh/provisioner-name]",
                "spec.weight",
                "spec.provider.amiFamily",
                "spec.provider.metadataOptions.httpTokens",
                "spec.provider.metadataOptions.httpPutResponseHopLimit",
            ]
        );
    }

    #[test]
    fn al2_is_refused_saying_why_and_user_data_must_fit_the_family() {
        let mut p = spot_fleet();
        if let Some(t) = p.spec.provider.as_mut() {
            t.ami_family = Some("AL2".into());
        }
        let e = p.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("spec.provider.amiFamily: AL2 is not supported"),
            "{e}"
        );
        assert!(e.contains("end of support"), "{e}");
        if let Some(t) = p.spec.provider.as_mut() {
            t.ami_family = Some("Bottlerocket".into());
            t.user_data = Some("[settings\n".into());
        }
        let e = p.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("spec.provider.userData: not valid TOML"),
            "{e}"
        );
        assert!(e.contains("(amiFamily Bottlerocket)"), "{e}");
    }

    #[test]
    fn kubelet_settings_are_checked_field_by_field() {
        use crate::api::Quantity;
        let mut p = spot_fleet();
        p.spec.kubelet_configuration = Some(KubeletConfiguration {
            cluster_dns: vec!["10.0.0.10".into(), "dns".into()],
            max_pods: Some(0),
            kube_reserved: [("gpu".to_string(), Quantity::new("1"))].into(),
            system_reserved: [("memory".to_string(), Quantity::new("-1Gi"))].into(),
            eviction_hard: [
                ("memory.available".to_string(), "lots".to_string()),
                ("nodefs.available".to_string(), "100%".to_string()),
            ]
            .into(),
            eviction_soft: [("nodefs.available".to_string(), "15%".to_string())].into(),
            image_gc_high_threshold_percent: Some(80),
            image_gc_low_threshold_percent: Some(85),
            ..KubeletConfiguration::default()
        });
        assert_eq!(
            paths(&p),
            vec![
                "spec.kubeletConfiguration.clusterDNS[1]",
                "spec.kubeletConfiguration.maxPods",
                "spec.kubeletConfiguration.kubeReserved[gpu]",
                "spec.kubeletConfiguration.systemReserved[memory]",
                "spec.kubeletConfiguration.evictionHard[memory.available]",
                "spec.kubeletConfiguration.evictionHard[nodefs.available]",
                "spec.kubeletConfiguration.evictionSoftGracePeriod",
                "spec.kubeletConfiguration.imageGCLowThresholdPercent",
            ]
        );
        assert!(is_go_duration("1m30s") && is_go_duration("500ms") && !is_go_duration("5 minutes"));
    }

    #[test]
    fn label_keys_follow_kubernetes_rules() {
        assert!(check_label_key("karpenter.k8s.aws/instance-family").is_ok());
        assert!(check_label_key("team").is_ok());
        assert!(check_label_key("Bad_Prefix/x").is_err());
        assert!(check_label_key("-x").is_err());
        assert!(check_label_key("").is_err());
    }

    fn any_requirement() -> impl proptest::strategy::Strategy<Value = NodeSelectorRequirement> {
        use proptest::prelude::*;
        (
            prop::sample::select(vec![
                labels::INSTANCE_TYPE,
                labels::CAPACITY_TYPE,
                labels::INSTANCE_CPU,
                "team",
                "Bad Key",
            ]),
            prop::sample::select(vec![
                "In",
                "NotIn",
                "Exists",
                "DoesNotExist",
                "Gt",
                "Lt",
                "Maybe",
            ]),
            prop::collection::vec(
                prop::sample::select(vec!["spot", "on-demand", "4", "x", ""]),
                0..3,
            ),
        )
            .prop_map(|(k, op, vals)| NodeSelectorRequirement::new(k, Operator::parse(op), &vals))
    }

    proptest::proptest! {
        #[test]
        fn every_error_points_into_the_spec_and_valid_requirements_solve(reqs in proptest::collection::vec(any_requirement(), 0..5)) {
            let mut p = spot_fleet();
            p.spec.requirements = reqs;
            match p.validate() {
                Err(errors) => {
                    for e in errors.0 {
                        proptest::prop_assert!(e.path.starts_with("spec.requirements"), "{}", e);
                        proptest::prop_assert!(!e.message.is_empty());
                    }
                }
                // Whatever validation accepts, the scheduler can use.
                Ok(()) => {
                    let reqs = crate::scheduling::provisioner_requirements(&p);
                    proptest::prop_assert!(reqs.is_ok(), "{:?}", reqs);
                }
            }
        }
    }
}
