//! Aggressive use of the DNSSEC-validated cache (RFC 8198): a name that an NSEC
//! record already in the cache proves absent is answered NXDOMAIN (or NODATA) from
//! the cache, with no query upstream.
//!
//! - **Where the NSEC records live**: in the cache, as RRsets of their own (owner,
//!   NSEC), with their RRSIGs: the storage the wildcard proofs use (`cache.rs`), so a
//!   proof learnt from a wildcard answer and one learnt from an NXDOMAIN are one
//!   entry. The zone's SOA (with its RRSIGs) is kept as an RRset too, for the
//!   authority section (RFC 8198 §5.1, RFC 2308 §3).
//! - **The index** (here): per zone, the owners of those NSEC RRsets in canonical
//!   order (RFC 4034 §6.1), so the NSEC that covers a name is the greatest owner at or
//!   before it. The index holds names only; the records are read from the cache at
//!   use, so what the cache evicted or a flush dropped is not used (the owner is then
//!   forgotten here too). Bounded by a count: past it, the index starts afresh.
//! - **Only validated data** (§4): owners are learnt from answers the validator found
//!   secure, and every synthesized answer is validated again (signatures, keys, the
//!   proof) before it is sent, by the same code as an answer from upstream.
//! - **Not synthesized**: an NSEC at a delegation (NS without SOA) or at a DNAME denies
//!   nothing below it (RFC 4035 §5.4, RFC 6672 §5.3.2 via RFC 8198 §5.1); an existing
//!   wildcard (positive synthesis, §5.3, is left to upstream); NSEC3 (hashed owners,
//!   another index): asked upstream as before.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::cache::{Cache, CachedRrset, Rank};
use super::classify::signatures_of;
use super::iterator::Resolution;
use super::records::rrsets;
use super::validator::{nsec, nsec_covers, rrsig};

/// The owners of validated NSEC RRsets, per zone.
pub struct Aggressive {
    zones: RwLock<HashMap<Name, BTreeSet<Name>>>,
    /// Most owners held (all zones); past it the index starts afresh.
    limit: usize,
}

/// One cached NSEC RRset: owner, next name, types, and the records with RRSIGs.
struct CachedNsec {
    owner: Name,
    next: Name,
    types: Vec<RecordType>,
    records: Vec<Record>,
}

impl CachedNsec {
    /// Whether it sits at a zone cut (NS without SOA) or a DNAME: it then says nothing
    /// of names below it.
    fn ends_zone_data(&self) -> bool {
        (self.types.contains(&RecordType::NS) && !self.types.contains(&RecordType::SOA))
            || self
                .types
                .contains(&RecordType::from(super::classify::DNAME))
    }
}

impl Aggressive {
    /// An index of at most `limit` owners.
    pub fn new(limit: usize) -> Self {
        Self {
            zones: RwLock::new(HashMap::new()),
            limit: limit.max(64),
        }
    }

    /// Learns the NSEC RRsets of `authority`, a section the validator found secure
    /// (a negative answer's, or a wildcard answer's proof): indexes their owners under
    /// the zone that signed them and, with `store` (a negative answer, which the cache
    /// keeps whole), stores them and the SOA in `cache` as RRsets of their own (a
    /// wildcard answer's proof is there already).
    pub fn learn(&self, cache: &Cache, authority: &[Record], store: bool, now: u64) {
        let mut learnt: Vec<(Name, Name)> = Vec::new();
        let mut proof: Vec<Record> = Vec::new();
        for (owner, rtype, records) in rrsets(authority) {
            let signatures = signatures_of(authority, &owner, rtype);
            let Some(zone) = signatures
                .iter()
                .filter_map(rrsig)
                .map(|s| s.input().signer_name.to_lowercase())
                .find(|signer| signer.zone_of(&owner))
            else {
                continue;
            };
            match rtype {
                RecordType::NSEC => {
                    proof.extend(records);
                    proof.extend(signatures);
                    learnt.push((zone, owner.to_lowercase()));
                }
                RecordType::SOA if store && zone == owner.to_lowercase() => cache.put_rrset(
                    CachedRrset {
                        records,
                        signatures,
                        rank: Rank::Authority,
                        proof: Vec::new(),
                    },
                    now,
                ),
                _ => {}
            }
        }
        if learnt.is_empty() {
            return;
        }
        if store {
            cache.put_proof_rrsets(&proof, now);
        }
        let known = self.zones.read().is_ok_and(|zones| {
            learnt
                .iter()
                .all(|(zone, owner)| zones.get(zone).is_some_and(|owners| owners.contains(owner)))
        });
        if known {
            return;
        }
        let Ok(mut zones) = self.zones.write() else {
            return;
        };
        let held: usize = zones.values().map(BTreeSet::len).sum();
        if held + learnt.len() > self.limit {
            zones.clear();
        }
        for (zone, owner) in learnt {
            zones.entry(zone).or_default().insert(owner);
        }
    }

    /// Forgets everything (a cache flush).
    pub fn clear(&self) {
        if let Ok(mut zones) = self.zones.write() {
            zones.clear();
        }
    }

