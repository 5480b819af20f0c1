//! The storage under both resolver caches (RRsets in `cache.rs`, rendered answers in
//! `answers.rs`): a table of byte strings, each one allocation that starts with its
//! key, split into shards by the key's hash, each shard behind its own mutex and
//! bounded by bytes.
//!
//! ```text
//!  blob:  [key length: u16][flags: u8][key ...][value ...]      one Box<[u8]>
//!  slot:  blob, stored (s), expires (s)                          24 octets
//!  order: (hash, stored) per insertion, oldest first             16 octets
//! ```
//!
//! Memory is what the issue measures (RSS at 1 M cached names): a slot is 24 octets in
//! a `hashbrown::HashTable` (no second copy of the key, no per-entry vector), the
//! eviction queue 16 more, and the blob itself is the encoded data. The bound counts
//! what the process really holds for it: each blob as the allocator hands it out
//! (glibc's malloc: an 8-octet header, 16-octet steps), and each shard's table and
//! queue by their capacity (with the room they keep spare), not by their length;
//! after an insertion that grew either, entries are evicted until the total fits
//! again. Eviction is CLOCK
//! over insertion order: the oldest entry goes first unless it was read since it was
//! stored, in which case it gets one more turn at the back of the queue (popular names
//! stay; a flood of names read once does not push them out).
//!
//! The flags octet also holds a mark the owner sets on an entry ([`BlobTable::mark`]:
//! the validator's verdict on an RRset), dropped when other octets are stored under
//! the key and kept when the same ones are.
//!
//! Time is the caller's (seconds), so tests need no clock.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::HashTable;

/// Shards (a power of two): enough that the workers and tasks seldom meet on one lock.
const SHARDS: usize = 16;
/// Blob header: key length (2) and flags (1).
const HEADER: usize = 3;
/// Flag: read since stored (CLOCK's reference bit).
const REFERENCED: u8 = 1;
/// Flag: a refresh was claimed for it (prefetch: once per entry).
const REFRESH_CLAIMED: u8 = 2;
/// Flag: the owner's mark ([`BlobTable::mark`]: for the RRset cache, found secure by
/// the validator). Kept when the same octets are stored again: same data, same
/// verdict.
const MARKED: u8 = 4;

/// One entry: the blob and its times.
struct Slot {
    blob: Box<[u8]>,
    stored: u32,
    expires: u32,
}

impl Slot {
    fn key(&self) -> &[u8] {
        let len = usize::from(u16::from_be_bytes([self.blob[0], self.blob[1]]));
        &self.blob[HEADER..HEADER + len]
    }

    fn cost(&self) -> usize {
        allocated(self.blob.len())
    }
}

/// What the allocator takes for `len` octets: glibc's malloc on 64-bit systems adds
/// an 8-octet size field, rounds up to 16, and hands out 32 at least.
const fn allocated(len: usize) -> usize {
    let chunk = (len + 8 + 15) & !15;
    if chunk < 32 { 32 } else { chunk }
}

#[derive(Default)]
struct Shard {
    table: HashTable<Slot>,
    /// (hash, stored) in insertion order; a slot stored again leaves a stale place,
    /// recognized by its time and skipped.
    order: VecDeque<(u64, u32)>,
    /// The blobs, as allocated.
    bytes: usize,
}

impl Shard {
    /// Everything the shard holds: blobs, table and queue.
    fn held(&self) -> usize {
        self.bytes + self.structure()
    }

    /// The table (its buckets, spare ones included) and the queue (its capacity).
    fn structure(&self) -> usize {
        self.table.allocation_size() + self.order.capacity() * std::mem::size_of::<(u64, u32)>()
    }
}

/// An entry as the reader sees it.
pub struct Found<'a> {
    /// The key.
    pub key: &'a [u8],
    /// What follows the key.
    pub value: &'a [u8],
    /// The key and the value, contiguous (offsets within the value are relative to the
    /// key's start when the writer made them so).
    pub keyed: &'a [u8],
    /// When it was stored and when it expires, in the caller's seconds.
    pub stored: u32,
    /// See `stored`.
    pub expires: u32,
    /// The read claimed the entry's refresh ([`BlobTable::get_claiming`]).
    pub refresh: bool,
    /// The entry carries the mark ([`BlobTable::mark`]).
    pub marked: bool,
}

/// Whether an entry stored at `stored` that expires at `expires` is in the last tenth
/// of its life at `now` (Unbound's prefetch rule: TTLs under 10 s never are).
pub fn refresh_due(stored: u32, expires: u32, now: u32) -> bool {
    let tenth = expires.saturating_sub(stored) / 10;
    tenth > 0 && now >= expires - tenth
}

