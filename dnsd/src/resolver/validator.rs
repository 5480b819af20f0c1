//! DNSSEC validation, the pure part (RFC 4033-4035, 5155, 6840): signatures over
//! RRsets, DNSKEY RRsets against DS records or a trust anchor, and the NSEC/NSEC3
//! proofs of denial. The cryptography is hickory-proto's `Verifier` over ring (and
//! `rsa_small` for RSA keys below ring's 1024 bits); this module decides which key,
//! which signature, which time window and which proof.
//!
//! Every failure maps to the Extended DNS Error (RFC 8914) a client is told:
//! 6 DNSSEC Bogus, 7 Signature Expired, 8 Signature Not Yet Valid, 9 DNSKEY Missing,
//! 10 RRSIGs Missing, 12 NSEC Missing. Algorithms ring cannot verify make a zone
//! insecure, not bogus (RFC 6840 §5.2); so do NSEC3 chains above RFC 9276's iteration
//! limit (§3.2, as Unbound 1.17 does above 150).
//!
//! Not yet: the NSEC proof that a wildcard answer's name itself does not exist (RFC
//! 4035 §5.3.4).

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::dnssec::{Nsec3HashAlgorithm, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::verified;

/// RFC 9276 §3.2: NSEC3 iteration counts above this make the zone insecure here.
pub const MAX_NSEC3_ITERATIONS: u16 = 150;

/// Extended DNS Error codes (RFC 8914 §4).
pub mod ede {
    /// 6: DNSSEC Bogus.
    pub const BOGUS: u16 = 6;
    /// 7: Signature Expired.
    pub const EXPIRED: u16 = 7;
    /// 8: Signature Not Yet Valid.
    pub const NOT_YET_VALID: u16 = 8;
    /// 9: DNSKEY Missing.
    pub const DNSKEY_MISSING: u16 = 9;
    /// 10: RRSIGs Missing.
    pub const RRSIGS_MISSING: u16 = 10;
    /// 12: NSEC Missing.
    pub const NSEC_MISSING: u16 = 12;
}

/// The security of data (RFC 4033 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Security {
    /// Signed along a chain of trust from the anchor.
    Secure,
    /// Provably unsigned (below an insecure delegation, or unsupported algorithms).
    Insecure,
    /// Should be signed and is not, or does not verify: the EDE code.
    Bogus(u16),
}

/// The RRSIG data of a signature record.
pub fn rrsig(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// The DNSKEY data of a record.
pub fn dnskey(record: &Record) -> Option<&DNSKEY> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key),
        _ => None,
    }
}

/// The DS data of a record.
pub fn ds(record: &Record) -> Option<&DS> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds),
        _ => None,
    }
}

/// RFC 1982 serial comparison of signature times (RFC 4034 §3.1.5): `a` <= `b`.
fn not_after(a: u32, b: u32) -> bool {
    a == b || b.wrapping_sub(a) < 0x8000_0000
}

