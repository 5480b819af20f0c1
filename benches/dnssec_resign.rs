//! Benchmark (issue 9): a policy change of a running, signed zone of 1,000,000 names
//! (ECDSAP256SHA256 to ED25519, NSEC: the start of an algorithm rollover, every RRset
//! signed again with both algorithms), with answers asked all along. Two dnsd builds
//! side by side in one run (`--binaries before=PATH,after=PATH`, default the
//! workspace's), to compare a re-sign in one version with one in bounded batches.
//!
//! Run: `cargo build --profile ci -p dnsd && cargo bench --profile ci -p
//! netfabric-tests --bench dnssec_resign -- --size 1000000 --binaries
//! before=/path/to/old/dnsd,after=target/ci/dnsd`.
//!
//! Per build: dnsd starts on the zone, signing it (ECDSAP256SHA256, NSEC); once the
//! apex SOA answers signed, the configuration's algorithm becomes ED25519 and dnsd
//! gets SIGHUP. Until the DNSKEY RRset holds both algorithms (the re-sign's end), one
//! thread asks one DO=1 question at a time (the zone's query list, 1 s timeout) and
//! keeps the longest wait for an answer (the longest stall; a timeout counts 1 s),
//! another reads dnsd's VmRSS every 20 ms. Reported: the re-sign's wall time and CPU,
//! the versions it made (the SOA serial's growth), the peak RSS during it and before
//! it, the RSS 20 s after it (the arena's compaction), the longest stall and the
//! median answer time, the answers lost.

#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Edns, Query, normalize, udp_exchange};
use netfabric_tests::perf::median;
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, Server};

fn main() {
    let mut size = 1_000_000usize;
    let mut binaries: Vec<(String, Option<PathBuf>)> = vec![("workspace".into(), None)];
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--size" => {
                size = value.parse().expect("--size N");
                i += 1;
            }
            "--binaries" => {
                binaries = value
                    .split(',')
                    .map(|b| {
                        let (name, path) = b.split_once('=').expect("--binaries NAME=PATH,...");
                        (name.to_string(), Some(PathBuf::from(path)))
                    })
                    .collect();
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let work = target_dir().join("bench-dnssec-resign");
    let (zone, queries) = zonegen::generate(&work.join(format!("{size}")), size);
    let names: Vec<String> = std::fs::read_to_string(&queries)
        .expect("query list")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .take(100_000)
        .collect();
    let names = Arc::new(names);
    println!(
        "DNSSEC re-sign after a policy change (ECDSAP256SHA256 -> ED25519, NSEC), {size} names"
    );
    println!(
        "| build | re-sign wall | re-sign CPU | versions | peak RSS during (before) | RSS 20 s after | longest stall | median answer | lost |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, binary) in &binaries {
        let opts = Options {
            workers: None,
            ready_timeout: Duration::from_secs(1800),
            changes: true,
            dnsd_binary: binary.clone(),
            dnsd_config: Some(
                "[dnssec]\nsign = true\nalgorithm = \"ECDSAP256SHA256\"\n".to_string(),
            ),
            ..Options::default()
        };
        let server = Server::start(Kind::Dnsd, std::slice::from_ref(&zone), &opts);
        let apex = format!("{}.", zone.name);
        let started = Instant::now();
        while !signed(server.addr, &apex) {
            assert!(started.elapsed() < Duration::from_secs(3600), "not signed");
            std::thread::sleep(Duration::from_millis(200));
        }
        // Let the first image be written, so it is not counted in the re-sign.
        std::thread::sleep(Duration::from_secs(10));
        let pid = server.pid();
        let rss_before = rss_mib(pid);
        let serial_before = serial(server.addr, &apex);
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut peak: f64 = 0.0;
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(rss_mib(pid));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        let asker = {
            let stop = stop.clone();
            let names = names.clone();
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut times = Vec::new();
                let mut lost = 0usize;
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let mut q = Query::new(&names[i % names.len()], 1);
                    i += 7919;
                    q.edns = Some(Edns {
                        dnssec_ok: true,
                        ..Edns::default()
                    });
                    let t0 = Instant::now();
                    match udp_exchange(addr, &q.to_bytes(), Duration::from_secs(1)) {
                        Some(_) => times.push(t0.elapsed().as_secs_f64()),
                        None => {
                            lost += 1;
                            times.push(1.0);
                        }
                    }
                }
                (times, lost)
            })
        };
        std::thread::sleep(Duration::from_secs(2));
        let config = server.dir().join("dnsd.toml");
        let text = std::fs::read_to_string(&config).expect("dnsd.toml");
        std::fs::write(&config, text.replace("\"ECDSAP256SHA256\"", "\"ED25519\""))
            .expect("dnsd.toml");
        let cpu_before = procstat::cpu_micros(pid) as f64 / 1e6;
        let t0 = Instant::now();
        // SAFETY: kill(2) on the server's own pid, which this benchmark started.
        unsafe {
            libc::kill(pid as i32, libc::SIGHUP);
        }
        while dnskey_algorithms(server.addr, &apex) < 2 {
            assert!(t0.elapsed() < Duration::from_secs(3600), "no re-sign");
            std::thread::sleep(Duration::from_millis(50));
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = procstat::cpu_micros(pid) as f64 / 1e6 - cpu_before;
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
        let peak = sampler.join().expect("sampler");
        let (times, lost) = asker.join().expect("asker");
        let longest = times.iter().copied().fold(0.0, f64::max);
        let versions = serial(server.addr, &apex).wrapping_sub(serial_before);
        // What the zone keeps once the walk is over and its image written: the versions
        // it replaced must not stay resident (the arena's compaction).
        std::thread::sleep(Duration::from_secs(20));
        let settled = rss_mib(pid);
        println!(
            "| {name} | {wall:.1} s | {cpu:.1} s | {versions} | {peak:.0} MiB ({rss_before:.0}) | {settled:.0} MiB | {:.1} ms | {:.3} ms | {lost} of {} |",
            longest * 1e3,
            median(times.clone()) * 1e3,
            times.len()
        );
        server.stop();
    }
}

fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Resident memory of `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    procstat::rss_bytes(pid) as f64 / (1024.0 * 1024.0)
}

/// Whether the apex SOA answers with its RRSIG (DO set).
fn signed(server: SocketAddr, apex: &str) -> bool {
    let mut q = Query::new(apex, 6);
    q.edns = Some(Edns {
        dnssec_ok: true,
        ..Edns::default()
    });
    udp_exchange(server, &q.to_bytes(), Duration::from_millis(500))
        .and_then(|r| normalize(&r).ok())
        .is_some_and(|n| n.rcode == 0 && n.answer.keys().any(|k| k.1 == "RRSIG"))
}

/// The zone's SOA serial (dig, named server).
fn serial(server: SocketAddr, apex: &str) -> u32 {
    dig(server, apex, "SOA")
        .first()
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// How many algorithms the DNSKEY RRset holds.
fn dnskey_algorithms(server: SocketAddr, apex: &str) -> usize {
    let mut algs: Vec<String> = dig(server, apex, "DNSKEY")
        .iter()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect();
    algs.sort();
    algs.dedup();
    algs.len()
}

fn dig(server: SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args([
            "-p",
            &server.port().to_string(),
            "+short",
            "+tcp",
            name,
            qtype,
        ])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}
