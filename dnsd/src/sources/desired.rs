//! Desired RRsets to a transaction: what a dynamic source that knows its whole state
//! (the container engines, say) wants a zone to hold, compared with what the zone
//! holds and what the source owns there (`manager::ownership`), becomes the
//! transaction that moves the zone there — nothing when nothing differs, so that a
//! restart or a reconnect that finds the same containers commits no version.
//!
//! The zone file wins every conflict (issue 10): a name at which the zone holds an
//! RRset that the source does not own (the file's, or another source's) is left
//! alone, and reported as a conflict so that the caller logs and counts it.

use std::collections::BTreeMap;

use crate::manager::Ownership;
use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Rtype, Zone};

/// One RRset a source wants: its TTL and RDATAs (sorted, no duplicates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsetWant {
    /// The TTL.
    pub ttl: u32,
    /// The RDATAs in wire format.
    pub rdatas: Vec<Box<[u8]>>,
}

/// Every RRset a source wants in one zone, by (lowercased owner, type).
pub type Desired = BTreeMap<(Name, Rtype), RrsetWant>;

/// What moves a zone to what a source wants.
#[derive(Debug, Default)]
pub struct Plan {
    /// The changes (empty: the zone holds what the source wants).
    pub txn: Transaction,
    /// Names the source wants but does not get: the zone holds data there that is not
    /// the source's (owner, and the type of one such RRset, and its owner source, None
    /// for the zone file).
    pub conflicts: Vec<(Name, Rtype, Option<String>)>,
}

/// The changes that make `zone` hold `desired` for `source`, within `apex`: RRsets it
/// wants that differ are replaced, RRsets it owns that it no longer wants are removed.
pub fn plan(zone: &Zone, ownership: &Ownership, source: &str, desired: &Desired) -> Plan {
    let mut plan = Plan::default();
    let apex = zone.apex();
    let mut blocked: BTreeMap<Name, (Rtype, Option<String>)> = BTreeMap::new();
    for ((owner, rtype), want) in desired {
        if !owner.is_subdomain_of(apex) {
            continue;
        }
        let node = zone.node(owner.as_wire());
        // A name with data that is not ours: the file (or another source) wins.
        let foreign = node.and_then(|n| {
            n.rrsets()
                .find_map(|r| match ownership.owner_of(owner, r.rtype) {
                    Some(s) if &**s == source => None,
                    Some(s) => Some((r.rtype, Some(s.to_string()))),
                    None => Some((r.rtype, None)),
                })
        });
        if let Some(found) = foreign {
            blocked.entry(owner.clone()).or_insert(found);
            continue;
        }
        let same = node.and_then(|n| n.rrset(*rtype)).is_some_and(|r| {
            r.ttl == want.ttl && {
                let mut have: Vec<&[u8]> = r.rdatas().collect();
                have.sort();
                have.len() == want.rdatas.len()
                    && have.iter().zip(&want.rdatas).all(|(a, b)| *a == &**b)
            }
        });
        if !same {
            plan.txn.push(Change::Replace {
                owner: owner.clone(),
                rtype: *rtype,
                ttl: want.ttl,
                rdatas: want.rdatas.clone(),
            });
        }
    }
    for (owner, rtype, owned_by) in ownership.iter() {
        if &**owned_by != source || !owner.is_subdomain_of(apex) {
            continue;
        }
        if !desired.contains_key(&(owner.clone(), rtype)) {
            plan.txn.push(Change::RemoveRrset {
                owner: owner.clone(),
                rtype,
            });
        }
    }
    plan.conflicts = blocked
        .into_iter()
        .map(|(owner, (rtype, by))| (owner, rtype, by))
        .collect();
    plan
}

/// Adds `rdata` to the RRset (owner, rtype) of `desired`, keeping RDATAs sorted and
/// unique; the lowest TTL asked for wins.
pub fn want(desired: &mut Desired, owner: Name, rtype: Rtype, ttl: u32, rdata: Box<[u8]>) {
    let entry = desired
        .entry((owner.to_lowercase(), rtype))
        .or_insert(RrsetWant {
            ttl,
            rdatas: Vec::new(),
        });
    entry.ttl = entry.ttl.min(ttl);
    if let Err(at) = entry.rdatas.binary_search(&rdata) {
        entry.rdatas.insert(at, rdata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xfr::journal::OwnerChange;
    use crate::zone::Record;
    use std::sync::Arc;

    fn name(text: &str) -> Name {
        Name::from_text(text, None).expect("name")
    }

    fn zone() -> Zone {
        let apex = name("svc.test.");
        let soa = [
            &b"\x02ns\x00"[..],
            b"\x02hm\x00",
            &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
        ]
        .concat();
        let records = vec![
            Record {
                owner: apex.clone(),
                rtype: Rtype::SOA,
                ttl: 60,
                rdata: soa.into(),
            },
            Record {
                owner: name("www.svc.test."),
                rtype: Rtype::A,
                ttl: 60,
                rdata: vec![198, 51, 100, 1].into(),
            },
            Record {
                owner: name("web.svc.test."),
                rtype: Rtype::A,
                ttl: 30,
                rdata: vec![198, 51, 100, 2].into(),
            },
        ];
        Zone::build(&apex, records).expect("zone")
    }

    fn owned(owner: &str) -> Ownership {
        let mut o = Ownership::default();
        o.apply(&[OwnerChange {
            owner: name(owner),
            rtype: Rtype::A,
            source: Some(Arc::from("containers")),
        }]);
        o
    }

    #[test]
    fn the_same_records_plan_nothing_and_foreign_names_are_conflicts() {
        let zone = zone();
        let mut desired = Desired::new();
        want(
            &mut desired,
            name("web.svc.test."),
            Rtype::A,
            30,
            vec![198, 51, 100, 2].into(),
        );
        want(
            &mut desired,
            name("WWW.svc.test."),
            Rtype::AAAA,
            30,
            vec![0; 16].into(),
        );
        let plan = plan(&zone, &owned("web.svc.test."), "containers", &desired);
        assert!(plan.txn.is_empty(), "{:?}", plan.txn);
        assert_eq!(
            plan.conflicts,
            vec![(name("www.svc.test."), Rtype::A, None)]
        );
    }

    #[test]
    fn changed_records_are_replaced_and_unwanted_ones_removed() {
        let zone = zone();
        let mut desired = Desired::new();
        want(
            &mut desired,
            name("new.svc.test."),
            Rtype::A,
            30,
            vec![198, 51, 100, 3].into(),
        );
        let plan = plan(&zone, &owned("web.svc.test."), "containers", &desired);
        assert_eq!(plan.txn.changes.len(), 2, "{:?}", plan.txn);
        assert!(
            matches!(&plan.txn.changes[1], Change::RemoveRrset { owner, .. } if *owner == name("web.svc.test."))
        );
        // Another source's records are not ours to remove.
        let plan = super::plan(&zone, &owned("web.svc.test."), "api", &Desired::new());
        assert!(plan.txn.is_empty());
    }
}
