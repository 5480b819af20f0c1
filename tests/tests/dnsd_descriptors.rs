//! dnsd and its open-files limit (RLIMIT_NOFILE), with 1,000 idle TCP clients (the
//! default `tcp.max-connections`) and the common soft limit of 1,024: dnsd raises the
//! soft limit to the hard one at start; where the hard limit is 1,024 too, it keeps
//! descriptors in reserve and allows TCP only what is left (and says so). Either way,
//! while the clients idle, the metrics endpoint answers, an edit to a zone file is
//! served, SIGHUP reloads, and nothing logs `Too many open files`.
//!
//! Input: dnsd started under `setrlimit(RLIMIT_NOFILE)` (between fork and exec), 1,000
//! TCP connections that send nothing, a zone file rewritten, SIGHUP.
//! Output: the limits in /proc/PID/limits, dnsd's log, its metrics, its answers.

use std::net::TcpStream;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize, tcp_exchange};
use netfabric_tests::dnsd::{Dnsd, PATIENCE};

/// Idle clients, as many as `tcp.max-connections` allows by default.
const CLIENTS: usize = 1000;

/// The zone `fd.test.` with serial `serial` and the name `www{serial}`.
fn zone(serial: u32) -> String {
    format!(
        "$ORIGIN fd.test.\n$TTL 300\n\
         @ SOA ns1 hostmaster {serial} 3600 900 604800 300\n\
         @ NS ns1\nns1 A 127.0.0.1\nwww{serial} A 198.51.100.{serial}\n"
    )
}

/// dnsd serving `fd.test.` with metrics, connections that may idle for 10 minutes,
/// and eight UDP workers (what `workers = 0` gives on an 8-core server; fixed, so
/// that dnsd opens as many descriptors on every machine), under `soft`:`hard`.
fn start(soft: u64, hard: u64) -> Dnsd {
    Dnsd::builder()
        .zone("fd.test", &zone(1))
        .keep_serials()
        .metrics()
        .config("[tcp]\nidle-timeout-ms = 600000\n[udp]\nworkers = 8\n")
        .open_files(soft, hard)
        .start()
}

/// Raises this test's own soft limit: it holds the clients' ends (two tests at once).
fn raise_own_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= 4 * CLIENTS as u64,
        "this test needs {} open files, its hard limit is {}",
        4 * CLIENTS,
        limit.rlim_cur
    );
}

/// dnsd's "Max open files" soft and hard limits, from /proc/PID/limits.
fn open_files_limits(dnsd: &Dnsd) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", dnsd.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Opens `CLIENTS` connections that send nothing, and waits until dnsd has taken
/// each: held (the gauge) or closed at once (refused), read from its metrics.
fn idle_clients(dnsd: &mut Dnsd) -> Vec<TcpStream> {
    let refused_before = dnsd
        .metric("dnsd_tcp_connections_refused_total")
        .unwrap_or(0);
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            TcpStream::connect_timeout(&dnsd.addr, PATIENCE)
                .unwrap_or_else(|e| panic!("client {i}: {e}"))
        })
        .collect();
    dnsd.wait_for("every client held or refused", |d| {
        let text = d.scrape();
        let held = netfabric_tests::dnsd::metric(&text, "dnsd_tcp_connections").unwrap_or(0);
        let refused = netfabric_tests::dnsd::metric(&text, "dnsd_tcp_connections_refused_total")
            .unwrap_or(0)
            - refused_before;
        held + refused >= CLIENTS as u64
    });
    clients
}

/// While the clients idle: the metrics endpoint answers (each wait scrapes it), a
/// new zone file is served, SIGHUP reloads; none of it runs out of descriptors.
fn reloads_metrics_and_edits_work(dnsd: &mut Dnsd) {
    let reloads = "dnsd_zone_reloads_total{zone=\"fd.test.\"}";
    std::fs::write(dnsd.zones_dir().join("fd.test.zone"), zone(2)).unwrap();
    dnsd.wait_for("the edit served", |d| {
        d.ask("www2.fd.test.", 1)
            .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
    });
    let before = dnsd.metric(reloads).expect("reloads counted");
    dnsd.signal(libc::SIGHUP);
    dnsd.wait_for("SIGHUP reloaded", |d| {
        d.metric(reloads).is_some_and(|n| n > before)
    });
    let serial = "dnsd_zone_served_serial{zone=\"fd.test.\"}";
    assert_eq!(dnsd.metric(serial), Some(2), "{}", dnsd.log());
    let log = dnsd.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(!log.contains("os error 24"), "{log}");
}

/// Once the clients are gone, TCP answers new ones.
fn tcp_answers(dnsd: &mut Dnsd) {
    let query = Query::new("www2.fd.test.", 1).to_bytes();
    dnsd.wait_for("a TCP answer", |d| {
        tcp_exchange(d.addr, &query, Duration::from_secs(5))
            .ok()
            .and_then(|r| normalize(&r).ok())
            .is_some_and(|n| n.rcode == 0)
    });
}

/// Soft 1,024, hard 4,096: dnsd raises its soft limit to 4,096 and holds all 1,000
/// clients, with room to spare.
#[test]
fn the_soft_limit_is_raised_and_1000_idle_clients_leave_room_for_reloads_and_metrics() {
    raise_own_limit();
    let mut dnsd = start(1024, 4096);
    let clients = idle_clients(&mut dnsd);
    reloads_metrics_and_edits_work(&mut dnsd);
    assert_eq!(
        dnsd.metric("dnsd_tcp_connections"),
        Some(CLIENTS as u64),
        "{}",
        dnsd.log()
    );
    assert_eq!(open_files_limits(&dnsd), (4096, 4096), "{}", dnsd.log());
    assert!(
        dnsd.log().contains("raised to the hard limit"),
        "{}",
        dnsd.log()
    );
    drop(clients);
    tcp_answers(&mut dnsd);
}

/// Soft and hard 1,024: dnsd cannot raise it, so it allows fewer TCP connections than
/// configured and logs how many; the clients beyond are refused, and reloads, metrics
/// and edits still work.
#[test]
fn with_1024_descriptors_tcp_gets_what_the_reserve_leaves() {
    raise_own_limit();
    let mut dnsd = start(1024, 1024);
    let clients = idle_clients(&mut dnsd);
    reloads_metrics_and_edits_work(&mut dnsd);
    assert_eq!(open_files_limits(&dnsd), (1024, 1024));
    let log = dnsd.log();
    let allowed: u64 = log
        .lines()
        .find(|l| l.contains("tcp.max-connections lowered"))
        .and_then(|l| l.split("allowed=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `tcp.max-connections lowered ... allowed=N`:\n{log}"));
    assert!(
        (1..CLIENTS as u64).contains(&allowed),
        "allowed={allowed}\n{log}"
    );
    assert_eq!(dnsd.metric("dnsd_tcp_connections"), Some(allowed));
    drop(clients);
    tcp_answers(&mut dnsd);
}
