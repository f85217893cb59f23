//! Leader election over a coordination.k8s.io Lease, the protocol client-go uses: the holder
//! renews `renewTime`; another replica takes over once it has seen the same record unchanged
//! for `leaseDurationSeconds` on its own clock (so clock skew between replicas does not matter).
//! Writes carry the resourceVersion they read, so two candidates never both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderConfig {
    pub fn new(namespace: &str, lease_name: &str, identity: &str) -> Self {
        LeaderConfig {
            namespace: namespace.to_string(),
            lease_name: lease_name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What one round of the election does with the Lease as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Renew,
    TakeOver,
    Follow,
}

/// The pure part of the protocol: `expired` means the current record has been seen unchanged
/// for longer than its lease duration.
pub fn decide(current: Option<&LeaseSpec>, me: &str, expired: bool) -> Step {
    let Some(spec) = current else {
        return Step::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => Step::Renew,
        None | Some("") => Step::TakeOver,
        Some(_) if expired => Step::TakeOver,
        Some(_) => Step::Follow,
    }
}

/// The part of a Lease whose change proves its holder alive: holder identity and renew time.
type RecordKey = (Option<String>, Option<String>);

/// The part of a Lease whose change proves its holder alive.
fn record_key(spec: &LeaseSpec) -> RecordKey {
    (
        spec.holder_identity.clone(),
        spec.renew_time.as_ref().map(|t| t.0.to_string()),
    )
}

pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    observed: Option<(RecordKey, Instant)>,
    last_renewed: Option<Instant>,
}

impl LeaderElector {
    pub fn new(client: kube::Client, cfg: LeaderConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            last_renewed: None,
        }
    }

    fn spec_for_me(&self, previous: Option<&LeaseSpec>, keep_acquire: bool) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_duration.as_secs() as i32),
            acquire_time: if keep_acquire {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if keep_acquire {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// One round; returns whether this replica holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.cfg.lease_name).await?;
        let spec = current.as_ref().and_then(|l| l.spec.clone());
        let now = Instant::now();
        let expired = match &spec {
            None => true,
            Some(s) => {
                let key = record_key(s);
                let seen_at = match &self.observed {
                    Some((k, at)) if *k == key => *at,
                    _ => {
                        self.observed = Some((key, now));
                        now
                    }
                };
                let duration = s
                    .lease_duration_seconds
                    .map_or(self.cfg.lease_duration, |d| {
                        Duration::from_secs(d.max(1) as u64)
                    });
                now.duration_since(seen_at) > duration
            }
        };
        let step = match (&current, &spec) {
            (None, _) => Step::Create,
            (Some(_), spec) => match decide(
                spec.as_ref().or(Some(&LeaseSpec::default())),
                &self.cfg.identity,
                expired,
            ) {
                Step::Create => Step::TakeOver,
                other => other,
            },
        };
        let result = match step {
            Step::Follow => return Ok(false),
            Step::Create => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.lease_name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        lease_transitions: Some(0),
                        ..self.spec_for_me(None, false)
                    }),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Step::Renew | Step::TakeOver => {
                let mut lease = current.unwrap_or_default();
                lease.spec = Some(self.spec_for_me(spec.as_ref(), step == Step::Renew));
                self.api
                    .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => {
                self.last_renewed = Some(now);
                Ok(true)
            }
            // Another candidate wrote first: not an error, just not us this round.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up so a standby takes over at once instead of after the lease duration.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.lease_name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Runs rounds every retry period, publishing leadership on `state`, until `shutdown` turns
    /// true; then releases the Lease if held. Leadership is reported lost when no renewal
    /// succeeded within the renew deadline.
    pub async fn run(mut self, state: watch::Sender<bool>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let leading = match self.try_acquire_or_renew().await {
                Ok(held) => held,
                Err(error) => {
                    tracing::warn!(%error, lease = %self.cfg.lease_name, "leader election round failed");
                    *state.borrow()
                        && self
                            .last_renewed
                            .is_some_and(|t| t.elapsed() < self.cfg.renew_deadline)
                }
            };
            if leading != *state.borrow() {
                tracing::info!(
                    identity = %self.cfg.identity,
                    lease = %self.cfg.lease_name,
                    leading,
                    "leadership changed"
                );
                let _ = state.send(leading);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.retry_period) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        if *state.borrow() {
            match self.release().await {
                Ok(()) => tracing::info!(lease = %self.cfg.lease_name, "released the leader Lease"),
                Err(error) => tracing::warn!(%error, "could not release the leader Lease"),
            }
            let _ = state.send(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: Option<&str>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_missing_lease_is_created() {
        assert_eq!(decide(None, "a", false), Step::Create);
    }

    #[test]
    fn the_holder_renews_its_own_lease() {
        assert_eq!(decide(Some(&held_by(Some("a"))), "a", true), Step::Renew);
        assert_eq!(decide(Some(&held_by(Some("a"))), "a", false), Step::Renew);
    }

    #[test]
    fn a_live_lease_of_another_replica_is_followed() {
        assert_eq!(decide(Some(&held_by(Some("b"))), "a", false), Step::Follow);
    }

    #[test]
    fn an_expired_or_released_lease_is_taken_over() {
        assert_eq!(decide(Some(&held_by(Some("b"))), "a", true), Step::TakeOver);
        assert_eq!(decide(Some(&held_by(None)), "a", false), Step::TakeOver);
        assert_eq!(decide(Some(&held_by(Some(""))), "a", false), Step::TakeOver);
    }
}
