//! netd's nftables speed beside hand-written `nft -f` batches, in a network namespace
//! of its own (the bench unshares one; it never touches the host's ruleset).
//!
//! Run as root: `cargo bench -p netd --bench netd_apply`.
//!
//! Measured, each as the median of interleaved rounds:
//! - netd: render + load 1,000 forwards (one transaction); change one of them (element
//!   changes); the same change as a whole-table reload; `netd apply` end to end (the
//!   binary: config, netlink, sysctls, nft);
//! - by hand: one `nft -f` batch of 1,000 dnat rules; one rule with a 1,000-entry
//!   anonymous map; the same reloads for one change;
//! - packets lost by a UDP flow through one forward while another changes 50 times.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netd::config::parse;
use netd::nat::render::render;

const N: usize = 1000;
const ROUNDS: usize = 9;

/// Runs `batch` through `nft -f -`; panics on failure (the bench's own input).
fn nft(batch: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(batch.as_bytes())
        .expect("write to nft");
    assert!(child.wait().expect("nft ends").success(), "nft failed");
}

fn sh(argv: &[&str]) {
    let ok = Command::new(argv[0])
        .args(&argv[1..])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{argv:?} failed");
}

/// netd.toml with `n` forwards; forward 0 goes to `first_to_port`.
fn config_text(n: usize, first_to_port: u16) -> String {
    let mut s = String::from(
        "[[bridge]]\nname = \"br-svc\"\naddresses = [\"198.51.100.1/24\"]\n\
         [[nat]]\nsource = [\"198.51.100.0/24\"]\negress = \"up0\"\n",
    );
    for i in 0..n {
        let to_port = if i == 0 { first_to_port } else { 8000 };
        // Forward 1 also carries UDP: the loss measurement's flow crosses it.
        let proto = if i == 1 {
            "protocol = [\"tcp\", \"udp\"]\n"
        } else {
            ""
        };
        s.push_str(&format!(
            "[[forward]]\n{proto}port = {}\ninterface = \"up0\"\nto = \"198.51.100.{}\"\nto-port = {to_port}\n",
            10000 + i,
            10 + i % 200
        ));
    }
    s
}

/// Hand-written: one dnat rule per forward.
fn hand_rules(n: usize, first_to_port: u16) -> String {
    let mut s = String::from(
        "add table ip hand\ndelete table ip hand\ntable ip hand {\n chain pre {\n  type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for i in 0..n {
        let to_port = if i == 0 { first_to_port } else { 8000 };
        s.push_str(&format!(
            "  iifname \"up0\" tcp dport {} dnat to 198.51.100.{}:{to_port}\n",
            10000 + i,
            10 + i % 200
        ));
    }
    s.push_str(" }\n}\n");
    s
}

/// Hand-written: one rule, one anonymous map.
fn hand_map(n: usize, first_to_port: u16) -> String {
    let mut s = String::from(
        "add table ip hand\ndelete table ip hand\ntable ip hand {\n chain pre {\n  type nat hook prerouting priority dstnat; policy accept;\n  iifname \"up0\" dnat to tcp dport map {",
    );
    for i in 0..n {
        let to_port = if i == 0 { first_to_port } else { 8000 };
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            " {} : 198.51.100.{} . {to_port}",
            10000 + i,
            10 + i % 200
        ));
    }
    s.push_str(" }\n }\n}\n");
    s
}

