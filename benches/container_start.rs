//! Benchmark (issue 10, speed): how soon a container's name answers after `docker
//! run`, from dnsd (following the engine over its API) beside the engine's own DNS,
//! in the same run, as ratios (shared/BENCHMARKING.md): Docker's embedded DNS
//! (127.0.0.11 inside a container of the same user network), then Podman's
//! aardvark-dns (podman 4.3 with Debian's netavark and aardvark-dns: on the network's
//! gateway, `NAME.dns.podman`); then a burst of Docker containers started at once:
//! how many zone versions (serials) dnsd made, and when all names answered on each
//! side.
//!
//! Run (as root: the engines in namespaces, as the tests run them):
//! `cargo build --profile ci -p dnsd && cargo bench --profile ci -p netfabric-tests
//! --bench container_start` (`-- --starts N --burst M --no-podman --baseline PATH`;
//! defaults 100 and 200; `--baseline`: another dnsd binary, an earlier build, follows
//! the same engines beside it and is polled at each start too, as "dnsd-base"). Podman 4.3 keeps netavark's IPAM and aardvark-dns's files in
//! /run/containers/networks whatever its run root: one such Podman at a time.
//!
//! Every side is asked by the same client code, polling each 1 ms (a query, its
//! answer or 2 ms): dnsd on loopback, the engine's DNS from a thread that entered a
//! prober container's network namespace. Latency is from just before the `docker
//! run` CLI starts to the first positive answer; the CLI's own return is shown
//! beside, for scale, and the paired difference (dnsd − the engine's DNS, start by
//! start). Each engine's resolver forwards names it does not know: the engines'
//! namespaces have no route out (Docker's prober is given 198.51.100.53 as its
//! upstream), so nothing leaves them.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::engines::{Dockerd, Engine, IMAGE, Podman, containers_config, wait_engine_up};

const ZONE: &str = "$ORIGIN svc.test.\n$TTL 30\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";

