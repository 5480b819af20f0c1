//! Zone files in a folder (kept in git): which file is which zone, and the watcher that
//! notices every change to them.
//!
//! # Which files are zones
//! In the zones folder, a file `NAME.zone` is the zone `NAME` (Knot's convention): no
//! configuration is needed per zone. A `[zone."NAME"] file = "..."` serves that file
//! (relative to the zones folder) instead; a file so claimed is no zone of its own name.
//! Only the folder's top level holds zones: sub-folders are for `$INCLUDE`d files and
//! anything else the operator keeps there, and names starting with a dot (`.git`,
//! editors' swap and lock files) are never zones. The zones folder itself must exist
//! when dnsd starts; it is watched as it is (a folder replaced by another of the same
//! name, rather than changed, needs a SIGHUP).
//!
//! # Watching
//! A `notify` (inotify) watcher covers the whole folder, sub-folders included (an
//! `$INCLUDE`d file may change alone), and the folders of configured zone files that
//! lie elsewhere. Events under `.git/` and for editors' temporary
//! files are dropped. The rest are debounced: a reload starts once the folder has been
//! quiet for [`QUIET`], or [`MAX_DELAY`] after the first event at the latest, so that a
//! `git checkout` touching fifty files yields one reload that swaps them all at once.
//!
//! ```text
//!  inotify ─► filter ─► channel ─┬─► debounce ─► Reloader::reload_changed(paths)
//!  SIGHUP  ─► WatchHandle::reload_all ─┘          Reloader::reload_all()
//! ```

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use super::reload::{LoadFn, Reloader, Settings, ZoneOptions};
use crate::wire::name::Name;

/// Quiet time after the last event before a reload starts.
pub const QUIET: Duration = Duration::from_millis(100);
/// Longest wait after the first event of a burst.
pub const MAX_DELAY: Duration = Duration::from_millis(500);

/// A zone and the file it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFile {
    /// The zone's apex, lowercased.
    pub apex: Name,
    /// Its master file.
    pub path: PathBuf,
}

/// A problem finding zone files (one log line each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SourceProblem {
    /// The folder or file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// Whether the zones folder itself could not be read (then nothing is known).
    pub folder_unreadable: bool,
}

/// The zone a file named `NAME.zone` holds, if its name says one.
pub fn apex_of_file(path: &Path) -> Option<Result<Name, String>> {
    let file_name = path.file_name()?.to_str()?;
    if file_name.starts_with('.') {
        return None;
    }
    let stem = file_name.strip_suffix(".zone")?;
    Some(
        Name::from_text(&format!("{stem}."), None)
            .map(|n| n.to_lowercase())
            .map_err(|e| format!("the file name {stem:?} is not a domain name: {e}")),
    )
}

/// Every zone of the folder and the configuration, by apex, and the problems that keep
/// some from being known (an unreadable folder, a file name that is no domain name).
pub fn zone_files(
    zones_dir: &Path,
    configured: &BTreeMap<Name, ZoneOptions>,
) -> (BTreeMap<Name, PathBuf>, Vec<SourceProblem>) {
    let mut problems = Vec::new();
    let mut zones: BTreeMap<Name, PathBuf> = BTreeMap::new();
    let claimed: HashSet<PathBuf> = configured
        .values()
        .filter_map(|o| o.file.as_ref())
        .map(|f| zones_dir.join(f))
        .collect();
    match std::fs::read_dir(zones_dir) {
        Err(e) => problems.push(SourceProblem {
            path: zones_dir.to_path_buf(),
            message: format!("cannot read the zones folder: {e}"),
            folder_unreadable: true,
        }),
        Ok(entries) => {
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if claimed.contains(&path) || !path.is_file() {
                    continue;
                }
                match apex_of_file(&path) {
                    None => {}
                    Some(Err(message)) => problems.push(SourceProblem {
                        path,
                        message,
                        folder_unreadable: false,
                    }),
                    Some(Ok(apex)) => {
                        if configured.get(&apex).is_some_and(|o| o.file.is_some()) {
                            continue;
                        }
                        if let Some(other) = zones.get(&apex) {
                            // `Example.org.zone` beside `example.org.zone`: serve the
                            // first, say why the other is not served.
                            problems.push(SourceProblem {
                                message: format!(
                                    "zone {apex} is already read from {}; this file is ignored",
                                    other.display()
                                ),
                                path,
                                folder_unreadable: false,
                            });
                            continue;
                        }
                        zones.insert(apex, path);
                    }
                }
            }
        }
    }
    for (apex, options) in configured {
        let apex = apex.to_lowercase();
        match &options.file {
            Some(file) => {
                zones.insert(apex, zones_dir.join(file));
            }
            None if !zones.contains_key(&apex) => problems.push(SourceProblem {
                path: zones_dir.join(format!("{apex}zone")),
                message: format!("zone {apex} is configured but has no file"),
                folder_unreadable: false,
            }),
            None => {}
        }
    }
    (zones, problems)
}

