//! The dnsd front, as a client sees it: the real binary on a loopback address, queried
//! over UDP and TCP; TCP pipelining, idle timeout (also: a busy connection stays open)
//! and connection limit; truncation over UDP and the full answer over TCP; `dnsd
//! check`'s exit status and messages; the no-argument default; IP_FREEBIND (an address
//! bound before it exists, answered on once it does); SIGTERM. Metrics are in
//! dnsd_metrics.rs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::bins;
use netfabric_tests::dns::{Query, normalize, tcp_exchange, tcp_recv, tcp_send, udp_exchange};
use netfabric_tests::dnsd::{Dnsd, PATIENCE, front_zone};

const NOERROR: u16 = 0;
const REFUSED: u16 = 5;
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test waits for the server to close a connection it should close.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

/// dnsd serving the front zone on a loopback address, with `config` (TOML without
/// `listen`) when given.
fn start(config: Option<&str>) -> Dnsd {
    let builder = Dnsd::builder().zone("front.test", &front_zone());
    match config {
        Some(config) => builder.config(config),
        None => builder,
    }
    .start()
}

fn id_of(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[0], response[1]])
}

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
    let dnsd = start(None);
    let query = Query::new("WWW.front.test.", 1).to_bytes();
    let over_udp = normalize(&udp_exchange(dnsd.addr, &query, TIMEOUT).unwrap()).unwrap();
    let over_tcp = normalize(&tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap()).unwrap();
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
    let dnsd = start(None);
    let mut conn = dnsd.tcp_connect(TIMEOUT);
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
    let dnsd = start(Some("[tcp]\nidle-timeout-ms = 300\n"));
    let mut silent = dnsd.tcp_connect(TIMEOUT);
    assert!(
        closed_by_peer(&mut silent),
        "a silent connection stays open"
    );
    let mut after_query = dnsd.tcp_connect(TIMEOUT);
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

/// A connection that keeps sending queries is not idle: with a 2 s idle timeout, a
/// query every 100 ms for three idle timeouts is answered on the one connection, which
/// is closed once it falls silent. (A server that closed every connection after some
/// fixed time, or counted the timeout from the connection's start, fails here.)
#[test]
fn a_connection_still_sending_queries_stays_open_past_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(2);
    let dnsd = start(Some("[tcp]\nidle-timeout-ms = 2000\n"));
    // A pause of this test longer than the idle timeout (a stalled machine) makes a
    // close legitimate: that run proves nothing and is made again, at most 3 times.
    for run in 1..=3 {
        let mut conn = dnsd.tcp_connect(TIMEOUT);
        let opened = Instant::now();
        let mut last_answer = Instant::now();
        let mut id = 0u16;
        let mut paused = None;
        while opened.elapsed() < IDLE * 3 {
            std::thread::sleep(IDLE / 20);
            let gap = last_answer.elapsed();
            let mut query = Query::new("www.front.test.", 1);
            query.id = id;
            let answer = tcp_send(&mut conn, &query.to_bytes()).and_then(|()| tcp_recv(&mut conn));
            match answer {
                Ok(response) => assert_eq!(id_of(&response), id, "answers out of order"),
                Err(e) if gap >= IDLE => {
                    paused = Some(format!("run {run}: this test paused {gap:?} ({e})"));
                    break;
                }
                Err(e) => panic!(
                    "query {id} of a busy connection, {:?} after it opened and {gap:?} after \
                     the last answer: {e}\n{}",
                    opened.elapsed(),
                    dnsd.log()
                ),
            }
            last_answer = Instant::now();
            id += 1;
        }
        if let Some(why) = paused {
            eprintln!("{why}; again");
            continue;
        }
        assert!(id >= 30, "only {id} queries in three idle timeouts");
        // Silent now: the idle timeout still applies to it.
        assert!(
            closed_by_peer(&mut conn),
            "the connection stays open once silent"
        );
        return;
    }
    panic!("this test was paused longer than the idle timeout in each of 3 runs");
}

#[test]
fn tcp_connections_beyond_the_limit_are_closed() {
    let dnsd = start(Some("[tcp]\nmax-connections = 2\n"));
    let query = Query::new("www.front.test.", 1).to_bytes();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = dnsd.tcp_connect(TIMEOUT);
        tcp_send(&mut conn, &query).unwrap();
        tcp_recv(&mut conn).unwrap();
        held.push(conn);
    }
    let mut third = dnsd.tcp_connect(TIMEOUT);
    // The server may have closed it already: the send may fail, the close is checked.
    let _ = tcp_send(&mut third, &query);
    assert!(closed_by_peer(&mut third), "a third connection was served");
    // Once one closes, a new connection is served again (the server notices the close
    // asynchronously: poll, bounded).
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut conn = dnsd.tcp_connect(TIMEOUT);
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
    let dnsd = start(None);
    let query = Query::new("big.front.test.", 16).no_edns().to_bytes();
    let datagram = udp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    assert!(datagram.len() <= 512, "{} octets over UDP", datagram.len());
    let over_udp = normalize(&datagram).unwrap();
    assert!(over_udp.flags.contains("tc"), "{over_udp}");
    let stream = tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    let over_tcp = normalize(&stream).unwrap();
    assert!(!over_tcp.flags.contains("tc"), "{over_tcp}");
    let txts: usize = over_tcp.answer.values().map(|rdatas| rdatas.len()).sum();
    assert_eq!(txts, 40, "{over_tcp}");
}