/// Verifies the RRset `records` (one owner, one type) with one of `signatures` made
/// by `keys` of zone `signer` (RFC 4035 §5.3), at Unix time `now`; the labels field of
/// the signature that verified (below the owner's label count: a wildcard expansion,
/// §5.3.2, which needs [`proves_wildcard_expansion`]).
pub fn verify_rrset(
    records: &[Record],
    signatures: &[Record],
    keys: &[DNSKEY],
    signer: &Name,
    now: u32,
) -> Result<u8, u16> {
    let Some(first) = records.first() else {
        return Err(ede::BOGUS);
    };
    let mut error = ede::RRSIGS_MISSING;
    for sig in signatures.iter().filter_map(rrsig) {
        let input = sig.input();
        if input.type_covered != first.record_type() || input.signer_name != *signer {
            continue;
        }
        // RFC 4035 §5.3.1: the signer is the zone holding the owner; labels fit.
        if !signer.zone_of(&first.name)
            || usize::from(input.num_labels) > usize::from(first.name.num_labels())
        {
            error = ede::BOGUS;
            continue;
        }
        if !not_after(input.sig_inception.get(), now) {
            error = ede::NOT_YET_VALID;
            continue;
        }
        if !not_after(now, input.sig_expiration.get()) {
            error = ede::EXPIRED;
            continue;
        }
        let candidates = keys.iter().filter(|k| {
            k.zone_key()
                && !k.revoke()
                && k.algorithm() == input.algorithm
                && k.calculate_key_tag().ok() == Some(input.key_tag)
        });
        let mut any_key = false;
        for key in candidates {
            any_key = true;
            // The same signed RRset verified before (the time was checked above): a
            // hash instead of a public-key operation.
            let digest = verified::digest(key, sig, &first.name, DNSClass::IN, records);
            if digest.is_some_and(|d| verified::shared().contains(&d)) {
                return Ok(input.num_labels);
            }
            let good = if super::rsa_small::handles(key) {
                super::rsa_small::verify_rrsig(key, &first.name, sig, records)
            } else {
                key.verify_rrsig(&first.name, DNSClass::IN, sig, records.iter())
                    .is_ok()
            };
            if good {
                if let Some(d) = digest {
                    verified::shared().insert(d);
                }
                return Ok(input.num_labels);
            }
        }
        error = if any_key || error == ede::BOGUS {
            ede::BOGUS
        } else {
            ede::DNSKEY_MISSING
        };
    }
    Err(error)
}

/// What the DNSKEY RRset of a zone is worth, given the DS RRset (or the anchor's DS
/// and DNSKEY records) that vouches for it (RFC 4035 §5.2).
pub fn verify_dnskeys(
    zone: &Name,
    dnskeys: &[Record],
    signatures: &[Record],
    anchors_ds: &[DS],
    anchors_key: &[DNSKEY],
    now: u32,
) -> Result<Vec<DNSKEY>, Security> {
    let keys: Vec<DNSKEY> = dnskeys.iter().filter_map(dnskey).cloned().collect();
    // RFC 6840 §5.2: only DS records of algorithms and digests we support count; with
    // none left, the zone is treated as insecure.
    let usable_ds: Vec<&DS> = anchors_ds
        .iter()
        .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
        .collect();
    let usable_keys: Vec<&DNSKEY> = anchors_key
        .iter()
        .filter(|k| k.algorithm().is_supported())
        .collect();
    if usable_ds.is_empty() && usable_keys.is_empty() {
        return Err(Security::Insecure);
    }
    if keys.is_empty() {
        return Err(Security::Bogus(ede::DNSKEY_MISSING));
    }
    let trusted: Vec<DNSKEY> = keys
        .iter()
        .filter(|key| {
            usable_ds.iter().any(|d| ds_matches(d, zone, key))
                || usable_keys
                    .iter()
                    .any(|a| a.public_key() == key.public_key())
        })
        .cloned()
        .collect();
    if trusted.is_empty() {
        return Err(Security::Bogus(ede::DNSKEY_MISSING));
    }
    // The RRset must be signed by a key the DS or anchor vouches for.
    verify_rrset(dnskeys, signatures, &trusted, zone, now).map_err(Security::Bogus)?;
    Ok(keys)
}

/// Whether DS record `ds` points at `key` of `zone` (RFC 4035 §5.2): the same
/// algorithm and key tag, and the digest of the key's owner and RDATA. The digest
/// alone is not enough: a DS whose algorithm or key tag was changed (Deckard's
/// val_minimal_baddsalgorithm and val_minimal_baddskeytag) still carries the
/// digest of the key.
fn ds_matches(ds: &DS, zone: &Name, key: &DNSKEY) -> bool {
    ds.algorithm() == key.algorithm()
        && key.calculate_key_tag().ok() == Some(ds.key_tag())
        && ds.covers(zone, key).unwrap_or(false)
}

/// The NSEC data of a record.
pub(super) fn nsec(record: &Record) -> Option<&NSEC> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some(nsec),
        _ => None,
    }
}

/// The NSEC3 data of a record.
fn nsec3(record: &Record) -> Option<&NSEC3> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some(nsec3),
        _ => None,
    }
}

