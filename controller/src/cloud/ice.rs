//! The unavailable-offerings ("ICE") cache: pools EC2 recently had no capacity in, with an expiry.
//!
//! CreateFleet tells us a pool is dry only by failing in it; trying it again at once would fail the
//! same way and slow every launch. A pool stays marked for `ttl` (default 3 min, a setting: users of
//! the anchors ask for faster recovery) and then becomes a candidate again by itself.

use super::types::{CapacityType, Pool};
use crate::clock::{Clock, SystemClock};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub const DEFAULT_TTL: Duration = Duration::from_secs(180);

/// Why a pool was marked, kept for log lines and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub reason: String,
    pub until: Instant,
}

pub struct UnavailableOfferings {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    pools: Mutex<HashMap<Pool, Unavailable>>,
}

impl Default for UnavailableOfferings {
    fn default() -> Self {
        Self::new(DEFAULT_TTL, Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for UnavailableOfferings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnavailableOfferings")
            .field("ttl", &self.ttl)
            .field("pools", &self.lock().len())
            .finish()
    }
}

impl UnavailableOfferings {
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        UnavailableOfferings {
            ttl,
            clock,
            pools: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Pool, Unavailable>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.pools.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `pool` unavailable for one TTL from now (a repeat mark extends it). Returns true when
    /// the pool was not already marked, so callers can count and log new marks only.
    pub fn mark(&self, pool: Pool, reason: impl Into<String>) -> bool {
        let until = self.clock.now() + self.ttl;
        let now = self.clock.now();
        let mut pools = self.lock();
        let was_live = pools.get(&pool).is_some_and(|u| u.until > now);
        pools.insert(
            pool,
            Unavailable {
                reason: reason.into(),
                until,
            },
        );
        !was_live
    }

    pub fn is_unavailable(
        &self,
        instance_type: &str,
        zone: &str,
        capacity_type: CapacityType,
    ) -> bool {
        let key = Pool::new(instance_type, zone, capacity_type);
        self.is_pool_unavailable(&key)
    }

    pub fn is_pool_unavailable(&self, pool: &Pool) -> bool {
        let now = self.clock.now();
        let mut pools = self.lock();
        match pools.get(pool) {
            Some(u) if u.until > now => true,
            Some(_) => {
                pools.remove(pool);
                false
            }
            None => false,
        }
    }

    /// Live entries, sorted; expired ones are dropped on the way.
    pub fn entries(&self) -> Vec<(Pool, Unavailable)> {
        let now = self.clock.now();
        let mut pools = self.lock();
        pools.retain(|_, u| u.until > now);
        let mut out: Vec<_> = pools.iter().map(|(p, u)| (p.clone(), u.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn cache(ttl_secs: u64) -> (UnavailableOfferings, ManualClock) {
        let clock = ManualClock::new();
        (
            UnavailableOfferings::new(Duration::from_secs(ttl_secs), Arc::new(clock.clone())),
            clock,
        )
    }

    #[test]
    fn a_marked_pool_is_unavailable_until_its_ttl_passes() {
        let (ice, clock) = cache(180);
        assert!(ice.mark(
            Pool::new("m5.large", "a", CapacityType::Spot),
            "InsufficientInstanceCapacity"
        ));
        assert!(ice.is_unavailable("m5.large", "a", CapacityType::Spot));
        clock.advance(Duration::from_secs(179));
        assert!(ice.is_unavailable("m5.large", "a", CapacityType::Spot));
        clock.advance(Duration::from_secs(1));
        assert!(!ice.is_unavailable("m5.large", "a", CapacityType::Spot));
        assert!(ice.entries().is_empty());
    }

    #[test]
    fn only_the_exact_pool_is_marked() {
        let (ice, _clock) = cache(180);
        ice.mark(Pool::new("m5.large", "a", CapacityType::Spot), "x");
        assert!(!ice.is_unavailable("m5.large", "a", CapacityType::OnDemand));
        assert!(!ice.is_unavailable("m5.large", "b", CapacityType::Spot));
        assert!(!ice.is_unavailable("m5.xlarge", "a", CapacityType::Spot));
    }

    #[test]
    fn marking_again_extends_the_expiry_and_reports_it_was_already_marked() {
        let (ice, clock) = cache(60);
        let pool = Pool::new("c5.large", "b", CapacityType::OnDemand);
        assert!(ice.mark(pool.clone(), "first"));
        clock.advance(Duration::from_secs(50));
        assert!(!ice.mark(pool.clone(), "second"));
        clock.advance(Duration::from_secs(50));
        assert!(ice.is_pool_unavailable(&pool));
        let entries = ice.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].1.reason, "second");
        clock.advance(Duration::from_secs(10));
        assert!(!ice.is_pool_unavailable(&pool));
        assert!(ice.mark(pool, "after expiry counts as new"));
    }

    #[test]
    fn a_zero_ttl_never_holds_a_pool() {
        let (ice, _clock) = cache(0);
        ice.mark(Pool::new("m5.large", "a", CapacityType::Spot), "x");
        assert!(!ice.is_unavailable("m5.large", "a", CapacityType::Spot));
    }
}
