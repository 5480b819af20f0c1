//! The dnsd front, as a client sees it: the real binary on a loopback address, queried
//! over UDP and TCP; TCP pipelining, idle timeout and connection limit; truncation over
//! UDP and the full answer over TCP; `dnsd check`'s exit status and messages; the
//! metrics endpoint; the no-argument default; IP_FREEBIND; SIGTERM.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::bins;
use netfabric_tests::dns::{Query, normalize, tcp_recv, tcp_send, udp_exchange};
use netfabric_tests::netns::Netns;
use netfabric_tests::process::ProcessGuard;

const NOERROR: u16 = 0;
const REFUSED: u16 = 5;
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test waits for the server to close a connection it should close.
const CLOSE_WAIT: Duration = Duration::from_secs(30);
/// How long a start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A zone with a big RRset (about 4 kB of TXT) for the truncation test.
fn front_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN front.test.\n$TTL 300\n\
         @ IN SOA ns1 hostmaster 2024010101 3600 900 604800 300\n\
         @ NS ns1\n\
         ns1 A 127.0.0.1\n\
         www A 198.51.100.10\n",
    );
    for i in 0..40 {
        zone.push_str(&format!("big TXT \"{i:03} {}\"\n", "x".repeat(90)));
    }
    zone
}

/// A running dnsd on a random 127.0.0.x address and port, its folder, its stderr.
struct Dnsd {
    addr: SocketAddr,
    guard: ProcessGuard,
    dir: tempfile::TempDir,
}

impl Dnsd {
    /// Starts dnsd with `config` (TOML text without `listen`, or None) serving the front
    /// zone, on a random loopback address and port; retries when the port is taken.
    fn start(config: Option<&str>) -> Dnsd {
        let dir = tempfile::tempdir().unwrap();
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).unwrap();
        std::fs::write(zones.join("front.test.zone"), front_zone()).unwrap();
        if let Some(config) = config {
            std::fs::write(dir.path().join("dnsd.toml"), config).unwrap();
        }
        for attempt in 0..20 {
            let addr = random_addr(attempt);
            let mut cmd = Command::new(bins::path("dnsd"));
            if config.is_some() {
                cmd.arg("--config").arg(dir.path().join("dnsd.toml"));
            }
            cmd.arg("--listen")
                .arg(addr.to_string())
                .arg("--zones")
                .arg(&zones)
                .current_dir(dir.path())
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
            let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
            if wait_ready(&mut guard, addr) {
                return Dnsd { addr, guard, dir };
            }
            let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            assert!(log.contains("cannot listen"), "dnsd did not start:\n{log}");
        }
        panic!("no free loopback address and port after 20 attempts");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

/// 127.0.0.x:port, both picked from the clock and the pid (no two tests alike).
fn random_addr(attempt: u32) -> SocketAddr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let seed = nanos ^ std::process::id().rotate_left(16) ^ attempt.wrapping_mul(0x9e37_79b9);
    let host = 2 + (seed % 250) as u8;
    let port = 20_000 + ((seed >> 8) % 40_000) as u16;
    SocketAddr::from(([127, 0, 0, host], port))
}

/// Polls with queries until dnsd answers (true) or exits (false).
fn wait_ready(guard: &mut ProcessGuard, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    let probe = Query::new("front.test.", 6).to_bytes();
    while Instant::now() < deadline {
        if guard.try_wait().is_some() {
            return false;
        }
        if udp_exchange(addr, &probe, Duration::from_millis(200)).is_some() {
            return true;
        }
    }
    panic!("dnsd did not answer within {START_TIMEOUT:?}");
}

fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    conn.set_write_timeout(Some(TIMEOUT)).unwrap();
    conn
}

fn id_of(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[0], response[1]])
}

/// Whether the peer closed `conn` (EOF or reset) before `TIMEOUT`, reading anything
/// it sent first.
/// Whether the server closes `conn` within `CLOSE_WAIT`: generous, because a loaded
/// machine can be slow to run the server's timers, yet bounded, so a server that never
/// closes fails the test.
fn closed_by_peer(conn: &mut TcpStream) -> bool {
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut buf = [0u8; 512];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e)
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && Instant::now() < deadline =>
            {
                continue;
            }
            Err(_) => return false,
        }
    }
}

