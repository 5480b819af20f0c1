//! The zone file as a source of a zone's manager: its first content, and each later
//! version of the file as the changes that make the served zone what the file says
//! (matched against the live version as it is parsed, or read as an edit of the file
//! last loaded), through the same serial, signing and journal path as every other
//! change; prepared durably first, so that the reloader publishes a burst of zones in
//! one swap.

use std::sync::Arc;

use super::{CommitError, Writer, ZoneHandle, change_type, sign, sign_whole, with_serial};
use crate::dnssec::stage::is_signer_type;
use crate::sources::file_diff::{FileChanges, changes_of, file_changes};
use crate::wire::name::Name;
use crate::xfr::journal::{Entry, Meta, OwnerChange};
use crate::zone::diff::ZoneDiff;
use crate::zone::file_edit::{Edited, Memo};
use crate::zone::file_match::{FileMatch, Matched};
use crate::zone::serial::{self, SerialPolicy, Served, Verdict};
use crate::zone::snapshot::soa_fields;
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{Rtype, Zone};

/// What a zone-file load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// The zone had no content and now has the file's.
    Loaded {
        /// The serial served.
        serial: u32,
    },
    /// The file changed the zone.
    Changed {
        /// The diff (serials, records).
        removed: usize,
        /// Records added.
        added: usize,
        /// The old serial.
        old_serial: u32,
        /// The new serial.
        new_serial: u32,
        /// RRsets a dynamic source owned that the file took over (owner, type, source).
        takeovers: Vec<(Name, Rtype, Arc<str>)>,
    },
    /// The file's content is what is served already.
    Unchanged {
        /// The serial served.
        serial: u32,
    },
}

/// A version made durable by a writer, not yet published.
pub(in crate::manager) struct Prepared {
    zone: Arc<Zone>,
    owners: Vec<OwnerChange>,
    file_serial: Option<u32>,
    diff: Option<ZoneDiff>,
    outcome: FileOutcome,
}

impl ZoneHandle {
    /// A matcher for the zone file against the live version, when there is one: the
    /// file is then compared as it is parsed, never built whole beside the live zone.
    pub fn file_matcher(&self) -> Option<FileMatch> {
        let w = self.lock();
        let live = w.zone.clone()?;
        let skip: fn(Rtype) -> bool = if w.signer.is_some() {
            is_signer_type
        } else {
            |_| false
        };
        Some(FileMatch::new(live, skip))
    }

    /// Loads the zone file's content (`file`, which holds the file's serial) into the
    /// zone: the first content, or the changes that make the zone what the file says.
    pub fn load_file(&self, file: impl Into<FileContent>) -> Result<FileOutcome, CommitError> {
        let mut w = self.lock();
        let Some(prepared) = self.prepare_file(&mut w, file.into())? else {
            let serial = w.zone.as_ref().and_then(|z| z.serial()).unwrap_or(0);
            return Ok(FileOutcome::Unchanged { serial });
        };
        self.shared
            .publisher
            .publish(&[(self.apex().clone(), Some(prepared.zone.clone()))]);
        Ok(self.finish_prepared(&mut w, prepared))
    }

    /// Makes the file's version durable without publishing it (the caller publishes a
    /// burst of zones in one swap). None: the file changes nothing.
    pub(in crate::manager) fn prepare_file(
        &self,
        w: &mut Writer,
        content: FileContent,
    ) -> Result<Option<Prepared>, CommitError> {
        // The file owns the zone from now on: a transfer still committing is refused.
        w.transfers.revoke();
        let now = (w.clock)();
        let (changes, soa) = match content {
            FileContent::Zone(file) => match w.zone.clone() {
                None => return self.prepare_first(w, file, now),
                Some(live) => {
                    let soa = file.soa().and_then(|soa| {
                        let rdata: Box<[u8]> = soa.rdatas().next()?.into();
                        Some((soa.ttl, rdata))
                    });
                    (file_changes(&file, &live, &w.ownership), soa)
                }
            },
            FileContent::Edited(edited) => {
                if w.zone.is_none() {
                    return Err(CommitError::NotLoaded(self.apex().clone()));
                }
                // An RRset a dynamic source owns: the whole file decides the takeover.
                if let Some((owner, rtype)) = edited
                    .touched
                    .iter()
                    .find(|(owner, rtype)| w.ownership.owner_of(owner, *rtype).is_some())
                {
                    tracing::debug!(zone = %self.apex(), %owner, %rtype, "edit of a dynamic RRset: the file is read whole");
                    return Err(CommitError::Reread);
                }
                let Edited {
                    changes,
                    soa,
                    soa_changed,
                    places,
                    ..
                } = *edited;
                let changes = FileChanges {
                    txn: Transaction {
                        changes,
                        ..Transaction::default()
                    },
                    soa_changed,
                    places,
                    ..FileChanges::default()
                };
                (changes, Some(soa))
            }
            FileContent::Matched(matched) => {
                let Some(live) = w.zone.clone() else {
                    // Closed and opened again since the file was read: read it again.
                    return Err(CommitError::NotLoaded(self.apex().clone()));
                };
                let mut changes = changes_of(&matched, &w.ownership);
                if !Arc::ptr_eq(&matched.base, &live) {
                    changes.rebase(&w.ownership);
                }
                (changes, Some(matched.soa.clone()))
            }
        };
        self.prepare_changes(w, changes, soa, now)
    }