/// The table.
pub struct BlobTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::FixedState,
    shard_bytes: usize,
    /// Entries evicted or removed so far (memory freed: `memory::trim` gives it back).
    freed: std::sync::atomic::AtomicU64,
}

/// A blob under construction: the header and key are written, the value follows.
pub struct Blob(Vec<u8>);

impl Blob {
    /// A blob for `key`, with room for `value_hint` more octets; None when the key is
    /// longer than a blob can say.
    pub fn new(key: &[u8], value_hint: usize) -> Option<Blob> {
        let len = u16::try_from(key.len()).ok()?;
        let mut bytes = Vec::with_capacity(HEADER + key.len() + value_hint);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.push(0);
        bytes.extend_from_slice(key);
        Some(Blob(bytes))
    }

    /// A blob whose key is the first `key_len` octets of `keyed` and whose value is
    /// the rest (for a value with offsets relative to the key's start).
    pub fn from_keyed(keyed: &[u8], key_len: usize) -> Option<Blob> {
        let len = u16::try_from(key_len)
            .ok()
            .filter(|_| key_len <= keyed.len())?;
        let mut bytes = Vec::with_capacity(HEADER + keyed.len());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.push(0);
        bytes.extend_from_slice(keyed);
        Some(Blob(bytes))
    }

    /// Appends to the value.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl BlobTable {
    /// A table of at most `max_bytes` (blobs as allocated, tables and queues).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_cafe),
            shard_bytes: (max_bytes / SHARDS).max(4096),
            freed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash: bits the table itself uses least (hashbrown takes the low
    /// bits for the bucket and the top seven for the tag).
    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[((hash >> 32) as usize) & (SHARDS - 1)]
    }

