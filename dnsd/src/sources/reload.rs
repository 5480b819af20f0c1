//! The reloader: loads zone files aside, gives each changed zone its serial, writes its
//! diff to the journal, and swaps all changed zones into the served `ZoneSet` at once.
//!
//! ```text
//!  zone_files ─► load (parse, check, build) ─► serial::decide ─► ZoneDiff::between
//!      │              │ errors: logged, counted,        │             │
//!      │              ▼ last good version kept          ▼             ▼
//!  deleted file ─► zone removed                 state file     journal append
//!                                                      └──────┬──────┘
//!                                                 one ArcSwap::store per reload
//! ```
//!
//! A zone that fails to load, or whose serial the `keep` policy cannot serve, keeps its
//! last good version serving; the error is logged with file:line and counted. The last
//! served serial and content digest of each zone are kept in the state folder
//! (`NAME.serial`, written atomically), the journal beside them (`NAME.journal`), so a
//! restart neither lowers a serial nor loses the journal.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::files::{self, Fingerprint};
pub use super::stats::{ReloadStats, ZoneStats};
use crate::wire::name::Name;
use crate::xfr::journal::{self, Journal};
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
            match self.load_zone(&apex, &path, fingerprint) {
                Outcome::Changed(zone) => {
                    set = set.with_zone(zone);
                    set_changed = true;
                    summary.changed += 1;
                }
                Outcome::Unchanged => summary.unchanged += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        if set_changed {
            self.zones.store(Arc::new(set));
        }
        summary
    }

    /// Loads one zone; on success records its new state (journal and state file
    /// written) and returns the zone to publish.
    fn load_zone(&mut self, apex: &Name, path: &Path, fingerprint: Option<Fingerprint>) -> Outcome {
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
            Outcome::Failed
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

        let (serial_path, journal_path) = state_paths(&self.settings.state_dir, apex);
        let last = match self.states.get(apex) {
            Some(state) => Some(state.served),
            None => read_served(&serial_path),
        };
        let verdict = match serial::decide(
            options.serial,
            last.as_ref(),
            file_serial,
            digest,
            (self.clock)(),
        ) {
            Ok(verdict) => verdict,
            Err(e) => return fail(self, &[format!("{}: {e}", path.display())]),
        };
        self.stats.count_reload(&zone_name);
        let served = Served {
            serial: verdict.serial(),
            file_serial,
            digest,
        };

        if let Some(state) = self.states.get_mut(apex) {
            state.attempted = fingerprint;
            state.path = path.to_path_buf();
            let Verdict::Changed(new_serial) = verdict else {
                return Outcome::Unchanged;
            };
            zone.set_serial(new_serial);
            let diff = ZoneDiff::between(&state.zone, &zone);
            tracing::info!(
                zone = %zone_name,
                serial = %format_args!("{}→{}", diff.old_serial, diff.new_serial),
                removed = diff.removed.len(),
                added = diff.added.len(),
                "zone changed"
            );
            self.stats
                .count_change(&zone_name, new_serial, diff.removed.len(), diff.added.len());
            if let Err(e) = state.journal.append(diff) {
                tracing::error!(zone = %zone_name, "journal: {e}");
                self.stats.count_error(Some(&zone_name));
            }
            if let Err(e) = write_served(&serial_path, &served) {
                tracing::error!(zone = %zone_name, "{}: cannot save the served serial: {e}", serial_path.display());
                self.stats.count_error(Some(&zone_name));
            }
            let zone = Arc::new(zone);
            state.zone = zone.clone();
            state.served = served;
            return Outcome::Changed(zone);
        }

        // First load since start: no previous version in memory, so no diff. The journal
        // is read back; if the zone changed while dnsd was stopped, its next diff will
        // not chain and the journal starts over.
        zone.set_serial(verdict.serial());
        if let Err(e) = fs::create_dir_all(&self.settings.state_dir) {
            tracing::error!(
                "{}: cannot create the state folder: {e}",
                self.settings.state_dir.display()
            );
        }
        let journal = match Journal::open(&journal_path, options.journal_max_entries) {
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
                        journal_path.display(),
                        recovery.dropped_bytes
                    );
                }
                journal
            }
            Err(e) => {
                tracing::error!(zone = %zone_name, "journal: {e}; starting it over");
                let _ = fs::remove_file(&journal_path);
                Journal::open(&journal_path, options.journal_max_entries)
                    .map(|(j, _)| j)
                    .unwrap_or_else(|_| Journal::empty(&journal_path, options.journal_max_entries))
            }
        };
        match (verdict, last) {
            (Verdict::Changed(new), Some(last)) => tracing::info!(
                zone = %zone_name,
                serial = %format_args!("{}→{new}", last.serial),
                "zone changed while dnsd was stopped (no diff)"
            ),
            _ => tracing::info!(
                zone = %zone_name,
                serial = verdict.serial(),
                records = zone.record_count(),
                "zone loaded"
            ),
        }
        if last != Some(served)
            && let Err(e) = write_served(&serial_path, &served)
        {
            tracing::error!(zone = %zone_name, "{}: cannot save the served serial: {e}", serial_path.display());
            self.stats.count_error(Some(&zone_name));
        }
        self.stats.set_serial(&zone_name, served.serial);
        self.failed.remove(apex);
        let zone = Arc::new(zone);
        self.states.insert(
            apex.clone(),
            ZoneState {
                path: path.to_path_buf(),
                zone: zone.clone(),
                served,
                journal,
                attempted: fingerprint,
            },
        );
        Outcome::Changed(zone)
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

enum Outcome {
    Changed(Arc<Zone>),
    Unchanged,
    Failed,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The state files of a zone: `NAME.serial` and `NAME.journal`, NAME being the apex
/// without its final dot (`root` for the root zone) with any byte that does not belong
/// in a file name written `%XX`.
pub fn state_paths(state_dir: &Path, apex: &Name) -> (PathBuf, PathBuf) {
    let text = apex.to_lowercase().to_string();
    let text = text.strip_suffix('.').unwrap_or(&text);
    let mut base = String::new();
    if text.is_empty() {
        base.push_str("root");
    }
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => base.push(b as char),
            _ => base.push_str(&format!("%{b:02X}")),
        }
    }
    (
        state_dir.join(format!("{base}.serial")),
        state_dir.join(format!("{base}.journal")),
    )
}

fn read_served(path: &Path) -> Option<Served> {
    let text = fs::read_to_string(path).ok()?;
    let served = Served::from_line(&text);
    if served.is_none() {
        tracing::warn!("{}: not a served-serial line; ignored", path.display());
    }
    served
}

/// Writes the state file atomically: a new file, fsync, rename, fsync of the folder.
fn write_served(path: &Path, served: &Served) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp)?;
    file.write_all(served.to_line().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    journal::sync_parent(path)
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