/// Whether the NSEC `owner` -> `next` covers `name` (RFC 4034 §6.1 order; the last
/// NSEC of a zone wraps round to the apex).
pub(super) fn nsec_covers(owner: &Name, next: &Name, name: &Name) -> bool {
    if owner < next {
        owner < name && name < next
    } else {
        owner < name || name < next
    }
}

/// base32hex without padding, lowercase (RFC 4648 §7), as NSEC3 owners are written.
fn base32hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    crate::zone::rdata_dnssec::base32hex_encode(bytes, |c| out.push(char::from(c)));
    out
}

/// What a set of NSEC3 records says about names of `zone`.
struct Nsec3Chain<'a> {
    zone: &'a Name,
    records: Vec<(String, &'a NSEC3)>,
}

/// RFC 5155 §8.3: the closest encloser of a name that does not exist, proven.
struct Encloser<'a> {
    name: Name,
    /// The NSEC3 that covers the next closer name.
    next_closer: &'a NSEC3,
}

impl<'a> Nsec3Chain<'a> {
    /// The chain of `authority`'s NSEC3 records, None without any; Err(Insecure) when
    /// one has more iterations than RFC 9276 §3.2 lets a validator accept.
    fn usable(zone: &'a Name, authority: &'a [Record]) -> Result<Option<Self>, Security> {
        let chain = Self::new(zone, authority);
        if chain.records.is_empty() {
            return Ok(None);
        }
        if chain
            .records
            .iter()
            .any(|(_, n)| n.iterations() > MAX_NSEC3_ITERATIONS)
        {
            return Err(Security::Insecure);
        }
        Ok(Some(chain))
    }

    /// The NSEC3 records of `zone` in `authority`: owners one label below the zone
    /// (RFC 5155 §3: the hash, then the zone's name), with the hash parameters of
    /// the first (one chain: a proof mixing two proves nothing, as Unbound judges).
    fn new(zone: &'a Name, authority: &'a [Record]) -> Self {
        let mut records: Vec<(String, &'a NSEC3)> = authority
            .iter()
            .filter(|r| r.name.num_labels() == zone.num_labels() + 1 && zone.zone_of(&r.name))
            .filter_map(|r| {
                let hash = r.name.iter().next()?;
                Some((
                    String::from_utf8_lossy(hash).to_ascii_lowercase(),
                    nsec3(r)?,
                ))
            })
            .collect();
        if let Some(&(_, first)) = records.first() {
            let same = |n: &NSEC3| {
                n.hash_algorithm() == first.hash_algorithm()
                    && n.iterations() == first.iterations()
                    && n.salt() == first.salt()
            };
            if !records.iter().all(|(_, n)| same(n)) {
                records.clear();
            }
        }
        Self { zone, records }
    }

    fn hash(&self, name: &Name) -> Option<String> {
        let (_, first) = self.records.first()?;
        let digest = Nsec3HashAlgorithm::SHA1
            .hash(first.salt(), name, first.iterations())
            .ok()?;
        Some(base32hex(digest.as_ref()))
    }

    /// The NSEC3 whose owner is the hash of `name`.
    fn matching(&self, name: &Name) -> Option<&'a NSEC3> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, n)| *n)
    }

