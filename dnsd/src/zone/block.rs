//! Large blocks of zone memory — the arena's chunks and the name index's segments —
//! mapped straight from the kernel and advised for transparent huge pages before
//! anything is written to them.
//!
//! # Why not the allocator
//! A lookup at a million names touches a few random places in some sixty megabytes:
//! with 4 KiB pages nearly every access misses the TLB, with 2 MiB pages almost none
//! does. `MADV_HUGEPAGE` only applies to pages faulted after it, and glibc's malloc
//! serves even a 16 MiB request from heap memory that the zone parser touched and
//! freed a moment before whenever a free run that large exists: such a block stays on
//! small pages for good. A fresh anonymous mapping is untouched by construction, and
//! its pages cost no memory until they are written, so a chunk can reserve its full
//! span without holding it.

use std::ptr::NonNull;
use std::sync::Arc;

/// An anonymous private mapping of `cap` octets, zero-filled, freed on drop.
pub struct Block {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: the block owns its mapping; shared access only reads, and writers hold
// `&mut Block` or write through `as_ptr` under their own exclusion (the arena's
// writer lock), past every byte a reader may read.
unsafe impl Send for Block {}
// SAFETY: as above.
unsafe impl Sync for Block {}

impl Block {
    /// A zero-filled block of at least `cap` octets (one page at least). Running out
    /// of address space aborts, as a failed `Vec` allocation does.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        // SAFETY: an anonymous private mapping at an address the kernel picks; the
        // result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                cap,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        let Some(ptr) = NonNull::new(ptr.cast::<u8>()).filter(|_| ptr != libc::MAP_FAILED) else {
            let layout = std::alloc::Layout::from_size_align(cap, 4096)
                .unwrap_or(std::alloc::Layout::new::<u64>());
            std::alloc::handle_alloc_error(layout);
        };
        advise_huge_pages(ptr.as_ptr(), cap);
        Self { ptr, cap }
    }

    /// Octets the block holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Start of the block (page-aligned, so aligned for any word type).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The first `len` octets (clamped to the capacity).
    pub fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: the mapping is `cap` octets, zero-filled at creation, so every
        // octet is initialised; `&self` excludes writers that hold `&mut`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len.min(self.cap)) }
    }

    /// The first `len` octets, for writing (clamped to the capacity).
    pub fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: as in `bytes`, with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len.min(self.cap)) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and nothing refers
        // to it any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.cap);
        }
    }
}

/// Asks the kernel to back `len` bytes at `ptr` with transparent huge pages where it
/// can (`MADV_HUGEPAGE`; a no-op where THP is off). Only the 2 MiB-aligned interior is
/// advised; pages faulted before the call keep their size.
pub(crate) fn advise_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: madvise only changes how the kernel backs this range of our own
        // mapping; it reads and writes nothing.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Immutable 64-bit words in a [`Block`], shared by the versions that use them.
#[derive(Clone)]
pub struct Words {
    /// Cached start of the block, so a lookup goes from the index straight to the
    /// words without reading the `Arc` first.
    ptr: NonNull<u64>,
    len: usize,
    _block: Arc<Block>,
}

// SAFETY: the words are never written once shared; the block is Send + Sync.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

impl Words {
    /// `len` zero words, filled by `fill` before they are shared.
    pub fn build(len: usize, fill: impl FnOnce(&mut [u64])) -> Self {
        let block = Block::new(len * 8);
        let ptr = block.ptr.cast::<u64>();
        // SAFETY: the block is page-aligned and holds `len` zeroed words; nothing else
        // refers to it yet.
        fill(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) });
        Self {
            ptr,
            len,
            _block: Arc::new(block),
        }
    }
}

impl std::ops::Deref for Words {
    type Target = [u64];

    #[inline]
    fn deref(&self) -> &[u64] {
        // SAFETY: `ptr` and `len` describe the block `_block` keeps alive.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_writable_and_shared_words_read_back() {
        let mut block = Block::new(3 << 20);
        assert!(block.capacity() >= 3 << 20);
        assert!(block.bytes(3 << 20).iter().all(|&b| b == 0));
        block.bytes_mut(10)[9] = 7;
        assert_eq!(block.bytes(10)[9], 7);
        let words = Words::build(1000, |w| {
            for (i, w) in w.iter_mut().enumerate() {
                *w = i as u64 * 3;
            }
        });
        let copy = words.clone();
        drop(words);
        assert_eq!(copy.len(), 1000);
        assert_eq!(copy[999], 2997);
    }
}
