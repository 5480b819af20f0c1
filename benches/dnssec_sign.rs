//! Benchmark (issue 9): signing a zone of 1,000,000 names, dnsd beside Knot in one run
//! (and the offline signers `dnssec-signzone` and `ldns-signzone`), one combined key
//! (CSK) of each algorithm (ECDSAP256SHA256, ED25519), NSEC and NSEC3 (RFC 9276: no
//! iterations, no salt); each signer makes its own key of that type.
//!
//! Run: `cargo build --profile ci -p dnsd && cargo bench -p netfabric-tests --bench
//! dnssec_sign` (`-- --sizes 100000`, `--rounds N` changes, `--signers dnsd,knot,bind,ldns`,
//! `--algorithms ecdsa,ed25519`, `--denial nsec,nsec3`, `--qps-seconds N`, `--qps-rounds N`).
//!
//! Per signer:
//! - **full sign**: dnsd and Knot start on the zone file with automatic signing and are
//!   timed until they answer the apex SOA with its RRSIG (DO); the same start without
//!   signing is timed too, and the difference is the signing's share. CPU (utime +
//!   stime of the process) and peak RSS (VmHWM) at that moment. The offline signers
//!   run under `/usr/bin/time` (wall, CPU, max RSS), every core for dnssec-signzone,
//!   one thread for ldns-signzone (it has no other mode).
//! - **one change**: one A record added as a transaction (dnsd: control socket; Knot:
//!   `knotc zone-begin/zone-set/zone-commit`), timed until the new name answers with
//!   its RRSIG (median over `--rounds`); the server's CPU per change (mean).
//!
//! - **DO=1 queries** (`dnsperf -D`, the zone's query list): dnsd and Knot serving the
//!   zone each signed, and NSD serving dnsd's signed zone (its AXFR, pre-signed);
//!   `--qps-rounds` rounds interleaved between the three, QPS and the server's CPU per
//!   query (median), beside its resident memory (PSS) then.
//!
//! The table gives medians and dnsd's ratios to each peer (below 1: dnsd takes less).

#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

#[path = "dnssec_sign/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Edns, Query, normalize, udp_exchange};
use netfabric_tests::perf::median;
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile, free_port};

struct Settings {
    sizes: Vec<usize>,
    rounds: usize,
    signers: Vec<String>,
    algorithms: Vec<String>,
    denials: Vec<String>,
    qps_seconds: u64,
    qps_rounds: usize,
}

/// What the signers are asked for: algorithm (`ecdsa`, `ed25519`) and denial (`nsec`,
/// `nsec3`).
#[derive(Clone, Copy)]
struct Spec<'a> {
    algorithm: &'a str,
    denial: &'a str,
}

impl Spec<'_> {
    fn nsec3(&self) -> bool {
        self.denial == "nsec3"
    }
    /// The algorithm's mnemonic (dnsd, BIND, ldns).
    fn mnemonic(&self) -> &'static str {
        match self.algorithm {
            "ed25519" => "ED25519",
            _ => "ECDSAP256SHA256",
        }
    }
}