    /// The NSEC3 that covers the hash of `name`.
    fn covering(&self, name: &Name) -> Option<&'a NSEC3> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(owner, n)| {
                let next = base32hex(n.next_hashed_owner_name());
                if owner < &next {
                    owner < &hash && hash < next
                } else {
                    owner < &hash || hash < next
                }
            })
            .map(|(_, n)| *n)
    }

    /// Whether an NSEC3 covers the hash of `name`.
    fn covers(&self, name: &Name) -> bool {
        self.covering(name).is_some()
    }

    /// RFC 5155 §8.3: the closest encloser of `name`, which does not exist: the
    /// longest ancestor with a matching NSEC3, the next closer name covered. Ok(None)
    /// when not proven; the encloser may not be a delegation (the server should
    /// have referred) nor a DNAME: Err(Insecure) for a delegation without DS (the
    /// name may be below an unsigned cut, RFC 5155 §9.2, as Unbound judges), Ok(None)
    /// for the others.
    fn closest_encloser(&self, name: &Name) -> Result<Option<Encloser<'a>>, Security> {
        let mut candidate = name.clone();
        while self.zone.zone_of(&candidate) {
            if let Some(record) = self.matching(&candidate) {
                if candidate == *name {
                    return Ok(None);
                }
                let has = |t: RecordType| record.type_bit_maps().any(|x| x == t);
                if has(RecordType::NS) && !has(RecordType::SOA) {
                    return match has(RecordType::DS) {
                        false => Err(Security::Insecure),
                        true => Ok(None),
                    };
                }
                if has(RecordType::DNAME) {
                    return Ok(None);
                }
                let next_closer = name.trim_to(usize::from(candidate.num_labels()) + 1);
                return Ok(self.covering(&next_closer).map(|next_closer| Encloser {
                    name: candidate,
                    next_closer,
                }));
            }
            if candidate.is_root() {
                break;
            }
            candidate = candidate.base_name();
        }
        Ok(None)
    }
}

/// The number of labels `a` and `b` share from the root (case-insensitive).
fn common_labels(a: &Name, b: &Name) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count()
}

/// Whether `proof` (signatures verified by the caller) shows that `name`, answered by
/// expanding the wildcard at its ancestor of `labels` labels (the RRSIG labels field),
/// does not exist itself, so that the expansion was right (RFC 4035 §5.3.4): with
/// NSEC, an NSEC covers `name` and the closest encloser it implies (the longest
/// ancestor `name` shares with the NSEC's owner or next name) is that ancestor; with
/// NSEC3, an NSEC3 covers the next closer name (RFC 5155 §8.8). Err(Insecure) for
/// NSEC3 beyond the iteration limit.
pub fn proves_wildcard_expansion(
    zone: &Name,
    name: &Name,
    labels: u8,
    proof: &[Record],
) -> Result<bool, Security> {
    let labels = usize::from(labels);
    if labels >= usize::from(name.num_labels()) || labels < usize::from(zone.num_labels()) {
        return Ok(false);
    }
    let nsecs: Vec<(&Name, &NSEC)> = proof
        .iter()
        .filter_map(|r| nsec(r).map(|n| (&r.name, n)))
        .collect();
    if !nsecs.is_empty() {
        return Ok(nsecs.iter().any(|(owner, n)| {
            let next = n.next_domain_name();
            nsec_covers(owner, next, name)
                && common_labels(name, owner).max(common_labels(name, next)) == labels
        }));
    }
    let Some(chain) = Nsec3Chain::usable(zone, proof)? else {
        return Ok(false);
    };
    // RFC 5155 §9.2: an opt-out NSEC3 over the next closer name leaves room for an
    // unsigned delegation there: the expansion is only insecurely proven.
    match chain.covering(&name.trim_to(labels + 1)) {
        None => Ok(false),
        Some(n) if n.opt_out() => Err(Security::Insecure),
        Some(_) => Ok(true),
    }
}

/// The records of `authority` that may serve as denial proofs: the NSEC RRsets of
/// `expanded` owners, whose verified signatures show them synthesised from a wildcard
/// (RRSIG labels below the owner's, RFC 4035 §5.3.4), are left out: such an NSEC
/// proves nothing of the names between its owner and next name (CVE-2017-15105;
/// Unbound's val_nx_failwc and val_nodata_failwc).
pub fn denial_records(authority: &[Record], expanded: &[Name]) -> Vec<Record> {
    authority
        .iter()
        .filter(|r| {
            let nsec_data = r.record_type() == RecordType::NSEC
                || rrsig(r).is_some_and(|s| s.input().type_covered == RecordType::NSEC);
            !(nsec_data && expanded.contains(&r.name))
        })
        .cloned()
        .collect()
}

