//! Benchmark (issue 2 point 9): dnsperf against dnsd, NSD and Knot serving the same
//! generated zone of 10,000 and of 1,000,000 names on loopback.
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench dnsd_qps`
//! (`-- --sizes 10000` for one size, `--rounds N`, `--seconds S`, `--unpinned`,
//! `--servers dnsd,nsd,knot`, `--baseline PATH` to run another dnsd binary too, as
//! "dnsd-base": an earlier release, in the same run).
//!
//! Per shared/BENCHMARKING.md: the server runs on CPU 0 and dnsperf on CPU 1 (taskset);
//! the servers are started one after another and interleaved, `--rounds` starts each
//! (3 by default, order rotated per round); each start reports QPS, average latency,
//! the server's CPU time per answered query (utime+stime of its processes over the run),
//! memory after the run (PSS summed over the process tree, which is RSS for one process)
//! and load time (spawn to first answer). The table gives medians and dnsd's ratios. A bare
//! UDP reflector (recvmmsg, flip QR, sendmmsg) runs too: the kernel's share, the floor no
//! server can go below.

#[path = "dnsd_qps/reflector.rs"]
mod reflector;
#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::perf::{Dnsperf, Report, median};
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile, free_port};

/// One start of one server.
#[derive(Clone, Debug, Default)]
struct Sample {
    qps: f64,
    latency_us: f64,
    cpu_us_per_query: f64,
    mem_mb: f64,
    load_s: f64,
    lost: u64,
    /// Share of answers with NOERROR, in percent: a server that answers fast but wrong
    /// (REFUSED, SERVFAIL) shows here. The query file asks 5% names that do not exist.
    noerror_pct: f64,
}

struct Settings {
    sizes: Vec<usize>,
    rounds: usize,
    seconds: u32,
    pinned: bool,
    servers: Vec<Kind>,
    /// Another dnsd binary, run as one more server.
    baseline: Option<PathBuf>,
}

/// One server of the run: what it is, and for dnsd, which binary.
#[derive(Clone, Debug, PartialEq)]
struct Contender {
    kind: Kind,
    binary: Option<PathBuf>,
}

impl Contender {
    fn name(&self) -> &'static str {
        if self.binary.is_some() {
            "dnsd-base"
        } else {
            self.kind.name()
        }
    }
}

fn settings() -> Settings {
    let mut s = Settings {
        sizes: vec![10_000, 1_000_000],
        rounds: 3,
        seconds: 10,
        pinned: true,
        servers: vec![Kind::Dnsd, Kind::Nsd, Kind::Knot],
        baseline: None,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let next = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => {
                s.sizes = next.split(',').filter_map(|n| n.parse().ok()).collect();
                i += 1;
            }
            "--rounds" => {
                s.rounds = next.parse().unwrap_or(3);
                i += 1;
            }
            "--seconds" => {
                s.seconds = next.parse().unwrap_or(10).clamp(1, 60);
                i += 1;
            }
            "--unpinned" => s.pinned = false,
            "--baseline" => {
                s.baseline = Some(PathBuf::from(&next));
                i += 1;
            }
            "--servers" => {
                s.servers = next
                    .split(',')
                    .filter_map(|n| match n {
                        "dnsd" => Some(Kind::Dnsd),
                        "nsd" => Some(Kind::Nsd),
                        "knot" => Some(Kind::Knot),
                        _ => None,
                    })
                    .collect();
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--reflector") {
        let addr = args.get(pos + 1).expect("--reflector ADDR:PORT");
        reflector::run(addr.parse().expect("reflector address"));
        return;
    }
    let s = settings();
    let work = target_dir().join("bench-dnsd");
    std::fs::create_dir_all(&work).expect("bench folder");
    println!(
        "dnsd benchmark: {} s per run, {} rounds, {}",
        s.seconds,
        s.rounds,
        if s.pinned {
            "server on CPU 0, dnsperf on CPU 1"
        } else {
            "unpinned, 2 workers"
        }
    );
    for &size in &s.sizes {
        let dir = work.join(format!("{size}"));
        let (zone, queries) = zonegen::generate(&dir, size);
        let zones = vec![zone];
        let mut results: Vec<(Contender, Vec<Sample>)> = Vec::new();
        let mut floor = Vec::new();
        let mut order: Vec<Contender> = s
            .servers
            .iter()
            .map(|&kind| Contender { kind, binary: None })
            .collect();
        if let Some(binary) = &s.baseline {
            order.push(Contender {
                kind: Kind::Dnsd,
                binary: Some(binary.clone()),
            });
        }
        for round in 0..s.rounds {
            for k in 0..order.len() {
                let contender = &order[(k + round) % order.len()];
                let sample = run_server(contender, &zones, &queries, &s);
                eprintln!(
                    "  {size} names, round {round}, {}: {sample:?}",
                    contender.name()
                );
                match results.iter_mut().find(|(c, _)| c == contender) {
                    Some((_, v)) => v.push(sample),
                    None => results.push((contender.clone(), vec![sample])),
                }
            }
            let f = run_reflector(&queries, &s);
            eprintln!("  {size} names, round {round}, reflector: {f:?}");
            floor.push(f);
        }
        report(size, &results, &floor);
    }
}

fn target_dir() -> PathBuf {
    // target/release/deps/dnsd_qps-HASH -> target
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// dnsperf for the run's seconds, on CPU 1 when pinned.
fn dnsperf(server: std::net::SocketAddr, queries: &Path, s: &Settings) -> Report {
    let perf = Dnsperf::new(server, queries).seconds(s.seconds);
    if s.pinned { perf.cpus("1") } else { perf }.run()
}

fn run_server(contender: &Contender, zones: &[ZoneFile], queries: &Path, s: &Settings) -> Sample {
    let opts = Options {
        dnsd_binary: contender.binary.clone(),
        workers: Some(if s.pinned { 1 } else { 2 }),
        ready_timeout: Duration::from_secs(120),
        cpus: s.pinned.then(|| "0".to_string()),
        minimal_responses: true,
        ..Options::default()
    };
    let server = Server::start(contender.kind, zones, &opts);
    let load_s = server.load_time.as_secs_f64();
    let pid = server.pid();
    let cpu_before = procstat::cpu_micros(pid);
    let perf = dnsperf(server.addr, queries, s);
    let cpu = procstat::cpu_micros(pid).saturating_sub(cpu_before);
    let mem = procstat::pss_bytes(pid);
    server.stop();
    Sample {
        qps: perf.qps,
        latency_us: perf.latency_us,
        cpu_us_per_query: cpu as f64 / perf.completed.max(1) as f64,
        mem_mb: mem as f64 / 1e6,
        load_s,
        lost: perf.lost,
        noerror_pct: perf.noerror_pct,
    }
}

fn run_reflector(queries: &Path, s: &Settings) -> Sample {
    let port = free_port();
    let exe = std::env::current_exe().expect("bench executable");
    let mut cmd = if s.pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.arg("--reflector").arg(format!("127.0.0.1:{port}"));
    let guard = netfabric_tests::process::ProcessGuard::spawn("reflector", &mut cmd);
    // The reflector binds before it reads; wait until a datagram comes back.
    let probe = netfabric_tests::dns::Query::new("x.", 1).to_bytes();
    let started = Instant::now();
    while netfabric_tests::dns::udp_exchange(
        ([127, 0, 0, 1], port).into(),
        &probe,
        Duration::from_millis(50),
    )
    .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reflector did not start"
        );
    }
    let cpu_before = procstat::cpu_micros(guard.pid());
    let perf = dnsperf(([127, 0, 0, 1], port).into(), queries, s);
    let cpu = procstat::cpu_micros(guard.pid()).saturating_sub(cpu_before);
    Sample {
        qps: perf.qps,
        latency_us: perf.latency_us,
        cpu_us_per_query: cpu as f64 / perf.completed.max(1) as f64,
        mem_mb: procstat::pss_bytes(guard.pid()) as f64 / 1e6,
        load_s: 0.0,
        lost: perf.lost,
        noerror_pct: perf.noerror_pct,
    }
}

fn medians(samples: &[Sample]) -> Sample {
    let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Sample {
        qps: m(|s| s.qps),
        latency_us: m(|s| s.latency_us),
        cpu_us_per_query: m(|s| s.cpu_us_per_query),
        mem_mb: m(|s| s.mem_mb),
        load_s: m(|s| s.load_s),
        lost: samples.iter().map(|s| s.lost).sum(),
        noerror_pct: m(|s| s.noerror_pct),
    }
}

fn report(size: usize, results: &[(Contender, Vec<Sample>)], floor: &[Sample]) {
    println!("\n{size} names (medians of {} starts)", floor.len());
    println!(
        "{:<10} {:>10} {:>12} {:>12} {:>10} {:>9} {:>8} {:>9}",
        "server", "QPS", "latency µs", "CPU µs/q", "mem MB", "load s", "lost", "NOERROR"
    );
    let row = |name: &str, m: &Sample| {
        println!(
            "{:<10} {:>10.0} {:>12.1} {:>12.2} {:>10.1} {:>9.2} {:>8} {:>8.1}%",
            name,
            m.qps,
            m.latency_us,
            m.cpu_us_per_query,
            m.mem_mb,
            m.load_s,
            m.lost,
            m.noerror_pct
        );
    };
    let mut med = Vec::new();
    for (contender, samples) in results {
        let m = medians(samples);
        row(contender.name(), &m);
        med.push((contender.name(), m));
    }
    row("reflector", &medians(floor));
    let Some((_, d)) = med.iter().find(|(name, _)| *name == "dnsd") else {
        return;
    };
    for (name, p) in med.iter().filter(|(name, _)| *name != "dnsd") {
        println!(
            "dnsd / {:<9} QPS {:.2}x  CPU/q {:.2}x  mem {:.2}x  load {:.2}x",
            name,
            d.qps / p.qps.max(1e-9),
            d.cpu_us_per_query / p.cpu_us_per_query.max(1e-9),
            d.mem_mb / p.mem_mb.max(1e-9),
            d.load_s / p.load_s.max(1e-9)
        );
    }
}
