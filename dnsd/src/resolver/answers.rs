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
//! truncates). Entries live in a `table::BlobTable` (sharded, bounded by bytes, CLOCK
//! eviction): one allocation each, the key (lowercase question name, type, flags),
//! then the count and offsets of the TTLs (u16 each), then the response without its
//! ID and question name (the key has the name; a hit writes the request's).
//!
//! Each thread that answers (a UDP worker) also keeps copies of the entries it served
//! lately ([`Recent`]: 256 slots by the key's hash, buffers reused, some 100 KB at
//! most), and answers a repeated question from its copy: no lock, no store to a line
//! another core reads. Through the shared table, every hit took a shard's mutex that
//! the other workers took for the same popular names, so the line holding it moved
//! between cores at each query. A copy lives as long as the entry it copies (the
//! same expiry); one late in its life goes back to the table, where the refresh is
//! claimed once; [`AnswerCache::clear`] (a flush) drops every thread's copies. A copy
//! may outlive its entry's replacement or eviction until it expires: its TTLs still
//! hold. Copies are not counted against the bound.

use crate::wire::message::{HEADER_LEN, Request, flags};
use crate::wire::name::{MAX_NAME_LEN, lowercase_into};

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::table::{Blob, BlobTable, refresh_due};

/// Longest key: a name, a type (2) and the flags (1).
const KEY_MAX: usize = MAX_NAME_LEN + 3;

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

/// The key of `request` in `buf`: lowercase name, type, flags; None without question.
fn key_of<'b>(request: &Request<'_>, buf: &'b mut [u8; KEY_MAX]) -> Option<&'b [u8]> {
    let question = request.question?;
    let mut name = [0u8; MAX_NAME_LEN];
    let name = lowercase_into(question.name, &mut name);
    let len = name.len();
    buf.get_mut(..len)?.copy_from_slice(name);
    buf[len..len + 2].copy_from_slice(&question.qtype.to_be_bytes());
    buf[len + 2] = key_flags(request);
    Some(&buf[..len + 3])
}

/// What [`AnswerCache::answer`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// Nothing usable: the resolver answers.
    Miss,
    /// The response was written.
    Fresh,
    /// The response was written, and the entry is in the last tenth of its TTL: this
    /// hit claimed its refresh (prefetch, once per entry; `table::refresh_due`).
    Refresh,
}

impl Hit {
    /// Whether a response was written.
    pub fn is_hit(self) -> bool {
        self != Hit::Miss
    }
}

/// The cache of rendered answers.
pub struct AnswerCache {
    table: BlobTable,
    /// This cache among the process's (threads' copies name the cache they copy).
    id: u64,
    /// Flushes so far: a thread's copies made before the last one are dropped.
    flushes: AtomicU64,
}

/// Slots of a thread's copies (a power of two).
const RECENT_SLOTS: usize = 256;

/// A thread's copies of entries it served lately, one per slot (the key's hash picks
/// it; a newer one takes the slot).
struct Recent {
    /// The cache copied from, and its flush count then.
    cache: u64,
    flushes: u64,
    slots: Vec<RecentSlot>,
}

/// One copy: the key and the value as the table holds them, and the entry's times.
#[derive(Default)]
struct RecentSlot {
    hash: u64,
    key_len: usize,
    keyed: Vec<u8>,
    stored: u32,
    expires: u32,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            cache: 0,
            flushes: 0,
            slots: Vec::new(),
        })
    };
}

/// Hashes keys for the threads' copies.
fn recent_hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7265_6365_6e74).hash_one(key)
}

