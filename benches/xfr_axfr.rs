//! Benchmark (issue 8): AXFR of a 1,000,000-name zone from a primary at "home" to a
//! secondary on the "vps" namespace, dnsd→dnsd beside Knot→Knot and NSD→NSD in one
//! run, TSIG-signed (hmac-sha256) as the home–VPS link is.
//!
//! Run (as root, for the namespaces): `cargo build --release -p dnsd && cargo bench -p
//! netfabric-tests --bench xfr_axfr` (`-- --names 1000000 --rounds 3 --pairs
//! dnsd,knot,nsd`; `--before PATH` adds the pair `dnsd-before`, both ends run from
//! another dnsd binary, to compare two builds in one run).
//!
//! Each pair's primary serves the zone of `dnsd_qps` (target/bench-dnsd/N/, generated
//! once). Each round starts a fresh secondary with an empty state folder, which
//! transfers the zone at once (it has none): the time is from its start until it
//! answers the zone's SOA (a thread in the VPS namespace polls every millisecond), the
//! whole of "told to transfer → serves": SOA query, AXFR, building, persisting,
//! publishing. CPU is each end's user + system time over the round (the secondary's
//! from its start: its start-up is a few ms of it); memory is the secondary's peak
//! (VmHWM of its largest process; NSD's are forked, so the largest stands for it) and
//! its PSS once it serves. Medians over the rounds, and dnsd's ratios to the best peer.

#[path = "dnsd_qps/zonegen.rs"]
mod zonegen;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::perf::median;
use netfabric_tests::procstat;
use netfabric_tests::xfr::{HOME, HomeVps, Peer, PeerServer, Role, TsigKey, VPS};

struct Settings {
    names: usize,
    rounds: usize,
    pairs: Vec<String>,
    before: Option<PathBuf>,
}

