//! Benchmark (issue 8): propagation of a one-line edit from a primary at "home" to a
//! secondary on the "vps" namespace (NOTIFY, then IXFR; NSD 4.6 has no IXFR out, so
//! NSD→NSD is an AXFR), dnsd→dnsd beside Knot→Knot and NSD→NSD in one run.
//!
//! Run (as root, for the namespaces): `cargo build --release -p dnsd && cargo bench -p
//! netfabric-tests --bench xfr_propagation` (`-- --edits 50 --hosts 1000 --pairs
//! dnsd,dnsd-ctl,knot,knot-ctl,nsd`; `--hosts 1000000` for a zone of a million names).
//!
//! Each edit adds one line to the zone file and raises its serial, written as git
//! writes (new file, rename); dnsd notices by itself (its watcher is part of its
//! time), Knot gets `knotc zone-reload`, NSD `nsd-control reload`.
//! The time is from the rename until the secondary answers the new serial (a thread
//! in the VPS namespace polls its SOA every millisecond); the new file is generated
//! and written under another name before. dnsd is also measured with the edit as a
//! transaction on its control socket (no watcher), the path of a tool that changes
//! records, and so is Knot (`knotc zone-begin`, `zone-set`, `zone-commit`). Medians,
//! and dnsd's ratios to the best peer pair.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::perf::median;
use netfabric_tests::xfr::{HOME, HomeVps, Peer, PeerServer, Role, TsigKey, VPS, zone_text};

const ZONE: &str = "example.net";

struct Settings {
    edits: usize,
    hosts: usize,
    pairs: Vec<String>,
}

fn settings() -> Settings {
    let mut s = Settings {
        edits: 50,
        hosts: 1000,
        pairs: vec![
            "dnsd".into(),
            "dnsd-ctl".into(),
            "knot".into(),
            "knot-ctl".into(),
            "nsd".into(),
        ],
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--edits" => s.edits = value.parse().unwrap_or(s.edits),
            "--hosts" => s.hosts = value.parse().unwrap_or(s.hosts),
            "--pairs" => s.pairs = value.split(',').map(str::to_string).collect(),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    s
}

/// The zone at edit `n`: the base zone with `n` added lines, serial 1 + n.
fn zone_at(hosts: usize, n: usize) -> String {
    let mut text = zone_text(1 + n as u32, hosts, 0);
    for e in 0..n {
        text.push_str(&format!("edit{e} A 198.51.100.{}\n", e % 250));
    }
    text
}

/// Bound on an edit's propagation, and on the first transfer (a failure guard).
const EDIT_PATIENCE: Duration = Duration::from_secs(120);
const FIRST_PATIENCE: Duration = Duration::from_secs(600);

/// Waits, inside the VPS namespace, until `server` answers `serial` for the zone;
/// the time it took from `since`, or None after `patience`.
fn wait_serial(
    net: &HomeVps,
    server: SocketAddr,
    serial: u32,
    since: Instant,
    patience: Duration,
) -> Option<f64> {
    let query = Query::new(&format!("{ZONE}."), 6).to_bytes();
    net.vps.run_in(|| {
        while since.elapsed() < patience {
            let got = udp_exchange(server, &query, Duration::from_millis(100))
                .and_then(|r| normalize(&r).ok())
                .and_then(|a| {
                    let (_, rdatas) = a.answer.iter().find(|(k, _)| k.1 == "SOA")?;
                    rdatas
                        .iter()
                        .next()?
                        .split_whitespace()
                        .nth(2)?
                        .parse::<u32>()
                        .ok()
                });
            if got == Some(serial) {
                return Some(since.elapsed().as_secs_f64() * 1e3);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    })
}

/// Now, as the logs' clock says it (seconds of the minute, UTC), for reading the
/// edits beside the daemons' logs.
fn wall_clock() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:02}.{:06}", d.as_secs() % 60, d.subsec_micros())
}

/// Writes `text` beside `path`, to be renamed onto it by [`Staged::rename`]: at a
/// million names, generating and writing the file is not part of the edit's time.
struct Staged<'p> {
    path: &'p Path,
    tmp: std::path::PathBuf,
}