/// What the NSEC or NSEC3 record at `name` itself (in `authority`) says of a DS
/// NODATA there (RFC 4035 §5.2, RFC 6840 §4.4): Some(true) for the parent side of
/// a cut (NS, no SOA): an insecure delegation; Some(false) for a name that is no
/// cut (no NS: its data is the parent's, nothing below it is made insecure) or for
/// the child's apex (SOA: the child side proves nothing of the parent's DS); None
/// without a record at the name (an opt-out span or an empty non-terminal).
pub fn ds_denial_at_cut(zone: &Name, name: &Name, authority: &[Record]) -> Option<bool> {
    let types: Vec<RecordType> = match authority.iter().filter(|r| r.name == *name).find_map(nsec) {
        Some(n) => n.type_bit_maps().collect(),
        None => Nsec3Chain::usable(zone, authority)
            .ok()
            .flatten()?
            .matching(name)?
            .type_bit_maps()
            .collect(),
    };
    Some(types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA))
}

/// Whether `authority` (signatures verified by the caller) proves that `name` does
/// not exist in `zone` (RFC 4035 §5.4 with NSEC, RFC 5155 §8.4 with NSEC3): Ok(true)
/// proven, Ok(false) not proven, Err(Insecure) for NSEC3 beyond the iteration limit.
pub fn proves_nxdomain(zone: &Name, name: &Name, authority: &[Record]) -> Result<bool, Security> {
    let nsecs: Vec<(&Name, &NSEC)> = authority
        .iter()
        .filter_map(|r| nsec(r).map(|n| (&r.name, n)))
        .collect();
    if !nsecs.is_empty() {
        let covered = |target: &Name| {
            nsecs
                .iter()
                .any(|(owner, n)| nsec_covers(owner, n.next_domain_name(), target))
        };
        if !covered(name) {
            return Ok(false);
        }
        // The wildcard at the closest encloser must not exist either: the closest
        // encloser is the longest ancestor of `name` that an NSEC owner or next name
        // is at or below.
        let mut encloser = name.base_name();
        while zone.zone_of(&encloser) && !encloser.is_root() {
            let exists = nsecs.iter().any(|(owner, n)| {
                encloser.zone_of(owner) || encloser.zone_of(n.next_domain_name())
            });
            if exists {
                break;
            }
            encloser = encloser.base_name();
        }
        let wildcard = encloser
            .prepend_label("*")
            .map_err(|_| Security::Bogus(ede::BOGUS))?;
        return Ok(covered(&wildcard));
    }
    let Some(chain) = Nsec3Chain::usable(zone, authority)? else {
        return Ok(false);
    };
    let Some(encloser) = chain.closest_encloser(name)? else {
        return Ok(false);
    };
    let wildcard = encloser
        .name
        .prepend_label("*")
        .map_err(|_| Security::Bogus(ede::BOGUS))?;
    if !chain.covers(&wildcard) {
        return Ok(false);
    }
    // RFC 5155 §6 and §9.2: under an opt-out span the name may be an unsigned
    // delegation; the NXDOMAIN is proven, but only insecurely (as Unbound judges).
    if encloser.next_closer.opt_out() {
        return Err(Security::Insecure);
    }
    Ok(true)
}

