//! The resolver's cache: RRsets and negative answers, bounded by memory.
//!
//! - **RRsets** are kept by (owner, type) with the signatures that came with them, the
//!   time they expire, and their trust rank (RFC 2181 §5.4.1): data from an
//!   authoritative answer replaces glue and referral data, never the other way round
//!   while the better data lives.
//! - **Negative answers** (RFC 2308): NXDOMAIN by owner (every type), NODATA by
//!   (owner, type), each with the SOA that proves it, kept for min(SOA TTL, SOA
//!   MINIMUM) (§5).
//! - **TTLs** are capped to `[min_ttl, max_ttl]` when stored (RFC 8767 §4 keeps the
//!   original for serve-stale later); an entry is never returned after it expired.
//! - **Memory**: entries live in a `table::BlobTable` (sharded, each shard behind its
//!   own mutex, bounded by bytes, CLOCK eviction). An entry is one allocation: the
//!   owner's lowercase wire name and the type (the key), then the records in wire
//!   format, their owners compressed against the key (RFC 1035 §4.1.4 pointers), so
//!   a cached RRset costs about its size on the wire plus 64 octets; records are
//!   decoded again when read (the resolver's path, not the workers').
//! - **Wildcard proofs** (RFC 4035 §5.3.4: the NSEC/NSEC3 records, and their RRSIGs,
//!   that came with an RRset expanded from a wildcard) are stored once, as RRsets of
//!   their own (owner, NSEC or NSEC3), and each RRset they prove holds a reference:
//!   owner, type and a fingerprint of their data. Every name under one wildcard shares
//!   one proof (Unbound's message cache does the same by pointing at its RRsets),
//!   instead of a copy of some 160 octets each. A read that finds a proof gone or
//!   changed (another NSEC at that owner since) is a miss: the name is resolved again.
//! - **Verdicts**: an RRset the validator found secure is marked so
//!   ([`Cache::mark_secure`]; `marked.rs` answers from it without validating again),
//!   until other data is stored under its key.
//!
//! Time comes in as an argument (`now`, seconds on a monotonic clock), so the cache is
//! tested without waiting.

use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

use super::table::{Blob, BlobTable};

/// Longest key: a name (255) and a type (2).
const KEY_MAX: usize = 257;

/// How much a record source is trusted (RFC 2181 §5.4.1), lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Glue and other data of the additional section.
    Glue,
    /// NS records of a referral (the parent's side of a zone cut).
    Referral,
    /// The authority section of an authoritative answer.
    Authority,
    /// The answer section of an authoritative answer.
    Answer,
}

/// A cached RRset, as stored and as returned.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedRrset {
    /// The records, TTLs as received (capped).
    pub records: Vec<Record>,
    /// Their RRSIGs, as received.
    pub signatures: Vec<Record>,
    /// How it was learnt.
    pub rank: Rank,
    /// For an RRset expanded from a wildcard: the NSEC/NSEC3 records (and their
    /// RRSIGs) that came with it, proving the name itself does not exist (RFC 4035
    /// §5.3.4). Empty otherwise.
    pub proof: Vec<Record>,
}

/// A cached negative answer (RFC 2308).
#[derive(Clone, Debug, PartialEq)]
pub struct CachedNegative {
    /// NXDOMAIN (the name) or NODATA (the type at the name).
    pub nxdomain: bool,
    /// The SOA record of the zone that said so, and the records (RRSIG, NSEC, NSEC3)
    /// that came with it in the authority section.
    pub authority: Vec<Record>,
}

/// What an entry holds (the octet after the key).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rrset = 0,
    NxDomain = 1,
    NoData = 2,
}

/// An NXDOMAIN is stored under this type: it covers every type at its name.
const NXDOMAIN_TYPE: u16 = 0;

/// The cache, shared by every resolution task.
pub struct Cache {
    table: BlobTable,
    min_ttl: u32,
    max_ttl: u32,
    /// The wildcard proofs stored last ([`RecentProof`]).
    recent: std::sync::Mutex<Vec<RecentProof>>,
}

/// A wildcard proof stored in the current second: storing the same records again
/// before the second ends would write the same entries with the same expiry, so
/// it is skipped (every expansion of one wildcard comes with the same proof: perf
/// showed its encoding at 5% of a cold resolution).
struct RecentProof {
    records: Vec<Record>,
    stored: u32,
    refs: Vec<ProofRef>,
}

