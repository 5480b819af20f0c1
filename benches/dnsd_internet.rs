//! Benchmark (issue 14): what response rate limiting and DNS cookies cost dnsd, and
//! what they do under a flood, beside NSD and Knot with theirs on, in the same run.
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! dnsd_internet` (`-- --rounds N --seconds S --cost-only --flood-only`).
//!
//! 1. **Cost**, no limit pressure: the 10,000-name zone of `dnsd_qps`, dnsperf (CPU 1)
//!    asking existing names only, each query with a client cookie (`-E 10:...`), every
//!    server on CPU 0 with one worker. Servers: dnsd with RRL and cookies off; dnsd with
//!    both on (RRL at 10,000 a second per bucket, so that every response is accounted
//!    and none limited; a server cookie made for every response); NSD 4.6 with RRL at
//!    the same rate (it has no cookies); Knot 3.2 with mod-cookies and mod-rrl; and the
//!    bare UDP reflector (the floor). Server CPU time per answered query, medians of
//!    interleaved starts (shared/BENCHMARKING.md).
//! 2. **Flood**: each server with RRL at 20 a second, slip 2 (dnsd's defaults); a
//!    flood of one query from 127.0.0.1 as fast as one core sends it (a child of this
//!    benchmark on CPU 1, for `--seconds`), while a good client at 127.0.1.1 asks
//!    1,000 different names, each for a type it holds, one after another (1 s
//!    timeout, no retry; a truncated answer counts as not answered). Reported: the
//!    good client's answered share, and the reflected bytes per flooded byte (the
//!    amplification the flood gets: RRL's purpose is to keep it well below 1).

#[path = "dnsd_qps/reflector.rs"]
mod reflector;
#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use netfabric_tests::dns::Query;
use netfabric_tests::perf::{Dnsperf, median};
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, RateLimit, Server, ZoneFile, free_port};

const COOKIE_OPTION: &str = "10:0102030405060708";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    DnsdOff,
    DnsdOn,
    Nsd,
    Knot,
    Reflector,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::DnsdOff => "dnsd (RRL, cookies off)",
            Setup::DnsdOn => "dnsd (RRL, cookies on)",
            Setup::Nsd => "NSD 4.6 (RRL on)",
            Setup::Knot => "Knot 3.2 (RRL, cookies on)",
            Setup::Reflector => "reflector (floor)",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--reflector") {
        reflector::run(args[pos + 1].parse().expect("reflector address"));
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--blast") {
        blast(
            args[pos + 1].parse().expect("flood target"),
            args[pos + 2].parse().expect("flood seconds"),
        );
        return;
    }
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|p| args.get(p + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let rounds = arg("--rounds", 3) as usize;
    let seconds = arg("--seconds", 10).clamp(1, 60);
    let work = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.join("bench-dnsd")))
        .unwrap_or_else(|| "target/bench-dnsd".into());
    let (zone, queries) = zonegen::generate(&work.join("10000"), 10_000);
    // Existing names only: NXDOMAIN shares one bucket per zone, which the query rate
    // would fill even at 10,000 a second.
    let positive = work.join("10000/positive.txt");
    let text = std::fs::read_to_string(&queries).expect("query file");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("nx")).collect();
    std::fs::write(&positive, lines.join("\n")).expect("write query file");
    let zones = vec![zone];

    // The good client's questions: existing names with a type they hold (positive
    // answers, each name its own bucket), as a resolver asks them.
    let good: Vec<(String, u16)> = lines
        .iter()
        .filter_map(|l| {
            let (name, rtype) = l.split_once(' ')?;
            let rtype = match rtype {
                "A" => 1,
                "AAAA" => 28,
                "MX" => 15,
                "TXT" => 16,
                _ => return None,
            };
            Some((format!("{name}."), rtype))
        })
        .fold(Vec::new(), |mut acc, q| {
            if acc.len() < 1000 && !acc.iter().any(|(n, _)| *n == q.0) {
                acc.push(q);
            }
            acc
        });
    if args.iter().any(|a| a == "--flood-only") {
        return flood_table(&zones, &good, rounds, seconds);
    }
    println!("cost: {seconds} s per run, {rounds} rounds, server on CPU 0, dnsperf on CPU 1");
    let setups = [Setup::DnsdOff, Setup::DnsdOn, Setup::Nsd, Setup::Knot];
    let mut cpu: Vec<(Setup, Vec<f64>)> = Vec::new();
    for round in 0..rounds {
        for k in 0..=setups.len() {
            let setup = if k == setups.len() {
                Setup::Reflector
            } else {
                setups[(k + round) % setups.len()]
            };
            let (us, qps) = cost(setup, &zones, &positive, seconds);
            eprintln!(
                "  round {round}, {}: {us:.2} µs/q, {qps:.0} QPS",
                setup.name()
            );
            match cpu.iter_mut().find(|(s, _)| *s == setup) {
                Some((_, v)) => v.push(us),
                None => cpu.push((setup, vec![us])),
            }
        }
    }
    println!("\n{:<28} {:>10}", "server", "CPU µs/q");
    let med = |s: Setup| {
        median(
            cpu.iter()
                .find(|(x, _)| *x == s)
                .map_or(vec![], |(_, v)| v.clone()),
        )
    };
    for (setup, v) in &cpu {
        println!("{:<28} {:>10.2}", setup.name(), median(v.clone()));
    }
    let on = med(Setup::DnsdOn);
    println!(
        "dnsd on / off {:.2}x; dnsd on / NSD {:.2}x; dnsd on / Knot {:.2}x",
        on / med(Setup::DnsdOff),
        on / med(Setup::Nsd),
        on / med(Setup::Knot)
    );

    if args.iter().any(|a| a == "--cost-only") {
        return;
    }
    flood_table(&zones, &good, rounds, seconds);
}

/// Part 2: every server under the flood, `rounds` times, interleaved.
fn flood_table(zones: &[ZoneFile], good: &[(String, u16)], rounds: usize, seconds: u64) {
    println!("\nflood: {seconds} s from 127.0.0.1 at one core's ceiling, RRL 20/s slip 2");
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>12}",
        "server", "good ans.", "flood sent", "reflected", "bytes/byte"
    );
    for round in 0..rounds {
        for k in 0..3 {
            let kind = [Kind::Dnsd, Kind::Nsd, Kind::Knot][(k + round) % 3];
            let f = flood(kind, zones, good, seconds);
            println!(
                "{:<28} {:>9.2}% {:>12} {:>12} {:>12.3}",
                format!("{} (round {round})", kind.name()),
                f.good_pct,
                f.sent,
                f.reflected_packets,
                f.amplification
            );
        }
    }
}

/// CPU µs per answered query and QPS of one start of `setup`.
fn cost(setup: Setup, zones: &[ZoneFile], queries: &Path, seconds: u64) -> (f64, f64) {
    let high = RateLimit {
        rate: 10_000,
        slip: 2,
    };
    let (pid, addr, _server, _guard) = match setup {
        Setup::Reflector => {
            let port = free_port();
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", "0"])
                .arg(std::env::current_exe().expect("bench executable"))
                .arg("--reflector")
                .arg(format!("127.0.0.1:{port}"));
            let guard = ProcessGuard::spawn("reflector", &mut cmd);
            std::thread::sleep(Duration::from_millis(300));
            (
                guard.pid(),
                SocketAddr::from(([127, 0, 0, 1], port)),
                None,
                Some(guard),
            )
        }
        _ => {
            let (kind, options) = match setup {
                Setup::DnsdOff => (
                    Kind::Dnsd,
                    Options {
                        dnsd_config: Some(
                            "[rrl]\nenabled = false\n[cookies]\nenabled = false\n".into(),
                        ),
                        ..Options::default()
                    },
                ),
                Setup::DnsdOn => (
                    Kind::Dnsd,
                    Options {
                        rate_limit: Some(high),
                        cookie_secret: Some("e5e973e5a6b2a43f48e7dc849e37bfcf".into()),
                        ..Options::default()
                    },
                ),
                Setup::Nsd => (
                    Kind::Nsd,
                    Options {
                        rate_limit: Some(high),
                        minimal_responses: true,
                        ..Options::default()
                    },
                ),
                _ => (
                    Kind::Knot,
                    Options {
                        rate_limit: Some(high),
                        cookie_secret: Some("e5e973e5a6b2a43f48e7dc849e37bfcf".into()),
                        ..Options::default()
                    },
                ),
            };
            let options = Options {
                cpus: Some("0".into()),
                ready_timeout: Duration::from_secs(60),
                ..options
            };
            let server = Server::start(kind, zones, &options);
            // The fixture picks the loopback address too, not only the port.
            (server.pid(), server.addr, Some(server), None)
        }
    };
    let before = procstat::cpu_micros(pid);
    let perf = Dnsperf::new(addr, queries)
        .seconds(seconds)
        .edns_option(COOKIE_OPTION)
        .cpus("1")
        .run();
    let cpu = procstat::cpu_micros(pid).saturating_sub(before);
    (cpu as f64 / perf.completed as f64, perf.qps)
}

struct Flood {
    good_pct: f64,
    sent: u64,
    reflected_packets: u64,
    amplification: f64,
}

/// One start of `kind` under the flood.
fn flood(kind: Kind, zones: &[ZoneFile], good: &[(String, u16)], seconds: u64) -> Flood {
    let server = Server::start(
        kind,
        zones,
        &Options {
            cpus: Some("0".into()),
            rate_limit: Some(RateLimit { rate: 20, slip: 2 }),
            ..Options::default()
        },
    );
    let addr = server.addr;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"])
        .arg(std::env::current_exe().expect("bench executable"))
        .arg("--blast")
        .arg(addr.to_string())
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::piped());
    let mut blaster = ProcessGuard::spawn("blaster", &mut cmd);
    // The good client: distinct names (each its own bucket), one at a time.
    std::thread::sleep(Duration::from_millis(500));
    let sock = UdpSocket::bind("127.0.1.1:0").expect("bind 127.0.1.1");
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    for (i, (name, rtype)) in good.iter().enumerate() {
        let mut q = Query::new(name, *rtype);
        q.id = i as u16;
        let _ = sock.send_to(&q.to_bytes(), addr);
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n >= 12
            && buf[..2] == (i as u16).to_be_bytes()
            && buf[2] & 0x02 == 0
        {
            answered += 1;
        }
    }
    let out = blaster.wait_output(Duration::from_secs(seconds + 30));
    server.stop();
    let numbers: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [sent, sent_bytes, packets, bytes] = numbers[..] else {
        panic!("blaster said {out:?}");
    };
    Flood {
        good_pct: 100.0 * answered as f64 / good.len().max(1) as f64,
        sent,
        reflected_packets: packets,
        amplification: bytes as f64 / sent_bytes.max(1) as f64,
    }
}

/// The flood itself (a child process on CPU 1): one query for `host0.bench.example A`
/// sent as fast as the core allows for `seconds`, the responses counted by a second
/// thread. Prints: sent, sent bytes, responses, response bytes.
fn blast(target: SocketAddr, seconds: u64) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(target).expect("connect");
    let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(8 << 20);
    let query = Query::new("host0.bench.example.", 1).to_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let (packets, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let receiver = {
        let sock = sock.try_clone().expect("clone");
        let (stop, packets, bytes) = (stop.clone(), packets.clone(), bytes.clone());
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    packets.fetch_add(1, Relaxed);
                    bytes.fetch_add(n as u64, Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..1000 {
            if sock.send(&query).is_ok() {
                sent += 1;
            }
        }
    }
    // Late answers still count.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Relaxed);
    let _ = receiver.join();
    println!(
        "{sent} {} {} {}",
        sent * query.len() as u64,
        packets.load(Relaxed),
        bytes.load(Relaxed)
    );
}
