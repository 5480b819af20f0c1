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
use netfabric_tests::procstat;

struct Perf {
    qps: f64,
    completed: f64,
    noerror_pct: f64,
}

fn dnsperf(net: &MiniInternet, server: SocketAddr, queries: &Path, seconds: u32) -> Perf {
    let ip = server.ip().to_string();
    let port = server.port().to_string();
    let file = queries.to_str().unwrap_or_default().to_string();
    let secs = seconds.to_string();
    let out = net
        .ns
        .command(&[
            "dnsperf", "-s", &ip, "-p", &port, "-d", &file, "-l", &secs, "-q", "100", "-c", "2",
            "-t", "5", "-D",
        ])
        .output()
        .expect("run dnsperf (Debian package dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Perf {
        qps: field("Queries per second"),
        completed: field("Queries completed"),
        noerror_pct: text
            .lines()
            .find(|l| l.trim_start().starts_with("Response codes"))
            .and_then(|l| l.split("NOERROR").nth(1))
            .and_then(|rest| rest.split('(').nth(1))
            .and_then(|pct| pct.split('%').next())
            .and_then(|pct| pct.parse().ok())
            .unwrap_or(0.0),
    }
}

/// One measured run: (QPS, CPU µs per query, NOERROR %).
fn measure(
    net: &MiniInternet,
    pid: u32,
    addr: SocketAddr,
    queries: &Path,
    seconds: u32,
) -> (f64, f64, f64) {
    let before = procstat::cpu_micros(pid);
    let perf = dnsperf(net, addr, queries, seconds);
    let cpu = procstat::cpu_micros(pid).saturating_sub(before) as f64;
    let per_query = if perf.completed > 0.0 {
        cpu / perf.completed
    } else {
        0.0
    };
    (perf.qps, per_query, perf.noerror_pct)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
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
