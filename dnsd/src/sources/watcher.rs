//! The zone watcher: a thread that owns the reloader, watches the folders that
//! `watch_plan` names (inotify through `notify`, one folder at a time), feeds what
//! happens to the `burst` state machine and runs the reloads it asks for. After each
//! reload the plan is made again from what the zones read, and the watches follow it.
//!
//! ```text
//!  inotify ─► classify (plan) ─► Burst ─► Reloader::reload_request ─► new plan, watches
//!  SIGHUP ──► WatchHandle::reload_all ─┘      ▲
//!  timer ───► unsaved changes (full disk) ────┘ retried: 1 s, doubling up to 30 s
//! ```
//!
//! inotify's `IN_CLOSE_WRITE` reaches us as `Access(Close(Write))` and `IN_MOVED_TO`
//! as `Modify(Name(To))`; `IN_MODIFY` (a write or a truncation) as `Modify(Data)`.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::burst::{Burst, Change, Decision, Dependents};
use super::reload::{LoadFn, Reloader, Request, Settings};
use super::watch_plan::{Target, WatchPlan};

/// First wait before an unsaved change is tried again.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two tries.
const RETRY_MAX: Duration = Duration::from_secs(30);

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

/// Starts watching the reloader's zones on a thread of its own, which then owns the
/// reloader.
pub fn watch(reloader: Reloader) -> Result<WatchHandle, WatchError> {
    let zones_dir = reloader.zones_dir().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let events = tx.clone();
    let watcher = notify::recommended_watcher(move |event| {
        let _ = events.send(Message::Event(event));
    })
    .map_err(|source| WatchError {
        path: zones_dir.clone(),
        source,
    })?;
    let mut state = State {
        reloader,
        watcher,
        watched: BTreeSet::new(),
        plan: WatchPlan::default(),
        burst: Burst::default(),
        retry: None,
    };
    state.replan();
    if !state.watched.contains(state.plan.zones_dir()) {
        return Err(WatchError {
            source: notify::Error::path_not_found().add_path(zones_dir.clone()),
            path: zones_dir,
        });
    }
    let thread = thread::Builder::new()
        .name("zone-watcher".into())
        .spawn(move || state.run(&rx))
        .map_err(|e| WatchError {
            path: zones_dir.clone(),
            source: notify::Error::io(e),
        })?;
    Ok(WatchHandle {
        tx,
        thread: Some(thread),
    })
}

/// The watcher thread's state.
struct State {
    reloader: Reloader,
    watcher: notify::RecommendedWatcher,
    /// Folders watched now.
    watched: BTreeSet<PathBuf>,
    plan: WatchPlan,
    burst: Burst,
    /// When unsaved changes are tried again, and the wait after that.
    retry: Option<(Instant, Duration)>,
}

impl State {
    fn run(mut self, rx: &mpsc::Receiver<Message>) {
        // Files changed between the caller's first load and the watch starting (in
        // `watch`) are found by their fingerprints.
        self.reload(Request {
            fingerprints: true,
            ..Request::default()
        });
        self.replan();
        self.schedule_retry(false);
        loop {
            let now = Instant::now();
            let mut deadline = match self.burst.decide(now) {
                Decision::Reload => {
                    let (request, relink) = self.burst.take();
                    if relink {
                        tracing::info!(
                            "a link or folder on the way to the zones changed: watching anew"
                        );
                    }
                    self.reload(request);
                    if self.replan() {
                        // Folders watched only now (a swap, a new include): what
                        // changed there before the watch began is found by fingerprint.
                        self.reload(Request {
                            fingerprints: true,
                            busy: self.burst.busy(),
                            ..Request::default()
                        });
                        self.replan();
                    }
                    self.schedule_retry(true);
                    continue;
                }
                Decision::WaitUntil(until) => Some(until),
                Decision::Idle => None,
            };
            if let Some((at, _)) = self.retry {
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
            let message = match deadline {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(now)),
            };
            match message {
                Ok(Message::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Ok(message) => {
                    if !self.handle(message) {
                        return;
                    }
                    // Whatever is queued already belongs to the same burst.
                    while let Ok(message) = rx.try_recv() {
                        if !self.handle(message) {
                            return;
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if let Some((at, _)) = self.retry
                        && at <= now
                    {
                        let unsaved = self.reloader.unsaved().clone();
                        self.burst.retry(&unsaved, now);
                    }
                }
            }
        }
    }

    /// Feeds one message to the burst; false on Stop.
    fn handle(&mut self, message: Message) -> bool {
        let now = Instant::now();
        match message {
            Message::Stop => return false,
            Message::ReloadAll => self.burst.reload_all(now),
            Message::Reconfigure(next) => {
                let (settings, load) = *next;
                self.reloader.set_settings(settings);
                self.reloader.set_loader(load);
                self.burst.reload_all(now);
            }
            Message::Event(Err(e)) => {
                tracing::warn!("zone watcher: {e}; reloading every zone");
                self.burst.overflow(now);
            }
            Message::Event(Ok(event)) => {
                if event.need_rescan() {
                    tracing::warn!("zone watcher: events were lost; reloading every zone");
                    self.burst.overflow(now);
                }
                let Some(change) = change_of(&event.kind) else {
                    return true;
                };
                for path in &event.paths {
                    let dependents = match self.plan.classify(path) {
                        Target::Ignored => continue,
                        Target::GitLock => {
                            // In the events' order: created, then removed or renamed
                            // to `index` (what the file system shows now may be later).
                            let held = match change {
                                Change::Removed => false,
                                Change::Touched => path.exists(),
                                Change::Written | Change::Closed | Change::Replaced => true,
                            };
                            self.burst.git_lock(held, now);
                            continue;
                        }
                        Target::Known(entry) => Dependents {
                            zones: entry.zones.clone(),
                            link: entry.link,
                            all: entry.all,
                        },
                        Target::NewZone(apex) => Dependents {
                            zones: [apex].into(),
                            ..Dependents::default()
                        },
                    };
                    let change = match (change, &event.kind) {
                        (Change::Written, EventKind::Create(_)) => created(path),
                        _ => change,
                    };
                    self.burst.path(path, &dependents, change, now);
                }
            }
        }
        true
    }

    /// Runs one reload. A bug in a loader must not end reloading for good: a panic is
    /// logged and counted, and the zones served stay as they were (the swap comes last).
    fn reload(&mut self, request: Request) {
        let reloader = &mut self.reloader;
        let reloaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reloader.reload_request(&request)
        }));
        if reloaded.is_err() {
            tracing::error!("zone reload panicked (a bug); the zones served are unchanged");
            self.reloader.stats().count_error(None);
        }
        for path in self.burst.being_written() {
            tracing::info!(
                file = %path.display(),
                "still being written: loaded once closed"
            );
        }
    }

