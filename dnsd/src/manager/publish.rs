//! The served zone set: one atomic pointer that every query reads (arc-swap), and the
//! one lock that writers take to replace it. Each zone manager publishes its new
//! version here; a burst of zone-file changes (a `git checkout`) publishes all its
//! zones in one swap, so that a query never sees half of a checkout. Every swap is
//! announced on a watch channel ([`Publisher::subscribe`]): NOTIFY out learns of new
//! serials there, after their journal entries are durable (zone managers publish
//! only then).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::wire::name::Name;
use crate::zone::{Zone, ZoneSet};

/// The served zone set and its writers' lock.
pub struct Publisher {
    set: Arc<ArcSwap<ZoneSet>>,
    lock: Mutex<()>,
    swaps: AtomicU64,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Publisher {
    /// A publisher of an empty set.
    pub fn new() -> Self {
        Self {
            set: Arc::new(ArcSwap::from_pointee(ZoneSet::new())),
            lock: Mutex::new(()),
            swaps: AtomicU64::new(0),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The set readers load (the fronts keep a clone of this `Arc`).
    pub fn set(&self) -> &Arc<ArcSwap<ZoneSet>> {
        &self.set
    }

    /// Replaces or adds (`Some`) and removes (`None`) zones, all in one swap.
    pub fn publish(&self, changes: &[(Name, Option<Arc<Zone>>)]) {
        if changes.is_empty() {
            return;
        }
        let _writer = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = ZoneSet::clone(&self.set.load());
        for (apex, zone) in changes {
            next = match zone {
                Some(zone) => next.with_zone(zone.clone()),
                None => next.without_zone(apex),
            };
        }
        self.set.store(Arc::new(next));
        let swaps = self.swaps.fetch_add(1, Ordering::Relaxed) + 1;
        self.changed.send_replace(swaps);
    }

    /// A receiver that sees every swap (its count) from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Swaps of the served set so far (a metric, and what tests count).
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}