/// What identifies one version of a file without reading it: a new inode (git and
/// editors that rename), a new size or a new mtime/ctime mean it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    inode: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Fingerprint {
    /// The fingerprint of `path` now; None if it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            inode: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

/// Whether an event for `path` can change a zone: not under a folder starting with a
/// dot (`.git/`), not an editor's temporary or backup file.
pub fn is_relevant(zones_dir: &Path, path: &Path) -> bool {
    // Outside the zones folder (a configured file elsewhere), only the name counts.
    let relative = path
        .strip_prefix(zones_dir)
        .ok()
        .or_else(|| path.file_name().map(Path::new))
        .unwrap_or(path);
    let hidden = relative.components().any(|c| match c {
        Component::Normal(part) => part.to_str().is_none_or(|p| p.starts_with('.')),
        _ => false,
    });
    if hidden {
        return false;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        // The folder itself (moved, deleted): let the reload find out.
        return true;
    };
    let temporary = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"; // vim probes whether it may write the folder
    !temporary
}

/// Whether `path` is a zone file of the folder's top level (`NAME.zone`); a change to any
/// other relevant file (an `$INCLUDE`d one) makes every zone reload.
pub fn is_top_level_zone_file(zones_dir: &Path, path: &Path) -> bool {
    path.parent() == Some(zones_dir) && apex_of_file(path).is_some()
}

//------------ The watcher thread ---------------------------------------------------------

enum Message {
    Event(notify::Result<notify::Event>),
    ReloadAll,
    /// A configuration reload: new settings and loader, then every zone reloaded.
    Reconfigure(Box<(Settings, Box<LoadFn>)>),
    Stop,
}

/// The running watcher; reloads are asked of it and run on its thread, one at a time.
pub struct WatchHandle {
    tx: mpsc::Sender<Message>,
    thread: Option<thread::JoinHandle<()>>,
}

/// The watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    /// The zones folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: notify::Error,
}

impl WatchHandle {
    /// Asks for a reload of every zone (SIGHUP); returns at once.
    pub fn reload_all(&self) {
        let _ = self.tx.send(Message::ReloadAll);
    }

    /// Applies new settings (zones and their options) and a new loader, then reloads
    /// every zone (a configuration reload on SIGHUP); returns at once.
    pub fn reconfigure(&self, settings: Settings, load: Box<LoadFn>) {
        let _ = self
            .tx
            .send(Message::Reconfigure(Box::new((settings, load))));
    }

    /// Stops the watcher and waits for a reload under way to finish.
    pub fn stop(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let _ = self.tx.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Starts watching the reloader's zones folder on a thread of its own, which then owns
/// the reloader.
pub fn watch(reloader: Reloader) -> Result<WatchHandle, WatchError> {
    let zones_dir = reloader.zones_dir().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let events = tx.clone();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = events.send(Message::Event(event));
    })
    .map_err(|source| WatchError {
        path: zones_dir.clone(),
        source,
    })?;
    watcher
        .watch(&zones_dir, RecursiveMode::Recursive)
        .map_err(|source| WatchError {
            path: zones_dir.clone(),
            source,
        })?;
    // Configured zone files outside the zones folder: watch their folders too.
    let mut outside: Vec<PathBuf> = reloader
        .configured_files()
        .filter(|file| !file.starts_with(&zones_dir))
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .collect();
    outside.sort();
    outside.dedup();
    for dir in outside {
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            tracing::warn!(
                "cannot watch {}: {e}; changes there need a SIGHUP",
                dir.display()
            );
        }
    }
    let thread = thread::Builder::new()
        .name("zone-watcher".into())
        .spawn(move || watch_loop(reloader, watcher, &rx))
        .map_err(|e| WatchError {
            path: zones_dir.clone(),
            source: notify::Error::io(e),
        })?;
    Ok(WatchHandle {
        tx,
        thread: Some(thread),
    })
}

