//! Names of what the zone managers keep in the state folder, and the `serials` file:
//!
//! - `NAME.journal`: the zone's journal of diffs (`xfr::journal`);
//! - `NAME.image`: the zone's content (`manager::image`);
//! - `serials`: one line per zone, `APEX SERIAL FILE-SERIAL DIGEST` (the first
//!   release's format; digest 0), the highest serial each zone ever served. It is a
//!   third record beside the journal's last entry and the image, rewritten in the
//!   background after changes ([`SerialsKeeper`]): a zone never serves below the
//!   highest of the three, so losing or damaging any one of them (a journal cut short,
//!   an image that does not read back, this file deleted) never lowers a serial.
//! - `lock`: held by the running dnsd (`daemon::state_dir`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::wire::name::Name;
use crate::xfr::journal;
use crate::zone::serial::{Served, serial_gt};

/// The last served state of every zone, as in the `serials` file.
#[derive(Debug, Default)]
pub struct ServedSerials {
    path: PathBuf,
    zones: BTreeMap<Name, Served>,
}

impl ServedSerials {
    /// Reads `STATE/serials`; a missing file is an empty one. Lines that do not parse
    /// are skipped and reported as `file:line: what`.
    pub fn read(state_dir: &Path) -> (Self, Vec<String>) {
        let path = state_dir.join("serials");
        let mut problems = Vec::new();
        let mut zones = BTreeMap::new();
        match fs::read_to_string(&path) {
            Ok(text) => {
                for (i, line) in text.lines().enumerate() {
                    let parsed = line.split_once(' ').and_then(|(apex, rest)| {
                        let apex = Name::from_text(apex, None).ok()?;
                        let mut fields = rest.split_ascii_whitespace();
                        let served = Served {
                            serial: fields.next()?.parse().ok()?,
                            file_serial: fields.next()?.parse().ok()?,
                        };
                        Some((apex, served))
                    });
                    match parsed {
                        Some((apex, served)) => {
                            zones.insert(apex.to_lowercase(), served);
                        }
                        None if line.trim().is_empty() => {}
                        None => problems.push(format!(
                            "{}:{}: not 'ZONE SERIAL FILE-SERIAL DIGEST'; ignored",
                            path.display(),
                            i + 1
                        )),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
        (Self { path, zones }, problems)
    }

    /// The last served state of `apex` (lowercased).
    pub fn get(&self, apex: &Name) -> Option<Served> {
        self.zones.get(apex).copied()
    }

    /// Records the state of `apex` (lowercased), in memory.
    pub fn set(&mut self, apex: &Name, served: Served) {
        self.zones.insert(apex.clone(), served);
    }

    /// Writes the file atomically (the first release's format, digest 0).
    pub fn write(&self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut text = String::new();
        for (apex, served) in &self.zones {
            text.push_str(&format!(
                "{apex} {} {} 0\n",
                served.serial, served.file_serial
            ));
        }
        journal::write_atomically(&self.path, text.as_bytes())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

//------------ SerialsKeeper -------------------------------------------------------------

/// The `serials` file kept in step with the serials served: [`SerialsKeeper::record`]
/// notes a zone's new serial in memory and wakes a thread that rewrites the file
/// (atomically, durably); changes that arrive while it writes are folded into its next
/// write. A write that fails is retried every second and logged once per failure streak.
pub struct SerialsKeeper {
    shared: Arc<KeeperShared>,
    thread: Option<thread::JoinHandle<()>>,
}

struct KeeperShared {
    state: Mutex<KeeperState>,
    wake: Condvar,
}

struct KeeperState {
    serials: ServedSerials,
    /// Changes not yet written.
    dirty: bool,
    /// A write is under way.
    writing: bool,
    /// The last write failed.
    failed: bool,
    stop: bool,
}

impl SerialsKeeper {
    /// Keeps `serials` (as read at start) and starts its writer thread.
    pub fn new(serials: ServedSerials) -> Self {
        let shared = Arc::new(KeeperShared {
            state: Mutex::new(KeeperState {
                serials,
                dirty: false,
                writing: false,
                failed: false,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let thread = thread::Builder::new()
            .name("zone-serials".into())
            .spawn({
                let shared = shared.clone();
                move || write_loop(&shared)
            })
            .map_err(|e| tracing::error!("cannot start the serials writer: {e}"))
            .ok();
        Self { shared, thread }
    }

    /// The highest serial recorded for `apex` (lowercased).
    pub fn get(&self, apex: &Name) -> Option<Served> {
        self.shared.lock().serials.get(apex)
    }

    /// Records that `apex` (lowercased) serves `served`; a serial below the one
    /// recorded is not recorded (the file keeps the highest).
    pub fn record(&self, apex: &Name, served: Served) {
        let mut state = self.shared.lock();
        let known = state.serials.get(apex);
        if known.is_some_and(|k| k == served || serial_gt(k.serial, served.serial)) {
            return;
        }
        state.serials.set(apex, served);
        state.dirty = true;
        self.shared.wake.notify_all();
    }

    /// Waits (up to 10 s) until every recorded serial is written, or a write failed.
    pub fn flush(&self) {
        let state = self.shared.lock();
        let _ = self
            .shared
            .wake
            .wait_timeout_while(state, Duration::from_secs(10), |s| {
                (s.writing || (s.dirty && !s.failed)) && self.thread.is_some()
            });
    }
}

impl Drop for SerialsKeeper {
    fn drop(&mut self) {
        self.flush();
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl KeeperShared {
    fn lock(&self) -> MutexGuard<'_, KeeperState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Shortest time between two writes of the `serials` file.
const PACE: Duration = Duration::from_millis(200);

fn write_loop(shared: &KeeperShared) {
    let mut failing = false;
    let mut state = shared.lock();
    loop {
        state = shared
            .wake
            .wait_while(state, |s| !s.dirty && !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        if !state.dirty {
            return;
        }
        let snapshot = ServedSerials {
            path: state.serials.path.clone(),
            zones: state.serials.zones.clone(),
        };
        state.dirty = false;
        state.writing = true;
        drop(state);
        let result = snapshot.write();
        state = shared.lock();
        state.writing = false;
        state.failed = result.is_err();
        match result {
            Ok(()) => {
                if failing {
                    tracing::info!("{}: written again", snapshot.path().display());
                }
                failing = false;
                // At most one write per PACE: under thousands of commits a second the
                // file (a floor only: every serial is in the journal before it is
                // served) would otherwise be rewritten and fsynced without a pause.
                shared.wake.notify_all();
                state = shared
                    .wake
                    .wait_timeout_while(state, PACE, |s| !s.stop)
                    .map_or_else(|e| e.into_inner().0, |(s, _)| s);
            }
            Err(e) => {
                if !failing {
                    tracing::error!(
                        "{}: cannot write the zones' serials: {e}; retrying every second",
                        snapshot.path().display()
                    );
                }
                failing = true;
                state.dirty = true;
                if state.stop {
                    return;
                }
                state = shared
                    .wake
                    .wait_timeout(state, Duration::from_secs(1))
                    .map_or_else(|e| e.into_inner().0, |(s, _)| s);
            }
        }
        shared.wake.notify_all();
    }
}

/// The journal file of a zone: `NAME.journal`, NAME being the apex without its final
/// dot (`root` for the root zone) with any byte that does not belong in a file name
/// written `%XX`.
pub fn journal_path(state_dir: &Path, apex: &Name) -> PathBuf {
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
    state_dir.join(format!("{base}.journal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn serials_round_trip_and_bad_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, problems) = ServedSerials::read(dir.path());
        assert!(problems.is_empty());
        let served = Served {
            serial: 2026112201,
            file_serial: 1,
        };
        db.set(&n("a\\032b.example."), served);
        db.set(&Name::root(), served);
        db.write().unwrap();
        let (again, problems) = ServedSerials::read(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.get(&n("a\\032b.example.")), Some(served));
        assert_eq!(again.get(&Name::root()), Some(served));
        let mut text = fs::read_to_string(db.path()).unwrap();
        text.push_str("garbage\n");
        fs::write(db.path(), text).unwrap();
        let (_, problems) = ServedSerials::read(dir.path());
        assert!(problems[0].contains("serials:3:"), "{problems:?}");
    }

    #[test]
    fn the_keeper_writes_the_highest_serials() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = ServedSerials::read(dir.path());
        let keeper = SerialsKeeper::new(db);
        let served = |serial| Served {
            serial,
            file_serial: 1,
        };
        keeper.record(&n("a.example."), served(5));
        keeper.record(&n("a.example."), served(3));
        keeper.record(&n("b.example."), served(9));
        keeper.flush();
        let (again, problems) = ServedSerials::read(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.get(&n("a.example.")), Some(served(5)));
        assert_eq!(again.get(&n("b.example.")), Some(served(9)));
        drop(keeper);
    }

    #[test]
    fn journal_file_names_are_safe() {
        let dir = Path::new("/state");
        assert_eq!(
            journal_path(dir, &n("Example.ORG.")),
            dir.join("example.org.journal")
        );
        assert_eq!(journal_path(dir, &Name::root()), dir.join("root.journal"));
        assert_eq!(
            journal_path(dir, &n("a/b.example.")),
            dir.join("a%2Fb.example.journal")
        );
    }
}
