//! One zone's manager: the only writer of the zone. Every source submits changes to
//! it; it checks them, gives the new version its serial, makes the journal entry
//! durable, and only then publishes the version and acknowledges the change.
//!
//! ```text
//!  submit(source, txn) ─► queue ─┐                      ┌─► journal (fdatasync)
//!  load_file(zone file) ─────────┼─► writer (one at a ──┤─► publish (one swap)
//!                                │   time: a mutex)     └─► acknowledge, image later
//! ```
//!
//! # Group commit
//! A submitter queues its transaction, then takes the writer lock. Whoever holds the
//! lock commits everything queued so far as one version (one serial, one journal
//! entry, one fsync, one swap) and acknowledges each transaction before it lets go; a
//! submitter that gets the lock and finds its transaction committed returns. So while
//! one version is being made durable, the changes that arrive meanwhile pile up and
//! become the next version: a burst of 200 container starts becomes a few versions,
//! and a lone change waits for nothing. The async path (the control socket, updates)
//! queues and lets one blocking drainer per zone commit; in a steady stream the
//! drainer starts versions at most once per `GROUP_GAP` (1 ms), so a client sending
//! thousands of changes a second pays one fsync and one swap per millisecond.
//!
//! # Persistence
//! The journal holds every diff since the zone's last image (`image`); images are
//! written in the background from an immutable version, after which the journal may
//! drop the history before them (beyond what IXFR keeps). A restart reads the image
//! and replays the journal, so the zone is served at once, from its last good version.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::image;
use super::ownership::{FILE_SOURCE, Overlay, Ownership};
use super::publish::Publisher;
use super::{Clock, ZoneOptions};
use crate::dnssec::stage::{SIGNER_SOURCE, Stage};
use crate::sources::state::SerialsKeeper;
use crate::sources::stats::ReloadStats;
use crate::wire::name::Name;
use crate::xfr::journal::{Entry, Journal, JournalError, JournalView, Meta, OwnerChange};
use crate::zone::diff::ZoneDiff;
use crate::zone::serial::{self, SerialNotIncreased, Served};
use crate::zone::txn::{self, Change, Transaction, TxnError};
use crate::zone::{Rtype, Zone};

/// The shortest time between the starts of two versions made from a stream of
/// changes (group commit; see [`ZoneHandle::gather`]): at most this much latency
/// added to a change that arrives while another is being committed.
const GROUP_GAP: Duration = Duration::from_millis(1);

/// Why a change was not committed. The zone is as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The zone has no content yet (its file never loaded, nothing restored).
    #[error("zone {0} is not loaded")]
    NotLoaded(Name),
    /// The transaction is not valid.
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// A zone file's change is not valid: what, and where the file writes it.
    #[error("{place}: {error}")]
    InFile {
        /// `file:line`.
        place: String,
        /// What is wrong.
        error: TxnError,
    },
    /// The zone file's edit touches what another source owns: read the whole file.
    #[error("the zone file must be read whole")]
    Reread,
    /// A dynamic change to an RRset the zone file defines.
    #[error("{rtype} at {owner} is defined by the zone file; change it there")]
    OwnedByFile {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
    },
    /// A change to an RRset another source owns.
    #[error("{rtype} at {owner} belongs to source {source_name}")]
    OwnedBy {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: Rtype,
        /// Its source.
        source_name: Arc<str>,
    },
    /// The `keep` serial policy cannot serve this file.
    #[error(transparent)]
    Serial(#[from] SerialNotIncreased),
    /// The journal entry could not be made durable: nothing was served.
    #[error("journal: {0}")]
    Journal(String),
    /// The zone is signed and the new version could not be: nothing was served.
    #[error("dnssec: {0}")]
    Dnssec(String),
}

impl From<JournalError> for CommitError {
    fn from(e: JournalError) -> Self {
        CommitError::Journal(e.to_string())
    }
}

