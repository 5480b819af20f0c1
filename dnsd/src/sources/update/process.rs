//! RFC 2136 processing, as a pure function of the zone and the request: the
//! prerequisite section (§2.4, §3.2), the prescan of the update section (§3.4.1) and
//! its application in order (§3.4.2), giving the transaction to commit or the RCODE.
//!
//! Rules kept from §3.4.2 (BIND does the same):
//! - SOA: an added SOA is ignored (the zone manager gives every version its serial);
//!   the SOA is never deleted (§3.4.2.3, §3.4.2.4);
//! - the apex NS RRset is never deleted whole (§3.4.2.3), nor its last record
//!   (§3.4.2.4);
//! - CNAME (§3.4.2.2): a CNAME is not added to a name with other data, other data is
//!   not added to a name with a CNAME (ignored, not an error);
//! - an added record that exists already only sets the RRset's TTL.

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::message::rcode;
use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Rtype, Zone};

/// Class NONE (RFC 2136 §1.3).
pub const CLASS_NONE: u16 = 254;
/// Class ANY.
pub const CLASS_ANY: u16 = 255;
/// Type ANY.
const TYPE_ANY: Rtype = Rtype(255);

/// One record of the prerequisite or update section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    /// Owner, as sent.
    pub owner: Name,
    /// Type.
    pub rtype: Rtype,
    /// Class (the zone's, ANY or NONE).
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA, uncompressed wire format (empty for ANY/NONE deletions).
    pub rdata: Box<[u8]>,
}

/// The state of the RRsets an update touched: (owner, type) → (TTL, RDATAs); an
/// empty set is a deleted RRset.
type Touched = BTreeMap<(Name, Rtype), (u32, BTreeSet<Box<[u8]>>)>;

/// Checks the prerequisites against `zone` (§3.2): Ok, or the RCODE.
pub fn check_prerequisites(zone: &Zone, zclass: u16, prereqs: &[Rr]) -> Result<(), u16> {
    let apex = zone.apex();
    // Value-dependent prerequisites, grouped into RRsets (§3.2.3).
    let mut wanted: BTreeMap<(Name, Rtype), BTreeSet<&[u8]>> = BTreeMap::new();
    for rr in prereqs {
        let owner = rr.owner.to_lowercase();
        if rr.ttl != 0 {
            return Err(rcode::FORMERR);
        }
        if !owner.is_subdomain_of(apex) {
            return Err(NOTZONE);
        }
        let node = zone.node(owner.as_wire());
        let in_use = node.is_some_and(|n| n.rrsets().next().is_some());
        match rr.class {
            CLASS_ANY => {
                if !rr.rdata.is_empty() {
                    return Err(rcode::FORMERR);
                }
                if rr.rtype == TYPE_ANY {
                    if !in_use {
                        return Err(rcode::NXDOMAIN);
                    }
                } else if node.and_then(|n| n.rrset(rr.rtype)).is_none() {
                    return Err(NXRRSET);
                }
            }
            CLASS_NONE => {
                if !rr.rdata.is_empty() {
                    return Err(rcode::FORMERR);
                }
                if rr.rtype == TYPE_ANY {
                    if in_use {
                        return Err(rcode::YXDOMAIN);
                    }
                } else if node.and_then(|n| n.rrset(rr.rtype)).is_some() {
                    return Err(YXRRSET);
                }
            }
            c if c == zclass => {
                if rr.rtype.is_meta() || rr.rtype == TYPE_ANY {
                    return Err(rcode::FORMERR);
                }
                wanted
                    .entry((owner, rr.rtype))
                    .or_default()
                    .insert(&rr.rdata[..]);
            }
            _ => return Err(rcode::FORMERR),
        }
    }
    for ((owner, rtype), rdatas) in wanted {
        let have: BTreeSet<&[u8]> = zone
            .node(owner.as_wire())
            .and_then(|n| n.rrset(rtype))
            .map(|r| r.rdatas().collect())
            .unwrap_or_default();
        if have != rdatas {
            return Err(NXRRSET);
        }
    }
    Ok(())
}

/// YXRRSET (RFC 2136 §2.2).
pub const YXRRSET: u16 = 7;
/// NXRRSET.
pub const NXRRSET: u16 = 8;
/// NOTZONE.
pub const NOTZONE: u16 = 10;

