//! Benchmark (issue 11, memory): what dnsd's resolver and Unbound hold for the same
//! cached names, in the same run, through the local mini-Internet
//! (`netfabric_tests::mini_internet`, never the real one).
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! resolver_memory` (`-- --names N`, default 1,000,000).
//!
//! Both resolvers get caches large enough to hold every name (Unbound:
//! `rrset-cache-size` and `msg-cache-size` 2 GB; dnsd: `cache-size-mb = 4096`), so
//! that neither evicts and the figure is memory per cached name, not the configured
//! bound. Each is asked N distinct names once (`N.wild.secure.example. A`, DO set: a
//! signed wildcard, so each name is one validated RRset with its RRSIG, one upstream
//! query), one resolver after the other, by dnsperf in the namespace (`-n 1`, 200
//! outstanding). Reported: RSS before and after, the growth per name, and the share of
//! a sample of the names still answered from the cache (RD clear) afterwards, which
//! shows the names are held (dnsd only: Unbound gives these RD-clear probes no
//! answer from its cache even with `allow_snoop`, so its share reads n/a). Then each
//! resolver's default cache sizes are compared the same way (Unbound 4 + 4 MB, dnsd
//! `cache-size-mb` 64 MB in all): RSS after the same load.
//!
//! Hit path over the filled caches (large caches only): dnsperf asks the same N names
//! again for `--hit-seconds` (default 10; 100 outstanding, DO), so every answer comes
//! from a cache of N names, not from a handful of hot ones: QPS and the resolver's CPU
//! time per answered query (utime+stime of its threads over the run), one resolver
//! after the other in the same run (Unbound one thread, dnsd its default two UDP
//! workers: CPU per query is the comparable figure).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize};
use netfabric_tests::mini_internet::{MiniInternet, ask, resolver_addr};
use netfabric_tests::perf::Dnsperf;
use netfabric_tests::procstat;

/// Sends every name of `queries` once; the number answered.
fn fill(net: &MiniInternet, server: SocketAddr, queries: &Path) -> f64 {
    Dnsperf::new(server, queries)
        .passes(1)
        .timeout(5)
        .dnssec()
        .netns(&net.ns)
        .run()
        .completed as f64
}

/// Of `sample` names, the share answered from the cache (RD clear, an answer record).
fn retained(net: &MiniInternet, server: SocketAddr, names: &[String]) -> f64 {
    let held = names
        .iter()
        .filter(|name| {
            let query = Query::new(name, 1);
            ask(&net.ns, server, &query, Duration::from_secs(2))
                .and_then(|r| normalize(&r).ok())
                .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
        })
        .count();
    100.0 * held as f64 / names.len().max(1) as f64
}

struct Row {
    resolver: &'static str,
    config: &'static str,
    answered: f64,
    rss_before: u64,
    rss_after: u64,
    retained: f64,
    /// (QPS, CPU µs per query) of the hit phase.
    hits: Option<(f64, f64)>,
}

/// The hit phase: QPS and CPU µs per answered query over `seconds`.
fn hit_path(
    net: &MiniInternet,
    pid: u32,
    server: SocketAddr,
    queries: &Path,
    seconds: u32,
) -> (f64, f64) {
    let before = procstat::cpu_micros(pid);
    let perf = Dnsperf::new(server, queries)
        .seconds(seconds)
        .outstanding(100)
        .timeout(5)
        .dnssec()
        .netns(&net.ns)
        .run();
    let cpu = procstat::cpu_micros(pid).saturating_sub(before) as f64;
    (perf.qps, cpu / (perf.completed as f64).max(1.0))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let names: usize = args
        .iter()
        .position(|a| a == "--names")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let hit_seconds: u32 = args
        .iter()
        .position(|a| a == "--hit-seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let net = MiniInternet::start();
    let dir = net.dir().to_path_buf();
    let mut rows = Vec::new();
    let runs: [(&str, &str, u16, bool); 4] = [
        ("unbound", "large cache", 5501, true),
        ("dnsd", "large cache", 5502, true),
        ("unbound", "defaults", 5503, false),
        ("dnsd", "defaults", 5504, false),
    ];
    for (resolver, config, port, large) in runs {
        let addr = resolver_addr(port);
        // Unbound's guard or dnsd's fixture: whichever, held until the run ends.
        let (pid, guard): (u32, Box<dyn std::any::Any>) = match (resolver, large) {
            ("unbound", true) => {
                let unbound = net.unbound_with(
                    addr,
                    "  rrset-cache-size: 2g\n  msg-cache-size: 2g\n  key-cache-size: 64m\n  \
                     aggressive-nsec: no\n",
                );
                (unbound.pid(), Box::new(unbound))
            }
            ("unbound", false) => {
                let unbound = net.unbound(addr);
                (unbound.pid(), Box::new(unbound))
            }
            (_, true) => {
                let dnsd = net.dnsd(addr, "cache-size-mb = 4096\n");
                (dnsd.pid(), Box::new(dnsd))
            }
            (_, false) => {
                let dnsd = net.dnsd(addr, "");
                (dnsd.pid(), Box::new(dnsd))
            }
        };
        let queries = dir.join(format!("memory-{port}.txt"));
        let list: Vec<String> = (0..names)
            .map(|n| format!("m{port}n{n}.wild.secure.example."))
            .collect();
        let text: String = list.iter().map(|n| format!("{n} A\n")).collect();
        std::fs::write(&queries, text).expect("write queries");
        let rss_before = procstat::rss_bytes(pid);
        let answered = fill(&net, addr, &queries);
        let rss_after = procstat::rss_bytes(pid);
        let sample: Vec<String> = list.iter().step_by((names / 500).max(1)).cloned().collect();
        let retained = retained(&net, addr, &sample);
        let hits = large.then(|| hit_path(&net, pid, addr, &queries, hit_seconds));
        rows.push(Row {
            resolver,
            config,
            answered,
            rss_before,
            rss_after,
            retained,
            hits,
        });
        drop(guard);
    }
    println!("\nresolver memory: {names} distinct names (signed wildcard, DO), one pass each");
    println!(
        "| resolver | cache | answered | RSS before MB | RSS after MB | bytes/name | still cached % | hit QPS | hit CPU µs/q |"
    );
    println!(
        "|----------|-------|---------:|--------------:|-------------:|-----------:|---------------:|--------:|-------------:|"
    );
    for r in &rows {
        let growth = r.rss_after.saturating_sub(r.rss_before) as f64;
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {} | {} |",
            r.resolver,
            r.config,
            r.answered,
            r.rss_before as f64 / 1e6,
            r.rss_after as f64 / 1e6,
            growth / r.answered.max(1.0),
            if r.resolver == "unbound" {
                "n/a".to_string()
            } else {
                format!("{:.1}", r.retained)
            },
            r.hits.map_or("-".into(), |h| format!("{:.0}", h.0)),
            r.hits.map_or("-".into(), |h| format!("{:.2}", h.1)),
        );
    }
}
