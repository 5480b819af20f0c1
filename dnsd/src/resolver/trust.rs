//! The chain of trust (RFC 4035 §5): which zones are secure, insecure or bogus, from
//! the trust anchor down, with the DS and DNSKEY RRsets fetched through the iterator;
//! and the verdict on a whole resolution (answer chain, or negative answer and its
//! proof), which becomes AD, or SERVFAIL with an EDE.
//!
//! ```text
//!  zone_keys(Z):  no anchor at or above Z ─► Z insecure
//!                 Z is the closest anchor's zone ─► DNSKEY(Z) vouched for by it
//!                 else DS(Z) from the parent P (the DS's signer) ─► zone_keys(P)
//!                     P insecure ─► Z insecure
//!                     DS signed by P ─► DNSKEY(Z) vouched for by the DS
//!                     no DS, proven by P's NSEC/NSEC3 ─► Z insecure (RFC 4035 §5.2)
//! ```
//!
//! The anchor file may name several zones (the root and a private signed zone, say):
//! a zone's chain of trust starts at the closest anchor at or above it, as Unbound
//! and BIND choose (RFC 4035 §5 leaves the choice to the resolver's policy), so a
//! zone with its own anchor is secure even below an insecure delegation.
//!
//! Verdicts per zone are kept for a while (the DNSKEY TTL, at most an hour; a minute
//! for bogus ones, as Unbound's `val-bogus-ttl`), so the keys are checked once.

use std::collections::HashMap;
use std::sync::Mutex;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::classify::{DNAME, chain_end};
use super::iterator::{Iterator, Resolution};
use super::upstream::Upstream;
use super::validator::{
    Security, denial_records, dnskey, ds, ds_denial_at_cut, ede, proves_nodata, proves_nxdomain,
    proves_wildcard_expansion, rrsig, verify_dnskeys, verify_rrset,
};

/// What is known of a zone's keys.
#[derive(Clone, Debug)]
enum Keys {
    Secure(Vec<DNSKEY>),
    Insecure,
    Bogus(u16),
}

/// Most zones walked up while building one chain of trust.
const MAX_CHAIN: usize = 32;
/// Names below a signed zone asked for their DS when looking for a cut the iterator
/// did not see (`hidden_insecure_cut`).
const MAX_HIDDEN_CUT_DEPTH: usize = 8;

/// The anchor of one zone: DS and DNSKEY records (either or both).
struct Anchor {
    zone: Name,
    ds: Vec<DS>,
    keys: Vec<DNSKEY>,
}

/// The trust anchors and what was learnt from them.
pub struct Trust {
    /// One per zone, the deepest first.
    anchors: Vec<Anchor>,
    known: Mutex<HashMap<Name, (Keys, u64)>>,
    /// Negative trust anchors (RFC 7646): domains whose data is insecure.
    insecure: Vec<Name>,
    /// Unix time (signature validity), seconds.
    unix_now: fn() -> u32,
}

impl Trust {
    /// Trust in `anchors` (DS or DNSKEY records of one zone or more, the root by
    /// default); None without any.
    pub fn new(anchors: &[Record], unix_now: fn() -> u32) -> Option<Self> {
        let mut zones: Vec<Anchor> = Vec::new();
        for record in anchors {
            let zone = record.name.to_lowercase();
            let at = match zones.iter().position(|a| a.zone == zone) {
                Some(at) => at,
                None => {
                    zones.push(Anchor {
                        zone,
                        ds: Vec::new(),
                        keys: Vec::new(),
                    });
                    zones.len() - 1
                }
            };
            zones[at].ds.extend(ds(record).cloned());
            zones[at].keys.extend(dnskey(record).cloned());
        }
        zones.retain(|a| !a.ds.is_empty() || !a.keys.is_empty());
        if zones.is_empty() && !anchors.is_empty() {
            // Records of other types only: an anchor that vouches for no key (every
            // zone under it bogus), as before several zones were read.
            zones.push(Anchor {
                zone: anchors.first()?.name.to_lowercase(),
                ds: Vec::new(),
                keys: Vec::new(),
            });
        }
        zones.first()?;
        zones.sort_by_key(|a| std::cmp::Reverse(a.zone.num_labels()));
        Some(Self {
            anchors: zones,
            known: Mutex::new(HashMap::new()),
            insecure: Vec::new(),
            unix_now,
        })
    }

