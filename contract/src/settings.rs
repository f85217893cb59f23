//! The controller's settings as the provider writes them and the controller reads them: the keys
//! of the settings ConfigMap, and the names the installation and the controller both use (the
//! namespace, the ConfigMap, the leader-election Lease, environment variables, the HTTP port and
//! paths). What each setting means is in docs/reference/controller-settings.md.

use std::fmt;
use std::str::FromStr;

use karpenter_core::interruption::EventKind;

/// A key of the settings ConfigMap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SettingKey {
    ClusterName,
    ClusterEndpoint,
    ClusterCaBundle,
    ServiceCidr,
    InterruptionQueue,
    BatchIdleDuration,
    BatchMaxDuration,
    SpotQuotaFallback,
    IceCacheTtl,
    RegistrationTimeout,
    /// What the controller does on a message of this kind: `spotInterruptionAction`, ...
    Action(EventKind),
}

impl SettingKey {
    /// Every key but the per-kind actions.
    pub const PLAIN: [SettingKey; 10] = [
        SettingKey::ClusterName,
        SettingKey::ClusterEndpoint,
        SettingKey::ClusterCaBundle,
        SettingKey::ServiceCidr,
        SettingKey::InterruptionQueue,
        SettingKey::BatchIdleDuration,
        SettingKey::BatchMaxDuration,
        SettingKey::SpotQuotaFallback,
        SettingKey::IceCacheTtl,
        SettingKey::RegistrationTimeout,
    ];

    /// Every key, plain ones first, then one action per interruption kind.
    pub fn all() -> impl Iterator<Item = SettingKey> {
        Self::PLAIN
            .into_iter()
            .chain(EventKind::ALL.map(SettingKey::Action))
    }

    /// The key as written in the ConfigMap.
    pub fn name(self) -> String {
        let plain = match self {
            Self::ClusterName => "clusterName",
            Self::ClusterEndpoint => "clusterEndpoint",
            Self::ClusterCaBundle => "clusterCABundle",
            Self::ServiceCidr => "serviceCIDR",
            Self::InterruptionQueue => "interruptionQueue",
            Self::BatchIdleDuration => "batchIdleDuration",
            Self::BatchMaxDuration => "batchMaxDuration",
            Self::SpotQuotaFallback => "spotQuotaFallback",
            Self::IceCacheTtl => "iceCacheTTL",
            Self::RegistrationTimeout => "registrationTimeout",
            Self::Action(kind) => return action_key(kind),
        };
        plain.to_string()
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The name is not a settings key; `known` lists the keys that are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSettingKey {
    pub key: String,
    pub known: String,
}

impl FromStr for SettingKey {
    type Err = UnknownSettingKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownSettingKey {
                key: s.to_string(),
                known: Self::all().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            })
    }
}

/// `spot_interruption` -> `spotInterruptionAction`.
fn action_key(kind: EventKind) -> String {
    crate::case::camel_case(kind.name()) + "Action"
}

/// Namespace of the installation (ConfigMap, Lease, Deployment, service account).
pub const NAMESPACE: &str = "karpenter";
/// The settings ConfigMap; a missing one is not an error to the controller.
pub const SETTINGS_CONFIGMAP: &str = "karpenter-settings";
/// The coordination.k8s.io Lease of leader election.
pub const LEASE_NAME: &str = "karpenter-leader-election";
/// The port of /metrics, /healthz and /readyz.
pub const HTTP_PORT: u16 = 8080;
pub const HEALTHZ_PATH: &str = "/healthz";
pub const READYZ_PATH: &str = "/readyz";
pub const METRICS_PATH: &str = "/metrics";

/// Environment variables the installation sets on the controller's containers.
pub mod env {
    pub const NAMESPACE: &str = "KARPENTER_NAMESPACE";
    pub const SETTINGS_CONFIGMAP: &str = "KARPENTER_SETTINGS_CONFIGMAP";
    pub const LEADER_ELECT: &str = "KARPENTER_LEADER_ELECT";
    pub const LEASE_NAME: &str = "KARPENTER_LEASE_NAME";
    pub const LISTEN: &str = "KARPENTER_LISTEN";
    /// The pod's name: the controller's identity in the Lease.
    pub const POD_NAME: &str = "POD_NAME";
    /// The node an IMDS monitor pod runs on (downward API).
    pub const NODE_NAME: &str = "NODE_NAME";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_documented_spellings_and_parse_back() {
        let names: Vec<String> = SettingKey::all().map(SettingKey::name).collect();
        assert_eq!(names[2], "clusterCABundle");
        assert_eq!(names[8], "iceCacheTTL");
        assert_eq!(names[10], "spotInterruptionAction");
        assert_eq!(names[14], "capacityReservationInterruptionAction");
        for key in SettingKey::all() {
            assert_eq!(key.name().parse::<SettingKey>(), Ok(key));
        }
        let unknown = "clustername".parse::<SettingKey>().unwrap_err();
        assert!(
            unknown.known.starts_with("clusterName, clusterEndpoint"),
            "{unknown:?}"
        );
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../docs/reference/controller-settings.md");
        for key in SettingKey::all() {
            assert!(
                doc.contains(&format!("`{key}`")),
                "{key} is not in controller-settings.md"
            );
        }
    }
}