/// Proofs remembered as stored in the current second.
const RECENT_PROOFS: usize = 8;

/// A read of the cache for one (owner, type).
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// The RRset, TTLs lowered by the time it spent in the cache.
    Rrset(CachedRrset),
    /// The name does not exist, or has no data of the type.
    Negative(CachedNegative),
    /// Nothing known.
    Miss,
}

impl Cache {
    /// A cache of at most `max_bytes`, storing TTLs within `[min_ttl, max_ttl]`.
    pub fn new(max_bytes: usize, min_ttl: u32, max_ttl: u32) -> Self {
        Self {
            table: BlobTable::new(max_bytes),
            min_ttl,
            max_ttl,
            recent: Default::default(),
        }
    }

    /// `ttl` within the configured `[min_ttl, max_ttl]`, as stored and as sent.
    pub fn cap_ttl(&self, ttl: u32) -> u32 {
        ttl.clamp(self.min_ttl, self.max_ttl)
    }

    /// Bytes held, as counted against the bound.
    pub fn bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Entries evicted or flushed so far.
    pub fn freed(&self) -> u64 {
        self.table.freed()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// What is known of (`name`, `rtype`) at `now`: an NXDOMAIN of the name answers
    /// every type.
    pub fn get(&self, name: &Name, rtype: RecordType, now: u64) -> Lookup {
        self.get_stale(name, rtype, now, 0)
    }

    /// [`Self::get`], also answering with entries that expired at most `stale`
    /// seconds ago (RFC 8767; their TTLs are 0).
    pub fn get_stale(&self, name: &Name, rtype: RecordType, now: u64, stale: u32) -> Lookup {
        let now = clock(now);
        let mut buf = [0u8; KEY_MAX];
        for code in [u16::from(rtype), NXDOMAIN_TYPE] {
            let Some(key) = key_of(name, code, &mut buf) else {
                return Lookup::Miss;
            };
            match self.read(key, now, stale) {
                Some(Some((Lookup::Rrset(mut rrset), refs))) => {
                    // The wildcard proofs, each from its own entry (read after the
                    // first lock is let go: they may share its shard).
                    for proof in refs {
                        match self.proof(&proof, now, stale) {
                            Some(records) => rrset.proof.extend(records),
                            None => return Lookup::Miss,
                        }
                    }
                    return Lookup::Rrset(rrset);
                }
                Some(Some((lookup, _))) => return lookup,
                Some(None) => return Lookup::Miss,
                None => {}
            }
        }
        Lookup::Miss
    }

    /// The entry under `key`, decoded: None when absent, Some(None) when it does not
    /// decode.
    fn read(&self, key: &[u8], now: u32, stale: u32) -> Option<Option<(Lookup, Vec<ProofRef>)>> {
        self.read_if(key, now, stale, false)
    }

    /// [`Self::read`]; with `secure`, only an entry the validator marked (else None).
    fn read_if(
        &self,
        key: &[u8],
        now: u32,
        stale: u32,
        secure: bool,
    ) -> Option<Option<(Lookup, Vec<ProofRef>)>> {
        self.table
            .get(key, now, stale, |found| {
                let elapsed = now.saturating_sub(found.stored);
                (found.marked || !secure).then(|| decode(found.keyed, found.key.len(), elapsed))
            })
            .flatten()
    }

    /// The RRset of (`name`, `rtype`), with its wildcard proofs, when it is live,
    /// ranked as data of an answer (RFC 2181 §5.4.1), and it and each proof carry the
    /// validator's mark ([`Self::mark_secure`]: found secure since stored); None
    /// otherwise. The signatures' validity windows are the caller's to check.
    pub fn get_secure(&self, name: &Name, rtype: RecordType, now: u64) -> Option<CachedRrset> {
        let now = clock(now);
        let mut buf = [0u8; KEY_MAX];
        let key = key_of(name, u16::from(rtype), &mut buf)?;
        let (Lookup::Rrset(mut rrset), refs) = self.read_if(key, now, 0, true)?? else {
            return None;
        };
        if rrset.rank < Rank::Authority {
            return None;
        }
        for proof in refs {
            rrset.proof.extend(self.proof_if(&proof, now, 0, true)?);
        }
        Some(rrset)
    }

    /// Marks as secure the cached RRsets (and their RRSIGs) of `section`, a section
    /// of a resolution the validator found secure, where the cache holds the same
    /// records and signatures (an entry stored again since, with other data, is not
    /// marked). Storing other data drops the mark.
    pub fn mark_secure(&self, section: &[Record], now: u64) {
        let now = clock(now);
        for (owner, rtype, records) in super::records::rrsets(section) {
            let signatures = super::classify::signatures_of(section, &owner, rtype);
            let mut buf = [0u8; KEY_MAX];
            let Some(key) = key_of(&owner, u16::from(rtype), &mut buf) else {
                continue;
            };
            self.table.mark(key, now, |found| {
                if found.marked {
                    return true;
                }
                match decode(found.keyed, found.key.len(), 0) {
                    Some((Lookup::Rrset(cached), _)) => {
                        same_data(&cached.records, &records)
                            && same_data(&cached.signatures, &signatures)
                    }
                    _ => false,
                }
            });
        }
    }

    /// The records (and RRSIGs) of a stored proof, if it lives and is still the data
    /// it was.
    fn proof(&self, proof: &ProofRef, now: u32, stale: u32) -> Option<Vec<Record>> {
        self.proof_if(proof, now, stale, false)
    }

    /// [`Self::proof`]; with `secure`, only a proof the validator marked.
    fn proof_if(
        &self,
        proof: &ProofRef,
        now: u32,
        stale: u32,
        secure: bool,
    ) -> Option<Vec<Record>> {
        let mut buf = [0u8; KEY_MAX];
        let key = key_of(&proof.owner, proof.rtype, &mut buf)?;
        let Some(Some((Lookup::Rrset(rrset), _))) = self.read_if(key, now, stale, secure) else {
            return None;
        };
        if fingerprint(&rrset.records) != proof.fingerprint {
            return None;
        }
        let mut records = rrset.records;
        records.extend(rrset.signatures);
        Some(records)
    }

    /// Stores the RRsets of a wildcard proof (each NSEC/NSEC3 RRset with its RRSIGs)
    /// and returns their references; None when a record is not one of an RRset.
    fn put_proof(&self, proof: &[Record], now: u64) -> Option<Vec<ProofRef>> {
        if proof.is_empty() {
            return Some(Vec::new());
        }
        let second = clock(now);
        let recent = |recent: &RecentProof| recent.stored == second && recent.records == proof;
        if let Ok(list) = self.recent.lock()
            && let Some(found) = list.iter().find(|r| recent(r))
        {
            return Some(found.refs.clone());
        }
        let refs = self.store_proof(proof, now)?;
        if let Ok(mut list) = self.recent.lock() {
            list.retain(|r| r.stored == second);
            if list.len() >= RECENT_PROOFS {
                list.remove(0);
            }
            list.push(RecentProof {
                records: proof.to_vec(),
                stored: second,
                refs: refs.clone(),
            });
        }
        Some(refs)
    }

    /// [`Self::put_proof`]'s writes: each RRset of `proof` stored, and its
    /// reference.
    fn store_proof(&self, proof: &[Record], now: u64) -> Option<Vec<ProofRef>> {
        let mut refs = Vec::new();
        for (owner, rtype, records) in super::records::rrsets(proof) {
            let signatures = super::classify::signatures_of(proof, &owner, rtype);
            refs.push(ProofRef {
                owner: owner.clone(),
                rtype: u16::from(rtype),
                fingerprint: fingerprint(&records),
            });
            self.put_rrset(
                CachedRrset {
                    records,
                    signatures,
                    rank: Rank::Authority,
                    proof: Vec::new(),
                },
                now,
            );
        }
        // Every record belongs to a stored set: an RRSIG covering none is not kept.
        (!refs.is_empty() || proof.is_empty()).then_some(refs)
    }

    /// Forgets the proofs stored in this second (their entries may be gone).
    fn forget_recent_proofs(&self) {
        if let Ok(mut list) = self.recent.lock() {
            list.clear();
        }
    }

    /// Forgets the proofs stored in this second that hold an RRset at (`owner`,
    /// `rtype`), about to be stored again: the next such proof is written anew.
    fn forget_recent_proofs_at(&self, owner: &Name, rtype: u16) {
        if let Ok(mut list) = self.recent.lock() {
            list.retain(|r| !r.refs.iter().any(|p| p.rtype == rtype && p.owner == *owner));
        }
    }

    /// Stores NSEC/NSEC3 RRsets (each with its RRSIGs) where wildcard proofs live,
    /// for aggressive use (`aggressive.rs`, RFC 8198).
    pub fn put_proof_rrsets(&self, records: &[Record], now: u64) {
        let _ = self.put_proof(records, now);
    }

    /// The RRset of (`name`, `rtype`) if cached and live.
    pub fn rrset(&self, name: &Name, rtype: RecordType, now: u64) -> Option<CachedRrset> {
        match self.get(name, rtype, now) {
            Lookup::Rrset(rrset) => Some(rrset),
            _ => None,
        }
    }

    /// Stores an RRset (all records of one owner and type, TTLs already uniform or not:
    /// the lowest counts, RFC 2181 §5.2), unless a better-ranked copy still lives.
    pub fn put_rrset(&self, mut rrset: CachedRrset, now: u64) {
        let Some(first) = rrset.records.first() else {
            return;
        };
        let owner = first.name.clone();
        let rtype = u16::from(first.record_type());
        if matches!(first.record_type(), RecordType::NSEC | RecordType::NSEC3) {
            self.forget_recent_proofs_at(&owner, rtype);
        }
        let ttl = rrset
            .records
            .iter()
            .map(|r| r.ttl)
            .min()
            .unwrap_or(0)
            .clamp(self.min_ttl, self.max_ttl);
        for r in rrset.records.iter_mut().chain(rrset.signatures.iter_mut()) {
            r.ttl = ttl;
        }
        let Some(refs) = self.put_proof(&rrset.proof, now) else {
            return;
        };
        let rank = rrset.rank;
        let Some(blob) = encode(
            &owner,
            rtype,
            Kind::Rrset,
            rank,
            [&rrset.records, &rrset.signatures],
            &refs,
        ) else {
            return;
        };
        let now = clock(now);
        self.table
            .insert(blob, now, now.saturating_add(ttl), |old, _| match old {
                [kind, old_rank, ..] if *kind == Kind::Rrset as u8 => *old_rank > rank as u8,
                _ => false,
            });
    }

    /// Stores a negative answer for (`name`, `rtype`) (every type when `nxdomain`),
    /// kept for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5); without an SOA, not at all
    /// (§5: "Negative responses without SOA records SHOULD NOT be cached").
    pub fn put_negative(&self, name: &Name, rtype: RecordType, negative: CachedNegative, now: u64) {
        let Some(ttl) = negative_ttl(&negative.authority) else {
            return;
        };
        let ttl = ttl.clamp(self.min_ttl, self.max_ttl);
        let (kind, code) = if negative.nxdomain {
            (Kind::NxDomain, NXDOMAIN_TYPE)
        } else {
            (Kind::NoData, u16::from(rtype))
        };
        let mut authority = negative.authority;
        for r in &mut authority {
            r.ttl = r.ttl.min(ttl);
        }
        let Some(blob) = encode(name, code, kind, Rank::Answer, [&authority, &[]], &[]) else {
            return;
        };
        let now = clock(now);
        self.table
            .insert(blob, now, now.saturating_add(ttl), |old, _| {
                // Authoritative data proving existence wins over a negative answer.
                matches!(old, [kind, rank, ..]
                    if *kind == Kind::Rrset as u8 && *rank >= Rank::Authority as u8)
            });
    }

    /// Drops every entry at `name` (every type, negative answers too); the number
    /// dropped.
    pub fn flush_name(&self, name: &Name) -> usize {
        self.forget_recent_proofs();
        let mut buf = [0u8; KEY_MAX];
        let Some(key) = key_of(name, 0, &mut buf) else {
            return 0;
        };
        let owner = &key[..key.len() - 2];
        self.table
            .remove_where(|key| key.len() == owner.len() + 2 && key.starts_with(owner))
    }

    /// Drops everything; the number dropped.
    pub fn flush_all(&self) -> usize {
        self.forget_recent_proofs();
        self.table.remove_where(|_| true)
    }

    /// Writes the live entries at `name` (or below it when `tree`; everything without
    /// a name) to `out`, one record per line in zone-file form with the TTL left;
    /// negative answers as `; NXDOMAIN OWNER` or `; NODATA OWNER TYPE` comments
    /// followed by the SOA and proofs that came with them. The number of entries.
    pub fn dump(&self, name: Option<&Name>, tree: bool, now: u64, out: &mut String) -> usize {
        use std::fmt::Write as _;
        let mut buf = [0u8; KEY_MAX];
        let owner = match name {
            Some(name) => match key_of(name, 0, &mut buf) {
                Some(key) => Some(&key[..key.len() - 2]),
                None => return 0,
            },
            None => None,
        };
        let pick = |key: &[u8]| match owner {
            None => true,
            Some(owner) if tree => is_at_or_below(&key[..key.len() - 2], owner),
            Some(owner) => key.len() == owner.len() + 2 && key.starts_with(owner),
        };
        let now = clock(now);
        let mut entries = 0;
        self.table.scan(pick, |found| {
            if found.expires <= now {
                return;
            }
            let elapsed = now.saturating_sub(found.stored);
            let Some((lookup, refs)) = decode(found.keyed, found.key.len(), elapsed) else {
                return;
            };
            entries += 1;
            let rtype = u16::from_be_bytes([
                found.key[found.key.len() - 2],
                found.key[found.key.len() - 1],
            ]);
            match lookup {
                Lookup::Rrset(rrset) => {
                    for record in rrset.records.iter().chain(&rrset.signatures) {
                        let _ = writeln!(out, "{record}");
                    }
                    for proof in refs {
                        let rtype = RecordType::from(proof.rtype);
                        let _ = writeln!(out, "; wildcard proof: {} {rtype}", proof.owner);
                    }
                }
                Lookup::Negative(negative) => {
                    let wire = &found.key[..found.key.len() - 2];
                    let owner = Name::read(&mut BinDecoder::new(wire))
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    if negative.nxdomain {
                        let _ = writeln!(out, "; NXDOMAIN {owner}");
                    } else {
                        let _ = writeln!(out, "; NODATA {owner} {}", RecordType::from(rtype));
                    }
                    for record in &negative.authority {
                        let _ = writeln!(out, "{record}");
                    }
                }
                Lookup::Miss => {}
            }
        });
        entries
    }

    /// Drops every entry at `name` or below it (a flush from the operator).
    pub fn flush(&self, name: &Name) -> usize {
        self.forget_recent_proofs();
        let mut buf = [0u8; KEY_MAX];
        let Some(key) = key_of(name, 0, &mut buf) else {
            return 0;
        };
        let zone = &key[..key.len() - 2];
        self.table
            .remove_where(|key| is_at_or_below(&key[..key.len() - 2], zone))
    }
}

/// The cache's clock: seconds fit 32 bits (136 years of uptime).
fn clock(now: u64) -> u32 {
    u32::try_from(now).unwrap_or(u32::MAX)
}

/// The key of (`name`, `rtype`): the name's lowercase wire form, then the type.
fn key_of<'b>(name: &Name, rtype: u16, buf: &'b mut [u8; KEY_MAX]) -> Option<&'b [u8]> {
    let mut at = 0;
    for label in name.iter() {
        let len = u8::try_from(label.len()).ok().filter(|l| *l < 64)?;
        let end = at + 1 + label.len();
        if end + 3 > KEY_MAX {
            return None;
        }
        buf[at] = len;
        for (slot, byte) in buf[at + 1..end].iter_mut().zip(label) {
            *slot = byte.to_ascii_lowercase();
        }
        at = end;
    }
    buf[at] = 0;
    buf[at + 1..at + 3].copy_from_slice(&rtype.to_be_bytes());
    Some(&buf[..at + 3])
}

