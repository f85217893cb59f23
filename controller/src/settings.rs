//! Controller settings: the settings ConfigMap the provider writes, overridden by flags and
//! environment variables (clap reads both; a flag wins over its variable).
//!
//! Precedence, highest first: flag, environment variable, ConfigMap key, built-in default.
//! Every key is documented in docs/reference/controller-settings.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use karpenter_contract::settings::{self as names, SettingKey, env};
use karpenter_core::interruption::{Action, ActionSettings, EventKind};

/// Errors name the key and what would be accepted, so a typo in the ConfigMap is fixed in one go.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("setting {key}: {value:?} is not a duration (use e.g. 500ms, 1s, 3m, 1h30m)")]
    Duration { key: String, value: String },
    #[error("setting {key}: {value:?} is not a boolean (use true or false)")]
    Bool { key: String, value: String },
    #[error("setting {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("setting {key} is required (ConfigMap key {key}, or its flag / environment variable)")]
    Missing { key: String },
    #[error("unknown key {key:?} in the settings ConfigMap; known keys: {known}")]
    UnknownKey { key: String, known: String },
}

/// Flags and environment variables of `karpenter-controller run`. Domain settings are
/// `Option`s so that "not given" falls through to the ConfigMap.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Kubeconfig file; without it the in-cluster config or ~/.kube/config is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the settings ConfigMap and the leader-election Lease.
    #[arg(long, env = env::NAMESPACE, default_value = names::NAMESPACE)]
    pub namespace: String,
    /// Name of the settings ConfigMap; a missing ConfigMap is not an error.
    #[arg(long, env = env::SETTINGS_CONFIGMAP, default_value = names::SETTINGS_CONFIGMAP)]
    pub settings_configmap: String,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, env = env::LISTEN, default_value_t = SocketAddr::from(([0, 0, 0, 0], names::HTTP_PORT)))]
    pub listen: SocketAddr,
    /// Take part in leader election; only the leader acts. Turn off only with one replica.
    #[arg(long, env = env::LEADER_ELECT, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the coordination.k8s.io Lease used for leader election.
    #[arg(long, env = env::LEASE_NAME, default_value = names::LEASE_NAME)]
    pub lease_name: String,
    /// Identity written into the Lease; defaults to the pod name, then the host name.
    #[arg(long, env = env::POD_NAME)]
    pub identity: Option<String>,
    /// How many workers long-poll the interruption queue.
    #[arg(long, env = "INTERRUPTION_WORKERS", default_value_t = DEFAULT_INTERRUPTION_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub interruption_workers: u16,

    #[arg(long, env = "CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    #[arg(long, env = "CLUSTER_ENDPOINT")]
    pub cluster_endpoint: Option<String>,
    #[arg(long = "cluster-ca-bundle", env = "CLUSTER_CA_BUNDLE")]
    pub cluster_ca_bundle: Option<String>,
    #[arg(long = "service-cidr", env = "SERVICE_CIDR")]
    pub service_cidr: Option<String>,
    #[arg(long, env = "INTERRUPTION_QUEUE")]
    pub interruption_queue: Option<String>,
    #[arg(long, env = "BATCH_IDLE_DURATION")]
    pub batch_idle_duration: Option<String>,
    #[arg(long, env = "BATCH_MAX_DURATION")]
    pub batch_max_duration: Option<String>,
    #[arg(long, env = "SPOT_QUOTA_FALLBACK")]
    pub spot_quota_fallback: Option<String>,
    #[arg(long, env = "ICE_CACHE_TTL")]
    pub ice_cache_ttl: Option<String>,
    #[arg(long, env = "REGISTRATION_TIMEOUT")]
    pub registration_timeout: Option<String>,
    #[arg(long, env = "SPOT_INTERRUPTION_ACTION")]
    pub spot_interruption_action: Option<String>,
    #[arg(long, env = "REBALANCE_RECOMMENDATION_ACTION")]
    pub rebalance_recommendation_action: Option<String>,
    #[arg(long, env = "SCHEDULED_CHANGE_ACTION")]
    pub scheduled_change_action: Option<String>,
    #[arg(long, env = "INSTANCE_STATE_CHANGE_ACTION")]
    pub instance_state_change_action: Option<String>,
    #[arg(long, env = "CAPACITY_RESERVATION_INTERRUPTION_ACTION")]
    pub capacity_reservation_interruption_action: Option<String>,
}

