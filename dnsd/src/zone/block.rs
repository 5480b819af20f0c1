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
//! span without holding it. Blocks smaller than a huge page come from the allocator
//! instead: huge pages cannot help them, and a server with tens of thousands of small
//! zones would otherwise run into the kernel's limit on mappings per process.
//!
//! Only the index asks for huge pages. The arena's chunks (five times its size) are
//! plain unwritten allocations: on a virtual machine, the first touch of a fresh huge
//! page also faults the host in, and zeroing the arena's new huge pages made a
//! million-name load 12% slower, for a few percent of query CPU.

use std::ptr::NonNull;
use std::sync::Arc;

/// Octets from which a block is a mapping of its own: one huge page.
const HUGE: usize = 2 << 20;

/// Alignment of a block the allocator serves (enough for any word type).
const ALIGN: usize = 64;

/// `cap` octets, freed on drop: an allocation, or for large zero-filled blocks that
/// want huge pages ([`Block::zeroed_huge`]) an anonymous private mapping of their own.
pub struct Block {
    ptr: NonNull<u8>,
    cap: usize,
    mapped: bool,
}

// SAFETY: the block owns its memory; shared access only reads, and writers hold
// `&mut Block` or write through `as_ptr` under their own exclusion (the arena's
// writer lock), past every byte a reader may read.
unsafe impl Send for Block {}
// SAFETY: as above.
unsafe impl Sync for Block {}

impl Block {
    /// A block of at least `cap` octets (one at least), left unwritten: its pages cost
    /// nothing until written (or were the allocator's already), and only what was
    /// written may be read. Running out of memory aborts, as a failed `Vec`
    /// allocation does.
    pub fn uninit(cap: usize) -> Self {
        let cap = cap.max(1);
        let layout = layout(cap);
        // SAFETY: the layout is not zero-sized; the result is checked.
        let ptr = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout);
        };
        Self {
            ptr,
            cap,
            mapped: false,
        }
    }

    /// A zero-filled block of at least `cap` octets, on huge pages when it is large
    /// enough for them (a fresh mapping advised before anything touches it).
    pub fn zeroed_huge(cap: usize) -> Self {
        let cap = cap.max(1);
        if cap < HUGE {
            let layout = layout(cap);
            // SAFETY: the layout is not zero-sized; the result is checked.
            let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
            let Some(ptr) = NonNull::new(ptr) else {
                std::alloc::handle_alloc_error(layout);
            };
            return Self {
                ptr,
                cap,
                mapped: false,
            };
        }
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
            std::alloc::handle_alloc_error(layout(cap));
        };
        advise_huge_pages(ptr.as_ptr(), cap);
        Self {
            ptr,
            cap,
            mapped: true,
        }
    }

    /// Octets the block holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Start of the block (aligned to 64 octets at least, so for any word type).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Copies `data` to offset `at`; false (and nothing written) if it does not fit.
    pub fn write(&mut self, at: usize, data: &[u8]) -> bool {
        if at.checked_add(data.len()).is_none_or(|end| end > self.cap) {
            return false;
        }
        // SAFETY: in bounds (checked), exclusive access, `data` is not in the block.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(at), data.len());
        }
        true
    }

    /// The first `len` octets (clamped to the capacity).
    ///
    /// # Safety
    /// Those octets must have been written (or the block made zero-filled).
    pub unsafe fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: initialised per the contract; `&self` excludes `&mut` writers.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len.min(self.cap)) }
    }

    /// The first `len` octets, for writing (clamped to the capacity).
    ///
    /// # Safety
    /// As for [`Block::bytes`].
    pub unsafe fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: as in `bytes`, with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len.min(self.cap)) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if !self.mapped {
            // SAFETY: allocated by `uninit` or `zeroed_huge` with this layout; nothing
            // refers to it now.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout(self.cap)) };
            return;
        }
        // SAFETY: the mapping was made by `zeroed_huge` with this length and nothing
        // refers to it any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.cap);
        }
    }
}

/// The layout of an allocated block of `cap` octets.
fn layout(cap: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(cap, ALIGN).unwrap_or(std::alloc::Layout::new::<u64>())
}

/// Asks the kernel to back `len` bytes at `ptr` with transparent huge pages where it
/// can (`MADV_HUGEPAGE`; a no-op where THP is off). Only the 2 MiB-aligned interior is
/// advised; pages faulted before the call keep their size.
pub(crate) fn advise_huge_pages(ptr: *mut u8, len: usize) {
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
        let block = Block::zeroed_huge(len * 8);
        let ptr = block.ptr.cast::<u64>();
        // SAFETY: the block is aligned and holds `len` zeroed words; nothing else
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
        // A mapping and an allocation.
        for size in [3 << 20, 1000] {
            let mut block = Block::zeroed_huge(size);
            assert!(block.capacity() >= size);
            // SAFETY: zero-filled.
            assert!(unsafe { block.bytes(size) }.iter().all(|&b| b == 0));
            assert!(block.write(9, &[7]));
            assert!(!block.write(size, &[7]));
            // SAFETY: zero-filled, one octet written.
            assert_eq!(unsafe { block.bytes(10) }[9], 7);
        }
        let mut block = Block::uninit(100);
        assert!(block.write(0, &[1, 2, 3]));
        // SAFETY: three octets written.
        assert_eq!(unsafe { block.bytes(3) }, &[1, 2, 3]);
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