/// What readers of the zone see: the version served and the history that leads to it.
#[derive(Clone, Default)]
pub struct Published {
    /// The version served, if any.
    pub zone: Option<Arc<Zone>>,
    /// The journal as of that version (IXFR, NOTIFY).
    pub journal: JournalView,
}

/// A zone's manager (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct ZoneHandle {
    shared: Arc<Shared>,
}

struct Shared {
    apex: Name,
    publisher: Arc<Publisher>,
    stats: Arc<ReloadStats>,
    queue: Mutex<Vec<Pending>>,
    writer: Mutex<Writer>,
    published: ArcSwap<Published>,
    /// Serial + 1 of the newest durable image (0: none yet), set by image writers.
    image_durable: AtomicU64,
    image_busy: AtomicBool,
    /// A blocking task is committing the queue for async waiters ([`Submitted::done`]).
    draining: AtomicBool,
}

struct Pending {
    source: Arc<str>,
    txn: Transaction,
    ticket: Arc<Ticket>,
}

/// The result of one queued change, and the wake-up of an async waiter.
#[derive(Default)]
struct Ticket {
    result: Mutex<Option<Result<u32, CommitError>>>,
    done: tokio::sync::Notify,
}

impl Ticket {
    fn finish(&self, result: Result<u32, CommitError>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        // Keeps a permit when nobody waits yet: the waiter's next `notified` returns.
        self.done.notify_one();
    }

