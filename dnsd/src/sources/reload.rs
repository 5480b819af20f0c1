//! The reloader: loads zone files aside, gives each changed zone its serial, writes its
//! diff to the journal, and swaps all changed zones into the served `ZoneSet` at once.
//!
//! ```text
//!  zone_files ─► load (parse, check, build) ─► serial::decide ─► staged
//!      │              │ errors: logged, counted,                  │
//!      │              ▼ last good version kept                    ▼
//!  deleted file ─► zone removed          `serials` saved (one fsync) ─► one ArcSwap::store
//!                                                                     ─► diffs to the journals
//! ```
//!
//! A zone that fails to load, or whose serial the `keep` policy cannot serve, keeps its
//! last good version serving; the error is logged with file:line and counted. Every
//! zone that changed in one reload (a `git checkout` of fifty files) is swapped in by
//! one store, after the served serials are saved (`state`), so a restart never lowers
//! a serial; each change's diff is logged, counted and appended to the zone's journal.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::files::{self, Fingerprint};
use super::state::{self, ServedSerials};
pub use super::stats::{ReloadStats, ZoneStats};
use crate::wire::name::Name;
use crate::xfr::journal::Journal;
use crate::zone::diff::ZoneDiff;
use crate::zone::serial::{self, SerialPolicy, Served, Verdict};
use crate::zone::{Zone, ZoneSet, load};

/// Default bound of a zone's journal.
pub const DEFAULT_JOURNAL_MAX_ENTRIES: usize = 100;

/// Options of one zone (the configuration's `[zone."NAME"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneOptions {
    /// The zone file, relative to the zones folder (or absolute); None: `NAME.zone`.
    pub file: Option<PathBuf>,
    /// How the served serial is chosen.
    pub serial: SerialPolicy,
    /// Bound of the zone's journal (0: no journal).
    pub journal_max_entries: usize,
}

impl Default for ZoneOptions {
    fn default() -> Self {
        Self {
            file: None,
            serial: SerialPolicy::default(),
            journal_max_entries: DEFAULT_JOURNAL_MAX_ENTRIES,
        }
    }
}

/// What the reloader needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// The zones folder.
    pub zones_dir: PathBuf,
    /// The state folder (served serials, journals).
    pub state_dir: PathBuf,
    /// Per-zone options by apex; zones not named use `ZoneOptions::default()`.
    pub zones: BTreeMap<Name, ZoneOptions>,
}

/// A zone that loaded: the zone and its warnings (`file:line: what`).
pub type Loaded = (Zone, Vec<String>);

/// Reads, parses, checks and builds the zone `apex` from a file; on failure every
/// error as `file:line: what`. The daemon passes `zone::load::load_zone`.
pub type LoadFn = dyn Fn(&Path, &Name) -> Result<Loaded, Vec<String>> + Send + Sync;

/// The daemon's [`LoadFn`]: `zone::load::load_zone` (RFC 1035 master files, checked),
/// its errors and warnings as `file:line: what` lines.
pub fn load_zone_file(path: &Path, apex: &Name) -> Result<Loaded, Vec<String>> {
    match load::load_zone(path, apex) {
        Ok(loaded) => Ok((
            loaded.zone,
            loaded.warnings.iter().map(ToString::to_string).collect(),
        )),
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    }
}

/// A served zone and what the reloader remembers of it.
struct ZoneState {
    path: PathBuf,
    zone: Arc<Zone>,
    served: Served,
    journal: Journal,
    /// The file as it was at the last load attempt, successful or not.
    attempted: Option<Fingerprint>,
}

/// A zone whose last load failed and that is not served (never loaded, or gone).
struct Failed {
    path: PathBuf,
    attempted: Option<Fingerprint>,
}

/// What one reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Zones loaded whose content or serial changed (new zones included).
    pub changed: usize,
    /// Zones loaded and found unchanged.
    pub unchanged: usize,
    /// Zones that failed (errors logged).
    pub failed: usize,
    /// Zones removed because their file is gone.
    pub removed: usize,
}

/// Loads zone files and keeps the served zone set in step with them.
pub struct Reloader {
    settings: Settings,
    zones: Arc<ArcSwap<ZoneSet>>,
    load: Box<LoadFn>,
    states: BTreeMap<Name, ZoneState>,
    failed: BTreeMap<Name, Failed>,
    stats: Arc<ReloadStats>,
    clock: fn() -> u64,
    /// The state folder's served serials, read at the first reload.
    served: Option<ServedSerials>,
}

