//! Catalog zones (RFC 9432, schema version 2): a zone whose records list other zones,
//! so that a secondary learns from its primary which zones to serve.
//!
//! ```text
//!  catalog.invalid.               SOA  ...
//!  catalog.invalid.               NS   invalid.            (§4.1: never resolved)
//!  version.catalog.invalid.       TXT  "2"                 (§4.2.1)
//!  <id>.zones.catalog.invalid.    PTR  example.net.        (§4.2.2, one per member)
//!  group.<id>.zones.catalog.invalid. TXT "GROUP"           (§4.4.2, if it has one)
//! ```
//!
//! The pure part of both roles: the producer's records for a set of members
//! ([`changes`]: the transaction that makes the catalog list exactly them) and the
//! consumer's reading of a catalog ([`read`]: its members, each with its unique ID, and
//! a change-of-ownership property if it has one, §5.5). The tasks that drive them are
//! `catalog_tasks`.
//!
//! The unique ID a producer gives a member (§4.2.2: "unique within the catalog") is the
//! first 8 octets of the SHA-256 of the member's lowercased wire name, in hex: the same
//! member gets the same ID after a restart, so that a consumer sees no reset (§5.6).

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// The schema version dnsd writes and reads (§4.2.1).
pub const VERSION: &str = "2";

/// TTL of the records dnsd writes (§4.1: the catalog is not for resolution; any TTL).
const TTL: u32 = 0;

/// Why a catalog zone is not read (the consumer keeps its members as they were).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// No `version` TXT, or one that is not "2" (§5.1: a consumer must not process a
    /// catalog whose schema version it does not know).
    #[error(
        "version.{catalog} TXT is {found:?}, not \"2\": the catalog is not processed (RFC 9432 §5.1)"
    )]
    Version {
        /// The catalog.
        catalog: Name,
        /// What the TXT holds, if there is one.
        found: Option<String>,
    },
}

/// One member as a catalog lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    /// Its unique ID (the label under `zones`), lowercased.
    pub id: Vec<u8>,
    /// The catalog it is to move to (`coo` property, §5.5), if any.
    pub coo: Option<Name>,
    /// Its `group` properties (§4.4.2): what the producer says of it, for a consumer
    /// to pick the member's settings by.
    pub groups: Vec<String>,
}

/// The members a producer lists: each zone, with the group it is given, if any.
pub type Members = BTreeMap<Name, Option<String>>;

/// The unique ID dnsd gives `member` (see the module documentation).
pub fn member_id(member: &Name) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, member.to_lowercase().as_wire());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `zones.<catalog>`.
fn zones_name(catalog: &Name) -> Option<Name> {
    catalog.prepend_label(b"zones").ok()
}

/// The records of a catalog listing `members` (besides its SOA and NS), each with its
/// group property (§4.4.2) when it has one.
pub fn records(catalog: &Name, members: &Members) -> Vec<Record> {
    let mut out = Vec::new();
    if let Ok(owner) = catalog.prepend_label(b"version") {
        out.push(Record {
            owner,
            rtype: Rtype::TXT,
            ttl: TTL,
            rdata: txt_rdata(VERSION),
        });
    }
    let Some(zones) = zones_name(catalog) else {
        return out;
    };
    for (member, group) in members {
        let Ok(owner) = zones.prepend_label(member_id(member).as_bytes()) else {
            continue;
        };
        if let Some(group) = group
            && let Ok(property) = owner.prepend_label(b"group")
        {
            out.push(Record {
                owner: property,
                rtype: Rtype::TXT,
                ttl: TTL,
                rdata: txt_rdata(group),
            });
        }
        out.push(Record {
            owner,
            rtype: Rtype::PTR,
            ttl: TTL,
            rdata: member.to_lowercase().as_wire().into(),
        });
    }
    out
}

/// A TXT RDATA of one string (`text` is at most 255 octets: the configuration
/// checks a group's length; a longer one is cut).
fn txt_rdata(text: &str) -> Box<[u8]> {
    let bytes = &text.as_bytes()[..text.len().min(255)];
    let mut rdata = vec![bytes.len() as u8];
    rdata.extend_from_slice(bytes);
    rdata.into()
}

/// The transaction that makes `current` (the catalog zone as served) list exactly
/// `members` with their groups, and the version record; empty when it already does.
pub fn changes(current: &Zone, members: &Members) -> Transaction {
    let catalog = current.apex();
    let want: BTreeSet<(Name, Rtype, Box<[u8]>)> = records(catalog, members)
        .into_iter()
        .map(|r| (r.owner.to_lowercase(), r.rtype, r.rdata))
        .collect();
    let have: BTreeSet<(Name, Rtype, Box<[u8]>)> = current
        .records()
        .filter(|r| r.owner.to_lowercase() != *catalog)
        .map(|r| (r.owner.to_lowercase(), r.rtype, r.rdata))
        .collect();
    let mut txn = Transaction::new();
    for (owner, rtype, rdata) in have.difference(&want) {
        txn.changes.push(Change::Remove(Record {
            owner: owner.clone(),
            rtype: *rtype,
            ttl: TTL,
            rdata: rdata.clone(),
        }));
    }
    for (owner, rtype, rdata) in want.difference(&have) {
        txn.changes.push(Change::Add(Record {
            owner: owner.clone(),
            rtype: *rtype,
            ttl: TTL,
            rdata: rdata.clone(),
        }));
    }
    txn
}

