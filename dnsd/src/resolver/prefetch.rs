//! Prefetch: popular names are refreshed before they expire, so that their clients
//! never wait for a resolution (Unbound's `prefetch: yes`).
//!
//! The rule is Unbound's: a hit on a rendered answer in the last tenth of its TTL
//! (`table::refresh_due`) claims the entry's refresh, once per stored entry, under the
//! shard lock the hit takes anyway. The worker answers from the cache as always and
//! hands a copy of the request to this module's queue with `try_send`: the hit path
//! neither waits nor fails (a full queue drops the prefetch, counted). A task takes
//! the requests off the queue and resolves each again with the cache bypassed for
//! the question and its CNAME chain (`Iterator::resolve_with`), when a resolution
//! slot is free (clients first: without one the prefetch is dropped, counted); its
//! answer replaces the cached RRsets and the rendered answer, with a full TTL.
//!
//! Counted in `dnsd_resolver_prefetches_total{result}`: `done`, `dropped`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{Semaphore, mpsc};

use super::Resolver;
use super::stats::ResolverStats;
use crate::answer::Transport;

/// Refreshes waiting for a task: few are due at once (one per popular name per TTL).
const QUEUE: usize = 256;

/// A request to refresh: the client's request as it came, and its transport.
type Job = (Box<[u8]>, Transport);

/// The workers' side: where a claimed refresh goes.
pub struct Prefetcher {
    queue: mpsc::Sender<Job>,
    stats: Arc<ResolverStats>,
}

impl Prefetcher {
    /// Queues the refresh of the answer to `request`, without waiting (full: dropped).
    pub fn request(&self, request: &[u8], transport: Transport) {
        if self
            .queue
            .try_send((request.to_vec().into_boxed_slice(), transport))
            .is_err()
        {
            self.stats.prefetch_dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Starts the task that refreshes what the workers queue, each refresh taking one of
/// the resolver's `permits` if one is free.
pub fn start(resolver: Arc<Resolver>, permits: Arc<Semaphore>) -> Prefetcher {
    let (queue, mut receiver) = mpsc::channel::<Job>(QUEUE);
    let stats = resolver.stats.clone();
    let task_stats = stats.clone();
    tokio::spawn(async move {
        while let Some((request, transport)) = receiver.recv().await {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                task_stats.prefetch_dropped.fetch_add(1, Relaxed);
                continue;
            };
            let resolver = resolver.clone();
            let stats = task_stats.clone();
            tokio::spawn(async move {
                let refreshed = resolver.respond(&request, transport, true).await;
                if refreshed.is_some() {
                    stats.prefetches.fetch_add(1, Relaxed);
                }
                drop(permit);
            });
        }
    });
    Prefetcher { queue, stats }
}