    /// Makes the plan again from what the zones read, and moves the watches to it;
    /// true when a folder is watched that was not before.
    fn replan(&mut self) -> bool {
        let mut added = false;
        self.plan = WatchPlan::new(self.reloader.zones_dir(), &self.reloader.watched());
        let wanted = self.plan.dirs();
        let stale: Vec<PathBuf> = self.watched.difference(wanted).cloned().collect();
        for dir in stale {
            let _ = self.watcher.unwatch(&dir);
            self.watched.remove(&dir);
        }
        let new: Vec<PathBuf> = wanted.difference(&self.watched).cloned().collect();
        for dir in new {
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    // git's own folder holds no zone file.
                    added |= self.plan.git_lock().and_then(Path::parent) != Some(dir.as_path());
                    self.watched.insert(dir);
                }
                Err(e) => tracing::debug!("cannot watch {} (yet): {e}", dir.display()),
            }
        }
        let locked = self.plan.git_lock().is_some_and(Path::exists);
        self.burst.git_lock(locked, Instant::now());
        added
    }

    /// Arms or clears the retry timer of unsaved changes; `after_reload`: a reload just
    /// ran (a retry that failed again waits twice as long).
    fn schedule_retry(&mut self, after_reload: bool) {
        if self.reloader.unsaved().is_empty() {
            self.retry = None;
            return;
        }
        let now = Instant::now();
        self.retry = Some(match self.retry {
            None => (now + RETRY_FIRST, RETRY_FIRST),
            Some((at, wait)) if after_reload && at <= now => {
                let wait = (wait * 2).min(RETRY_MAX);
                (now + wait, wait)
            }
            Some(pending) => pending,
        });
    }
}

/// The change an event kind means, if any.
fn change_of(kind: &EventKind) -> Option<Change> {
    Some(match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Change::Closed,
        EventKind::Access(_) => return None,
        EventKind::Create(CreateKind::Folder) => Change::Replaced,
        // Refined by `created`: an empty new file is being written.
        EventKind::Create(_) => Change::Written,
        EventKind::Modify(ModifyKind::Data(_)) => Change::Written,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Change::Removed,
        // `notify` follows a matched From and To with a Both naming the two paths:
        // already told.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return None,
        EventKind::Modify(ModifyKind::Name(_)) => Change::Replaced,
        EventKind::Modify(_) => Change::Touched,
        EventKind::Remove(_) => Change::Removed,
        EventKind::Any | EventKind::Other => return None,
    })
}

/// A created path: a regular file is about to be written (its close completes it);
/// anything else — a symbolic link, a folder, a FIFO or device (which the loader
/// refuses), a hard link to an existing file — is whole, with no writer to wait for.
fn created(path: &Path) -> Change {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() && meta.nlink() == 1 => Change::Written,
        Ok(_) => Change::Replaced,
        Err(_) => Change::Removed,
    }
}