/// The prescan of the update section (§3.4.1): Ok, or the RCODE.
pub fn prescan(apex: &Name, zclass: u16, updates: &[Rr]) -> Result<(), u16> {
    for rr in updates {
        if !rr.owner.to_lowercase().is_subdomain_of(apex) {
            return Err(NOTZONE);
        }
        let meta = rr.rtype.is_meta() || rr.rtype == TYPE_ANY;
        match rr.class {
            c if c == zclass => {
                if meta {
                    return Err(rcode::FORMERR);
                }
            }
            CLASS_ANY => {
                if rr.ttl != 0 || !rr.rdata.is_empty() || (meta && rr.rtype != TYPE_ANY) {
                    return Err(rcode::FORMERR);
                }
            }
            CLASS_NONE => {
                if rr.ttl != 0 || meta {
                    return Err(rcode::FORMERR);
                }
            }
            _ => return Err(rcode::FORMERR),
        }
    }
    Ok(())
}

/// Applies the update section to `zone` in order (§3.4.2) and returns the changes:
/// the final state of each RRset that changed (empty when nothing did).
pub fn apply_updates(zone: &Zone, zclass: u16, updates: &[Rr]) -> Transaction {
    let apex = zone.apex().clone();
    let mut touched: Touched = BTreeMap::new();
    // The current state of (owner, type), through what this update did so far.
    fn load<'t>(
        touched: &'t mut Touched,
        zone: &Zone,
        owner: &Name,
        rtype: Rtype,
    ) -> &'t mut (u32, BTreeSet<Box<[u8]>>) {
        touched.entry((owner.clone(), rtype)).or_insert_with(|| {
            zone.node(owner.as_wire())
                .and_then(|n| n.rrset(rtype))
                .map(|r| (r.ttl, r.rdatas().map(Box::from).collect()))
                .unwrap_or((0, BTreeSet::new()))
        })
    }
    let types_at = |touched: &Touched, owner: &Name| -> BTreeSet<Rtype> {
        let mut types: BTreeSet<Rtype> = zone
            .node(owner.as_wire())
            .map(|n| n.rrsets().map(|r| r.rtype).collect())
            .unwrap_or_default();
        for ((o, t), (_, rdatas)) in
            touched.range((owner.clone(), Rtype(0))..=(owner.clone(), Rtype(u16::MAX)))
        {
            debug_assert_eq!(o, owner);
            if rdatas.is_empty() {
                types.remove(t);
            } else {
                types.insert(*t);
            }
        }
        types
    };
    for rr in updates {
        let owner = rr.owner.to_lowercase();
        let at_apex = owner == apex;
        match rr.class {
            c if c == zclass => {
                if rr.rtype == Rtype::SOA {
                    continue;
                }
                let types = types_at(&touched, &owner);
                let dnssec = |t: &Rtype| matches!(*t, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3);
                if rr.rtype == Rtype::CNAME
                    && types.iter().any(|t| *t != Rtype::CNAME && !dnssec(t))
                {
                    continue;
                }
                if rr.rtype != Rtype::CNAME && !dnssec(&rr.rtype) && types.contains(&Rtype::CNAME) {
                    continue;
                }
                let set = load(&mut touched, zone, &owner, rr.rtype);
                if rr.rtype == Rtype::CNAME {
                    // One CNAME per name: a new one replaces the old (BIND does this).
                    set.1.clear();
                }
                set.0 = rr.ttl;
                set.1.insert(rr.rdata.clone());
            }
            CLASS_ANY if rr.rtype == TYPE_ANY => {
                for t in types_at(&touched, &owner) {
                    if at_apex && (t == Rtype::SOA || t == Rtype::NS) {
                        continue;
                    }
                    load(&mut touched, zone, &owner, t).1.clear();
                }
            }
            CLASS_ANY => {
                if at_apex && (rr.rtype == Rtype::SOA || rr.rtype == Rtype::NS) {
                    continue;
                }
                load(&mut touched, zone, &owner, rr.rtype).1.clear();
            }
            CLASS_NONE => {
                if rr.rtype == Rtype::SOA {
                    continue;
                }
                let set = load(&mut touched, zone, &owner, rr.rtype);
                if at_apex && rr.rtype == Rtype::NS && set.1.len() == 1 && set.1.contains(&rr.rdata)
                {
                    continue;
                }
                set.1.remove(&rr.rdata);
            }
            _ => {}
        }
    }
    let mut txn = Transaction::new();
    for ((owner, rtype), (ttl, rdatas)) in touched {
        let before = zone.node(owner.as_wire()).and_then(|n| n.rrset(rtype));
        let unchanged = match before {
            Some(r) => {
                r.ttl == ttl
                    && r.rdatas().collect::<BTreeSet<&[u8]>>()
                        == rdatas.iter().map(|b| &**b).collect()
            }
            None => rdatas.is_empty(),
        };
        if unchanged {
            continue;
        }
        if rdatas.is_empty() {
            txn.push(Change::RemoveRrset { owner, rtype });
        } else {
            txn.push(Change::Replace {
                owner,
                rtype,
                ttl,
                rdatas: rdatas.into_iter().collect(),
            });
        }
    }
    txn
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
