//! When the zone watcher reloads: a pure state machine fed with what happened to the
//! files the zones read (`watch_plan` says which) and the time, which answers "reload
//! now", "wait until", or "nothing to do". The watcher thread (`watcher`) feeds it
//! inotify events and timer ticks, and does the reloads.
//!
//! # Rules
//! - A file is loaded only once complete: closed after writing (inotify
//!   `IN_CLOSE_WRITE`) or renamed into place (`IN_MOVED_TO`). A file written to and not
//!   yet closed (`generator > zone`, scp, `rsync --inplace`) is *being written*: its
//!   zones are neither loaded nor removed until it is closed, however long that takes.
//! - A complete change is applied at once: there is no quiet time. Whatever arrived
//!   with it (the queue is drained first) or while a reload runs joins the next reload,
//!   so a burst becomes one swap or a few, never one per file.
//! - A burst waits for what is visibly still under way: git's `index.lock` held (a
//!   checkout of thousands of files is one reload, and a zone that git deletes and
//!   writes again is changed, not removed), other zone files being written (up to
//!   [`WRITER_WAIT`]), and a file deleted or renamed away, which is usually replaced at
//!   once (an editor's backup rename, `rm` then `cp`: [`REPLACE_GRACE`]).
//! - A lock held with no change to the zones for [`GIT_QUIET`] (git waiting for a
//!   commit message, or a lock left by a crash) no longer holds reloads back.
//! - Events lost (the kernel's queue overflowed) reload every zone once the folder has
//!   been quiet for [`OVERFLOW_QUIET`], as nothing is known of what is being written.
//!
//! ```text
//!   Written ──► being written ──Closed──┐
//!   Replaced (renamed in, a link) ──────┼─► changed ─► decide: git lock? writers?
//!   Removed ──► changed, grace ─────────┘                 removal grace? ─► Reload
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::reload::Request;
use crate::wire::name::Name;

/// How long complete changes wait for other zone files still being written.
pub const WRITER_WAIT: Duration = Duration::from_secs(1);
/// How long a deleted or renamed-away file may take to be replaced.
pub const REPLACE_GRACE: Duration = Duration::from_millis(50);
/// A git lock held with no change to the zones for this long holds nothing back.
pub const GIT_QUIET: Duration = Duration::from_secs(5);
/// Quiet needed after lost events before every zone reloads.
pub const OVERFLOW_QUIET: Duration = Duration::from_millis(200);

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Written to, truncated, or created as an empty file: being written until closed.
    Written,
    /// Closed after writing.
    Closed,
    /// Renamed into place, or created whole (a symbolic link, a hard link, a folder).
    Replaced,
    /// Deleted or renamed away.
    Removed,
    /// Metadata changed (mode, times): complete unless being written.
    Touched,
}

/// What a path is to the zones (from `watch_plan`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependents {
    /// The zones that read it.
    pub zones: BTreeSet<Name>,
    /// A symbolic link on the way: after a change, every path is resolved again.
    pub link: bool,
    /// Every zone depends on it (the zones folder's own link).
    pub all: bool,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is waiting.
    Idle,
    /// Something waits until then (or an event).
    WaitUntil(Instant),
    /// Reload now ([`Burst::take`]).
    Reload,
}

/// The changes gathered since the last reload.
#[derive(Debug, Default)]
pub struct Burst {
    changed: BTreeSet<Name>,
    all: bool,
    relink: bool,
    /// Paths being written, the zones they feed.
    writing: HashMap<PathBuf, BTreeSet<Name>>,
    git_locked: bool,
    overflowed: bool,
    /// The first complete change of this burst.
    started: Option<Instant>,
    /// The last event for a file the zones read.
    last_activity: Option<Instant>,
    /// The last removal.
    removed_at: Option<Instant>,
}

impl Burst {
    /// Records a change of `path`, a file or link that `dependents` read.
    pub fn path(&mut self, path: &Path, dependents: &Dependents, change: Change, now: Instant) {
        self.last_activity = Some(now);
        match change {
            Change::Written => {
                self.writing
                    .entry(path.to_path_buf())
                    .or_default()
                    .extend(dependents.zones.iter().cloned());
                return;
            }
            Change::Touched if self.writing.contains_key(path) => return,
            Change::Removed => {
                self.writing.remove(path);
                self.removed_at = Some(now);
            }
            Change::Closed | Change::Replaced | Change::Touched => {
                self.writing.remove(path);
            }
        }
        self.changed.extend(dependents.zones.iter().cloned());
        self.all |= dependents.all;
        self.relink |= dependents.link;
        self.started.get_or_insert(now);
    }

    /// git's index lock is (or is no longer) held.
    pub fn git_lock(&mut self, held: bool, now: Instant) {
        if held != self.git_locked {
            self.last_activity = Some(now);
        }
        self.git_locked = held;
    }

    /// Every zone, at once (SIGHUP).
    pub fn reload_all(&mut self, now: Instant) {
        self.all = true;
        self.started.get_or_insert(now);
    }

    /// These zones again (a change that could not be saved).
    pub fn retry(&mut self, zones: &BTreeSet<Name>, now: Instant) {
        self.changed.extend(zones.iter().cloned());
        self.started.get_or_insert(now);
    }

    /// Events were lost: what is being written is unknown.
    pub fn overflow(&mut self, now: Instant) {
        self.overflowed = true;
        self.all = true;
        self.relink = true;
        self.writing.clear();
        self.last_activity = Some(now);
        self.started.get_or_insert(now);
    }