/// Writes into `out` the response stored as `value` (TTL count and offsets, header,
/// the rest) for `request`, whose question name is `qname`, TTLs lowered by the time
/// since `stored`; None when it does not fit `limit` or does not read.
fn render(
    value: &[u8],
    request: &Request<'_>,
    qname: &[u8],
    limit: usize,
    elapsed: u32,
    out: &mut Vec<u8>,
) -> Option<()> {
    let count = usize::from(u16::from_be_bytes([*value.first()?, *value.get(1)?]));
    let (offsets, stored) = value.get(2..)?.split_at_checked(2 * count)?;
    // The response: the ID, the stored header, the question name (the request's,
    // case kept), the rest as stored.
    let (header, rest) = stored.split_at_checked(HEADER_LEN - 2)?;
    if 2 + stored.len() + qname.len() > limit {
        return None;
    }
    out.clear();
    out.extend_from_slice(&request.header.id.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(qname);
    out.extend_from_slice(rest);
    for pair in offsets.chunks_exact(2) {
        let at = usize::from(u16::from_be_bytes([pair[0], pair[1]]));
        let field = out.get_mut(at..at + 4)?;
        let ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        field.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
    }
    Some(())
}

/// The cache's clock: seconds in 32 bits.
fn clock(now: u64) -> u32 {
    u32::try_from(now).unwrap_or(u32::MAX)
}

impl AnswerCache {
    /// A cache of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            table: BlobTable::new(max_bytes),
            id: NEXT.fetch_add(1, Relaxed),
            flushes: AtomicU64::new(0),
        }
    }

    /// Octets held, as counted against the bound.
    pub fn bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Entries evicted or dropped so far.
    pub fn freed(&self) -> u64 {
        self.table.freed()
    }

    /// Drops every rendered answer (the threads' copies too).
    pub fn clear(&self) {
        self.table.remove_where(|_| true);
        // After the removal: a copy made while it ran counts the flushes before it.
        self.flushes.fetch_add(1, Relaxed);
    }

    /// Entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Writes into `out` the cached response to `request` at `now`, if there is one
    /// that fits `limit` octets. No allocation once `out` has grown. With `prefetch`,
    /// a hit late in the entry's life claims its refresh ([`Hit::Refresh`]).
    pub fn answer(
        &self,
        request: &Request<'_>,
        limit: usize,
        out: &mut Vec<u8>,
        now: u64,
        prefetch: bool,
    ) -> Hit {
        let Some(question) = request.question else {
            return Hit::Miss;
        };
        let mut buf = [0u8; KEY_MAX];
        let Some(key) = key_of(request, &mut buf) else {
            return Hit::Miss;
        };
        let now = clock(now);
        let hash = recent_hash(key);
        let flushes = self.flushes.load(Relaxed);
        RECENT.with(|recent| {
            let Ok(mut recent) = recent.try_borrow_mut() else {
                return self.answer_shared(request, key, limit, out, now, prefetch, None);
            };
            let recent = &mut *recent;
            if recent.cache != self.id || recent.flushes != flushes || recent.slots.is_empty() {
                recent.cache = self.id;
                recent.flushes = flushes;
                recent.slots.clear();
                recent.slots.resize_with(RECENT_SLOTS, RecentSlot::default);
            }
            let slot = &mut recent.slots[(hash as usize) & (RECENT_SLOTS - 1)];
            if slot.hash == hash
                && slot.expires > now
                && slot.keyed.get(..slot.key_len) == Some(key)
                && !(prefetch && refresh_due(slot.stored, slot.expires, now))
            {
                let elapsed = now.saturating_sub(slot.stored);
                let value = &slot.keyed[slot.key_len..];
                if render(value, request, question.name, limit, elapsed, out).is_some() {
                    return Hit::Fresh;
                }
            }
            self.answer_shared(request, key, limit, out, now, prefetch, Some((hash, slot)))
        })
    }

    /// [`Self::answer`] from the shared table; the entry found is copied to `slot`
    /// (with the key's `hash`) when given.
    #[allow(clippy::too_many_arguments)]
    fn answer_shared(
        &self,
        request: &Request<'_>,
        key: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
        now: u32,
        prefetch: bool,
        copy: Option<(u64, &mut RecentSlot)>,
    ) -> Hit {
        let Some(question) = request.question else {
            return Hit::Miss;
        };
        let read = |found: super::table::Found<'_>| {
            let elapsed = now.saturating_sub(found.stored);
            render(found.value, request, question.name, limit, elapsed, out)?;
            if let Some((hash, slot)) = copy {
                slot.hash = hash;
                slot.key_len = found.key.len();
                slot.keyed.clear();
                slot.keyed.extend_from_slice(found.keyed);
                slot.stored = found.stored;
                slot.expires = found.expires;
            }
            Some(found.refresh)
        };
        let copied = if prefetch {
            self.table.get_claiming(key, now, read)
        } else {
            self.table.get(key, now, 0, read)
        };
        let Some(refresh) = copied.flatten() else {
            return Hit::Miss;
        };
        if refresh { Hit::Refresh } else { Hit::Fresh }
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
        if min_ttl == 0 || response.len() < HEADER_LEN + question.name.len() + 4 {
            return;
        }
        let mut buf = [0u8; KEY_MAX];
        let Some(key) = key_of(request, &mut buf) else {
            return;
        };
        let name_len = key.len() - 3;
        let Ok(count) = u16::try_from(ttls.len()) else {
            return;
        };
        let stored_len = response.len() - 2 - name_len;
        let Some(mut blob) = Blob::new(key, 2 + 2 * ttls.len() + stored_len) else {
            return;
        };
        blob.extend(&count.to_be_bytes());
        for at in ttls {
            let Ok(at) = u16::try_from(at) else {
                return;
            };
            blob.extend(&at.to_be_bytes());
        }
        // Without the ID and the question name (the request's go in on a hit): the
        // key holds the name already.
        blob.extend(&response[2..HEADER_LEN]);
        blob.extend(&response[HEADER_LEN + name_len..]);
        let now = clock(now);
        self.table
            .insert(blob, now, now.saturating_add(min_ttl), |_, _| false);
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
        assert!(
            cache
                .answer(&parse(&again).unwrap(), 1232, &mut out, 130, false)
                .is_hit()
        );
        let mut expected = response(&again);
        expected[35..39].copy_from_slice(&270u32.to_be_bytes());
        assert_eq!(out, expected);
        // Other flags (no EDNS here) or an expired entry: a miss.
        let plain = query(3, b"\x03www\x07example\x00", false);
        assert!(
            !cache
                .answer(&parse(&plain).unwrap(), 512, &mut out, 130, false)
                .is_hit()
        );
        assert!(
            !cache
                .answer(&parse(&again).unwrap(), 1232, &mut out, 400, false)
                .is_hit()
        );
        // Too big for the client: a miss.
        assert!(
            !cache
                .answer(&parse(&again).unwrap(), 20, &mut out, 130, false)
                .is_hit()
        );
    }

    #[test]
    fn a_hit_in_the_last_tenth_of_the_ttl_claims_the_refresh_once() {
        let cache = AnswerCache::new(1 << 20);
        let first = query(1, b"\x03www\x07example\x00", true);
        let request = parse(&first).unwrap();
        cache.put(&request, &response(&first), 100);
        let mut out = Vec::new();
        // TTL 300: due from 370 s on (30 s left), until it expires at 400.
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 369, true),
            Hit::Fresh
        );
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 370, false),
            Hit::Fresh
        );
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 370, true),
            Hit::Refresh
        );
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 371, true),
            Hit::Fresh
        );
        // Stored again (the refresh's answer): due again late in its new life.
        cache.put(&request, &response(&first), 372);
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 380, true),
            Hit::Fresh
        );
        assert_eq!(
            cache.answer(&request, 1232, &mut out, 650, true),
            Hit::Refresh
        );
        assert_eq!(cache.answer(&request, 1232, &mut out, 672, true), Hit::Miss);
    }

    #[test]
    fn a_threads_copy_answers_until_a_flush_and_other_caches_are_apart() {
        let cache = AnswerCache::new(1 << 20);
        let first = query(1, b"\x03www\x07example\x00", true);
        let request = parse(&first).unwrap();
        cache.put(&request, &response(&first), 100);
        let mut out = Vec::new();
        // The first hit copies the entry, the second answers from the copy.
        for _ in 0..2 {
            assert!(cache.answer(&request, 1232, &mut out, 110, false).is_hit());
            let mut expected = response(&first);
            expected[35..39].copy_from_slice(&290u32.to_be_bytes());
            assert_eq!(out, expected);
        }
        // Another cache with nothing in it answers nothing, copies or not.
        let other = AnswerCache::new(1 << 20);
        assert!(!other.answer(&request, 1232, &mut out, 110, false).is_hit());
        assert!(cache.answer(&request, 1232, &mut out, 110, false).is_hit());
        // A flush drops the copies too.
        cache.clear();
        assert!(!cache.answer(&request, 1232, &mut out, 111, false).is_hit());
    }

    #[test]
    fn the_bound_holds_under_a_flood_of_names() {
        let cache = AnswerCache::new(1 << 20);
        for i in 0..50_000u32 {
            let name = format!("\x0an{i:09}\x07example\x00");
            let q = query(1, name.as_bytes(), true);
            cache.put(&parse(&q).unwrap(), &response(&q), 1);
        }
        assert!(cache.bytes() <= 1 << 20, "{} octets", cache.bytes());
        let last = query(7, b"\x0an000049999\x07example\x00", true);
        let mut out = Vec::new();
        assert!(
            cache
                .answer(&parse(&last).unwrap(), 1232, &mut out, 1, false)
                .is_hit()
        );
        assert_eq!(out, response(&last));
    }
}
