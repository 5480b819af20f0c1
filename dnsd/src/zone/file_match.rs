//! A zone file compared with a version of its zone while it is parsed, record by record,
//! so that a one-line edit of a million-name zone never holds a second copy of the zone
//! (Knot's `zonefile-load: difference` builds one; this does not).
//!
//! Each parsed record is looked up in the base version (an exact lookup): a record the
//! base holds is marked as seen by the address of its RDATA in the base's node blob,
//! which is stable while the version lives; a record the base lacks is kept, with its
//! place in the file. What stays is proportional to the change: a bit for every two
//! octets of the zone's node blobs (`marks`) and the new records. The walk over the
//! base that turns this into a transaction (RRsets the file dropped, changed or added)
//! is `sources::file_diff`.
//!
//! An RRset's TTL is its first record's, in the order the file is written (as when the
//! zone is built whole): a record whose TTL differs from the base RRset's is the rare
//! case, and only then is "first" worked out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::file_edit::FileMemo;
use super::load::{Diagnostics, LoadErrorKind};
use super::marks::RdataMarks;
use super::node::{NodeRef, RrsetRef, covered_of};
use super::parse::Parsed;
use super::record::Rtype;
use super::snapshot::Zone;
use crate::wire::name::Name;

/// What the file says about one RRset beyond the base's records: another TTL, more
/// records.
#[derive(Debug, Default)]
pub struct Touched {
    /// The file's TTL for the RRset when it is not the base's (its first record in the
    /// file is new, or has another TTL); `None`: the base RRset's.
    pub ttl: Option<u32>,
    /// RDATAs the base RRset lacks, in file order (duplicates possible).
    pub added: Vec<Box<[u8]>>,
    /// Where the RRset's first new record is written: (file index, line).
    pub at: (u32, u32),
}

/// A zone file matched against `base`, record by record.
pub struct FileMatch {
    base: Arc<Zone>,
    apex: Name,
    /// Types left out of the comparison (a zone that dnsd signs: its DNSSEC records
    /// come from the signer, not the file).
    skip: fn(Rtype) -> bool,
    /// Base RDATAs the file holds.
    seen: RdataMarks,
    /// Base RRsets (by the address of their wire) with new records or another TTL.
    touched: HashMap<usize, Touched, FixedState>,
    /// RRsets the base lacks: (owner, type, type covered) → the file's records.
    fresh: BTreeMap<(Name, Rtype, Rtype), Touched>,
    /// The apex SOA the file gives: TTL, RDATA and its line.
    soa: Option<(u32, Box<[u8]>, u32)>,
    apex_ns: bool,
    /// Where the file's first record is: "no SOA" is said there.
    first: Option<(u32, u32)>,
    /// The record read last, with its owner's hash, matched when the next one comes
    /// (or at the end): its index slot is fetched from memory meanwhile.
    pending: Option<(Parsed, u64)>,
    /// A record written twice, or an RRset whose records differ in TTL, was seen.
    irregular: bool,
    /// Where copies of zone files are kept, and the memo of the file the base was
    /// loaded from (`file_edit`): set, the file is read as an edit of that one when it
    /// can be, and a whole read leaves a memo.
    memo: Option<(std::path::PathBuf, Option<FileMemo>)>,
}

/// A finished match: what `sources::file_diff` turns into a transaction.
pub struct Matched {
    /// The version compared with.
    pub base: Arc<Zone>,
    /// See [`FileMatch`].
    pub seen: RdataMarks,
    /// See [`FileMatch`].
    pub touched: HashMap<usize, Touched, FixedState>,
    /// See [`FileMatch`].
    pub fresh: BTreeMap<(Name, Rtype, Rtype), Touched>,
    /// The file's apex SOA: TTL and RDATA.
    pub soa: (u32, Box<[u8]>),
    /// The types left out.
    pub skip: fn(Rtype) -> bool,
    /// The files read (the zone file, its `$INCLUDE`s), by the index `Touched::at`
    /// gives.
    pub files: Vec<std::path::PathBuf>,
    /// A record written twice, or an RRset whose records differ in TTL, was seen.
    pub irregular: bool,
    /// The memo of the file, for reading its next edit (`file_edit`).
    pub memo: Option<FileMemo>,
}

