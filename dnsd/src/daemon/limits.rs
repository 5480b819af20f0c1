//! Open file descriptors (RLIMIT_NOFILE): the soft limit raised at start, a reserve
//! kept for the daemon's own work, and the TCP connection limit derived from what is
//! left.
//!
//! # Background
//!
//! Every TCP connection holds a descriptor. With the common soft limit of 1,024 and
//! `tcp.max-connections` at 1,000, a crowd of idle clients left nothing for the rest:
//! reloads failed with `Too many open files`, the metrics endpoint could not accept,
//! and the edit that was missed stayed unserved after the clients left. So:
//!
//! 1. At start, before anything is opened, the soft limit is raised to the hard one
//!    ([`raise`]), as NSD and Knot raise theirs at start. A hard limit of
//!    "unlimited" is capped at the kernel's `fs.nr_open`.
//! 2. Once every listener is bound and the zones folder watched, the descriptors open
//!    are counted ([`open_descriptors`]) and [`RESERVE`] more are kept for zone
//!    loading, the state folder, the metrics endpoint and refusing connections, and,
//!    when a listener recurses, one per resolution in flight (`resolver.max-in-flight`:
//!    each holds a socket to the server it asks).
//! 3. TCP connections get at most what is left ([`tcp_limit`]); when that is fewer
//!    than configured, the start says so, with the way to raise the limit.
//!
//! # Limitations
//!
//! The reserve is a fixed count: today every file is read whole and closed (zone
//! files, includes, images, journals), so loading holds a handful of descriptors at a
//! time. A source that keeps descriptors per zone would have to grow it.

use std::io;

use crate::config::{Config, TcpConfig};

/// Descriptors kept for the daemon's own work besides TCP connections: zone loading
/// (a zone file and its `$INCLUDE`s, the folders read), the state folder (serials,
/// journals, the folder's fsync), the metrics endpoint (at most
/// [`crate::front::metrics_http::CONNECTIONS_MAX`] scrapes at once), `dnsd ctl`'s
/// connections to the control socket, and accepting a connection beyond the limit in
/// order to close it. Generous: a few are enough today.
pub const RESERVE: u64 = 128;

/// Assumed open when `/proc/self/fd` cannot be read (no /proc in a chroot).
const IN_USE_UNKNOWN: u64 = 256;

//------------ OpenFiles -----------------------------------------------------

/// The process's open-files limits, as found and as left by [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit found at start.
    pub was: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (capped at `fs.nr_open`), logs
/// what it did, and returns the limits in force. Call before anything is opened. A
/// limit that cannot be raised is logged, and serving goes on with it.
pub fn raise() -> OpenFiles {
    match raise_soft_limit() {
        Ok(files) if files.soft > files.was => {
            tracing::info!(
                from = files.was,
                to = files.soft,
                "open-files limit (RLIMIT_NOFILE) raised to the hard limit"
            );
            files
        }
        Ok(files) => {
            tracing::debug!(soft = files.soft, hard = files.hard, "open-files limit");
            files
        }
        Err((files, e)) => {
            tracing::warn!(
                soft = files.soft,
                hard = files.hard,
                error = %e,
                "cannot raise the open-files limit (RLIMIT_NOFILE)"
            );
            files
        }
    }
}

/// Raises the soft limit to the hard one; on failure, the limits as found (unlimited
/// when even they could not be read: nothing is lowered for a guess) and the error.
fn raise_soft_limit() -> Result<OpenFiles, (OpenFiles, io::Error)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let unknown = OpenFiles {
            was: u64::MAX,
            soft: u64::MAX,
            hard: u64::MAX,
        };
        return Err((unknown, io::Error::last_os_error()));
    }
    let (soft, hard) = (limit.rlim_cur, limit.rlim_max);
    let found = OpenFiles {
        was: soft,
        soft,
        hard,
    };
    let target = raised_soft_limit(soft, hard, nr_open());
    if target <= soft {
        return Ok(found);
    }
    limit.rlim_cur = target;
    // SAFETY: setrlimit reads one rlimit; raising the soft limit up to the hard one
    // needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err((found, io::Error::last_os_error()));
    }
    Ok(OpenFiles {
        soft: target,
        ..found
    })
}

/// The soft limit to ask for: the hard limit, but never above `nr_open` (the kernel
/// refuses more, and "unlimited" is not a number of descriptors), never below `soft`.
fn raised_soft_limit(soft: u64, hard: u64, nr_open: u64) -> u64 {
    hard.min(nr_open).max(soft)
}

/// The kernel's ceiling on open files per process (`fs.nr_open`, 1,048,576 by
/// default).
fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// Descriptors this process has open now (the entries of `/proc/self/fd`, less the
/// one that reads it), or None when that cannot be read.
pub fn open_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let count = entries.filter(Result::is_ok).count() as u64;
    Some(count.saturating_sub(1))
}