#[test]
fn answers_over_udp_and_tcp() {
    let dnsd = Dnsd::start(None);
    let query = Query::new("WWW.front.test.", 1).to_bytes();
    let over_udp = normalize(&udp_exchange(dnsd.addr, &query, TIMEOUT).unwrap()).unwrap();
    let over_tcp =
        normalize(&netfabric_tests::dns::tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap())
            .unwrap();
    for response in [&over_udp, &over_tcp] {
        assert_eq!(response.rcode, NOERROR, "{response}");
        assert!(response.flags.contains("aa"), "{response}");
        assert!(response.to_string().contains("198.51.100.10"), "{response}");
    }
    let outside = Query::new("example.com.", 1).to_bytes();
    let refused = normalize(&udp_exchange(dnsd.addr, &outside, TIMEOUT).unwrap()).unwrap();
    assert_eq!(refused.rcode, REFUSED, "{refused}");
}

#[test]
fn tcp_pipelined_queries_are_answered_in_order() {
    let dnsd = Dnsd::start(None);
    let mut conn = connect(dnsd.addr);
    let names = [
        "www.front.test.",
        "nowhere.front.test.",
        "front.test.",
        "ns1.front.test.",
        "example.com.",
    ];
    let mut burst = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut query = Query::new(name, 1);
        query.id = 1000 + i as u16;
        let bytes = query.to_bytes();
        burst.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        burst.extend_from_slice(&bytes);
    }
    // One write: the server sees every query at once.
    conn.write_all(&burst).unwrap();
    let ids: Vec<u16> = (0..names.len())
        .map(|_| id_of(&tcp_recv(&mut conn).unwrap()))
        .collect();
    assert_eq!(ids, vec![1000, 1001, 1002, 1003, 1004]);
    // The connection stays open for more.
    tcp_send(&mut conn, &Query::new("www.front.test.", 1).to_bytes()).unwrap();
    assert_eq!(id_of(&tcp_recv(&mut conn).unwrap()), 0x4242);
}

#[test]
fn idle_tcp_connections_are_closed() {
    let dnsd = Dnsd::start(Some("[tcp]\nidle-timeout-ms = 300\n"));
    let mut silent = connect(dnsd.addr);
    assert!(
        closed_by_peer(&mut silent),
        "a silent connection stays open"
    );
    let mut after_query = connect(dnsd.addr);
    tcp_send(
        &mut after_query,
        &Query::new("www.front.test.", 1).to_bytes(),
    )
    .unwrap();
    assert_eq!(id_of(&tcp_recv(&mut after_query).unwrap()), 0x4242);
    assert!(
        closed_by_peer(&mut after_query),
        "a connection idle after its query stays open"
    );
}

#[test]
fn tcp_connections_beyond_the_limit_are_closed() {
    let dnsd = Dnsd::start(Some("[tcp]\nmax-connections = 2\n"));
    let query = Query::new("www.front.test.", 1).to_bytes();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(dnsd.addr);
        tcp_send(&mut conn, &query).unwrap();
        tcp_recv(&mut conn).unwrap();
        held.push(conn);
    }
    let mut third = connect(dnsd.addr);
    let _ = tcp_send(&mut third, &query);
    assert!(closed_by_peer(&mut third), "a third connection was served");
    // Once one closes, a new connection is served again (the server notices the close
    // asynchronously: poll, bounded).
    drop(held.pop());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut conn = connect(dnsd.addr);
        if tcp_send(&mut conn, &query).is_ok() && tcp_recv(&mut conn).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after one closed"
        );
    }
}

#[test]
fn oversized_udp_answers_are_truncated_and_complete_over_tcp() {
    let dnsd = Dnsd::start(None);
    let query = Query::new("big.front.test.", 16).no_edns().to_bytes();
    let datagram = udp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    assert!(datagram.len() <= 512, "{} octets over UDP", datagram.len());
    let over_udp = normalize(&datagram).unwrap();
    assert!(over_udp.flags.contains("tc"), "{over_udp}");
    let stream = netfabric_tests::dns::tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    let over_tcp = normalize(&stream).unwrap();
    assert!(!over_tcp.flags.contains("tc"), "{over_tcp}");
    let txts: usize = over_tcp.answer.values().map(|rdatas| rdatas.len()).sum();
    assert_eq!(txts, 40, "{over_tcp}");
}

