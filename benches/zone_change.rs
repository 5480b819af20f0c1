//! Benchmark (issue 7): changing one record of a zone of 10,000, 100,000 and 1,000,000
//! names, in dnsd, Knot and NSD, in one run.
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! zone_change` (`-- --sizes 10000` for one size, `--rounds N` changes per measure,
//! `--seconds S` for the sustained measure, `--servers dnsd,knot,nsd`).
//!
//! Three measures per size, the server on CPU 0 and every client on CPU 1
//! (shared/BENCHMARKING.md):
//! - **transaction**: one record added as a transaction (dnsd: the control socket, `zone`,
//!   `add`, `commit`; Knot: `knotc zone-begin`, `zone-set`, `zone-commit`, with its
//!   journal on, as dnsd's is). Time until the commit is acknowledged, server CPU per
//!   change, and the server's peak RSS during the changes over its RSS before them
//!   (VmHWM reset through /proc/PID/clear_refs). NSD has no transactions.
//! - **file edit**: one line added to the zone file and its serial raised, written as git
//!   writes (new file, rename). dnsd notices by itself; Knot gets `knotc zone-reload`,
//!   NSD SIGHUP. Time until the new name answers, server CPU per edit, peak RSS over
//!   steady RSS.
//! - **sustained**: dnsperf queries the zone for `--seconds` while transactions are
//!   submitted (dnsd: 4 clients on the control socket, pipelining, paced to `--tx-rate`
//!   in all, 5,000 by default, 0 for as fast as acknowledged; Knot: one knotc session
//!   fed from a pipe as fast as it takes them); transactions per second, and
//!   the QPS against the mean of runs of the same length without changes, one before
//!   and one after. dnsd's edit time includes its watcher's quiet period (100 ms).
//!
//! The table gives medians and dnsd's ratios to the peers.

#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::perf::{Dnsperf, median};
use netfabric_tests::procstat;
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

struct Settings {
    sizes: Vec<usize>,
    rounds: usize,
    seconds: u32,
    servers: Vec<Kind>,
    /// Transactions a second dnsd's clients aim at in the sustained measure (0: as
    /// fast as they are acknowledged).
    tx_rate: u32,
}

fn settings() -> Settings {
    let mut s = Settings {
        sizes: vec![10_000, 100_000, 1_000_000],
        rounds: 10,
        seconds: 10,
        servers: vec![Kind::Dnsd, Kind::Knot, Kind::Nsd],
        tx_rate: 5000,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => s.sizes = value.split(',').filter_map(|v| v.parse().ok()).collect(),
            "--rounds" => s.rounds = value.parse().unwrap_or(s.rounds),
            "--seconds" => s.seconds = value.parse().unwrap_or(s.seconds),
            "--tx-rate" => s.tx_rate = value.parse().unwrap_or(s.tx_rate),
            "--servers" => {
                s.servers = value
                    .split(',')
                    .filter_map(|v| match v {
                        "dnsd" => Some(Kind::Dnsd),
                        "knot" => Some(Kind::Knot),
                        "nsd" => Some(Kind::Nsd),
                        _ => None,
                    })
                    .collect()
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    s
}

/// Medians of one server's measures at one size.
#[derive(Clone, Debug, Default)]
struct Row {
    tx_ms: Option<f64>,
    tx_cpu_ms: Option<f64>,
    tx_peak: Option<f64>,
    edit_ms: f64,
    edit_cpu_ms: f64,
    edit_peak: f64,
    steady_mb: f64,
    tx_per_s: Option<f64>,
    qps_idle: Option<f64>,
    qps_busy: Option<f64>,
    /// dnsd's CPU per transaction in the sustained measure, in µs: everything but its
    /// UDP workers (which answer dnsperf flat out either way).
    tx_cpu_us_busy: Option<f64>,
}

fn main() {
    let s = settings();
    pin_self("1");
    let work = target_dir().join("bench-zone-change");
    std::fs::create_dir_all(&work).expect("bench folder");
    println!(
        "zone change benchmark: {} changes per measure, {} s sustained; server on CPU 0, clients on CPU 1",
        s.rounds, s.seconds
    );
    for &size in &s.sizes {
        let (zone, queries) = zonegen::generate(&work.join(format!("{size}")), size);
        let text = std::fs::read_to_string(&zone.path).expect("read the generated zone");
        let mut rows = Vec::new();
        for &kind in &s.servers {
            let row = measure(kind, &zone, &text, &queries, &s);
            eprintln!("  {size} names, {}: {row:?}", kind.name());
            rows.push((kind, row));
        }
        report(size, &rows);
    }
}

fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Moves this process (and the clients it starts) to `cpus`.
fn pin_self(cpus: &str) {
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
}

/// The zone file's text with its SOA serial replaced by `serial` and `extra` appended.
fn edited(text: &str, serial: u32, extra: &str) -> String {
    // zonegen writes the SOA on one line: `@ SOA ns hostmaster SERIAL ...`.
    let mut out = String::with_capacity(text.len() + extra.len() + 16);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if !done && line.contains(" SOA ") {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            if let Some(i) = fields.iter().position(|f| *f == "SOA") {
                let serial = serial.to_string();
                if fields.len() > i + 3 {
                    fields[i + 3] = &serial;
                    out.push_str(&fields.join(" "));
                    out.push('\n');
                    done = true;
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    assert!(done, "no SOA line in the generated zone");
    out.push_str(extra);
    out
}

/// Writes `text` to `path` as git does: a new file renamed over the old one.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-bench");
    std::fs::write(&tmp, text).expect("write the edited zone");
    std::fs::rename(&tmp, path).expect("rename the edited zone");
}

/// Peak RSS (VmHWM) summed over the process tree since the last reset, and the reset.
fn reset_peak(pid: u32) {
    for p in procstat::process_tree(pid) {
        let _ = std::fs::write(format!("/proc/{p}/clear_refs"), "5");
    }
}

fn status_kb(pid: u32, field: &str) -> u64 {
    procstat::process_tree(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// Whether `name` has an A record at `server`.
fn answers(server: SocketAddr, name: &str) -> bool {
    udp_exchange(
        server,
        &Query::new(name, 1).to_bytes(),
        Duration::from_millis(200),
    )
    .and_then(|r| normalize(&r).ok())
    .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
}

fn measure(kind: Kind, zone: &ZoneFile, text: &str, queries: &Path, s: &Settings) -> Row {
    // Each server edits a copy of its own.
    let own = tempfile::Builder::new()
        .prefix("nf-bench-zone-")
        .tempdir()
        .expect("temporary folder");
    let path = own.path().join(format!("{}.zone", zone.name));
    std::fs::write(&path, text).expect("copy the zone");
    let zones = vec![ZoneFile {
        name: zone.name.clone(),
        path: path.clone(),
    }];
    let opts = Options {
        workers: Some(1),
        ready_timeout: Duration::from_secs(300),
        cpus: Some("0".into()),
        minimal_responses: true,
        changes: true,
        ..Options::default()
    };
    let server = Server::start(kind, &zones, &opts);
    // dnsd watches its own copy in its folder.
    let file = match kind {
        Kind::Dnsd => server
            .dir()
            .join("zones")
            .join(format!("{}.zone", zone.name)),
        _ => path.clone(),
    };
    let pid = server.pid();
    // Let the start settle (dnsd writes the zone's first image in the background).
    std::thread::sleep(Duration::from_secs(2));
    let steady_kb = status_kb(pid, "VmRSS:");
    let mut row = Row {
        steady_mb: steady_kb as f64 / 1024.0,
        ..Row::default()
    };

    // Transactions.
    if kind != Kind::Nsd {
        let mut times = Vec::new();
        reset_peak(pid);
        let cpu0 = procstat::cpu_micros(pid);
        // CPU time comes in 10 ms ticks: many transactions make the mean exact enough.
        let count = s.rounds * 20;
        for round in 0..count {
            let name = format!("tx{round}");
            let started = Instant::now();
            transaction(kind, &server, &zone.name, &name);
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(
                answers(server.addr, &format!("{name}.{}.", zone.name)),
                "{}: the transaction's record is not served",
                kind.name()
            );
        }
        let cpu = procstat::cpu_micros(pid).saturating_sub(cpu0);
        row.tx_ms = Some(median(times));
        row.tx_cpu_ms = Some(cpu as f64 / 1e3 / count as f64);
        row.tx_peak = Some(status_kb(pid, "VmHWM:") as f64 / steady_kb.max(1) as f64);
    }

    // File edits: serials well above what the transactions reached.
    let base_serial = 2_100_000_000u32;
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    let mut peaks = Vec::new();
    for round in 0..s.rounds {
        let name = format!("edit{round}");
        let body = edited(
            text,
            base_serial + round as u32,
            &format!("{name} 300 IN A 198.51.100.{}\n", round % 250 + 1),
        );
        let steady = status_kb(pid, "VmRSS:");
        reset_peak(pid);
        let cpu0 = procstat::cpu_micros(pid);
        let started = Instant::now();
        replace_file(&file, &body);
        match kind {
            Kind::Dnsd => {}
            Kind::Knot => knotc(&server, &["zone-reload", &zone.name]),
            Kind::Nsd => {
                // SAFETY: kill(2) on the server's own pid.
                unsafe { libc::kill(pid as i32, libc::SIGHUP) };
            }
        }
        let fqdn = format!("{name}.{}.", zone.name);
        while !answers(server.addr, &fqdn) {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "{}: the edit was not served:\n{}",
                kind.name(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
        // What follows the swap (freeing the old version, images) counts too.
        std::thread::sleep(Duration::from_secs(2));
        cpus.push(procstat::cpu_micros(pid).saturating_sub(cpu0) as f64 / 1e3);
        peaks.push(status_kb(pid, "VmHWM:") as f64 / steady.max(1) as f64);
    }
    row.edit_ms = median(times);
    row.edit_cpu_ms = median(cpus);
    row.edit_peak = median(peaks);

    // Sustained transactions under queries.
    if kind != Kind::Nsd {
        // Idle before and after, so that a warming cache or a neighbour's burst does
        // not pass for the cost of the changes.
        let idle_before = dnsperf(server.addr, queries, s.seconds);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, done) = (stop.clone(), done.clone());
            let apex = zone.name.clone();
            let socket = control_socket(&server);
            let knot_sock = server.dir().join("knot.sock");
            let addr = server.addr;
            let tx_rate = s.tx_rate;
            std::thread::spawn(move || match kind {
                Kind::Dnsd => dnsd_writers(&socket, &apex, tx_rate, &stop, &done),
                _ => knot_writer(addr, &knot_sock, &apex, &stop, &done),
            })
        };
        let before = done.load(Ordering::Relaxed);
        let udp = |name: &str| name.starts_with("dnsd-udp");
        let cpu_before = procstat::cpu_micros(pid);
        let udp_before = procstat::threads_cpu_micros(pid, udp);
        let started = Instant::now();
        let qps = dnsperf(server.addr, queries, s.seconds);
        let elapsed = started.elapsed().as_secs_f64();
        let committed = done.load(Ordering::Relaxed) - before;
        if kind == Kind::Dnsd && committed > 0 {
            let rest = procstat::cpu_micros(pid).saturating_sub(cpu_before) as f64
                - procstat::threads_cpu_micros(pid, udp).saturating_sub(udp_before) as f64;
            row.tx_cpu_us_busy = Some(rest / committed as f64);
        }
        stop.store(true, Ordering::Relaxed);
        let _ = writer.join();
        row.qps_idle = Some((idle_before + dnsperf(server.addr, queries, s.seconds)) / 2.0);
        row.qps_busy = Some(qps);
        row.tx_per_s = Some(committed as f64 / elapsed);
    }
    server.stop();
    row
}

fn control_socket(server: &Server) -> PathBuf {
    server.dir().join(".dnsd-state").join("control.sock")
}

/// One record added as one transaction, acknowledged.
fn transaction(kind: Kind, server: &Server, apex: &str, name: &str) {
    match kind {
        Kind::Dnsd => {
            let lines = vec![
                format!("zone {apex} bench"),
                format!("add {name} 300 A 198.51.100.7"),
                "commit".to_string(),
            ];
            let replies = dnsd::front::control::client(&control_socket(server), &lines)
                .expect("control socket");
            assert!(
                replies.last().is_some_and(|r| r.starts_with("ok")),
                "{replies:?}"
            );
        }
        Kind::Knot => {
            knotc(server, &["zone-begin", apex]);
            knotc(
                server,
                &["zone-set", apex, name, "300", "A", "198.51.100.7"],
            );
            knotc(server, &["zone-commit", apex]);
        }
        Kind::Nsd => unreachable!("NSD has no transactions"),
    }
}

fn knotc(server: &Server, args: &[&str]) {
    let out = Command::new("knotc")
        .arg("-s")
        .arg(server.dir().join("knot.sock"))
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

/// Four clients, each pipelining 16 transactions of one record at a time, paced to
/// `rate` transactions a second in all (0: unpaced).
fn dnsd_writers(socket: &Path, apex: &str, rate: u32, stop: &AtomicBool, done: &AtomicU64) {
    // Each client sends a batch of 16 every `interval`.
    let interval = (rate > 0).then(|| Duration::from_secs_f64(16.0 * 4.0 / f64::from(rate)));
    std::thread::scope(|scope| {
        for client in 0..4 {
            scope.spawn(move || {
                let Ok(stream) = UnixStream::connect(socket) else {
                    return;
                };
                let Ok(read) = stream.try_clone() else { return };
                let mut read = BufReader::new(read);
                let mut write = stream;
                let mut n = 0u64;
                let mut line = String::new();
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(interval) = interval {
                        next += interval;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let mut batch = String::new();
                    for _ in 0..16 {
                        n += 1;
                        batch.push_str(&format!(
                            "zone {apex} bench{client}\nadd s{client}-{n} 300 A 198.51.100.9\ncommit\n"
                        ));
                    }
                    if write.write_all(batch.as_bytes()).is_err() {
                        return;
                    }
                    for _ in 0..48 {
                        line.clear();
                        if read.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.starts_with("ok 2") || line.starts_with("ok 1") {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
}

/// One knotc session fed transactions through a pipe as fast as it takes them (knotc
/// buffers its replies, so the pipe is the back pressure); `done` counts the serials
/// Knot published (one per commit).
fn knot_writer(server: SocketAddr, socket: &Path, apex: &str, stop: &AtomicBool, done: &AtomicU64) {
    let Ok(mut child) = Command::new("knotc")
        .arg("-s")
        .arg(socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let Some(mut stdin) = child.stdin.take() else {
        return;
    };
    let first = soa_serial(server, apex);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let (Some(a), Some(b)) = (first, soa_serial(server, apex)) {
                    done.store(u64::from(b.wrapping_sub(a)), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let tx = format!(
                "zone-begin {apex}\nzone-set {apex} k-{n} 300 A 198.51.100.9\nzone-commit {apex}\n"
            );
            if stdin.write_all(tx.as_bytes()).is_err() {
                break;
            }
        }
        drop(stdin);
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// The SOA serial `server` gives for `apex`.
fn soa_serial(server: SocketAddr, apex: &str) -> Option<u32> {
    let response = udp_exchange(
        server,
        &Query::new(&format!("{apex}."), 6).to_bytes(),
        Duration::from_millis(500),
    )?;
    let n = normalize(&response).ok()?;
    n.answer
        .values()
        .flatten()
        .find_map(|soa| soa.split_whitespace().nth(2)?.parse().ok())
}

/// dnsperf for `seconds` against `server`; its QPS.
fn dnsperf(server: SocketAddr, queries: &Path, seconds: u32) -> f64 {
    Dnsperf::new(server, queries).seconds(seconds).run().qps
}

fn report(size: usize, rows: &[(Kind, Row)]) {
    let opt = |v: Option<f64>, p: usize| v.map_or("—".to_string(), |v| format!("{v:.p$}"));
    println!("\n{size} names");
    println!(
        "| server | steady RSS MB | tx ack ms | tx CPU ms | tx peak/steady | edit visible ms | edit CPU ms | edit peak/steady | tx/s under load | QPS idle | QPS under tx |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (kind, r) in rows {
        println!(
            "| {} | {:.0} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
            kind.name(),
            r.steady_mb,
            opt(r.tx_ms, 2),
            opt(r.tx_cpu_ms, 2),
            opt(r.tx_peak, 2),
            r.edit_ms,
            r.edit_cpu_ms,
            r.edit_peak,
            opt(r.tx_per_s, 0),
            opt(r.qps_idle, 0),
            opt(r.qps_busy, 0),
        );
    }
    let Some((_, d)) = rows.iter().find(|(k, _)| *k == Kind::Dnsd) else {
        return;
    };
    for (kind, r) in rows.iter().filter(|(k, _)| *k != Kind::Dnsd) {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "—".into(),
        };
        println!(
            "dnsd / {}: tx CPU {}, edit time {}, edit CPU {}, tx/s {}",
            kind.name(),
            ratio(d.tx_cpu_ms, r.tx_cpu_ms),
            ratio(Some(d.edit_ms), Some(r.edit_ms)),
            ratio(Some(d.edit_cpu_ms), Some(r.edit_cpu_ms)),
            ratio(d.tx_per_s, r.tx_per_s),
        );
    }
    if let (Some(idle), Some(busy)) = (d.qps_idle, d.qps_busy) {
        println!(
            "dnsd QPS while changing: {:.1}% of idle",
            100.0 * busy / idle.max(1.0)
        );
    }
    if let Some(us) = d.tx_cpu_us_busy {
        println!("dnsd CPU per transaction under load (all but the UDP workers): {us:.1} µs");
    }
}
