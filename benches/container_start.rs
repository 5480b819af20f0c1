//! Benchmark (issue 10, speed): how soon a container's name answers after `docker
//! run`, from dnsd (following the engine over its API) beside Docker's embedded DNS
//! (127.0.0.11 inside a container of the same user network), in the same run, as
//! ratios (shared/BENCHMARKING.md); then a burst of containers started at once: how
//! many zone versions (serials) dnsd made, and when all names answered on each side.
//!
//! Run (as root: dockerd in a namespace, as the tests run it):
//! `cargo build --profile ci -p dnsd && cargo bench --profile ci -p netfabric-tests
//! --bench container_start` (`-- --starts N --burst M`; defaults 100 and 200).
//!
//! Both sides are asked by the same client code, polling each 1 ms (a query, its
//! answer or 2 ms): dnsd on loopback, Docker's embedded DNS from a thread that
//! entered a prober container's network namespace. Latency is from just before the
//! `docker run` CLI starts to the first positive answer; the CLI's own return is
//! shown beside, for scale. Docker's resolver forwards names it does not know: the
//! prober's upstream is 198.51.100.53, unreachable from dockerd's namespace, so
//! nothing leaves it.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::engines::{Dockerd, Engine, IMAGE};

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
fn poller(
    server: SocketAddr,
    netns: Option<String>,
) -> (
    mpsc::Sender<Vec<String>>,
    mpsc::Receiver<Vec<Option<Instant>>>,
) {
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

fn docker_run(socket: &std::path::Path, name: &str) -> bool {
    Command::new("/usr/bin/docker")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .args(["run", "-d", "--stop-timeout", "1", "--name", name])
        .args([
            "--network",
            "benchnet",
            IMAGE,
            "/bin/busybox",
            "sleep",
            "3600",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
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

    let docker = Dockerd::start();
    docker.docker_ok(&["network", "create", "--subnet", "198.18.0.0/22", "benchnet"]);
    let state = tempfile::tempdir().expect("state dir");
    let mut dnsd = Dnsd::builder()
        .log_filter(if trace {
            "info,dnsd::sources::containers=debug"
        } else {
            "info"
        })
        .zone("svc.test", ZONE)
        .metrics()
        .config(&format!(
            "state-dir = \"{}\"\n[containers]\n\
             [[containers.engine]]\nname = \"docker\"\nsocket = \"{}\"\n\
             [[containers.network]]\nname = \"benchnet\"\nzone = \"svc.test\"\n",
            state.path().display(),
            docker.socket().display()
        ))
        .start();
    dnsd.wait_for("engine up", |d| {
        d.metric("dnsd_containers_engine_up{engine=\"docker\"}") == Some(1)
    });
    docker.run_container(&[
        "--name",
        "prober",
        "--network",
        "benchnet",
        "--dns",
        "198.51.100.53",
    ]);
    let pid = docker.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "prober"]);
    let embedded = SocketAddr::from(([127, 0, 0, 11], 53));
    let (to_dnsd, from_dnsd) = poller(dnsd.addr, None);
    let (to_docker, from_docker) = poller(embedded, Some(format!("/proc/{pid}/ns/net")));
    // Both answer the prober's own name before timing starts.
    to_docker.send(vec!["prober".into()]).expect("poller");
    assert!(
        from_docker.recv().expect("poller")[0].is_some(),
        "Docker's embedded DNS does not answer in the prober: {}",
        docker.log()
    );
    to_dnsd
        .send(vec!["prober.svc.test.".into()])
        .expect("poller");
    assert!(from_dnsd.recv().expect("poller")[0].is_some());

    // Sequential starts.
    let (mut d_ms, mut e_ms, mut cli_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for i in 0..starts {
        let name = format!("s{i}");
        to_dnsd
            .send(vec![format!("{name}.svc.test.")])
            .expect("poller");
        to_docker.send(vec![name.clone()]).expect("poller");
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let t0 = Instant::now();
        assert!(docker_run(&docker.socket(), &name), "docker run {name}");
        let cli = ms(t0.elapsed());
        cli_ms.push(cli);
        match (from_dnsd.recv().ok(), from_docker.recv().ok()) {
            (Some(d), Some(e)) => match (d[0], e[0]) {
                (Some(d), Some(e)) => {
                    d_ms.push(ms(d - t0));
                    e_ms.push(ms(e - t0));
                    if trace {
                        println!(
                            "trace {name} at {wall:.6}: cli {cli:.1} ms, dnsd {:.1} ms, embedded {:.1} ms",
                            ms(d - t0),
                            ms(e - t0)
                        );
                    }
                }
                _ => missed += 1,
            },
            _ => missed += 1,
        }
    }
    for v in [&mut d_ms, &mut e_ms, &mut cli_ms] {
        v.sort_by(f64::total_cmp);
    }
    println!("container start -> name answered, {starts} starts ({missed} not answered in 120 s):");
    println!("  side                 median ms   p90 ms   p99 ms");
    for (side, v) in [
        ("dnsd", &d_ms),
        ("docker embedded DNS", &e_ms),
        ("docker run returns", &cli_ms),
    ] {
        println!(
            "  {side:<20} {:>9.1} {:>8.1} {:>8.1}",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99)
        );
    }
    println!(
        "  ratio dnsd / embedded: median {:.2}, p99 {:.2}",
        percentile(&d_ms, 0.5) / percentile(&e_ms, 0.5),
        percentile(&d_ms, 0.99) / percentile(&e_ms, 0.99)
    );

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
    let names: Vec<String> = (0..burst).map(|i| format!("b{i}")).collect();
    to_dnsd
        .send(names.iter().map(|n| format!("{n}.svc.test.")).collect())
        .expect("poller");
    to_docker.send(names.clone()).expect("poller");
    let t0 = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let socket = docker.socket();
            let names: Vec<String> = names.iter().skip(w).step_by(8).cloned().collect();
            std::thread::spawn(move || names.iter().all(|n| docker_run(&socket, n)))
        })
        .collect();
    let all_run = workers.into_iter().all(|w| w.join().unwrap_or(false));
    let cli = t0.elapsed();
    assert!(all_run, "a docker run of the burst failed");
    let last = |when: Vec<Option<Instant>>| {
        let answered = when.iter().flatten().count();
        (answered, when.into_iter().flatten().max().map(|t| t - t0))
    };
    let (d_answered, d_all) = last(from_dnsd.recv().expect("poller"));
    let (e_answered, e_all) = last(from_docker.recv().expect("poller"));
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
    if trace {
        std::fs::write("/tmp/container_start.dnsd.log", dnsd.log()).expect("write the log");
        println!("dnsd's log: /tmp/container_start.dnsd.log");
    }
    assert!(dnsd.is_running());
}