/// Whether the wire name `name` is `zone` or below it (both lowercase, uncompressed).
fn is_at_or_below(name: &[u8], zone: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        if name[at..] == *zone {
            return true;
        }
        at += 1 + usize::from(name[at]);
    }
    false
}

/// A reference to a stored wildcard proof: its RRset's owner and type, and the
/// fingerprint of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProofRef {
    owner: Name,
    rtype: u16,
    fingerprint: u32,
}

/// A fingerprint of the data of `records`, in any order (their RDATA in zone-file
/// form, lowercased).
fn fingerprint(records: &[Record]) -> u32 {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::with_seed(0x9e37_79b9);
    records.iter().fold(0u64, |sum, r| {
        sum.wrapping_add(hasher.hash_one(r.data.to_string().to_ascii_lowercase()))
    }) as u32
}

/// Whether `a` and `b` hold the same records' data, in any order (TTLs aside).
fn same_data(a: &[Record], b: &[Record]) -> bool {
    a.len() == b.len() && a.iter().all(|r| b.iter().any(|o| o.data == r.data))
}

/// The entry for `sections` (records, signatures) and the wildcard proofs `refs` at
/// (`owner`, `rtype`): the key, then kind, rank and the three counts, then the
/// records (owners lowercased, compressed against the key), then each reference
/// (owner, type, fingerprint).
fn encode(
    owner: &Name,
    rtype: u16,
    kind: Kind,
    rank: Rank,
    sections: [&[Record]; 2],
    refs: &[ProofRef],
) -> Option<Blob> {
    let mut buf = [0u8; KEY_MAX];
    let key = key_of(owner, rtype, &mut buf)?;
    let mut bytes = Vec::with_capacity(256);
    let mut encoder = BinEncoder::new(&mut bytes);
    let lowercase = owner.to_lowercase();
    lowercase.emit(&mut encoder).ok()?;
    encoder.emit_u16(rtype).ok()?;
    encoder.emit(kind as u8).ok()?;
    encoder.emit(rank as u8).ok()?;
    for section in sections {
        encoder.emit_u16(u16::try_from(section.len()).ok()?).ok()?;
    }
    encoder.emit_u16(u16::try_from(refs.len()).ok()?).ok()?;
    for record in sections.into_iter().flatten() {
        // As `Record::emit` writes it, the owner lowercased, without a copy of the
        // record (the owner is most often the key's: lowercased once).
        let other;
        let name = match record.name == *owner {
            true => &lowercase,
            false => {
                other = record.name.to_lowercase();
                &other
            }
        };
        name.emit(&mut encoder).ok()?;
        record.record_type().emit(&mut encoder).ok()?;
        record.dns_class.emit(&mut encoder).ok()?;
        encoder.emit_u32(record.ttl).ok()?;
        let length = encoder.place::<u16>().ok()?;
        record.data.emit(&mut encoder).ok()?;
        let written = u16::try_from(encoder.len_since_place(&length)).ok()?;
        length.replace(&mut encoder, written).ok()?;
    }
    for proof in refs {
        proof.owner.to_lowercase().emit(&mut encoder).ok()?;
        encoder.emit_u16(proof.rtype).ok()?;
        encoder.emit_u32(proof.fingerprint).ok()?;
    }
    drop(encoder);
    // The key written by the encoder must be the one lookups compute.
    if bytes.get(..key.len()) != Some(key) {
        return None;
    }
    Blob::from_keyed(&bytes, key.len())
}