    /// The negative answer to (`name`, `qtype`) that cached, validated NSEC records
    /// prove (RFC 8198 §5.1-5.2), not yet validated again; None when they prove
    /// nothing, or something this module does not synthesize.
    pub fn synthesize(
        &self,
        cache: &Cache,
        name: &Name,
        qtype: RecordType,
        now: u64,
    ) -> Option<Resolution> {
        let name = name.to_lowercase();
        // RFC 4035 §3.1.4.1: a DS lives in the parent zone, never the child's apex.
        let from = match qtype {
            RecordType::DS if !name.is_root() => name.base_name(),
            _ => name.clone(),
        };
        let (zone, covering) = self.covering_owner(&from, &name)?;
        let Some(cover) = read_nsec(cache, &zone, &covering, now) else {
            self.forget(&zone, &covering);
            return None;
        };
        let mut proofs = vec![];
        let rcode = if cover.owner == name {
            // RFC 4035 §3.1.3.1: the name exists without the type (nor a CNAME); at a
            // zone cut the parent's NSEC speaks for the DS only.
            let cut =
                cover.types.contains(&RecordType::NS) && !cover.types.contains(&RecordType::SOA);
            if cover.types.contains(&qtype)
                || cover.types.contains(&RecordType::CNAME)
                || (cut && qtype != RecordType::DS)
            {
                return None;
            }
            proofs.push(cover);
            ResponseCode::NoError
        } else {
            if !nsec_covers(&cover.owner, &cover.next, &name)
                || (cover.owner.zone_of(&name) && cover.ends_zone_data())
            {
                return None;
            }
            if name.zone_of(&cover.next) {
                // RFC 4035 §3.1.3.2: an empty non-terminal, the next name below it.
                proofs.push(cover);
                ResponseCode::NoError
            } else {
                // RFC 4035 §3.1.3.2 / §5.4: no name, and no wildcard at the closest
                // encloser (the longest ancestor shared with the owner or next name).
                let labels =
                    common_labels(&name, &cover.owner).max(common_labels(&name, &cover.next));
                let wildcard = name.trim_to(labels).prepend_label("*").ok()?;
                let (_, wild_owner) = self.covering_owner(&zone, &wildcard)?;
                if wild_owner == wildcard {
                    return None;
                }
                if wild_owner != cover.owner {
                    let Some(wild) = read_nsec(cache, &zone, &wild_owner, now) else {
                        self.forget(&zone, &wild_owner);
                        return None;
                    };
                    if !nsec_covers(&wild.owner, &wild.next, &wildcard) {
                        return None;
                    }
                    proofs.push(wild);
                } else if !nsec_covers(&cover.owner, &cover.next, &wildcard) {
                    return None;
                }
                proofs.insert(0, cover);
                ResponseCode::NXDomain
            }
        };
        let soa = cache.rrset(&zone, RecordType::SOA, now)?;
        // RFC 8198 §5.4, RFC 9077 §3: the negative TTL is the least of the SOA's TTL,
        // its MINIMUM and the NSEC records' TTLs.
        let ttl = soa
            .records
            .iter()
            .map(|r| match &r.data {
                hickory_proto::rr::RData::SOA(s) => r.ttl.min(s.minimum),
                _ => r.ttl,
            })
            .chain(proofs.iter().flat_map(|p| p.records.iter().map(|r| r.ttl)))
            .min()
            .unwrap_or(0);
        let mut authority: Vec<Record> = soa.records;
        authority.extend(soa.signatures);
        for record in &mut authority {
            record.ttl = record.ttl.min(ttl);
        }
        for proof in proofs {
            authority.extend(proof.records);
        }
        Some(Resolution {
            rcode,
            answer: Vec::new(),
            authority,
            ede: None,
        })
    }

    /// The deepest indexed zone at or above `from` (`name` or an ancestor), and the
    /// owner of the NSEC that covers or matches `name` there (the greatest owner at
    /// or before it in canonical order; the last one when the chain wraps).
    fn covering_owner(&self, from: &Name, name: &Name) -> Option<(Name, Name)> {
        let zones = self.zones.read().ok()?;
        let mut zone = from.clone();
        loop {
            if let Some(owners) = zones.get(&zone) {
                let owner = owners
                    .range((Bound::Unbounded, Bound::Included(name)))
                    .next_back()
                    .or_else(|| owners.iter().next_back())?;
                return Some((zone, owner.clone()));
            }
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        }
    }

    /// Forgets `owner` of `zone` (its NSEC left the cache).
    fn forget(&self, zone: &Name, owner: &Name) {
        if let Ok(mut zones) = self.zones.write()
            && let Some(owners) = zones.get_mut(zone)
        {
            owners.remove(owner);
            if owners.is_empty() {
                zones.remove(zone);
            }
        }
    }
}

/// The NSEC RRset of `zone` at `owner`, if cached and live (at a zone cut, the
/// cache may hold the other side's: signed by another zone, it is not used).
fn read_nsec(cache: &Cache, zone: &Name, owner: &Name, now: u64) -> Option<CachedNsec> {
    let rrset = cache.rrset(owner, RecordType::NSEC, now)?;
    let signed_by_zone = rrset
        .signatures
        .iter()
        .filter_map(rrsig)
        .any(|s| s.input().signer_name == *zone);
    if !signed_by_zone {
        return None;
    }
    let first = rrset.records.first()?;
    let data = nsec(first)?;
    let next = data.next_domain_name().to_lowercase();
    let types = data.type_bit_maps().collect();
    let mut records = rrset.records.clone();
    records.extend(rrset.signatures);
    Some(CachedNsec {
        owner: first.name.to_lowercase(),
        next,
        types,
        records,
    })
}

/// The number of labels `a` and `b` share from the root (case-insensitive).
fn common_labels(a: &Name, b: &Name) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count()
}

#[cfg(test)]
#[path = "aggressive_tests.rs"]
mod tests;
