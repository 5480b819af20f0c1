//! Benchmark (issue 11, memory): what dnsd's resolver and Unbound hold for the same
//! cached names, in the same run, through the local mini-Internet
//! (`netfabric_tests::mini_internet`, never the real one).
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! resolver_memory` (`-- --names N`, default 1,000,000; `--only dnsd,unbound` (the
//! default), or with `kresd` and `bind` too; `--defaults 0` skips the default-size
//! runs).
//!
//! The resolvers start as `netfabric_tests::resolver_bench` starts them for every
//! resolver benchmark. Each gets a cache large enough to hold every name (Unbound:
//! `rrset-cache-size` and `msg-cache-size` 2 GB; dnsd: `cache-size-mb = 4096`; kresd
//! 4 GB; BIND `max-cache-size 4g`), so
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
//! workers: CPU per query is the comparable figure). Also reported: how long the fill
//! took (a rendered answer, or Unbound's message, lives as long as its smallest TTL:
//! the wildcard proof's NSEC, 300 s, the zone's SOA MINIMUM; a fill longer than that
//! leaves the first names' answers expired, to be found again from the RRset cache),
//! and for dnsd the share of the hit phase's answers sent by the UDP workers from
//! rendered answers (`dnsd_resolver_answers_total{source="worker"}`; the rest went
//! through the resolver's tasks).

use std::time::Duration;

use netfabric_tests::dns::{Query, normalize};
use netfabric_tests::metrics::metric;
use netfabric_tests::mini_internet::{MiniInternet, ask};
use netfabric_tests::procstat;
use netfabric_tests::resolver_bench::{
    CacheSize, Load, Resolver, Running, arg, measure, start, write_queries,
};

/// Of `sample` names, the share answered from the cache (RD clear, an answer record).
fn retained(net: &MiniInternet, running: &Running, names: &[String]) -> f64 {
    let held = names
        .iter()
        .filter(|name| {
            let query = Query::new(name, 1);
            ask(&net.ns, running.addr, &query, Duration::from_secs(2))
                .and_then(|r| normalize(&r).ok())
                .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
        })
        .count();
    100.0 * held as f64 / names.len().max(1) as f64
}

struct Row {
    resolver: Resolver,
    cache: CacheSize,
    answered: f64,
    rss_before: u64,
    rss_after: u64,
    retained: f64,
    /// (QPS, CPU µs per query) of the hit phase.
    hits: Option<(f64, f64)>,
    /// Seconds the fill took.
    fill_secs: f64,
    /// dnsd: the share of the hit phase's answers the workers sent, percent.
    from_workers: Option<f64>,
}

/// dnsd's answers so far: (by the UDP workers, by the resolver's tasks).
fn dnsd_answers(net: &MiniInternet, running: &Running) -> (u64, u64) {
    let text = net.scrape_dnsd(running.addr);
    let count = |source: &str| {
        metric(
            &text,
            &format!("dnsd_resolver_answers_total{{source=\"{source}\"}}"),
        )
        .unwrap_or(0)
    };
    (count("worker"), count("resolver"))
}

fn main() {
    let names: usize = arg("--names", 1_000_000);
    let hit_seconds: u32 = arg("--hit-seconds", 10);
    let only: String = arg("--only", "dnsd,unbound".to_string());
    let defaults: u32 = arg("--defaults", 1);
    let net = MiniInternet::start();
    let dir = net.dir().to_path_buf();
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for cache in [CacheSize::Large, CacheSize::Default] {
        if cache == CacheSize::Default && defaults == 0 {
            continue;
        }
        for resolver in Resolver::parse_list(&only) {
            runs.push((resolver, cache));
        }
    }
    for (i, (resolver, cache)) in runs.into_iter().enumerate() {
        let port = 5501 + i as u16;
        let running = start(&net, resolver, port, cache);
        let queries = dir.join(format!("memory-{port}.txt"));
        let list: Vec<String> = (0..names)
            .map(|n| format!("m{port}n{n}.wild.secure.example."))
            .collect();
        let lines: Vec<String> = list.iter().map(|n| format!("{n} A")).collect();
        write_queries(&queries, lines.iter().map(String::as_str));
        let rss_before = procstat::rss_bytes(running.pid);
        let started = std::time::Instant::now();
        let answered = measure(&net, &running, &queries, Load::OnePass).completed as f64;
        let fill_secs = started.elapsed().as_secs_f64();
        let rss_after = procstat::rss_bytes(running.pid);
        let sample: Vec<String> = list.iter().step_by((names / 500).max(1)).cloned().collect();
        let retained = retained(&net, &running, &sample);
        let dnsd = resolver == Resolver::Dnsd;
        let mut from_workers = None;
        let hits = (cache == CacheSize::Large).then(|| {
            let before = dnsd.then(|| dnsd_answers(&net, &running));
            let m = measure(&net, &running, &queries, Load::Seconds(hit_seconds));
            if let Some((workers, tasks)) = before {
                let (w, t) = dnsd_answers(&net, &running);
                let (w, t) = (w - workers, t - tasks);
                from_workers = Some(100.0 * w as f64 / (w + t).max(1) as f64);
            }
            (m.qps, m.cpu_us)
        });
        rows.push(Row {
            resolver,
            cache,
            answered,
            rss_before,
            rss_after,
            retained,
            hits,
            fill_secs,
            from_workers,
        });
    }
    println!("\nresolver memory: {names} distinct names (signed wildcard, DO), one pass each");
    println!(
        "| resolver | cache | answered | fill s | RSS before MB | RSS after MB | bytes/name | still cached % | hit QPS | hit CPU µs/q | hits from rendered % |"
    );
    println!(
        "|----------|-------|---------:|-------:|--------------:|-------------:|-----------:|---------------:|--------:|-------------:|---------------------:|"
    );
    for r in &rows {
        let growth = r.rss_after.saturating_sub(r.rss_before) as f64;
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {} | {} | {} |",
            r.resolver.label(),
            match r.cache {
                CacheSize::Large => "large",
                CacheSize::Default => "defaults",
            },
            r.answered,
            r.fill_secs,
            r.rss_before as f64 / 1e6,
            r.rss_after as f64 / 1e6,
            growth / r.answered.max(1.0),
            match r.resolver {
                Resolver::Dnsd => format!("{:.1}", r.retained),
                _ => "n/a".to_string(),
            },
            r.hits.map_or("-".into(), |h| format!("{:.0}", h.0)),
            r.hits.map_or("-".into(), |h| format!("{:.2}", h.1)),
            r.from_workers.map_or("-".into(), |p| format!("{p:.1}")),
        );
    }
}
