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
//! That one arena still keeps what the cache freed: entries evicted leave holes among
//! the resolution's short-lived allocations, and glibc gives back only the top of the
//! heap. Measured the same way with one arena: malloc held 88 MB of heap of which 60
//! in use (the cache's count matched malloc's), RSS 1.26 × `cache-size-mb`; after
//! malloc_trim(3), 1.08 ×. So while the caches evict, [`trim_while_evicting`] gives
//! the free pages back every few seconds.
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

/// Seconds between two trims while the caches evict.
const TRIM_SECS: u64 = 5;

/// Gives the pages malloc holds free back to the system (glibc's malloc_trim(3);
/// elsewhere nothing).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) works on malloc's own state; it reads no memory of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Every `TRIM_SECS`, when `freed()` (entries evicted or flushed so far) moved since
/// the last look, trims, off the runtime's threads. Runs until the runtime stops.
pub fn trim_while_evicting(freed: impl Fn() -> u64 + Send + 'static) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(TRIM_SECS));
        let mut last = freed();
        loop {
            ticks.tick().await;
            let now = freed();
            if now != last {
                last = now;
                let _ = tokio::task::spawn_blocking(trim).await;
            }
        }
    });
}