    /// The first content of a zone (or its content after its state was lost).
    fn prepare_first(
        &self,
        w: &mut Writer,
        mut file: Zone,
        now: u64,
    ) -> Result<Option<Prepared>, CommitError> {
        let file_serial = file.serial().unwrap_or(0);
        let last = w.floor.map(|serial| Served {
            serial,
            file_serial: w.file_serial.unwrap_or(serial),
        });
        // No content to compare with (first load, or state lost): the automatic
        // policies count it as changed; `keep` serves the file's serial when it is
        // not below the floor.
        let changed = w.options.serial != SerialPolicy::Keep;
        let verdict = serial::decide(w.options.serial, last.as_ref(), file_serial, changed, now)?;
        let serial = verdict.serial();
        file.set_serial(serial);
        let file = sign_whole(w, file, now)?;
        Ok(Some(Prepared {
            zone: Arc::new(file),
            owners: Vec::new(),
            file_serial: Some(file_serial),
            diff: None,
            outcome: FileOutcome::Loaded { serial },
        }))
    }

    /// The changes a zone file makes to the live zone, with the file's SOA (TTL and
    /// RDATA), made durable as a new version.
    fn prepare_changes(
        &self,
        w: &mut Writer,
        mut changes: FileChanges,
        soa: Option<(u32, Box<[u8]>)>,
        now: u64,
    ) -> Result<Option<Prepared>, CommitError> {
        let Some(live) = w.zone.clone() else {
            return Err(CommitError::NotLoaded(self.apex().clone()));
        };
        let file_serial = soa
            .as_ref()
            .and_then(|(_, rdata)| soa_fields(rdata))
            .map_or(0, |f| f[0]);
        if w.signer.is_some() {
            // The signer makes a signed zone's DNSSEC records, whatever the file says.
            changes
                .txn
                .changes
                .retain(|c| !is_signer_type(change_type(c)));
        }
        let current = live.serial().unwrap_or(0);
        let last = Served {
            serial: current,
            file_serial: w.file_serial.unwrap_or(current),
        };
        let verdict = serial::decide(
            w.options.serial,
            Some(&last),
            file_serial,
            !changes.is_empty(),
            now,
        )?;
        let Verdict::Changed(serial) = verdict else {
            return Ok(None);
        };
        let mut txn = std::mem::take(&mut changes.txn);
        if let Some((ttl, rdata)) = soa {
            txn.push(Change::Replace {
                owner: self.apex().clone(),
                rtype: Rtype::SOA,
                ttl,
                rdatas: vec![with_serial(&rdata, serial)],
            });
        }
        let applied = txn::apply(&live, &txn).map_err(|error| match changes.place_of(&error) {
            Some(place) => CommitError::InFile {
                place: place.to_string(),
                error,
            },
            None => CommitError::Txn(error),
        })?;
        let (zone, diff) = sign(w, applied.zone, applied.diff, now)?;
        let applied = txn::Applied {
            zone: self.compact_if_due(zone),
            diff,
            warnings: Vec::new(),
        };
        let owners: Vec<OwnerChange> = changes
            .takeovers
            .iter()
            .map(|(owner, rtype, _)| OwnerChange {
                owner: owner.clone(),
                rtype: *rtype,
                source: None,
            })
            .collect();
        let takeovers = changes.takeovers;
        let outcome = FileOutcome::Changed {
            removed: applied.diff.removed.len(),
            added: applied.diff.added.len(),
            old_serial: applied.diff.old_serial,
            new_serial: applied.diff.new_serial,
            takeovers,
        };
        let diff = applied.diff.clone();
        self.append(
            w,
            Entry {
                diff: applied.diff,
                meta: Meta {
                    file_serial: Some(file_serial),
                    owners: owners.clone(),
                },
            },
        )?;
        Ok(Some(Prepared {
            zone: Arc::new(applied.zone),
            owners,
            file_serial: Some(file_serial),
            diff: Some(diff),
            outcome,
        }))
    }

    /// The apex and version a prepared change publishes.
    pub(in crate::manager) fn prepared_zone(prepared: &Prepared) -> Arc<Zone> {
        prepared.zone.clone()
    }

    /// Records a prepared version, once published, as the zone's.
    pub(in crate::manager) fn finish_prepared(
        &self,
        w: &mut Writer,
        prepared: Prepared,
    ) -> FileOutcome {
        let diff_len = prepared
            .diff
            .as_ref()
            .map(|d| (d.removed.len(), d.added.len()));
        self.finish(
            w,
            prepared.zone,
            &prepared.owners,
            prepared.file_serial,
            diff_len,
        );
        prepared.outcome
    }
}

/// A zone file's content, as the zone-file source read it.
pub enum FileContent {
    /// The zone, built whole (there was no live version to compare it with).
    Zone(Zone),
    /// The file matched against the live version as it was parsed.
    Matched(Matched),
    /// The file read as an edit of the one the live version was loaded from.
    Edited(Box<Edited>),
}

impl FileContent {
    /// The memo of the file for reading its next edit: ready, or to be written once
    /// the content is committed.
    pub fn take_memo(&mut self) -> Option<Memo> {
        match self {
            FileContent::Zone(_) => None,
            FileContent::Matched(matched) => matched.memo.take().map(Memo::Ready),
            FileContent::Edited(edited) => Some(Memo::Draft(edited.memo.take())),
        }
    }
}

impl From<Zone> for FileContent {
    fn from(zone: Zone) -> Self {
        Self::Zone(zone)
    }
}