/// CPU time (user + system) of every child process reaped so far: nft's own work,
/// and the kernel's on its behalf, which wall time on a busy machine hides.
fn children_cpu() -> Duration {
    // SAFETY: getrusage(2) fills the struct we pass; nothing else is shared.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall time and children's CPU time of `f`, in one sample.
fn time(f: impl FnOnce()) -> Sample {
    let (t, c) = (Instant::now(), children_cpu());
    f();
    Sample {
        wall: t.elapsed(),
        cpu: children_cpu().saturating_sub(c),
    }
}

/// One measurement.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// Medians of wall and CPU time.
fn median(v: &[Sample]) -> Sample {
    let mid = |mut d: Vec<Duration>| {
        d.sort();
        d[d.len() / 2]
    };
    Sample {
        wall: mid(v.iter().map(|s| s.wall).collect()),
        cpu: mid(v.iter().map(|s| s.cpu).collect()),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // SAFETY: unshare(2) affects only this process and the children it starts.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        println!("netd_apply: skipped (needs root to create its own network namespace)");
        return;
    }
    sh(&["ip", "link", "set", "lo", "up"]);
    sh(&[
        "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p",
    ]);
    sh(&["ip", "link", "set", "up0", "up"]);
    sh(&["ip", "link", "set", "up0p", "up"]);
    sh(&["ip", "addr", "add", "203.0.113.1/24", "dev", "up0"]);
    sh(&["ip", "addr", "add", "198.51.100.10/24", "dev", "up0p"]);

    let base = parse(&config_text(N, 8000)).expect("bench config is valid");
    let changed = parse(&config_text(N, 8001)).expect("bench config is valid");

    let mut r: std::collections::BTreeMap<&str, Vec<Sample>> = Default::default();
    for _ in 0..ROUNDS {
        // netd: render + load the whole table.
        r.entry("netd: load 1,000 forwards (render + nft)")
            .or_default()
            .push(time(|| nft(&render(&base).replace_batch())));
        // netd: change one forward by element changes.
        let (old, new) = (render(&base), render(&changed));
        let delta = new.delta_batch(&old).expect("same shape");
        r.entry("netd: change 1 of 1,000 (element changes)")
            .or_default()
            .push(time(|| nft(&delta)));
        r.entry("netd: change 1 of 1,000 (whole table)")
            .or_default()
            .push(time(|| nft(&render(&base).replace_batch())));
        sh(&["nft", "delete", "table", "inet", "netd"]);

        r.entry("hand: 1,000 dnat rules, one nft -f")
            .or_default()
            .push(time(|| nft(&hand_rules(N, 8000))));
        r.entry("hand: change 1 of 1,000 rules (reload batch)")
            .or_default()
            .push(time(|| nft(&hand_rules(N, 8001))));
        r.entry("hand: 1 rule + 1,000-entry map, one nft -f")
            .or_default()
            .push(time(|| nft(&hand_map(N, 8000))));
        r.entry("hand: change 1 of 1,000 map entries (reload batch)")
            .or_default()
            .push(time(|| nft(&hand_map(N, 8001))));
        sh(&["nft", "delete", "table", "ip", "hand"]);
    }

    // `netd apply` end to end, the binary in this namespace.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("netd.toml");
    let netd = env!("CARGO_BIN_EXE_netd");
    for round in 0..ROUNDS {
        let first = if round % 2 == 0 { 8001 } else { 8000 };
        std::fs::write(&cfg, config_text(N, first)).expect("write config");
        let state = dir.path().join("state");
        let d = time(|| {
            let out = Command::new(netd)
                .arg("--config")
                .arg(&cfg)
                .arg("--state-dir")
                .arg(&state)
                .arg("apply")
                .env("RUST_LOG", "warn")
                .output()
                .expect("netd runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        if round > 0 {
            r.entry("netd apply (binary, 1,000 forwards, 1 changed)")
                .or_default()
                .push(d);
        }
        let d = time(|| {
            let out = Command::new(netd)
                .arg("--config")
                .arg(&cfg)
                .arg("--state-dir")
                .arg(&state)
                .arg("apply")
                .env("RUST_LOG", "warn")
                .output()
                .expect("netd runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        r.entry("netd apply (binary, 1,000 forwards, no change)")
            .or_default()
            .push(d);
    }

    let med: Vec<(&str, Sample)> = r.iter().map(|(k, v)| (*k, median(v))).collect();
    let get = |k: &str| med.iter().find(|(n, _)| *n == k).map(|(_, d)| *d);
    println!(
        "netd_apply: {N} forwards, median of {ROUNDS} interleaved rounds (wall, CPU of nft/netd)"
    );
    for (name, d) in &med {
        println!("  {name:<52} {:>10} {:>10}", ms(d.wall), ms(d.cpu));
    }
    let ratio = |a: &str, b: &str, label: &str| {
        if let (Some(a), Some(b)) = (get(a), get(b)) {
            println!(
                "  {label:<52} {:>9.2}x {:>9.2}x",
                a.wall.as_secs_f64() / b.wall.as_secs_f64(),
                a.cpu.as_secs_f64() / b.cpu.as_secs_f64()
            );
        }
    };
    ratio(
        "netd: load 1,000 forwards (render + nft)",
        "hand: 1,000 dnat rules, one nft -f",
        "ratio load: netd / hand rules",
    );
    ratio(
        "netd: load 1,000 forwards (render + nft)",
        "hand: 1 rule + 1,000-entry map, one nft -f",
        "ratio load: netd / hand map",
    );
    ratio(
        "netd: change 1 of 1,000 (element changes)",
        "hand: change 1 of 1,000 map entries (reload batch)",
        "ratio change: netd elements / hand map reload",
    );
    ratio(
        "netd: change 1 of 1,000 (element changes)",
        "hand: change 1 of 1,000 rules (reload batch)",
        "ratio change: netd elements / hand rules reload",
    );

    loss_while_changing(&base, &changed);
}

/// A UDP flow through forward 1 (via the output hook: a local client to the public
/// address) while forward 0 changes 50 times as element changes; counts what arrives.
fn loss_while_changing(base: &netd::config::Config, changed: &netd::config::Config) {
    let (old, new) = (render(base), render(changed));
    nft(&old.replace_batch());
    let forth = new.delta_batch(&old).expect("same shape");
    let back = old.delta_batch(&new).expect("same shape");

    // Forward 1: 203.0.113.1:10001 -> 198.51.100.11:8000; give the bench that address.
    sh(&["ip", "addr", "add", "198.51.100.11/24", "dev", "up0p"]);
    let server = UdpSocket::bind("198.51.100.11:8000").expect("bind server");
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok(n) = server.recv(&mut buf) {
                if n > 0 {
                    received.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) && n == 0 {
                    break;
                }
            }
        })
    };
    let client = UdpSocket::bind("203.0.113.1:0").expect("bind client");
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (sent, stop) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            // Bounded: at most 200,000 packets or until told to stop.
            for _ in 0..200_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if client.send_to(b"x", "203.0.113.1:10001").is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    for i in 0..50 {
        nft(if i % 2 == 0 { &forth } else { &back });
    }
    let changes = t.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    std::thread::sleep(Duration::from_millis(600));
    let _ = counter.join();
    let (s, r) = (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    println!(
        "  loss on forward 1 while forward 0 changed 50 times in {}: sent {s}, received {r}, lost {}",
        ms(changes),
        s.saturating_sub(r)
    );
}
