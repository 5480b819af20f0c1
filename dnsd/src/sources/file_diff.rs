//! A zone-file edit as a change of the live zone (Knot's `zonefile-load: difference`):
//! the zone loaded from the file is compared with the zone being served, RRset by
//! RRset, and what differs becomes a transaction. Only RRsets that the file owns are
//! compared (`manager::ownership`): records that dynamic sources added stay, unless
//! the file now has the same RRset, which it takes over.
//!
//! Both zones are walked once in canonical order, side by side, comparing whole RRsets
//! by their wire bytes: a one-line edit of a million-name zone costs a sequential scan
//! and yields a one-record transaction.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::manager::ownership::Ownership;
use crate::wire::name::Name;
use crate::zone::canonical;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{NodeRef, Record, RrsetRef, Rtype, Zone};

/// What a zone file changes in the live zone.
#[derive(Debug, Default)]
pub struct FileChanges {
    /// The changes, the SOA aside.
    pub txn: Transaction,
    /// RRsets a dynamic source owned that the file now defines (owner, type, source).
    pub takeovers: Vec<(Name, Rtype, Arc<str>)>,
    /// Whether the SOA differs in more than its serial (or its TTL differs).
    pub soa_changed: bool,
}

impl FileChanges {
    /// Whether the file changes the zone's content at all.
    pub fn is_empty(&self) -> bool {
        self.txn.is_empty() && !self.soa_changed
    }
}

/// The changes that make `live` hold what `file` holds, for the RRsets the file owns.
pub fn file_changes(file: &Zone, live: &Zone, ownership: &Ownership) -> FileChanges {
    let mut changes = FileChanges::default();
    let mut files = file.nodes().peekable();
    let mut lives = live.nodes().peekable();
    loop {
        let order = match (files.peek(), lives.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(f), Some(l)) => canonical::compare(f.owner(), l.owner()),
        };
        match order {
            Ordering::Less => {
                if let Some(f) = files.next() {
                    node_changes(Some(&f), None, ownership, &mut changes);
                }
            }
            Ordering::Greater => {
                if let Some(l) = lives.next() {
                    node_changes(None, Some(&l), ownership, &mut changes);
                }
            }
            Ordering::Equal => {
                let (f, l) = (files.next(), lives.next());
                node_changes(f.as_ref(), l.as_ref(), ownership, &mut changes);
            }
        }
    }
    changes.soa_changed = soa_without_serial(file) != soa_without_serial(live);
    changes
}

/// The SOA's TTL and RDATA with the serial left out.
fn soa_without_serial(zone: &Zone) -> Option<(u32, Vec<u8>)> {
    let soa = zone.soa()?;
    let rdata = soa.rdatas().next()?;
    let names = rdata.len().checked_sub(20)?;
    let mut without = rdata[..names].to_vec();
    without.extend_from_slice(&rdata[names + 4..]);
    Some((soa.ttl, without))
}

