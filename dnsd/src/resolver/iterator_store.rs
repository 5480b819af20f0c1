//! What the iterator keeps of the responses it gets (`super`): referrals (the
//! child's NS from the parent's side, glue, DS; in the cache and in `parent_side`),
//! the zone's own NS RRset, addresses of name servers, and final
//! answers (the CNAME chain, the RRset with its wildcard proof, negative answers),
//! each at its trust rank (RFC 2181 §5.4.1).

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record, RecordType};

use super::super::cache::{CachedNegative, CachedRrset, Rank};
use super::super::classify::{Outcome, chain_end, is_expansion, signatures_of};
use super::super::records::{ns_name, rrsets};
use super::super::upstream::Upstream;
use super::Iterator;

impl<U: Upstream> Iterator<U> {
    /// Caches a referral: the child's NS (parent side), the glue, and the rest (DS).
    pub(super) fn store_referral(&self, ns: &[Record], glue: &[Record], authority: &[Record]) {
        let now = (self.clock)();
        if let Some(first) = ns.first() {
            self.parent_side
                .remember(&first.name, ns, glue, now, |ttl| self.cache.cap_ttl(ttl));
            let signatures = signatures_of(authority, &first.name, RecordType::NS);
            self.cache.put_rrset(
                CachedRrset {
                    records: ns.to_vec(),
                    signatures,
                    rank: Rank::Referral,
                    proof: Vec::new(),
                },
                now,
            );
        }
        let names: Vec<Name> = ns.iter().filter_map(ns_name).collect();
        self.store_addresses(glue, &names, Rank::Glue);
        for (owner, rtype, records) in rrsets(authority) {
            if rtype == RecordType::DS {
                let signatures = signatures_of(authority, &owner, rtype);
                self.cache.put_rrset(
                    CachedRrset {
                        records,
                        signatures,
                        rank: Rank::Authority,
                        proof: Vec::new(),
                    },
                    now,
                );
            }
        }
    }

    /// Caches the zone's own NS RRset from the authority section of an
    /// authoritative response of one of its servers (RFC 2181 §5.4.1: it outranks
    /// the parent's referral, which `parent_side` keeps), unless the cache holds
    /// one of that rank already (refreshed when it expires).
    pub(super) fn store_zone_ns(&self, zone: &Name, response: &Message) {
        if !response.metadata.authoritative {
            return;
        }
        let ns: Vec<Record> = response
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && r.name == *zone)
            .cloned()
            .collect();
        if ns.is_empty() {
            return;
        }
        let now = (self.clock)();
        if self
            .cache
            .rrset(zone, RecordType::NS, now)
            .is_some_and(|cached| cached.rank >= Rank::Authority)
        {
            return;
        }
        let signatures = signatures_of(&response.authorities, zone, RecordType::NS);
        self.cache.put_rrset(
            CachedRrset {
                records: ns,
                signatures,
                rank: Rank::Authority,
                proof: Vec::new(),
            },
            now,
        );
    }

    /// Caches the A/AAAA RRsets of `section` owned by one of `names`.
    pub(super) fn store_addresses(&self, section: &[Record], names: &[Name], rank: Rank) {
        let now = (self.clock)();
        for (owner, rtype, records) in rrsets(section) {
            if matches!(rtype, RecordType::A | RecordType::AAAA) && names.contains(&owner) {
                self.cache.put_rrset(
                    CachedRrset {
                        records,
                        signatures: Vec::new(),
                        rank,
                        proof: Vec::new(),
                    },
                    now,
                );
            }
        }
    }

    /// Caches what a final response said about (`name`, `qtype`).
    pub(super) fn store(
        &self,
        name: &Name,
        qtype: RecordType,
        classified: &super::super::classify::Classified,
    ) {
        let now = (self.clock)();
        // RFC 4035 §5.3.4: an RRset expanded from a wildcard keeps its proof.
        let proof_for = |signatures: &[Record]| match signatures.iter().any(is_expansion) {
            true => classified.proof.clone(),
            false => Vec::new(),
        };
        for (owner, rtype, records) in rrsets(&classified.chain) {
            let signatures = signatures_of(&classified.chain, &owner, rtype);
            self.cache.put_rrset(
                CachedRrset {
                    records,
                    proof: proof_for(&signatures),
                    signatures,
                    rank: Rank::Answer,
                },
                now,
            );
        }
        let end = chain_end(&classified.chain, name);
        match &classified.outcome {
            Outcome::Answer {
                records,
                signatures,
            } => self.cache.put_rrset(
                CachedRrset {
                    records: records.clone(),
                    signatures: signatures.clone(),
                    rank: Rank::Answer,
                    proof: proof_for(signatures),
                },
                now,
            ),
            Outcome::NxDomain(authority) => self.cache.put_negative(
                &end,
                qtype,
                CachedNegative {
                    nxdomain: true,
                    authority: authority.clone(),
                },
                now,
            ),
            Outcome::NoData(authority) => self.cache.put_negative(
                &end,
                qtype,
                CachedNegative {
                    nxdomain: false,
                    authority: authority.clone(),
                },
                now,
            ),
            _ => {}
        }
    }
}