    /// Forgets what was learnt of the keys of `name` and the zones below it (every
    /// zone without a name); the anchor stays.
    pub fn forget(&self, name: Option<&Name>) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|zone, _| name.is_some_and(|name| !name.zone_of(zone)));
        }
    }

    /// The anchor at or closest above `zone`, where its chain of trust starts.
    fn closest_anchor(&self, zone: &Name) -> Option<&Anchor> {
        self.anchors.iter().find(|a| a.zone.zone_of(zone))
    }

    /// The key tags of the root's anchor (its DS records' and its DNSKEYs'), for the
    /// trust-anchor sentinel (RFC 8509 §3).
    pub fn root_key_tags(&self) -> Vec<u16> {
        let Some(root) = self.anchors.iter().find(|a| a.zone.is_root()) else {
            return Vec::new();
        };
        root.ds
            .iter()
            .map(DS::key_tag)
            .chain(root.keys.iter().filter_map(|k| k.calculate_key_tag().ok()))
            .collect()
    }

    /// Negative trust anchors (RFC 7646): data at or below each of `domains` is
    /// insecure, not validated (the site's own private or differently signed zones).
    pub fn with_insecure(mut self, domains: &[Name]) -> Self {
        self.insecure = domains.iter().map(Name::to_lowercase).collect();
        self
    }

    /// The security of `resolution`, the answer to (`qname`, `qtype`).
    pub async fn judge<U: Upstream>(
        &self,
        it: &Iterator<U>,
        qname: &Name,
        qtype: RecordType,
        resolution: &Resolution,
    ) -> Security {
        if resolution.rcode == ResponseCode::ServFail {
            return Security::Insecure;
        }
        let mut verdict = Security::Secure;
        let worse = |s: Security, verdict: &mut Security| match (&*verdict, s) {
            (Security::Bogus(_), _) => {}
            (_, s @ Security::Bogus(_)) => *verdict = s,
            (_, Security::Insecure) => *verdict = Security::Insecure,
            _ => {}
        };
        let sets = rrsets(&resolution.answer);
        let dnames: Vec<&Name> = sets
            .iter()
            .filter(|(_, t, _, _)| u16::from(*t) == DNAME)
            .map(|(o, _, _, _)| o)
            .collect();
        for (owner, rtype, records, sigs) in &sets {
            if *rtype == RecordType::CNAME
                && sigs.is_empty()
                && dnames.iter().any(|d| *d != owner && d.zone_of(owner))
            {
                // RFC 6672 §5.3.1: a CNAME synthesized from a DNAME is unsigned; the
                // DNAME is what is validated.
                continue;
            }
            let zone = signer_of(sigs, owner).unwrap_or_else(|| self.zone_of(it, owner));
            let mut security = self
                .rrset_security(it, &zone, records, sigs, &resolution.authority)
                .await;
            if sigs.is_empty()
                && matches!(security, Security::Bogus(_))
                && self.hidden_insecure_cut(it, &zone, owner).await
            {
                security = Security::Insecure;
            }
            worse(security, &mut verdict);
        }
        let end = chain_end(&resolution.answer, qname);
        // RRSIG records asked for (RFC 4035 §3.2.1's meta type) are grouped with the
        // RRsets they cover in `sets`: an answer of them is positive too, no denial.
        let positive = sets.iter().any(|(o, t, _, _)| *t == qtype && *o == end)
            || resolution
                .answer
                .iter()
                .any(|r| r.record_type() == qtype && r.name == end);
        if !positive {
            let security = self.negative_security(it, &end, qtype, resolution).await;
            worse(security, &mut verdict);
        }
        verdict
    }

    /// The security of one RRset of the answer section; `authority` holds the proofs
    /// of wildcard expansions.
    async fn rrset_security<U: Upstream>(
        &self,
        it: &Iterator<U>,
        zone: &Name,
        records: &[Record],
        sigs: &[Record],
        authority: &[Record],
    ) -> Security {
        match self.zone_keys(it, zone).await {
            Keys::Insecure => Security::Insecure,
            Keys::Bogus(code) => Security::Bogus(code),
            Keys::Secure(keys) => match verify_rrset(records, sigs, &keys, zone, (self.unix_now)())
            {
                Ok(labels) => match records.first() {
                    Some(first) if labels < first.name.num_labels() => {
                        self.wildcard_security(zone, &keys, &first.name, labels, authority)
                    }
                    _ => Security::Secure,
                },
                Err(code) => Security::Bogus(code),
            },
        }
    }

    /// RFC 4035 §5.3.4: an RRset of `zone` at `name` expanded from a wildcard (its
    /// signature's `labels`) is secure only with a proof, signed by the zone, that
    /// `name` itself does not exist; without one it is bogus (EDE 12, NSEC Missing).
    fn wildcard_security(
        &self,
        zone: &Name,
        keys: &[DNSKEY],
        name: &Name,
        labels: u8,
        authority: &[Record],
    ) -> Security {
        let now = (self.unix_now)();
        let verified: Vec<Record> = rrsets(authority)
            .into_iter()
            .filter(|(owner, rtype, _, _)| {
                zone.zone_of(owner) && matches!(rtype, RecordType::NSEC | RecordType::NSEC3)
            })
            .filter(|(_, _, records, sigs)| verify_rrset(records, sigs, keys, zone, now).is_ok())
            .flat_map(|(_, _, records, _)| records)
            .collect();
        match proves_wildcard_expansion(zone, name, labels, &verified) {
            Ok(true) => Security::Secure,
            Ok(false) => Security::Bogus(ede::NSEC_MISSING),
            Err(security) => security,
        }
    }

    /// The security of a negative answer: its SOA and proofs verified, and the proof
    /// itself checked. The zone that must prove it is the SOA's owner; without a
    /// SOA (some servers leave it out, and an attacker can strip it), the signer of
    /// its NSEC/NSEC3 records that holds the name, as Unbound's `val_find_signer`
    /// takes it; with neither, the zone holding the name ([`Self::unproven`]).
    async fn negative_security<U: Upstream>(
        &self,
        it: &Iterator<U>,
        name: &Name,
        qtype: RecordType,
        resolution: &Resolution,
    ) -> Security {
        let authority = &resolution.authority;
        let soa = authority
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name.clone());
        let Some(zone) = soa.or_else(|| proof_signer(authority, name)) else {
            return self.unproven(it, name).await;
        };
        let keys = match self.zone_keys(it, &zone).await {
            Keys::Insecure => return Security::Insecure,
            Keys::Bogus(code) => return Security::Bogus(code),
            Keys::Secure(keys) => keys,
        };
        let mut expanded = Vec::new();
        for (owner, rtype, records, sigs) in rrsets(authority) {
            if !zone.zone_of(&owner) {
                continue;
            }
            match verify_rrset(&records, &sigs, &keys, &zone, (self.unix_now)()) {
                Err(code) => return Security::Bogus(code),
                Ok(labels) if rtype == RecordType::NSEC && labels < owner.num_labels() => {
                    expanded.push(owner);
                }
                Ok(_) => {}
            }
        }
        let authority = &denial_records(authority, &expanded);
        let proof = if resolution.rcode == ResponseCode::NXDomain {
            proves_nxdomain(&zone, name, authority)
        } else {
            proves_nodata(&zone, name, qtype, authority)
        };
        match proof {
            Ok(true) => Security::Secure,
            Ok(false) => Security::Bogus(ede::NSEC_MISSING),
            Err(security) => security,
        }
    }

    /// The security of a negative answer about `name` that carries neither a SOA nor
    /// a signed NSEC/NSEC3 record: judged by the keys of the zone holding `name`
    /// (the closest cut the iterator knows, or a closer anchor) and the insecure
    /// delegations known or found below it, as Unbound judges it (no signer: the
    /// key lookup goes to the name itself, DS by DS). In a signed zone such an answer
    /// is bogus (RFC 4035 §5.4: a negative answer needs its proof, EDE 12): a server
    /// or an attacker that strips the SOA and the proof does not make it insecure.
    async fn unproven<U: Upstream>(&self, it: &Iterator<U>, name: &Name) -> Security {
        let mut zone = self.zone_of(it, name);
        if let Some(anchor) = self.closest_anchor(name)
            && zone.zone_of(&anchor.zone)
        {
            // Below the cuts the iterator knows (a forwarded zone): the anchor.
            zone = anchor.zone.clone();
        }
        match self.zone_keys(it, &zone).await {
            Keys::Insecure => Security::Insecure,
            Keys::Bogus(code) => Security::Bogus(code),
            Keys::Secure(_) if self.hidden_insecure_cut(it, &zone, name).await => {
                Security::Insecure
            }
            Keys::Secure(_) => Security::Bogus(ede::NSEC_MISSING),
        }
    }

    /// Whether an insecure delegation lies between `zone` and `owner` that the
    /// iterator did not see (a server for both parent and child answers from the
    /// child): asks for the DS of each name below `zone` down to `owner`, as Unbound
    /// does for unsigned data in a signed zone (RFC 4035 §4.3, §5.2).
    async fn hidden_insecure_cut<U: Upstream>(
        &self,
        it: &Iterator<U>,
        zone: &Name,
        owner: &Name,
    ) -> bool {
        let top = usize::from(zone.num_labels());
        let bottom = usize::from(owner.num_labels());
        if !zone.zone_of(owner) || bottom <= top {
            return false;
        }
        for labels in (top + 1..=bottom).take(MAX_HIDDEN_CUT_DEPTH) {
            let name = owner.trim_to(labels);
            match self.zone_keys(it, &name).await {
                Keys::Insecure => return true,
                Keys::Bogus(_) => return false,
                Keys::Secure(_) => {}
            }
        }
        false
    }

    /// The zone `owner` belongs to, for an unsigned RRset: the closest ancestor whose
    /// NS RRset the iterator cached (every cut it descended through).
    fn zone_of<U: Upstream>(&self, it: &Iterator<U>, owner: &Name) -> Name {
        let now = (it.clock)();
        let mut zone = owner.clone();
        while !zone.is_root() {
            if it.cache.rrset(&zone, RecordType::NS, now).is_some() {
                return zone;
            }
            zone = zone.base_name();
        }
        zone
    }

    /// The keys of `zone`, following the chain of trust up as far as needed.
    async fn zone_keys<U: Upstream>(&self, it: &Iterator<U>, zone: &Name) -> Keys {
        let zone = zone.to_lowercase();
        let now = (it.clock)();
        if let Some((keys, expires)) = self.known.lock().ok().and_then(|k| k.get(&zone).cloned())
            && expires > now
        {
            return keys;
        }
        let Some(anchor) = self.closest_anchor(&zone) else {
            // Outside every anchor's tree: nothing vouches for it.
            return Keys::Insecure;
        };
        if self.insecure.iter().any(|d| d.zone_of(&zone)) {
            // Under a negative trust anchor.
            return Keys::Insecure;
        }
        // Walk up to the closest zone whose keys are known (or the anchor), then down.
        let mut path = vec![zone.clone()];
        let mut keys = None;
        for _ in 0..MAX_CHAIN {
            let Some(top) = path.last().cloned() else {
                break;
            };
            if top == anchor.zone {
                let state = self.anchor_keys_state(it, anchor).await;
                self.remember(&top, &state, now);
                path.pop();
                keys = Some(state);
                break;
            }
            let ds = it.resolve(&top, RecordType::DS).await;
            let parent = signer_of(&sigs_in(&ds.answer), &top)
                .or_else(|| soa_owner(&ds.authority))
                .filter(|p| *p != top && p.zone_of(&top))
                .unwrap_or_else(|| top.base_name());
            // The chain starts at the anchor, never above it.
            let parent = match anchor.zone.zone_of(&parent) {
                true => parent,
                false => anchor.zone.clone(),
            };
            let known = self.known.lock().ok().and_then(|k| k.get(&parent).cloned());
            match known {
                Some((state, expires)) if expires > now => {
                    keys = Some(state);
                    break;
                }
                _ => path.push(parent),
            }
        }
        let mut state = keys.unwrap_or(Keys::Bogus(ede::BOGUS));
        while let Some(child) = path.pop() {
            state = self.child_keys(it, &child, state).await;
            self.remember(&child, &state, now);
        }
        state
    }

    fn remember(&self, zone: &Name, state: &Keys, now: u64) {
        let ttl = match state {
            Keys::Secure(_) => 3600,
            Keys::Insecure => 3600,
            Keys::Bogus(_) => 60,
        };
        if let Ok(mut known) = self.known.lock() {
            known.insert(zone.clone(), (state.clone(), now + ttl));
        }
    }

    /// The keys of `anchor`'s zone, vouched for by the anchor.
    async fn anchor_keys_state<U: Upstream>(&self, it: &Iterator<U>, anchor: &Anchor) -> Keys {
        let resolution = it.resolve(&anchor.zone, RecordType::DNSKEY).await;
        let (records, sigs) = split(&resolution.answer, RecordType::DNSKEY);
        match verify_dnskeys(
            &anchor.zone,
            &records,
            &sigs,
            &anchor.ds,
            &anchor.keys,
            (self.unix_now)(),
        ) {
            Ok(keys) => Keys::Secure(keys),
            Err(Security::Insecure) => Keys::Insecure,
            Err(Security::Bogus(code)) => Keys::Bogus(code),
            Err(Security::Secure) => Keys::Bogus(ede::BOGUS),
        }
    }

    /// The keys of `child`, given the state of the zone above it.
    async fn child_keys<U: Upstream>(&self, it: &Iterator<U>, child: &Name, parent: Keys) -> Keys {
        let parent_keys = match parent {
            Keys::Secure(keys) => keys,
            other => return other,
        };
        let unix = (self.unix_now)();
        let resolution = it.resolve(child, RecordType::DS).await;
        let (ds_records, ds_sigs) = split(&resolution.answer, RecordType::DS);
        if ds_records.is_empty() {
            // No DS: only a proof from the parent makes the child insecure.
            let Some(parent_zone) = denial_zone(&resolution.authority, child) else {
                return Keys::Bogus(ede::NSEC_MISSING);
            };
            for (owner, _, records, sigs) in rrsets(&resolution.authority) {
                if parent_zone.zone_of(&owner)
                    && let Err(code) =
                        verify_rrset(&records, &sigs, &parent_keys, &parent_zone, unix)
                {
                    return Keys::Bogus(code);
                }
            }
            return match proves_nodata(&parent_zone, child, RecordType::DS, &resolution.authority) {
                // RFC 4035 §5.2: insecure only at the parent side of a cut; a name
                // without NS is no zone (its data is the parent's), and the child's
                // apex cannot deny its own DS (RFC 6840 §4.4).
                Ok(true) => match ds_denial_at_cut(&parent_zone, child, &resolution.authority) {
                    Some(true) | None => Keys::Insecure,
                    Some(false) if !has_soa_at(&resolution.authority, child) => {
                        Keys::Secure(parent_keys)
                    }
                    Some(false) => Keys::Bogus(ede::BOGUS),
                },
                Err(Security::Insecure) => Keys::Insecure,
                // A DS NXDOMAIN: the child is no zone; an empty non-terminal or a name
                // inside the parent. Its data is the parent's.
                Ok(false) if resolution.rcode == ResponseCode::NXDomain => {
                    Keys::Secure(parent_keys)
                }
                Ok(false) => match proves_nxdomain_or_ent(&parent_zone, child, &resolution) {
                    true => Keys::Secure(parent_keys),
                    false => Keys::Bogus(ede::NSEC_MISSING),
                },
                Err(_) => Keys::Bogus(ede::BOGUS),
            };
        }
        let Some(signer) = signer_of(&ds_sigs, child) else {
            return Keys::Bogus(ede::RRSIGS_MISSING);
        };
        if let Err(code) = verify_rrset(&ds_records, &ds_sigs, &parent_keys, &signer, unix) {
            return Keys::Bogus(code);
        }
        let ds: Vec<DS> = ds_records.iter().filter_map(ds).cloned().collect();
        let keys = it.resolve(child, RecordType::DNSKEY).await;
        let (key_records, key_sigs) = split(&keys.answer, RecordType::DNSKEY);
        match verify_dnskeys(child, &key_records, &key_sigs, &ds, &[], unix) {
            Ok(keys) => Keys::Secure(keys),
            Err(Security::Insecure) => Keys::Insecure,
            Err(Security::Bogus(code)) => Keys::Bogus(code),
            Err(Security::Secure) => Keys::Bogus(ede::BOGUS),
        }
    }
}

