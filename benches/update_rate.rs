//! Benchmark (issue 10, speed): RFC 2136 single-record updates into a zone of
//! `--names` names (10,000 by default; 1,000,000 with `-- --names 1000000`), unsigned
//! or signed (`--signed`: dnsd's `[dnssec] sign = true`, Knot's `dnssec-signing: on`
//! with its default policy, BIND's `dnssec-policy default`, each server's own keys),
//! dnsd beside Knot and BIND in the same run, as ratios (shared/BENCHMARKING.md).
//! `--no-bind` leaves BIND out (it signs a large zone in the background, for minutes,
//! after it serves it unsigned).
//!
//! Run: `cargo build --profile ci -p dnsd && cargo bench --profile ci -p netfabric-tests
//! --bench update_rate` (`-- --updates N --rounds R --names N [--signed] [--no-bind]`).
//! Each server is measured once it serves the zone (signed: its SOA with an RRSIG).
//!
//! The client (here, over UDP on loopback) sends UPDATEs that each add one A record
//! at a new name, unsigned (each server allows unsigned updates from 127.0.0.0/8):
//! - **sequential**: one outstanding: updates/s = 1 / (latency to an acknowledged,
//!   journaled change);
//! - **window 32**: 32 outstanding (many clients at once: a DHCP server, a burst of
//!   containers): updates/s sustained.
//!
//! Each server's CPU time per update (utime+stime of its processes) is reported too.
//! Servers run one after another, rounds interleaved; medians.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, rdata::A};
use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::perf::median;
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::servers::free_port;

fn zone_text(names: usize) -> String {
    let mut z = String::from(
        "$ORIGIN bench.test.\n$TTL 300\n\
         @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
         @ NS ns1.example.net.\n",
    );
    for i in 0..names {
        z.push_str(&format!(
            "n{i} A 198.18.{}.{}\n",
            (i / 250) % 250,
            i % 250 + 1
        ));
    }
    z
}

/// An UPDATE adding `hN.bench.test. A`.
fn update(id: u16, n: u32) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Update);
    let zone = Name::from_ascii("bench.test.").unwrap_or_default();
    let mut q = Query::query(zone, RecordType::SOA);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    let owner = Name::from_ascii(format!("h{n}.bench.test.")).unwrap_or_default();
    let a = A::new(198, 51, (n / 250 % 250) as u8, (n % 250) as u8 + 1);
    m.add_authority(Record::from_rdata(owner, 300, RData::A(a)));
    m.to_vec().unwrap_or_default()
}

/// Sends `count` updates from `start` with `window` outstanding; updates/s and how
/// many were answered NOERROR.
fn run(server: SocketAddr, start: u32, count: u32, window: u32) -> (f64, u32) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.connect(server).expect("connect");
    let began = Instant::now();
    let (mut sent, mut done, mut ok) = (0u32, 0u32, 0u32);
    let mut buf = [0u8; 512];
    while done < count {
        while sent < count && sent - done < window {
            let n = start + sent;
            let _ = socket.send(&update((n % 65536) as u16, n));
            sent += 1;
        }
        match socket.recv(&mut buf) {
            Ok(len) if len >= 4 => {
                done += 1;
                if buf[3] & 0xf == 0 {
                    ok += 1;
                }
            }
            Ok(_) => {}
            Err(_) => {
                // A lost datagram: count it as done (not ok) and go on.
                done += 1;
            }
        }
    }
    (f64::from(count) / began.elapsed().as_secs_f64(), ok)
}

struct Peer {
    addr: SocketAddr,
    guard: ProcessGuard,
    _dir: tempfile::TempDir,
}

fn knot(zone: &str, signed: bool) -> Peer {
    let dir = tempfile::Builder::new()
        .prefix("nf-knot-ub-")
        .tempdir()
        .expect("dir");
    let d = dir.path().display().to_string();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    std::fs::write(dir.path().join("bench.test.zone"), zone).expect("zone");
    std::fs::create_dir(dir.path().join("db")).expect("db");
    let conf = format!(
        "server:\n  listen: {}@{}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: warning\n\
         acl:\n  - id: upd\n    address: 127.0.0.0/8\n    action: update\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    semantic-checks: off\n\
         zone:\n  - domain: bench.test\n    file: bench.test.zone\n    acl: upd\n{}",
        addr.ip(),
        addr.port(),
        // Signing 1M names at load is one changeset larger than Knot's default
        // journal room (100 MiB): "zone event 'load' failed (not enough space
        // provided)", the zone SERVFAIL.
        if signed {
            "    dnssec-signing: on\n    journal-max-usage: 8G\n"
        } else {
            ""
        }
    );
    std::fs::write(dir.path().join("knot.conf"), conf).expect("conf");
    let mut cmd = Command::new("/usr/sbin/knotd");
    cmd.args(["-c", &format!("{d}/knot.conf")]);
    let guard = ProcessGuard::spawn("knotd", &mut cmd);
    wait(addr, signed);
    Peer {
        addr,
        guard,
        _dir: dir,
    }
}

