//! Benchmark (issue 11, speed): dnsd's resolver beside Unbound, Knot Resolver (kresd)
//! and BIND (named with recursion), all resolving through the local mini-Internet
//! (`netfabric_tests::mini_internet`, never the real one), in the same run, as ratios
//! (shared/BENCHMARKING.md).
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! resolver_qps` (`-- --seconds S --rounds N --only dnsd,unbound,kresd,bind --loads
//! hits,cold`; `--loads cold` measures cold resolution alone).
//!
//! - **cache hits**: ten validated questions (DO set) asked over and over, after one
//!   pass that fills every cache;
//! - **cold**: every question a new name under a signed wildcard
//!   (`N.wild.secure.example.`), so each costs the resolver one upstream query and a
//!   validation (unless it synthesizes wildcard answers from cached NSEC records,
//!   RFC 8198 §5.3: the `auth q/answer` column, from the authority's query log, says
//!   how many reached it); each start gets names no resolver has seen.
//!
//! dnsperf runs in the namespace (`-l` seconds, `-q 100` outstanding, `-D` for DO),
//! unpinned; rounds interleave the resolvers. Reported: QPS, the resolver's CPU time
//! per answered query (utime+stime of its processes over the run), NOERROR share, RSS
//! after the run, and each figure's ratio to Unbound's. Unbound and kresd run one
//! process of one thread; dnsd and BIND their defaults (threads per core): CPU per
//! query is the comparable figure.
//!
//! The floor (`--floor 0` leaves it out): when dnsd runs, its responses to the ten hit
//! questions are recorded, and a bare UDP server (`resolver_qps/floor.rs`, recvmmsg
//! and sendmmsg, no DNS work) answers the same load with those bytes: its CPU per
//! query is the kernel's share of a cache hit, which no resolver goes below.

use std::path::Path;
use std::time::Duration;

#[path = "resolver_qps/floor.rs"]
mod floor;

use netfabric_tests::dns::Query;
use netfabric_tests::mini_internet::{MiniInternet, ask};
use netfabric_tests::perf::median;
use netfabric_tests::procstat;
use netfabric_tests::resolver_bench::{
    CacheSize, Load, Measured, Resolver, arg, measure, measure_at, start, write_queries,
};

const HIT_NAMES: [(&str, u16); 10] = [
    ("www.secure.example.", 1),
    ("www.secure.example.", 28),
    ("secure.example.", 15),
    ("txt.secure.example.", 16),
    ("www.nsec3.example.", 1),
    ("chain.secure.example.", 1),
    ("alias.secure.example.", 1),
    ("www.plain.lab.", 1),
    ("www.insecure.example.", 1),
    ("a.wild.secure.example.", 1),
];

