//! Time as a dependency, the one clock of the controller: caches with expiry and loops that
//! compare timestamps are tested by moving a fake clock, not by sleeping.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync {
    /// Monotonic time, for durations and expiry.
    fn now(&self) -> Instant;
    /// Wall time, to compare with the timestamps objects carry.
    fn wall(&self) -> Timestamp;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to; for tests of anything with a TTL.
#[derive(Clone, Debug)]
pub struct ManualClock {
    /// (monotonic, wall) now; both move together.
    now: Arc<Mutex<(Instant, Timestamp)>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new((Instant::now(), Timestamp::now()))),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        now.0 += by;
        now.1 = now
            .1
            .saturating_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
            .unwrap_or(now.1);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.now.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    fn wall(&self) -> Timestamp {
        self.now.lock().unwrap_or_else(PoisonError::into_inner).1
    }
}