    /// Whether a file is being written (for logs and metrics).
    pub fn being_written(&self) -> impl Iterator<Item = &Path> {
        self.writing.keys().map(PathBuf::as_path)
    }

    /// The zones with a file being written.
    pub fn busy(&self) -> BTreeSet<Name> {
        self.writing.values().flatten().cloned().collect()
    }

    /// Whether git's lock is held.
    pub fn git_locked(&self) -> bool {
        self.git_locked
    }

    /// Reload now, wait, or nothing to do.
    pub fn decide(&self, now: Instant) -> Decision {
        let Some(started) = self.started else {
            return Decision::Idle;
        };
        let waiting_for_writers = !self.changed.is_empty()
            && self
                .changed
                .iter()
                .all(|z| self.writing.values().any(|zones| zones.contains(z)));
        if !self.all && !self.relink && waiting_for_writers {
            // Nothing but zones being written: their close brings them.
            return Decision::Idle;
        }
        let activity = self.last_activity.unwrap_or(started);
        let mut until = started;
        if self.overflowed {
            until = until.max(activity + OVERFLOW_QUIET);
        }
        if self.git_locked {
            until = until.max(activity + GIT_QUIET);
        }
        if let Some(removed) = self.removed_at {
            until = until.max(removed + REPLACE_GRACE);
        }
        if !self.writing.is_empty() {
            until = until.max(started + WRITER_WAIT);
        }
        if now < until {
            Decision::WaitUntil(until)
        } else {
            Decision::Reload
        }
    }

    /// The reload to run now, and whether links must be resolved again after it.
    /// Zones with a file still being written stay for a later reload.
    pub fn take(&mut self) -> (Request, bool) {
        let busy = self.busy();
        let (later, zones): (BTreeSet<Name>, BTreeSet<Name>) = std::mem::take(&mut self.changed)
            .into_iter()
            .partition(|z| busy.contains(z));
        let request = Request {
            all: self.all,
            zones,
            busy,
            fingerprints: false,
        };
        let relink = self.relink;
        self.changed = later;
        self.all = false;
        self.relink = false;
        self.overflowed = false;
        self.removed_at = None;
        self.started = None;
        (request, relink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn zone(name: &str) -> Dependents {
        Dependents {
            zones: [n(name)].into(),
            ..Dependents::default()
        }
    }

    #[test]
    fn a_closed_file_reloads_at_once_and_an_open_one_never() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        let a = Path::new("/z/a.zone");
        b.path(a, &zone("a."), Change::Written, t0);
        assert_eq!(b.decide(t0 + Duration::from_secs(3600)), Decision::Idle);
        b.path(a, &zone("a."), Change::Closed, t0);
        assert_eq!(b.decide(t0), Decision::Reload);
        let (request, relink) = b.take();
        assert_eq!(request.zones, [n("a.")].into());
        assert!(!relink && !request.all);
        assert_eq!(b.decide(t0), Decision::Idle);
    }

    #[test]
    fn a_complete_change_waits_a_while_for_other_writers_then_goes_without_them() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        b.path(Path::new("/z/b.zone"), &zone("b."), Change::Written, t0);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Replaced, t0);
        assert_eq!(b.decide(t0), Decision::WaitUntil(t0 + WRITER_WAIT));
        let (request, _) = b.take();
        assert_eq!(request.zones, [n("a.")].into());
        assert_eq!(request.busy, [n("b.")].into());
        // b, changed and being written again: kept for the reload after its close.
        b.path(Path::new("/z/b.zone"), &zone("b."), Change::Closed, t0);
        assert_eq!(b.take().0.zones, [n("b.")].into());
    }

    #[test]
    fn git_holds_a_burst_until_its_lock_goes_or_stays_quiet() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        b.git_lock(true, t0);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Removed, t0);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Written, t0);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Closed, t0);
        assert_eq!(b.decide(t0), Decision::WaitUntil(t0 + GIT_QUIET));
        b.git_lock(false, t0 + Duration::from_secs(1));
        assert_eq!(b.decide(t0 + Duration::from_secs(1)), Decision::Reload);
        // A stale lock: the burst goes after GIT_QUIET without activity.
        let mut b = Burst::default();
        b.git_lock(true, t0);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Closed, t0);
        assert_eq!(b.decide(t0 + GIT_QUIET), Decision::Reload);
    }

    #[test]
    fn a_removal_waits_briefly_for_its_replacement() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Removed, t0);
        assert_eq!(b.decide(t0), Decision::WaitUntil(t0 + REPLACE_GRACE));
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Written, t0);
        let (request, _) = b.take();
        assert!(request.zones.is_empty(), "being written: not removed");
        assert_eq!(request.busy, [n("a.")].into());
    }

    #[test]
    fn links_and_lost_events() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        let link = Dependents {
            link: true,
            all: true,
            ..Dependents::default()
        };
        b.path(Path::new("/srv/zones"), &link, Change::Replaced, t0);
        let (request, relink) = b.take();
        assert!(request.all && relink);
        b.path(Path::new("/z/a.zone"), &zone("a."), Change::Written, t0);
        b.overflow(t0);
        assert_eq!(b.decide(t0), Decision::WaitUntil(t0 + OVERFLOW_QUIET));
        let (request, _) = b.take();
        assert!(request.all && request.busy.is_empty());
    }
}
