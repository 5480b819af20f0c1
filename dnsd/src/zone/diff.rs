//! The difference between two versions of a zone: what every change yields (DESIGN.md
//! principle 4) and what the journal, IXFR (RFC 1995), NOTIFY and the logs consume.
//!
//! A diff lists the records removed from the old version and added in the new one, in
//! IXFR's order (RFC 1995 §4): when the SOA changed, the old SOA opens `removed` and the
//! new SOA opens `added`. A record whose TTL changed is removed with its old TTL and
//! added with its new one, as IXFR carries it.
//!
//! # Speed
//! A reload of a zone of a million names usually changes a handful of records, so the
//! diff walks the nodes of both versions in step (the snapshot keeps them in the same
//! order), falling back to a lookup by name (one hash lookup) where they differ, and
//! compares whole RRsets by their wire bytes before looking at single records. Nothing
//! is sorted; nodes only the old version has are found in a second pass, skipped when
//! every old node was matched.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use super::record::{Record, Rtype};
use super::snapshot::{BuildError, NodeRef, RrsetRef, Zone};

/// What changed between two versions of a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneDiff {
    /// Serial of the old version.
    pub old_serial: u32,
    /// Serial of the new version.
    pub new_serial: u32,
    /// Records only the old version has; the old SOA first if the SOA changed.
    pub removed: Vec<Record>,
    /// Records only the new version has; the new SOA first if the SOA changed.
    pub added: Vec<Record>,
}

/// Why a diff does not apply to a zone.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The diff removes a record the zone does not hold.
    #[error("record to remove is not in the zone: {0:?}")]
    MissingRecord(Box<Record>),
    /// The result is not a valid zone.
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl ZoneDiff {
    /// Computes the diff from `old` to `new` (two versions of the same zone).
    pub fn between(old: &Zone, new: &Zone) -> ZoneDiff {
        let mut diff = ZoneDiff {
            old_serial: old.serial().unwrap_or(0),
            new_serial: new.serial().unwrap_or(0),
            removed: Vec::new(),
            added: Vec::new(),
        };
        let (old_apex, new_apex) = (old.apex_node(), new.apex_node());
        if let (Some(o), Some(n)) = (old_apex.rrset(Rtype::SOA), new_apex.rrset(Rtype::SOA))
            && (o.ttl != n.ttl || o.wire() != n.wire())
        {
            push_rrset(&mut diff.removed, &old_apex, o);
            push_rrset(&mut diff.added, &new_apex, n);
        }

        // Both versions usually hold their nodes in the same order (the snapshot sorts
        // them), so walk the old nodes in step with the new ones: sequential reads, no
        // hashing. A node only the new version has is looked up (and not found); a node
        // only the old version has is stepped over (the second pass lists it).
        let mut cursor = old.nodes().peekable();
        let mut matched = 0usize;
        for node in new.nodes() {
            let mut old_node = cursor.next_if(|o| o.owner() == node.owner());
            if old_node.is_none() {
                while cursor.next_if(|o| new.node(o.owner()).is_none()).is_some() {}
                old_node = cursor
                    .next_if(|o| o.owner() == node.owner())
                    .or_else(|| old.node(node.owner()));
            }
            match old_node {
                None => push_node(&mut diff.added, &node),
                Some(old_node) => {
                    matched += 1;
                    diff_node(&mut diff, &old_node, &node);
                }
            }
        }
        if matched < old.node_count() {
            for node in old.nodes() {
                if new.node(node.owner()).is_none() {
                    push_node(&mut diff.removed, &node);
                }
            }
        }
        diff
    }

    /// Whether nothing changed, the SOA included.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// This diff followed by `next` (from this one's new serial on), condensed as RFC
    /// 1995 §4 allows: a record added by one and removed by the other appears in
    /// neither list, and of the SOAs only the first old and the last new remain.
    pub fn then(self, next: ZoneDiff) -> ZoneDiff {
        self.then_all([next])
    }

    /// This diff followed by a chain of diffs (each from the previous one's new serial
    /// on), condensed into one as [`ZoneDiff::then`] does. One pass over all the
    /// records, each hashed once and moved, never cloned: a group commit of many small
    /// transactions costs the sum of their sizes, not the square of the batch.
    pub fn then_all(self, rest: impl IntoIterator<Item = ZoneDiff>) -> ZoneDiff {
        let old_serial = self.old_serial;
        let mut new_serial = self.new_serial;
        let mut list = Condensed {
            removed: self.removed,
            added: self.added,
            ..Condensed::default()
        };
        let mut rest = rest.into_iter().peekable();
        if rest.peek().is_none() {
            let mut diff = ZoneDiff {
                old_serial,
                new_serial,
                removed: list.removed,
                added: list.added,
            };
            diff.soas_first();
            return diff;
        }
        list.index();
        for next in rest {
            new_serial = next.new_serial;
            for r in next.removed {
                list.remove(r);
            }
            for r in next.added {
                list.add(r);
            }
        }
        let mut diff = ZoneDiff {
            old_serial,
            new_serial,
            removed: list.removed_at.take_live(list.removed),
            added: list.added_at.take_live(list.added),
        };
        diff.soas_first();
        diff
    }

    /// Puts the SOA of each list first, and keeps one SOA per list: the oldest removed
    /// and the newest added (RFC 1995 §4's condensed form).
    fn soas_first(&mut self) {
        let is_soa = |r: &Record| r.rtype == Rtype::SOA;
        if let Some(first) = self.removed.iter().position(is_soa) {
            let soa = self.removed.remove(first);
            self.removed.retain(|r| !is_soa(r));
            self.removed.insert(0, soa);
        }
        if let Some(last) = self.added.iter().rposition(is_soa) {
            let soa = self.added.remove(last);
            self.added.retain(|r| !is_soa(r));
            self.added.insert(0, soa);
        }
    }

    /// Applies the diff to `zone`, which must be the diff's old version.
    pub fn apply(&self, zone: &Zone) -> Result<Zone, ApplyError> {
        let mut remove: HashSet<&Record> = self.removed.iter().collect();
        let mut records: Vec<Record> = zone.records().filter(|r| !remove.remove(r)).collect();
        if let Some(missing) = remove.into_iter().next() {
            return Err(ApplyError::MissingRecord(Box::new(missing.clone())));
        }
        records.extend(self.added.iter().cloned());
        Ok(Zone::build(zone.apex(), records)?)
    }
}