/// The lookup an entry gives, its TTLs lowered by `elapsed` (wildcard proofs left
/// out), and the references to its proofs; None if it does not decode (never, for
/// entries `encode` made).
fn decode(keyed: &[u8], key_len: usize, elapsed: u32) -> Option<(Lookup, Vec<ProofRef>)> {
    let mut decoder = BinDecoder::new(keyed);
    decoder.read_slice(key_len).ok()?;
    let kind = decoder.read_u8().ok()?.unverified();
    let rank = match decoder.read_u8().ok()?.unverified() {
        0 => Rank::Glue,
        1 => Rank::Referral,
        2 => Rank::Authority,
        _ => Rank::Answer,
    };
    let count = decoder.read_u16().ok()?.unverified();
    let signed = decoder.read_u16().ok()?.unverified();
    let proven = decoder.read_u16().ok()?.unverified();
    let mut read = |n: u16| -> Option<Vec<Record>> {
        (0..n)
            .map(|_| {
                let mut record = Record::read(&mut decoder).ok()?;
                record.ttl = record.ttl.saturating_sub(elapsed);
                Some(record)
            })
            .collect()
    };
    let records = read(count)?;
    let signatures = read(signed)?;
    let refs = (0..proven)
        .map(|_| {
            Some(ProofRef {
                owner: Name::read(&mut decoder).ok()?,
                rtype: decoder.read_u16().ok()?.unverified(),
                fingerprint: decoder.read_u32().ok()?.unverified(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let lookup = match kind {
        k if k == Kind::Rrset as u8 => Lookup::Rrset(CachedRrset {
            records,
            signatures,
            rank,
            proof: Vec::new(),
        }),
        k => Lookup::Negative(CachedNegative {
            nxdomain: k == Kind::NxDomain as u8,
            authority: records,
        }),
    };
    Some((lookup, refs))
}

/// RFC 2308 §5: the negative TTL is the lesser of the SOA's TTL and its MINIMUM.
fn negative_ttl(authority: &[Record]) -> Option<u32> {
    authority.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