/// A NODATA for DS at a name that is not a cut (an empty non-terminal or a name with
/// data in the parent): the parent's NSEC at the name lists no NS.
fn proves_nxdomain_or_ent(zone: &Name, name: &Name, resolution: &Resolution) -> bool {
    matches!(
        proves_nodata(zone, name, RecordType::NS, &resolution.authority),
        Ok(true)
    )
}

/// Whether the NSEC or NSEC3 at `name` in `authority` lists SOA (a child's apex);
/// for NSEC3 the records at hashed owners are read by the validator, so only NSEC
/// is seen here, and NSEC3's apex case is refused by `proves_nodata` already.
fn has_soa_at(authority: &[Record], name: &Name) -> bool {
    authority
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(super::validator::nsec)
        .any(|n| n.type_bit_maps().any(|t| t == RecordType::SOA))
}

/// The signer named by the RRSIGs of `sigs`, when it holds `owner`.
fn signer_of(sigs: &[Record], owner: &Name) -> Option<Name> {
    sigs.iter()
        .filter_map(rrsig)
        .map(|s| s.input().signer_name.to_lowercase())
        .find(|signer| signer.zone_of(owner))
}

/// The zone whose records in `authority` deny the DS of `child`: the SOA's owner, or
/// without a SOA (some servers leave it out of a DS NODATA; Unbound takes the
/// signer then too) the signer of the NSEC or NSEC3 records, strictly above `child`.
/// Their signatures are checked with the parent's keys by the caller.
fn denial_zone(authority: &[Record], child: &Name) -> Option<Name> {
    soa_owner(authority).or_else(|| {
        denial_signers(authority).find(|signer| signer.zone_of(child) && signer != child)
    })
}