impl Default for RunArgs {
    /// The values clap gives when nothing is passed (tests build on it).
    fn default() -> Self {
        RunArgs {
            kubeconfig: None,
            namespace: names::NAMESPACE.into(),
            settings_configmap: names::SETTINGS_CONFIGMAP.into(),
            listen: SocketAddr::from(([0, 0, 0, 0], names::HTTP_PORT)),
            leader_elect: true,
            lease_name: names::LEASE_NAME.into(),
            identity: None,
            interruption_workers: DEFAULT_INTERRUPTION_WORKERS,
            cluster_name: None,
            cluster_endpoint: None,
            cluster_ca_bundle: None,
            service_cidr: None,
            interruption_queue: None,
            batch_idle_duration: None,
            batch_max_duration: None,
            spot_quota_fallback: None,
            ice_cache_ttl: None,
            registration_timeout: None,
            spot_interruption_action: None,
            rebalance_recommendation_action: None,
            scheduled_change_action: None,
            instance_state_change_action: None,
            capacity_reservation_interruption_action: None,
        }
    }
}

/// The resolved settings every component reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub cluster_name: String,
    /// With the two below, what nodes bootstrap with; any unset one comes from EKS DescribeCluster.
    pub cluster_endpoint: Option<String>,
    pub cluster_ca_bundle: Option<String>,
    pub service_cidr: Option<String>,
    pub interruption_queue: Option<String>,
    pub batch_idle_duration: Duration,
    pub batch_max_duration: Duration,
    pub spot_quota_fallback: bool,
    pub ice_cache_ttl: Duration,
    pub registration_timeout: Duration,
    pub interruption_actions: ActionSettings,
    /// Not a ConfigMap key: `--interruption-workers` / `INTERRUPTION_WORKERS`.
    pub interruption_workers: usize,
}

pub const DEFAULT_BATCH_IDLE: Duration = Duration::from_secs(1);
pub const DEFAULT_BATCH_MAX: Duration = Duration::from_secs(10);
pub const DEFAULT_ICE_CACHE_TTL: Duration = Duration::from_secs(180);
pub const DEFAULT_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_INTERRUPTION_WORKERS: u16 = 4;

impl RunArgs {
    fn action_override(&self, kind: EventKind) -> Option<&String> {
        match kind {
            EventKind::SpotInterruption => self.spot_interruption_action.as_ref(),
            EventKind::RebalanceRecommendation => self.rebalance_recommendation_action.as_ref(),
            EventKind::ScheduledChange => self.scheduled_change_action.as_ref(),
            EventKind::InstanceStateChange => self.instance_state_change_action.as_ref(),
            EventKind::CapacityReservationInterruption => {
                self.capacity_reservation_interruption_action.as_ref()
            }
        }
    }
}

