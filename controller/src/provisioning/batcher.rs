//! Collects items (pending pods) into batches: a batch closes once no new item arrived for the
//! idle duration, or once the max duration passed since its first item, whichever comes first.
//! Time is passed in (`now`), so tests drive it with a fake clock and never sleep.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Batcher<K: Ord> {
    idle: Duration,
    max: Duration,
    items: BTreeSet<K>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

impl<K: Ord> Batcher<K> {
    pub fn new(idle: Duration, max: Duration) -> Self {
        Batcher {
            idle,
            max: max.max(idle),
            items: BTreeSet::new(),
            first_at: None,
            last_at: None,
        }
    }

    /// Adds an item seen at `now`. A repeat of an item already in the batch still counts as
    /// activity: the pod changed, so more changes may follow.
    pub fn add(&mut self, item: K, now: Instant) {
        self.items.insert(item);
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    /// When the current batch closes; `None` while it is empty.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first_at?, self.last_at?);
        Some((last + self.idle).min(first + self.max))
    }

    pub fn is_ready(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the batch and returns its items, each once, in order.
    pub fn take(&mut self) -> Vec<K> {
        self.first_at = None;
        self.last_at = None;
        std::mem::take(&mut self.items).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IDLE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_empty_batcher_never_closes() {
        let b: Batcher<u32> = Batcher::new(IDLE, MAX);
        assert_eq!(b.deadline(), None);
        assert!(!b.is_ready(Instant::now() + Duration::from_secs(3600)));
    }

    #[test]
    fn a_batch_closes_after_the_idle_duration_without_new_items() {
        let t0 = Instant::now();
        let mut b = Batcher::new(IDLE, MAX);
        b.add("a", t0);
        assert!(!b.is_ready(t0 + ms(999)));
        assert!(b.is_ready(t0 + IDLE));
    }

    #[test]
    fn each_new_item_extends_the_idle_window() {
        let t0 = Instant::now();
        let mut b = Batcher::new(IDLE, MAX);
        b.add("a", t0);
        b.add("b", t0 + ms(900));
        assert!(!b.is_ready(t0 + ms(1500)));
        assert!(b.is_ready(t0 + ms(1900)));
    }

    #[test]
    fn a_steady_stream_is_cut_at_the_max_duration() {
        let t0 = Instant::now();
        let mut b = Batcher::new(IDLE, MAX);
        let mut t = t0;
        while t < t0 + Duration::from_secs(20) {
            b.add(t.duration_since(t0).as_millis(), t);
            if b.is_ready(t) {
                break;
            }
            t += ms(500);
        }
        assert_eq!(t, t0 + MAX);
        assert_eq!(b.deadline(), Some(t0 + MAX));
    }

    #[test]
    fn take_returns_each_item_once_and_starts_a_new_batch() {
        let t0 = Instant::now();
        let mut b = Batcher::new(IDLE, MAX);
        for (i, item) in ["p2", "p1", "p2", "p3"].into_iter().enumerate() {
            b.add(item, t0 + ms(i as u64 * 10));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.take(), vec!["p1", "p2", "p3"]);
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
        b.add("p4", t0 + Duration::from_secs(60));
        assert_eq!(b.deadline(), Some(t0 + Duration::from_secs(61)));
    }

    proptest! {
        #[test]
        fn the_deadline_is_never_past_max_after_the_first_item_nor_past_idle_after_the_last(
            gaps in proptest::collection::vec(0u64..3000, 1..50)
        ) {
            let t0 = Instant::now();
            let mut b = Batcher::new(IDLE, MAX);
            let mut t = t0;
            for (i, gap) in gaps.iter().enumerate() {
                t += ms(*gap);
                b.add(i, t);
                let deadline = b.deadline().expect("non-empty");
                prop_assert!(deadline <= t0 + MAX + ms(gaps[0]));
                prop_assert!(deadline <= t + IDLE);
                prop_assert!(deadline >= t || deadline == t0 + ms(gaps[0]) + MAX);
            }
        }
    }
}
