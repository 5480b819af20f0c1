//! The allocator's share of the cache bound: glibc's malloc gives each thread that
//! meets a busy arena a new one (up to eight per core), and an arena keeps what was
//! freed in it for its own threads. The resolver's tasks allocate cache entries on
//! every runtime thread and evict them on others, so with the default, freed entries
//! pile up in arenas that the next insertion does not use: measured through the
//! binary (tests/tests/resolver_cache_bound.rs, 64 MB of cache filled from the
//! mini-Internet), RSS grew 1.36 × `cache-size-mb` with the default arenas and
//! 1.10 × with one (`MALLOC_ARENA_MAX=1`). One arena serves every thread: the UDP
//! workers' hit path does not allocate, and the runtime has two threads.
//!
//! glibc fixes the number of arenas when a second thread first allocates, so this
//! runs in `main`, after the configuration is read and before logging or the runtime
//! start threads.

/// Arenas glibc's malloc may create in all.
const ARENAS: i32 = 1;

/// Limits malloc's arenas (glibc only; elsewhere nothing). Call it before any other
/// thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) changes a malloc parameter; it reads no memory of ours.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