impl Settings {
    /// Merges flags/environment (`args`) over the ConfigMap's data; every key is checked.
    pub fn resolve(args: &RunArgs, data: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        if let Some(unknown) = data.keys().find_map(|k| k.parse::<SettingKey>().err()) {
            return Err(SettingsError::UnknownKey {
                key: unknown.key,
                known: unknown.known,
            });
        }
        let pick = |flag: &Option<String>, key: SettingKey| -> Option<String> {
            flag.clone()
                .or_else(|| data.get(&key.name()).cloned())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let duration = |flag: &Option<String>, key: SettingKey, default: Duration| {
            pick(flag, key).map_or(Ok(default), |v| {
                parse_duration(&v).ok_or(SettingsError::Duration {
                    key: key.to_string(),
                    value: v,
                })
            })
        };

        let cluster_name = pick(&args.cluster_name, SettingKey::ClusterName).ok_or_else(|| {
            SettingsError::Missing {
                key: SettingKey::ClusterName.to_string(),
            }
        })?;
        let batch_idle_duration = duration(
            &args.batch_idle_duration,
            SettingKey::BatchIdleDuration,
            DEFAULT_BATCH_IDLE,
        )?;
        let batch_max_duration = duration(
            &args.batch_max_duration,
            SettingKey::BatchMaxDuration,
            DEFAULT_BATCH_MAX,
        )?;
        if batch_idle_duration.is_zero() || batch_max_duration < batch_idle_duration {
            return Err(SettingsError::Invalid {
                key: SettingKey::BatchMaxDuration.to_string(),
                message: format!(
                    "{} must be above zero and at most {} (got {batch_idle_duration:?} and \
                     {batch_max_duration:?})",
                    SettingKey::BatchIdleDuration,
                    SettingKey::BatchMaxDuration
                ),
            });
        }
        let spot_quota_fallback =
            match pick(&args.spot_quota_fallback, SettingKey::SpotQuotaFallback) {
                None => false,
                Some(v) => parse_bool(&v).ok_or(SettingsError::Bool {
                    key: SettingKey::SpotQuotaFallback.to_string(),
                    value: v,
                })?,
            };
        let mut interruption_actions = ActionSettings::default();
        for kind in EventKind::ALL {
            let key = SettingKey::Action(kind);
            if let Some(v) = pick(&args.action_override(kind).cloned(), key) {
                let action: Action =
                    v.parse()
                        .map_err(|e: karpenter_core::interruption::InvalidAction| {
                            SettingsError::Invalid {
                                key: key.to_string(),
                                message: e.to_string(),
                            }
                        })?;
                interruption_actions.set(kind, action);
            }
        }
        Ok(Settings {
            cluster_name,
            cluster_endpoint: pick(&args.cluster_endpoint, SettingKey::ClusterEndpoint),
            cluster_ca_bundle: pick(&args.cluster_ca_bundle, SettingKey::ClusterCaBundle),
            service_cidr: pick(&args.service_cidr, SettingKey::ServiceCidr),
            interruption_queue: pick(&args.interruption_queue, SettingKey::InterruptionQueue),
            batch_idle_duration,
            batch_max_duration,
            spot_quota_fallback,
            ice_cache_ttl: duration(
                &args.ice_cache_ttl,
                SettingKey::IceCacheTtl,
                DEFAULT_ICE_CACHE_TTL,
            )?,
            registration_timeout: duration(
                &args.registration_timeout,
                SettingKey::RegistrationTimeout,
                DEFAULT_REGISTRATION_TIMEOUT,
            )?,
            interruption_actions,
            interruption_workers: usize::from(args.interruption_workers),
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Go-style durations as the anchors' settings write them: a sequence of `<number><unit>`
/// with units ms, s, m, h (`1m30s`, `500ms`). A bare `0` is zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(number * seconds_per_unit).ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn args_with_cluster() -> RunArgs {
        RunArgs {
            cluster_name: Some("demo".into()),
            ..RunArgs::default()
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() -> Result<(), SettingsError> {
        let s = Settings::resolve(&args_with_cluster(), &BTreeMap::new())?;
        assert_eq!(s.cluster_name, "demo");
        assert_eq!(s.batch_idle_duration, Duration::from_secs(1));
        assert_eq!(s.batch_max_duration, Duration::from_secs(10));
        assert_eq!(s.ice_cache_ttl, Duration::from_secs(180));
        assert!(!s.spot_quota_fallback);
        assert_eq!(s.interruption_actions, ActionSettings::default());
        assert_eq!(s.interruption_queue, None);
        Ok(())
    }

    #[test]
    fn configmap_values_are_read_and_flags_win_over_them() -> Result<(), SettingsError> {
        let cm = data(&[
            ("clusterName", "from-cm"),
            ("batchIdleDuration", "2s"),
            ("batchMaxDuration", "1m"),
            ("iceCacheTTL", "30s"),
            ("spotQuotaFallback", "true"),
            ("interruptionQueue", "q"),
            ("rebalanceRecommendationAction", "ignore"),
        ]);
        let s = Settings::resolve(&RunArgs::default(), &cm)?;
        assert_eq!(s.cluster_name, "from-cm");
        assert_eq!(s.batch_idle_duration, Duration::from_secs(2));
        assert_eq!(s.batch_max_duration, Duration::from_secs(60));
        assert_eq!(s.ice_cache_ttl, Duration::from_secs(30));
        assert!(s.spot_quota_fallback);
        assert_eq!(s.interruption_queue.as_deref(), Some("q"));
        assert_eq!(
            s.interruption_actions
                .get(EventKind::RebalanceRecommendation),
            Action::Ignore
        );

        let flags = RunArgs {
            cluster_name: Some("from-flag".into()),
            spot_quota_fallback: Some("false".into()),
            rebalance_recommendation_action: Some("cordon".into()),
            ..RunArgs::default()
        };
        let s = Settings::resolve(&flags, &cm)?;
        assert_eq!(s.cluster_name, "from-flag");
        assert!(!s.spot_quota_fallback);
        assert_eq!(
            s.interruption_actions
                .get(EventKind::RebalanceRecommendation),
            Action::Cordon
        );
        Ok(())
    }

    #[test]
    fn a_missing_cluster_name_is_reported_by_key() {
        let err = Settings::resolve(&RunArgs::default(), &BTreeMap::new());
        assert_eq!(
            err,
            Err(SettingsError::Missing {
                key: "clusterName".into()
            })
        );
    }

    #[test]
    fn a_typo_in_the_configmap_names_the_key_and_the_known_ones() {
        let err = Settings::resolve(&args_with_cluster(), &data(&[("batchIdleDurration", "1s")]));
        let Err(SettingsError::UnknownKey { key, known }) = err else {
            panic!("expected an unknown-key error, got {err:?}");
        };
        assert_eq!(key, "batchIdleDurration");
        assert!(known.contains("batchIdleDuration"));
        assert!(known.contains("spotInterruptionAction"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("batchIdleDuration", "soon"),
            ("spotQuotaFallback", "maybe"),
            ("scheduledChangeAction", "drain"),
            ("batchMaxDuration", "100ms"),
        ];
        for (key, value) in cases {
            let err = Settings::resolve(&args_with_cluster(), &data(&[(key, value)]))
                .expect_err("bad value accepted");
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "1", "s", "1d", "-1s", "1s2"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
