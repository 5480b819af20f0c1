//! Records that follow Docker containers (issue 10), against Debian's dockerd in a
//! namespace (`netfabric_tests::engines`): start, rename, network disconnect and
//! connect, kill -9, a compose-style service with two replicas, PTRs in the reverse
//! zone, a name the zone file defines (the file wins, counted), an engine socket that
//! does not exist, a lone start (one version), 200 containers started 8 at a time
//! (folded: at most one version per 2 s, `source::FOLD_WAIT`), a dnsd restart with
//! containers running (same serial, same records), 20 containers that appear while
//! dnsd is down (one version), and a dockerd restart
//! stopped and started again (records kept while it is away, then reconciled), then
//! lost again beside a dnsd that withdraws after a grace time and gives duplicate names
//! to the first container (`duplicates = "first-wins"`); `dnsd ctl status` through the
//! binary.
//!
//! One dockerd and one test function: starting the engine is the expensive part.

use std::time::Duration;

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::{Dnsd, PATIENCE};
use netfabric_tests::engines::{Dockerd, Engine, containers_config, wait, wait_engine_up};

const SVC: &str = "$ORIGIN svc.test.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n\
    taken A 203.0.113.9\n";
const REVERSE: &str = "$ORIGIN 18.198.in-addr.arpa.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";

/// Starts container `web_1` (alias `front`) on `svcnet` of `engine`, and waits until
/// dnsd answers its name (normalised to `web-1`), its alias and its PTR; (its address,
/// the PTR's name).
fn web_1_is_answered(engine: &impl Engine, dnsd: &Dnsd) -> (String, String) {
    engine.run_container(&[
        "--name",
        "web_1",
        "--network",
        "svcnet",
        "--network-alias",
        "front",
    ]);
    let ip = engine.address("web_1", "svcnet");
    wait("web-1 answered", PATIENCE, || {
        short(dnsd.addr, "web-1.svc.test.", "A") == [ip.clone()]
    });
    assert_eq!(short(dnsd.addr, "front.svc.test.", "A"), [ip.as_str()]);
    let octets: Vec<&str> = ip.split('.').collect();
    let ptr = format!("{}.{}.18.198.in-addr.arpa.", octets[3], octets[2]);
    assert_eq!(short(dnsd.addr, &ptr, "PTR"), ["web-1.svc.test."]);
    (ip, ptr)
}

fn start_dnsd(docker: &Dockerd, state: &std::path::Path) -> Dnsd {
    start_dnsd_with(docker, state, "")
}

/// dnsd following `docker` (and an engine whose socket does not exist), with `extra`
/// keys in `[containers]`.
fn start_dnsd_with(docker: &Dockerd, state: &std::path::Path, extra: &str) -> Dnsd {
    Dnsd::builder()
        .zone("svc.test", SVC)
        .zone("18.198.in-addr.arpa", REVERSE)
        .metrics()
        .config(&containers_config(
            state,
            extra,
            &[
                ("docker", &docker.socket()),
                ("absent", &state.join("no-such.sock")),
            ],
            &[("name", "svcnet", "svc.test")],
        ))
        .start()
}