impl FileMatch {
    /// A match against `base`, leaving out the types `skip` says.
    pub fn new(base: Arc<Zone>, skip: fn(Rtype) -> bool) -> Self {
        let apex = base.apex().clone();
        let seen = RdataMarks::new(&base);
        Self {
            base,
            apex,
            skip,
            seen,
            touched: HashMap::with_hasher(FixedState::default()),
            fresh: BTreeMap::new(),
            soa: None,
            apex_ns: false,
            first: None,
            pending: None,
            irregular: false,
            memo: None,
        }
    }

    /// Keeps copies of the file in `dir`, and reads the file as an edit of `last` (the
    /// memo of the file the base was loaded from) when it can.
    pub fn with_memo(mut self, dir: std::path::PathBuf, last: Option<FileMemo>) -> Self {
        self.memo = Some((dir, last));
        self
    }

    /// The memo setting (see [`FileMatch::with_memo`]).
    pub(crate) fn memo(&self) -> Option<&(std::path::PathBuf, Option<FileMemo>)> {
        self.memo.as_ref()
    }

    /// The version compared with.
    pub(crate) fn base(&self) -> &Arc<Zone> {
        &self.base
    }

    /// The types left out of the comparison.
    pub(crate) fn skip(&self) -> fn(Rtype) -> bool {
        self.skip
    }

    /// The zone's apex.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// One record of the file, at its place; problems go to `diag`. The record is
    /// matched when the next one comes (or at [`FileMatch::finish`]): the lookup of its
    /// owner in a large zone waits for memory, and parsing the next record meanwhile
    /// hides most of that wait (a third of a one-line edit's CPU at a million names).
    pub(crate) fn record(&mut self, parsed: Parsed, diag: &mut Diagnostics) {
        let h = Zone::owner_hash(parsed.record.owner.as_wire());
        self.base.prefetch(h);
        if let Some((previous, h)) = self.pending.replace((parsed, h)) {
            self.match_record(previous, h, diag);
        }
    }

    /// Matches one record whose owner hashes to `h`.
    fn match_record(&mut self, parsed: Parsed, h: u64, diag: &mut Diagnostics) {
        let Parsed { record, file, line } = parsed;
        self.first.get_or_insert((file, line));
        let (rtype, ttl) = (record.rtype, record.ttl);
        let at_apex = record.owner == self.apex;
        if rtype == Rtype::SOA {
            if !at_apex {
                let kind = LoadErrorKind::SoaNotAtApex {
                    owner: record.owner,
                    apex: self.apex.clone(),
                };
                return diag.report(file, line, kind);
            }
            match &self.soa {
                Some((_, rdata, _)) if *rdata == record.rdata => {}
                Some((_, _, first_line)) => {
                    let kind = LoadErrorKind::MultipleSoa {
                        apex: self.apex.clone(),
                        first_line: *first_line as usize,
                    };
                    diag.report(file, line, kind);
                }
                None => self.soa = Some((ttl, record.rdata, line)),
            }
            return;
        }
        self.apex_ns |= at_apex && rtype == Rtype::NS;
        if (self.skip)(rtype) {
            return;
        }
        let covered = covered_of(rtype, Some(&record.rdata));
        let base = Arc::clone(&self.base);
        let found = base
            .node_hashed(h, record.owner.as_wire())
            .and_then(|node| rrset_of(&node, rtype, covered));
        let Some(rrset) = found else {
            let key = (record.owner, rtype, covered);
            match self.fresh.get_mut(&key) {
                Some(touched) => {
                    let first = touched.ttl.unwrap_or(ttl);
                    if first != ttl {
                        self.irregular = true;
                        mismatch(diag, &key.0, rtype, ttl, first, touched.at, (file, line));
                    }
                    self.irregular |= touched.added.contains(&record.rdata);
                    touched.added.push(record.rdata);
                }
                None => {
                    let touched = Touched {
                        ttl: Some(ttl),
                        added: vec![record.rdata],
                        at: (file, line),
                    };
                    self.fresh.insert(key, touched);
                }
            }
            return;
        };
        let key = rrset.wire().as_ptr() as usize;
        let held = rrset.rdatas().find(|r| **r == *record.rdata);
        if let Some(r) = held {
            if self.seen.contains(r) {
                self.irregular = true;
                return; // the same record twice in the file
            }
            if ttl != rrset.ttl || (!self.touched.is_empty() && self.touched.contains_key(&key)) {
                self.ttl_of(&rrset, key, &record.owner, ttl, (file, line), diag);
            }
            self.seen.insert(r);
            return;
        }
        self.ttl_of(&rrset, key, &record.owner, ttl, (file, line), diag);
        if let Some(touched) = self.touched.get_mut(&key) {
            if touched.added.is_empty() {
                touched.at = (file, line);
            }
            self.irregular |= touched.added.contains(&record.rdata);
            touched.added.push(record.rdata);
        }
    }