/// Compares the RRsets of one owner in both versions (both sorted by type).
fn diff_node(diff: &mut ZoneDiff, old: &NodeRef<'_>, new: &NodeRef<'_>) {
    let mut olds = old
        .rrsets()
        .filter(|r| !(old.is_apex() && r.rtype == Rtype::SOA));
    let mut news = new
        .rrsets()
        .filter(|r| !(new.is_apex() && r.rtype == Rtype::SOA));
    let (mut o, mut n) = (olds.next(), news.next());
    loop {
        match (o, n) {
            (None, None) => break,
            (Some(or), None) => {
                push_rrset(&mut diff.removed, old, or);
                o = olds.next();
            }
            (None, Some(nr)) => {
                push_rrset(&mut diff.added, new, nr);
                n = news.next();
            }
            (Some(or), Some(nr)) => match (or.rtype, or.covered()).cmp(&(nr.rtype, nr.covered())) {
                Ordering::Less => {
                    push_rrset(&mut diff.removed, old, or);
                    o = olds.next();
                }
                Ordering::Greater => {
                    push_rrset(&mut diff.added, new, nr);
                    n = news.next();
                }
                Ordering::Equal => {
                    if or.ttl != nr.ttl {
                        push_rrset(&mut diff.removed, old, or);
                        push_rrset(&mut diff.added, new, nr);
                    } else if or.wire() != nr.wire() {
                        diff_rdatas(diff, new, or, nr);
                    }
                    (o, n) = (olds.next(), news.next());
                }
            },
        }
    }
}