/// Starts containers `PREFIX0` .. `PREFIX{count-1}` on `svcnet`, 8 `docker run` at a
/// time (as `docker compose up` or a script would).
fn start_many(docker: &Dockerd, prefix: &str, count: usize) {
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let socket = docker.socket();
            let prefix = prefix.to_string();
            std::thread::spawn(move || {
                for i in (w..count).step_by(8) {
                    let out = std::process::Command::new("/usr/bin/docker")
                        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
                        .args([
                            "run",
                            "-d",
                            "--stop-timeout",
                            "1",
                            "--name",
                            &format!("{prefix}{i}"),
                        ])
                        .args(["--network", "svcnet"])
                        .args([
                            netfabric_tests::engines::IMAGE,
                            "/bin/busybox",
                            "sleep",
                            "3600",
                        ])
                        .output()
                        .expect("docker run");
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("burst worker");
    }
}

fn serial(dnsd: &Dnsd) -> String {
    short(dnsd.addr, "svc.test.", "SOA")
        .first()
        .and_then(|soa| soa.split_whitespace().nth(2).map(String::from))
        .unwrap_or_default()
}

#[test]
fn container_records_follow_docker() {
    let mut docker = Dockerd::start();
    docker.docker_ok(&["network", "create", "--subnet", "198.18.0.0/24", "svcnet"]);
    let state = tempfile::tempdir().expect("state dir");
    let mut dnsd = start_dnsd(&docker, state.path());
    let ask = |dnsd: &Dnsd, name: &str, t: &str| short(dnsd.addr, name, t);

    // An engine whose socket does not exist does not stop the other one.
    wait_engine_up(&mut dnsd, "docker");
    assert_eq!(
        dnsd.metric("dnsd_containers_engine_up{engine=\"absent\"}"),
        Some(0)
    );

    // Start: the container's name (normalised), its alias, its PTR.
    let (ip, _) = web_1_is_answered(&docker, &dnsd);

    // `dnsd ctl status` (the binary): each engine, its socket and state, the last
    // error of the one that is away, the records by zone, the last reconcile.
    let (ok, status) = dnsd.ctl_binary(&["status"]);
    assert!(ok, "{status}");
    let line = |prefix: &str| {
        status
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{status}"))
            .to_string()
    };
    let docker_line = line("source containers engine=docker ");
    assert!(
        docker_line.contains(&format!(
            "socket={} state=connected since=",
            docker.socket().display()
        )) && docker_line.contains(" containers=1 "),
        "{docker_line}"
    );
    let absent = line("source containers engine=absent ");
    assert!(
        absent.contains(" state=away ")
            && absent.contains("last-error=")
            && absent.contains("no-such.sock"),
        "{absent}"
    );
    // web-1 A, front A; the PTR.
    assert_eq!(
        line("source containers zone=svc.test. "),
        "source containers zone=svc.test. records=2"
    );
    assert_eq!(
        line("source containers zone=18.198.in-addr.arpa. "),
        "source containers zone=18.198.in-addr.arpa. records=1"
    );
    let summary = line("source containers records=");
    assert!(!summary.contains("last-reconcile=- "), "{summary}");
    // A lone start is one version of each zone: answered while it starts (before
    // its process runs), and its own inspect after the start says the same.
    assert_eq!(
        dnsd.metric("dnsd_zone_changes_total{zone=\"svc.test.\"}"),
        Some(1),
        "{}",
        dnsd.log()
    );

    // A name the zone file defines: the file wins, the conflict is counted.
    docker.run_container(&["--name", "taken", "--network", "svcnet"]);
    dnsd.wait_for("conflict counted", |d| {
        d.metric("dnsd_containers_conflicts_total").unwrap_or(0) >= 1
    });
    assert_eq!(ask(&dnsd, "taken.svc.test.", "A"), ["203.0.113.9"]);
    assert!(
        dnsd.log()
            .contains("container name conflict: taken.svc.test."),
        "{}",
        dnsd.log()
    );

    // Rename: the old name goes, the new one comes.
    docker.docker_ok(&["rename", "web_1", "web2"]);
    wait("renamed", PATIENCE, || {
        ask(&dnsd, "web2.svc.test.", "A") == [ip.clone()]
            && ask(&dnsd, "web-1.svc.test.", "A").is_empty()
    });

    // Network disconnect and connect.
    docker.docker_ok(&["network", "disconnect", "svcnet", "web2"]);
    wait("disconnected", PATIENCE, || {
        ask(&dnsd, "web2.svc.test.", "A").is_empty()
    });
    docker.docker_ok(&["network", "connect", "svcnet", "web2"]);
    let ip2 = docker.address("web2", "svcnet");
    wait("connected", PATIENCE, || {
        ask(&dnsd, "web2.svc.test.", "A") == [ip2.clone()]
    });

    // kill -9: the records and the PTR go.
    docker.docker_ok(&["kill", "-s", "KILL", "web2"]);
    wait("killed", PATIENCE, || {
        ask(&dnsd, "web2.svc.test.", "A").is_empty()
    });
    let octets: Vec<&str> = ip2.split('.').collect();
    let ptr2 = format!("{}.{}.18.198.in-addr.arpa.", octets[3], octets[2]);
    assert!(ask(&dnsd, &ptr2, "PTR").is_empty());

    // A compose-style service with two replicas: round robin under SERVICE.PROJECT.
    for i in 1..=2 {
        docker.run_container(&[
            "--name",
            &format!("proj-api-{i}"),
            "--network",
            "svcnet",
            "--network-alias",
            "api",
            "--label",
            "com.docker.compose.service=api",
            "--label",
            "com.docker.compose.project=proj",
        ]);
    }
    wait("service round robin", PATIENCE, || {
        ask(&dnsd, "api.proj.svc.test.", "A").len() == 2
            && ask(&dnsd, "api.svc.test.", "A").len() == 2
    });

    // 200 containers started while dnsd runs, 8 at a time: folded. While several
    // containers are starting, a change waits at most FOLD_WAIT (2 s), so the burst
    // makes at most one version per 2 s, plus one each time it thins to a single
    // container starting (rare with 8 at a time); without folding it makes one per
    // container (170 of 200 measured, 121 with folding on "no address yet" only).
    let changes = |d: &Dnsd| {
        d.metric("dnsd_zone_changes_total{zone=\"svc.test.\"}")
            .unwrap_or(0)
    };
    let before = changes(&dnsd);
    let began = std::time::Instant::now();
    start_many(&docker, "burst", 200);
    wait("200 names", Duration::from_secs(120), || {
        (0..200).all(|i| {
            dnsd.addresses(&format!("burst{i}.svc.test."))
                .is_some_and(|a| !a.is_empty())
        })
    });
    let seconds = began.elapsed().as_secs();
    let versions = changes(&dnsd) - before;
    assert!(
        versions <= 10 + seconds / 2,
        "{versions} versions for 200 containers in {seconds} s: not folded\n{}",
        dnsd.log()
    );

    // dnsd restart with containers running: same serial, same records.
    let before = serial(&dnsd);
    let names = ask(&dnsd, "api.proj.svc.test.", "A");
    dnsd.terminate(PATIENCE);
    drop(dnsd);
    let mut dnsd = start_dnsd(&docker, state.path());
    assert_eq!(ask(&dnsd, "api.proj.svc.test.", "A"), names);
    wait_engine_up(&mut dnsd, "docker");
    // The engine was listed and reconciled (the first reconcile is the remembered
    // state at start, the second the engine's list): nothing changed, nothing committed.
    dnsd.wait_for("reconciled", |d| {
        d.metric("dnsd_containers_reconciles_total").unwrap_or(0) >= 2
    });
    assert_eq!(serial(&dnsd), before, "{}", dnsd.log());
    assert_eq!(dnsd.metric("dnsd_containers_commits_total"), Some(0));

    // 20 containers that start while dnsd is down: one version when it comes back.
    dnsd.terminate(PATIENCE);
    drop(dnsd);
    start_many(&docker, "down", 20);
    let mut dnsd = start_dnsd(&docker, state.path());
    wait("20 names", Duration::from_secs(120), || {
        (0..20).all(|i| !ask(&dnsd, &format!("down{i}.svc.test."), "A").is_empty())
    });
    // One version of each zone: the names, and their PTRs.
    assert_eq!(
        dnsd.metric("dnsd_containers_commits_total"),
        Some(2),
        "{}",
        dnsd.log()
    );
    assert_eq!(
        dnsd.metric("dnsd_zone_changes_total{zone=\"svc.test.\"}"),
        Some(1)
    );
    assert_eq!(
        dnsd.metric("dnsd_zone_changes_total{zone=\"18.198.in-addr.arpa.\"}"),
        Some(1)
    );

    // dockerd stops (its containers run on: live restore): the records stay while it is
    // away. Meanwhile one container dies; dockerd comes back, is listed again, and
    // only that container's records go.
    let pid = docker.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "burst0"]);
    docker.stop();
    dnsd.wait_for("docker engine away", |d| {
        d.metric("dnsd_containers_engine_up{engine=\"docker\"}") == Some(0)
    });
    assert_eq!(ask(&dnsd, "api.proj.svc.test.", "A").len(), 2);
    assert_eq!(ask(&dnsd, "burst0.svc.test.", "A").len(), 1);
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    docker.run();
    wait(
        "reconciled after the engine restart",
        Duration::from_secs(120),
        || ask(&dnsd, "burst0.svc.test.", "A").is_empty(),
    );
    assert_eq!(ask(&dnsd, "api.proj.svc.test.", "A").len(), 2);
    assert_eq!(ask(&dnsd, "burst1.svc.test.", "A").len(), 1);
    assert!(dnsd.is_running());

    // The engine lost again, nothing changing meanwhile, seen by this dnsd (records
    // kept, the default) and by a second one configured to withdraw them after a
    // grace time: the second withdraws them after the grace, and both have them once
    // the engine is back and listed; the first commits nothing (same serial). The
    // second gives a name two containers claim to the one created first only.
    let state2 = tempfile::tempdir().expect("state dir");
    let mut withdrawing = start_dnsd_with(
        &docker,
        state2.path(),
        "on-engine-loss = \"withdraw\"\ngrace-seconds = 2\nduplicates = \"first-wins\"",
    );
    let first = [docker.address("proj-api-1", "svcnet")];
    wait("second dnsd listed", Duration::from_secs(120), || {
        ask(&withdrawing, "burst1.svc.test.", "A").len() == 1
            && ask(&withdrawing, "api.proj.svc.test.", "A") == first
    });
    let (before, commits) = (serial(&dnsd), dnsd.metric("dnsd_containers_commits_total"));
    let losses = dnsd
        .metric("dnsd_containers_engine_losses_total{engine=\"docker\"}")
        .unwrap_or(0);
    docker.stop();
    wait("withdrawn after the grace", Duration::from_secs(60), || {
        ask(&withdrawing, "api.proj.svc.test.", "A").is_empty()
            && ask(&withdrawing, "burst1.svc.test.", "A").is_empty()
    });
    assert!(
        withdrawing.log().contains("away past its grace time"),
        "{}",
        withdrawing.log()
    );
    let (ok, status) = withdrawing.ctl_binary(&["status"]);
    assert!(ok && status.contains(" state=away "), "{status}");
    dnsd.wait_for("docker engine away again", |d| {
        d.metric("dnsd_containers_engine_losses_total{engine=\"docker\"}") == Some(losses + 1)
    });
    assert_eq!(ask(&dnsd, "api.proj.svc.test.", "A").len(), 2);
    assert_eq!(ask(&dnsd, "burst1.svc.test.", "A").len(), 1);
    // The reconcile of the loss is long done (the grace passed): until the engine is
    // back, no other comes.
    let reconciles = dnsd.metric("dnsd_containers_reconciles_total").unwrap_or(0);
    docker.run();
    wait(
        "restored after the engine is back",
        Duration::from_secs(120),
        || {
            ask(&withdrawing, "api.proj.svc.test.", "A") == first
                && ask(&withdrawing, "burst1.svc.test.", "A").len() == 1
        },
    );
    dnsd.wait_for("docker engine up again", |d| {
        d.metric("dnsd_containers_engine_up{engine=\"docker\"}") == Some(1)
            && d.metric("dnsd_containers_reconciles_total").unwrap_or(0) > reconciles
    });
    assert_eq!(serial(&dnsd), before, "{}", dnsd.log());
    assert_eq!(dnsd.metric("dnsd_containers_commits_total"), commits);
    assert_eq!(ask(&dnsd, "api.proj.svc.test.", "A").len(), 2);
    assert!(withdrawing.is_running());
}

