//! A secondary zone's refresh schedule (RFC 1035 §3.3.13, RFC 1996 §4), pure: time
//! comes in as Unix seconds, the next check and the expiry go out.
//!
//! ```text
//!  start ──► check now ──ok──► next = now + REFRESH, expires = now + EXPIRE
//!               ▲  │
//!   NOTIFY ─────┘  └─failed─► next = now + RETRY (doubling up to REFRESH while
//!                             failures go on); past `expires`: SERVFAIL until a
//!                             check succeeds again
//! ```
//!
//! The SOA's timers are bounded (`TimerBounds`): a zone whose SOA says refresh 0
//! cannot make us hammer its primary, one that says a year cannot starve it, and an
//! expire shorter than the bound is raised to it. Serial comparisons follow RFC 1982
//! (`zone::serial::serial_gt`).

use std::path::{Path, PathBuf};

use super::access::TimerBounds;
use crate::wire::name::Name;

/// How long to wait before the first check of a zone never loaded, and between
/// checks while it has no SOA to say.
const UNLOADED_RETRY: u64 = 10;

/// A zone's SOA timers, in seconds, bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaTimers {
    /// REFRESH.
    pub refresh: u64,
    /// RETRY.
    pub retry: u64,
    /// EXPIRE.
    pub expire: u64,
}

impl SoaTimers {
    /// The timers of SOA RDATA, within `bounds`.
    pub fn of(rdata: &[u8], bounds: &TimerBounds) -> Option<SoaTimers> {
        let f = crate::zone::snapshot::soa_fields(rdata)?;
        let (min, max) = (bounds.min_refresh.as_secs(), bounds.max_refresh.as_secs());
        let refresh = u64::from(f[1]).clamp(min, max);
        let retry = u64::from(f[2]).clamp(min, max).min(refresh);
        let expire = u64::from(f[3])
            .max(bounds.min_expire.as_secs())
            .max(refresh);
        Some(SoaTimers {
            refresh,
            retry,
            expire,
        })
    }
}

/// When a secondary zone is checked next, and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Unix time of the last successful check.
    pub last_success: Option<u64>,
    /// Unix time of the last check.
    pub last_attempt: Option<u64>,
    /// Unix time of the next check.
    pub next: u64,
    /// Checks failed in a row.
    pub failures: u32,
    /// The zone's timers, as of its SOA.
    pub timers: Option<SoaTimers>,
}

impl Schedule {
    /// The schedule at start: check at once (a restart learns what changed while it
    /// was down), expiry counted from the last success before it (`last_success`).
    pub fn new(last_success: Option<u64>, timers: Option<SoaTimers>, now: u64) -> Self {
        Self {
            last_success,
            last_attempt: None,
            next: now,
            failures: 0,
            timers,
        }
    }

    /// A check succeeded at `now` (the zone is current, or a transfer made it so);
    /// `timers` are the SOA's now.
    pub fn succeeded(&mut self, timers: Option<SoaTimers>, now: u64) {
        if timers.is_some() {
            self.timers = timers;
        }
        self.last_success = Some(now);
        self.last_attempt = Some(now);
        self.failures = 0;
        self.next = now + self.timers.map_or(UNLOADED_RETRY, |t| t.refresh);
    }

    /// Every primary failed at `now`: retry, backing off up to the refresh interval.
    pub fn failed(&mut self, now: u64) {
        self.last_attempt = Some(now);
        self.failures = self.failures.saturating_add(1);
        let (retry, ceiling) = match self.timers {
            Some(t) => (t.retry, t.refresh),
            None => (UNLOADED_RETRY, 300),
        };
        let backoff = retry.saturating_mul(1u64 << self.failures.saturating_sub(1).min(10));
        self.next = now + backoff.min(ceiling.max(retry));
    }

