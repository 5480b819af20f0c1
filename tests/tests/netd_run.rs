//! netd run in namespaces: drift is repaired (also while the file on disk does not
//! fit the host), a stream of new connections crosses forward changes without a
//! loss, and the daemon's life: a bad file keeps the last good one, SIGHUP, apply
//! and down beside it refused, a stop that leaves everything, kill -9 and a restart
//! with the ownership record intact, the metrics endpoint.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netfabric_tests::netd::{CONFIG, Lab, tcp_ask, tcp_connect, tcp_say, udp_ask, wait_for};
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::vrrp::LONG;

/// Starts `netd run` with drift checks every `interval` seconds; stderr goes to
/// `run.log` (appended: a restarted daemon adds to it).
fn start(lab: &Lab, interval: &str) -> ProcessGuard {
    let mut argv = lab.netd_argv("run");
    argv.extend(["--interval".into(), interval.into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lab.dir.path().join("run.log"))
        .unwrap();
    let mut cmd = lab.router.command(&argv);
    cmd.stdout(Stdio::null()).stderr(log);
    let running = |lab: &Lab| log_text(lab).matches("watching for changes").count();
    let before = running(lab);
    let guard = ProcessGuard::spawn("netd run", &mut cmd);
    let up = wait_for(LONG, || {
        running(lab) > before && tcp_ask(&lab.inet, None, "203.0.113.1:80", "up").is_ok()
    });
    assert!(up, "netd run did not apply: {}", log_text(lab));
    guard
}

fn log_text(lab: &Lab) -> String {
    std::fs::read_to_string(lab.dir.path().join("run.log")).unwrap_or_default()
}

#[test]
fn drift_is_repaired() {
    let lab = Lab::new();
    let mut netd = start(&lab, "0.2");

    // A deleted table (every rule) comes back.
    lab.router
        .exec_ok(&["nft", "delete", "table", "inet", "netd"]);
    let back = wait_for(Duration::from_secs(10), || {
        tcp_ask(&lab.inet, None, "203.0.113.1:80", "back").is_ok()
    });
    assert!(back, "table not restored: {}", log_text(&lab));

    // A deleted map element comes back.
    lab.router.exec_ok(&[
        "nft",
        "delete element inet netd fwd4_iif { \"up0\" . tcp . 80 }",
    ]);
    let back = wait_for(Duration::from_secs(10), || {
        String::from_utf8_lossy(
            &lab.router
                .exec(&["nft", "list", "map", "inet", "netd", "fwd4_iif"])
                .stdout,
        )
        .contains("\"up0\" . tcp . 80 :")
    });
    assert!(back, "element not restored: {}", log_text(&lab));

    // A deleted address comes back; an address netd did not add is left alone (in
    // another subnet: deleting a primary address takes its subnet's secondaries along).
    lab.router
        .exec_ok(&["ip", "addr", "add", "198.18.5.1/24", "dev", "br-svc"]);
    lab.router
        .exec_ok(&["ip", "addr", "del", "198.51.100.1/24", "dev", "br-svc"]);
    let back = wait_for(Duration::from_secs(10), || {
        let out = lab
            .router
            .exec(&["ip", "-o", "addr", "show", "dev", "br-svc"]);
        String::from_utf8_lossy(&out.stdout).contains("198.51.100.1/24")
    });
    assert!(back, "address not restored: {}", log_text(&lab));
    let out = lab
        .router
        .exec(&["ip", "-o", "addr", "show", "dev", "br-svc"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("198.18.5.1/24"));
    // A service reaches the internet again through the restored gateway.
    let ok = wait_for(Duration::from_secs(10), || {
        tcp_ask(&lab.svc1, None, "203.0.113.2:9999", "out").is_ok()
    });
    assert!(ok);

    let log = log_text(&lab);
    assert!(log.contains("drift repaired"), "{log}");
    assert!(log.contains("+ address 198.51.100.1/24 on br-svc"), "{log}");

    // A file that parses but does not fit the host (an unknown egress): refused, said
    // once, and drift is still repaired with the last good configuration.
    lab.write_config(&CONFIG.replace("egress = \"up0\"", "egress = \"up9\""));
    assert!(wait_for(LONG, || log_text(&lab).contains("does not fit this host")));
    lab.router
        .exec_ok(&["nft", "delete", "table", "inet", "netd"]);
    let back = wait_for(LONG, || {
        tcp_ask(&lab.inet, None, "203.0.113.1:80", "again").is_ok()
    });
    assert!(back, "table not restored: {}", log_text(&lab));
    std::thread::sleep(Duration::from_secs(1));
    let log = log_text(&lab);
    assert_eq!(log.matches("does not fit this host").count(), 1, "{log}");
    assert!(log.contains("unknown interface \"up9\""), "{log}");
    assert!(netd.terminate(LONG).is_some_and(|s| s.success()));
}

#[test]
fn a_stream_across_forward_changes_loses_nothing() {
    let lab = Lab::new();
    let mut netd = start(&lab, "0.2");
    let mut web = tcp_connect(&lab.inet, None, "203.0.113.1:80").unwrap();

    // Every request of the stream is a new flow (a new socket, a new source port),
    // so each one is translated by the rules loaded at that instant: a gap in the
    // table while a forward changes would lose it. UDP and TCP alternate.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, lost) = (AtomicU64::new(0), AtomicU64::new(0));
    let failures = std::thread::scope(|scope| {
        // Stops the stream however this scope ends (a failed assertion too).
        let _stop = StopOnDrop(stop.clone());
        let stream = scope.spawn(|| {
            let mut failures = Vec::new();
            // Bounded: at most 20,000 requests, or until told to stop.
            for i in 0..20_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let msg = format!("s{i}");
                let answer = if i % 2 == 0 {
                    udp_ask(&lab.inet, None, "203.0.113.1:80", &msg)
                } else {
                    tcp_ask(&lab.inet, None, "203.0.113.1:80", &msg)
                };
                sent.fetch_add(1, Ordering::Relaxed);
                match answer {
                    Ok(a) if a == format!("svc1 203.0.113.2 {msg}") => {}
                    other => {
                        lost.fetch_add(1, Ordering::Relaxed);
                        failures.push(format!("{msg}: {other:?}"));
                    }
                }
            }
            failures
        });

        // Move forward "range" back and forth six times while the stream runs
        // through forward "web"; each change is an element change.
        for round in 0..6 {
            let to_port = if round % 2 == 0 { 9001 } else { 9000 };
            let before = sent.load(Ordering::Relaxed);
            lab.write_config(&CONFIG.replace("to-port = 9000", &format!("to-port = {to_port}")));
            let applied = wait_for(LONG, || {
                let out = lab
                    .router
                    .exec(&["nft", "list", "map", "inet", "netd", "fwd4_sel"]);
                String::from_utf8_lossy(&out.stdout)
                    .contains(&format!("7000 . 0.0.0.0/0 : 198.51.100.11 . {to_port}"))
            });
            assert!(applied, "change {round} not applied: {}", log_text(&lab));
            // The stream was running across this change.
            assert!(
                wait_for(LONG, || sent.load(Ordering::Relaxed) > before + 2),
                "the stream stalled"
            );
            // An established connection keeps working too.
            let msg = format!("conn{round}");
            assert_eq!(
                tcp_say(&mut web, &msg).unwrap(),
                format!("svc1 203.0.113.2 {msg}")
            );
        }
        stop.store(true, Ordering::Relaxed);
        stream.join().unwrap()
    });
    let (sent, lost) = (sent.load(Ordering::Relaxed), lost.load(Ordering::Relaxed));
    assert_eq!(lost, 0, "{lost} of {sent} requests lost: {failures:?}");
    let log = log_text(&lab);
    assert!(log.contains("config changed"), "{log}");
    assert!(log.contains("element change"), "{log}");
    assert!(netd.terminate(LONG).is_some_and(|s| s.success()));
}

/// Sets the flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `GET /metrics` from the router namespace (the endpoint opens right after the
/// first apply: waits for it).
fn scrape(lab: &Lab) -> String {
    netfabric_tests::metrics::scrape(Some(&lab.router), "127.0.0.1:9103".parse().unwrap())
}

#[test]
fn the_daemon_keeps_the_last_good_file_and_its_ownership_across_stops_and_kills() {
    let lab = Lab::new();
    let config = format!("metrics = \"127.0.0.1:9103\"\n{CONFIG}");
    lab.write_config(&config);
    // A drift check every hour: only SIGHUP makes it look before then.
    let mut netd = start(&lab, "3600");
    let metrics = scrape(&lab);
    assert!(metrics.contains("netd_forwards 3\n"), "{metrics}");
    assert!(
        metrics.contains("netd_changes_total{reason=\"apply\"}"),
        "{metrics}"
    );

    // One netd at a time: apply and down beside the daemon are refused.
    for cmd in ["apply", "down"] {
        let out = lab.netd(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        assert!(err.contains("netd run (pid"), "{cmd}: {err}");
    }

    // A bad file, then SIGHUP: refused, the last good configuration still serves.
    lab.write_config(&format!("{config}\nfrobnicate = true\n"));
    netd.signal(libc::SIGHUP);
    assert!(wait_for(LONG, || log_text(&lab).contains("configuration refused")));
    assert!(
        tcp_ask(&lab.inet, None, "203.0.113.1:7000", "a")
            .unwrap()
            .starts_with("svc2")
    );
    assert!(scrape(&lab).contains("netd_config_refused_total 1\n"));

    // A good change, then SIGHUP: applied at once (the interval is an hour).
    lab.write_config(&config.replace("to-port = 9000", "to-port = 9001"));
    netd.signal(libc::SIGHUP);
    let applied = wait_for(LONG, || {
        let out = lab
            .router
            .exec(&["nft", "list", "map", "inet", "netd", "fwd4_sel"]);
        String::from_utf8_lossy(&out.stdout).contains("7000 . 0.0.0.0/0 : 198.51.100.11 . 9001")
    });
    assert!(applied, "{}", log_text(&lab));

    // SIGTERM: the daemon exits by itself and leaves everything in place (the
    // table as it was; the bridge, its address and its ports; link flags such as
    // the bridge's carrier move by themselves, so they are not compared).
    let ruleset = lab.ruleset();
    assert!(
        netd.terminate(LONG).is_some_and(|s| s.success()),
        "{}",
        log_text(&lab)
    );
    assert_eq!(lab.ruleset(), ruleset);
    let links = lab.links();
    for held in [
        "br-svc    inet 198.51.100.1/24",
        "svc1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br-svc",
        "svc2@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br-svc",
    ] {
        assert!(links.contains(held), "{held} not in\n{links}");
    }
    assert!(tcp_ask(&lab.inet, None, "203.0.113.1:80", "b").is_ok());
    let record = std::fs::read_to_string(lab.state().join("owned.json")).unwrap();

    // kill -9, then a new daemon: the record is intact, and nothing is adopted or
    // created anew (the bridge is still netd's own).
    let mut netd = start(&lab, "3600");
    netd.kill();
    assert_eq!(
        std::fs::read_to_string(lab.state().join("owned.json")).unwrap(),
        record
    );
    assert!(record.contains("\"created\": true"), "{record}");
    let mut netd = start(&lab, "3600");
    assert!(
        netd.terminate(LONG).is_some_and(|s| s.success()),
        "{}",
        log_text(&lab)
    );
    assert_eq!(
        log_text(&lab).matches("+ bridge br-svc").count(),
        1,
        "{}",
        log_text(&lab)
    );

    // And down removes what netd made.
    let down = lab.netd_ok("down");
    assert!(down.contains("- bridge br-svc"), "{down}");
    assert!(!lab.links().contains("br-svc"));
}
