//! The exact-match index of a zone version: lowercased owner name → node [`Ref`], a
//! hash table split into segments that versions share.
//!
//! # Design
//! A query costs one exact lookup (or a few, walking up the name), so the lookup must
//! stay what the flat table of the first release was: one hash, one probe run, one
//! look at the node. A version must also share the table with the previous one, so
//! that a transaction costs what it changes, not the zone's size. The table is a
//! directory of `2^k` segments chosen by the hash's top bits; each segment is a small
//! open-addressing table (linear probing) of `tag << 32 | ref` entries, where the tag
//! is 32 other bits of the hash. The directory is itself split into pages of 128
//! segments' places, so a transaction copies the page table (one pointer per 8,192
//! names), the pages it touches and each segment it touches, nothing else: copying a
//! flat directory (16,384 places at a million names) and dropping the old one was
//! most of a one-record transaction's cost at that size.
//!
//! Slots are placed by Robin Hood hashing, so a lookup for an absent name (every
//! NXDOMAIN, wildcard and referral walks up a few of those) stops after two or three
//! slots. A slot's home is computed from its tag alone, so segments are rebuilt, grown
//! and have entries removed (backward-shift deletion, no tombstones) without reading
//! a single node; only a lookup whose tag matches reads the node to compare names.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::arena::Ref;
use super::block::Words;

/// Names per segment the directory is sized for.
const SEGMENT_TARGET: usize = 64;
/// Load above which a segment grows (entries / slots).
const MAX_LOAD: (usize, usize) = (7, 8);
/// Load of the segments a build makes.
const BUILD_LOAD: (usize, usize) = (4, 5);
/// Places per page of the directory, as a power of two.
const PAGE_BITS: u32 = 7;
const PAGE_MASK: usize = (1 << PAGE_BITS) - 1;

/// The hash of a lowercased wire name, as the index uses it.
pub fn hash(lower: &[u8]) -> u64 {
    FixedState::with_seed(0x6e65_7466_6162_7269).hash_one(lower)
}

/// One segment: its entry count in word 0, then open addressing over the other words
/// (`0` meaning empty), in one allocation so that a lookup goes from the directory
/// straight to the slots.
type Segment = [u64];

fn new_segment(entries: usize) -> Arc<Segment> {
    let slots = (entries * MAX_LOAD.1 / MAX_LOAD.0 + 2).max(4);
    vec![0; 1 + slots].into()
}

fn slots(segment: &Segment) -> &[u64] {
    &segment[1..]
}

fn home(slots: &[u64], tag: u32) -> usize {
    ((u64::from(tag) * slots.len() as u64) >> 32) as usize
}

fn next(slots: &[u64], i: usize) -> usize {
    if i + 1 == slots.len() { 0 } else { i + 1 }
}

/// How far the entry in slot `i` sits from its home.
fn distance(slots: &[u64], i: usize, entry: u64) -> usize {
    let h = home(slots, (entry >> 32) as u32);
    if i >= h { i - h } else { i + slots.len() - h }
}

/// Inserts an entry known to be absent, growing the segment when it is too full.
fn insert_new(segment: &mut Arc<Segment>, entry: u64) {
    let len = segment[0] as usize;
    if (len + 1) * MAX_LOAD.1 > (segment.len() - 1) * MAX_LOAD.0 {
        let mut bigger = new_segment((len + 1) * 2);
        let grown = Arc::make_mut(&mut bigger);
        for &e in slots(segment).iter().filter(|&&e| e != 0) {
            place(grown, e);
        }
        grown[0] = len as u64;
        *segment = bigger;
    }
    let segment = Arc::make_mut(segment);
    place(segment, entry);
    segment[0] += 1;
}

