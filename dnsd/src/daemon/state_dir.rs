//! The state folder at start: created if missing, proven writable, and locked, so that
//! exactly one dnsd keeps its journals, images and serials there.
//!
//! # What an operator gets
//! - A folder dnsd may not write (a service user and the default `.dnsd-state`
//!   relative to a working directory of `/`, a read-only file system) stops the start
//!   with exit status 1 and one line naming the folder, the reason and the fix. At
//!   start nothing is served yet: serving zones whose changes cannot be made durable
//!   would hide the mistake until a restart lowers a serial (secondaries would then
//!   ignore the zone) — NSD and Knot also refuse to start without their databases.
//! - Once serving, a write that fails (a full disk) never stops dnsd: the zone keeps
//!   its last good version, the error is logged and counted, and the change is retried
//!   on a timer until space returns (`sources::watcher`).
//! - A second dnsd on the same folder would overwrite the first's journals (serials
//!   going backwards): the folder's `lock` file is held with `flock(2)` for the
//!   daemon's lifetime and holds its PID, so the second one stops and names the first.
//!   The kernel drops the lock when the holder exits, even after `kill -9`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The state folder, locked by this process until the guard drops.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why the state folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The folder cannot be created, or files in it cannot be.
    #[error(
        "cannot use the state folder {}: {source}; dnsd keeps its serials and journals \
         there: set `state-dir` to a folder {user} may write (under systemd: \
         StateDirectory=dnsd and state-dir = \"/var/lib/dnsd\"){}",
        path.display(), relative_hint(relative_to.as_deref()), user = current_user()
    )]
    NotWritable {
        /// The folder (absolute).
        path: PathBuf,
        /// Why.
        source: io::Error,
        /// The working directory a relative `state-dir` was taken from.
        relative_to: Option<PathBuf>,
    },
    /// Another dnsd holds the lock.
    #[error(
        "the state folder {} is in use by another dnsd{}: stop it, or give this one \
         another `state-dir`",
        path.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The folder (absolute).
        path: PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        pid: Option<u32>,
    },
}

/// Creates `state_dir` if needed, checks that files can be created and written in it,
/// and locks it for this process.
pub fn lock(state_dir: &Path) -> Result<StateLock, StateError> {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let relative_to = state_dir
        .is_relative()
        .then(|| std::env::current_dir().ok())
        .flatten();
    let not_writable = |source| StateError::NotWritable {
        path: dir.clone(),
        source,
        relative_to: relative_to.clone(),
    };
    std::fs::create_dir_all(&dir).map_err(not_writable)?;
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(not_writable)?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StateError::Locked {
                path: dir,
                pid: text.trim().parse().ok(),
            });
        }
        return Err(not_writable(error));
    }
    probe(&dir).map_err(not_writable)?;
    let pid = format!("{}\n", std::process::id());
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()));
    if let Err(e) = written {
        if is_full(&e) {
            // A full disk is not a mistake of the configuration: serve, and let the
            // writes that fail be retried when space returns.
            tracing::error!(
                "{}: cannot write the PID: {e}; serving, and retrying what cannot be saved",
                path.display()
            );
        } else {
            return Err(not_writable(e));
        }
    }
    Ok(StateLock { _file: file, path })
}

/// Creates, writes and removes a file in `dir`: the journals are new files.
fn probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(format!(".probe{}", std::process::id()));
    let result = File::create(&path).and_then(|mut f| f.write_all(b"x"));
    let _ = std::fs::remove_file(&path);
    match result {
        Err(e) if is_full(&e) => Ok(()),
        other => other,
    }
}

/// Whether `e` says the file system is full (or the user's quota spent).
pub fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// `uid=N` of this process, for the message.
fn current_user() -> String {
    // SAFETY: getuid cannot fail and takes no argument.
    format!("the user (uid {})", unsafe { libc::getuid() })
}

/// A note when the configured folder was relative (to the working directory).
fn relative_hint(cwd: Option<&Path>) -> String {
    cwd.map(|cwd| {
        format!(
            "; a relative `state-dir` (the default is \".dnsd-state\") is relative to the \
             working directory, here {}",
            cwd.display()
        )
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = lock(&state).unwrap();
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        // flock locks belong to the open file description: a second open in the same
        // process conflicts, as another process's would.
        match lock(&state) {
            Err(StateError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(first);
        lock(&state).unwrap();
    }

    #[test]
    fn a_folder_that_is_a_file_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::write(&state, "").unwrap();
        let e = lock(&state).unwrap_err();
        assert!(matches!(e, StateError::NotWritable { .. }), "{e:?}");
        assert!(e.to_string().contains("set `state-dir`"), "{e}");
    }
}
