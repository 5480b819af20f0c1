//! Transfers in: how a secondary zone's manager takes what its primary sends. A
//! secondary zone has no file: its content is the primary's, and so is its serial (a
//! secondary never picks its own). Each transfer that changes the zone is one journal
//! entry, made durable before the new version is served in one swap, so that IXFR out
//! (to further secondaries) and a restart (image + journal) see it as they see any
//! other change.
//!
//! - [`ZoneHandle::apply_ixfr`]: the primary's deltas (RFC 1995 §4), each applied as a
//!   strict transaction (a record to remove that is not there, or to add that is,
//!   is an inconsistency: the caller falls back to AXFR), chained from the serial
//!   served; condensed into one entry.
//! - [`ZoneHandle::replace_axfr`]: the whole content (RFC 5936), as the diff of the
//!   live version (what `load_file` does with a file), or as the first content.

use std::sync::Arc;

use super::ZoneHandle;
use crate::manager::CommitError;
use crate::manager::ownership::Ownership;
use crate::sources::file_diff::file_changes;
use crate::xfr::journal::{Entry, Meta};
use crate::zone::diff::ZoneDiff;
use crate::zone::txn::{self, Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// One step of an incremental transfer (RFC 1995 §4): the SOA it starts from, what it
/// removes, the SOA it leads to, what it adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// The old SOA.
    pub old_soa: Record,
    /// Records removed.
    pub removed: Vec<Record>,
    /// The new SOA.
    pub new_soa: Record,
    /// Records added.
    pub added: Vec<Record>,
}

/// Why a transfer was not taken; the zone is as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The IXFR does not apply to the version served (a delta that does not chain, a
    /// removal of a missing record, an addition of a present one, a result that is
    /// not a zone): fall back to AXFR.
    #[error("inconsistent IXFR: {0}")]
    Inconsistent(String),
    /// The content is not a zone (no SOA, names outside the apex, ...).
    #[error("not a zone: {0}")]
    NotAZone(String),
    /// The change could not be made durable or published.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The zone is no longer this transfer's: its file took it over, or another
    /// secondary task did, since the lease was claimed.
    #[error("the zone is no longer served from its primaries (handed over to {0})")]
    NotOwner(&'static str),
}

/// A secondary task's hold on its zone's content, from
/// [`ZoneHandle::claim_transfers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLease(u64);

/// The leases of one zone (in its writer): the last one given, and whether it still
/// holds.
#[derive(Debug, Default)]
pub struct Leases {
    last: u64,
    holds: bool,
}

impl Leases {
    /// The zone file took the zone over.
    pub(super) fn revoke(&mut self) {
        self.holds = false;
    }

    fn check(&self, lease: TransferLease) -> Result<(), TransferError> {
        match (self.holds, lease.0 == self.last) {
            (true, true) => Ok(()),
            (false, _) => Err(TransferError::NotOwner("its zone file")),
            (true, false) => Err(TransferError::NotOwner("another secondary task")),
        }
    }
}

/// What a transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOutcome {
    /// The serial served before (None: the zone had no content).
    pub old_serial: Option<u32>,
    /// The serial served now.
    pub new_serial: u32,
    /// Records removed.
    pub removed: usize,
    /// Records added.
    pub added: usize,
}

fn serial_of(soa: &Record) -> Option<u32> {
    crate::zone::snapshot::soa_fields(&soa.rdata).map(|f| f[0])
}

fn lower(record: &Record) -> Record {
    Record {
        owner: record.owner.to_lowercase(),
        ..record.clone()
    }
}

impl ZoneHandle {
    /// Makes the zone its transfers' (a secondary task starts): the lease every
    /// transfer it commits shows; earlier leases no longer hold.
    pub fn claim_transfers(&self) -> TransferLease {
        let mut w = self.lock();
        w.transfers.last += 1;
        w.transfers.holds = true;
        TransferLease(w.transfers.last)
    }

    /// Applies an incremental transfer: `deltas` in order, each a strict transaction
    /// from the serial served, the last one's serial kept. Nothing changes unless every
    /// delta applies, nor unless `lease` holds.
    pub fn apply_ixfr(
        &self,
        lease: TransferLease,
        deltas: &[Delta],
    ) -> Result<TransferOutcome, TransferError> {
        let mut w = self.lock();
        w.transfers.check(lease)?;
        let live = w
            .zone
            .clone()
            .ok_or_else(|| CommitError::NotLoaded(self.apex().clone()))?;
        let mut working: Zone = (*live).clone();
        let mut diff: Option<ZoneDiff> = None;
        for delta in deltas {
            let from = serial_of(&delta.old_soa);
            let to = serial_of(&delta.new_soa);
            let served = working.serial();
            if from != served {
                return Err(TransferError::Inconsistent(format!(
                    "a delta from serial {} does not chain to serial {}",
                    from.map_or("?".into(), |s| s.to_string()),
                    served.unwrap_or(0)
                )));
            }
            let mut t = Transaction {
                strict: true,
                ..Transaction::default()
            };
            t.push(Change::Remove(lower(&delta.old_soa)));
            for r in &delta.removed {
                t.push(Change::Remove(lower(r)));
            }
            t.push(Change::Add(lower(&delta.new_soa)));
            for r in &delta.added {
                t.push(Change::Add(lower(r)));
            }
            let applied = txn::apply(&working, &t).map_err(|e| {
                TransferError::Inconsistent(format!(
                    "the delta {}→{} does not apply: {e}",
                    from.unwrap_or(0),
                    to.unwrap_or(0)
                ))
            })?;
            if applied.zone.serial() != to {
                return Err(TransferError::Inconsistent(format!(
                    "the delta to serial {} leaves serial {}",
                    to.unwrap_or(0),
                    applied.zone.serial().unwrap_or(0)
                )));
            }
            working = applied.zone;
            diff = Some(match diff {
                Some(d) => d.then(applied.diff),
                None => applied.diff,
            });
        }
        let Some(diff) = diff else {
            let serial = live.serial().unwrap_or(0);
            return Ok(TransferOutcome {
                old_serial: Some(serial),
                new_serial: serial,
                removed: 0,
                added: 0,
            });
        };
        self.commit_transfer(&mut w, working, diff)
    }

