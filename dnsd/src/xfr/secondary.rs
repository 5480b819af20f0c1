//! Secondary zones: one task per zone that keeps it in step with its primaries.
//!
//! ```text
//!  timer (refresh.rs) or NOTIFY in ──► SOA query to each primary in turn
//!     newer serial? ──► IXFR from ours ──► manager: apply_ixfr (strict) ──► served
//!                         │ inconsistent (does not apply, does not chain)
//!                         └──► AXFR ──► manager: replace_axfr ──► served
//!  every primary failed ──► retry with backoff; past EXPIRE: SERVFAIL until one answers
//! ```
//!
//! A zone is opened from the state folder first (image and journal), so a restart
//! serves at once without any primary; its last success is kept beside it
//! (`refresh::state_path`), so that a restart does not reset its expiry. Transfers in
//! run `max-transfers-in` at a time. Each step is logged with zone, primary, serials
//! and reason, and counted (`stats`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use super::access::{Remote, XfrSettings};
use super::client::{self, Fetched, Primary, XfrError};
use super::refresh::{self, Schedule, SoaTimers};
use super::service::NotifyIn;
use super::stats::{SecondaryState, XfrStats};
use crate::manager::{Manager, TransferError, TransferLease, ZoneHandle, ZoneOptions};
use crate::wire::name::Name;
use crate::zone::serial::serial_gt;
use crate::zone::{Record, Rtype};

/// Bound on each exchange with a primary (and each read of a transfer).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Routes NOTIFY from `notify_in` to the secondary zones' tasks, which the
/// [`Secondaries`] returned starts and stops (the zones the configuration declares,
/// members of catalog zones), until `shutdown`. Each refresh reads the zone's
/// primaries, their keys and the timer bounds from `shared` as they are then, so a
/// SIGHUP applies them without a restart.
pub fn start(
    manager: Arc<Manager>,
    shared: Arc<ArcSwap<XfrSettings>>,
    stats: Arc<XfrStats>,
    source: Option<IpAddr>,
    mut notify_in: mpsc::UnboundedReceiver<NotifyIn>,
    shutdown: watch::Receiver<bool>,
) -> Arc<Secondaries> {
    let settings = shared.load_full();
    let secondaries = Arc::new(Secondaries {
        permits: Arc::new(Semaphore::new(settings.max_transfers_in)),
        manager,
        shared,
        stats,
        source,
        wakers: Arc::new(Mutex::new(BTreeMap::new())),
        shutdown,
    });
    let wakers = secondaries.wakers.clone();
    tokio::spawn(async move {
        while let Some(notify) = notify_in.recv().await {
            let waker = wakers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&notify.zone)
                .cloned();
            if let Some(waker) = waker {
                waker.notify_one();
            }
        }
    });
    secondaries
}

/// The secondary zones' tasks: what starting one more needs.
pub struct Secondaries {
    manager: Arc<Manager>,
    shared: Arc<ArcSwap<XfrSettings>>,
    stats: Arc<XfrStats>,
    source: Option<IpAddr>,
    permits: Arc<Semaphore>,
    /// Each zone's waker, which NOTIFY in rings.
    wakers: Arc<Mutex<BTreeMap<Name, Arc<Notify>>>>,
    shutdown: watch::Receiver<bool>,
}

impl Secondaries {
    /// The manager the zones are opened in.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    /// Starts the refresh of the secondary zone `apex` (opened from the state folder,
    /// served at once if it was there). With `stop`: when it turns true, the task
    /// stops serving the zone and removes its state (a member that left its catalog).
    pub fn spawn(
        &self,
        apex: &Name,
        options: ZoneOptions,
        stop: Option<watch::Receiver<bool>>,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.manager.open(apex, options);
        handle.publish_not_ready();
        // The zone is this task's transfers' from now on (a task before it, aborted
        // mid-commit by a hand-over, can no longer land).
        let lease = handle.claim_transfers();
        let waker = Arc::new(Notify::new());
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(apex.clone(), waker.clone());
        let task = ZoneTask {
            handle,
            lease,
            state_path: refresh::state_path(self.manager.state_dir(), apex),
            settings: self.shared.clone(),
            source: self.source,
            stats: self.stats.clone(),
            permits: self.permits.clone(),
            waker,
            name: apex.to_string(),
        };
        let removal = stop.map(|stop| Removal {
            stop,
            manager: self.manager.clone(),
            wakers: self.wakers.clone(),
        });
        tokio::spawn(task.run(self.shutdown.clone(), removal))
    }
}