/// The closest zone holding `name` that signed NSEC or NSEC3 records of
/// `authority` (their RRSIGs' signer): who must prove a negative answer about
/// `name` that came without a SOA. The signatures are checked by the caller.
fn proof_signer(authority: &[Record], name: &Name) -> Option<Name> {
    denial_signers(authority)
        .filter(|signer| signer.zone_of(name))
        .max_by_key(Name::num_labels)
}

/// The signers (lowercased) named by the RRSIGs over NSEC and NSEC3 records in
/// `authority`.
fn denial_signers(authority: &[Record]) -> impl std::iter::Iterator<Item = Name> + '_ {
    authority
        .iter()
        .filter(|r| {
            matches!(
                super::classify::covered_type(r),
                Some(RecordType::NSEC | RecordType::NSEC3)
            )
        })
        .filter_map(rrsig)
        .map(|s| s.input().signer_name.to_lowercase())
}

fn soa_owner(authority: &[Record]) -> Option<Name> {
    authority
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.to_lowercase())
}

fn sigs_in(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .cloned()
        .collect()
}

/// The records of `rtype` in `section` and the RRSIGs covering them.
fn split(section: &[Record], rtype: RecordType) -> (Vec<Record>, Vec<Record>) {
    let records = section
        .iter()
        .filter(|r| r.record_type() == rtype)
        .cloned()
        .collect();
    let sigs = section
        .iter()
        .filter(|r| rrsig(r).is_some_and(|s| s.input().type_covered == rtype))
        .cloned()
        .collect();
    (records, sigs)
}

