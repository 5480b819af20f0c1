//! The resolver's counters, rendered with the daemon's metrics (Prometheus text):
//!
//! - `dnsd_resolver_answers_total{source}`: answers sent, `source="worker"` by a UDP
//!   worker from the rendered answers, `source="resolver"` by the resolver's tasks;
//! - `dnsd_resolver_queue_full_total`: requests answered SERVFAIL because the queue
//!   was full;
//! - `dnsd_resolver_upstream_queries_total`, `dnsd_resolver_upstream_timeouts_total`
//!   (forwarders included), `dnsd_resolver_forwarded_queries_total` (to forwarders);
//! - `dnsd_resolver_forward_tls_connections_total{result}`: TLS connections to DoT
//!   forwarders opened, and handshakes that failed (`tls_upstream.rs`);
//! - `dnsd_resolver_prefetches_total{result}`: refreshes of popular names near expiry
//!   (`prefetch.rs`) done, and dropped (queue full or no resolution slot free);
//! - `dnsd_resolver_aggressive_answers_total`: NXDOMAIN and NODATA answers
//!   synthesized from cached NSEC records, with no query upstream (RFC 8198);
//! - `dnsd_resolver_stale_answers_total`: answers from expired cache entries (RFC 8767);
//! - `dnsd_resolver_validation_total{result,ede}`: secure, insecure, and bogus by the
//!   EDE code given (RFC 8914);
//! - `dnsd_resolver_cache_bytes`, `dnsd_resolver_cache_entries`: both caches (RRsets
//!   and rendered answers) together, bytes as counted against `cache-size-mb`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::answers::AnswerCache;
use super::cache::Cache;

/// EDE codes counted one by one (0 Other to 12 NSEC Missing); others as "other".
const EDE_SLOTS: usize = 13;

/// The counters. Shared by the front's workers and the resolver's tasks: each is a
/// relaxed atomic add, off the authoritative path.
#[derive(Default)]
pub struct ResolverStats {
    /// Answers from the rendered answers, by the workers.
    pub worker_answers: Striped,
    /// Answers by the resolver's tasks.
    pub resolver_answers: AtomicU64,
    /// Requests refused by a full queue.
    pub queue_full: AtomicU64,
    /// Queries sent to authoritative servers.
    pub upstream_queries: AtomicU64,
    /// Of which timed out.
    pub upstream_timeouts: AtomicU64,
    /// Of which went to forwarders.
    pub forwarded_queries: AtomicU64,
    /// TLS connections opened to DoT forwarders.
    pub tls_connections: AtomicU64,
    /// TLS connections to DoT forwarders that failed (connect, handshake, certificate).
    pub tls_failures: AtomicU64,
    /// Stale answers sent (RFC 8767).
    pub stale_answers: AtomicU64,
    /// Negative answers synthesized from cached NSEC records (RFC 8198).
    pub aggressive_answers: AtomicU64,
    /// Prefetches done.
    pub prefetches: AtomicU64,
    /// Prefetches dropped (queue full, no free slot).
    pub prefetch_dropped: AtomicU64,
    secure: AtomicU64,
    insecure: AtomicU64,
    bogus: [AtomicU64; EDE_SLOTS + 1],
    cache: std::sync::OnceLock<(Arc<Cache>, Arc<AnswerCache>)>,
}

/// Stripes of a [`Striped`] counter.
const STRIPES: usize = 8;

/// A counter the UDP workers bump on every answer they send from the rendered
/// answers: one stripe per thread (threads beyond `STRIPES` share), each on its own
/// cache line, summed when read, so that two workers do not pass one line back and
/// forth for every query.
#[derive(Default)]
pub struct Striped {
    stripes: [Padded; STRIPES],
}

