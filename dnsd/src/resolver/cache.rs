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
//! - **Memory**: the cache is split into shards by a hash of the key, each behind its
//!   own mutex, so that workers and tasks do not share one lock; each shard holds at
//!   most its part of the configured bytes, and evicts its oldest entries first.
//!
//! Time comes in as an argument (`now`, seconds on a monotonic clock), so the cache is
//! tested without waiting.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;

use hickory_proto::rr::{Name, Record, RecordType};

/// Shards of the cache (a power of two).
const SHARDS: usize = 16;
/// What one entry costs beyond its records' bytes: key, map slot, vectors, queue.
const ENTRY_OVERHEAD: usize = 160;

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

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Rrset(CachedRrset),
    Negative(CachedNegative),
}

/// An NXDOMAIN is stored under this type: it covers every type at its name.
const NXDOMAIN_TYPE: u16 = 0;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    name: Name,
    rtype: u16,
}

struct Entry {
    value: Value,
    /// When it was stored and when it expires, in the caller's seconds.
    stored: u64,
    expires: u64,
    bytes: usize,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    /// Keys in the order stored (a key stored again appears twice; the stale one is
    /// recognized by its `stored` time and skipped).
    order: VecDeque<(Key, u64)>,
    bytes: usize,
}

/// The cache, shared by every resolution task.
pub struct Cache {
    shards: Vec<Mutex<Shard>>,
    hasher: foldhash::fast::FixedState,
    shard_bytes: usize,
    min_ttl: u32,
    max_ttl: u32,
}

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
    /// A cache of at most `max_bytes` (estimated), storing TTLs within
    /// `[min_ttl, max_ttl]`.
    pub fn new(max_bytes: usize, min_ttl: u32, max_ttl: u32) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            shard_bytes: (max_bytes / SHARDS).max(4096),
            min_ttl,
            max_ttl,
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        let hash = self.hasher.hash_one(key) as usize;
        &self.shards[hash % SHARDS]
    }

    /// Bytes held, as estimated.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.bytes))
            .sum()
    }

    /// Entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What is known of (`name`, `rtype`) at `now`: an NXDOMAIN of the name answers
    /// every type.
    pub fn get(&self, name: &Name, rtype: RecordType, now: u64) -> Lookup {
        let name = name.to_lowercase();
        for code in [u16::from(rtype), NXDOMAIN_TYPE] {
            let key = Key {
                name: name.clone(),
                rtype: code,
            };
            let Ok(shard) = self.shard(&key).lock() else {
                return Lookup::Miss;
            };
            let Some(entry) = shard.map.get(&key).filter(|e| e.expires > now) else {
                continue;
            };
            let elapsed = (now - entry.stored) as u32;
            return match &entry.value {
                Value::Rrset(rrset) => {
                    let mut rrset = rrset.clone();
                    for r in rrset.records.iter_mut().chain(rrset.signatures.iter_mut()) {
                        r.ttl = r.ttl.saturating_sub(elapsed);
                    }
                    Lookup::Rrset(rrset)
                }
                Value::Negative(negative) => {
                    let mut negative = negative.clone();
                    for r in &mut negative.authority {
                        r.ttl = r.ttl.saturating_sub(elapsed);
                    }
                    Lookup::Negative(negative)
                }
            };
        }
        Lookup::Miss
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
        let key = Key {
            name: first.name.to_lowercase(),
            rtype: u16::from(first.record_type()),
        };
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
        let bytes = estimate(&rrset.records) + estimate(&rrset.signatures);
        let rank = rrset.rank;
        self.insert(key, Value::Rrset(rrset), ttl, bytes, now, |old| match old {
            Value::Rrset(old) => old.rank <= rank,
            Value::Negative(_) => true,
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
        let key = Key {
            name: name.to_lowercase(),
            rtype: if negative.nxdomain {
                NXDOMAIN_TYPE
            } else {
                u16::from(rtype)
            },
        };
        let mut negative = negative;
        for r in &mut negative.authority {
            r.ttl = r.ttl.min(ttl);
        }
        let bytes = estimate(&negative.authority);
        self.insert(key, Value::Negative(negative), ttl, bytes, now, |old| {
            // Authoritative data proving existence wins over a negative answer.
            !matches!(old, Value::Rrset(r) if r.rank >= Rank::Authority)
        });
    }

    /// Drops every entry at `name` or below it (a flush from the operator).
    pub fn flush(&self, name: &Name) -> usize {
        let name = name.to_lowercase();
        let mut dropped = 0;
        for shard in &self.shards {
            let Ok(mut shard) = shard.lock() else {
                continue;
            };
            let before = shard.map.len();
            let mut freed = 0;
            shard.map.retain(|key, entry| {
                let keep = !name.zone_of(&key.name);
                if !keep {
                    freed += entry.bytes;
                }
                keep
            });
            shard.bytes -= freed;
            dropped += before - shard.map.len();
        }
        dropped
    }

    fn insert(
        &self,
        key: Key,
        value: Value,
        ttl: u32,
        bytes: usize,
        now: u64,
        replaces: impl Fn(&Value) -> bool,
    ) {
        let bytes = bytes + ENTRY_OVERHEAD;
        let Ok(mut shard) = self.shard(&key).lock() else {
            return;
        };
        let shard = &mut *shard;
        if let Some(old) = shard.map.get(&key)
            && old.expires > now
            && !replaces(&old.value)
        {
            return;
        }
        // Make room: oldest first, expired or not.
        while shard.bytes + bytes > self.shard_bytes {
            let Some((old_key, stored)) = shard.order.pop_front() else {
                break;
            };
            if shard.map.get(&old_key).is_some_and(|e| e.stored == stored)
                && let Some(old) = shard.map.remove(&old_key)
            {
                shard.bytes -= old.bytes;
            }
        }
        if shard.order.len() > 4 * shard.map.len() + 64 {
            // Stale queue slots of keys stored again: compact.
            let map = &shard.map;
            shard
                .order
                .retain(|(k, stored)| map.get(k).is_some_and(|e| e.stored == *stored));
        }
        let entry = Entry {
            value,
            stored: now,
            expires: now + u64::from(ttl),
            bytes,
        };
        if let Some(old) = shard.map.insert(key.clone(), entry) {
            shard.bytes -= old.bytes;
        }
        shard.bytes += bytes;
        shard.order.push_back((key, now));
    }
}

/// RFC 2308 §5: the negative TTL is the lesser of the SOA's TTL and its MINIMUM.
fn negative_ttl(authority: &[Record]) -> Option<u32> {
    authority.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

/// Bytes that `records` take in the cache, roughly: owner, rdata, fixed fields.
fn estimate(records: &[Record]) -> usize {
    records
        .iter()
        .map(|r| {
            let rdata = hickory_proto::serialize::binary::BinEncodable::to_bytes(&r.data)
                .map_or(64, |b| b.len());
            r.name.len() + rdata + 48
        })
        .sum()
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