/// Whether `authority` proves that `name` has no RRset of `rtype` (nor a CNAME) in
/// `zone` (RFC 4035 §5.4, RFC 5155 §8.5/§8.6 for DS).
pub fn proves_nodata(
    zone: &Name,
    name: &Name,
    rtype: RecordType,
    authority: &[Record],
) -> Result<bool, Security> {
    let absent = |types: &mut dyn Iterator<Item = RecordType>| {
        let types: Vec<RecordType> = types.collect();
        !types.contains(&rtype) && !types.contains(&RecordType::CNAME)
    };
    // The NSEC at the name itself: the first record there may be another (the SOA
    // of a NODATA at the apex comes before the apex's NSEC).
    if let Some(n) = authority.iter().filter(|r| r.name == *name).find_map(nsec) {
        let has = |t: RecordType| n.type_bit_maps().any(|x| x == t);
        if rtype != RecordType::DS && has(RecordType::NS) && !has(RecordType::SOA) {
            // The parent side of a cut (RFC 4035 §5.4 refers there): no NODATA of the
            // child's data; without DS the child is unsigned (RFC 4035 §5.2, Unbound's
            // val_nsec_proves_insecuredelegation), with DS the proof is wrong.
            return match has(RecordType::DS) {
                false => Err(Security::Insecure),
                true => Ok(false),
            };
        }
        return Ok(absent(&mut n.type_bit_maps()));
    }
    let nsecs: Vec<(&Name, &NSEC)> = authority
        .iter()
        .filter_map(|r| nsec(r).map(|n| (&r.name, n)))
        .collect();
    if !nsecs.is_empty() {
        let covering = |target: &Name| {
            nsecs
                .iter()
                .find(|(owner, n)| nsec_covers(owner, n.next_domain_name(), target))
        };
        let Some((_, cover)) = covering(name) else {
            return Ok(false);
        };
        // RFC 4035 §3.1.3.2: an empty non-terminal, the next name is below it.
        let next = cover.next_domain_name();
        if next != name && name.zone_of(next) {
            return Ok(true);
        }
        // RFC 4035 §3.1.3.4: wildcard NODATA: the name does not exist, the wildcard
        // at its closest encloser does, without the type.
        let proven = nsecs.iter().any(|(owner, n)| {
            let encloser = owner.base_name();
            owner.is_wildcard()
                && encloser != *name
                && encloser.zone_of(name)
                && zone.zone_of(&encloser)
                && absent(&mut n.type_bit_maps())
                && {
                    let next_closer = name.trim_to(usize::from(encloser.num_labels()) + 1);
                    next_closer == *name || covering(&next_closer).is_some()
                }
        });
        return Ok(proven);
    }
    let Some(chain) = Nsec3Chain::usable(zone, authority)? else {
        return Ok(false);
    };
    let has = |n: &NSEC3, t: RecordType| n.type_bit_maps().any(|x| x == t);
    // RFC 5155 §8.5 (§8.6 for DS): the NSEC3 of the name itself.
    if let Some(n) = chain.matching(name) {
        if !absent(&mut n.type_bit_maps()) {
            return Ok(false);
        }
        if rtype == RecordType::DS {
            // The child's apex NSEC3 says nothing of the parent's DS.
            return Ok(!has(n, RecordType::SOA) || name.is_root());
        }
        if has(n, RecordType::NS) && !has(n, RecordType::SOA) {
            // The parent side of a cut: a server of the parent should have
            // referred; without DS the child is unsigned (Unbound: insecure).
            return match has(n, RecordType::DS) {
                false => Err(Security::Insecure),
                true => Ok(false),
            };
        }
        return Ok(true);
    }
    let encloser = match chain.closest_encloser(name) {
        Ok(Some(encloser)) => encloser,
        Err(Security::Insecure) if rtype != RecordType::DS => return Err(Security::Insecure),
        _ => return Ok(false),
    };
    // RFC 5155 §8.7: wildcard NODATA: the closest encloser proof, and the NSEC3 of
    // the wildcard at the closest encloser without the type.
    let wildcard = encloser
        .name
        .prepend_label("*")
        .map_err(|_| Security::Bogus(ede::BOGUS))?;
    if let Some(n) = chain.matching(&wildcard) {
        let delegation = if rtype == RecordType::DS {
            has(n, RecordType::SOA)
        } else {
            has(n, RecordType::NS) && !has(n, RecordType::SOA)
        };
        if !absent(&mut n.type_bit_maps()) || delegation {
            return Ok(false);
        }
        // RFC 5155 §9.2: proven, but under an opt-out span only insecurely.
        return match encloser.next_closer.opt_out() {
            true => Err(Security::Insecure),
            false => Ok(true),
        };
    }
    // RFC 5155 §8.6 (and §9.2 for other types, as Unbound judges): an opt-out NSEC3
    // covering the next closer name: the name may be an unsigned delegation, so
    // the absence is insecure (for DS: the child is unsigned).
    match encloser.next_closer.opt_out() {
        true => Err(Security::Insecure),
        false => Ok(false),
    }
}