    fn take(&self) -> Option<Result<u32, CommitError>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A change queued by [`ZoneHandle::enqueue`].
pub struct Submitted {
    handle: ZoneHandle,
    ticket: Arc<Ticket>,
}

impl Submitted {
    /// Waits until the change is durable and served, or refused; the serial that
    /// serves it. The first waiter to find the writer free commits every queued change
    /// as one version (group commit). Blocking: call it from a thread that may wait.
    pub fn wait(self) -> Result<u32, CommitError> {
        let zone = &self.handle;
        loop {
            if let Some(result) = self.ticket.take() {
                return result;
            }
            let mut writer = zone.lock();
            if let Some(result) = self.ticket.take() {
                return result;
            }
            let batch =
                std::mem::take(&mut *zone.shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
            zone.commit(&mut writer, batch);
        }
    }

    /// Whether the change is committed (or refused) already: [`Submitted::done`] would
    /// return at once.
    pub fn is_done(&self) -> bool {
        self.ticket
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Starts the commit now (in the background; [`Submitted::done`] does it too), so
    /// that a caller that awaits its changes in order gets the later ones committed
    /// with the first.
    pub fn start(&self) {
        self.handle.drain();
    }

    /// Waits, without blocking the async task, until the change is durable and served,
    /// or refused. The queue is committed by one blocking task per zone at a time,
    /// which takes whatever has queued meanwhile each time round (group commit), so a
    /// client pipelining thousands of changes a second costs one thread wake-up per
    /// version, not one blocked thread per change.
    pub async fn done(self) -> Result<u32, CommitError> {
        // Committed already (the usual case after `start`): no drainer to wake.
        if let Some(result) = self.ticket.take() {
            return result;
        }
        self.start();
        loop {
            if let Some(result) = self.ticket.take() {
                return result;
            }
            self.ticket.done.notified().await;
        }
    }
}

/// The state only the writer touches.
pub(super) struct Writer {
    /// The signing stage of a signed zone (an error: signing is configured but its
    /// keys cannot be read, and changes are refused until they can).
    pub(super) signer: Option<Result<Stage, String>>,
    pub(super) zone: Option<Arc<Zone>>,
    pub(super) options: ZoneOptions,
    pub(super) journal: Journal,
    pub(super) ownership: Ownership,
    /// The zone file's serial when the served version was made.
    pub(super) file_serial: Option<u32>,
    /// The lowest serial the zone may serve next: above every serial it ever served.
    pub(super) floor: Option<u32>,
    pub(super) state_dir: PathBuf,
    pub(super) clock: Clock,
    /// The serial of the newest durable image.
    pub(super) image_serial: Option<u32>,
    pub(super) commits_since_image: u64,
    pub(super) bytes_since_image: usize,
    /// The `serials` file, told of every version served.
    pub(super) serials: Arc<SerialsKeeper>,
    /// Which transfer task owns the zone's content (`transfer_in::TransferLease`).
    pub(super) transfers: transfer_in::Leases,
}

impl ZoneHandle {
    pub(super) fn new(
        apex: Name,
        writer: Writer,
        publisher: Arc<Publisher>,
        stats: Arc<ReloadStats>,
    ) -> Self {
        let published = Published {
            zone: writer.zone.clone(),
            journal: writer.journal.view(),
        };
        let image_durable = writer.image_serial.map_or(0, |s| u64::from(s) + 1);
        let handle = Self {
            shared: Arc::new(Shared {
                apex,
                publisher,
                stats,
                queue: Mutex::new(Vec::new()),
                writer: Mutex::new(writer),
                published: ArcSwap::from_pointee(published),
                image_durable: AtomicU64::new(image_durable),
                image_busy: AtomicBool::new(false),
                draining: AtomicBool::new(false),
            }),
        };
        if let Some(zone) = handle.zone() {
            handle
                .shared
                .publisher
                .publish(&[(handle.apex().clone(), Some(zone.clone()))]);
            let name = handle.apex().to_string();
            handle
                .shared
                .stats
                .set_serial(&name, zone.serial().unwrap_or(0));
        }
        handle
    }

    /// The zone's apex, lowercased.
    pub fn apex(&self) -> &Name {
        &self.shared.apex
    }

    /// The version served and the history that leads to it.
    pub fn published(&self) -> Arc<Published> {
        self.shared.published.load_full()
    }

    /// The version served, if any.
    pub fn zone(&self) -> Option<Arc<Zone>> {
        self.shared.published.load().zone.clone()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Writer> {
        // A writer that panicked published nothing half-done (publishing is its last
        // step): the state is still consistent.
        self.shared.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits a change from `source` (any name but "file") and waits until it is
    /// durable and served, or refused; returns the serial that serves it. Blocking: call
    /// it from a thread that may wait (`spawn_blocking` in async code).
    pub fn submit(&self, source: &str, txn: Transaction) -> Result<u32, CommitError> {
        self.enqueue(source, txn).wait()
    }

    /// In a stream of changes (some queued while the previous version was being
    /// made), waits until `GROUP_GAP` after that version's start, so that the changes
    /// arriving meanwhile join the next version: a client sending thousands of changes
    /// a second gets a version per millisecond, each with its one journal write, fsync
    /// and swap, not one per change. A change that finds the queue idle is committed at
    /// once.
    fn gather(&self, started: Instant) {
        let wait = GROUP_GAP.saturating_sub(started.elapsed());
        let queued = !self
            .shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if queued && !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Makes sure a blocking task commits the queue until it is empty.
    fn drain(&self) {
        if self.shared.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let handle = self.clone();
        let spawned = tokio::runtime::Handle::try_current().map(|rt| {
            rt.spawn_blocking(move || {
                let mut last_commit: Option<Instant> = None;
                loop {
                    {
                        if let Some(started) = last_commit {
                            handle.gather(started);
                        }
                        let mut writer = handle.lock();
                        let batch = std::mem::take(
                            &mut *handle
                                .shared
                                .queue
                                .lock()
                                .unwrap_or_else(|e| e.into_inner()),
                        );
                        if !batch.is_empty() {
                            last_commit = Some(Instant::now());
                            handle.commit(&mut writer, batch);
                            continue;
                        }
                    }
                    handle.shared.draining.store(false, Ordering::Release);
                    // A change queued after the queue was found empty and before the
                    // flag fell saw a drainer at work: take it up again.
                    let queued = !handle
                        .shared
                        .queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_empty();
                    if !queued || handle.shared.draining.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
            })
        });
        if spawned.is_err() {
            // No runtime (a test calling from a plain thread): commit here.
            self.shared.draining.store(false, Ordering::Release);
            let mut writer = self.lock();
            let batch =
                std::mem::take(&mut *self.shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
            self.commit(&mut writer, batch);
        }
    }

    /// Queues a change from `source` without waiting: changes queued one after the
    /// other are committed in that order (a client may pipeline them). The result
    /// comes from [`Submitted::wait`].
    pub fn enqueue(&self, source: &str, txn: Transaction) -> Submitted {
        let ticket = Arc::new(Ticket::default());
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending {
                source: Arc::from(source),
                txn,
                ticket: ticket.clone(),
            });
        Submitted {
            handle: self.clone(),
            ticket,
        }
    }
    /// Commits a batch of transactions as one version.
    fn commit(&self, w: &mut Writer, batch: Vec<Pending>) {
        let Some(base) = w.zone.clone() else {
            for p in batch {
                p.ticket
                    .finish(Err(CommitError::NotLoaded(self.apex().clone())));
            }
            return;
        };
        let mut working: Zone = (*base).clone();
        let mut diffs: Vec<ZoneDiff> = Vec::new();
        let mut owners: Vec<OwnerChange> = Vec::new();
        let mut ownership = w.ownership.overlay();
        let mut accepted = Vec::new();
        let zone_name = self.apex().to_string();
        for p in batch {
            let check = if &*p.source == SIGNER_SOURCE {
                Ok(())
            } else {
                check_ownership(&ownership, &working, &p.source, &p.txn)
            };
            // In place: the working copy is this batch's alone, so the index pages an
            // earlier transaction of it copied are not copied again.
            let result = check.and_then(|()| {
                txn::apply_in_place(&mut working, &p.txn).map_err(CommitError::from)
            });
            if result.is_err() {
                self.shared
                    .stats
                    .count_transaction(&zone_name, &p.source, false);
            }
            match result {
                Ok((diff, _)) => {
                    let changes = owner_changes(&working, &diff, &ownership, &p.source);
                    ownership.apply(&changes);
                    owners.extend(changes);
                    diffs.push(diff);
                    accepted.push((p.source, p.ticket));
                }
                Err(e) => p.ticket.finish(Err(e)),
            }
        }
        let mut diffs = diffs.into_iter();
        let Some(first) = diffs.next() else { return };
        let current = base.serial().unwrap_or(0);
        let serial = serial::next(
            w.options.serial,
            w.floor.unwrap_or(current).max_serial(current),
            (w.clock)(),
        );
        let now = (w.clock)();
        let result = set_serial(&mut working, serial).and_then(|soa| {
            let diff = first.then_all(diffs.chain([soa]));
            let (zone, diff) = sign(w, working, diff, now)?;
            let entry = Entry {
                diff,
                meta: Meta {
                    file_serial: w.file_serial,
                    owners: owners.clone(),
                },
            };
            self.append(w, entry)?;
            Ok(zone)
        });
        match result {
            Ok(zone) => {
                let zone = Arc::new(self.compact_if_due(zone));
                let diff_len = w
                    .journal
                    .last()
                    .map(|e| (e.diff.removed.len(), e.diff.added.len()));
                self.shared
                    .publisher
                    .publish(&[(self.apex().clone(), Some(zone.clone()))]);
                self.finish(w, zone, &owners, w.file_serial, diff_len);
                for (source, ticket) in accepted {
                    self.shared
                        .stats
                        .count_transaction(&zone_name, &source, true);
                    ticket.finish(Ok(serial));
                }
            }
            Err(e) => {
                self.shared
                    .stats
                    .count_error(Some(&self.apex().to_string()));
                for (source, ticket) in accepted {
                    self.shared
                        .stats
                        .count_transaction(&zone_name, &source, false);
                    ticket.finish(Err(e.clone()));
                }
            }
        }
    }

    /// Appends a journal entry durably, having first taken note of any image written
    /// meanwhile.
    fn append(&self, w: &mut Writer, entry: Entry) -> Result<(), CommitError> {
        self.note_image(w)?;
        w.journal.append(entry)?;
        w.commits_since_image += 1;
        // The entry's own size: a guess per record (32 octets) let a re-sign's diffs,
        // RRSIGs of 100 and more octets each, pile up in memory (every entry since the
        // last image is kept) to three times the zone before an image was due.
        w.bytes_since_image += w.journal.last_len().unwrap_or(0);
        Ok(())
    }

    /// Tells the journal about an image written since the last commit.
    fn note_image(&self, w: &mut Writer) -> Result<(), CommitError> {
        let durable = self.shared.image_durable.load(Ordering::Acquire);
        if durable > 0 {
            let serial = (durable - 1) as u32;
            if w.image_serial != Some(serial) {
                w.image_serial = Some(serial);
                w.journal.set_image_serial(serial)?;
            }
        }
        Ok(())
    }

    /// Records a published version as the writer's and the readers'.
    fn finish(
        &self,
        w: &mut Writer,
        zone: Arc<Zone>,
        owners: &[OwnerChange],
        file_serial: Option<u32>,
        diff_len: Option<(usize, usize)>,
    ) {
        w.ownership.apply(owners);
        w.file_serial = file_serial;
        let serial = zone.serial().unwrap_or(0);
        w.floor = Some(serial);
        w.zone = Some(zone.clone());
        w.serials.record(
            self.apex(),
            Served {
                serial,
                file_serial: file_serial.unwrap_or(serial),
            },
        );
        self.shared.published.store(Arc::new(Published {
            zone: Some(zone.clone()),
            journal: w.journal.view(),
        }));
        let name = self.apex().to_string();
        match diff_len {
            Some((removed, added)) => self
                .shared
                .stats
                .count_change(&name, serial, removed, added),
            None => self.shared.stats.set_serial(&name, serial),
        }
        self.maybe_write_image(w, &zone);
        // A commit of any source may be the one that starts a re-sign walk (the key
        // timeline moved): its next batches are made at once, not at the signing
        // timer's next round.
        if let Some(Ok(stage)) = &mut w.signer
            && stage.claim_resign()
            && !crate::dnssec::timer::drive_in_background(self)
        {
            stage.release_resign();
        }
    }

    /// `zone`, or the same version in an arena of its own when the nodes that earlier
    /// versions left in the shared arena outweigh its own (`Zone::compaction_due`): every
    /// transaction appends the nodes it rewrites and nothing else frees the ones they
    /// replace, so without this a zone that keeps changing (updates, container records,
    /// signature refreshes, a re-sign walk) would grow for as long as the daemon runs.
    /// A copy that fails (it cannot, for a version this writer made) keeps `zone`, loudly.
    pub(super) fn compact_if_due(&self, zone: Zone) -> Zone {
        if !zone.compaction_due() {
            return zone;
        }
        let started = Instant::now();
        let (live, garbage) = (zone.live_bytes(), zone.garbage_bytes());
        match crate::zone::ordered::compact(&zone) {
            Ok(compacted) => {
                tracing::info!(
                    zone = %self.apex(),
                    live_bytes = live,
                    freed_bytes = garbage,
                    ms = started.elapsed().as_millis() as u64,
                    "zone compacted: the nodes earlier versions replaced are freed with them"
                );
                self.shared.stats.count_compaction(&self.apex().to_string());
                compacted
            }
            Err(e) => {
                tracing::error!(zone = %self.apex(), "cannot compact the zone's arena: {e}");
                zone
            }
        }
    }

    /// Writes an image in the background when the journal since the last one has grown
    /// past the zone's own size (or there is none).
    fn maybe_write_image(&self, w: &mut Writer, zone: &Arc<Zone>) {
        // An image that finished since this commit noted images is there already (the
        // next commit notes it): not a reason for another.
        let imaged =
            w.image_serial.is_some() || self.shared.image_durable.load(Ordering::Acquire) > 0;
        let due = !imaged
            || w.bytes_since_image > (zone.live_bytes() / 2).max(1 << 20)
            || w.commits_since_image >= 100_000;
        if !due || self.shared.image_busy.swap(true, Ordering::AcqRel) {
            return;
        }
        w.commits_since_image = 0;
        w.bytes_since_image = 0;
        let shared = self.shared.clone();
        let zone = zone.clone();
        let ownership = w.ownership.clone();
        let file_serial = w.file_serial;
        let path = image::image_path(&w.state_dir, self.apex());
        let spawned = std::thread::Builder::new()
            .name("zone-image".into())
            .spawn(move || {
                let serial = zone.serial().unwrap_or(0);
                let written = image::write(&path, &zone, file_serial, &ownership);
                shared
                    .stats
                    .count_image(&shared.apex.to_string(), written.is_ok());
                match written {
                    Ok(()) => shared
                        .image_durable
                        .store(u64::from(serial) + 1, Ordering::Release),
                    Err(e) => tracing::error!(
                        zone = %shared.apex,
                        "{}: cannot write the zone's image: {e}; a restart replays the journal",
                        path.display()
                    ),
                }
                shared.image_busy.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.shared.image_busy.store(false, Ordering::Release);
        }
    }

    /// Changes the zone's options (a configuration reload). A new signing policy
    /// signs the zone again at the next commit, which it makes at once.
    pub fn set_options(&self, options: ZoneOptions) -> Result<(), CommitError> {
        let resign = {
            let mut w = self.lock();
            w.journal.set_limits(options.journal_limits())?;
            let resign = options.dnssec != w.options.dnssec;
            if resign {
                w.signer = open_signer(&w.state_dir, self.apex(), &options);
            }
            w.options = options;
            resign && w.signer.is_some() && w.zone.is_some()
        };
        if resign {
            // New keys for a signed zone: this commit starts the walk, whose next
            // batches are made in the background (`finish`).
            self.submit(SIGNER_SOURCE, Transaction::new())?;
        }
        Ok(())
    }

    /// When the zone next needs its signer (seconds since the epoch; `now` or earlier:
    /// at once), if it is signed and loaded.
    pub fn signature_refresh_due(&self, now: u64) -> Option<u64> {
        let mut w = self.lock();
        let zone = w.zone.clone()?;
        match &mut w.signer {
            Some(Ok(stage)) => Some(stage.due(&zone, now)),
            _ => None,
        }
    }

    /// Runs `f` on the zone's signing stage and served version, if the zone is signed
    /// and loaded (the key timeline's status, the parent's DS check).
    pub fn with_signer<R>(&self, f: impl FnOnce(&mut Stage, &Zone) -> R) -> Option<R> {
        let mut w = self.lock();
        let zone = w.zone.clone()?;
        match &mut w.signer {
            Some(Ok(stage)) => Some(f(stage, &zone)),
            _ => None,
        }
    }

    /// As `with_signer`, without waiting: None while the writer is busy (a scrape of
    /// the metrics never waits for a zone being signed).
    pub fn try_with_signer<R>(&self, f: impl FnOnce(&Stage, &Zone) -> R) -> Option<Option<R>> {
        let w = match self.shared.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let zone = w.zone.clone();
        Some(match (&w.signer, zone) {
            (Some(Ok(stage)), Some(zone)) => Some(f(stage, &zone)),
            _ => None,
        })
    }

    /// Refreshes the signatures due, as a new version (the refresh timer's commit).
    pub fn refresh_signatures(&self) -> Result<u32, CommitError> {
        self.submit(SIGNER_SOURCE, Transaction::new())
    }

    /// The dynamic owners of the zone's RRsets.
    pub fn ownership(&self) -> Ownership {
        self.lock().ownership.clone()
    }

    /// Waits until no image of this zone is being written.
    pub fn wait_image(&self) {
        while self.shared.image_busy.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Stops serving the zone (its file is gone, or it left the configuration).
    pub fn unpublish(&self) {
        self.shared
            .publisher
            .publish(&[(self.apex().clone(), None)]);
        self.shared.stats.zone_removed(&self.apex().to_string());
        self.shared.published.store(Arc::new(Published::default()));
    }
}

#[path = "zone_file.rs"]
mod zone_file;
pub use zone_file::{FileContent, FileOutcome};

#[path = "transfer_in.rs"]
mod transfer_in;
pub use transfer_in::{Delta, TransferError, TransferLease, TransferOutcome};

/// `max` in serial arithmetic: the later of two serials (RFC 1982).
trait MaxSerial {
    fn max_serial(self, other: u32) -> u32;
}

impl MaxSerial for u32 {
    fn max_serial(self, other: u32) -> u32 {
        if serial::serial_gt(other, self) {
            other
        } else {
            self
        }
    }
}

/// SOA RDATA with its serial replaced.
fn with_serial(rdata: &[u8], serial: u32) -> Box<[u8]> {
    let mut rdata = rdata.to_vec();
    if let Some(at) = rdata.len().checked_sub(20) {
        rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    }
    rdata.into()
}

/// The transaction that gives `zone` the serial `serial`.
/// Gives `zone` (a working copy the caller owns) the SOA serial `serial`, in place;
/// returns the diff of that change.
fn set_serial(zone: &mut Zone, serial: u32) -> Result<ZoneDiff, CommitError> {
    let soa = zone
        .soa()
        .ok_or_else(|| TxnError::NoSoa(zone.apex().clone()))?;
    let rdata = soa
        .rdatas()
        .next()
        .ok_or_else(|| TxnError::NoSoa(zone.apex().clone()))?;
    let mut txn = Transaction::new();
    txn.push(Change::Replace {
        owner: zone.apex().clone(),
        rtype: Rtype::SOA,
        ttl: soa.ttl,
        rdatas: vec![with_serial(rdata, serial)],
    });
    Ok(txn::apply_in_place(zone, &txn)?.0)
}

/// Refuses a dynamic change to an RRset the file or another source owns.
fn check_ownership(
    ownership: &Overlay<'_>,
    zone: &Zone,
    source: &str,
    txn: &Transaction,
) -> Result<(), CommitError> {
    for change in &txn.changes {
        let (owner, types): (Name, Vec<Rtype>) = match change {
            Change::Add(r) | Change::Remove(r) => (r.owner.to_lowercase(), vec![r.rtype]),
            Change::Replace { owner, rtype, .. } | Change::RemoveRrset { owner, rtype } => {
                (owner.to_lowercase(), vec![*rtype])
            }
            Change::RemoveName { owner } => {
                let owner = owner.to_lowercase();
                // The name's signatures and NSEC go with it (the signer's records).
                let types = zone
                    .node(owner.as_wire())
                    .map(|n| {
                        n.rrsets()
                            .map(|r| r.rtype)
                            .filter(|&t| !matches!(t, Rtype::RRSIG | Rtype::NSEC))
                            .collect()
                    })
                    .unwrap_or_default();
                (owner, types)
            }
        };
        for rtype in types {
            let exists = zone
                .node(owner.as_wire())
                .is_some_and(|n| n.rrset(rtype).is_some());
            match ownership.owner_of(&owner, rtype) {
                Some(s) if &**s != source => {
                    return Err(CommitError::OwnedBy {
                        owner,
                        rtype,
                        source_name: s.clone(),
                    });
                }
                None if exists || rtype == Rtype::SOA => {
                    return Err(CommitError::OwnedByFile { owner, rtype });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The ownership changes a dynamic source's applied transaction makes: RRsets it made
/// are its own, RRsets it emptied are nobody's.
fn owner_changes(
    zone: &Zone,
    diff: &ZoneDiff,
    ownership: &Overlay<'_>,
    source: &str,
) -> Vec<OwnerChange> {
    if source == FILE_SOURCE {
        return Vec::new();
    }
    let mut touched: Vec<(Name, Rtype)> = diff
        .removed
        .iter()
        .chain(&diff.added)
        .map(|r| (r.owner.to_lowercase(), r.rtype))
        .collect();
    touched.sort();
    touched.dedup();
    let source: Arc<str> = Arc::from(source);
    touched
        .into_iter()
        .filter_map(|(owner, rtype)| {
            let exists = zone
                .node(owner.as_wire())
                .is_some_and(|n| n.rrset(rtype).is_some());
            let now = exists.then(|| source.clone());
            let before = ownership.owner_of(&owner, rtype).cloned();
            (before != now).then_some(OwnerChange {
                owner,
                rtype,
                source: now,
            })
        })
        .collect()
}

/// The signing stage of a zone under `options` (see `Writer::signer`).
pub(super) fn open_signer(
    state_dir: &std::path::Path,
    apex: &Name,
    options: &ZoneOptions,
) -> Option<Result<Stage, String>> {
    let Some(policy) = options.dnssec.clone() else {
        // Signing turned off for a zone dnsd signed: it goes insecure first.
        if !crate::dnssec::withdraw::pending(state_dir, apex) {
            return None;
        }
        let policy = options.unsigned_dnssec.clone().unwrap_or_default();
        return Some(Stage::open_withdrawal(state_dir, apex, policy).map_err(|e| {
            tracing::error!(zone = %apex, "dnssec: {e}; changes to the zone are refused until its keys can be read");
            e.to_string()
        }));
    };
    crate::dnssec::withdraw::forget(state_dir, apex);
    Some(Stage::open(state_dir, apex, policy).map_err(|e| {
        tracing::error!(zone = %apex, "dnssec: {e}; changes to the zone are refused until its keys can be read");
        e.to_string()
    }))
}

/// Signs a zone's new version (`zone`, which `diff` led to) when the zone is signed:
/// the version and diff to journal and serve.
fn sign(
    w: &mut Writer,
    zone: Zone,
    diff: ZoneDiff,
    now: u64,
) -> Result<(Zone, ZoneDiff), CommitError> {
    match &mut w.signer {
        None => Ok((zone, diff)),
        Some(Err(e)) => Err(CommitError::Dnssec(e.clone())),
        Some(Ok(stage)) => {
            let signed = stage
                .sign(&zone, &diff, now)
                .map_err(|e| CommitError::Dnssec(e.to_string()))?;
            if stage.finished() {
                // Gone insecure (`dnssec::withdraw`): nothing left to sign.
                w.signer = None;
            }
            Ok((signed.zone, diff.then(signed.diff)))
        }
    }
}

/// Signs a zone's first version whole when the zone is signed.
fn sign_whole(w: &mut Writer, zone: Zone, now: u64) -> Result<Zone, CommitError> {
    match &mut w.signer {
        None => Ok(zone),
        Some(Err(e)) => Err(CommitError::Dnssec(e.clone())),
        Some(Ok(stage)) => {
            let signed = stage
                .sign_whole(&zone, now)
                .map_err(|e| CommitError::Dnssec(e.to_string()))?;
            if stage.finished() {
                w.signer = None;
            }
            Ok(signed)
        }
    }
}

/// The type a change touches (RemoveName: none of the signer's).
fn change_type(change: &Change) -> Rtype {
    match change {
        Change::Add(r) | Change::Remove(r) => r.rtype,
        Change::Replace { rtype, .. } | Change::RemoveRrset { rtype, .. } => *rtype,
        Change::RemoveName { .. } => Rtype::A,
    }
}
