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
//! A zone whose file leaves because the configuration now makes it a secondary is
//! handed over, not removed: its secondary task goes on with the same zone manager.
//!
//! A zone that fails to load keeps serving its last good version (also across a
//! restart: the zone manager restores it from the state folder); the error is logged
//! with file:line and counted. A change that the zone manager could not make durable
//! (a full disk) is not the file's fault: the zone is listed as unsaved
//! ([`Reloader::unsaved`]) and the watcher retries it on a timer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{self, Fingerprint};
pub use super::stats::{ReloadStats, ZoneStats};
use crate::manager::{CommitError, FileContent, FileOutcome, Manager, ZoneHandle};
pub use crate::manager::{DEFAULT_JOURNAL_MAX_ENTRIES, ZoneOptions};
use crate::wire::name::Name;
use crate::zone::file_edit::{self, FileMemo, Memo};
use crate::zone::file_match::FileMatch;
use crate::zone::load;

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

/// A zone that loaded: its content (the zone, or the file matched against the live
/// version) and its warnings (`file:line: what`).
pub type Loaded = (FileContent, Vec<String>);

/// What loading one zone file gave: the zone or its errors (each `file:line: what`),
/// and every file the zone read or tried to read (its `$INCLUDE`s), as named.
pub struct FileRead {
    /// The zone and its warnings, or the errors.
    pub result: Result<Loaded, Vec<String>>,
    /// The zone file and its includes; empty: the zone file alone.
    pub files: Vec<PathBuf>,
}

impl From<Result<Loaded, Vec<String>>> for FileRead {
    fn from(result: Result<Loaded, Vec<String>>) -> Self {
        Self {
            result,
            files: Vec::new(),
        }
    }
}

/// Reads and parses the zone `apex` from a file: matched against the live version when
/// a matcher is given, else checked and built whole. The daemon passes
/// `daemon::zones::loader`.
pub type LoadFn = dyn Fn(&Path, &Name, Option<FileMatch>) -> FileRead + Send + Sync;

/// A [`LoadFn`]: `zone::load` (RFC 1035 master files, checked) with the default
/// options, its errors and warnings as `file:line: what` lines.
pub fn load_zone_file(path: &Path, apex: &Name, matcher: Option<FileMatch>) -> FileRead {
    read_zone_file(path, apex, matcher, &load::LoadOptions::default(), |e| {
        e.to_string()
    })
}

/// Reads the zone file at `path` with `options`: the file matched against `matcher`'s
/// base, or the zone built whole; errors written as `file:line: what`, warnings by
/// `warning`.
pub fn read_zone_file(
    path: &Path,
    apex: &Name,
    matcher: Option<FileMatch>,
    options: &load::LoadOptions,
    warning: impl Fn(&load::LoadError) -> String,
) -> FileRead {
    let lines = |warnings: &[load::LoadError]| warnings.iter().map(&warning).collect::<Vec<_>>();
    let (result, files) = match matcher {
        Some(matcher) => {
            let (result, files) = load::match_zone_file(path, matcher, options);
            let result = result.map(|(outcome, warnings)| {
                let content = match outcome {
                    load::MatchOutcome::Matched(matched) => FileContent::Matched(*matched),
                    load::MatchOutcome::Edited(edited) => FileContent::Edited(edited),
                };
                (content, lines(&warnings))
            });
            (result, files)
        }
        None => {
            let (result, files) = load::load_zone_watched(path, apex, options);
            let result =
                result.map(|loaded| (FileContent::Zone(loaded.zone), lines(&loaded.warnings)));
            (result, files)
        }
    };
    FileRead {
        result: result.map_err(|errors| errors.iter().map(ToString::to_string).collect()),
        files,
    }
}

/// Which zones a reload loads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// Every zone (SIGHUP, a symbolic link swapped, watcher events lost).
    pub all: bool,
    /// Zones whose files changed (new and deleted zone files too): loaded, or
    /// removed when their file is gone.
    pub zones: BTreeSet<Name>,
    /// Zones with a file still being written: neither loaded nor removed now (loaded
    /// once the file is closed).
    pub busy: BTreeSet<Name>,
    /// Also every zone whose file's fingerprint changed, new files and deleted ones
    /// (when events may have been missed: as the watcher starts).
    pub fingerprints: bool,
}

impl Request {
    /// Every zone.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }
}