#[test]
fn metrics_count_queries() {
    let port = netfabric_tests::servers::free_port();
    let metrics: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let dnsd = Dnsd::start(Some(&format!("metrics = \"{metrics}\"\n")));
    let count = |text: &str, series: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let udp_a = "dnsd_queries_total{transport=\"udp\",rcode=\"NOERROR\",qtype=\"A\"}";
    let tcp_a = "dnsd_queries_total{transport=\"tcp\",rcode=\"NOERROR\",qtype=\"A\"}";
    let before = scrape(metrics);
    let query = Query::new("www.front.test.", 1).to_bytes();
    for _ in 0..3 {
        udp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    }
    netfabric_tests::dns::tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    let after = scrape(metrics);
    assert_eq!(count(&after, udp_a), count(&before, udp_a) + 3, "{after}");
    assert_eq!(count(&after, tcp_a), count(&before, tcp_a) + 1, "{after}");
    assert!(
        after.contains("dnsd_zone_served_serial{zone=\"front.test.\"} "),
        "{after}"
    );
    assert!(
        after.contains("dnsd_zone_reloads_total{zone=\"front.test.\"} 1"),
        "{after}"
    );
    assert!(
        after.contains("dnsd_response_bytes_bucket{transport=\"udp\",le=\"+Inf\"}"),
        "{after}"
    );
}

fn scrape(addr: SocketAddr) -> String {
    let mut conn = connect(addr);
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: dnsd\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    response
}

#[test]
fn a_listener_may_bind_an_address_not_on_the_host() {
    // 198.51.100.53 (TEST-NET-2) is on no interface: only IP_FREEBIND lets it bind. No
    // packet is sent to it.
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join("front.test.zone"), front_zone()).unwrap();
    for attempt in 0..20 {
        let local = random_addr(attempt);
        let virtual_addr = SocketAddr::from(([198, 51, 100, 53], local.port()));
        let mut cmd = Command::new(bins::path("dnsd"));
        cmd.args([
            "--listen",
            &virtual_addr.to_string(),
            "--listen",
            &local.to_string(),
        ])
        .arg("--zones")
        .arg(&zones)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
        if wait_ready(&mut guard, local) {
            return;
        }
        let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
        assert!(
            log.contains("cannot listen on 127."),
            "dnsd did not start:\n{log}"
        );
    }
    panic!("no free loopback port after 20 attempts");
}

#[test]
fn sigterm_stops_cleanly() {
    let mut dnsd = Dnsd::start(None);
    let status = dnsd.guard.terminate(TIMEOUT).expect("dnsd exited");
    assert!(status.success(), "exit status {status:?}\n{}", dnsd.log());
}

fn dnsd_check(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bins::path("dnsd"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_reports_problems_one_per_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join("front.test.zone"), front_zone()).unwrap();

    let (status, out) = dnsd_check(dir.path(), &[]);
    assert_eq!((status, out.as_str()), (0, ""), "a good zones folder");

    // A broken zone file: its file and line are named.
    let broken = "$ORIGIN broken.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1\nwww A not-an-address\n";
    std::fs::write(zones.join("broken.test.zone"), broken).unwrap();
    let (status, out) = dnsd_check(dir.path(), &[]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("zones/broken.test.zone:6: ")),
        "{out}"
    );
    // Named on the command line, the same file gives the same line.
    let (status, named) = dnsd_check(dir.path(), &["zones/broken.test.zone"]);
    assert_eq!((status, named.as_str()), (1, out.as_str()));
    let (status, good) = dnsd_check(dir.path(), &["zones/front.test.zone"]);
    assert_eq!((status, good.as_str()), (0, ""));

    // A bad configuration: every bad key, with its line.
    std::fs::remove_file(zones.join("broken.test.zone")).unwrap();
    std::fs::write(
        dir.path().join("dnsd.toml"),
        "listen = [\"127.0.0.1:53\"]\n[tcp]\nmax-connections = 0\n[zone.\"front.test\"]\nserial = \"often\"\n",
    )
    .unwrap();
    let (status, out) = dnsd_check(dir.path(), &["--config", "dnsd.toml"]);
    assert_eq!(status, 1, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "dnsd.toml:3: tcp.max-connections: 0 is out of range 1..=1000000",
            "dnsd.toml:5: zone.\"front.test\".serial: expected one of keep, unixtime, date",
        ]
    );
    let (status, out) = dnsd_check(dir.path(), &["--config", "missing.toml"]);
    assert_eq!(status, 1, "{out}");
    assert!(out.starts_with("missing.toml: cannot read: "), "{out}");
}

