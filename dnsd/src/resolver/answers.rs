//! Rendered answers, kept so that a UDP worker answers a repeated question itself,
//! synchronously, without the resolver's tasks (Unbound's message cache, one step
//! further: the bytes themselves).
//!
//! An entry is the response the resolver sent for (name, type, request flags) — ID
//! zeroed, question lowercased — with the offsets of its TTLs and the time it was
//! stored. A hit copies it, puts the request's ID and question (case kept, RFC 4343)
//! in, and lowers each TTL by the time spent in the cache (RFC 1035 §7.3; the entry
//! expires with its smallest TTL). The flags in the key (EDNS, DO, CD, AD, RD) are all
//! that shaped the response, so a hit is the response the resolver would render again.
//! A response larger than the client's UDP limit is left to the resolver (which
//! truncates). Shards each behind a mutex, bounded by bytes, oldest out first.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Mutex;

use hashbrown::{Equivalent, HashMap};

use crate::wire::message::{HEADER_LEN, Request, flags};
use crate::wire::name::{MAX_NAME_LEN, lowercase_into};

const SHARDS: usize = 16;

/// The request flags a cached response depends on.
fn key_flags(request: &Request<'_>) -> u8 {
    let header = request.header.flags;
    let mut bits = 0;
    if let Some(edns) = request.edns {
        bits |= 1;
        if edns.dnssec_ok {
            bits |= 2;
        }
    }
    if header & CD != 0 {
        bits |= 4;
    }
    if header & AD != 0 {
        bits |= 8;
    }
    if header & flags::RD != 0 {
        bits |= 16;
    }
    bits
}

const CD: u16 = 0x0010;
const AD: u16 = 0x0020;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    name: Box<[u8]>,
    qtype: u16,
    flags: u8,
}

struct KeyRef<'a> {
    name: &'a [u8],
    qtype: u16,
    flags: u8,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            name: &self.name,
            qtype: self.qtype,
            flags: self.flags,
        }
        .hash(state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.name);
        state.write_u16(self.qtype);
        state.write_u8(self.flags);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.name == *key.name && self.qtype == key.qtype && self.flags == key.flags
    }
}

struct Stored {
    bytes: Vec<u8>,
    ttls: Vec<usize>,
    stored: u64,
    expires: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Stored>,
    order: VecDeque<(Key, u64)>,
    bytes: usize,
}

/// The cache of rendered answers.
pub struct AnswerCache {
    shards: Vec<Mutex<Shard>>,
    hasher: foldhash::fast::FixedState,
    shard_bytes: usize,
}

impl AnswerCache {
    /// A cache of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0xa5),
            shard_bytes: (max_bytes / SHARDS).max(4096),
        }
    }

    fn shard(&self, key: &KeyRef<'_>) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Writes into `out` the cached response to `request` at `now`, if there is one
    /// that fits `limit` octets; false on a miss. No allocation once `out` has grown.
    pub fn answer(&self, request: &Request<'_>, limit: usize, out: &mut Vec<u8>, now: u64) -> bool {
        let Some(question) = request.question else {
            return false;
        };
        let mut buf = [0u8; MAX_NAME_LEN];
        let key = KeyRef {
            name: lowercase_into(question.name, &mut buf),
            qtype: question.qtype,
            flags: key_flags(request),
        };
        let Ok(shard) = self.shard(&key).lock() else {
            return false;
        };
        let Some(stored) = shard.map.get(&key).filter(|s| s.expires > now) else {
            return false;
        };
        if stored.bytes.len() > limit {
            return false;
        }
        out.clear();
        out.extend_from_slice(&stored.bytes);
        let elapsed = (now - stored.stored) as u32;
        for &at in &stored.ttls {
            let ttl = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]);
            out[at..at + 4].copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
        }
        drop(shard);
        out[..2].copy_from_slice(&request.header.id.to_be_bytes());
        let name_end = HEADER_LEN + question.name.len();
        if out.len() >= name_end {
            out[HEADER_LEN..name_end].copy_from_slice(question.name);
        }
        true
    }

    /// Keeps `response`, the answer to `request`, for its smallest TTL (not at all
    /// when that is 0 or the response does not parse as ours).
    pub fn put(&self, request: &Request<'_>, response: &[u8], now: u64) {
        let Some(question) = request.question else {
            return;
        };
        let Some((ttls, min_ttl)) = ttl_offsets(response, question.name.len()) else {
            return;
        };
        if min_ttl == 0 {
            return;
        }
        let mut buf = [0u8; MAX_NAME_LEN];
        let name = lowercase_into(question.name, &mut buf);
        let mut bytes = response.to_vec();
        bytes[..2].fill(0);
        bytes[HEADER_LEN..HEADER_LEN + name.len()].copy_from_slice(name);
        let key = Key {
            name: name.into(),
            qtype: question.qtype,
            flags: key_flags(request),
        };
        let size = bytes.len() + ttls.len() * 8 + key.name.len() + 96;
        let key_ref = KeyRef {
            name: &key.name,
            qtype: key.qtype,
            flags: key.flags,
        };
        let Ok(mut shard) = self.shard(&key_ref).lock() else {
            return;
        };
        let shard = &mut *shard;
        while shard.bytes + size > self.shard_bytes {
            let Some((old, stored)) = shard.order.pop_front() else {
                break;
            };
            if shard.map.get(&old).is_some_and(|s| s.stored == stored)
                && let Some(gone) = shard.map.remove(&old)
            {
                shard.bytes -= gone.bytes.len() + gone.ttls.len() * 8 + old.name.len() + 96;
            }
        }
        let entry = Stored {
            bytes,
            ttls,
            stored: now,
            expires: now + u64::from(min_ttl),
        };
        if let Some(old) = shard.map.insert(key.clone(), entry) {
            shard.bytes -= old.bytes.len() + old.ttls.len() * 8 + key.name.len() + 96;
        }
        shard.bytes += size;
        shard.order.push_back((key, now));
    }
}

