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
use std::time::{Duration, Instant};

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

    /// Unix time the zone expires at, if it has been loaded.
    pub fn expires_at(&self) -> Option<u64> {
        Some(self.last_success? + self.timers?.expire)
    }

    /// Whether the zone is expired at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }
}

/// Checks that NOTIFY may trigger at once, one after the other.
const NOTIFY_BURST: u32 = 10;
/// Time for one more such check to come back: at most 10 a second go on.
const NOTIFY_REFILL: Duration = Duration::from_millis(100);

/// How soon a NOTIFY may trigger a check (RFC 1996 §4.7 says at once): a token
/// bucket whose tokens a check that found a new version gives back
/// ([`NotifyBudget::refund`]). So the edits a primary makes one after the other are
/// followed one by one however fast they come, while a flood of NOTIFY that announce
/// nothing new (spoofed from a primary's address, or a primary gone wrong) makes at
/// most ten SOA queries a second (BIND's `serial-query-rate` is 20 a second for all
/// zones).
#[derive(Clone, Debug)]
pub struct NotifyBudget {
    /// Checks that may go at once.
    tokens: u32,
    /// When the next token is earned (while `tokens` is below the burst).
    refill_at: Option<Instant>,
}

impl Default for NotifyBudget {
    fn default() -> Self {
        Self {
            tokens: NOTIFY_BURST,
            refill_at: None,
        }
    }
}

impl NotifyBudget {
    /// The wait before the check a NOTIFY at `now` asks for (zero: at once), which
    /// takes its token.
    pub fn take(&mut self, now: Instant) -> Duration {
        while let Some(at) = self.refill_at
            && at <= now
        {
            self.tokens += 1;
            self.refill_at = (self.tokens < NOTIFY_BURST).then(|| at + NOTIFY_REFILL);
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            if self.refill_at.is_none() {
                self.refill_at = Some(now + NOTIFY_REFILL);
            }
            return Duration::ZERO;
        }
        // Empty: the check goes when the next token comes, and spends it.
        let at = self.refill_at.unwrap_or(now + NOTIFY_REFILL);
        self.refill_at = Some(at + NOTIFY_REFILL);
        at.saturating_duration_since(now)
    }

    /// Gives back the token of a check that found a newer serial: such checks are
    /// what NOTIFY is for.
    pub fn refund(&mut self) {
        if self.tokens < NOTIFY_BURST {
            self.tokens += 1;
            if self.tokens == NOTIFY_BURST {
                self.refill_at = None;
            }
        }
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

    #[test]
    fn notify_checks_go_at_once_until_a_flood_is_paced() {
        let mut b = NotifyBudget::default();
        let t0 = Instant::now();
        for i in 0..NOTIFY_BURST {
            assert_eq!(b.take(t0), Duration::ZERO, "check {i} of a burst");
        }
        assert_eq!(b.take(t0), NOTIFY_REFILL, "the 11th waits for a token");
        assert_eq!(
            b.take(t0),
            2 * NOTIFY_REFILL,
            "and the 12th for the one after"
        );
        // A quiet second refills the bucket.
        let later = t0 + Duration::from_secs(2);
        for _ in 0..NOTIFY_BURST {
            assert_eq!(b.take(later), Duration::ZERO);
        }
        assert!(b.take(later) > Duration::ZERO);
        // Edits one after the other, each checked before the next: never a wait.
        let mut b = NotifyBudget::default();
        for i in 0..1000u32 {
            assert_eq!(b.take(t0 + NOTIFY_REFILL * i), Duration::ZERO);
        }
        // Edits faster than the refill, each check finding the new serial: never a
        // wait either.
        let mut b = NotifyBudget::default();
        for _ in 0..1000 {
            assert_eq!(b.take(t0), Duration::ZERO);
            b.refund();
        }
    }

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