fn watch_loop(
    mut reloader: Reloader,
    _watcher: notify::RecommendedWatcher,
    rx: &mpsc::Receiver<Message>,
) {
    let zones_dir = reloader.zones_dir().to_path_buf();
    // Files changed between the caller's first load and the watch starting are found
    // by their fingerprints.
    reload_guarded(&mut reloader, false, &HashSet::new());
    while let Ok(message) = rx.recv() {
        let mut paths = HashSet::new();
        let mut all = false;
        match message {
            Message::Stop => return,
            Message::ReloadAll => all = true,
            Message::Reconfigure(next) => {
                let (settings, load) = *next;
                reloader.set_settings(settings);
                reloader.set_loader(load);
                all = true;
            }
            Message::Event(event) => {
                if !collect(&zones_dir, event, &mut paths, &mut all) {
                    continue;
                }
            }
        }
        // Debounce: wait for the burst to end, folding everything it brings into one
        // reload.
        let first = Instant::now();
        loop {
            let left = MAX_DELAY.saturating_sub(first.elapsed());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(QUIET.min(left)) {
                Ok(Message::Stop) => return,
                Ok(Message::ReloadAll) => all = true,
                Ok(Message::Reconfigure(next)) => {
                    let (settings, load) = *next;
                    reloader.set_settings(settings);
                    reloader.set_loader(load);
                    all = true;
                }
                Ok(Message::Event(event)) => {
                    collect(&zones_dir, event, &mut paths, &mut all);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        reload_guarded(&mut reloader, all, &paths);
    }
}

/// Runs one reload. A bug in a loader must not end reloading for good: a panic is
/// logged and counted, and the zones served stay as they were (the swap comes last).
fn reload_guarded(reloader: &mut Reloader, all: bool, paths: &HashSet<PathBuf>) {
    let reloaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if all {
            reloader.reload_all();
        } else {
            reloader.reload_changed(paths);
        }
    }));
    if reloaded.is_err() {
        tracing::error!("zone reload panicked (a bug); the zones served are unchanged");
        reloader.stats().count_error(None);
    }
}

/// Adds the relevant paths of `event` to `paths`; true if there was one. An error of
/// the watcher itself (events lost: queue overflow) asks for a full reload.
fn collect(
    zones_dir: &Path,
    event: notify::Result<notify::Event>,
    paths: &mut HashSet<PathBuf>,
    all: &mut bool,
) -> bool {
    match event {
        Err(e) => {
            tracing::warn!("zone watcher: {e}; reloading every zone");
            *all = true;
            true
        }
        Ok(event) => {
            if event.need_rescan() {
                *all = true;
            }
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return *all;
            }
            let before = paths.len();
            paths.extend(
                event
                    .paths
                    .into_iter()
                    .filter(|p| is_relevant(zones_dir, p)),
            );
            *all || paths.len() > before
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_say_the_zone() {
        let apex = |p: &str| apex_of_file(Path::new(p)).map(|r| r.map(|n| n.to_string()));
        assert_eq!(apex("z/example.org.zone"), Some(Ok("example.org.".into())));
        assert_eq!(
            apex("z/100.51.198.in-addr.arpa.zone"),
            Some(Ok("100.51.198.in-addr.arpa.".into()))
        );
        assert_eq!(apex("z/Example.ORG.zone"), Some(Ok("example.org.".into())));
        assert_eq!(apex("z/.example.org.zone.swp"), None);
        assert_eq!(apex("z/.#example.org.zone"), None);
        assert_eq!(apex("z/example.org.zone~"), None);
        assert_eq!(apex("z/README.md"), None);
        assert!(matches!(apex("z/a..b.zone"), Some(Err(_))));
    }

    #[test]
    fn git_and_editor_files_are_not_relevant() {
        let dir = Path::new("/srv/zones");
        let relevant = |p: &str| is_relevant(dir, &dir.join(p));
        assert!(relevant("example.org.zone"));
        assert!(relevant("includes/hosts.inc"));
        assert!(!relevant(".git/index.lock"));
        assert!(!relevant(".git/objects/ab/cdef"));
        assert!(!relevant(".example.org.zone.swp"));
        assert!(!relevant("example.org.zone~"));
        assert!(!relevant("4913"));
        assert!(!relevant("#example.org.zone#"));
        assert!(is_relevant(dir, Path::new("/home/u/.config/out.zone")));
        assert!(!is_relevant(dir, Path::new("/home/u/zones2/.out.zone.swp")));
        assert!(is_top_level_zone_file(dir, &dir.join("example.org.zone")));
        assert!(!is_top_level_zone_file(dir, &dir.join("inc/x.zone")));
    }

    #[test]
    fn configured_files_replace_and_claim() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a.example.zone",
            "A.example.zone",
            "b.example.zone",
            "other.txt",
            ".hidden.zone",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.zone")).unwrap();
        std::fs::write(dir.path().join("bad..name.zone"), "").unwrap();
        let mut configured = BTreeMap::new();
        let options = |file: &str| ZoneOptions {
            file: Some(PathBuf::from(file)),
            ..ZoneOptions::default()
        };
        configured.insert(
            Name::from_text("c.example.", None).unwrap(),
            options("b.example.zone"),
        );
        let (zones, problems) = zone_files(dir.path(), &configured);
        let got: Vec<(String, PathBuf)> = zones
            .iter()
            .map(|(a, p)| {
                (
                    a.to_string(),
                    p.strip_prefix(dir.path()).unwrap().to_path_buf(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.example.".to_string(), PathBuf::from("A.example.zone")),
                ("c.example.".to_string(), PathBuf::from("b.example.zone")),
            ]
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("already read from"));
        assert!(problems[1].message.contains("not a domain name"));
        let (_, problems) = zone_files(&dir.path().join("missing"), &BTreeMap::new());
        assert!(problems[0].folder_unreadable);
    }
}
