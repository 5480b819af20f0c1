//! The zone-file source: finds the zone files, loads the ones that changed aside, and
//! hands each zone's new content to its zone manager, which turns it into a diff of the
//! live zone (`file_diff`), gives it a serial, journals it and serves it. Every zone a
//! burst changed (a `git checkout` of fifty files) is published in one swap.
//!
//! ```text
//!  zone_files ─► load (parse, check, build) ─► Manager::load_files ─► diff, serial,
//!      │              │ errors: logged, counted,                        journal, one swap
//!      │              ▼ the zone keeps its last good version
//!  deleted file ─► zone removed (Manager::close)
//! ```
//!
//! A zone that fails to load keeps serving its last good version (also across a
//! restart: the zone manager restores it from the state folder); the error is logged
//! with file:line and counted.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{self, Fingerprint};
pub use super::stats::{ReloadStats, ZoneStats};
pub use crate::manager::{DEFAULT_JOURNAL_MAX_ENTRIES, ZoneOptions};
use crate::manager::{FileOutcome, Manager, ZoneHandle};
use crate::wire::name::Name;
use crate::zone::{Zone, load};

/// What the reloader needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// The zones folder.
    pub zones_dir: PathBuf,
    /// The state folder (journals, images).
    pub state_dir: PathBuf,
    /// Per-zone options by apex.
    pub zones: BTreeMap<Name, ZoneOptions>,
    /// The options of zones not named in `zones` (the configuration's global keys).
    pub defaults: ZoneOptions,
    /// Secondary zones: their content comes from their primaries, and a file of the
    /// same name in the zones folder is ignored.
    pub secondaries: BTreeSet<Name>,
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

/// A zone the reloader knows a file for.
struct ZoneFile {
    path: PathBuf,
    handle: ZoneHandle,
    /// The file as it was at the last load attempt, successful or not.
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

/// Loads zone files and keeps the zones in step with them.
pub struct Reloader {
    settings: Settings,
    manager: Arc<Manager>,
    load: Box<LoadFn>,
    files: BTreeMap<Name, ZoneFile>,
}

impl Reloader {
    /// A reloader that hands zone files, loaded with `load`, to `manager`'s zones.
    /// Nothing is loaded until [`Reloader::reload_all`].
    pub fn new(settings: Settings, manager: Arc<Manager>, load: Box<LoadFn>) -> Self {
        Self {
            settings,
            manager,
            load,
            files: BTreeMap::new(),
        }
    }

    /// The counters, for the metrics endpoint.
    pub fn stats(&self) -> Arc<ReloadStats> {
        self.manager.stats()
    }

    /// The zone managers.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
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

    /// Replaces the settings (a configuration reload); the next reload applies them.
    pub fn set_settings(&mut self, settings: Settings) {
        for (apex, file) in &self.files {
            let _ = file.handle.set_options(options_of(&settings, apex));
        }
        self.settings = settings;
    }