/// An atomic alone on its cache line (128 octets: adjacent-line prefetch included).
#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Striped {
    /// Adds one, on the calling thread's stripe.
    #[inline]
    pub fn bump(&self) {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
        }
        let stripe = STRIPE.with(|s| *s);
        self.stripes[stripe].0.fetch_add(1, Relaxed);
    }

    /// The sum of the stripes.
    pub fn load(&self) -> u64 {
        self.stripes.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

impl ResolverStats {
    /// Counts a verdict: Some(code) bogus, None with `secure`.
    pub fn verdict(&self, secure: bool, bogus: Option<u16>) {
        match bogus {
            Some(code) => {
                let slot = usize::from(code).min(EDE_SLOTS);
                self.bogus[slot].fetch_add(1, Relaxed);
            }
            None if secure => {
                self.secure.fetch_add(1, Relaxed);
            }
            None => {
                self.insecure.fetch_add(1, Relaxed);
            }
        }
    }

    /// Renders the caches' sizes with the counters.
    pub fn attach_cache(&self, cache: Arc<Cache>, answers: Arc<AnswerCache>) {
        let _ = self.cache.set((cache, answers));
    }

    /// Appends the series to `out`.
    pub fn render(&self, out: &mut String) {
        let mut series = |name: &str, kind: &str, help: &str, values: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        series(
            "dnsd_resolver_answers_total",
            "counter",
            "Answers sent by the resolver route, by who sent them.",
            &[
                ("{source=\"worker\"}".into(), self.worker_answers.load()),
                (
                    "{source=\"resolver\"}".into(),
                    self.resolver_answers.load(Relaxed),
                ),
            ],
        );
        series(
            "dnsd_resolver_queue_full_total",
            "counter",
            "Requests answered SERVFAIL because the resolver's queue was full.",
            &[(String::new(), self.queue_full.load(Relaxed))],
        );
        series(
            "dnsd_resolver_upstream_queries_total",
            "counter",
            "Queries sent to authoritative servers.",
            &[(String::new(), self.upstream_queries.load(Relaxed))],
        );
        series(
            "dnsd_resolver_upstream_timeouts_total",
            "counter",
            "Queries to authoritative servers that timed out.",
            &[(String::new(), self.upstream_timeouts.load(Relaxed))],
        );
        series(
            "dnsd_resolver_forwarded_queries_total",
            "counter",
            "Queries sent to forwarders ([resolver.forward]).",
            &[(String::new(), self.forwarded_queries.load(Relaxed))],
        );
        series(
            "dnsd_resolver_forward_tls_connections_total",
            "counter",
            "TLS connections to DoT forwarders opened, and failed (connect, handshake, \
             certificate).",
            &[
                (
                    "{result=\"open\"}".into(),
                    self.tls_connections.load(Relaxed),
                ),
                (
                    "{result=\"failed\"}".into(),
                    self.tls_failures.load(Relaxed),
                ),
            ],
        );
        series(
            "dnsd_resolver_stale_answers_total",
            "counter",
            "Answers from expired cache entries because every authority failed (RFC 8767).",
            &[(String::new(), self.stale_answers.load(Relaxed))],
        );
        series(
            "dnsd_resolver_aggressive_answers_total",
            "counter",
            "Negative answers synthesized from cached NSEC records (RFC 8198).",
            &[(String::new(), self.aggressive_answers.load(Relaxed))],
        );
        series(
            "dnsd_resolver_prefetches_total",
            "counter",
            "Refreshes of cached answers hit in the last tenth of their TTL, done or \
             dropped (queue full, no free resolution slot).",
            &[
                ("{result=\"done\"}".into(), self.prefetches.load(Relaxed)),
                (
                    "{result=\"dropped\"}".into(),
                    self.prefetch_dropped.load(Relaxed),
                ),
            ],
        );
        let mut verdicts = vec![
            ("{result=\"secure\"}".to_string(), self.secure.load(Relaxed)),
            (
                "{result=\"insecure\"}".to_string(),
                self.insecure.load(Relaxed),
            ),
        ];
        for (code, slot) in self.bogus.iter().enumerate() {
            let ede = if code == EDE_SLOTS {
                "other".to_string()
            } else {
                code.to_string()
            };
            verdicts.push((
                format!("{{result=\"bogus\",ede=\"{ede}\"}}"),
                slot.load(Relaxed),
            ));
        }
        series(
            "dnsd_resolver_validation_total",
            "counter",
            "DNSSEC verdicts on answers, bogus ones by Extended DNS Error code.",
            &verdicts,
        );
        if let Some((cache, answers)) = self.cache.get() {
            series(
                "dnsd_resolver_cache_bytes",
                "gauge",
                "Bytes held by the caches (RRsets and rendered answers: entries as \
                 allocated, tables), as counted against cache-size-mb.",
                &[(String::new(), (cache.bytes() + answers.bytes()) as u64)],
            );
            series(
                "dnsd_resolver_cache_entries",
                "gauge",
                "Entries of the caches (RRsets and rendered answers).",
                &[(String::new(), (cache.len() + answers.len()) as u64)],
            );
        }
    }
}
