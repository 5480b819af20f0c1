//! Zone managers: one writer per zone (`zone`), the only one that changes it. Every
//! source — the zone-file reloader today; transfers in, updates, container records and
//! the signer later — submits changes to the zone's manager and never swaps the zone
//! set itself.
//!
//! ```text
//!  files (git) ─┐                 ┌─ zone manager (one per zone) ──────────────────────┐
//!  transfers in ┼─► transaction ─►│ check → serial → journal (fsync) → publish → ack   │
//!  UPDATE, API ─┘                 └──────┬──────────────────────────────┬──────────────┘
//!                                        ▼ version N+1 (shares N's nodes) ▼ diff N→N+1
//!                         answer engine (lock-free reads)    journal readers (IXFR, logs)
//! ```
//!
//! - `zone`: a zone's manager ([`ZoneHandle`]): group commit, serials, journal; and
//!   (`transfer_in`) what a secondary zone's transfers change, with the primary's
//!   serial.
//! - `ownership`: which source owns which RRset, so file and dynamic records coexist.
//! - `image`: a zone's whole content in the state folder, for restarts.
//! - `publish`: the served zone set, swapped atomically.
//! - `dynamic_zone`: zones with no file, their SOA and NS from the configuration.
//!
//! [`Manager`] holds every zone's manager, opens them from the state folder (image and
//! journal, so a zone is served at once after a restart, from its last good version),
//! and loads bursts of zone files as one swap.

pub mod dynamic_zone;
pub mod image;
pub mod ownership;
pub mod publish;
mod restore;
pub mod zone;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use ownership::{FILE_SOURCE, Ownership};
pub use publish::Publisher;
pub use zone::{
    CommitError, Delta, FileContent, FileOutcome, Published, Submitted, TransferError,
    TransferLease, TransferOutcome, ZoneHandle,
};

use crate::sources::state::{SerialsKeeper, ServedSerials};
use crate::sources::stats::ReloadStats;
use crate::wire::name::Name;
use crate::xfr::journal::Limits;
use crate::zone::serial::SerialPolicy;
use crate::zone::{Zone, ZoneSet};

/// Seconds since the Unix epoch (replaced in tests).
pub type Clock = fn() -> u64;

/// The system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Default bound of a zone's journal history, in entries.
pub const DEFAULT_JOURNAL_MAX_ENTRIES: usize = 100;
/// Default bound of a zone's journal history, in bytes.
pub const DEFAULT_JOURNAL_MAX_BYTES: usize = 16 << 20;

/// Options of one zone (the configuration's `[zone."NAME"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneOptions {
    /// The zone file, relative to the zones folder (or absolute); None: `NAME.zone`.
    pub file: Option<PathBuf>,
    /// How the served serial is chosen.
    pub serial: SerialPolicy,
    /// Diffs of history the journal keeps for IXFR (0: none beyond what a restart needs).
    pub journal_max_entries: usize,
    /// Bytes of history the journal keeps.
    pub journal_max_bytes: usize,
    /// The signing policy (`[zone."NAME".dnssec]`); None: the zone is not signed.
    pub dnssec: Option<crate::dnssec::Policy>,
    /// The policy's values where `sign = false`: how a zone dnsd signed goes
    /// insecure (`dnssec::withdraw`: parent-resolvers, parent-ds-ttl, ...).
    pub unsigned_dnssec: Option<crate::dnssec::Policy>,
}

impl Default for ZoneOptions {
    fn default() -> Self {
        Self {
            file: None,
            serial: SerialPolicy::default(),
            journal_max_entries: DEFAULT_JOURNAL_MAX_ENTRIES,
            journal_max_bytes: DEFAULT_JOURNAL_MAX_BYTES,
            dnssec: None,
            unsigned_dnssec: None,
        }
    }
}

impl ZoneOptions {
    /// The journal's history bounds.
    pub fn journal_limits(&self) -> Limits {
        Limits {
            max_entries: self.journal_max_entries,
            max_bytes: self.journal_max_bytes,
        }
    }
}

/// Every zone's manager, and the zone set they publish to.
pub struct Manager {
    state_dir: PathBuf,
    clock: Clock,
    publisher: Arc<Publisher>,
    stats: Arc<ReloadStats>,
    zones: RwLock<BTreeMap<Name, ZoneHandle>>,
    /// The `serials` file: the highest serial each zone served, a floor beside the
    /// journal and the image.
    serials: Arc<SerialsKeeper>,
}