    /// Replaces the zone's whole content with `zone` (an AXFR, which holds the
    /// primary's serial): the first content, or the changes that make the live
    /// version equal to it. Refused unless `lease` holds.
    pub fn replace_axfr(
        &self,
        lease: TransferLease,
        zone: Zone,
    ) -> Result<TransferOutcome, TransferError> {
        let mut w = self.lock();
        w.transfers.check(lease)?;
        let Some(live) = w.zone.clone() else {
            return self.first_content(&mut w, zone);
        };
        let serial = zone.serial().unwrap_or(0);
        let changes = file_changes(&zone, &live, &Ownership::default());
        let mut t = changes.txn;
        if let Some(soa) = zone.soa() {
            t.push(Change::Replace {
                owner: self.apex().clone(),
                rtype: Rtype::SOA,
                ttl: soa.ttl,
                rdatas: soa.rdatas().map(Box::from).collect(),
            });
        }
        // The transaction keeps what did not change shared with the live version; a
        // primary whose zone our checks would refuse (a CNAME beside other data, say)
        // still gets served as it sent it.
        let (next, diff) = match txn::apply(&live, &t) {
            Ok(applied) if applied.zone.serial() == Some(serial) => (applied.zone, applied.diff),
            Ok(_) | Err(_) => {
                let diff = ZoneDiff::between(&live, &zone);
                (zone, diff)
            }
        };
        self.commit_transfer(&mut w, next, diff)
    }

    /// The first content of a secondary zone: served at once, its image written in
    /// the background (as a zone file's first content is). Nothing was served
    /// before it, so nothing is lost if the process dies before the image is
    /// durable: the restart finds no content and transfers again (the serials file
    /// keeps the floor). Writing the image first held a million-name AXFR back by the
    /// encoding and the write of the whole zone.
    fn first_content(
        &self,
        w: &mut super::Writer,
        zone: Zone,
    ) -> Result<TransferOutcome, TransferError> {
        let serial = zone.serial().unwrap_or(0);
        let records = zone.record_count();
        let zone = Arc::new(zone);
        self.shared
            .publisher
            .publish(&[(self.apex().clone(), Some(zone.clone()))]);
        self.finish(w, zone, &[], None, None);
        Ok(TransferOutcome {
            old_serial: None,
            new_serial: serial,
            removed: 0,
            added: records,
        })
    }

    /// Makes `diff` durable, then serves `next`.
    fn commit_transfer(
        &self,
        w: &mut super::Writer,
        next: Zone,
        diff: ZoneDiff,
    ) -> Result<TransferOutcome, TransferError> {
        let outcome = TransferOutcome {
            old_serial: Some(diff.old_serial),
            new_serial: diff.new_serial,
            removed: diff.removed.len(),
            added: diff.added.len(),
        };
        if diff.is_empty() {
            return Ok(outcome);
        }
        let lens = (diff.removed.len(), diff.added.len());
        self.append(
            w,
            Entry {
                diff,
                meta: Meta::default(),
            },
        )?;
        let next = Arc::new(self.compact_if_due(next));
        self.shared
            .publisher
            .publish(&[(self.apex().clone(), Some(next.clone()))]);
        self.finish(w, next, &[], None, Some(lens));
        Ok(outcome)
    }

    /// Until a secondary zone's first transfer: a placeholder (a bare SOA, marked
    /// expired) in the served set, so that queries get SERVFAIL with EDE 14 Not Ready
    /// (RFC 8914 §4.15) rather than REFUSED. Nothing when the zone has content. The
    /// zone's own version stays empty: transfers out and IXFR in see no content.
    pub fn publish_not_ready(&self) {
        let w = self.lock();
        if w.zone.is_some() {
            return;
        }
        // MNAME and RNAME the root, every number 0.
        let soa = Record {
            owner: self.apex().clone(),
            rtype: Rtype::SOA,
            ttl: 0,
            rdata: vec![0u8; 22].into_boxed_slice(),
        };
        match Zone::build(self.apex(), vec![soa]) {
            Ok(zone) => self
                .shared
                .publisher
                .publish(&[(self.apex().clone(), Some(Arc::new(zone.expired_copy())))]),
            Err(e) => tracing::error!(zone = %self.apex(), "no placeholder: {e}"),
        }
    }

    /// Serves `zone` marked expired (every query SERVFAIL, RFC 1996/1034: a secondary
    /// past its expire with no primary reachable), or the version served again.
    pub fn set_expired(&self, expired: bool) {
        // Under the writer's lock: a transfer that commits meanwhile publishes after.
        let w = self.lock();
        let Some(zone) = w.zone.as_ref() else {
            return;
        };
        let shown = if expired {
            Arc::new(zone.expired_copy())
        } else {
            zone.clone()
        };
        self.shared
            .publisher
            .publish(&[(self.apex().clone(), Some(shown))]);
    }
}

#[cfg(test)]
#[path = "transfer_in_tests.rs"]
mod tests;