    /// Replaces the loader (a configuration reload changed `[include]`).
    pub fn set_loader(&mut self, load: Box<LoadFn>) {
        self.load = load;
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
        let (mut found, problems) =
            files::zone_files(&self.settings.zones_dir, &self.settings.zones);
        found.retain(|apex, path| {
            let secondary = self.settings.secondaries.contains(apex);
            if secondary && touched.is_none() {
                tracing::warn!(zone = %apex, file = %path.display(), "a secondary zone: its file in the zones folder is ignored");
            }
            !secondary
        });
        for problem in &problems {
            tracing::error!("{problem}");
        }
        if problems.iter().any(|p| p.folder_unreadable) {
            // A folder that cannot be read (moved away for a moment?) removes nothing.
            self.manager.stats().count_error(None);
            return summary;
        }

        let gone: Vec<Name> = self
            .files
            .keys()
            .filter(|apex| !found.contains_key(*apex))
            .cloned()
            .collect();
        for apex in gone {
            if let Some(file) = self.files.remove(&apex) {
                tracing::warn!(
                    zone = %apex,
                    serial = file.handle.zone().and_then(|z| z.serial()).unwrap_or(0),
                    file = %file.path.display(),
                    "zone file gone: zone removed"
                );
                self.manager.close(&apex);
                summary.removed += 1;
            }
        }

        // Load every zone that may have changed, aside.
        let mut batch: Vec<(ZoneHandle, Zone)> = Vec::new();
        let mut names = Vec::new();
        for (apex, path) in found {
            let fingerprint = Fingerprint::of(&path);
            if let Some(touched) = touched {
                let same = self.files.get(&apex).is_some_and(|f| {
                    f.path == path && f.attempted == fingerprint && !touched.contains(&path)
                });
                if same {
                    continue;
                }
            }
            let options = options_of(&self.settings, &apex);
            let handle = match self.files.get_mut(&apex) {
                Some(file) => {
                    file.path = path.clone();
                    file.attempted = fingerprint;
                    file.handle.clone()
                }
                None => {
                    let handle = self.manager.open(&apex, options);
                    self.files.insert(
                        apex.clone(),
                        ZoneFile {
                            path: path.clone(),
                            handle: handle.clone(),
                            attempted: fingerprint,
                        },
                    );
                    handle
                }
            };
            let zone_name = apex.to_string();
            match (self.load)(&path, &apex) {
                Ok((zone, warnings)) => {
                    for warning in &warnings {
                        tracing::warn!(zone = %zone_name, "{warning}");
                    }
                    self.manager.stats().count_reload(&zone_name);
                    batch.push((handle, zone));
                    names.push((apex, path));
                }
                Err(errors) => {
                    for error in &errors {
                        tracing::error!(zone = %zone_name, "{error}");
                    }
                    self.failed(&apex, &handle);
                    summary.failed += 1;
                }
            }
        }

        let results = self.manager.load_files(batch);
        for ((apex, path), result) in names.into_iter().zip(results) {
            let zone_name = apex.to_string();
            match result {
                Ok(FileOutcome::Loaded { serial }) => {
                    summary.changed += 1;
                    tracing::info!(zone = %zone_name, serial, file = %path.display(), "zone loaded");
                }
                Ok(FileOutcome::Changed {
                    removed,
                    added,
                    old_serial,
                    new_serial,
                    takeovers,
                }) => {
                    summary.changed += 1;
                    for (owner, rtype, source) in takeovers {
                        tracing::warn!(
                            zone = %zone_name,
                            "{}: {rtype} at {owner} was added by source {source}; the zone file now defines it and takes it over",
                            path.display()
                        );
                    }
                    tracing::info!(
                        zone = %zone_name,
                        serial = %format_args!("{old_serial}→{new_serial}"),
                        removed,
                        added,
                        "zone changed"
                    );
                }
                Ok(FileOutcome::Unchanged { .. }) => summary.unchanged += 1,
                Err(e) => {
                    tracing::error!(zone = %zone_name, "{}: {e}", path.display());
                    if let Some(file) = self.files.get_mut(&apex) {
                        // Not the file's fault (a full disk, say): try again next time.
                        file.attempted = None;
                        let handle = file.handle.clone();
                        self.failed(&apex, &handle);
                    }
                    summary.failed += 1;
                }
            }
        }
        summary
    }

    /// Counts a failed load and says what is served instead.
    fn failed(&self, apex: &Name, handle: &ZoneHandle) {
        let zone_name = apex.to_string();
        self.manager.stats().count_error(Some(&zone_name));
        match handle.zone().and_then(|z| z.serial()) {
            Some(serial) => tracing::warn!(
                zone = %zone_name,
                serial,
                "zone keeps serving its last good version"
            ),
            None => tracing::warn!(zone = %zone_name, "zone not served"),
        }
    }
}

fn options_of(settings: &Settings, apex: &Name) -> ZoneOptions {
    settings
        .zones
        .iter()
        .find(|(a, _)| a.to_lowercase() == *apex)
        .map(|(_, o)| o.clone())
        .unwrap_or_else(|| settings.defaults.clone())
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
