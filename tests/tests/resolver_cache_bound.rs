//! The resolver's cache stays within `cache-size-mb` (issue 11 point 4, "cache memory
//! bound held under a flood of unique names"), seen from outside: dnsd resolves many
//! more distinct names through the local mini-Internet (never the real one) than its
//! cache can hold, and what the process holds is read from `/proc` and from its
//! metrics.
//!
//! A user sees: the cache counts no more than the configured size
//! (`dnsd_resolver_cache_bytes`), it did fill up (so eviction was what kept it there),
//! and the process grew by at most 1.2 × the configured size while it was filled
//! (RSS before and after, `/proc/PID/smaps_rollup`; after: once dnsd gave back the
//! pages eviction freed, which it does every few seconds, read for up to 60 s).
//! Measured (64 MB, 300,000 names; README, 2026-12-07): 1.15 × in two runs (16.2 to
//! 93.4 MB, 17.9 to 95.3 MB), since a full shard's table is rebuilt at its size
//! instead of doubled; 1.23-1.24 × before that change, when a full cache's tables
//! doubled near the end of the flood. The 1.2 × bound sits above, glibc's
//! fragmentation varying by run. The names are `N.wild.secure.example.` with DO set:
//! each one a validated wildcard answer (RRset, RRSIG, NSEC proof), one upstream
//! query, one RRset and one rendered answer cached.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};
use netfabric_tests::procstat;

/// The configured cache size (MB).
const CACHE_MB: u64 = 64;
/// Distinct names asked: several times what fits (about 500 octets each).
const NAMES: usize = 300_000;

/// Sends every name of `queries` once through dnsperf in the namespace (DO set, 200
/// outstanding); the number answered.
fn flood(net: &MiniInternet, server: SocketAddr, queries: &std::path::Path) -> u64 {
    let out = net
        .ns
        .command(&[
            "dnsperf",
            "-s",
            &server.ip().to_string(),
            "-p",
            &server.port().to_string(),
            "-d",
            queries.to_str().unwrap_or_default(),
            "-n",
            "1",
            "-q",
            "200",
            "-t",
            "10",
            "-D",
        ])
        .output()
        .expect("run dnsperf (Debian package dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.trim_start().starts_with("Queries completed"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The value of the series `name` (no labels) in `metrics`.
fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{metrics}"))
}

#[test]
fn a_flood_of_unique_names_stays_within_cache_size_mb() {
    let net = MiniInternet::start();
    let addr = resolver_addr(5331);
    let dnsd = net.dnsd(addr, &format!("cache-size-mb = {CACHE_MB}\n"));
    let configured = CACHE_MB << 20;

    // Warm-up: the root, example. and secure.example. keys and delegations, the
    // workers' buffers; what the flood adds after this is the cache.
    let warm = net.dir().join("warm.txt");
    let warm_names: String = (0..2_000)
        .map(|n| format!("warm{n}.wild.secure.example. A\n"))
        .collect();
    std::fs::write(&warm, warm_names).expect("write queries");
    assert!(flood(&net, addr, &warm) > 1_000, "{}", net.logs());
    let rss_before = procstat::rss_bytes(dnsd.pid());

    let queries = net.dir().join("flood.txt");
    let names: String = (0..NAMES)
        .map(|n| format!("n{n}.wild.secure.example. A\n"))
        .collect();
    std::fs::write(&queries, names).expect("write queries");
    let answered = flood(&net, addr, &queries);
    let metrics = net.scrape_dnsd(addr);
    let cache_bytes = metric(&metrics, "dnsd_resolver_cache_bytes");
    // dnsd gives the pages freed by eviction back every few seconds: RSS is read until
    // it is within the bound or a generous time has passed.
    let started = Instant::now();
    let (rss_at_end, mut rss_after) = (procstat::rss_bytes(dnsd.pid()), 0);
    while started.elapsed() < Duration::from_secs(60) {
        rss_after = procstat::rss_bytes(dnsd.pid());
        if rss_after.saturating_sub(rss_before) <= configured / 10 * 12 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let grown = rss_after.saturating_sub(rss_before);
    eprintln!(
        "answered {answered} of {NAMES}; cache {cache_bytes} of {configured} bytes; RSS \
         {rss_before} -> {rss_at_end} at the end of the flood, {rss_after} after \
         (+{grown}, {:.2} x cache-size-mb)",
        grown as f64 / configured as f64
    );
    assert!(
        answered as usize > NAMES / 2,
        "the flood was answered ({answered} of {NAMES})"
    );
    assert!(
        cache_bytes <= configured,
        "the cache counts {cache_bytes} bytes, over the {configured} configured"
    );
    assert!(
        cache_bytes >= configured / 10 * 8,
        "the cache filled up ({cache_bytes} of {configured} bytes), so the bound was tested"
    );
    assert!(
        grown <= configured / 10 * 12,
        "RSS grew by {grown} bytes while the cache filled, over 1.2 x {configured}"
    );
}