    /// A NOTIFY came at `now`: check at once (RFC 1996 §4.7), but not more than once
    /// a second.
    pub fn notified(&mut self, now: u64) {
        let earliest = self.last_attempt.map_or(now, |t| t + 1);
        self.next = self.next.min(earliest.max(now));
    }

    /// Unix time the zone expires at, if it has been loaded.
    pub fn expires_at(&self) -> Option<u64> {
        Some(self.last_success? + self.timers?.expire)
    }

    /// Whether the zone is expired at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }
}

/// The file that keeps a secondary zone's last success across restarts:
/// `NAME.secondary` beside its journal.
pub fn state_path(state_dir: &Path, apex: &Name) -> PathBuf {
    crate::sources::state::journal_path(state_dir, apex).with_extension("secondary")
}

/// Reads the last success kept for a zone.
pub fn read_last_success(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("last-success "))
        .and_then(|v| v.trim().parse().ok())
}

/// Keeps `last_success` for a zone (written whole, then renamed).
pub fn write_last_success(path: &Path, last_success: u64) -> std::io::Result<()> {
    crate::xfr::journal::write_atomically(path, format!("last-success {last_success}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soa(refresh: u32, retry: u32, expire: u32) -> Vec<u8> {
        let mut rdata = b"\x02ns\x00\x02hm\x00".to_vec();
        for v in [7, refresh, retry, expire, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        rdata
    }

    #[test]
    fn timers_are_bounded_so_a_bad_soa_cannot_hammer_or_starve() {
        let bounds = TimerBounds {
            min_refresh: Duration::from_secs(5),
            max_refresh: Duration::from_secs(86_400),
            min_expire: Duration::from_secs(3_600),
        };
        assert_eq!(
            SoaTimers::of(&soa(3600, 600, 604800), &bounds),
            Some(SoaTimers {
                refresh: 3600,
                retry: 600,
                expire: 604800
            })
        );
        assert_eq!(
            SoaTimers::of(&soa(0, 0, 1), &bounds),
            Some(SoaTimers {
                refresh: 5,
                retry: 5,
                expire: 3600
            })
        );
        let huge = SoaTimers::of(&soa(u32::MAX, u32::MAX, 10), &bounds).unwrap();
        assert_eq!((huge.refresh, huge.retry), (86_400, 86_400));
        assert!(huge.expire >= huge.refresh);
        assert_eq!(SoaTimers::of(b"\x00", &bounds), None);
    }

    #[test]
    fn success_failure_notify_and_expiry() {
        let timers = Some(SoaTimers {
            refresh: 100,
            retry: 10,
            expire: 1000,
        });
        let mut s = Schedule::new(None, timers, 5000);
        assert_eq!(s.next, 5000, "checked at once at start");
        assert!(!s.is_expired(u64::MAX), "never loaded: never expires");
        s.succeeded(None, 5000);
        assert_eq!((s.next, s.expires_at()), (5100, Some(6000)));
        s.failed(5100);
        assert_eq!(s.next, 5110);
        s.failed(5110);
        assert_eq!(s.next, 5130, "backoff doubles");
        for t in 0..10 {
            s.failed(5200 + t);
        }
        assert_eq!(s.next, 5209 + 100, "up to the refresh interval");
        s.notified(5210);
        assert_eq!(s.next, 5210, "a NOTIFY checks at once");
        s.notified(5209);
        assert!(!s.is_expired(5999) && s.is_expired(6000));
        s.succeeded(None, 6500);
        assert!(!s.is_expired(6500));
        let restarted = Schedule::new(Some(5000), timers, 9000);
        assert!(
            restarted.is_expired(9000),
            "expiry counts from before the restart"
        );
    }

    #[test]
    fn the_last_success_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path(), &Name::from_text("example.net.", None).unwrap());
        assert_eq!(read_last_success(&path), None);
        write_last_success(&path, 1_700_000_000).unwrap();
        assert_eq!(read_last_success(&path), Some(1_700_000_000));
    }
}