/// Puts `entry` in its place by Robin Hood hashing: an entry farther from its home
/// takes the slot of one nearer to its own, so that every probe run is short and
/// sorted by distance, and a lookup for an absent name stops early.
fn place(segment: &mut Segment, mut entry: u64) {
    let slots = &mut segment[1..];
    let mut i = home(slots, (entry >> 32) as u32);
    let mut dist = 0;
    loop {
        let resident = slots[i];
        if resident == 0 {
            slots[i] = entry;
            return;
        }
        let theirs = distance(slots, i, resident);
        if theirs < dist {
            slots[i] = entry;
            entry = resident;
            dist = theirs;
        }
        i = next(slots, i);
        dist += 1;
    }
}

/// The slot holding `entry`, probing from its home.
fn locate(slots: &[u64], entry: u64) -> Option<usize> {
    let mut i = home(slots, (entry >> 32) as u32);
    let mut dist = 0;
    loop {
        match slots[i] {
            0 => return None,
            e if e == entry => return Some(i),
            e if distance(slots, i, e) < dist => return None,
            _ => {
                i = next(slots, i);
                dist += 1;
            }
        }
    }
}

/// Removes the entry in slot `i`, shifting the rest of its probe run back by one
/// (backward-shift deletion: no tombstones).
fn remove_at(segment: &mut Segment, mut i: usize) {
    segment[0] -= 1;
    let slots = &mut segment[1..];
    loop {
        let j = next(slots, i);
        let e = slots[j];
        if e == 0 || distance(slots, j, e) == 0 {
            slots[i] = 0;
            return;
        }
        slots[i] = e;
        i = j;
    }
}

/// Where a segment lives: in the block the index was built in, or on its own once
/// a transaction changed it.
#[derive(Clone)]
enum Place {
    /// `len` words at `offset` in the base block.
    Base { offset: u32, len: u32 },
    /// A copy a transaction made.
    Own(Arc<Segment>),
}

/// The exact-match index of one zone version (see the module documentation).
#[derive(Clone)]
pub struct NameIndex {
    bits: u32,
    /// The segments of the build, back to back in one allocation: a lookup touches
    /// few pages (the block is backed by huge pages where the system allows), and a
    /// million names cost one allocation, not sixteen thousand.
    base: Words,
    /// The segments' places, in pages that versions share.
    dir: Arc<[Page]>,
    len: usize,
}

/// One page of the directory: the places of up to `1 << PAGE_BITS` segments.
type Page = Arc<[Place]>;

impl NameIndex {
    /// An index of `entries` (hash, ref), sized for them; the names must be distinct.
    pub fn build(entries: impl ExactSizeIterator<Item = (u64, Ref)> + Clone) -> Self {
        let expected = entries.len();
        let segments = (expected / SEGMENT_TARGET).max(1).next_power_of_two();
        let bits = segments.trailing_zeros();
        let segment_of = |h: u64| {
            if bits == 0 {
                0
            } else {
                (h >> (64 - bits)) as usize
            }
        };
        let mut counts = vec![0usize; segments];
        for (h, _) in entries.clone() {
            counts[segment_of(h)] += 1;
        }
        // Each segment sized for its own count, at the build's load.
        let sizes: Vec<usize> = counts
            .iter()
            .map(|&c| 1 + (c * BUILD_LOAD.1 / BUILD_LOAD.0 + 2).max(4))
            .collect();
        let total: usize = sizes.iter().sum();
        let mut offsets = Vec::with_capacity(segments);
        let mut at = 0;
        for &size in &sizes {
            offsets.push(at);
            at += size;
        }
        let base = Words::build(total, |block| {
            for (h, r) in entries {
                let s = segment_of(h);
                let segment = &mut block[offsets[s]..offsets[s] + sizes[s]];
                place(segment, (u64::from(h as u32) << 32) | u64::from(r.0));
                segment[0] += 1;
            }
        });
        let places: Vec<Place> = offsets
            .iter()
            .zip(&sizes)
            .map(|(&offset, &len)| Place::Base {
                offset: offset as u32,
                len: len as u32,
            })
            .collect();
        let dir = places.chunks(1 << PAGE_BITS).map(Page::from).collect();
        Self {
            bits,
            base,
            dir,
            len: expected,
        }
    }