/// A zone the reloader knows a file for.
struct ZoneFile {
    path: PathBuf,
    handle: ZoneHandle,
    /// The file as it was at the last load attempt, successful or not.
    attempted: Option<Fingerprint>,
    /// The files the last load read or tried (the zone file and its includes).
    files: Vec<PathBuf>,
    /// The file the live zone was last loaded from, to read its next edit as one
    /// (`zone::file_edit`); none: the next load reads the file whole.
    memo: Option<FileMemo>,
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

/// Whether another source takes a zone whose file goes.
pub type Takes = dyn Fn(&Name) -> bool + Send + Sync;

/// Loads zone files and keeps the zones in step with them.
pub struct Reloader {
    settings: Settings,
    manager: Arc<Manager>,
    load: Box<LoadFn>,
    files: BTreeMap<Name, ZoneFile>,
    /// Zones whose last change could not be made durable (retried by the watcher).
    unsaved: BTreeSet<Name>,
    /// Zones another source takes over when their file goes (catalog members).
    handover: Option<Box<Takes>>,
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
            unsaved: BTreeSet::new(),
            handover: None,
        }
    }

    /// Zones whose file goes are handed over, not removed, when `takes` says another
    /// source has them (the members of consumed catalogs).
    pub fn set_handover(&mut self, takes: Box<Takes>) {
        self.handover = Some(takes);
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

    /// Every zone's files as the last load named them (the zone file first, then its
    /// includes), and the configured files of zones whose file is missing: what the
    /// watcher watches.
    pub fn watched(&self) -> Vec<(Name, Vec<PathBuf>)> {
        let mut watched: Vec<(Name, Vec<PathBuf>)> = self
            .files
            .iter()
            .map(|(apex, f)| {
                let mut files = f.files.clone();
                if !files.contains(&f.path) {
                    files.insert(0, f.path.clone());
                }
                (apex.clone(), files)
            })
            .collect();
        for (apex, options) in &self.settings.zones {
            let apex = apex.to_lowercase();
            if let Some(file) = &options.file
                && !self.files.contains_key(&apex)
            {
                watched.push((apex, vec![self.settings.zones_dir.join(file)]));
            }
        }
        watched
    }

    /// Zones whose last change was not made durable (a full disk): the watcher asks
    /// for them again ([`Reloader::reload_request`]) until it is.
    pub fn unsaved(&self) -> &BTreeSet<Name> {
        &self.unsaved
    }

    /// Loads every zone file (at start, and on SIGHUP).
    pub fn reload_all(&mut self) -> Summary {
        self.reload(&Request::all())
    }

    /// Loads what `request` (from the watcher) asks for.
    pub fn reload_request(&mut self, request: &Request) -> Summary {
        self.reload(request)
    }

    fn reload(&mut self, request: &Request) -> Summary {
        let mut summary = Summary::default();
        let (mut found, problems) =
            files::zone_files(&self.settings.zones_dir, &self.settings.zones);
        found.retain(|apex, path| {
            let secondary = self.settings.secondaries.contains(apex);
            if secondary && request.all {
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
            .filter(|apex| {
                !found.contains_key(*apex)
                    && !request.busy.contains(*apex)
                    && (request.all || request.fingerprints || request.zones.contains(*apex))
            })
            .cloned()
            .collect();
        for apex in gone {
            if self.settings.secondaries.contains(&apex)
                || self.handover.as_ref().is_some_and(|takes| takes(&apex))
            {
                // The zone became a secondary in this reload: its secondary task has
                // it now (the same zone manager: version, serial floor and journal go
                // on). Forget the file; do not close the zone.
                if self.files.remove(&apex).is_some() {
                    tracing::info!(zone = %apex, "zone is now a secondary: handed over from its file to its primaries");
                    self.unsaved.remove(&apex);
                    self.manager.stats().set_unsaved(&apex.to_string(), false);
                }
                continue;
            }
            if let Some(file) = self.files.remove(&apex) {
                tracing::warn!(
                    zone = %apex,
                    serial = file.handle.zone().and_then(|z| z.serial()).unwrap_or(0),
                    file = %file.path.display(),
                    "zone file gone: zone removed"
                );
                self.manager.close(&apex);
                self.unsaved.remove(&apex);
                self.manager.stats().set_unsaved(&apex.to_string(), false);
                summary.removed += 1;
            }
        }

        // Load every zone that may have changed, aside.
        let mut batch: Vec<(ZoneHandle, FileContent)> = Vec::new();
        let mut names = Vec::new();
        let mut memos: Vec<Option<Memo>> = Vec::new();
        let mut edited: Vec<bool> = Vec::new();
        for (apex, path) in found {
            if request.busy.contains(&apex) {
                continue;
            }
            let fingerprint = Fingerprint::of(&path);
            if !request.all && !request.zones.contains(&apex) {
                // A file whose events have not come (yet) may be being written: only
                // the fingerprint pass of a watcher that starts looks at it.
                let same = self
                    .files
                    .get(&apex)
                    .is_some_and(|f| f.path == path && f.attempted == fingerprint);
                if same || !request.fingerprints {
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
                            files: Vec::new(),
                            memo: None,
                        },
                    );
                    handle
                }
            };
            let zone_name = apex.to_string();
            let last = self.files.get(&apex).and_then(|f| f.memo.clone());
            let copies = file_edit::copies_dir(&self.settings.state_dir);
            let matcher = handle.file_matcher().map(|m| m.with_memo(copies, last));
            let read = (self.load)(&path, &apex, matcher);
            if let Some(file) = self.files.get_mut(&apex) {
                file.files = read.files;
            }
            match read.result {
                Ok((mut zone, warnings)) => {
                    for warning in &warnings {
                        tracing::warn!(zone = %zone_name, "{warning}");
                    }
                    self.manager.stats().count_reload(&zone_name);
                    memos.push(zone.take_memo());
                    edited.push(matches!(zone, FileContent::Edited(_)));
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

        let matched = batch
            .iter()
            .any(|(_, content)| matches!(content, FileContent::Matched(_)));
        let results = self.manager.load_files(batch);
        if matched {
            // The match's marks (a bit per two octets of the zone) are freed: give them back.
            load::release_freed_memory();
        }
        let mut reread = BTreeSet::new();
        let loads = names.into_iter().zip(results).zip(memos).zip(edited);
        for ((((apex, path), result), memo), edited) in loads {
            let zone_name = apex.to_string();
            if matches!(result, Err(CommitError::Reread)) {
                if let Some(file) = self.files.get_mut(&apex) {
                    file.memo = None;
                }
                reread.insert(apex);
                continue;
            }
            if let Some(file) = self.files.get_mut(&apex) {
                if result.is_ok() {
                    // The live zone is now what this file says: its next edit is read
                    // from it.
                    let copies = file_edit::copies_dir(&self.settings.state_dir);
                    file.memo = memo.and_then(|m| m.resolve(&copies));
                } else if !matches!(result, Err(CommitError::Journal(_))) {
                    // The zone keeps its last good version, which the memo still is.
                } else {
                    file.memo = None;
                }
            }
            let unsaved = matches!(result, Err(CommitError::Journal(_)));
            if unsaved != self.unsaved.contains(&apex) {
                self.manager.stats().set_unsaved(&zone_name, unsaved);
                if unsaved {
                    self.unsaved.insert(apex.clone());
                } else {
                    self.unsaved.remove(&apex);
                    tracing::info!(zone = %zone_name, "the change that could not be saved is saved and served");
                }
            }
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
                    let read = if edited {
                        "read as an edit"
                    } else {
                        "read whole"
                    };
                    tracing::info!(
                        zone = %zone_name,
                        serial = %format_args!("{old_serial}→{new_serial}"),
                        removed,
                        added,
                        "zone changed ({read})"
                    );
                }
                Ok(FileOutcome::Unchanged { .. }) => summary.unchanged += 1,
                Err(e) => {
                    if unsaved {
                        tracing::error!(
                            zone = %zone_name,
                            "{}: the change cannot be saved in the state folder ({e}); \
                             it is not served, and retried until it can be",
                            path.display()
                        );
                    } else if matches!(e, CommitError::InFile { .. }) {
                        tracing::error!(zone = %zone_name, "{e}");
                    } else {
                        tracing::error!(zone = %zone_name, "{}: {e}", path.display());
                    }
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
        if !reread.is_empty() {
            // Edits that touch what another source owns: the whole files decide.
            let again = self.reload(&Request {
                zones: reread,
                ..Request::default()
            });
            summary.changed += again.changed;
            summary.unchanged += again.unchanged;
            summary.failed += again.failed;
            summary.removed += again.removed;
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