    /// Calls `read` with the entry under `key` if it lives at `now` or expired at most
    /// `stale` seconds ago, marking it read; None otherwise.
    pub fn get<R>(
        &self,
        key: &[u8],
        now: u32,
        stale: u32,
        read: impl FnOnce(Found<'_>) -> R,
    ) -> Option<R> {
        self.read(key, now, stale, false, read)
    }

    /// [`Self::get`] of a live entry that also claims the entry's refresh when it is
    /// due ([`refresh_due`]) and no read claimed it before: `Found::refresh` says so,
    /// once per stored entry (prefetch, under the shard's lock already taken).
    pub fn get_claiming<R>(
        &self,
        key: &[u8],
        now: u32,
        read: impl FnOnce(Found<'_>) -> R,
    ) -> Option<R> {
        self.read(key, now, 0, true, read)
    }

    fn read<R>(
        &self,
        key: &[u8],
        now: u32,
        stale: u32,
        claim: bool,
        read: impl FnOnce(Found<'_>) -> R,
    ) -> Option<R> {
        let hash = self.hash(key);
        let mut shard = self.shard(hash).lock().ok()?;
        let slot = shard.table.find_mut(hash, |s| s.key() == key)?;
        if slot.expires.saturating_add(stale) <= now {
            return None;
        }
        if slot.blob[2] & REFERENCED == 0 {
            // Written only when it changes: a popular entry read by every worker stays
            // a line each core may keep (no store to bounce it between them).
            slot.blob[2] |= REFERENCED;
        }
        let refresh = claim
            && slot.blob[2] & REFRESH_CLAIMED == 0
            && refresh_due(slot.stored, slot.expires, now);
        if refresh {
            slot.blob[2] |= REFRESH_CLAIMED;
        }
        let key_end = HEADER + key.len();
        Some(read(Found {
            key,
            value: &slot.blob[key_end..],
            keyed: &slot.blob[HEADER..],
            stored: slot.stored,
            expires: slot.expires,
            refresh,
            marked: slot.blob[2] & MARKED != 0,
        }))
    }

    /// Marks the entry under `key` if it lives at `now` and `check` says so of it
    /// (under the shard's lock: the entry checked is the one marked); whether it did.
    /// Storing other octets under the key drops the mark.
    pub fn mark(&self, key: &[u8], now: u32, check: impl FnOnce(Found<'_>) -> bool) -> bool {
        let hash = self.hash(key);
        let Ok(mut shard) = self.shard(hash).lock() else {
            return false;
        };
        let Some(slot) = shard.table.find_mut(hash, |s| s.key() == key) else {
            return false;
        };
        if slot.expires <= now {
            return false;
        }
        let found = Found {
            key,
            value: &slot.blob[HEADER + key.len()..],
            keyed: &slot.blob[HEADER..],
            stored: slot.stored,
            expires: slot.expires,
            refresh: false,
            marked: slot.blob[2] & MARKED != 0,
        };
        if !check(found) {
            return false;
        }
        slot.blob[2] |= MARKED;
        true
    }

    /// Stores `blob` from `now` until `expires`, unless an entry lives under its key
    /// for which `keep_old(old value, old expires)` says so.
    pub fn insert(
        &self,
        blob: Blob,
        now: u32,
        expires: u32,
        keep_old: impl Fn(&[u8], u32) -> bool,
    ) {
        let slot = Slot {
            blob: blob.0.into_boxed_slice(),
            stored: now,
            expires,
        };
        let key = slot.key();
        let hash = self.hash(key);
        let hasher = |s: &Slot| self.hash(s.key());
        let Ok(mut guard) = self.shard(hash).lock() else {
            return;
        };
        let shard = &mut *guard;
        let cost = slot.cost();
        if let Some(old) = shard.table.find(hash, |s| s.key() == key)
            && old.expires > now
            && keep_old(&old.blob[HEADER + key.len()..], old.expires)
        {
            return;
        }
        self.make_room(shard, cost);
        let is_new = shard.table.find(hash, |s| s.key() == slot.key()).is_none();
        if is_new
            && !shard.table.is_empty()
            && shard.table.len() == shard.table.capacity()
            && shard.held() + shard.structure() + cost > self.shard_bytes
        {
            // A new key in a full table doubles it (and, soon, the queue): when that
            // would not fit with what the shard holds, the table is rebuilt at its
            // size instead, some room made in it.
            self.rebuild(shard);
        }
        // A key stored again within the same second keeps its place in the queue: that
        // place, (hash, stored), still names it. Another place would be one that no
        // compaction can drop (it names the live slot too), and a key stored thousands
        // of times a second (a wildcard's proof) would make every insert compact.
        let mut placed = false;
        match shard.table.find_entry(hash, |s| s.key() == slot.key()) {
            Ok(mut entry) => {
                placed = entry.get().stored == slot.stored;
                shard.bytes -= entry.get().cost();
                let old = &entry.get().blob;
                let mut slot = slot;
                if old[2] & MARKED != 0 && old[HEADER..] == slot.blob[HEADER..] {
                    // The same octets again (a wildcard's proof with each expansion):
                    // what was found of them still holds.
                    slot.blob[2] |= MARKED;
                }
                *entry.get_mut() = slot;
            }
            Err(_) => {
                shard.table.insert_unique(hash, slot, hasher);
            }
        }
        shard.bytes += cost;
        if shard.order.len() == shard.order.capacity()
            || shard.order.len() > 2 * shard.table.len() + 64
        {
            // Places of slots stored again since: drop them (before the queue grows).
            Self::compact(shard, |k| self.hash(k));
        }
        if !placed {
            shard.order.push_back((hash, now));
        }
        // The table or the queue may have grown: what they took comes off the blobs.
        self.make_room(shard, 0);
        if shard.held() > self.shard_bytes {
            // Everything went and the empty table is still too big: it shrinks.
            shard.table.shrink_to_fit(|s| self.hash(s.key()));
            shard.order.shrink_to_fit();
        }
    }

    /// Rebuilds the shard's table at its size without the tombstones that evictions
    /// leave, after evicting until an eighth of it is spare.
    ///
    /// A table that is full once the cache is (each new key evicts an old one) still
    /// fills up: hashbrown marks most buckets it frees as tombstones, which take the
    /// spare room like entries do, and when none is left the next insertion doubles a
    /// table that is over half full. The doubled table's octets then come off the
    /// entries (a sixth of them evicted at 64 MB), and their memory stays with the
    /// allocator in holes the table, allocated apart, does not fill: measured through
    /// the binary (tests/tests/resolver_cache_bound.rs), the caches' tables doubled
    /// near the end of the flood and malloc held 18 MB free in a 68 MB heap, RSS 1.23 x
    /// `cache-size-mb`.
    fn rebuild(&self, shard: &mut Shard) {
        let mut fresh = HashTable::with_capacity(shard.table.len());
        let full = fresh.capacity();
        let mut turns = shard.order.len();
        while shard.table.len() > full - full / 8 && self.evict_one(shard, &mut turns) {}
        for slot in shard.table.drain() {
            fresh.insert_unique(self.hash(slot.key()), slot, |s| self.hash(s.key()));
        }
        shard.table = fresh;
    }

    /// Drops the places of the queue whose slot was stored again or removed since.
    fn compact(shard: &mut Shard, hash_of: impl Fn(&[u8]) -> u64) {
        let Shard { table, order, .. } = shard;
        order.retain(|&(hash, stored)| {
            table
                .find(hash, |s| s.stored == stored && hash_of(s.key()) == hash)
                .is_some()
        });
    }

    /// Evicts, oldest first (CLOCK), until `cost` more octets fit.
    fn make_room(&self, shard: &mut Shard, cost: usize) {
        let mut turns = shard.order.len();
        while shard.held() + cost > self.shard_bytes {
            if !self.evict_one(shard, &mut turns) {
                return;
            }
        }
    }

    /// Evicts the oldest entry not read since it was stored (CLOCK: one read since
    /// gives another turn, `turns` of them in all); false when none is left.
    fn evict_one(&self, shard: &mut Shard, turns: &mut usize) -> bool {
        loop {
            let Some((hash, stored)) = shard.order.pop_front() else {
                return false;
            };
            let Ok(entry) = shard
                .table
                .find_entry(hash, |s| s.stored == stored && self.hash(s.key()) == hash)
            else {
                continue;
            };
            if *turns > 0 && entry.get().blob[2] & REFERENCED != 0 {
                // Read since stored: one more turn.
                *turns -= 1;
                let mut entry = entry;
                entry.get_mut().blob[2] &= !REFERENCED;
                shard.order.push_back((hash, stored));
                continue;
            }
            let (slot, _) = entry.remove();
            shard.bytes -= slot.cost();
            self.freed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return true;
        }
    }

    /// Removes every entry whose key `doomed` picks; the number removed. The table
    /// and the queue shrink to what is left (a flush gives the memory back).
    pub fn remove_where(&self, doomed: impl Fn(&[u8]) -> bool) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let Ok(mut shard) = shard.lock() else {
                continue;
            };
            let shard = &mut *shard;
            let mut freed = 0;
            shard.table.retain(|slot| {
                let drop = doomed(slot.key());
                if drop {
                    freed += slot.cost();
                    removed += 1;
                }
                !drop
            });
            shard.bytes -= freed;
            if freed > 0 {
                Self::compact(shard, |k| self.hash(k));
                shard.order.shrink_to_fit();
                shard.table.shrink_to_fit(|s| self.hash(s.key()));
            }
        }
        self.freed
            .fetch_add(removed as u64, std::sync::atomic::Ordering::Relaxed);
        removed
    }

    /// Entries evicted or removed since the table was made.
    pub fn freed(&self) -> u64 {
        self.freed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls `visit` with every entry whose key `pick` picks (a dump; holds one shard's
    /// lock at a time).
    pub fn scan(&self, pick: impl Fn(&[u8]) -> bool, mut visit: impl FnMut(Found<'_>)) {
        for shard in &self.shards {
            let Ok(shard) = shard.lock() else {
                continue;
            };
            for slot in shard.table.iter().filter(|s| pick(s.key())) {
                let key = slot.key();
                visit(Found {
                    key,
                    value: &slot.blob[HEADER + key.len()..],
                    keyed: &slot.blob[HEADER..],
                    stored: slot.stored,
                    expires: slot.expires,
                    refresh: false,
                    marked: slot.blob[2] & MARKED != 0,
                });
            }
        }
    }

    /// Octets held (blobs as allocated, tables and queues), as counted against the
    /// bound.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.held()))
            .sum()
    }

    /// Entries held, expired ones included until evicted.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.table.len()))
            .sum()
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(table: &BlobTable, key: &str, value: &[u8], now: u32, ttl: u32) {
        let mut blob = Blob::new(key.as_bytes(), value.len()).unwrap();
        blob.extend(value);
        table.insert(blob, now, now + ttl, |_, _| false);
    }

    fn value(table: &BlobTable, key: &str, now: u32) -> Option<Vec<u8>> {
        table.get(key.as_bytes(), now, 0, |f| f.value.to_vec())
    }

    #[test]
    fn entries_live_until_they_expire_and_stale_ones_on_request() {
        let table = BlobTable::new(1 << 20);
        put(&table, "a", b"one", 10, 5);
        assert_eq!(value(&table, "a", 14).as_deref(), Some(&b"one"[..]));
        assert_eq!(value(&table, "a", 15), None);
        assert_eq!(
            table.get(b"a", 20, 30, |f| (f.stored, f.expires)),
            Some((10, 15))
        );
        put(&table, "a", b"two", 16, 5);
        assert_eq!(value(&table, "a", 17).as_deref(), Some(&b"two"[..]));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_live_entry_is_kept_when_the_writer_says_so() {
        let table = BlobTable::new(1 << 20);
        put(&table, "a", b"good", 0, 100);
        let mut blob = Blob::new(b"a", 3).unwrap();
        blob.extend(b"bad");
        table.insert(blob, 1, 101, |old, _| old == b"good");
        assert_eq!(value(&table, "a", 2).as_deref(), Some(&b"good"[..]));
    }

    #[test]
    fn the_bound_holds_and_entries_read_stay_longer() {
        let table = BlobTable::new(SHARDS * 8192);
        put(&table, "popular", &[0; 100], 0, 1000);
        for i in 0..20_000 {
            if i % 50 == 0 {
                assert!(value(&table, "popular", 1).is_some(), "evicted at {i}");
            }
            put(&table, &format!("name{i}"), &[0; 100], 1, 1000);
        }
        assert!(table.bytes() <= SHARDS * 8192);
        assert!(value(&table, "name19999", 1).is_some());
        assert!(value(&table, "name0", 1).is_none());
        let all = table.len();
        assert_eq!(table.remove_where(|k| k.starts_with(b"name")), all - 1);
        assert_eq!(table.len(), 1);
        // One blob (112 octets as allocated: 3 + 7 + 100 and the allocator's 8, in
        // steps of 16), and the tables and queues left.
        let structure: usize = table
            .shards
            .iter()
            .map(|s| s.lock().unwrap())
            .map(|s| s.structure())
            .sum();
        assert_eq!(table.bytes(), 128 + structure);
        table.remove_where(|_| true);
        assert_eq!(table.bytes(), 0);
    }

    #[test]
    fn tables_and_queues_count_against_the_bound() {
        // Small entries, where the table and the queue weigh most.
        let table = BlobTable::new(SHARDS * 65536);
        for i in 0..100_000 {
            put(&table, &format!("{i}"), &[], 1, 1000);
        }
        let shard = table.shards[0].lock().unwrap();
        let structure = shard.held() - shard.bytes;
        assert!(structure > 0 && shard.held() <= 65536, "{}", shard.held());
        assert_eq!(shard.bytes, shard.table.len() * 32);
    }

    #[test]
    fn a_full_table_keeps_its_entries_under_a_flood_of_new_names() {
        // Each new name evicts an old one, whose bucket hashbrown may leave as a
        // tombstone; once they use up its spare room, the next insertion would double
        // the table, and the doubled table's octets would come off the entries.
        let table = BlobTable::new(SHARDS * 384 * 1024);
        let full = |table: &BlobTable| table.bytes() + SHARDS * 512 > SHARDS * 384 * 1024;
        let mut i = 0;
        while !full(&table) {
            put(
                &table,
                &format!("name{i}.wild.example."),
                &[0; 180],
                1,
                1000,
            );
            i += 1;
        }
        let (entries, filled) = (table.len(), structure(&table));
        for _ in 0..20 * entries {
            put(
                &table,
                &format!("name{i}.wild.example."),
                &[0; 180],
                1,
                1000,
            );
            i += 1;
            assert!(
                structure(&table) <= filled + SHARDS * 4096,
                "the tables grew from {filled} to {} octets after {i} names",
                structure(&table)
            );
        }
        assert!(table.bytes() <= SHARDS * 384 * 1024);
        assert!(
            table.len() >= entries / 10 * 9,
            "{} entries left of the {entries} held when the table filled",
            table.len()
        );
    }

    /// What the tables and queues of every shard take.
    fn structure(table: &BlobTable) -> usize {
        table
            .shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.structure()))
            .sum()
    }

    #[test]
    fn a_key_stored_again_in_the_same_second_keeps_one_place_in_the_queue() {
        let table = BlobTable::new(1 << 20);
        put(&table, "other", b"x", 10, 100);
        for i in 0..10_000u32 {
            put(&table, "proof", &i.to_be_bytes(), 10 + i / 5_000, 100);
        }
        let places: usize = table
            .shards
            .iter()
            .filter_map(|shard| shard.lock().ok().map(|s| s.order.len()))
            .sum();
        // One place per key per second it was stored in (at most: compaction may have
        // dropped the first second's), never one per store.
        assert!(places <= 3, "{places} places in the queue for 2 keys");
        assert_eq!(
            value(&table, "proof", 12).as_deref(),
            Some(&9_999u32.to_be_bytes()[..])
        );
        assert_eq!(value(&table, "other", 12).as_deref(), Some(&b"x"[..]));
    }
}
