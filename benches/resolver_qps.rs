//! Benchmark (issue 11, speed): dnsd's resolver beside Unbound, both resolving through
//! the local mini-Internet (`netfabric_tests::mini_internet`, never the real one), in
//! the same run, as ratios (shared/BENCHMARKING.md).
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! resolver_qps` (`-- --seconds S --rounds N`).
//!
//! - **cache hits**: ten validated questions (DO set) asked over and over, after one
//!   pass that fills both caches;
//! - **cold**: every question a new name under a signed wildcard
//!   (`N.wild.secure.example.`), so each costs the resolver one upstream query and a
//!   validation; each start gets names no resolver has seen.
//!
//! dnsperf runs in the namespace (`-l` seconds, `-q 100` outstanding, `-D` for DO),
//! unpinned. Reported: QPS, the resolver's CPU time per answered query (utime+stime of
//! its threads over the run), NOERROR share, and RSS after the run. Unbound runs one
//! thread; dnsd its default (one UDP worker per core, two I/O threads): CPU per query
//! is the comparable figure.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use netfabric_tests::dns::Query;
use netfabric_tests::mini_internet::{MiniInternet, ask, resolver_addr};
use netfabric_tests::perf::{Dnsperf, median};
use netfabric_tests::procstat;

/// One measured run: (QPS, CPU µs per query, NOERROR %).
fn measure(
    net: &MiniInternet,
    pid: u32,
    addr: SocketAddr,
    queries: &Path,
    seconds: u32,
) -> (f64, f64, f64) {
    let before = procstat::cpu_micros(pid);
    let perf = Dnsperf::new(addr, queries)
        .seconds(seconds)
        .outstanding(100)
        .timeout(5)
        .dnssec()
        .netns(&net.ns)
        .run();
    let cpu = procstat::cpu_micros(pid).saturating_sub(before) as f64;
    let per_query = cpu / perf.completed as f64;
    (perf.qps, per_query, perf.noerror_pct)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: u32| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = value("--seconds", 10);
    let rounds = value("--rounds", 3);
    let net = MiniInternet::start();
    let dir = net.dir().to_path_buf();
    let hits = dir.join("hits.txt");
    let hit_names = [
        "www.secure.example. A",
        "www.secure.example. AAAA",
        "secure.example. MX",
        "txt.secure.example. TXT",
        "www.nsec3.example. A",
        "chain.secure.example. A",
        "alias.secure.example. A",
        "www.plain.lab. A",
        "www.insecure.example. A",
        "a.wild.secure.example. A",
    ];
    std::fs::write(&hits, hit_names.join("\n") + "\n").expect("write queries");
    let servers: [(&str, SocketAddr); 2] = [
        ("unbound", resolver_addr(5401)),
        ("dnsd", resolver_addr(5402)),
    ];
    let unbound = net.unbound(servers[0].1);
    let dnsd = net.dnsd(servers[1].1, "");
    let pids = [unbound.pid(), dnsd.pid()];
    // Fill both caches.
    for (_, addr) in servers {
        for line in hit_names {
            let (name, rtype) = line.split_once(' ').unwrap_or((line, "A"));
            let qtype = match rtype {
                "AAAA" => 28,
                "MX" => 15,
                "TXT" => 16,
                _ => 1,
            };
            let mut q = Query::new(name, qtype);
            q.rd = true;
            let _ = ask(&net.ns, addr, &q, Duration::from_secs(5));
        }
    }
    let mut results: Vec<(&str, &str, f64, f64, f64)> = Vec::new();
    for round in 0..rounds {
        for (i, (label, addr)) in servers.iter().enumerate() {
            let (qps, cpu, ok) = measure(&net, pids[i], *addr, &hits, seconds);
            results.push(("hits", label, qps, cpu, ok));
            let cold = dir.join(format!("cold-{label}-{round}.txt"));
            let names: String = (0..200_000)
                .map(|n| format!("r{round}{label}{n}.wild.secure.example. A\n"))
                .collect();
            std::fs::write(&cold, names).expect("write queries");
            let (qps, cpu, ok) = measure(&net, pids[i], *addr, &cold, seconds);
            results.push(("cold", label, qps, cpu, ok));
        }
    }
    println!("\nresolver benchmark: {rounds} rounds of {seconds} s, medians (dnsperf -q 100, DO)");
    println!("| load | resolver | QPS | CPU µs/q | NOERROR % | RSS MB |");
    println!("|------|----------|----:|---------:|----------:|-------:|");
    for load in ["hits", "cold"] {
        for (i, (label, _)) in servers.iter().enumerate() {
            let pick = |f: fn(&(&str, &str, f64, f64, f64)) -> f64| {
                median(
                    results
                        .iter()
                        .filter(|r| r.0 == load && r.1 == *label)
                        .map(f)
                        .collect(),
                )
            };
            println!(
                "| {load} | {label} | {:.0} | {:.1} | {:.1} | {:.1} |",
                pick(|r| r.2),
                pick(|r| r.3),
                pick(|r| r.4),
                procstat::rss_bytes(pids[i]) as f64 / 1e6
            );
        }
    }
}