fn settings() -> Settings {
    let mut s = Settings {
        sizes: vec![1_000_000],
        rounds: 10,
        signers: ["dnsd", "knot", "bind", "ldns"].map(String::from).to_vec(),
        algorithms: vec!["ecdsa".into()],
        denials: vec!["nsec".into()],
        qps_seconds: 10,
        qps_rounds: 3,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => {
                s.sizes = value
                    .split(',')
                    .map(|v| v.parse().expect("--sizes N,N"))
                    .collect();
                i += 1;
            }
            "--rounds" => {
                s.rounds = value.parse().expect("--rounds N");
                i += 1;
            }
            "--signers" => {
                s.signers = value.split(',').map(String::from).collect();
                i += 1;
            }
            "--algorithms" => {
                s.algorithms = value.split(',').map(String::from).collect();
                i += 1;
            }
            "--denial" => {
                s.denials = value.split(',').map(String::from).collect();
                i += 1;
            }
            "--qps-seconds" => {
                s.qps_seconds = value.parse().expect("--qps-seconds N");
                i += 1;
            }
            "--qps-rounds" => {
                s.qps_rounds = value.parse().expect("--qps-rounds N");
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    s
}

/// One signer's figures (times in seconds, CPU in seconds, memory in MiB).
#[derive(Debug, Default, Clone)]
struct Row {
    load: f64,
    load_cpu: f64,
    load_rss: f64,
    signed: f64,
    signed_cpu: f64,
    signed_rss: f64,
    change: Option<f64>,
    change_cpu: Option<f64>,
}

fn main() {
    let s = settings();
    let work = target_dir().join("bench-dnssec-sign");
    std::fs::create_dir_all(&work).expect("bench folder");
    println!(
        "DNSSEC signing benchmark: CSK; {} changes per server; DO=1 queries {} x {} s",
        s.rounds, s.qps_rounds, s.qps_seconds
    );
    for &size in &s.sizes {
        let (zone, queries) = zonegen::generate(&work.join(format!("{size}")), size);
        for algorithm in &s.algorithms {
            for denial in &s.denials {
                let spec = Spec { algorithm, denial };
                let mut rows = Vec::new();
                let mut running = Vec::new();
                for signer in &s.signers {
                    let row = match signer.as_str() {
                        "dnsd" | "knot" => {
                            let kind = if signer == "dnsd" {
                                Kind::Dnsd
                            } else {
                                Kind::Knot
                            };
                            let (row, run) = server_row(kind, &zone, spec, s.rounds);
                            running.push(run);
                            row
                        }
                        "bind" => offline_row("bind", &zone, spec, &work),
                        "ldns" => offline_row("ldns", &zone, spec, &work),
                        other => panic!("unknown signer {other}"),
                    };
                    eprintln!("  {size} names, {algorithm} {denial}, {signer}: {row:?}");
                    rows.push((signer.clone(), row));
                }
                let title = format!("{size} names, {} {denial}", spec.mnemonic());
                report(&title, &rows);
                if s.qps_rounds > 0 && !running.is_empty() {
                    serve::queries(&title, &zone, &queries, &mut running, &s, &work);
                }
            }
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Whether `server` answers (`name`, `qtype`) with data and its RRSIG (DO set).
fn signed_answer(server: SocketAddr, name: &str, qtype: u16) -> bool {
    let mut q = Query::new(name, qtype);
    q.edns = Some(Edns {
        dnssec_ok: true,
        ..Edns::default()
    });
    udp_exchange(server, &q.to_bytes(), Duration::from_millis(200))
        .and_then(|r| normalize(&r).ok())
        .is_some_and(|n| {
            n.rcode == 0
                && n.answer.keys().any(|k| k.1 == "RRSIG")
                && n.answer.keys().any(|k| k.1 != "RRSIG")
        })
}

fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn cpu_secs(pid: u32) -> f64 {
    procstat::cpu_micros(pid) as f64 / 1e6
}

/// dnsd or Knot: unsigned start, signed start, then one change at a time; the signed
/// server is left running for the query rounds.
fn server_row(kind: Kind, zone: &ZoneFile, spec: Spec<'_>, rounds: usize) -> (Row, serve::Running) {
    let mut row = Row::default();
    let apex = format!("{}.", zone.name);
    // Unsigned: the load alone.
    let opts = Options {
        workers: None,
        ready_timeout: Duration::from_secs(900),
        changes: true,
        ..Options::default()
    };
    let started = Instant::now();
    let server = Server::start(kind, std::slice::from_ref(zone), &opts);
    row.load = started.elapsed().as_secs_f64();
    row.load_cpu = cpu_secs(server.pid());
    row.load_rss = status_mib(server.pid(), "VmHWM:");
    server.stop();
    // Signed.
    let (running, mut change): (serve::Running, Box<dyn FnMut(usize)>) = match kind {
        Kind::Dnsd => {
            let opts = Options {
                dnsd_config: Some(format!(
                    "[dnssec]\nsign = true\nalgorithm = \"{}\"\ndenial = \"{}\"\n\
                     [xfr]\nallow-transfer = [{{ from = \"127.0.0.1\" }}]\n",
                    spec.mnemonic(),
                    spec.denial
                )),
                ..opts
            };
            let started = Instant::now();
            let server = Server::start(kind, std::slice::from_ref(zone), &opts);
            wait_signed(server.addr, &apex, started);
            row.signed = started.elapsed().as_secs_f64();
            row.signed_cpu = cpu_secs(server.pid());
            row.signed_rss = status_mib(server.pid(), "VmHWM:");
            let socket = server.dir().join(".dnsd-state").join("control.sock");
            let apex = zone.name.clone();
            let running = serve::Running {
                name: "dnsd",
                addr: server.addr,
                pid: server.pid(),
                _keep: Box::new(server),
            };
            (
                running,
                Box::new(move |i| {
                    let lines = vec![
                        format!("zone {apex} bench"),
                        format!("add signchange{i} 300 A 198.51.100.7"),
                        "commit".to_string(),
                    ];
                    let replies =
                        dnsd::front::control::client(&socket, &lines).expect("control socket");
                    assert!(
                        replies.last().is_some_and(|r| r.starts_with("ok")),
                        "{replies:?}"
                    );
                }),
            )
        }
        Kind::Knot => {
            let dir = tempfile::Builder::new()
                .prefix("nf-knotsign-")
                .tempdir()
                .expect("temporary folder");
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let started = Instant::now();
            let guard = start_signing_knot(dir.path(), addr, zone, spec);
            wait_signed(addr, &apex, started);
            row.signed = started.elapsed().as_secs_f64();
            row.signed_cpu = cpu_secs(guard.pid());
            row.signed_rss = status_mib(guard.pid(), "VmHWM:");
            let sock = dir.path().join("knot.sock");
            let running = serve::Running {
                name: "knot",
                addr,
                pid: guard.pid(),
                _keep: Box::new((guard, dir)),
            };
            let name = zone.name.clone();
            (
                running,
                Box::new(move |i| {
                    let owner = format!("signchange{i}");
                    knotc(&sock, &["zone-begin", &name]);
                    knotc(
                        &sock,
                        &["zone-set", &name, &owner, "300", "A", "198.51.100.7"],
                    );
                    knotc(&sock, &["zone-commit", &name]);
                }),
            )
        }
        Kind::Nsd => unreachable!("NSD does not sign"),
    };
    let (addr, pid) = (running.addr, running.pid);
    let mut times = Vec::new();
    let cpu_before = cpu_secs(pid);
    for i in 0..rounds {
        let name = format!("signchange{i}.{apex}");
        let t0 = Instant::now();
        change(i);
        let deadline = t0 + Duration::from_secs(120);
        while !signed_answer(addr, &name, 1) {
            assert!(Instant::now() < deadline, "{name}: not served signed");
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    // CPU in clock ticks: the mean over the rounds, not a median of ticks.
    row.change_cpu = Some((cpu_secs(pid) - cpu_before) / rounds.max(1) as f64);
    row.change = Some(median(times));
    (row, running)
}

fn wait_signed(addr: SocketAddr, apex: &str, started: Instant) {
    while !signed_answer(addr, apex, 6) {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "{apex}: not signed within 30 min"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn knotc(sock: &Path, args: &[&str]) {
    let out = Command::new("knotc")
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .expect("run knotc (Debian package knot)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("error"),
        "knotc {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Knot with automatic signing (a CSK of `spec`'s algorithm, NSEC or NSEC3 with no
/// iterations and no salt), its journal on as dnsd's is, every core for signing. The
/// zone's journal may hold the whole signing: with the default `journal-max-usage`
/// (100 MiB) Knot signs a million names, then fails the load ("not enough space
/// provided") and never serves the signed zone — what stopped an earlier run.
fn start_signing_knot(
    dir: &Path,
    addr: SocketAddr,
    zone: &ZoneFile,
    spec: Spec<'_>,
) -> ProcessGuard {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("db")).expect("Knot's database folder");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let conf = format!(
        "server:\n  listen: {ip}@{port}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         background-workers: {threads}\n  tcp-workers: 1\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n  \
         journal-db-max-size: 8G\n\
         log:\n  - target: stderr\n    any: warning\n\
         policy:\n  - id: bench\n    algorithm: {algorithm}\n    single-type-signing: on\n    \
         signing-threads: {threads}\n{nsec3}\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: changes\n    semantic-checks: off\n    \
         journal-max-usage: 6G\n\
         zone:\n  - domain: \"{name}\"\n    file: \"{file}\"\n    \
         dnssec-signing: on\n    dnssec-policy: bench\n",
        ip = addr.ip(),
        port = addr.port(),
        algorithm = spec.mnemonic().to_lowercase(),
        nsec3 = if spec.nsec3() {
            "    nsec3: on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n"
        } else {
            ""
        },
        name = zone.name,
        file = zone.path.display(),
    );
    std::fs::write(dir.join("knot.conf"), conf).expect("write knot.conf");
    let log = std::fs::File::create(dir.join("knot.log")).expect("log");
    let mut cmd = Command::new("/usr/sbin/knotd");
    cmd.arg("-c")
        .arg(dir.join("knot.conf"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    ProcessGuard::spawn("knotd", &mut cmd)
}

/// dnssec-signzone (every core) or ldns-signzone, under /usr/bin/time.
fn offline_row(which: &str, zone: &ZoneFile, spec: Spec<'_>, work: &Path) -> Row {
    let dir = tempfile::Builder::new()
        .prefix("nf-offsign-")
        .tempdir_in(work)
        .expect("temporary folder");
    let d = dir.path();
    let apex = format!("{}.", zone.name);
    let out = d.join("signed.zone");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "TIME %e %U %S %M"]).current_dir(d);
    match which {
        "bind" => {
            let key = tool_output(
                Command::new("dnssec-keygen")
                    .args(["-q", "-a", spec.mnemonic(), "-f", "KSK", "-K"])
                    .arg(d)
                    .arg(&apex),
            );
            assert!(key.trim().starts_with('K'), "dnssec-keygen: {key}");
            // Smart signing (-S) finds the key in the folder; -z: it signs everything.
            cmd.arg("dnssec-signzone")
                .args([
                    "-S",
                    "-z",
                    "-N",
                    "keep",
                    "-n",
                    &threads.to_string(),
                    "-o",
                    &apex,
                ])
                .args(if spec.nsec3() {
                    &["-3", "-", "-H", "0"][..]
                } else {
                    &[][..]
                })
                .arg("-K")
                .arg(d)
                .arg("-f")
                .arg(&out)
                .arg(&zone.path);
        }
        _ => {
            let key = tool_output(
                Command::new("ldns-keygen")
                    .args(["-a", spec.mnemonic(), "-k"])
                    .arg(&apex)
                    .current_dir(d),
            );
            cmd.arg("ldns-signzone")
                .args(if spec.nsec3() {
                    &["-n", "-t", "0"][..]
                } else {
                    &[][..]
                })
                .arg("-f")
                .arg(&out)
                .arg(&zone.path)
                .arg(d.join(key.trim()));
        }
    }
    let output = cmd.output().expect("/usr/bin/time");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{which}: {err}");
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("TIME "))
        .expect("time's line");
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    Row {
        signed: f[0],
        signed_cpu: f[1] + f[2],
        signed_rss: f[3] / 1024.0,
        ..Row::default()
    }
}

fn tool_output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("key generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(title: &str, rows: &[(String, Row)]) {
    println!("\n{title}");
    println!(
        "{:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "signer",
        "load s",
        "signed s",
        "sign s",
        "sign CPU",
        "peak MiB",
        "change ms",
        "change CPU",
        "load MiB"
    );
    for (name, r) in rows {
        let sign_only = if r.load > 0.0 {
            r.signed - r.load
        } else {
            r.signed
        };
        let cpu_only = r.signed_cpu - r.load_cpu;
        println!(
            "{:<6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.0} {:>10} {:>10} {:>10.0}",
            name,
            r.load,
            r.signed,
            sign_only,
            cpu_only,
            r.signed_rss,
            r.change.map_or("-".into(), |c| format!("{:.2}", c * 1e3)),
            r.change_cpu
                .map_or("-".into(), |c| format!("{:.2}ms", c * 1e3)),
            r.load_rss,
        );
    }
    let Some((_, dnsd)) = rows.iter().find(|(n, _)| n == "dnsd") else {
        return;
    };
    for (name, r) in rows.iter().filter(|(n, _)| n != "dnsd") {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let d_sign = dnsd.signed - dnsd.load;
        let p_sign = if r.load > 0.0 {
            r.signed - r.load
        } else {
            r.signed
        };
        println!(
            "dnsd/{name}: signed start {:.2}x, signing {:.2}x, signing CPU {:.2}x, peak RSS {:.2}x{}",
            ratio(dnsd.signed, r.signed),
            ratio(d_sign, p_sign),
            ratio(dnsd.signed_cpu - dnsd.load_cpu, r.signed_cpu - r.load_cpu),
            ratio(dnsd.signed_rss, r.signed_rss),
            match (dnsd.change, r.change, dnsd.change_cpu, r.change_cpu) {
                (Some(a), Some(b), Some(c), Some(e)) => format!(
                    ", one change {:.2}x time, {:.2}x CPU",
                    ratio(a, b),
                    ratio(c, e)
                ),
                _ => String::new(),
            }
        );
    }
}