/// The same records from Podman's Docker-compatible service (Debian's podman 4.3, which
/// sends no network events): start with an alias and a PTR, stop, rename, and dnsd
/// killed with SIGKILL and started again while a container runs (the records come
/// back from the journal, the serial unchanged).
#[test]
fn container_records_follow_podman() {
    let podman = netfabric_tests::engines::Podman::start();
    podman.docker_ok(&["network", "create", "--subnet", "198.18.1.0/24", "svcnet"]);
    let state = tempfile::tempdir().expect("state dir");
    let mut dnsd = Dnsd::builder()
        .zone("svc.test", SVC)
        .zone("18.198.in-addr.arpa", REVERSE)
        .metrics()
        .config(&containers_config(
            state.path(),
            "",
            &[("podman", &podman.socket())],
            &[("subnet", "198.18.1.0/24", "svc.test")],
        ))
        .start();
    let ask = |dnsd: &Dnsd, name: &str, t: &str| short(dnsd.addr, name, t);
    wait_engine_up(&mut dnsd, "podman");

    let (_, ptr) = web_1_is_answered(&podman, &dnsd);

    // Stop: the names and the PTR go.
    podman.docker_ok(&["stop", "web_1"]);
    wait("stopped", PATIENCE, || {
        ask(&dnsd, "web-1.svc.test.", "A").is_empty() && ask(&dnsd, &ptr, "PTR").is_empty()
    });

    // Rename of a running container.
    podman.run_container(&["--name", "db", "--network", "svcnet"]);
    let db = podman.address("db", "svcnet");
    wait("db answered", PATIENCE, || {
        ask(&dnsd, "db.svc.test.", "A") == [db.clone()]
    });
    podman.docker_ok(&["rename", "db", "db2"]);
    wait("renamed", PATIENCE, || {
        ask(&dnsd, "db2.svc.test.", "A") == [db.clone()]
            && ask(&dnsd, "db.svc.test.", "A").is_empty()
    });

    // kill -9 of dnsd: what was acknowledged is in the journal; the engine's list
    // then changes nothing.
    let before = serial(&dnsd);
    dnsd.kill();
    dnsd.restart();
    assert_eq!(ask(&dnsd, "db2.svc.test.", "A"), [db.as_str()]);
    dnsd.wait_for("reconciled", |d| {
        d.metric("dnsd_containers_reconciles_total").unwrap_or(0) >= 2
    });
    assert_eq!(serial(&dnsd), before, "{}", dnsd.log());
    assert_eq!(dnsd.metric("dnsd_containers_commits_total"), Some(0));
}