/// An A query for `name` with `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// Polls `server` for `name` until a positive answer (or `limit`); when it came.
/// Each query gets a new ID (across calls), and an answer counts only with its ID
/// and its question: a late answer to an earlier query is not taken for this one.
fn poll(
    socket: &UdpSocket,
    server: SocketAddr,
    name: &str,
    limit: Duration,
    id: &mut u16,
) -> Option<Instant> {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 1500];
    while Instant::now() < end {
        *id = id.wrapping_add(1);
        let q = query(*id, name);
        let _ = socket.send_to(&q, server);
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_millis(2) {
            match socket.recv(&mut buf) {
                Ok(n)
                    if n >= q.len()
                        && buf[..2] == q[..2]
                        && buf[12..q.len()].eq_ignore_ascii_case(&q[12..]) =>
                {
                    let (rcode, answers) = (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]]));
                    if rcode == 0 && answers > 0 {
                        return Some(Instant::now());
                    }
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// A poller on its own thread (in `netns`, a /proc/PID/ns/net path, when given):
/// send it names, it answers with when each answered.
fn poller(server: SocketAddr, netns: Option<String>) -> Poller {
    let (names_tx, names_rx) = mpsc::channel::<Vec<String>>();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Some(path) = netns {
            let file = std::fs::File::open(&path).expect("netns");
            // SAFETY: setns(2) on a namespace fd we hold open; it changes this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        }
        let socket = UdpSocket::bind(if server.ip().is_loopback() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        })
        .expect("client socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let mut id = 0u16;
        for names in names_rx {
            // Every name polled in turn: each answered is checked off.
            let mut when: Vec<Option<Instant>> = vec![None; names.len()];
            let end = Instant::now() + Duration::from_secs(120);
            while when.iter().any(Option::is_none) && Instant::now() < end {
                for (i, name) in names.iter().enumerate() {
                    if when[i].is_none() {
                        when[i] = poll(&socket, server, name, Duration::from_millis(1), &mut id);
                    }
                }
            }
            if done_tx.send(when).is_err() {
                return;
            }
        }
    });
    (names_tx, done_rx)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn docker_run(socket: &std::path::Path, network: &str, name: &str) -> bool {
    Command::new("/usr/bin/docker")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .args(["run", "-d", "--stop-timeout", "1", "--name", name])
        .args(["--network", network, IMAGE, "/bin/busybox", "sleep", "3600"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// When container `name` started by the engine's own account (`.State.StartedAt`,
/// RFC 3339 with nanoseconds), in Unix seconds; read with date(1), which parses it.
fn started_at(engine: &dyn Engine, name: &str) -> Option<f64> {
    let stamp = engine.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", name]);
    let out = Command::new("date")
        .args(["-d", &stamp, "+%s.%N"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A poller's channels: names to poll, when each answered.
type Poller = (
    mpsc::Sender<Vec<String>>,
    mpsc::Receiver<Vec<Option<Instant>>>,
);

/// The engine side of one comparison: its socket, the network the containers join,
/// the prefix of their names, and the poller of its own DNS with the names it asks.
struct Side<'a> {
    engine: &'a dyn Engine,
    network: &'a str,
    prefix: &'a str,
    peer: &'a Poller,
    /// The name the peer is asked for a container (`s3`, `p3.dns.podman`).
    peer_name: &'a dyn Fn(&str) -> String,
}

/// What the starts of one side measured, each in ms after its `docker run` began.
#[derive(Default)]
struct Starts {
    /// When dnsd answered the name.
    dnsd: Vec<f64>,
    /// When the baseline dnsd answered it (empty without `--baseline`).
    base: Vec<f64>,
    /// When the engine's own DNS answered it.
    engine: Vec<f64>,
    /// When `docker run` returned.
    cli: Vec<f64>,
    /// When the container started, by the engine's account (`.State.StartedAt`).
    started: Vec<f64>,
    /// Starts whose name did not answer on both sides within 120 s.
    missed: usize,
}

/// `starts` containers started one after the other on `side`: when dnsd and the
/// engine's own DNS answered each, when `docker run` returned and when the engine
/// says the container started (ms after `docker run` began).
fn sequential(
    side: &Side,
    dnsd: &Poller,
    base: Option<&Poller>,
    starts: usize,
    trace: bool,
) -> Starts {
    let mut out = Starts::default();
    for i in 0..starts {
        let name = format!("{}{i}", side.prefix);
        for poller in std::iter::once(dnsd).chain(base) {
            poller
                .0
                .send(vec![format!("{name}.svc.test.")])
                .expect("poller");
        }
        side.peer
            .0
            .send(vec![(side.peer_name)(&name)])
            .expect("poller");
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let t0 = Instant::now();
        assert!(
            docker_run(&side.engine.socket(), side.network, &name),
            "docker run {name}: {}",
            side.engine.log()
        );
        let cli = ms(t0.elapsed());
        out.cli.push(cli);
        let started = started_at(side.engine, &name).map(|s| (s - wall) * 1000.0);
        let b = base.map(|b| b.1.recv().ok().and_then(|b| b[0]));
        match (dnsd.1.recv().ok(), side.peer.1.recv().ok(), started) {
            (Some(d), Some(e), Some(started)) if b != Some(None) => match (d[0], e[0]) {
                (Some(d), Some(e)) => {
                    out.dnsd.push(ms(d - t0));
                    if let Some(Some(b)) = b {
                        out.base.push(ms(b - t0));
                    }
                    out.engine.push(ms(e - t0));
                    out.started.push(started);
                    if trace {
                        println!(
                            "trace {name} at {wall:.6}: cli {cli:.1} ms, started {started:.1} ms, dnsd {:.1} ms, engine's DNS {:.1} ms{}",
                            ms(d - t0),
                            ms(e - t0),
                            b.flatten().map_or(String::new(), |b| format!(
                                ", dnsd-base {:.1} ms",
                                ms(b - t0)
                            ))
                        );
                    }
                }
                _ => out.missed += 1,
            },
            _ => out.missed += 1,
        }
    }
    out
}

/// Prints one comparison: each side's percentiles, their ratios, the paired
/// difference (dnsd − the engine's DNS, start by start, which the engine's own
/// variation from start to start leaves out), and each side's answer measured from
/// the container's start (negative: the name answered before the container ran).
fn report(what: &str, peer: &str, starts: usize, result: Starts) {
    let Starts {
        dnsd: mut d_ms,
        base: mut b_ms,
        engine: mut e_ms,
        cli: mut cli_ms,
        started: mut started_ms,
        missed,
    } = result;
    let paired =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(a, b)| a - b).collect() };
    let mut diff = paired(&d_ms, &e_ms);
    let mut d_started = paired(&d_ms, &started_ms);
    let mut e_started = paired(&e_ms, &started_ms);
    let mut base_diff = paired(&b_ms, &e_ms);
    let mut d_base = paired(&d_ms, &b_ms);
    let mut b_started = paired(&b_ms, &started_ms);
    for v in [
        &mut b_ms,
        &mut base_diff,
        &mut d_base,
        &mut b_started,
        &mut d_ms,
        &mut e_ms,
        &mut cli_ms,
        &mut started_ms,
        &mut diff,
        &mut d_started,
        &mut e_started,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{what}: container start -> name answered, {starts} starts ({missed} not answered in 120 s):"
    );
    println!("  side                 median ms   p90 ms   p99 ms");
    let mut rows = vec![
        ("dnsd", &d_ms),
        (peer, &e_ms),
        ("docker run returns", &cli_ms),
        ("container started", &started_ms),
        ("dnsd - peer, paired", &diff),
        ("dnsd - started", &d_started),
        ("peer - started", &e_started),
    ];
    if !b_ms.is_empty() {
        rows.extend([
            ("dnsd-base", &b_ms),
            ("dnsd-base - peer", &base_diff),
            ("dnsd-base - started", &b_started),
            ("dnsd - dnsd-base", &d_base),
        ]);
    }
    for (side, v) in rows {
        println!(
            "  {side:<20} {:>9.1} {:>8.1} {:>8.1}",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99)
        );
    }
    println!(
        "  ratio dnsd / {peer}: median {:.2}, p99 {:.2}",
        percentile(&d_ms, 0.5) / percentile(&e_ms, 0.5),
        percentile(&d_ms, 0.99) / percentile(&e_ms, 0.99)
    );
    if !b_ms.is_empty() {
        println!(
            "  ratio dnsd-base / {peer}: median {:.2}, p99 {:.2}",
            percentile(&b_ms, 0.5) / percentile(&e_ms, 0.5),
            percentile(&b_ms, 0.99) / percentile(&e_ms, 0.99)
        );
    }
}

/// A prober container on `network` of `engine`, and a poller of `server` from its
/// network namespace, checked to answer the prober's own name (`name`).
fn prober(engine: &dyn Engine, network: &str, server: SocketAddr, name: &str) -> Poller {
    engine.run_container(&[
        "--name",
        "prober",
        "--network",
        network,
        "--dns",
        "198.51.100.53",
    ]);
    let pid = engine.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "prober"]);
    let poller = poller(server, Some(format!("/proc/{pid}/ns/net")));
    poller.0.send(vec![name.into()]).expect("poller");
    assert!(
        poller.1.recv().expect("poller")[0].is_some(),
        "{server} does not answer {name} in the prober: {}",
        engine.log()
    );
    poller
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (starts, burst) = (arg("--starts", 100), arg("--burst", 200));
    // `--trace`: each start's wall-clock time (Unix seconds) and its offsets, to be
    // laid beside dnsd's log (RUST_LOG=dnsd::sources::containers=debug).
    let trace = args.iter().any(|a| a == "--trace");
    let with_podman = !args.iter().any(|a| a == "--no-podman");
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);

    let docker = Dockerd::start();
    docker.docker_ok(&["network", "create", "--subnet", "198.18.0.0/22", "benchnet"]);
    let podman = with_podman.then(|| {
        let podman = Podman::start_netavark();
        podman.docker_ok(&["network", "create", "--subnet", "198.18.4.0/22", "pbench"]);
        podman
    });
    let state = tempfile::tempdir().expect("state dir");
    let mut engines = vec![("docker", docker.socket())];
    let mut networks = vec![("name", "benchnet", "svc.test")];
    if let Some(podman) = &podman {
        engines.push(("podman", podman.socket()));
        networks.push(("name", "pbench", "svc.test"));
    }
    let engines: Vec<(&str, &std::path::Path)> =
        engines.iter().map(|(n, s)| (*n, s.as_path())).collect();
    let config = containers_config(state.path(), "", &engines, &networks);
    let launch = |config: &str, binary: Option<&std::path::Path>| {
        let mut builder = Dnsd::builder()
            .log_filter(if trace {
                "info,dnsd::sources::containers=debug"
            } else {
                "info"
            })
            .zone("svc.test", ZONE)
            .metrics()
            .config(config);
        if let Some(binary) = binary {
            builder = builder.binary(binary);
        }
        let mut dnsd = builder.start();
        wait_engine_up(&mut dnsd, "docker");
        if podman.is_some() {
            wait_engine_up(&mut dnsd, "podman");
        }
        dnsd
    };
    let mut dnsd = launch(&config, None);
    let base_state = tempfile::tempdir().expect("state dir");
    let base = baseline.as_deref().map(|binary| {
        let config = containers_config(base_state.path(), "", &engines, &networks);
        launch(&config, Some(binary))
    });
    let embedded = prober(
        &docker,
        "benchnet",
        SocketAddr::from(([127, 0, 0, 11], 53)),
        "prober",
    );
    let to_dnsd = poller(dnsd.addr, None);
    to_dnsd
        .0
        .send(vec!["prober.svc.test.".into()])
        .expect("poller");
    assert!(to_dnsd.1.recv().expect("poller")[0].is_some());
    let to_base = base.as_ref().map(|base| {
        let poller = poller(base.addr, None);
        poller
            .0
            .send(vec!["prober.svc.test.".into()])
            .expect("poller");
        assert!(poller.1.recv().expect("poller")[0].is_some());
        poller
    });

    // Sequential starts, Docker beside its embedded DNS.
    let docker_side = Side {
        engine: &docker,
        network: "benchnet",
        prefix: "s",
        peer: &embedded,
        peer_name: &|n: &str| n.to_string(),
    };
    let result = sequential(&docker_side, &to_dnsd, to_base.as_ref(), starts, trace);
    report("docker", "docker embedded DNS", starts, result);

    // Podman (netavark) beside aardvark-dns, on the network's gateway.
    if let Some(podman) = &podman {
        let aardvark = prober(
            podman,
            "pbench",
            SocketAddr::from(([198, 18, 4, 1], 53)),
            "prober.dns.podman",
        );
        let podman_side = Side {
            engine: podman,
            network: "pbench",
            prefix: "p",
            peer: &aardvark,
            peer_name: &|n: &str| format!("{n}.dns.podman"),
        };
        let result = sequential(&podman_side, &to_dnsd, to_base.as_ref(), starts, trace);
        report("podman", "aardvark-dns", starts, result);
    }

    // A burst: `burst` containers started at once by 8 CLI workers.
    let serial = |dnsd: &Dnsd| {
        short(dnsd.addr, "svc.test.", "SOA")
            .first()
            .and_then(|s| {
                s.split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let changes = |dnsd: &Dnsd| {
        dnsd.metric("dnsd_zone_changes_total{zone=\"svc.test.\"}")
            .unwrap_or(0)
    };
    let (serial0, changes0) = (serial(&dnsd), changes(&dnsd));
    let base_changes0 = base.as_ref().map_or(0, changes);
    let names: Vec<String> = (0..burst).map(|i| format!("b{i}")).collect();
    to_dnsd
        .0
        .send(names.iter().map(|n| format!("{n}.svc.test.")).collect())
        .expect("poller");
    embedded.0.send(names.clone()).expect("poller");
    let t0 = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let socket = docker.socket();
            let names: Vec<String> = names.iter().skip(w).step_by(8).cloned().collect();
            std::thread::spawn(move || names.iter().all(|n| docker_run(&socket, "benchnet", n)))
        })
        .collect();
    let all_run = workers.into_iter().all(|w| w.join().unwrap_or(false));
    let cli = t0.elapsed();
    assert!(all_run, "a docker run of the burst failed");
    let last = |when: Vec<Option<Instant>>| {
        let answered = when.iter().flatten().count();
        (answered, when.into_iter().flatten().max().map(|t| t - t0))
    };
    let (d_answered, d_all) = last(to_dnsd.1.recv().expect("poller"));
    let (e_answered, e_all) = last(embedded.1.recv().expect("poller"));
    let (serial1, changes1) = (serial(&dnsd), changes(&dnsd));
    println!("burst of {burst} containers (8 docker CLI workers):");
    println!("  every docker run returned after {:.0} ms", ms(cli));
    let show = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.0} ms", ms(d)));
    println!(
        "  all answered: dnsd {} ({d_answered}/{burst}), docker embedded DNS {} ({e_answered}/{burst})",
        show(d_all),
        show(e_all)
    );
    if let (Some(d), Some(e)) = (d_all, e_all) {
        println!("  ratio dnsd / embedded: {:.2}", ms(d) / ms(e));
    }
    println!(
        "  dnsd: {} zone versions for {burst} containers (serial {serial0} -> {serial1})",
        changes1 - changes0
    );
    if let Some(base) = &base {
        println!(
            "  dnsd-base: {} zone versions for {burst} containers",
            changes(base) - base_changes0
        );
    }
    if trace {
        std::fs::write("/tmp/container_start.dnsd.log", dnsd.log()).expect("write the log");
        println!("dnsd's log: /tmp/container_start.dnsd.log");
        if let Some(base) = &base {
            std::fs::write("/tmp/container_start.dnsd-base.log", base.log())
                .expect("write the log");
            println!("dnsd-base's log: /tmp/container_start.dnsd-base.log");
        }
    }
    assert!(dnsd.is_running());
}