/// Compares one owner's RRsets in the file and the live zone.
fn node_changes(
    file: Option<&NodeRef<'_>>,
    live: Option<&NodeRef<'_>>,
    ownership: &Ownership,
    out: &mut FileChanges,
) {
    let Some(owner) = file.or(live).map(NodeRef::owner_name) else {
        return;
    };
    let file_sets: Vec<RrsetRef<'_>> = file.map(|n| n.rrsets().collect()).unwrap_or_default();
    let live_sets: Vec<RrsetRef<'_>> = live.map(|n| n.rrsets().collect()).unwrap_or_default();
    let at_apex = file.or(live).is_some_and(NodeRef::is_apex);
    let mut types: Vec<Rtype> = file_sets
        .iter()
        .chain(&live_sets)
        .map(|r| r.rtype)
        .filter(|&t| !(at_apex && t == Rtype::SOA))
        .collect();
    types.dedup();
    types.sort();
    types.dedup();
    for rtype in types {
        let in_file: Vec<&RrsetRef<'_>> = file_sets.iter().filter(|r| r.rtype == rtype).collect();
        let in_live: Vec<&RrsetRef<'_>> = live_sets.iter().filter(|r| r.rtype == rtype).collect();
        let owner_source = ownership.owner_of(&owner, rtype);
        if in_file.is_empty() {
            // Only the live zone has it: the file dropped it, unless a dynamic source
            // owns it.
            if owner_source.is_none() {
                out.txn.push(Change::RemoveRrset {
                    owner: owner.clone(),
                    rtype,
                });
            }
            continue;
        }
        let same = in_file.len() == in_live.len()
            && in_file
                .iter()
                .zip(&in_live)
                .all(|(f, l)| f.ttl == l.ttl && f.wire() == l.wire());
        if let Some(source) = owner_source {
            out.takeovers.push((owner.clone(), rtype, source.clone()));
        }
        if same {
            continue;
        }
        // Replace the RRset by the file's; RRSIGs, one RRset per type covered, each with
        // its own TTL, as a removal and additions.
        out.txn.push(Change::RemoveRrset {
            owner: owner.clone(),
            rtype,
        });
        for rrset in in_file {
            for rdata in rrset.rdatas() {
                out.txn.push(Change::Add(Record {
                    owner: owner.clone(),
                    rtype,
                    ttl: rrset.ttl,
                    rdata: rdata.into(),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xfr::journal::OwnerChange;
    use crate::zone::txn::apply;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    fn zone(text: &str) -> Zone {
        let text = format!(
            "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n{text}"
        );
        crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("t.zone"),
            &n("example.org."),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .zone
    }

    fn sorted(zone: &Zone) -> Vec<Record> {
        let mut r: Vec<Record> = zone.records().collect();
        r.sort();
        r
    }

    #[test]
    fn an_edit_becomes_the_changes_that_make_the_live_zone_the_file() {
        let live = zone("www A 198.51.100.2\nold TXT \"x\"\nkeep MX 10 ns\n");
        let file = zone("www 60 A 198.51.100.2\nnew.a.b AAAA 2001:db8::1\nkeep MX 10 ns\n");
        let changes = file_changes(&file, &live, &Ownership::default());
        assert!(!changes.soa_changed);
        let applied = apply(&live, &changes.txn).unwrap();
        assert_eq!(sorted(&applied.zone), sorted(&file));
        let unchanged = file_changes(&live, &live, &Ownership::default());
        assert!(unchanged.is_empty());
        let resoa = zone("www A 198.51.100.2\nold TXT \"x\"\nkeep MX 10 ns\n");
        assert!(file_changes(&resoa, &live, &Ownership::default()).is_empty());
    }

    #[test]
    fn dynamic_records_stay_unless_the_file_takes_them_over() {
        let live = zone("web A 198.51.100.7\nweb TXT \"from docker\"\nfile A 198.51.100.2\n");
        let mut ownership = Ownership::default();
        for rtype in [Rtype::A, Rtype::TXT] {
            ownership.apply(&[OwnerChange {
                owner: n("web.example.org."),
                rtype,
                source: Some(Arc::from("docker")),
            }]);
        }
        // The file has neither: both stay.
        let file = zone("file A 198.51.100.2\n");
        let changes = file_changes(&file, &live, &ownership);
        assert!(changes.is_empty() && changes.takeovers.is_empty());
        // The file defines web A: it takes it over, the TXT stays.
        let file = zone("file A 198.51.100.2\nweb A 198.51.100.99\n");
        let changes = file_changes(&file, &live, &ownership);
        assert_eq!(changes.takeovers.len(), 1);
        let applied = apply(&live, &changes.txn).unwrap();
        let web = applied.zone.node(n("web.example.org.").as_wire()).unwrap();
        assert_eq!(
            web.rrset(Rtype::A).unwrap().rdatas().collect::<Vec<_>>(),
            vec![&[198, 51, 100, 99][..]]
        );
        assert!(web.rrset(Rtype::TXT).is_some());
    }

    #[test]
    fn soa_fields_other_than_the_serial_are_changes() {
        let live = zone("");
        let text = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 7200 900 604800 300\n@ NS ns\nns A 198.51.100.1\n";
        let file = crate::zone::load::load_zone_from_bytes(
            text.as_bytes(),
            std::path::Path::new("t.zone"),
            &n("example.org."),
        )
        .unwrap()
        .zone;
        assert!(file_changes(&file, &live, &Ownership::default()).soa_changed);
    }
}