/// The offsets of the TTL fields of every record of `message` except OPT (whose
/// "TTL" holds EDNS flags), and the smallest TTL; `name_len` is the question name's
/// length (uncompressed, as rendered). None when the message does not walk.
fn ttl_offsets(message: &[u8], name_len: usize) -> Option<(Vec<usize>, u32)> {
    let count = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *message.get(i)?,
            *message.get(i + 1)?,
        ])))
    };
    if count(4)? != 1 {
        return None;
    }
    let records = count(6)? + count(8)? + count(10)?;
    let mut at = HEADER_LEN + name_len + 4;
    let mut ttls = Vec::with_capacity(records);
    let mut min = u32::MAX;
    for _ in 0..records {
        // The owner: labels up to the root or a compression pointer.
        loop {
            let len = *message.get(at)?;
            match len {
                0 => {
                    at += 1;
                    break;
                }
                l if l & 0xc0 == 0xc0 => {
                    at += 2;
                    break;
                }
                l => at += 1 + usize::from(l),
            }
        }
        let rtype = count(at)?;
        let ttl_at = at + 4;
        let rdlen = count(at + 8)?;
        if rtype != 41 {
            let ttl = u32::from_be_bytes(message.get(ttl_at..ttl_at + 4)?.try_into().ok()?);
            min = min.min(ttl);
            ttls.push(ttl_at);
        }
        at += 10 + rdlen;
        if at > message.len() {
            return None;
        }
    }
    Some((ttls, if min == u32::MAX { 0 } else { min }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::parse;

    /// A query for `name` A with id and flags, EDNS when `edns`.
    fn query(id: u16, name: &[u8], edns: bool) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
        q.extend_from_slice(name);
        q.extend_from_slice(&[0, 1, 0, 1]);
        if edns {
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        q
    }

    /// The response to `query` with one A record of TTL 300 (name compressed).
    fn response(query: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x80;
        r[3] |= 0x80;
        r[7] = 1;
        let question_end = query.len() - if query[11] == 1 { 11 } else { 0 };
        r.truncate(question_end);
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 198, 51, 100, 7]);
        if query[11] == 1 {
            r.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        r
    }

    #[test]
    fn a_hit_has_the_requests_id_and_case_and_older_ttls() {
        let cache = AnswerCache::new(1 << 20);
        let first = query(1, b"\x03WWW\x07example\x00", true);
        cache.put(&parse(&first).unwrap(), &response(&first), 100);
        let again = query(2, b"\x03www\x07ExAmple\x00", true);
        let mut out = Vec::new();
        assert!(cache.answer(&parse(&again).unwrap(), 1232, &mut out, 130));
        let mut expected = response(&again);
        expected[35..39].copy_from_slice(&270u32.to_be_bytes());
        assert_eq!(out, expected);
        // Other flags (no EDNS here) or an expired entry: a miss.
        let plain = query(3, b"\x03www\x07example\x00", false);
        assert!(!cache.answer(&parse(&plain).unwrap(), 512, &mut out, 130));
        assert!(!cache.answer(&parse(&again).unwrap(), 1232, &mut out, 400));
        // Too big for the client: a miss.
        assert!(!cache.answer(&parse(&again).unwrap(), 20, &mut out, 130));
    }
}
