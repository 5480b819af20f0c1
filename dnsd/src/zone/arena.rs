//! The arena that holds a zone's node blobs: append-only chunks of bytes shared by
//! every version of the zone, addressed by 32-bit [`Ref`]s.
//!
//! # Why an arena
//! A version of a zone shares every unchanged node with the previous one. Giving each
//! node a heap allocation of its own would cost 16–24 octets of allocator overhead
//! and a reference count per node, a third of a small node's size; here a node is a
//! run of bytes in a chunk, a version refers to it by a 4-octet `Ref`, and nothing is
//! counted per node. A transaction appends the nodes it rewrites; the nodes they
//! replace stay where they are, unreferenced by the new version (garbage), until
//! the zone is compacted into a fresh arena ([`Arena::garbage`] tells when).
//!
//! # Concurrency
//! Readers (the query path) only read bytes that were written before the version that
//! refers to them was published (the publishing `ArcSwap::store` orders the writes
//! before the readers' loads); writers append past the end under the arena's writer
//! lock, which readers never take. The chunk table is a fixed array of atomic
//! pointers, each set once, so a reader never sees it move.
//!
//! Chunks are unwritten [`Block`]s: reserved in full, held only as far as written.

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::block::Block;

/// A node's place in an arena: chunk number (high bits) and offset in 4-octet words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ref(pub u32);

const OFFSET_BITS: u32 = 22;
/// Chunks an arena can have.
pub const MAX_CHUNKS: usize = 1 << (32 - OFFSET_BITS);
/// Bytes a `Ref` can reach into one chunk (its start must be below this).
const CHUNK_SPAN: usize = 4 << OFFSET_BITS;
/// First chunk appended to by transactions; later ones grow with the zone.
const MIN_TAIL: usize = 64 << 10;

/// Why a blob cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the zone's store is full ({MAX_CHUNKS} chunks)")]
pub struct ArenaFull;

/// Append-only chunks of node blobs (see the module documentation).
pub struct Arena {
    chunks: Box<[AtomicPtr<u8>]>,
    used: AtomicUsize,
    writer: Mutex<Tail>,
}

/// What only the writer touches: the chunks and the tail's length.
struct Tail {
    /// Every chunk allocated so far (the last one is the tail).
    blocks: Vec<Block>,
    /// Bytes written into the tail.
    len: usize,
}