impl Secondaries {
    /// Forgets the secondary zone `apex` whose task was stopped because another source
    /// (its zone file) took it over: its waker and refresh state go, its zone manager,
    /// image and journal stay.
    pub fn forget(&self, apex: &Name) {
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(apex);
        if let Some(handle) = self.manager.zone(apex) {
            // A file zone does not expire.
            handle.set_expired(false);
        }
        let path = refresh::state_path(self.manager.state_dir(), apex);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(zone = %apex, "{}: {e}", path.display());
        }
    }
}

/// How a zone started at run time is stopped and forgotten.
struct Removal {
    stop: watch::Receiver<bool>,
    manager: Arc<Manager>,
    wakers: Arc<Mutex<BTreeMap<Name, Arc<Notify>>>>,
}

impl Removal {
    /// Resolves when the zone is to be removed (never if its sender is dropped
    /// without saying so).
    async fn requested(&mut self) {
        while !*self.stop.borrow_and_update() {
            if self.stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops serving `apex` and removes its state: journal, image, refresh state.
    fn remove(&self, apex: &Name) {
        self.manager.close(apex);
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(apex);
        let state_dir = self.manager.state_dir();
        let journal = crate::sources::state::journal_path(state_dir, apex);
        for path in [
            crate::manager::image::image_path(state_dir, apex),
            refresh::state_path(state_dir, apex),
            journal,
        ] {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(zone = %apex, "{}: {e}", path.display());
            }
        }
    }
}

/// A primary as the client sees it: its key resolved.
fn primary_of(remote: &Remote, settings: &XfrSettings, source: Option<IpAddr>) -> Primary {
    Primary {
        address: remote.address,
        key: remote
            .key
            .as_ref()
            .and_then(|k| settings.keys.get(k).cloned()),
        timeout: EXCHANGE_TIMEOUT,
        source,
        tls: remote.tls.clone(),
    }
}

/// One secondary zone's refresh.
struct ZoneTask {
    handle: ZoneHandle,
    lease: TransferLease,
    state_path: std::path::PathBuf,
    settings: Arc<ArcSwap<XfrSettings>>,
    source: Option<IpAddr>,
    stats: Arc<XfrStats>,
    permits: Arc<Semaphore>,
    waker: Arc<Notify>,
    name: String,
}

/// What a check of one primary found.
enum Checked {
    /// We were current.
    Current(u32),
    /// A transfer made us current.
    Transferred,
}

impl ZoneTask {
    /// The zone's primaries as configured now.
    fn primaries(&self) -> Vec<Primary> {
        let settings = self.settings.load();
        settings
            .zone(self.handle.apex())
            .primaries
            .iter()
            .map(|remote| primary_of(remote, &settings, self.source))
            .collect()
    }