    fn segment_of(&self, h: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (h >> (64 - self.bits)) as usize
        }
    }

    fn segment(&self, s: usize) -> &Segment {
        self.at(&self.dir[s >> PAGE_BITS][s & PAGE_MASK])
    }

    fn at<'a>(&'a self, place: &'a Place) -> &'a Segment {
        match place {
            Place::Base { offset, len } => {
                &self.base[*offset as usize..*offset as usize + *len as usize]
            }
            Place::Own(segment) => segment,
        }
    }

    fn places(&self) -> impl Iterator<Item = &Place> {
        self.dir.iter().flat_map(|page| page.iter())
    }

    /// The ref whose name is `lower` (hash `h`): `name_of` reads a candidate's name.
    #[inline]
    pub fn find<'n>(&self, h: u64, lower: &[u8], name_of: impl Fn(Ref) -> &'n [u8]) -> Option<Ref> {
        let slots = slots(self.segment(self.segment_of(h)));
        let tag = h as u32;
        let mut i = home(slots, tag);
        let mut dist = 0;
        loop {
            let entry = slots[i];
            if entry == 0 {
                return None;
            }
            if (entry >> 32) as u32 == tag {
                let r = Ref(entry as u32);
                if name_of(r) == lower {
                    return Some(r);
                }
            } else if distance(slots, i, entry) < dist {
                // Robin Hood order: ours would have been placed before this one.
                return None;
            }
            i = next(slots, i);
            dist += 1;
        }
    }

    /// Asks the CPU to fetch the slot a lookup of hash `h` starts at, so that a lookup
    /// made a little later (after other work) does not wait for memory: at a million
    /// names the segments span megabytes and nearly every lookup misses the caches.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        let slots = slots(self.segment(self.segment_of(h)));
        let slot = &slots[home(slots, h as u32)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot
        // fault; the address is that of a live slot.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const u64).cast(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The first ref along the probe run of hash `h` whose tag matches: the node a
    /// lookup of that name will most likely read, for prefetching it. Reads the slots
    /// (fetch them first with [`NameIndex::prefetch`]).
    #[inline]
    pub fn candidate(&self, h: u64) -> Option<Ref> {
        let slots = slots(self.segment(self.segment_of(h)));
        let tag = h as u32;
        let mut i = home(slots, tag);
        for dist in 0..slots.len() {
            let entry = slots[i];
            if entry == 0 || distance(slots, i, entry) < dist {
                return None;
            }
            if (entry >> 32) as u32 == tag {
                return Some(Ref(entry as u32));
            }
            i = next(slots, i);
        }
        None
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every ref, in no particular order.
    pub fn refs(&self) -> impl Iterator<Item = Ref> + '_ {
        self.places()
            .flat_map(|p| slots(self.at(p)).iter())
            .filter(|&&e| e != 0)
            .map(|&e| Ref(e as u32))
    }

    /// Starts a batch of changes; the segments it touches are copied once each.
    pub fn edit(&mut self) -> IndexEditor<'_> {
        IndexEditor { index: self }
    }

    /// Bytes of memory the index holds (the shared parts counted in full).
    pub fn heap_bytes(&self) -> usize {
        let own: usize = self
            .places()
            .map(|p| match p {
                Place::Base { .. } => 0,
                Place::Own(s) => s.len() * 8 + 32,
            })
            .sum();
        let places: usize = self.dir.iter().map(|page| page.len()).sum();
        self.dir.len() * (std::mem::size_of::<Page>() + 16)
            + places * std::mem::size_of::<Place>()
            + self.base.len() * 8
            + own
    }
}

/// Changes to a [`NameIndex`], written back by [`IndexEditor::finish`].
pub struct IndexEditor<'i> {
    /// The index; its page table, a page and a segment are each copied when first
    /// changed while another version shares them (`Arc::make_mut`), so a writer that
    /// owns its version changes them in place.
    index: &'i mut NameIndex,
}