/// IP_FREEBIND: dnsd, in a namespace of its own, listens on 198.51.100.53:53 before
/// that address is on any interface (a VRRP address before it moves to this host):
/// the kernel lists both sockets as dnsd's; once the address is added, queries to it
/// are answered over UDP and TCP, from that address.
#[test]
fn a_listener_binds_an_address_before_it_exists_and_answers_on_it_once_it_does() {
    let dnsd = Dnsd::builder()
        .zone("front.test", &front_zone())
        .private_netns()
        .listen("127.0.0.1:53".parse().unwrap())
        .listen("198.51.100.53:53".parse().unwrap())
        .start();
    let ns = dnsd.netns().expect("a namespace");
    let owner = format!("pid={},", dnsd.pid());
    for (flags, transport) in [("-Hlnup", "udp"), ("-Hlntp", "tcp")] {
        let out = ns.exec_ok(&["ss", flags]);
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            listed
                .lines()
                .any(|l| l.contains("198.51.100.53:53 ") && l.contains(&owner)),
            "no {transport} socket of dnsd ({owner}) on 198.51.100.53:53:\n{listed}"
        );
    }
    let addresses = ns.exec_ok(&["ip", "-o", "addr", "show"]);
    let addresses = String::from_utf8_lossy(&addresses.stdout).into_owned();
    assert!(!addresses.contains("198.51.100.53"), "{addresses}");
    ns.exec_ok(&["ip", "addr", "add", "198.51.100.53/32", "dev", "lo"]);
    for transport in ["+notcp", "+tcp"] {
        // dig drops a reply from any other address than the one it asked.
        let out = ns.exec(&[
            "dig",
            "@198.51.100.53",
            "-p",
            "53",
            transport,
            "+tries=3",
            "+time=5",
            "www.front.test.",
            "A",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("status: NOERROR") && text.contains("198.51.100.10"),
            "no answer on 198.51.100.53 ({transport}):\n{text}\n{}",
            dnsd.log()
        );
    }
}

#[test]
fn sigterm_stops_cleanly() {
    let mut dnsd = start(None);
    let status = dnsd.terminate(TIMEOUT).expect("dnsd exited");
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
    for example in [
        "examples/dnsd.toml",
        "examples/internet.toml",
        "examples/dynamic.toml",
        "examples/primary.toml",
        "examples/secondary.toml",
        "examples/signed.toml",
        "examples/resolver.toml",
    ] {
        let (status, out) = dnsd_check(&root, &["--config", example]);
        assert_eq!((status, out.as_str()), (0, ""), "{example}");
    }
}

#[test]
fn dnsd_serve_refuses_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dnsd.toml"),
        "listen = [\"127.0.0.1:53\"]\nlisten-on = 1\n",
    )
    .unwrap();
    // In a namespace of its own: were the file taken, port 53 there is nobody's.
    let (status, log) = Dnsd::builder()
        .as_is(
            dir.path(),
            &["--config", "dnsd.toml"],
            "127.0.0.1:53".parse().unwrap(),
            "front.test",
        )
        .run_to_exit();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(
        log.starts_with("dnsd.toml:2: listen-on: unknown key"),
        "{log}"
    );
}

/// As a newcomer runs it: `dnsd` with no argument, from the repository's root, serves
/// zones/ on 127.0.0.1:5353. In a namespace of its own, where that port is always
/// free: a port taken on this machine cannot turn the test into a pass or a skip.
#[test]
fn no_arguments_serve_the_repository_zones_on_127_0_0_1_port_5353() {
    let default: SocketAddr = "127.0.0.1:5353".parse().unwrap();
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
    let dnsd = Dnsd::builder()
        .no_arguments(&root, &zone)
        .private_netns()
        .start();
    assert_eq!(dnsd.addr, default);
    let query = Query::new(&format!("{zone}."), 6).to_bytes();
    let response = dnsd
        .exchange(&query, TIMEOUT)
        .unwrap_or_else(|| panic!("no answer on {default}:\n{}", dnsd.log()));
    let over_udp = normalize(&response).unwrap();
    assert_eq!(over_udp.rcode, NOERROR, "{over_udp}");
    assert!(over_udp.flags.contains("aa"), "{over_udp}");
    let over_tcp = dnsd
        .run_in(|| tcp_exchange(default, &query, TIMEOUT))
        .unwrap_or_else(|e| panic!("over TCP on {default}: {e}\n{}", dnsd.log()));
    let over_tcp = normalize(&over_tcp).unwrap();
    assert_eq!(over_tcp.answer, over_udp.answer);
}

#[test]
fn a_wildcard_listener_answers_from_the_address_asked() {
    // In a namespace of our own, dnsd listens on 0.0.0.0 and [::]; dig (which drops a
    // reply from any other address than the one it asked) asks several addresses of lo.
    let mut dnsd = Dnsd::builder()
        .zone("front.test", &front_zone())
        .private_netns()
        .listen("0.0.0.0:5300".parse().unwrap())
        .listen("[::]:5300".parse().unwrap())
        .start();
    for server in ["127.0.0.1", "127.0.0.53", "127.9.8.7", "::1"] {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(dnsd.is_running(), "dnsd exited:\n{}", dnsd.log());
            let ns = dnsd.netns().expect("a namespace");
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
                dnsd.log()
            );
        }
    }
}