    /// The rare case: a record of the base RRset at `key` that is new or has another
    /// TTL. Makes sure the RRset has its `Touched`, whose TTL is the file's first
    /// record's; warns when this record's TTL is not that.
    fn ttl_of(
        &mut self,
        rrset: &RrsetRef<'_>,
        key: usize,
        owner: &Name,
        ttl: u32,
        at: (u32, u32),
        diag: &mut Diagnostics,
    ) {
        if let Some(touched) = self.touched.get(&key) {
            let first = touched.ttl.unwrap_or(rrset.ttl);
            if first != ttl {
                self.irregular = true;
                let first_at = touched.at;
                mismatch(diag, owner, rrset.rtype, ttl, first, first_at, at);
            }
            return;
        }
        let first_in_file = !rrset.rdatas().any(|r| self.seen.contains(r));
        let touched = if first_in_file {
            Touched {
                ttl: (ttl != rrset.ttl).then_some(ttl),
                added: Vec::new(),
                at,
            }
        } else {
            if ttl != rrset.ttl {
                self.irregular = true;
                // The RRset's first record (not new, the base's TTL) is further up.
                mismatch(diag, owner, rrset.rtype, ttl, rrset.ttl, (at.0, 0), at);
            }
            Touched {
                ttl: None,
                added: Vec::new(),
                at,
            }
        };
        self.touched.insert(key, touched);
    }

    /// The match, once the whole file is read; the file's own errors (no SOA, no NS
    /// at the apex) go to `diag`.
    pub(crate) fn finish(mut self, diag: &mut Diagnostics) -> Option<Matched> {
        if let Some((last, h)) = self.pending.take() {
            self.match_record(last, h, diag);
        }
        let (file, line) = self.first.unwrap_or((0, 0));
        if !self.apex_ns && self.soa.is_some() {
            diag.report(file, line, LoadErrorKind::NoApexNs(self.apex.clone()));
        }
        let Some((ttl, rdata, _)) = self.soa else {
            diag.report(file, line, LoadErrorKind::NoSoa(self.apex.clone()));
            return None;
        };
        Some(Matched {
            base: self.base,
            seen: self.seen,
            touched: self.touched,
            fresh: self.fresh,
            soa: (ttl, rdata),
            skip: self.skip,
            files: diag.files.clone(),
            irregular: self.irregular,
            memo: None,
        })
    }
}

/// The RRset of `rtype` at `node` (for RRSIG, the one covering `covered`).
pub fn rrset_of<'z>(node: &NodeRef<'z>, rtype: Rtype, covered: Rtype) -> Option<RrsetRef<'z>> {
    if rtype == Rtype::RRSIG {
        node.rrsig(covered)
    } else {
        node.rrset(rtype)
    }
}

/// Warns that a record's TTL differs from its RRset's (RFC 2181 §5.2).
fn mismatch(
    diag: &mut Diagnostics,
    owner: &Name,
    rtype: Rtype,
    ttl: u32,
    rrset_ttl: u32,
    first: (u32, u32),
    at: (u32, u32),
) {
    let kind = LoadErrorKind::TtlMismatch {
        owner: owner.clone(),
        rtype,
        ttl,
        rrset_ttl,
        first_line: if first.0 == at.0 { first.1 as usize } else { 0 },
    };
    diag.report(at.0, at.1, kind);
}