impl Manager {
    /// Managers keeping their state in `state_dir`, reading the time from `clock`.
    pub fn new(state_dir: &Path, clock: Clock) -> Self {
        let (serials, problems) = ServedSerials::read(state_dir);
        for problem in problems {
            tracing::warn!("{problem}");
        }
        Self {
            state_dir: state_dir.to_path_buf(),
            clock,
            publisher: Arc::new(Publisher::new()),
            stats: Arc::new(ReloadStats::default()),
            zones: RwLock::new(BTreeMap::new()),
            serials: Arc::new(SerialsKeeper::new(serials)),
        }
    }

    /// The zone set the fronts answer from.
    pub fn zone_set(&self) -> Arc<arc_swap::ArcSwap<ZoneSet>> {
        self.publisher.set().clone()
    }

    /// The publisher (its swap count is a metric).
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// The per-zone counters.
    pub fn stats(&self) -> Arc<ReloadStats> {
        self.stats.clone()
    }

    /// The state folder.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The manager of zone `apex` (any case), if it is open.
    pub fn zone(&self, apex: &Name) -> Option<ZoneHandle> {
        self.zones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&apex.to_lowercase())
            .cloned()
    }

    /// Every open zone's manager, by apex.
    pub fn zones(&self) -> Vec<ZoneHandle> {
        self.zones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The manager of zone `apex`, opened from the state folder if it is not open yet:
    /// its last version (image and journal) is served at once, and what could not be
    /// read back is logged.
    pub fn open(&self, apex: &Name, options: ZoneOptions) -> ZoneHandle {
        let apex = apex.to_lowercase();
        if let Some(handle) = self.zone(&apex) {
            let _ = handle.set_options(options);
            return handle;
        }
        let writer = self.restore(&apex, options);
        let handle = ZoneHandle::new(
            apex.clone(),
            writer,
            self.publisher.clone(),
            self.stats.clone(),
        );
        self.zones
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(apex, handle.clone());
        handle
    }

    /// Waits for the images being written in the background (at a clean stop, so that
    /// the next start reads the newest).
    pub fn wait_images(&self) {
        for zone in self.zones() {
            zone.wait_image();
        }
        self.serials.flush();
    }

    /// Stops serving zone `apex` and forgets its manager (its state stays on disk).
    pub fn close(&self, apex: &Name) {
        let handle = self
            .zones
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&apex.to_lowercase());
        if let Some(handle) = handle {
            handle.unpublish();
        }
    }

    /// Loads zone files (each zone's file content, with the file's serial) into their
    /// zones, and publishes every zone that changed in one swap: a `git checkout` that
    /// touched fifty files is served all at once. Each zone's result, in the given order.
    pub fn load_files(
        &self,
        files: Vec<(ZoneHandle, FileContent)>,
    ) -> Vec<Result<FileOutcome, CommitError>> {
        // Writers are locked in apex order, as every multi-zone writer does.
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by(|&a, &b| files[a].0.apex().cmp(files[b].0.apex()));
        let handles: Vec<ZoneHandle> = files.iter().map(|(h, _)| h.clone()).collect();
        let mut zones: Vec<Option<FileContent>> = files.into_iter().map(|(_, z)| Some(z)).collect();
        let mut guards: Vec<_> = order.iter().map(|&i| (i, handles[i].lock())).collect();
        let mut results: Vec<Option<Result<FileOutcome, CommitError>>> =
            (0..handles.len()).map(|_| None).collect();
        let mut prepared = Vec::new();
        for (i, guard) in guards.iter_mut() {
            let Some(zone) = zones[*i].take() else {
                continue;
            };
            match handles[*i].prepare_file(guard, zone) {
                Ok(Some(p)) => prepared.push((*i, p)),
                Ok(None) => {
                    let serial = guard.zone.as_ref().and_then(|z| z.serial()).unwrap_or(0);
                    results[*i] = Some(Ok(FileOutcome::Unchanged { serial }));
                }
                Err(e) => results[*i] = Some(Err(e)),
            }
        }
        let swap: Vec<(Name, Option<Arc<Zone>>)> = prepared
            .iter()
            .map(|(i, p)| {
                (
                    handles[*i].apex().clone(),
                    Some(ZoneHandle::prepared_zone(p)),
                )
            })
            .collect();
        self.publisher.publish(&swap);
        for (i, p) in prepared {
            if let Some((_, guard)) = guards.iter_mut().find(|(j, _)| *j == i) {
                results[i] = Some(Ok(handles[i].finish_prepared(guard, p)));
            }
        }
        drop(guards);
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(CommitError::Journal("not loaded".into()))))
            .collect()
    }
}
