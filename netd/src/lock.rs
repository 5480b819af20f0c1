//! One netd at a time changes the host: an advisory lock (flock) on
//! `<state-dir>/lock`, which names its holder (`<pid> <command>`). `netd run` holds
//! it for its whole life; `apply` and `down` hold it while they work. The kernel
//! releases it when the holder dies, however it dies, so `netd status` also uses it
//! to tell a running daemon from a dead one.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its command: `run`, `apply` or `down`.
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "netd {} (pid {})", self.command, self.pid)
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// `netd run` holds it: changes go through the running daemon.
    Daemon {
        /// The daemon.
        holder: Holder,
        /// The state folder.
        dir: PathBuf,
    },
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Daemon { holder, dir } => write!(
                f,
                "{holder} manages this host from {}: edit the configuration file and it \
                 applies it (at once on SIGHUP); stop it first to run this command",
                dir.display()
            ),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("lock")
}

fn open(dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let p = path(dir);
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

/// flock(2) on `file`; `Ok(false)` when another holds it and `wait` is false.
fn flock(file: &File, op: i32, wait: bool) -> io::Result<bool> {
    let op = if wait { op } else { op | libc::LOCK_NB };
    loop {
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse().ok()?;
    let command = words.next()?.to_string();
    Some(Holder { pid, command })
}

impl StateLock {
    /// Takes the lock for `command`. Held by `netd run`: refused (the daemon owns
    /// the host); held by a one-shot `apply` or `down`: waits for it to finish.
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, LockError> {
        let mut file = open(dir).map_err(LockError::Io)?;
        if !flock(&file, libc::LOCK_EX, false).map_err(LockError::Io)? {
            match read_holder(&mut file) {
                Some(holder) if holder.command == "run" => {
                    return Err(LockError::Daemon {
                        holder,
                        dir: dir.to_path_buf(),
                    });
                }
                _ => {
                    flock(&file, libc::LOCK_EX, true).map_err(LockError::Io)?;
                }
            }
        }
        let mine = format!("{} {command}\n", std::process::id());
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(mine.as_bytes()));
        written.map_err(LockError::Io)?;
        Ok(Self { _file: file })
    }

    /// Who holds the lock now, if anyone (without taking it).
    pub fn holder(dir: &Path) -> io::Result<Option<Holder>> {
        let p = path(dir);
        let mut file = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        };
        if flock(&file, libc::LOCK_SH, false)? {
            return Ok(None);
        }
        Ok(read_holder(&mut file).or(Some(Holder {
            pid: 0,
            command: "?".into(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_refuses_others_and_is_seen_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StateLock::holder(dir.path()).unwrap(), None);
        let run = StateLock::acquire(dir.path(), "run").unwrap();
        let holder = StateLock::holder(dir.path()).unwrap().unwrap();
        assert_eq!(holder.command, "run");
        assert_eq!(holder.pid, std::process::id());
        // flock is per open file: a second open in this process conflicts too.
        let e = StateLock::acquire(dir.path(), "apply").unwrap_err();
        assert!(e.to_string().contains("netd run (pid"), "{e}");
        drop(run);
        assert_eq!(StateLock::holder(dir.path()).unwrap(), None);
        let _apply = StateLock::acquire(dir.path(), "apply").unwrap();
    }

    #[test]
    fn a_one_shot_holder_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), "apply").unwrap();
        let d = dir.path().to_path_buf();
        let second = std::thread::spawn(move || StateLock::acquire(&d, "apply").is_ok());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!second.is_finished());
        drop(first);
        assert!(second.join().unwrap());
    }
}
