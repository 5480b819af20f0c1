//! The signing timer, one thread for the daemon: it wakes every [`period`] and, for
//! each signed zone, asks the parent for the DS a rollover waits for (RFC 7583 §3.3.1
//! "DS seen", `parent`; off the zone's writer) and commits an empty change from
//! [`SIGNER_SOURCE`](super::stage::SIGNER_SOURCE) when the zone is due (a signature to
//! refresh, a key step), so that a zone that never changes stays validly signed and
//! its rollovers move on.
//!
//! The period follows the shortest `ds-check-interval` of the signed zones, between
//! [`MIN_PERIOD`] and [`MAX_PERIOD`]: an operator who asks for a DS check every 5 s
//! gets one every 5 s, and the key steps of every zone are taken within a minute.

use std::sync::Arc;
use std::time::Duration;

use crate::manager::{Clock, Manager, ZoneHandle};

/// The timer never wakes more often than this (the floor of `ds-check-interval`).
pub const MIN_PERIOD: Duration = Duration::from_secs(super::policy::MIN_DS_CHECK_INTERVAL as u64);
/// Nor less often than this: key steps and refreshes are taken within it.
pub const MAX_PERIOD: Duration = Duration::from_secs(60);

/// The timer's period for signed zones whose `ds-check-interval`s (seconds) are
/// `intervals`: the shortest, within [`MIN_PERIOD`, `MAX_PERIOD`].
pub fn period(intervals: impl IntoIterator<Item = u32>) -> Duration {
    intervals
        .into_iter()
        .map(|s| Duration::from_secs(u64::from(s)))
        .min()
        .unwrap_or(MAX_PERIOD)
        .clamp(MIN_PERIOD, MAX_PERIOD)
}

/// Starts the timer thread (see the module's comment).
pub fn spawn(manager: Arc<Manager>, clock: Clock) {
    let spawned = std::thread::Builder::new()
        .name("dnssec-timer".into())
        .spawn(move || {
            loop {
                let zones = manager.zones();
                let intervals = zones
                    .iter()
                    .filter_map(|z| z.with_signer(|s, _| s.policy.ds_check_interval));
                std::thread::sleep(period(intervals));
                let now = clock();
                for zone in manager.zones() {
                    check_parent(&zone, now);
                    refresh_if_due(&zone, now);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("dnssec: cannot start the signing timer: {e}");
    }
}

/// Asks the parent for the DS that `zone`'s rollover (or withdrawal) waits for, when
/// one does and its `ds-check-interval` has passed, and notes what it finds; while
/// the parent does not publish it, each check says so in the log and the rollover
/// stays where it is.
fn check_parent(zone: &ZoneHandle, now: u64) {
    let Some(Some(check)) = zone.with_signer(|s, z| s.ds_check(z, now)) else {
        return;
    };
    let servers = check
        .servers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let noted = if check.gone {
        // Going insecure: the parent's DS set is empty.
        if super::parent::gone(&check) {
            zone.with_signer(|s, _| s.ds_gone(now))
        } else {
            tracing::info!(
                zone = %check.apex,
                "dnssec: the parent still publishes a DS (asked {servers}); the zone stays signed; next check in {}",
                super::policy::duration_text(u64::from(check.interval))
            );
            None
        }
    } else {
        let seen = super::parent::seen(&check);
        let missing: Vec<String> = check
            .wanted
            .iter()
            .filter(|(tag, _)| !seen.contains(tag))
            .map(|(tag, _)| tag.to_string())
            .collect();
        if !missing.is_empty() {
            tracing::info!(
                zone = %check.apex,
                "dnssec: the parent does not publish the DS of key {} yet (asked {servers}); the rollover waits; next check in {}",
                missing.join(", "),
                super::policy::duration_text(u64::from(check.interval))
            );
        }
        (!seen.is_empty())
            .then(|| zone.with_signer(|s, _| s.ds_seen(&seen, now)))
            .flatten()
    };
    if let Some(Err(e)) = noted {
        tracing::error!(zone = %zone.apex(), "dnssec: {e}");
    }
}

/// Commits the empty change `zone` is due for (refreshed signatures, a key step).
fn refresh_if_due(zone: &ZoneHandle, now: u64) {
    let Some(due) = zone.signature_refresh_due(now) else {
        return;
    };
    if due > now {
        return;
    }
    match zone.refresh_signatures() {
        Ok(serial) => tracing::info!(zone = %zone.apex(), serial, "dnssec: signatures refreshed"),
        Err(e) => tracing::error!(
            zone = %zone.apex(),
            "dnssec: signatures not refreshed: {e}; the zone keeps its last signed version"
        ),
    }
    // A restart in the middle of a re-sign (`resign`): its walk goes on.
    resign_in_background(zone);
}

/// Makes the commits of the zone's re-sign walk (`resign`), one batch each, on a thread
/// of its own, until the walk ends; nothing when no walk is under way or a thread makes
/// them already. Between two commits the writer is free: changes queued meanwhile join
/// the next batch's version (group commit), and answers never wait for the writer.
pub fn resign_in_background(zone: &ZoneHandle) {
    if zone.with_signer(|s, _| s.claim_resign()) == Some(true) && !drive_in_background(zone) {
        zone.with_signer(|s, _| s.release_resign());
    }
}

/// Starts the re-sign thread of `zone`, whose stage the caller has claimed
/// (`Stage::claim_resign`); false when the thread cannot start (the caller gives up
/// the claim, and the signing timer's next round tries again).
pub fn drive_in_background(zone: &ZoneHandle) -> bool {
    let spawned = std::thread::Builder::new()
        .name("dnssec-resign".into())
        .spawn({
            let zone = zone.clone();
            move || drive_resign(&zone)
        });
    if let Err(e) = spawned {
        tracing::error!(zone = %zone.apex(), "dnssec: cannot start the re-sign: {e}; the signing timer goes on with it");
        return false;
    }
    true
}

/// The re-sign thread's loop (see [`resign_in_background`]).
fn drive_resign(zone: &ZoneHandle) {
    while zone.with_signer(|s, _| s.resigning()) == Some(true) {
        if let Err(e) = zone.refresh_signatures() {
            // The zone keeps its last version; the signing timer tries again.
            tracing::error!(zone = %zone.apex(), "dnssec: a batch of the re-sign failed: {e}");
            break;
        }
    }
    zone.with_signer(|s, _| s.release_resign());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_follows_the_shortest_ds_check_interval_within_bounds() {
        assert_eq!(period([]), MAX_PERIOD);
        assert_eq!(period([3600]), MAX_PERIOD);
        assert_eq!(period([3600, 5, 30]), Duration::from_secs(5));
        assert_eq!(period([0]), MIN_PERIOD);
    }
}