    /// The timers of the SOA served, within the bounds configured now.
    fn timers(&self) -> Option<SoaTimers> {
        let bounds = self.settings.load().timers;
        self.our_soa()
            .and_then(|soa| SoaTimers::of(&soa.rdata, &bounds))
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>, mut removal: Option<Removal>) {
        let now = unix_now();
        let timers = self.timers();
        let mut last: Option<(String, String)> = None;
        let mut schedule = Schedule::new(refresh::read_last_success(&self.state_path), timers, now);
        let mut expired = false;
        let mut budget = refresh::NotifyBudget::default();
        if let Some(serial) = self.handle.zone().and_then(|z| z.serial()) {
            tracing::info!(zone = %self.name, serial, "secondary zone served from the state folder");
        }
        loop {
            let now = unix_now();
            if schedule.is_expired(now) != expired {
                expired = !expired;
                self.handle.set_expired(expired);
                if expired {
                    tracing::error!(
                        zone = %self.name,
                        last_success = schedule.last_success,
                        "secondary zone expired: no primary answered within the SOA's expire; answering SERVFAIL"
                    );
                }
            }
            self.publish_state(&schedule, expired, last.as_ref());
            let wait = Duration::from_secs(schedule.next.saturating_sub(now));
            let mut notified = false;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.waker.notified() => notified = true,
                _ = shutdown.changed() => return,
                _ = async {
                    match removal.as_mut() {
                        Some(r) => r.requested().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(r) = &removal {
                        r.remove(self.handle.apex());
                        tracing::info!(zone = %self.name, "secondary zone removed; its state is deleted");
                    }
                    return;
                }
            }
            if notified {
                // RFC 1996 §4.7: a NOTIFY is acted on at once; a flood of them is
                // paced (`NotifyBudget`). The schedule counts in seconds: this does not.
                let wait = budget.take(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let Ok(_permit) = self.permits.acquire().await else {
                return;
            };
            let mut ok = false;
            for primary in &self.primaries() {
                let result = self.check(primary).await;
                last = Some((
                    primary.address.to_string(),
                    match &result {
                        Ok(_) => "ok".to_string(),
                        Err(e) => e.clone(),
                    },
                ));
                match result {
                    Ok(checked) => {
                        let now = unix_now();
                        schedule.succeeded(self.timers(), now);
                        if let Err(e) = refresh::write_last_success(&self.state_path, now) {
                            tracing::warn!(zone = %self.name, "{}: {e}", self.state_path.display());
                        }
                        match checked {
                            Checked::Current(serial) => {
                                tracing::debug!(zone = %self.name, remote = %primary.address, serial, "secondary zone is current");
                            }
                            Checked::Transferred if notified => budget.refund(),
                            Checked::Transferred => {}
                        }
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(zone = %self.name, remote = %primary.address, "refresh failed: {e}");
                    }
                }
            }
            if !ok {
                schedule.failed(unix_now());
                tracing::warn!(
                    zone = %self.name,
                    next = schedule.next.saturating_sub(unix_now()),
                    "no primary answered; retrying"
                );
            }
        }
    }

    /// The SOA served.
    fn our_soa(&self) -> Option<Record> {
        let zone = self.handle.zone()?;
        let soa = zone.soa()?;
        Some(Record {
            owner: zone.apex().clone(),
            rtype: Rtype::SOA,
            ttl: soa.ttl,
            rdata: soa.rdatas().next()?.into(),
        })
    }

    /// Checks `primary`: its serial, then a transfer if it is newer.
    async fn check(&self, primary: &Primary) -> Result<Checked, String> {
        let apex = self.handle.apex().clone();
        let ours = self.our_soa();
        let our_serial = ours
            .as_ref()
            .and_then(|soa| crate::zone::snapshot::soa_fields(&soa.rdata).map(|f| f[0]));
        let theirs = match client::soa_serial(primary, &apex).await {
            Ok(serial) => Some(serial),
            // A catalog is not for queries (RFC 9432 §7: Knot refuses them, unsigned):
            // its IXFR tells whether it changed (a lone SOA when current).
            Err(e)
                if self
                    .settings
                    .load()
                    .zones
                    .get(&apex)
                    .is_some_and(|z| z.catalog) =>
            {
                tracing::debug!(zone = %self.name, remote = %primary.address, "SOA query of a catalog: {e}; asking IXFR");
                None
            }
            Err(e) => return Err(format!("SOA query: {e}")),
        };
        if let (Some(serial), Some(theirs)) = (our_serial, theirs)
            && !serial_gt(theirs, serial)
        {
            return Ok(Checked::Current(serial));
        }
        let theirs = theirs.map_or("?".to_string(), |s| s.to_string());
        let peer = primary.address.ip();
        if let Some(soa) = &ours {
            match self.transfer(primary, Some(soa), peer).await {
                Ok(()) => return Ok(Checked::Transferred),
                Err(Failure::Inconsistent(why)) => {
                    tracing::warn!(
                        zone = %self.name,
                        remote = %primary.address,
                        "IXFR {}→{theirs} does not apply ({why}); the zone keeps serial {}; retrying with AXFR",
                        our_serial.unwrap_or(0),
                        our_serial.unwrap_or(0)
                    );
                }
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        match self.transfer(primary, None, peer).await {
            Ok(()) => Ok(Checked::Transferred),
            Err(Failure::Inconsistent(why) | Failure::Other(why)) => Err(why),
        }
    }

    /// One transfer from `primary`: IXFR from `ours`, or AXFR.
    async fn transfer(
        &self,
        primary: &Primary,
        ours: Option<&Record>,
        peer: IpAddr,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let asked = if ours.is_some() { "ixfr" } else { "axfr" };
        let apex = self.handle.apex().clone();
        // A whole zone sent again is about the size of the one served.
        let capacity = self.handle.zone().map_or(0, |z| z.live_bytes());
        let fetched = client::fetch(primary, &apex, ours, capacity).await;
        let ms = started.elapsed().as_millis() as u64;
        let (fetched, counts) = match fetched {
            Ok(f) => f,
            Err(e) => {
                self.stats
                    .transfer_in(&self.name, peer, asked, "error", 0, ms);
                // A lone SOA, or a refusal of IXFR: AXFR may still work.
                return Err(match (&e, ours) {
                    (XfrError::Malformed(_) | XfrError::Rcode(_), Some(_)) => {
                        Failure::Inconsistent(e.to_string())
                    }
                    _ => Failure::Other(format!("{asked}: {e}")),
                });
            }
        };
        let (handle, lease) = (self.handle.clone(), self.lease);
        let kind = match &fetched {
            Fetched::UpToDate(_) => "soa",
            Fetched::Incremental(_) => "ixfr",
            Fetched::Full(_) => "axfr",
        };
        let applied = tokio::task::spawn_blocking(move || match fetched {
            Fetched::UpToDate(serial) => Ok(crate::manager::TransferOutcome {
                old_serial: Some(serial),
                new_serial: serial,
                removed: 0,
                added: 0,
            }),
            Fetched::Incremental(deltas) => handle.apply_ixfr(lease, &deltas),
            Fetched::Full(builder) => {
                let zone = builder
                    .finish()
                    .map_err(|e| TransferError::NotAZone(e.to_string()))?;
                handle.replace_axfr(lease, zone)
            }
        })
        .await
        .map_err(|e| Failure::Other(format!("the transfer's task failed: {e}")))?;
        let ms = started.elapsed().as_millis() as u64;
        match applied {
            Ok(outcome) => {
                self.stats
                    .transfer_in(&self.name, peer, kind, "ok", counts.bytes, ms);
                tracing::info!(
                    zone = %self.name,
                    remote = %primary.address,
                    op = kind,
                    serial = %match outcome.old_serial {
                        Some(old) => format!("{old}→{}", outcome.new_serial),
                        None => outcome.new_serial.to_string(),
                    },
                    removed = outcome.removed,
                    added = outcome.added,
                    bytes = counts.bytes,
                    ms,
                    "transfer in"
                );
                Ok(())
            }
            Err(TransferError::Inconsistent(why)) => {
                self.stats
                    .transfer_in(&self.name, peer, kind, "inconsistent", counts.bytes, ms);
                Err(Failure::Inconsistent(why))
            }
            Err(e) => {
                self.stats
                    .transfer_in(&self.name, peer, kind, "error", counts.bytes, ms);
                Err(Failure::Other(format!("{kind}: {e}")))
            }
        }
    }

    fn publish_state(&self, schedule: &Schedule, expired: bool, last: Option<&(String, String)>) {
        self.stats.set_secondary(
            &self.name,
            SecondaryState {
                serial: self.handle.zone().and_then(|z| z.serial()),
                last_refresh: schedule.last_attempt,
                last_success: schedule.last_success,
                next_refresh: Some(schedule.next),
                expired,
                failures: u64::from(schedule.failures),
                primary: last.map(|(p, _)| p.clone()),
                last_result: last.map(|(_, r)| r.clone()),
                expires_at: schedule.expires_at(),
            },
        );
    }
}

/// Why a transfer was not taken.
enum Failure {
    /// IXFR did not apply: try AXFR.
    Inconsistent(String),
    /// Anything else.
    Other(String),
}

fn unix_now() -> u64 {
    crate::manager::unix_now()
}
