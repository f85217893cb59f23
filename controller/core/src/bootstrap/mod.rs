//! What a launched instance needs in its user data to join the cluster, per AMI family.
//!
//! - AL2023 (the default): a MIME multi-part document whose `application/node.eks.aws` part is a
//!   nodeadm `NodeConfig` (cluster coordinates, kubelet settings, labels and taints). The
//!   Provisioner's own user data comes first: its parts as they are, or, when it is not MIME,
//!   as one part (a NodeConfig, cloud-config or shell script). nodeadm merges NodeConfig parts in
//!   order, so ours, last, win where both set a field.
//! - Bottlerocket: TOML settings; the Provisioner's TOML is the base and ours are merged over it.
//! - Custom: the Provisioner's user data verbatim; the image comes from an amiSelector
//!   ([`ami_selector`], which any family may use instead of its public image).
//!
//! Pure: the caller supplies the cluster's coordinates (settings or EKS DescribeCluster).

mod al2023;
pub mod ami_selector;
mod bottlerocket;

use crate::api::{KubeletConfiguration, Taint};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// The families this controller can bootstrap, and why the others are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AmiFamily {
    Al2023,
    Bottlerocket,
    Custom,
}

impl AmiFamily {
    pub const SUPPORTED: [&'static str; 3] = ["AL2023", "Bottlerocket", "Custom"];
    pub const DEFAULT: AmiFamily = AmiFamily::Al2023;

    /// The family an `amiFamily` value names (absent: AL2023), or why it is refused.
    pub fn parse(name: Option<&str>) -> Result<AmiFamily, String> {
        match name {
            None | Some("AL2023") => Ok(AmiFamily::Al2023),
            Some("Bottlerocket") => Ok(AmiFamily::Bottlerocket),
            Some("Custom") => Ok(AmiFamily::Custom),
            Some("AL2") => Err(
                "AL2 is not supported: EKS publishes no Amazon Linux 2 AMI for Kubernetes 1.33 or later \
                 (end of support); use AL2023 (the default) or Bottlerocket"
                    .to_string(),
            ),
            Some(other @ ("Ubuntu" | "Windows2019" | "Windows2022")) => Err(format!(
                "{other} is not supported by karpenter-rs: it writes bootstrap user data for AL2023 and \
                 Bottlerocket only; use one of those, or Custom with an amiSelector and your own user data"
            )),
            Some(other) => Err(format!(
                "unknown AMI family {other:?}; use one of {}",
                Self::SUPPORTED.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AmiFamily::Al2023 => "AL2023",
            AmiFamily::Bottlerocket => "Bottlerocket",
            AmiFamily::Custom => "Custom",
        }
    }
}

impl fmt::Display for AmiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cluster coordinates a node needs, as EKS DescribeCluster reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterFacts {
    pub name: String,
    /// `https://...` URL of the API server.
    pub endpoint: String,
    /// Base64 of the PEM bundle of the cluster's certificate authority (DescribeCluster's
    /// `certificateAuthority.data`).
    pub ca_bundle: String,
    /// The Service CIDR (`kubernetesNetworkConfig.serviceIpv4Cidr` or `serviceIpv6Cidr`).
    pub service_cidr: String,
}

/// Per-node settings that go into the bootstrap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSetup {
    pub labels: BTreeMap<String, String>,
    /// Taints the kubelet registers the node with (the Provisioner's taints and startupTaints).
    pub taints: Vec<Taint>,
    /// The Provisioner's kubeletConfiguration, written as it is; what it leaves unset takes the
    /// image's defaults (see crate::scheduling::kubelet for the arithmetic both sides share).
    pub kubelet: Option<KubeletConfiguration>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    #[error("userData: {0}")]
    UserData(String),
    #[error("cluster: {0}")]
    Cluster(String),
}

/// Whether the kubelet may set this label on its own Node (`--node-labels`, Bottlerocket
/// `node-labels`): it refuses to start with other keys under kubernetes.io or k8s.io, which the
/// controller sets on the Node object instead.
pub fn kubelet_may_set(key: &str) -> bool {
    const ALLOWED: [&str; 9] = [
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
    ];
    let Some((prefix, _)) = key.split_once('/') else {
        return true;
    };
    let under = |domain: &str| prefix == domain || prefix.ends_with(&format!(".{domain}"));
    if !under("kubernetes.io") && !under("k8s.io") {
        return true;
    }
    ALLOWED.contains(&key) || under("kubelet.kubernetes.io") || under("node.kubernetes.io")
}

/// The user data for one launch template: None when there is nothing to write (Custom without
/// user data).
pub fn user_data(
    family: AmiFamily,
    cluster: &ClusterFacts,
    node: &NodeSetup,
    user: Option<&str>,
) -> Result<Option<String>, BootstrapError> {
    let node = &NodeSetup {
        labels: node
            .labels
            .iter()
            .filter(|(k, _)| kubelet_may_set(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..node.clone()
    };
    match family {
        AmiFamily::Custom => Ok(user.map(str::to_string)),
        AmiFamily::Al2023 => {
            let dns = cluster_dns_ip(&cluster.service_cidr)?;
            al2023::user_data(cluster, dns, node, user).map(Some)
        }
        AmiFamily::Bottlerocket => {
            let dns = cluster_dns_ip(&cluster.service_cidr)?;
            bottlerocket::user_data(cluster, dns, node, user).map(Some)
        }
    }
}

/// Whether the Provisioner's own user data can be merged with ours for this family: MIME that
/// does not parse (AL2023), TOML that does not parse (Bottlerocket). Custom takes anything.
pub fn check_user_data(family: AmiFamily, user: &str) -> Result<(), String> {
    match family {
        AmiFamily::Custom => Ok(()),
        AmiFamily::Al2023 => al2023::user_parts(user).map(|_| ()),
        AmiFamily::Bottlerocket => bottlerocket::parse(user).map(|_| ()),
    }
}

/// The cluster DNS Service address EKS assigns: the tenth address of the Service CIDR (for
/// 10.100.0.0/16, 10.100.0.10; for fd00:1234::/108, fd00:1234::a).
pub fn cluster_dns_ip(service_cidr: &str) -> Result<IpAddr, BootstrapError> {
    let bad = |why: &str| {
        BootstrapError::Cluster(format!(
            "service CIDR {service_cidr:?} {why}; set serviceCIDR to the cluster's Service range, e.g. 10.100.0.0/16"
        ))
    };
    let (addr, prefix) = service_cidr
        .split_once('/')
        .ok_or_else(|| bad("has no /prefix"))?;
    let addr: IpAddr = addr.parse().map_err(|_| bad("is not an IP range"))?;
    let prefix: u32 = prefix.parse().map_err(|_| bad("has a bad prefix length"))?;
    match addr {
        IpAddr::V4(v4) => {
            if prefix > 28 {
                return Err(bad("is too small to hold the DNS address"));
            }
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            Ok(IpAddr::V4((u32::from(v4) & mask).wrapping_add(10).into()))
        }
        IpAddr::V6(v6) => {
            if prefix > 124 {
                return Err(bad("is too small to hold the DNS address"));
            }
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            Ok(IpAddr::V6((u128::from(v6) & mask).wrapping_add(10).into()))
        }
    }
}

#[cfg(test)]
mod tests;