/// Queries for names containing `tag` that reached BIND (the authority of
/// secure.example.), from its query log.
fn auth_queries(net: &MiniInternet, tag: &str) -> usize {
    let log = std::fs::read_to_string(net.dir().join("bind.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("query: ") && l.contains(tag))
        .count()
}

/// Records `running`'s responses to the hit questions (as dnsperf asks them: RD, DO)
/// into `path`, and starts the floor server on `port` in the namespace with them.
fn start_floor(
    net: &MiniInternet,
    running: &netfabric_tests::resolver_bench::Running,
    port: u16,
    path: &Path,
) -> (std::net::SocketAddr, netfabric_tests::process::ProcessGuard) {
    let responses: Vec<Vec<u8>> = HIT_NAMES
        .iter()
        .filter_map(|(name, qtype)| {
            let mut q = Query::new(name, *qtype);
            q.rd = true;
            if let Some(edns) = q.edns.as_mut() {
                edns.dnssec_ok = true;
                edns.size = 4096;
            }
            ask(&net.ns, running.addr, &q, Duration::from_secs(5))
        })
        .collect();
    floor::write_responses(path, &responses);
    let addr = netfabric_tests::mini_internet::resolver_addr(port);
    let exe = std::env::current_exe().expect("bench executable");
    let exe = exe.to_str().expect("utf-8 path");
    let (addr_text, file) = (addr.to_string(), path.to_str().expect("utf-8 path"));
    let mut cmd = net.ns.command(&[exe, "--floor", &addr_text, file]);
    let guard = netfabric_tests::process::ProcessGuard::spawn("floor", &mut cmd);
    // It binds before it reads: wait until a question comes back answered.
    let probe = Query::new("x.", 1);
    let started = std::time::Instant::now();
    while ask(&net.ns, addr, &probe, Duration::from_millis(50)).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the floor server did not start"
        );
    }
    (addr, guard)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--floor") {
        let addr = args.get(at + 1).and_then(|a| a.parse().ok());
        if let (Some(addr), Some(file)) = (addr, args.get(at + 2)) {
            floor::run(addr, Path::new(file));
            return;
        }
    }
    let with_floor = arg("--floor", 1u32) == 1;
    let seconds: u32 = arg("--seconds", 10);
    let rounds: u32 = arg("--rounds", 3);
    let only: String = arg("--only", "dnsd,unbound,kresd,bind".to_string());
    let resolvers = Resolver::parse_list(&only);
    let loads: String = arg("--loads", "hits,cold".to_string());
    let wants = |load: &str| loads.split(',').any(|l| l.trim() == load);
    let net = MiniInternet::start();
    let dir = net.dir().to_path_buf();
    let hits = dir.join("hits.txt");
    let type_name = |t: u16| match t {
        28 => "AAAA",
        15 => "MX",
        16 => "TXT",
        _ => "A",
    };
    let lines: Vec<String> = HIT_NAMES
        .iter()
        .map(|(n, t)| format!("{n} {}", type_name(*t)))
        .collect();
    write_queries(&hits, lines.iter().map(String::as_str));
    let running: Vec<_> = resolvers
        .iter()
        .enumerate()
        .map(|(i, r)| start(&net, *r, 5401 + i as u16, CacheSize::Default))
        .collect();
    // Fill every cache.
    for r in &running {
        for (name, qtype) in HIT_NAMES {
            let mut q = Query::new(name, qtype);
            q.rd = true;
            let _ = ask(&net.ns, r.addr, &q, Duration::from_secs(5));
        }
    }
    let floor = running
        .iter()
        .find(|r| r.resolver == Resolver::Dnsd && with_floor)
        .map(|dnsd| start_floor(&net, dnsd, 5400, &dir.join("floor-responses.bin")));
    let mut floor_results: Vec<Measured> = Vec::new();
    // (load, resolver, figures, authority queries per answer)
    let mut results: Vec<(&str, Resolver, Measured, f64)> = Vec::new();
    for round in 0..rounds {
        if let Some((addr, guard)) = &floor {
            floor_results.push(measure_at(
                &net,
                *addr,
                guard.pid(),
                &hits,
                Load::Seconds(seconds),
            ));
        }
        for r in &running {
            if wants("hits") {
                let m = measure(&net, r, &hits, Load::Seconds(seconds));
                results.push(("hits", r.resolver, m, 0.0));
            }
            if !wants("cold") {
                continue;
            }
            let label = r.resolver.label();
            let tag = format!("r{round}{label}");
            let cold = dir.join(format!("cold-{label}-{round}.txt"));
            let names: Vec<String> = (0..300_000)
                .map(|n| format!("{tag}n{n}.wild.secure.example. A"))
                .collect();
            write_queries(&cold, names.iter().map(String::as_str));
            let m = measure(&net, r, &cold, Load::Seconds(seconds));
            let upstream = auth_queries(&net, &tag) as f64 / (m.completed as f64).max(1.0);
            results.push(("cold", r.resolver, m, upstream));
        }
    }
    println!(
        "\nresolver benchmark: {rounds} rounds of {seconds} s, medians (dnsperf -q 100, DO); \
         ratios to Unbound's"
    );
    println!(
        "| load | resolver | QPS | x Unbound | CPU µs/q | x Unbound | NOERROR % | auth q/answer | RSS MB |"
    );
    println!(
        "|------|----------|----:|----------:|---------:|----------:|----------:|--------------:|-------:|"
    );
    for load in ["hits", "cold"].into_iter().filter(|l| wants(l)) {
        let pick = |resolver: Resolver, f: fn(&(&str, Resolver, Measured, f64)) -> f64| {
            median(
                results
                    .iter()
                    .filter(|r| r.0 == load && r.1 == resolver)
                    .map(f)
                    .collect(),
            )
        };
        let base_qps = pick(Resolver::Unbound, |r| r.2.qps);
        let base_cpu = pick(Resolver::Unbound, |r| r.2.cpu_us);
        if load == "hits" && !floor_results.is_empty() {
            let qps = median(floor_results.iter().map(|m| m.qps).collect());
            let cpu = median(floor_results.iter().map(|m| m.cpu_us).collect());
            println!(
                "| hits | floor (dnsd's answers replayed) | {qps:.0} | {:.2} | {cpu:.1} | {:.2} | {:.1} | - | - |",
                qps / base_qps,
                base_cpu / cpu,
                median(floor_results.iter().map(|m| m.noerror_pct).collect()),
            );
        }
        for r in &running {
            let (qps, cpu) = (
                pick(r.resolver, |r| r.2.qps),
                pick(r.resolver, |r| r.2.cpu_us),
            );
            println!(
                "| {load} | {} | {qps:.0} | {:.2} | {cpu:.1} | {:.2} | {:.1} | {} | {:.1} |",
                r.resolver.label(),
                qps / base_qps,
                base_cpu / cpu,
                pick(r.resolver, |r| r.2.noerror_pct),
                match load {
                    "cold" => format!("{:.2}", pick(r.resolver, |r| r.3)),
                    _ => "-".to_string(),
                },
                procstat::rss_bytes(r.pid) as f64 / 1e6
            );
        }
    }
    println!("(CPU x Unbound: Unbound's CPU per query over this one's: above 1 is cheaper)");
}