/// Two RRsets of the same type and TTL whose records differ; the snapshot keeps each
/// RRset's RDATAs sorted, so one merge walk finds the differences.
fn diff_rdatas(diff: &mut ZoneDiff, node: &NodeRef<'_>, old: RrsetRef<'_>, new: RrsetRef<'_>) {
    let owner = node.owner_name();
    let record = |rrset: &RrsetRef<'_>, rdata: &[u8]| Record {
        owner: owner.clone(),
        rtype: rrset.rtype,
        ttl: rrset.ttl,
        rdata: rdata.into(),
    };
    let mut olds = old.rdatas();
    let mut news = new.rdatas();
    let (mut o, mut n) = (olds.next(), news.next());
    loop {
        let order = match (o, n) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        };
        match (order, o, n) {
            (Ordering::Less, Some(a), _) => {
                diff.removed.push(record(&old, a));
                o = olds.next();
            }
            (Ordering::Greater, _, Some(b)) => {
                diff.added.push(record(&new, b));
                n = news.next();
            }
            _ => (o, n) = (olds.next(), news.next()),
        }
    }
}

fn push_node(out: &mut Vec<Record>, node: &NodeRef<'_>) {
    for rrset in node.rrsets() {
        push_rrset(out, node, rrset);
    }
}

fn push_rrset(out: &mut Vec<Record>, node: &NodeRef<'_>, rrset: RrsetRef<'_>) {
    let owner = node.owner_name();
    out.extend(rrset.rdatas().map(|rdata| Record {
        owner: owner.clone(),
        rtype: rrset.rtype,
        ttl: rrset.ttl,
        rdata: rdata.into(),
    }));
}

/// The records of a chain of diffs being condensed: both lists, with the positions of
/// each record by hash, and which positions a later diff cancelled.
#[derive(Default)]
struct Condensed {
    removed: Vec<Record>,
    added: Vec<Record>,
    removed_at: Positions,
    added_at: Positions,
}

impl Condensed {
    fn index(&mut self) {
        for (i, r) in self.removed.iter().enumerate() {
            self.removed_at.insert(r, i);
        }
        for (i, r) in self.added.iter().enumerate() {
            self.added_at.insert(r, i);
        }
    }

    /// A later diff removes `r`: it cancels an earlier addition of it, or is removed.
    fn remove(&mut self, r: Record) {
        if !self.added_at.cancel(&self.added, &r) {
            self.removed_at.insert(&r, self.removed.len());
            self.removed.push(r);
        }
    }

    /// A later diff adds `r`: it cancels an earlier removal of it, or is added.
    fn add(&mut self, r: Record) {
        if !self.removed_at.cancel(&self.removed, &r) {
            self.added_at.insert(&r, self.added.len());
            self.added.push(r);
        }
    }
}

/// Where each live record of one list is, by a hash of the record (positions with the
/// same hash are told apart by comparing the records), and which positions were
/// cancelled.
#[derive(Default)]
struct Positions {
    hasher: std::hash::RandomState,
    at: HashMap<u64, Vec<usize>>,
    cancelled: Vec<bool>,
}

impl Positions {
    fn insert(&mut self, r: &Record, i: usize) {
        let h = self.hasher.hash_one(r);
        self.at.entry(h).or_default().push(i);
    }

    /// Cancels the latest live position holding `r`, if any.
    fn cancel(&mut self, list: &[Record], r: &Record) -> bool {
        let h = self.hasher.hash_one(r);
        let Some(positions) = self.at.get_mut(&h) else {
            return false;
        };
        let Some(k) = positions.iter().rposition(|&i| list[i] == *r) else {
            return false;
        };
        let i = positions.remove(k);
        if self.cancelled.len() <= i {
            self.cancelled.resize(list.len().max(i + 1), false);
        }
        self.cancelled[i] = true;
        true
    }

    /// The records of `list` not cancelled, in order.
    fn take_live(&self, list: Vec<Record>) -> Vec<Record> {
        if self.cancelled.is_empty() {
            return list;
        }
        list.into_iter()
            .enumerate()
            .filter(|(i, _)| !self.cancelled.get(*i).copied().unwrap_or(false))
            .map(|(_, r)| r)
            .collect()
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