// SAFETY: the chunks are owned by the arena and freed only in Drop; readers read
// published bytes only, and writers append past them under `writer`'s lock.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena whose first chunks are `chunks` (a block and the octets written to
    /// it), already filled by a bulk load, each at most the span a `Ref` reaches plus
    /// the last blob that starts inside it.
    pub fn from_blocks(chunks: Vec<(Block, usize)>) -> Result<Self, ArenaFull> {
        if chunks.len() > MAX_CHUNKS {
            return Err(ArenaFull);
        }
        let arena = Self {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            used: AtomicUsize::new(0),
            writer: Mutex::new(Tail {
                blocks: Vec::new(),
                len: 0,
            }),
        };
        let mut tail = arena.lock();
        for (block, len) in chunks {
            let i = tail.blocks.len();
            arena.chunks[i].store(block.as_ptr(), Ordering::Release);
            tail.blocks.push(block);
            tail.len = len;
            arena.used.fetch_add(len, Ordering::Relaxed);
        }
        drop(tail);
        Ok(arena)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tail> {
        // A writer that panicked left nothing half-published (refs are handed out only
        // after their bytes are written): the state is still good.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `blob` (4-octet aligned) and returns its `Ref`. Blobs are visible to
    /// readers of a version published after this returns.
    pub fn append(&self, blob: &[u8]) -> Result<Ref, ArenaFull> {
        let mut tail = self.lock();
        let need = blob.len().next_multiple_of(4);
        let fits = tail
            .blocks
            .last()
            .is_some_and(|b| tail.len < CHUNK_SPAN && tail.len + need <= b.capacity());
        if !fits {
            let i = tail.blocks.len();
            if i >= MAX_CHUNKS {
                return Err(ArenaFull);
            }
            // Grow the tail chunks with the zone, so that a busy zone does not use up
            // the chunk table; pages a chunk does not fill yet cost no memory.
            let used = self.used.load(Ordering::Relaxed);
            let cap = (used / 8)
                .clamp(MIN_TAIL, CHUNK_SPAN)
                .max(need)
                .next_multiple_of(4);
            let block = Block::uninit(cap);
            self.chunks[i].store(block.as_ptr(), Ordering::Release);
            tail.blocks.push(block);
            tail.len = 0;
        }
        let i = tail.blocks.len() - 1;
        // Offset 0 of the first chunk is never a node: a zero word can mean "none".
        let at = if i == 0 { tail.len.max(4) } else { tail.len };
        let base = self.chunks[i].load(Ordering::Acquire);
        // SAFETY: `at + blob.len() <= cap` of chunk i; nobody reads these bytes before a
        // Ref to them is published, and the writer lock keeps other writers out.
        unsafe {
            std::ptr::copy_nonoverlapping(blob.as_ptr(), base.add(at), blob.len());
            std::ptr::write_bytes(base.add(at + blob.len()), 0, need - blob.len());
        }
        tail.len = at + need;
        self.used.fetch_add(need, Ordering::Relaxed);
        Ok(Ref(((i as u32) << OFFSET_BITS) | (at / 4) as u32))
    }

    /// The bytes of chunk `r` points into, from `r` to `r + len`. The caller knows
    /// `len` from bytes already read there (the blob's own header), and must only ask
    /// for bytes that were appended before the version holding `r` was published.
    ///
    /// # Safety
    /// `r` must come from this arena, and `r + len` must stay within what was
    /// appended at `r`.
    pub unsafe fn bytes(&self, r: Ref, len: usize) -> &[u8] {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        let base = self.chunks[chunk].load(Ordering::Acquire);
        // SAFETY: per the contract, these bytes are written and never written again.
        unsafe { std::slice::from_raw_parts(base.add(at), len) }
    }

    /// Asks the CPU to fetch the start of the blob at `r` (a hint: reads nothing the
    /// program sees).
    #[inline]
    pub fn prefetch(&self, r: Ref) {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        let Some(base) = self.chunks.get(chunk).map(|c| c.load(Ordering::Acquire)) else {
            return;
        };
        if base.is_null() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch cannot fault and reads nothing the program sees; the
        // address is computed without being dereferenced.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                base.wrapping_add(at).cast::<i8>(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (base, at);
    }

    /// Bytes appended so far, garbage included.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Where each chunk allocated so far lies in memory: (address, capacity), in chunk
    /// order. Every blob of a version published before this call lies in one of them.
    pub fn spans(&self) -> Vec<(usize, usize)> {
        let tail = self.lock();
        tail.blocks
            .iter()
            .map(|b| (b.as_ptr() as usize, b.capacity()))
            .collect()
    }

    /// Bytes allocated for chunks.
    pub fn capacity(&self) -> usize {
        self.lock().blocks.iter().map(Block::capacity).sum()
    }
}

/// Splits a bulk load into chunks that `Ref`s can address: a chunk is closed once a
/// blob would start past the span of an offset, or not fit.
pub struct ChunkedWriter {
    chunks: Vec<(Block, usize)>,
    current: Block,
    /// Octets written to `current`.
    len: usize,
}

impl ChunkedWriter {
    /// A writer whose first chunk reserves `capacity` octets (an upper bound of the
    /// load: reserved, not held, until written).
    pub fn with_capacity(capacity: usize) -> Self {
        let mut current = Block::uninit(capacity.clamp(4, CHUNK_SPAN + (1 << 20)));
        // Offset 0 of the first chunk is never a node: a zero word can mean "none".
        current.write(0, &[0; 4]);
        Self {
            chunks: Vec::new(),
            current,
            len: 4,
        }
    }

    /// The `Ref` the next blob will have, given that it is `len` octets long.
    pub fn next_ref(&mut self, len: usize) -> Result<Ref, ArenaFull> {
        let need = len.next_multiple_of(4);
        if self.len >= CHUNK_SPAN || self.len + need > self.current.capacity() {
            if self.chunks.len() + 1 >= MAX_CHUNKS {
                return Err(ArenaFull);
            }
            let full = std::mem::replace(&mut self.current, Block::uninit(CHUNK_SPAN.max(need)));
            self.chunks.push((full, self.len));
            self.len = 0;
        }
        let i = self.chunks.len() as u32;
        Ok(Ref((i << OFFSET_BITS) | (self.len / 4) as u32))
    }

    /// Writes the blob whose `Ref` [`ChunkedWriter::next_ref`] just gave (with its
    /// length), padded to the next 4-octet boundary.
    pub fn write(&mut self, blob: &[u8]) {
        let at = self.len;
        let pad = blob.len().next_multiple_of(4) - blob.len();
        // `next_ref` made room for the blob and its padding.
        if self.current.write(at, blob) && self.current.write(at + blob.len(), &[0; 3][..pad]) {
            self.len = at + blob.len() + pad;
        }
    }

    /// The blob at `r`, written already.
    pub fn get(&self, r: Ref) -> &[u8] {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        // SAFETY: the first `len` octets of each chunk are written.
        let bytes = unsafe {
            match self.chunks.get(chunk) {
                Some((block, len)) => block.bytes(*len),
                None => self.current.bytes(self.len),
            }
        };
        bytes.get(at..).unwrap_or_default()
    }

    /// Mutable access to the blob at `r`, written already (flags set after the load).
    pub fn get_mut(&mut self, r: Ref) -> &mut [u8] {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        // SAFETY: the first `len` octets of each chunk are written.
        let bytes = unsafe {
            match self.chunks.get_mut(chunk) {
                Some((block, len)) => block.bytes_mut(*len),
                None => self.current.bytes_mut(self.len),
            }
        };
        bytes.get_mut(at..).unwrap_or_default()
    }

    /// The arena holding everything written.
    pub fn finish(mut self) -> Result<Arena, ArenaFull> {
        self.chunks.push((self.current, self.len));
        Arena::from_blocks(self.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_blobs_read_back_across_chunks() {
        let mut first = ChunkedWriter::with_capacity(16);
        let seven = first.next_ref(8).unwrap();
        first.write(&[7; 8]);
        let arena = first.finish().unwrap();
        let mut refs = Vec::new();
        for i in 0..50_000u32 {
            let blob = i.to_le_bytes().repeat(1 + (i % 5) as usize);
            refs.push((arena.append(&blob).unwrap(), blob));
        }
        for (r, blob) in &refs {
            // SAFETY: r came from append with blob.len() bytes.
            assert_eq!(unsafe { arena.bytes(*r, blob.len()) }, &blob[..]);
        }
        assert!(arena.capacity() >= arena.used());
        // SAFETY: the first blob holds 8 bytes.
        assert_eq!(unsafe { arena.bytes(seven, 8) }, &[7; 8]);
    }

    #[test]
    fn a_bulk_load_is_split_where_offsets_end() {
        let mut writer = ChunkedWriter::with_capacity(16);
        let blob = vec![1u8; 3 << 20];
        let mut refs = Vec::new();
        for _ in 0..7 {
            let r = writer.next_ref(blob.len()).unwrap();
            writer.write(&blob);
            refs.push(r);
        }
        let arena = writer.finish().unwrap();
        assert!(
            refs.iter().any(|r| r.0 >> OFFSET_BITS > 0),
            "several chunks"
        );
        for r in refs {
            // SAFETY: each ref starts a blob of that length.
            assert_eq!(unsafe { arena.bytes(r, blob.len()) }, &blob[..]);
        }
    }
}
