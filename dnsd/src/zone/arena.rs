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

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

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

/// What only the writer touches: the chunks' capacities and the tail's length.
struct Tail {
    /// Capacity of each chunk allocated so far (the last one is the tail).
    caps: Vec<usize>,
    /// Bytes written into the tail.
    len: usize,
}

// SAFETY: the chunks are owned by the arena and freed only in Drop; readers read
// published bytes only, and writers append past them under `writer`'s lock.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena whose first chunks are `chunks`, already filled (a bulk load), each at
    /// most the span a `Ref` reaches plus the last blob that starts inside it.
    pub fn from_chunks(chunks: Vec<Vec<u8>>) -> Result<Self, ArenaFull> {
        if chunks.len() > MAX_CHUNKS {
            return Err(ArenaFull);
        }
        let arena = Self {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            used: AtomicUsize::new(0),
            writer: Mutex::new(Tail {
                caps: Vec::new(),
                len: 0,
            }),
        };
        let mut tail = arena.lock();
        for chunk in chunks {
            let len = chunk.len();
            let mut chunk = std::mem::ManuallyDrop::new(chunk.into_boxed_slice());
            let i = tail.caps.len();
            arena.chunks[i].store(chunk.as_mut_ptr(), Ordering::Release);
            tail.caps.push(len);
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
            .caps
            .last()
            .is_some_and(|&cap| tail.len < CHUNK_SPAN && tail.len + need <= cap);
        if !fits {
            let i = tail.caps.len();
            if i >= MAX_CHUNKS {
                return Err(ArenaFull);
            }
            // Grow the tail chunks with the zone, so that a busy zone does not use up
            // the chunk table, and a quiet one does not hold much unused capacity.
            let used = self.used.load(Ordering::Relaxed);
            let cap = (used / 8)
                .clamp(MIN_TAIL, CHUNK_SPAN)
                .max(need)
                .next_multiple_of(4);
            let mut chunk = std::mem::ManuallyDrop::new(vec![0u8; cap].into_boxed_slice());
            self.chunks[i].store(chunk.as_mut_ptr(), Ordering::Release);
            tail.caps.push(cap);
            tail.len = 0;
        }
        let i = tail.caps.len() - 1;
        // Offset 0 of the first chunk is never a node: a zero word can mean "none".
        let at = if i == 0 { tail.len.max(4) } else { tail.len };
        let base = self.chunks[i].load(Ordering::Acquire);
        // SAFETY: `at + blob.len() <= cap` of chunk i; nobody reads these bytes before a
        // Ref to them is published, and the writer lock keeps other writers out.
        unsafe {
            std::ptr::copy_nonoverlapping(blob.as_ptr(), base.add(at), blob.len());
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

    /// Bytes appended so far, garbage included.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Where each chunk allocated so far lies in memory: (address, capacity), in chunk
    /// order. Every blob of a version published before this call lies in one of them.
    pub fn spans(&self) -> Vec<(usize, usize)> {
        let tail = self.lock();
        tail.caps
            .iter()
            .enumerate()
            .map(|(i, &cap)| (self.chunks[i].load(Ordering::Acquire) as usize, cap))
            .collect()
    }

    /// Bytes allocated for chunks.
    pub fn capacity(&self) -> usize {
        self.lock().caps.iter().sum()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let tail = self.writer.get_mut().unwrap_or_else(|e| e.into_inner());
        for (i, &cap) in tail.caps.iter().enumerate() {
            let ptr = *self.chunks[i].get_mut();
            if !ptr.is_null() {
                // SAFETY: the chunk was a Box<[u8]> of `cap` octets leaked by
                // `from_chunks` or `append`, and nobody can refer to it any more.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, cap)) });
            }
        }
    }
}

/// Asks the kernel to back `len` bytes at `ptr` with transparent huge pages where it
/// can (`MADV_HUGEPAGE`; a no-op where THP is off). A zone of a million names spreads
/// its lookups over tens of megabytes: with 4 KiB pages nearly every lookup misses the
/// TLB, with 2 MiB pages almost none does. Call it before the memory is first written,
/// so that the first faults already take huge pages.
pub(crate) fn advise_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: madvise only changes how the kernel backs this range of our own
        // allocation; it reads and writes nothing.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Splits a bulk load into chunks that `Ref`s can address: a chunk is closed once a
/// blob would start past the span of an offset.
pub struct ChunkedWriter {
    chunks: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl ChunkedWriter {
    /// A writer whose first chunk reserves `capacity` octets (an upper bound of the
    /// load, so that the first chunk is not copied as it grows).
    pub fn with_capacity(capacity: usize) -> Self {
        let mut current = Vec::with_capacity(capacity.min(CHUNK_SPAN + (1 << 20)));
        advise_huge_pages(current.as_mut_ptr(), current.capacity());
        // Offset 0 of the first chunk is never a node: a zero word can mean "none".
        current.extend_from_slice(&[0; 4]);
        Self {
            chunks: Vec::new(),
            current,
        }
    }

    /// The `Ref` the next blob will have, given that it is `len` octets long.
    pub fn next_ref(&mut self, len: usize) -> Result<Ref, ArenaFull> {
        if self.current.len() >= CHUNK_SPAN
            || (self.current.len() + len > CHUNK_SPAN && !self.current.is_empty())
        {
            let full = std::mem::take(&mut self.current);
            self.chunks.push(full);
            self.current = Vec::with_capacity(CHUNK_SPAN.min(len.max(1 << 20)));
            advise_huge_pages(self.current.as_mut_ptr(), self.current.capacity());
        }
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(ArenaFull);
        }
        let i = self.chunks.len() as u32;
        Ok(Ref((i << OFFSET_BITS) | (self.current.len() / 4) as u32))
    }

    /// The chunk being written: the caller appends one blob after `next_ref`, then
    /// calls [`ChunkedWriter::align`].
    pub fn current(&mut self) -> &mut Vec<u8> {
        &mut self.current
    }

    /// Pads the current chunk to the next 4-octet boundary.
    pub fn align(&mut self) {
        let len = self.current.len().next_multiple_of(4);
        self.current.resize(len, 0);
    }

    /// The blob at `r`, written already.
    pub fn get(&self, r: Ref) -> &[u8] {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        match self.chunks.get(chunk) {
            Some(c) => &c[at..],
            None => &self.current[at..],
        }
    }

    /// Mutable access to the blob at `r`, written already (flags set after the load).
    pub fn get_mut(&mut self, r: Ref) -> &mut [u8] {
        let chunk = (r.0 >> OFFSET_BITS) as usize;
        let at = ((r.0 & ((1 << OFFSET_BITS) - 1)) as usize) * 4;
        match self.chunks.get_mut(chunk) {
            Some(c) => &mut c[at..],
            None => &mut self.current[at..],
        }
    }

    /// The arena holding everything written.
    pub fn finish(mut self) -> Result<Arena, ArenaFull> {
        if !self.current.is_empty() || self.chunks.is_empty() {
            self.current.shrink_to_fit();
            self.chunks.push(self.current);
        }
        Arena::from_chunks(self.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_blobs_read_back_across_chunks() {
        let arena = Arena::from_chunks(vec![vec![7; 8]]).unwrap();
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
        // SAFETY: the first chunk holds 8 bytes.
        assert_eq!(unsafe { arena.bytes(Ref(0), 8) }, &[7; 8]);
    }

    #[test]
    fn a_bulk_load_is_split_where_offsets_end() {
        let mut writer = ChunkedWriter::with_capacity(16);
        let blob = vec![1u8; 3 << 20];
        let mut refs = Vec::new();
        for _ in 0..7 {
            let r = writer.next_ref(blob.len()).unwrap();
            writer.current().extend_from_slice(&blob);
            writer.align();
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