fn settings() -> Settings {
    let mut s = Settings {
        names: 1_000_000,
        rounds: 3,
        pairs: vec!["dnsd".into(), "knot".into(), "nsd".into()],
        before: None,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--names" => s.names = value.parse().unwrap_or(s.names),
            "--rounds" => s.rounds = value.parse().unwrap_or(s.rounds),
            "--pairs" => s.pairs = value.split(',').map(str::to_string).collect(),
            "--before" => s.before = Some(PathBuf::from(value)),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if s.before.is_some() && !s.pairs.iter().any(|p| p == "dnsd-before") {
        s.pairs.insert(0, "dnsd-before".into());
    }
    s
}

/// One round's measures.
#[derive(Clone, Copy, Default)]
struct Sample {
    /// Start of the secondary until it serves the zone (s).
    seconds: f64,
    /// CPU of the primary over the round (s).
    primary_cpu: f64,
    /// CPU of the secondary from its start (s).
    secondary_cpu: f64,
    /// Peak RSS of the secondary's largest process (MiB).
    hwm_mib: f64,
    /// PSS of the secondary's processes once it serves (MiB).
    pss_mib: f64,
}

/// Waits, inside the VPS namespace, until `server` answers a SOA for `zone` (serial 1);
/// false after 10 minutes.
fn wait_served(net: &HomeVps, server: SocketAddr, zone: &str) -> bool {
    let query = Query::new(&format!("{zone}."), 6).to_bytes();
    let start = Instant::now();
    net.vps.run_in(|| {
        while start.elapsed() < Duration::from_secs(600) {
            let served = udp_exchange(server, &query, Duration::from_millis(100))
                .and_then(|r| normalize(&r).ok())
                .is_some_and(|a| a.rcode == 0 && a.answer.iter().any(|(k, _)| k.1 == "SOA"));
            if served {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    })
}

/// The largest VmHWM among the processes under `root`, in bytes.
fn peak_rss(root: u32) -> u64 {
    procstat::process_tree(root)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .max()
        .unwrap_or(0)
}

fn sample(
    primary_pid: u32,
    started: Instant,
    primary_cpu_before: u64,
    secondary_pid: u32,
) -> Sample {
    let seconds = started.elapsed().as_secs_f64();
    Sample {
        seconds,
        primary_cpu: (procstat::cpu_micros(primary_pid).saturating_sub(primary_cpu_before)) as f64
            / 1e6,
        secondary_cpu: procstat::cpu_micros(secondary_pid) as f64 / 1e6,
        hwm_mib: peak_rss(secondary_pid) as f64 / 1048576.0,
        pss_mib: procstat::pss_bytes(secondary_pid) as f64 / 1048576.0,
    }
}

fn dnsd_config(key: &TsigKey, secondary: bool) -> String {
    let keys = format!(
        "[rrl]\nenabled = false\n[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
        key.name, key.algorithm, key.secret
    );
    if secondary {
        format!(
            "{keys}[zone.\"{}\"]\nprimaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
            zonegen::APEX,
            key.name
        )
    } else {
        format!(
            "{keys}[xfr]\nallow-transfer = [{{ from = \"198.18.0.0/24\", key = \"{}\" }}]\n",
            key.name
        )
    }
}

/// dnsd → dnsd, from `binary` (None: this build's).
fn dnsd_pair(
    s: &Settings,
    zone: &netfabric_tests::servers::ZoneFile,
    binary: Option<&std::path::Path>,
) -> Vec<Sample> {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let builder = || match binary {
        Some(path) => Dnsd::builder().binary(path),
        None => Dnsd::builder(),
    };
    let name = if binary.is_some() {
        "dnsd-before"
    } else {
        "dnsd"
    };
    let primary = builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .ready_timeout(Duration::from_secs(600))
        .zone_file(zone)
        .config(&dnsd_config(&key, false))
        .start();
    let vps = SocketAddr::new(VPS, 53);
    let mut samples = Vec::new();
    for round in 0..s.rounds {
        let cpu_before = procstat::cpu_micros(primary.pid());
        let started = Instant::now();
        let secondary = builder()
            .in_netns(net.vps.clone())
            .listen(vps)
            .probe(zonegen::APEX)
            .ready_timeout(Duration::from_secs(600))
            .config(&dnsd_config(&key, true))
            .start();
        assert!(
            wait_served(&net, vps, zonegen::APEX),
            "round {round}: the secondary never served the zone:\n{}\n{}",
            primary.log(),
            secondary.log()
        );
        samples.push(sample(primary.pid(), started, cpu_before, secondary.pid()));
        report_round(name, round, samples.last());
        if std::env::var_os("XFR_BENCH_LOGS").is_some() {
            eprintln!(
                "--- primary:\n{}\n--- secondary:\n{}",
                primary.log(),
                secondary.log()
            );
        }
    }
    samples
}

fn peer_pair(kind: Peer, s: &Settings, zone: &netfabric_tests::servers::ZoneFile) -> Vec<Sample> {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let vps = SocketAddr::new(VPS, 53);
    let text = std::fs::read_to_string(&zone.path).expect("read the bench zone");
    let zones = [(zone.name.clone(), text)];
    let mut primary = PeerServer::start(
        kind,
        Some(net.home.clone()),
        SocketAddr::new(HOME, 53),
        &Role::Primary {
            zones: &zones,
            notify: None,
        },
        Some(&key),
    );
    drop(zones);
    primary.wait_serial(&zone.name, 1);
    let names = [zone.name.clone()];
    let mut samples = Vec::new();
    for round in 0..s.rounds {
        let cpu_before = procstat::cpu_micros(primary.pid());
        let started = Instant::now();
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
            wait_served(&net, vps, &zone.name),
            "round {round}: the secondary never served the zone:\n{}\n{}",
            primary.log(),
            secondary.log()
        );
        samples.push(sample(primary.pid(), started, cpu_before, secondary.pid()));
        report_round(kind.name(), round, samples.last());
        secondary.stop();
    }
    samples
}

fn report_round(pair: &str, round: usize, s: Option<&Sample>) {
    if let Some(s) = s {
        eprintln!(
            "  {pair} round {round}: {:.2} s, CPU primary {:.2} s secondary {:.2} s, \
             secondary peak RSS {:.0} MiB, PSS {:.0} MiB",
            s.seconds, s.primary_cpu, s.secondary_cpu, s.hwm_mib, s.pss_mib
        );
    }
}

fn target_dir() -> PathBuf {
    // target/release/deps/xfr_axfr-HASH -> target
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() {
    let s = settings();
    let dir = target_dir().join("bench-dnsd").join(s.names.to_string());
    let (zone, _) = zonegen::generate(&dir, s.names);
    println!(
        "xfr AXFR: a zone of {} names ({}), {} rounds, home → vps namespaces, TSIG hmac-sha256",
        s.names,
        zone.path.display(),
        s.rounds
    );
    let mut rows: Vec<(String, Sample)> = Vec::new();
    for pair in &s.pairs {
        let samples = match pair.as_str() {
            "dnsd" => dnsd_pair(&s, &zone, None),
            "dnsd-before" => match &s.before {
                Some(path) => dnsd_pair(&s, &zone, Some(path)),
                None => {
                    eprintln!("dnsd-before needs --before PATH");
                    continue;
                }
            },
            "knot" => peer_pair(Peer::Knot, &s, &zone),
            "nsd" => peer_pair(Peer::Nsd, &s, &zone),
            other => {
                eprintln!("unknown pair {other}");
                continue;
            }
        };
        let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
        rows.push((
            pair.clone(),
            Sample {
                seconds: m(|s| s.seconds),
                primary_cpu: m(|s| s.primary_cpu),
                secondary_cpu: m(|s| s.secondary_cpu),
                hwm_mib: m(|s| s.hwm_mib),
                pss_mib: m(|s| s.pss_mib),
            },
        ));
    }
    let best = |f: fn(&Sample) -> f64| {
        rows.iter()
            .filter(|(p, _)| !p.starts_with("dnsd"))
            .map(|(_, s)| f(s))
            .fold(f64::INFINITY, f64::min)
    };
    let best_time = best(|s| s.seconds);
    let best_hwm = best(|s| s.hwm_mib);
    let ratio = |v: f64, b: f64| {
        if b.is_finite() {
            format!("{:.2}×", v / b)
        } else {
            "-".into()
        }
    };
    println!(
        "| pair | start → serves (s) | vs best peer | CPU primary (s) | CPU secondary (s) | \
         secondary peak RSS (MiB) | vs lowest peer | PSS serving (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (pair, s) in &rows {
        println!(
            "| {pair}→{pair} | {:.2} | {} | {:.2} | {:.2} | {:.0} | {} | {:.0} |",
            s.seconds,
            ratio(s.seconds, best_time),
            s.primary_cpu,
            s.secondary_cpu,
            s.hwm_mib,
            ratio(s.hwm_mib, best_hwm),
            s.pss_mib
        );
    }
}