#[cfg(test)]
#[path = "validator_nsec3_tests.rs"]
mod nsec3_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_as_nsec3_owners_are_written() {
        // RFC 4648 §10 test vectors, lowercase and unpadded.
        assert_eq!(base32hex(b"f"), "co");
        assert_eq!(base32hex(b"fo"), "cpng");
        assert_eq!(base32hex(b"foobar"), "cpnmuoj1e8");
    }

    #[test]
    fn serial_time_comparison_wraps() {
        assert!(not_after(10, 20));
        assert!(!not_after(20, 10));
        assert!(not_after(u32::MAX - 5, 3));
    }

    #[test]
    fn a_wildcard_expanded_nsec_proves_no_denial() {
        // Unbound's val_nx_failwc (CVE-2017-15105): `!.nsecwc` NSEC `delegation`,
        // signed with labels 3 (expanded from *.nsecwc), seems to cover `a.nsecwc`.
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let zone = n("nsecwc.nlnetlabs.nl.");
        // "!" sorts before "*": the NSEC seems to cover the wildcard too.
        let owner = Name::from_labels([&b"!"[..], b"nsecwc", b"nlnetlabs", b"nl"]).unwrap();
        let nsec = |owner: &Name, next: &str| {
            Record::from_rdata(
                owner.clone(),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), [RecordType::TXT]))),
            )
        };
        let authority = [nsec(&owner, "delegation.nsecwc.nlnetlabs.nl.")];
        let name = n("a.nsecwc.nlnetlabs.nl.");
        assert_eq!(proves_nxdomain(&zone, &name, &authority), Ok(true));
        let usable = denial_records(&authority, std::slice::from_ref(&owner));
        assert!(usable.is_empty());
        assert_eq!(proves_nxdomain(&zone, &name, &usable), Ok(false));
        assert_eq!(
            proves_nodata(&zone, &name, RecordType::A, &usable),
            Ok(false)
        );
        // Other owners' NSEC records stay.
        assert_eq!(denial_records(&authority, &[zone]).len(), 1);
    }

    #[test]
    fn a_wildcard_expansion_needs_an_nsec_that_covers_the_name_below_its_encloser() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let zone = n("secure.example.");
        let nsec = |owner: &str, next: &str| {
            Record::from_rdata(
                n(owner),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), [RecordType::A]))),
            )
        };
        let proof = [nsec("*.wild.secure.example.", "www.secure.example.")];
        // a.wild: labels 3 (wild.secure.example.) is the encloser the NSEC implies.
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("a.wild.secure.example."), 3, &proof),
            Ok(true)
        );
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("b.c.wild.secure.example."), 3, &proof),
            Ok(true)
        );
        // No proof, or one for another wildcard (a closer encloser exists), or one
        // that does not cover the name: not proven.
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("a.wild.secure.example."), 3, &[]),
            Ok(false)
        );
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("a.wild.secure.example."), 2, &proof),
            Ok(false)
        );
        let elsewhere = [nsec("mail.secure.example.", "txt.secure.example.")];
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("a.wild.secure.example."), 3, &elsewhere),
            Ok(false)
        );
        // Not an expansion at all (labels = the name's): nothing to prove.
        assert_eq!(
            proves_wildcard_expansion(&zone, &n("a.wild.secure.example."), 4, &proof),
            Ok(false)
        );
    }

    #[test]
    fn an_apex_nodata_is_proven_by_the_apex_nsec_after_the_soa() {
        // RFC 4035 §3.1.3.1, §5.4: NODATA at the apex is proven by the NSEC at the
        // apex, which a server writes after the SOA of the same owner (Deckard's
        // val_root_ds: `. DS`, answered by the root's own NSEC, RFC 4035 §5.2 and
        // RFC 6840 §4.4 leave the root's DS to its apex).
        use hickory_proto::rr::rdata::SOA;
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let soa = |zone: &str| {
            Record::from_rdata(
                n(zone),
                300,
                RData::SOA(SOA::new(n("ns."), n("h."), 1, 2, 3, 4, 5)),
            )
        };
        let nsec = |owner: &str, next: &str, types: &[RecordType]| {
            Record::from_rdata(
                n(owner),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), types.to_vec()))),
            )
        };
        let apex = [RecordType::NS, RecordType::SOA, RecordType::NSEC];
        let root = [soa("."), nsec(".", "aaa.", &apex)];
        assert_eq!(
            proves_nodata(&n("."), &n("."), RecordType::DS, &root),
            Ok(true)
        );
        let zone = [soa("example."), nsec("example.", "www.example.", &apex)];
        assert_eq!(
            proves_nodata(&n("example."), &n("example."), RecordType::AAAA, &zone),
            Ok(true)
        );
        // The apex has the type: no NODATA.
        assert_eq!(
            proves_nodata(&n("example."), &n("example."), RecordType::NS, &zone),
            Ok(false)
        );
    }

    #[test]
    fn a_ds_points_at_a_key_by_algorithm_key_tag_and_digest() {
        // RFC 4035 §5.2: the DS's algorithm and key tag must match the DNSKEY's;
        // the digest (over the owner and the key's RDATA) is the same whatever
        // the DS's own fields say.
        use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
        let zone = Name::from_ascii("example.").unwrap();
        let key = DNSKEY::new(
            true,
            true,
            false,
            PublicKeyBuf::new(
                vec![3, 1, 0, 1, 0xc5, 0x7a, 0x11, 0x02],
                Algorithm::RSASHA256,
            ),
        );
        let tag = key.calculate_key_tag().unwrap();
        let digest = key
            .to_digest(&zone, DigestType::SHA256)
            .unwrap()
            .as_ref()
            .to_vec();
        let ds = |tag: u16, algorithm: Algorithm| {
            DS::new(tag, algorithm, DigestType::SHA256, digest.clone())
        };
        assert!(ds_matches(&ds(tag, Algorithm::RSASHA256), &zone, &key));
        assert!(!ds_matches(
            &ds(tag, Algorithm::ECDSAP256SHA256),
            &zone,
            &key
        ));
        assert!(!ds_matches(
            &ds(tag.wrapping_add(1), Algorithm::RSASHA256),
            &zone,
            &key
        ));
        let other = Name::from_ascii("example.net.").unwrap();
        assert!(!ds_matches(&ds(tag, Algorithm::RSASHA256), &other, &key));
    }

    #[test]
    fn a_ds_denial_makes_a_delegation_insecure_only_at_a_cut() {
        // RFC 4035 §5.2: only the parent side of a cut (NS, no DS, no SOA) proves
        // an insecure delegation; a DS NODATA at an ordinary name (no NS) must not
        // make the data at and below it insecure (a stripped signature would then
        // pass), nor may the child's apex (SOA) deny its own DS (RFC 6840 §4.4).
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let nsec = |owner: &str, types: &[RecordType]| {
            Record::from_rdata(
                n(owner),
                300,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                    n("z.example."),
                    types.to_vec(),
                ))),
            )
        };
        let zone = n("example.");
        let cut = [nsec("sub.example.", &[RecordType::NS, RecordType::NSEC])];
        assert_eq!(
            ds_denial_at_cut(&zone, &n("sub.example."), &cut),
            Some(true)
        );
        let host = [nsec("www.example.", &[RecordType::A, RecordType::NSEC])];
        assert_eq!(
            proves_nodata(&zone, &n("www.example."), RecordType::DS, &host),
            Ok(true)
        );
        assert_eq!(
            ds_denial_at_cut(&zone, &n("www.example."), &host),
            Some(false)
        );
        let apex = [nsec("sub.example.", &[RecordType::NS, RecordType::SOA])];
        assert_eq!(
            ds_denial_at_cut(&zone, &n("sub.example."), &apex),
            Some(false)
        );
        assert_eq!(ds_denial_at_cut(&zone, &n("other.example."), &cut), None);
    }

    #[test]
    fn nsec_cover_wraps_at_the_end_of_the_zone() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert!(nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("b.example.")
        ));
        assert!(!nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("d.example.")
        ));
        assert!(nsec_covers(
            &n("z.example."),
            &n("example."),
            &n("zz.example.")
        ));
    }
}