impl IndexEditor<'_> {
    /// The segment of hash `h`, made this editor's own (copied once).
    fn segment(&mut self, h: u64) -> &mut Arc<Segment> {
        let s = self.index.segment_of(h);
        let base = &self.index.base;
        let dir = Arc::make_mut(&mut self.index.dir);
        let place = &mut Arc::make_mut(&mut dir[s >> PAGE_BITS])[s & PAGE_MASK];
        if let Place::Base { offset, len } = *place {
            let copy: Arc<Segment> = base[offset as usize..(offset + len) as usize].into();
            *place = Place::Own(copy);
        }
        match place {
            Place::Own(segment) => segment,
            Place::Base { .. } => unreachable!("made own above"),
        }
    }

    /// The segment of hash `h`, for reading.
    fn peek(&self, h: u64) -> &Segment {
        let s = self.index.segment_of(h);
        self.index
            .at(&self.index.dir[s >> PAGE_BITS][s & PAGE_MASK])
    }

    /// Adds a name known to be absent.
    pub fn insert_new(&mut self, h: u64, r: Ref) {
        let entry = (u64::from(h as u32) << 32) | u64::from(r.0);
        insert_new(self.segment(h), entry);
        self.index.len += 1;
    }

    /// Points the entry of ref `old` (hash `h`) at `new`; false if `old` is not there.
    pub fn replace(&mut self, h: u64, old: Ref, new: Ref) -> bool {
        let tag = u64::from(h as u32) << 32;
        let Some(i) = locate(slots(self.peek(h)), tag | u64::from(old.0)) else {
            return false;
        };
        Arc::make_mut(self.segment(h))[1 + i] = tag | u64::from(new.0);
        true
    }

    /// Removes the entry of ref `r` (hash `h`); false if it is not there.
    pub fn remove(&mut self, h: u64, r: Ref) -> bool {
        let entry = (u64::from(h as u32) << 32) | u64::from(r.0);
        let Some(i) = locate(slots(self.peek(h)), entry) else {
            return false;
        };
        remove_at(Arc::make_mut(self.segment(h)), i);
        self.index.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn inserts_replacements_and_removals_match_a_map_and_leave_old_versions_alone() {
        // One page of the directory, and many (the large one has 1,024 segments).
        edits_match_a_map(2000, 5000);
        edits_match_a_map(50_000, 60_000);
    }

    fn edits_match_a_map(built: u32, all: u32) {
        let names: Vec<Vec<u8>> = (0..all).map(|i| i.to_string().into_bytes()).collect();
        let name_of = |r: Ref| names[r.0 as usize - 1].as_slice();
        let mut index =
            NameIndex::build((0..built).map(|i| (hash(&names[i as usize]), Ref(i + 1))));
        let mut model: HashMap<usize, u32> =
            (0..built as usize).map(|i| (i, i as u32 + 1)).collect();
        let before = index.clone();
        let mut state = 7u64;
        for round in 0..20 {
            let mut editor = index.edit();
            for _ in 0..300 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (state >> 33) as usize % names.len();
                let h = hash(&names[i]);
                match model.get(&i).copied() {
                    // Refs stand for names here: "replace" keeps the name's own ref.
                    Some(r) if round % 2 == 0 => {
                        assert!(editor.remove(h, Ref(r)));
                        model.remove(&i);
                    }
                    Some(r) => assert!(editor.replace(h, Ref(r), Ref(r))),
                    None => {
                        editor.insert_new(h, Ref(i as u32 + 1));
                        model.insert(i, i as u32 + 1);
                    }
                }
            }
            assert_eq!(index.len(), model.len());
            for (i, name) in names.iter().enumerate() {
                let found = index.find(hash(name), name, name_of).map(|r| r.0);
                assert_eq!(
                    found,
                    model.get(&i).copied(),
                    "name {i} after round {round}"
                );
            }
        }
        // The first version still sees what it held.
        for (i, name) in names.iter().enumerate() {
            let found = before.find(hash(name), name, name_of).is_some();
            assert_eq!(found, i < built as usize);
        }
        assert_eq!(index.refs().count(), model.len());
    }
}