impl Reloader {
    /// A reloader that serves into `zones`, loading files with `load`. Nothing is loaded
    /// until [`Reloader::reload_all`].
    pub fn new(settings: Settings, zones: Arc<ArcSwap<ZoneSet>>, load: Box<LoadFn>) -> Self {
        Self {
            settings,
            zones,
            load,
            states: BTreeMap::new(),
            failed: BTreeMap::new(),
            stats: Arc::new(ReloadStats::default()),
            clock: unix_now,
            served: None,
        }
    }

    /// A reloader of RFC 1035 zone files ([`load_zone_file`]): what the daemon runs.
    pub fn for_zone_files(settings: Settings, zones: Arc<ArcSwap<ZoneSet>>) -> Self {
        Self::new(settings, zones, Box::new(load_zone_file))
    }

    /// Replaces the clock (seconds since the Unix epoch) the serial policy reads.
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }

    /// The counters, for the metrics endpoint.
    pub fn stats(&self) -> Arc<ReloadStats> {
        self.stats.clone()
    }

    /// The zones folder.
    pub fn zones_dir(&self) -> &Path {
        &self.settings.zones_dir
    }

    /// The zone files the configuration names (`[zone."NAME"] file`), as paths.
    pub fn configured_files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.settings
            .zones
            .values()
            .filter_map(|o| o.file.as_ref())
            .map(|f| self.settings.zones_dir.join(f))
    }

    /// The journal of the zone `apex`, if it is served.
    pub fn journal(&self, apex: &Name) -> Option<&Journal> {
        self.states.get(&apex.to_lowercase()).map(|s| &s.journal)
    }

    /// Loads every zone file (at start, and on SIGHUP).
    pub fn reload_all(&mut self) -> Summary {
        self.reload(None)
    }

    /// Loads the zones that `paths` (from the watcher) may have changed: zone files
    /// named there or whose fingerprint changed, new and deleted files; every zone when
    /// a path is not a top-level zone file (an `$INCLUDE`d file, a folder).
    pub fn reload_changed(&mut self, paths: &HashSet<PathBuf>) -> Summary {
        let dir = &self.settings.zones_dir;
        if paths.iter().any(|p| !files::is_top_level_zone_file(dir, p)) {
            return self.reload(None);
        }
        self.reload(Some(paths))
    }

    fn reload(&mut self, touched: Option<&HashSet<PathBuf>>) -> Summary {
        let mut summary = Summary::default();
        let (found, problems) = files::zone_files(&self.settings.zones_dir, &self.settings.zones);
        for problem in &problems {
            tracing::error!("{problem}");
        }
        if problems.iter().any(|p| p.folder_unreadable) {
            // A folder that cannot be read (moved away for a moment?) removes nothing.
            self.stats.count_error(None);
            return summary;
        }
        let mut set = ZoneSet::clone(&self.zones.load());
        let mut set_changed = false;

        let gone: Vec<Name> = self
            .states
            .keys()
            .filter(|apex| !found.contains_key(*apex))
            .cloned()
            .collect();
        for apex in gone {
            if let Some(state) = self.states.remove(&apex) {
                tracing::warn!(
                    zone = %apex,
                    serial = state.served.serial,
                    file = %state.path.display(),
                    "zone file gone: zone removed"
                );
                set = set.without_zone(&apex);
                set_changed = true;
                summary.removed += 1;
                self.stats.zone_removed(&apex.to_string());
            }
        }
        self.failed.retain(|apex, _| found.contains_key(apex));

        // Load and check every zone that may have changed, aside.
        let mut staged = Vec::new();
        for (apex, path) in found {
            let fingerprint = Fingerprint::of(&path);
            if let Some(touched) = touched {
                let previous = match (self.states.get(&apex), self.failed.get(&apex)) {
                    (Some(s), _) => Some((&s.path, s.attempted)),
                    (None, Some(f)) => Some((&f.path, f.attempted)),
                    (None, None) => None,
                };
                let same = previous.is_some_and(|(p, attempted)| {
                    *p == path && attempted == fingerprint && !touched.contains(&path)
                });
                if same {
                    continue;
                }
            }
            match self.stage(&apex, &path, fingerprint) {
                Stage::Changed(change) => staged.push(change),
                Stage::Unchanged => summary.unchanged += 1,
                Stage::Failed => summary.failed += 1,
            }
        }

        // Their serials are saved before any of them is served (one fsync for all).
        if !staged.is_empty() {
            let served = self.served_serials();
            for change in &staged {
                served.set(&change.apex, change.served);
            }
            if let Err(e) = served.write() {
                let path = served.path().display().to_string();
                for change in staged.drain(..) {
                    tracing::error!(
                        zone = %change.apex,
                        "{path}: cannot save the served serial ({e}); the zone keeps its last version"
                    );
                    self.stats.count_error(Some(&change.apex.to_string()));
                    self.forget_attempt(&change.apex);
                    summary.failed += 1;
                }
                // Reread on the next reload: memory must not claim what the disk lacks.
                self.served = None;
            }
        }

        let mut journal_appends = Vec::new();
        for change in staged {
            set = set.with_zone(change.zone.clone());
            set_changed = true;
            summary.changed += 1;
            if let Some(diff) = self.commit(change) {
                journal_appends.push(diff);
            }
        }
        if set_changed {
            self.zones.store(Arc::new(set));
        }
        // The journal feeds IXFR: its fsyncs need not delay serving the new data. A
        // crash before they complete only costs a journal that starts over.
        for (apex, diff) in journal_appends {
            if let Some(state) = self.states.get_mut(&apex)
                && let Err(e) = state.journal.append(diff)
            {
                tracing::error!(zone = %apex, "journal: {e}");
                self.stats.count_error(Some(&apex.to_string()));
            }
        }
        summary
    }

    /// The served-serials file, read at the first use.
    fn served_serials(&mut self) -> &mut ServedSerials {
        self.served.get_or_insert_with(|| {
            let (served, problems) = ServedSerials::read(&self.settings.state_dir);
            for problem in problems {
                tracing::error!("{problem}");
            }
            served
        })
    }

    /// Makes the next reload load `apex` again, whatever its fingerprint.
    fn forget_attempt(&mut self, apex: &Name) {
        if let Some(state) = self.states.get_mut(apex) {
            state.attempted = None;
        }
        if let Some(failed) = self.failed.get_mut(apex) {
            failed.attempted = None;
        }
    }

    /// Loads one zone and decides its serial: the change to publish, or why there is
    /// none (a failure is logged, counted, and remembered in `failed` if the zone is not
    /// served).
    fn stage(&mut self, apex: &Name, path: &Path, fingerprint: Option<Fingerprint>) -> Stage {
        let zone_name = apex.to_string();
        let options = self.options(apex);
        let fail = |this: &mut Self, messages: &[String]| {
            for message in messages {
                tracing::error!(zone = %zone_name, "{message}");
            }
            this.stats.count_error(Some(&zone_name));
            match this.states.get_mut(apex) {
                Some(state) => {
                    state.attempted = fingerprint;
                    state.path = path.to_path_buf();
                    tracing::warn!(
                        zone = %zone_name,
                        serial = state.served.serial,
                        "zone keeps serving its last good version"
                    );
                }
                None => {
                    this.failed.insert(
                        apex.clone(),
                        Failed {
                            path: path.to_path_buf(),
                            attempted: fingerprint,
                        },
                    );
                    tracing::warn!(zone = %zone_name, "zone not served");
                }
            }
            Stage::Failed
        };

        let (mut zone, warnings) = match (self.load)(path, apex) {
            Ok(loaded) => loaded,
            Err(errors) => return fail(self, &errors),
        };
        for warning in &warnings {
            tracing::warn!(zone = %zone_name, "{warning}");
        }
        let file_serial = zone.serial().unwrap_or(0);
        let digest = serial::content_digest(&zone);
        let last = match self.states.get(apex) {
            Some(state) => Some(state.served),
            None => self.served_serials().get(apex),
        };
        let now = (self.clock)();
        let verdict = match serial::decide(options.serial, last.as_ref(), file_serial, digest, now)
        {
            Ok(verdict) => verdict,
            Err(e) => return fail(self, &[format!("{}: {e}", path.display())]),
        };
        self.stats.count_reload(&zone_name);
        zone.set_serial(verdict.serial());
        let served = Served {
            serial: verdict.serial(),
            file_serial,
            digest,
        };
        let previous = match self.states.get_mut(apex) {
            Some(state) => {
                state.attempted = fingerprint;
                state.path = path.to_path_buf();
                if let Verdict::Unchanged(_) = verdict {
                    return Stage::Unchanged;
                }
                Previous::Served(state.zone.clone())
            }
            None => Previous::NotLoaded {
                last,
                journal: self.open_journal(apex, &options),
            },
        };
        Stage::Changed(Box::new(Staged {
            apex: apex.clone(),
            path: path.to_path_buf(),
            fingerprint,
            zone: Arc::new(zone),
            served,
            previous,
        }))
    }

    /// Records a staged change as served; returns the diff for the journal, if any.
    fn commit(&mut self, change: Box<Staged>) -> Option<(Name, ZoneDiff)> {
        let Staged {
            apex,
            path,
            fingerprint,
            zone,
            served,
            previous,
        } = *change;
        let zone_name = apex.to_string();
        self.stats.set_serial(&zone_name, served.serial);
        match previous {
            Previous::Served(old) => {
                let diff = ZoneDiff::between(&old, &zone);
                tracing::info!(
                    zone = %zone_name,
                    serial = %format_args!("{}→{}", diff.old_serial, diff.new_serial),
                    removed = diff.removed.len(),
                    added = diff.added.len(),
                    "zone changed"
                );
                self.stats.count_change(
                    &zone_name,
                    served.serial,
                    diff.removed.len(),
                    diff.added.len(),
                );
                let state = self.states.get_mut(&apex)?;
                state.zone = zone;
                state.served = served;
                Some((apex, diff))
            }
            Previous::NotLoaded { last, journal } => {
                // First load since start: no previous version in memory, so no diff. If
                // the zone changed while dnsd was stopped, its next diff will not chain
                // and the journal starts over.
                match last {
                    Some(last) if last.serial != served.serial => tracing::info!(
                        zone = %zone_name,
                        serial = %format_args!("{}→{}", last.serial, served.serial),
                        "zone changed while dnsd was stopped (no diff)"
                    ),
                    _ => tracing::info!(
                        zone = %zone_name,
                        serial = served.serial,
                        records = zone.record_count(),
                        "zone loaded"
                    ),
                }
                self.failed.remove(&apex);
                self.states.insert(
                    apex,
                    ZoneState {
                        path,
                        zone,
                        served,
                        journal,
                        attempted: fingerprint,
                    },
                );
                None
            }
        }
    }

    /// Reads the zone's journal back (first load since start).
    fn open_journal(&self, apex: &Name, options: &ZoneOptions) -> Journal {
        let zone_name = apex.to_string();
        let path = state::journal_path(&self.settings.state_dir, apex);
        if let Err(e) = fs::create_dir_all(&self.settings.state_dir) {
            tracing::error!(
                "{}: cannot create the state folder: {e}",
                self.settings.state_dir.display()
            );
        }
        match Journal::open(&path, options.journal_max_entries) {
            Ok((journal, recovery)) => {
                if let (Some(first), Some(last)) =
                    (journal.entries().first(), journal.entries().last())
                {
                    tracing::info!(
                        zone = %zone_name,
                        "journal read back: {} diffs, serials {}→{}",
                        journal.entries().len(),
                        first.old_serial,
                        last.new_serial
                    );
                }
                if recovery.dropped_bytes > 0 {
                    tracing::warn!(
                        zone = %zone_name,
                        "{}: cut a torn tail of {} bytes",
                        path.display(),
                        recovery.dropped_bytes
                    );
                }
                journal
            }
            Err(e) => {
                tracing::error!(zone = %zone_name, "journal: {e}; starting it over");
                let _ = fs::remove_file(&path);
                Journal::empty(&path, options.journal_max_entries)
            }
        }
    }

    fn options(&self, apex: &Name) -> ZoneOptions {
        self.settings
            .zones
            .iter()
            .find(|(a, _)| a.to_lowercase() == *apex)
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    }
}

/// What loading one zone gave.
enum Stage {
    Changed(Box<Staged>),
    Unchanged,
    Failed,
}

/// A zone loaded aside, to be served once its serial is saved.
struct Staged {
    apex: Name,
    path: PathBuf,
    fingerprint: Option<Fingerprint>,
    zone: Arc<Zone>,
    served: Served,
    previous: Previous,
}

/// What was there before a staged zone.
enum Previous {
    /// The version being served.
    Served(Arc<Zone>),
    /// Nothing in memory (first load since start): what the state folder remembers.
    NotLoaded {
        last: Option<Served>,
        journal: Journal,
    },
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