fn bind(zone: &str, signed: bool) -> Peer {
    let dir = tempfile::Builder::new()
        .prefix("nf-bind-ub-")
        .tempdir()
        .expect("dir");
    let d = dir.path().display().to_string();
    let port = free_port();
    std::fs::write(dir.path().join("bench.test.zone"), zone).expect("zone");
    let conf = format!(
        "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port {port} {{ 127.0.0.1; }};\n\
         listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; }};\ncontrols {{ }};\n\
         zone \"bench.test\" {{ type primary; file \"{d}/bench.test.zone\"; allow-update {{ 127.0.0.0/8; }}; {} }};\n",
        if signed {
            format!("dnssec-policy default; key-directory \"{d}\";")
        } else {
            String::new()
        }
    );
    std::fs::write(dir.path().join("named.conf"), conf).expect("conf");
    let mut cmd = Command::new("/usr/sbin/named");
    cmd.args(["-g", "-c", &format!("{d}/named.conf")])
        .stderr(std::process::Stdio::null());
    let guard = ProcessGuard::spawn("named", &mut cmd);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait(addr, signed);
    Peer {
        addr,
        guard,
        _dir: dir,
    }
}

/// Waits until `addr` serves the zone (signed: its SOA with an RRSIG), for at most
/// 30 minutes (BIND signs a 1M-name zone slowly).
fn wait(addr: SocketAddr, signed: bool) {
    let end = Instant::now() + Duration::from_secs(1800);
    let ready = || {
        if signed {
            signed_soa(addr)
        } else {
            !short(addr, "bench.test.", "SOA").is_empty()
        }
    };
    while !ready() {
        assert!(Instant::now() < end, "{addr} does not answer");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `addr` answers the zone's SOA with an RRSIG.
fn signed_soa(addr: SocketAddr) -> bool {
    let out = Command::new("dig")
        .args([
            &format!("@{}", addr.ip()),
            "-p",
            &addr.port().to_string(),
            "+dnssec",
            "+norec",
            "+time=2",
            "+tries=2",
            "bench.test.",
            "SOA",
        ])
        .output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("\tRRSIG\tSOA "))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u32| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let updates = arg("--updates", 1000);
    let rounds = arg("--rounds", 3);
    let names = arg("--names", 10_000);
    let signed = args.iter().any(|a| a == "--signed");
    let with_bind = !args.iter().any(|a| a == "--no-bind");
    let zone = zone_text(names as usize);
    let state = tempfile::tempdir().expect("state");
    let began = Instant::now();
    let dnsd = Dnsd::builder()
        .zone("bench.test", &zone)
        .config(&format!(
            "state-dir = \"{}\"\n[update]\nallow-unsigned = [\"127.0.0.0/8\"]\n{}",
            state.path().display(),
            if signed {
                "[dnssec]\nsign = true\n"
            } else {
                ""
            }
        ))
        .ready_timeout(Duration::from_secs(1800))
        .start();
    wait(dnsd.addr, signed);
    eprintln!(
        "dnsd serves the zone after {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let began = Instant::now();
    let knot = knot(&zone, signed);
    eprintln!(
        "knot serves the zone after {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let began = Instant::now();
    let bind = with_bind.then(|| bind(&zone, signed));
    if with_bind {
        eprintln!(
            "bind serves the zone after {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }
    let mut servers: Vec<(&str, SocketAddr, u32)> = vec![
        ("dnsd", dnsd.addr, dnsd.pid()),
        ("knot", knot.addr, knot.guard.pid()),
    ];
    if let Some(bind) = &bind {
        servers.push(("bind", bind.addr, bind.guard.pid()));
    }
    // Per server, per round: (sequential/s, window32/s, CPU µs per update).
    let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); servers.len()];
    let mut next = 0u32;
    // Per server, a name its updates added.
    let mut added = vec![0u32; servers.len()];
    for _ in 0..rounds {
        for (i, (_, addr, pid)) in servers.iter().enumerate() {
            added[i] = next;
            let cpu0 = netfabric_tests::procstat::cpu_micros(*pid);
            let (seq, ok1) = run(*addr, next, updates / 4, 1);
            next += updates;
            let (win, ok2) = run(*addr, next, updates, 32);
            next += updates;
            let cpu = netfabric_tests::procstat::cpu_micros(*pid) - cpu0;
            let per = cpu as f64 / f64::from((ok1 + ok2).max(1));
            assert!(ok1 + ok2 > 0, "no update acknowledged");
            results[i].push((seq, win, per));
        }
    }
    if signed {
        // The names the updates added are served signed.
        for ((name, addr, _), n) in servers.iter().zip(&added) {
            let out = Command::new("dig")
                .args([&format!("@{}", addr.ip()), "-p", &addr.port().to_string()])
                .args(["+dnssec", "+norec", &format!("h{n}.bench.test."), "A"])
                .output()
                .expect("dig");
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("\tRRSIG\tA "),
                "{name}: an updated name is not signed"
            );
        }
    }
    println!(
        "RFC 2136 updates into a {names}-name zone, {}, {rounds} rounds, medians:",
        if signed { "signed" } else { "unsigned" }
    );
    println!(
        "{:6} {:>14} {:>14} {:>16}",
        "server", "sequential/s", "window32/s", "CPU µs/update"
    );
    let mut table = Vec::new();
    for (i, (name, _, _)) in servers.iter().enumerate() {
        let seq = median(results[i].iter().map(|r| r.0).collect());
        let win = median(results[i].iter().map(|r| r.1).collect());
        let cpu = median(results[i].iter().map(|r| r.2).collect());
        println!("{name:6} {seq:>14.0} {win:>14.0} {cpu:>16.1}");
        table.push((seq, win));
    }
    let best_seq = table[1..].iter().map(|t| t.0).fold(0.0, f64::max);
    let best_win = table[1..].iter().map(|t| t.1).fold(0.0, f64::max);
    println!(
        "dnsd / best peer: sequential {:.2}x, window32 {:.2}x",
        table[0].0 / best_seq,
        table[0].1 / best_win
    );
}