/// Reads the members of a catalog zone (§4.2.2, §5.5): each PTR at
/// `<id>.zones.<catalog>`, with the `coo` PTR at `coo.<id>.zones.<catalog>` and the
/// `group` TXTs at `group.<id>.zones.<catalog>` (§4.4.2). A member listed twice keeps
/// its first ID in canonical order (§4.2.2: a producer must not list a zone twice; a
/// consumer ignores the duplicates). Custom properties are ignored.
pub fn read(zone: &Zone) -> Result<BTreeMap<Name, Member>, CatalogError> {
    let catalog = zone.apex().to_lowercase();
    let version = catalog
        .prepend_label(b"version")
        .ok()
        .and_then(|owner| {
            zone.records()
                .find(|r| r.rtype == Rtype::TXT && r.owner.to_lowercase() == owner)
        })
        .map(|r| txt_text(&r.rdata));
    if version.as_deref() != Some(VERSION) {
        return Err(CatalogError::Version {
            catalog,
            found: version,
        });
    }
    let Some(zones) = zones_name(&catalog) else {
        return Ok(BTreeMap::new());
    };
    let below = |owner: &Name, depth: usize| {
        owner.is_subdomain_of(&zones) && owner.label_count() == zones.label_count() + depth
    };
    let mut members: BTreeMap<Name, Member> = BTreeMap::new();
    let mut ids: BTreeMap<Vec<u8>, Name> = BTreeMap::new();
    let mut coos: BTreeMap<Vec<u8>, Name> = BTreeMap::new();
    let mut groups: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for record in zone.records() {
        if record.rtype == Rtype::TXT {
            let owner = record.owner.to_lowercase();
            let mut labels = owner.labels();
            if below(&owner, 2)
                && labels
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(b"group"))
                && let Some(member_id) = labels.next()
            {
                groups
                    .entry(member_id.to_vec())
                    .or_default()
                    .push(txt_text(&record.rdata));
            }
            continue;
        }
        if record.rtype != Rtype::PTR {
            continue;
        }
        let owner = record.owner.to_lowercase();
        let Ok(target) = Name::from_wire(&record.rdata).map(|n| n.to_lowercase()) else {
            continue;
        };
        let Some(id) = owner.labels().next().map(<[u8]>::to_vec) else {
            continue;
        };
        if below(&owner, 1) {
            if members.contains_key(&target) || ids.contains_key(&id) {
                tracing::warn!(catalog = %catalog, member = %target, "member listed twice; the second is ignored (RFC 9432 §4.2.2)");
                continue;
            }
            ids.insert(id.clone(), target.clone());
            members.insert(
                target,
                Member {
                    id,
                    ..Member::default()
                },
            );
        } else if below(&owner, 2)
            && id.eq_ignore_ascii_case(b"coo")
            && let Some(member_id) = owner.labels().nth(1)
        {
            coos.insert(member_id.to_vec(), target);
        }
    }
    for (id, coo) in coos {
        if let Some(member) = ids.get(&id).and_then(|m| members.get_mut(m)) {
            member.coo = Some(coo);
        }
    }
    for (id, mut texts) in groups {
        if let Some(member) = ids.get(&id).and_then(|m| members.get_mut(m)) {
            texts.sort();
            member.groups = texts;
        }
    }
    Ok(members)
}

/// The text of a TXT RDATA's strings, joined.
fn txt_text(rdata: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        out.push_str(&String::from_utf8_lossy(&tail[..len]));
        rest = &tail[len..];
    }
    out
}

/// What a consumer does with one catalog's new member list, given the members it
/// serves now from each catalog (`owned`: member → (catalog, ID)).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Members to start serving (pulled from this catalog's primaries).
    pub add: Vec<Name>,
    /// Members to stop serving (their state removed).
    pub remove: Vec<Name>,
    /// Members whose ID changed (§5.6): their data dropped, transferred again.
    pub reset: Vec<Name>,
    /// Members another catalog owns, and which do not point here with `coo`: left to
    /// that catalog (§5.4, §5.5).
    pub refused: Vec<Name>,
}

/// Plans a consumer's changes for catalog `catalog`, which now lists `listed`.
/// `owned`: every member served from a catalog, with its catalog and ID; `previous`:
/// what `catalog` listed before (for the `coo` of a member that left it).
pub fn plan(
    catalog: &Name,
    listed: &BTreeMap<Name, Member>,
    owned: &BTreeMap<Name, (Name, Vec<u8>)>,
    coo_of: &dyn Fn(&Name, &Name) -> Option<Name>,
) -> Plan {
    let mut plan = Plan::default();
    for (member, entry) in listed {
        match owned.get(member) {
            None => plan.add.push(member.clone()),
            Some((owner, id)) if owner == catalog => {
                if *id != entry.id {
                    plan.reset.push(member.clone());
                }
            }
            // §5.5: another catalog's member moves here only when that catalog's
            // entry names this one with `coo`.
            Some((owner, _)) => {
                if coo_of(owner, member).as_ref() == Some(catalog) {
                    plan.reset.push(member.clone());
                } else {
                    plan.refused.push(member.clone());
                }
            }
        }
    }
    for (member, (owner, _)) in owned {
        if owner == catalog && !listed.contains_key(member) {
            plan.remove.push(member.clone());
        }
    }
    plan
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