/// The TCP connections allowed: the configured limit, or fewer when the soft limit
/// `soft` less the descriptors `in_use` and the [`RESERVE`] leaves fewer; at least one,
/// so that TCP still answers (and the start logs how little that is).
pub fn tcp_limit(configured: usize, soft: u64, in_use: u64) -> usize {
    let left = soft.saturating_sub(in_use.saturating_add(RESERVE)).max(1);
    configured.min(usize::try_from(left).unwrap_or(usize::MAX))
}

/// `config`'s TCP limits with the connection limit fitted to the open-files limit
/// `files`, counted now: call once every listener is bound. Logs when the limit is
/// lowered.
pub fn fit_tcp(config: &Config, files: OpenFiles) -> TcpConfig {
    let in_use = open_descriptors().unwrap_or(IN_USE_UNKNOWN);
    let resolver = if config.listeners.iter().any(|l| l.role.recursion()) {
        config.resolver.max_in_flight as u64
    } else {
        0
    };
    fit(config.tcp, files, in_use, resolver)
}

/// `tcp` fitted to `files` with `in_use` descriptors open and `resolver` more that
/// the resolver may open.
fn fit(tcp: TcpConfig, files: OpenFiles, in_use: u64, resolver: u64) -> TcpConfig {
    let allowed = tcp_limit(
        tcp.max_connections,
        files.soft,
        in_use.saturating_add(resolver),
    );
    if allowed < tcp.max_connections {
        tracing::warn!(
            configured = tcp.max_connections,
            allowed,
            open_files_limit = files.soft,
            hard_limit = files.hard,
            in_use,
            reserve = RESERVE,
            resolver,
            "tcp.max-connections lowered to fit the open-files limit (RLIMIT_NOFILE); \
             raise the hard limit (LimitNOFILE= in the systemd unit, `ulimit -Hn` or \
             limits.conf) to allow {} connections",
            tcp.max_connections
        );
    }
    TcpConfig {
        max_connections: allowed,
        ..tcp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_to_the_hard_one_within_nr_open() {
        assert_eq!(raised_soft_limit(1024, 524_288, 1 << 20), 524_288);
        // RLIM_INFINITY as the hard limit: nr_open.
        assert_eq!(raised_soft_limit(1024, u64::MAX, 1 << 20), 1 << 20);
        assert_eq!(raised_soft_limit(1024, 1024, 1 << 20), 1024);
        // Never lowered.
        assert_eq!(raised_soft_limit(4096, 2048, 1 << 20), 4096);
    }

    #[test]
    fn tcp_gets_what_the_reserve_leaves_and_never_more_than_configured() {
        // 1,024 descriptors, 30 open: 866 left for TCP.
        assert_eq!(tcp_limit(1000, 1024, 30), 1024 - 30 - RESERVE as usize);
        // Plenty: the configured limit.
        assert_eq!(tcp_limit(1000, 524_288, 30), 1000);
        assert_eq!(tcp_limit(1000, 1000 + 30 + RESERVE, 30), 1000);
        assert_eq!(tcp_limit(1000, 999 + 30 + RESERVE, 30), 999);
        // Nothing left: one connection, not none.
        assert_eq!(tcp_limit(1000, 64, 30), 1);
        assert_eq!(tcp_limit(1000, 0, u64::MAX), 1);
    }

    #[test]
    fn descriptors_open_are_counted() {
        // Other tests of this binary open and close files on other threads: only a
        // floor is certain (the file held here).
        let file = tempfile::tempfile().expect("a temporary file");
        let open = open_descriptors().expect("/proc/self/fd");
        drop(file);
        assert!(open >= 1, "{open}");
    }

    #[test]
    fn fitting_logs_and_lowers_only_when_short() {
        let tcp = TcpConfig {
            idle_timeout: std::time::Duration::from_secs(10),
            max_connections: 1000,
        };
        let plenty = OpenFiles {
            was: 1024,
            soft: 1 << 20,
            hard: 1 << 20,
        };
        assert_eq!(fit(tcp, plenty, 30, 0), tcp);
        let short = OpenFiles {
            was: 1024,
            soft: 1024,
            hard: 1024,
        };
        let fitted = fit(tcp, short, 30, 0);
        assert_eq!(fitted.max_connections, 1024 - 30 - RESERVE as usize);
        assert_eq!(fitted.idle_timeout, tcp.idle_timeout);
        // A resolver with 500 resolutions in flight takes its share.
        let fitted = fit(tcp, short, 30, 500);
        assert_eq!(fitted.max_connections, 1024 - 30 - 500 - RESERVE as usize);
    }
}