impl<'p> Staged<'p> {
    fn write(path: &'p Path, text: &str) -> Self {
        let tmp = path.with_extension("tmp-bench");
        std::fs::write(&tmp, text).expect("write the edited zone");
        Self { path, tmp }
    }

    fn rename(self) {
        std::fs::rename(&self.tmp, self.path).expect("rename the edited zone");
    }
}

fn dnsd_config(key: &TsigKey, secondary: bool) -> String {
    // As the peers are set up (NSD `rrl-ratelimit: 0`, Knot without its rrl module):
    // no response rate limiting, which would limit the bench's polling of the SOA
    // (a thousand queries a second from one client).
    let keys = format!(
        "[rrl]\nenabled = false\n[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
        key.name, key.algorithm, key.secret
    );
    if secondary {
        format!(
            "{keys}[zone.\"{ZONE}\"]\nprimaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
            key.name
        )
    } else {
        format!(
            "{keys}[xfr]\nallow-transfer = [{{ from = \"198.18.0.0/24\", key = \"{k}\" }}]\n\
             notify = [{{ address = \"198.18.0.2:53\", key = \"{k}\" }}]\n",
            k = key.name
        )
    }
}

/// dnsd → dnsd: each edit through the zone file (`ctl` false) or the control socket.
fn dnsd_pair(s: &Settings, ctl: bool) -> Vec<f64> {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let filter = std::env::var("XFR_BENCH_LOGS").unwrap_or_default();
    let filter = if filter.is_empty() || filter == "1" {
        "info"
    } else {
        &filter
    };
    let primary = Dnsd::builder()
        .log_filter(filter)
        .ready_timeout(FIRST_PATIENCE)
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe(ZONE)
        .zone(ZONE, &zone_at(s.hosts, 0))
        .config(&dnsd_config(&key, false))
        .start();
    let secondary = Dnsd::builder()
        .log_filter(filter)
        .ready_timeout(FIRST_PATIENCE)
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe(ZONE)
        .config(&dnsd_config(&key, true))
        .start();
    let vps = SocketAddr::new(VPS, 53);
    assert!(
        wait_serial(&net, vps, 1, Instant::now(), FIRST_PATIENCE).is_some(),
        "{}",
        secondary.log()
    );
    let file = primary.zones_dir().join(format!("{ZONE}.zone"));
    let logs = std::env::var_os("XFR_BENCH_LOGS").is_some();
    let mut times = Vec::new();
    for n in 1..=s.edits {
        let staged = (!ctl).then(|| Staged::write(&file, &zone_at(s.hosts, n)));
        let started = Instant::now();
        if logs {
            eprintln!("edit {n} at {}", wall_clock());
        }
        let serial = if let Some(staged) = staged {
            staged.rename();
            1 + n as u32
        } else {
            let line = format!("add edit{} 300 A 198.51.100.{}", n - 1, (n - 1) % 250);
            let replies = primary.ctl(&[&format!("zone {ZONE}"), &line, "commit"]);
            // `ok SERIAL` once durable and served.
            replies
                .last()
                .and_then(|r| r.strip_prefix("ok "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{replies:?}"))
        };
        if logs {
            eprintln!("edit {n} committed at {}", wall_clock());
        }
        match wait_serial(&net, vps, serial, started, EDIT_PATIENCE) {
            Some(ms) => times.push(ms),
            None => panic!(
                "serial {serial} never reached the secondary:\n{}\n{}",
                primary.log(),
                secondary.log()
            ),
        }
    }
    if logs {
        eprintln!(
            "--- primary:\n{}\n--- secondary:\n{}",
            primary.log(),
            secondary.log()
        );
    }
    times
}

/// Knot → Knot or NSD → NSD; with `ctl`, each edit as a Knot transaction (`knotc
/// zone-begin`, `zone-set`, `zone-commit`: the serial goes up by one).
fn peer_pair(kind: Peer, s: &Settings, ctl: bool) -> Vec<f64> {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let vps = SocketAddr::new(VPS, 53);
    let zones = [(ZONE.to_string(), zone_at(s.hosts, 0))];
    let mut primary = PeerServer::start(
        kind,
        Some(net.home.clone()),
        SocketAddr::new(HOME, 53),
        &Role::Primary {
            zones: &zones,
            notify: Some(vps),
        },
        Some(&key),
    );
    drop(zones);
    // At a million names the primary answers before its zone is loaded.
    primary.wait_serial(ZONE, 1);
    let names = [ZONE.to_string()];
    let secondary = PeerServer::start(
        kind,
        Some(net.vps.clone()),
        vps,
        &Role::Secondary {
            zones: &names,
            primary: SocketAddr::new(HOME, 53),
        },
        Some(&key),
    );
    assert!(
        wait_serial(&net, vps, 1, Instant::now(), FIRST_PATIENCE).is_some(),
        "{}",
        secondary.log()
    );
    let file = primary.dir().join(format!("{ZONE}.zone"));
    let mut times = Vec::new();
    for n in 1..=s.edits {
        let staged = (!ctl).then(|| Staged::write(&file, &zone_at(s.hosts, n)));
        let started = Instant::now();
        let out = match staged {
            Some(staged) => {
                staged.rename();
                match kind {
                    Peer::Knot => primary.control(&["zone-reload", ZONE]),
                    _ => primary.control(&["reload", ZONE]),
                }
            }
            None => {
                let record = format!("edit{}", n - 1);
                let address = format!("198.51.100.{}", (n - 1) % 250);
                let mut out = primary.control(&["zone-begin", ZONE]);
                out += &primary.control(&["zone-set", ZONE, &record, "300", "A", &address]);
                out += &primary.control(&["zone-commit", ZONE]);
                out
            }
        };
        assert!(!out.to_lowercase().contains("error"), "{out}");
        match wait_serial(&net, vps, 1 + n as u32, started, EDIT_PATIENCE) {
            Some(ms) => times.push(ms),
            None => panic!(
                "serial {} never reached the secondary:\n{}\n{}",
                1 + n,
                primary.log(),
                secondary.log()
            ),
        }
    }
    times
}

fn main() {
    let s = settings();
    println!(
        "xfr propagation: {} one-line edits, a zone of {} hosts, home → vps namespaces",
        s.edits, s.hosts
    );
    let mut rows: Vec<(String, f64)> = Vec::new();
    for pair in &s.pairs {
        let times = match pair.as_str() {
            "dnsd" => dnsd_pair(&s, false),
            "dnsd-ctl" => dnsd_pair(&s, true),
            "knot" => peer_pair(Peer::Knot, &s, false),
            "knot-ctl" => peer_pair(Peer::Knot, &s, true),
            "nsd" => peer_pair(Peer::Nsd, &s, false),
            other => {
                eprintln!("unknown pair {other}");
                continue;
            }
        };
        let m = median(times.clone());
        eprintln!("  {pair}: median {m:.1} ms over {} edits", times.len());
        rows.push((pair.clone(), m));
    }
    let best_peer = rows
        .iter()
        .filter(|(p, _)| !p.starts_with("dnsd"))
        .map(|(_, m)| *m)
        .fold(f64::INFINITY, f64::min);
    println!("| pair | median edit → secondary serves (ms) | vs best peer pair |");
    println!("|---|---|---|");
    for (pair, m) in &rows {
        let ratio = if best_peer.is_finite() {
            format!("{:.2}×", m / best_peer)
        } else {
            "-".into()
        };
        println!("| {pair} | {m:.1} | {ratio} |");
    }
}