/// `section` as RRsets: (owner, type, records, RRSIGs covering them).
fn rrsets(section: &[Record]) -> Vec<(Name, RecordType, Vec<Record>, Vec<Record>)> {
    let mut sets: Vec<(Name, RecordType, Vec<Record>, Vec<Record>)> = Vec::new();
    for r in section {
        let (rtype, is_sig) = match rrsig(r) {
            Some(sig) => (sig.input().type_covered, true),
            None => (r.record_type(), false),
        };
        if r.record_type() == RecordType::RRSIG && !is_sig {
            continue;
        }
        let index = match sets
            .iter()
            .position(|(o, t, _, _)| *t == rtype && *o == r.name)
        {
            Some(i) => i,
            None => {
                sets.push((r.name.clone(), rtype, Vec::new(), Vec::new()));
                sets.len() - 1
            }
        };
        if is_sig {
            sets[index].3.push(r.clone());
        } else {
            sets[index].2.push(r.clone());
        }
    }
    sets.retain(|(_, _, records, _)| !records.is_empty());
    sets
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::dnssec::{Algorithm, DigestType};
    use hickory_proto::rr::RData;

    use super::*;

    fn ds_of(zone: &str, tag: u16) -> Record {
        Record::from_rdata(
            Name::from_ascii(zone).unwrap(),
            3600,
            RData::DNSSEC(DNSSECRData::DS(DS::new(
                tag,
                Algorithm::RSASHA256,
                DigestType::SHA256,
                vec![0; 32],
            ))),
        )
    }

    #[test]
    fn a_ds_denial_without_soa_is_the_nsec_signers() {
        use hickory_proto::dnssec::rdata::{NSEC, RRSIG, SigInput};
        use hickory_proto::rr::SerialNumber;
        let n = |s: &str| Name::from_ascii(s).unwrap();
        // Deckard's val_ta_sentinel_insecure: the root denies unsigned.'s DS with an
        // NSEC and its RRSIG, no SOA.
        let nsec = Record::from_rdata(
            n("unsigned."),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                n("."),
                [RecordType::NS, RecordType::NSEC],
            ))),
        );
        let sig = |signer: &str| {
            let input = SigInput {
                type_covered: RecordType::NSEC,
                algorithm: Algorithm::RSASHA256,
                num_labels: 1,
                original_ttl: 300,
                sig_expiration: SerialNumber::new(2),
                sig_inception: SerialNumber::new(1),
                key_tag: 1,
                signer_name: n(signer),
            };
            Record::from_rdata(
                n("unsigned."),
                300,
                RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0; 8]))),
            )
        };
        let child = n("unsigned.");
        assert_eq!(denial_zone(&[nsec.clone(), sig(".")], &child), Some(n(".")));
        // Signed by the child itself: no denial by its parent.
        assert_eq!(denial_zone(&[nsec.clone(), sig("unsigned.")], &child), None);
        assert_eq!(denial_zone(&[nsec], &child), None);
    }

    /// An upstream where every server is silent.
    struct Silent;

    impl Upstream for Silent {
        async fn query(
            &self,
            _: std::net::IpAddr,
            _: &Name,
            _: RecordType,
        ) -> Result<hickory_proto::op::Message, super::super::upstream::UpstreamError> {
            Err(super::super::upstream::UpstreamError::Timeout)
        }
    }

    #[test]
    fn a_negative_answer_stripped_of_its_soa_and_proof_in_a_signed_zone_is_bogus() {
        // RFC 4035 §5.4: a negative answer from a signed zone must come with its
        // NSEC/NSEC3 proof. An attacker who strips the SOA and the proof must not
        // get the answer judged insecure: the zone holding the name is signed (its
        // keys known), so the answer is bogus, as Unbound judges it (no signer: the
        // keys of the name's zone; no proof: bogus).
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let it = Iterator {
            cache: std::sync::Arc::new(super::super::cache::Cache::new(1 << 20, 0, 86400)),
            upstream: Silent,
            hints: Default::default(),
            clock: || 1000,
            qname_minimisation: false,
            forwards: Default::default(),
            parent_side: Default::default(),
        };
        let trust = Trust::new(&[ds_of("example.", 1)], || 0).unwrap();
        // The anchor's keys, as learnt before (the DNSKEY RRset verified).
        trust.remember(&n("example."), &Keys::Secure(Vec::new()), 1000);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for rcode in [ResponseCode::NXDomain, ResponseCode::NoError] {
            let stripped = Resolution {
                rcode,
                answer: Vec::new(),
                authority: Vec::new(),
                ede: None,
            };
            let verdict =
                runtime.block_on(trust.judge(&it, &n("nx.example."), RecordType::A, &stripped));
            assert_eq!(verdict, Security::Bogus(ede::NSEC_MISSING), "{rcode:?}");
        }
        // Outside every anchor the same answer is insecure.
        let stripped = Resolution {
            rcode: ResponseCode::NXDomain,
            answer: Vec::new(),
            authority: Vec::new(),
            ede: None,
        };
        let verdict =
            runtime.block_on(trust.judge(&it, &n("nx.example.net."), RecordType::A, &stripped));
        assert_eq!(verdict, Security::Insecure);
    }

    #[test]
    fn a_chain_starts_at_the_closest_anchor() {
        let trust = Trust::new(
            &[
                ds_of(".", 1),
                ds_of("corp.example.", 2),
                ds_of(".", 3),
                ds_of("Lab.Corp.Example.", 4),
            ],
            || 0,
        )
        .unwrap();
        let closest = |zone: &str| {
            trust
                .closest_anchor(&Name::from_ascii(zone).unwrap())
                .map(|a| {
                    (
                        a.zone.to_string(),
                        a.ds.iter().map(DS::key_tag).collect::<Vec<_>>(),
                    )
                })
        };
        assert_eq!(closest("www.example."), Some((".".into(), vec![1, 3])));
        assert_eq!(
            closest("corp.example."),
            Some(("corp.example.".into(), vec![2]))
        );
        assert_eq!(
            closest("a.lab.corp.example."),
            Some(("lab.corp.example.".into(), vec![4]))
        );
        // The sentinel (RFC 8509) asks of the root's anchor only.
        assert_eq!(trust.root_key_tags(), [1, 3]);
        let only = Trust::new(&[ds_of("corp.example.", 2)], || 0).unwrap();
        assert!(only.root_key_tags().is_empty());
        assert!(
            only.closest_anchor(&Name::from_ascii("example.").unwrap())
                .is_none()
        );
    }
}