#[test]
fn the_documented_example_configuration_checks_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let (status, out) = dnsd_check(&root, &["--config", "examples/dnsd.toml"]);
    assert_eq!((status, out.as_str()), (0, ""));
}

#[test]
fn dnsd_serve_refuses_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dnsd.toml"),
        "listen = [\"127.0.0.1:53\"]\nlisten-on = 1\n",
    )
    .unwrap();
    let out = Command::new(bins::path("dnsd"))
        .args(["--config", "dnsd.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("dnsd.toml:2: listen-on: unknown key"),
        "{stderr}"
    );
}

#[test]
fn no_arguments_serve_the_repository_zones_on_127_0_0_1_port_5353() {
    let default: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    if std::net::UdpSocket::bind(default).is_err() || std::net::TcpListener::bind(default).is_err()
    {
        eprintln!("skipped: 127.0.0.1:5353 is in use on this machine");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let zone = std::fs::read_dir(root.join("zones"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".zone")
                .map(str::to_string)
        })
        .min()
        .expect("zones/ holds example zones");
    // As a newcomer runs it: from the repository's root, no arguments.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(bins::path("dnsd"));
    cmd.current_dir(&root)
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap());
    let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
    let deadline = Instant::now() + START_TIMEOUT;
    let query = Query::new(&format!("{zone}."), 6).to_bytes();
    let response = loop {
        if guard.try_wait().is_some() {
            let log = std::fs::read_to_string(log.path()).unwrap_or_default();
            if log.contains("cannot listen on 127.0.0.1:5353") {
                // Another program took the port after the check above.
                eprintln!("skipped: 127.0.0.1:5353 was taken meanwhile:\n{log}");
                return;
            }
            panic!("dnsd exited:\n{log}");
        }
        if let Some(response) = udp_exchange(default, &query, Duration::from_millis(200)) {
            break response;
        }
        assert!(Instant::now() < deadline, "no answer on {default}");
    };
    let over_udp = normalize(&response).unwrap();
    assert_eq!(over_udp.rcode, NOERROR, "{over_udp}");
    assert!(over_udp.flags.contains("aa"), "{over_udp}");
    let over_tcp =
        normalize(&netfabric_tests::dns::tcp_exchange(default, &query, TIMEOUT).unwrap()).unwrap();
    assert_eq!(over_tcp.answer, over_udp.answer);
}

#[test]
fn a_wildcard_listener_answers_from_the_address_asked() {
    // In a namespace of our own, dnsd listens on 0.0.0.0 and [::]; dig (which drops a
    // reply from any other address than the one it asked) asks several addresses of lo.
    let ns = Netns::new("nf-front");
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join("front.test.zone"), front_zone()).unwrap();
    let dnsd = bins::path("dnsd");
    let mut cmd = ns.command(&[
        dnsd.to_str().unwrap(),
        "--listen",
        "0.0.0.0:5300",
        "--listen",
        "[::]:5300",
        "--zones",
        zones.to_str().unwrap(),
    ]);
    cmd.current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
    let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
    for server in ["127.0.0.1", "127.0.0.53", "127.9.8.7", "::1"] {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            assert!(guard.try_wait().is_none(), "dnsd exited");
            let out = ns.exec(&[
                "dig",
                &format!("@{server}"),
                "-p",
                "5300",
                "+tries=1",
                "+time=1",
                "www.front.test.",
                "A",
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("status: NOERROR") && text.contains("198.51.100.10") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no answer from {server}:\n{text}\n{}",
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
        }
    }
}
