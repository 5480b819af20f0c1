//! DNS cookies (RFC 7873, RFC 9018) on the real dnsd, with real clients and peers:
//! dig's and kdig's `+cookie` (a cookie learnt and sent back is good; `+badcookie`
//! retries a BADCOOKIE), Knot sharing dnsd's secret (a cookie either makes is good at
//! the other: RFC 9018's cluster), the cluster's secret rollover done by restarting
//! with a new list of secrets, and Unbound 1.17 (which sends no cookies) resolving
//! through a dnsd that rate limits it: the slip sends it to TCP and it gets answers.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use netfabric_tests::dns::{Query, edns_option, full_rcode};
use netfabric_tests::metrics::{metric, scrape};
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile, free_port};

const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
const NEW_SECRET: &str = "445536bcd2513298075a5d379663c962";
const BADCOOKIE: u16 = 23;

fn zone(dir: &Path) -> Vec<ZoneFile> {
    let path = dir.join("cookie.test.zone");
    std::fs::write(
        &path,
        "$ORIGIN cookie.test.\n$TTL 300\n@ SOA ns h 1 3600 600 86400 300\n@ NS ns\n\
         ns A 127.0.0.1\nwww A 198.51.100.7\n",
    )
    .unwrap();
    vec![ZoneFile {
        name: "cookie.test".into(),
        path,
    }]
}

fn dnsd(zones: &[ZoneFile], toml: &str) -> Server {
    Server::start(
        Kind::Dnsd,
        zones,
        &Options {
            dnsd_config: Some(toml.to_string()),
            ..Options::default()
        },
    )
}

/// Runs dig or kdig at `server` with `args`; its output.
fn run(program: &str, server: SocketAddr, args: &[&str]) -> String {
    let output = Command::new(program)
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The hex digits of the last COOKIE line of dig's or kdig's output (kdig prints
/// every response when it retries a BADCOOKIE).
fn cookie_in(output: &str) -> String {
    output
        .lines()
        .rev()
        .find_map(|l| l.trim_start_matches(';').trim().strip_prefix("COOKIE:"))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_lowercase())
        .unwrap_or_else(|| panic!("no COOKIE in:\n{output}"))
}

/// The status of the last response in dig's or kdig's output.
fn status(output: &str) -> String {
    output
        .lines()
        .rev()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split([',', ';']).next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no status in:\n{output}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A query for www.cookie.test. A with COOKIE data `cookie`, from 127.0.0.1; the
/// response.
fn ask(server: SocketAddr, cookie: &[u8]) -> Vec<u8> {
    let mut q = Query::new("www.cookie.test.", 1);
    if let Some(edns) = q.edns.as_mut() {
        edns.options.push((10, cookie.to_vec()));
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&q.to_bytes(), server).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer");
    buf.truncate(n);
    buf
}

#[test]
fn dig_and_kdig_learn_a_cookie_and_it_is_good() {
    let dir = tempfile::tempdir().unwrap();
    let zones = zone(dir.path());
    let server = dnsd(
        &zones,
        &format!("[cookies]\nsecrets = [\"{SECRET}\"]\nrequire = true\n"),
    );
    for program in ["dig", "kdig"] {
        // First contact: a client cookie only; with `require`, dnsd answers BADCOOKIE
        // with its server cookie, and `+badcookie` retries with it and gets the answer.
        let first = run(
            program,
            server.addr,
            &["+cookie", "+badcookie", "www.cookie.test", "A"],
        );
        assert_eq!(status(&first), "NOERROR", "{program}:\n{first}");
        assert!(first.contains("198.51.100.7"), "{program}:\n{first}");
        let cookie = cookie_in(&first);
        assert_eq!(
            cookie.len(),
            48,
            "{program}: client and server cookie:\n{first}"
        );
        // Sent back, the cookie is good: answered (BADCOOKIE otherwise, `require`).
        let again = run(
            program,
            server.addr,
            &[&format!("+cookie={cookie}"), "www.cookie.test", "A"],
        );
        assert_eq!(status(&again), "NOERROR", "{program}:\n{again}");
        assert!(again.contains("198.51.100.7"), "{program}:\n{again}");
        // Without `+badcookie`, a client cookie alone is refused with BADCOOKIE.
        let plain = run(
            program,
            server.addr,
            &["+cookie", "+nobadcookie", "www.cookie.test", "A"],
        );
        assert_eq!(status(&plain), "BADCOOKIE", "{program}:\n{plain}");
    }
    // dig says the echoed client cookie matched ("good").
    let checked = run(
        "dig",
        server.addr,
        &["+cookie", "+badcookie", "www.cookie.test", "A"],
    );
    assert!(checked.contains("(good)"), "{checked}");
}

#[test]
fn knot_and_dnsd_with_one_secret_accept_each_others_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let zones = zone(dir.path());
    let dnsd = dnsd(
        &zones,
        &format!("[cookies]\nsecrets = [\"{SECRET}\"]\nrequire = true\n"),
    );
    let knot = Server::start(
        Kind::Knot,
        &zones,
        &Options {
            cookie_secret: Some(SECRET.into()),
            ..Options::default()
        },
    );
    let client = *b"cluster!";
    for (maker, checker) in [(&dnsd, &knot), (&knot, &dnsd)] {
        let first = ask(maker.addr, &client);
        let cookie = edns_option(&first, 10).expect("a cookie from the first server");
        assert_eq!(cookie.len(), 24);
        let response = ask(checker.addr, &cookie);
        assert_eq!(
            full_rcode(&response),
            0,
            "{}'s cookie is good at {}",
            maker.kind.name(),
            checker.kind.name()
        );
        let mut tampered = cookie.clone();
        tampered[23] ^= 1;
        assert_eq!(
            full_rcode(&ask(checker.addr, &tampered)),
            BADCOOKIE,
            "{} checks the hash",
            checker.kind.name()
        );
    }
}

/// RFC 9018 §5's rollover in a cluster, as an operator does it with dnsd: add the new
/// secret after the old (checks only), then put it first (makes cookies), then drop
/// the old one. A cookie made under the old secret stays good until the old secret
/// goes; restarts stand in for the configuration change.
#[test]
fn a_secret_rollover_keeps_old_cookies_good_until_the_old_secret_goes() {
    let dir = tempfile::tempdir().unwrap();
    let zones = zone(dir.path());
    let config = |secrets: &[&str]| {
        let list: Vec<String> = secrets.iter().map(|s| format!("\"{s}\"")).collect();
        format!(
            "[cookies]\nsecrets = [{}]\nrequire = true\n",
            list.join(", ")
        )
    };
    let client = *b"rollover";
    let server = dnsd(&zones, &config(&[SECRET]));
    let old = edns_option(&ask(server.addr, &client), 10).unwrap();
    server.stop();

    let server = dnsd(&zones, &config(&[SECRET, NEW_SECRET]));
    let response = ask(server.addr, &old);
    assert_eq!(
        full_rcode(&response),
        0,
        "old cookie, old secret still first"
    );
    server.stop();

    let server = dnsd(&zones, &config(&[NEW_SECRET, SECRET]));
    let response = ask(server.addr, &old);
    assert_eq!(
        full_rcode(&response),
        0,
        "old cookie, old secret still checks"
    );
    let new = edns_option(&response, 10).unwrap();
    assert_ne!(
        new[8..],
        old[8..],
        "a new server cookie, made with the new secret"
    );
    server.stop();

    let server = dnsd(&zones, &config(&[NEW_SECRET]));
    assert_eq!(
        full_rcode(&ask(server.addr, &old)),
        BADCOOKIE,
        "old secret gone"
    );
    assert_eq!(full_rcode(&ask(server.addr, &new)), 0, "{}", hex(&new));
}

/// Unbound 1.17 sends no cookies. Resolving through a dnsd that rate limits its
/// prefix (slip 1: every limited response truncated, while a flood from the same
/// address keeps the bucket empty), it is told TC, retries over TCP and answers.
#[test]
fn unbound_behind_a_limited_prefix_still_gets_answers_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let zones = zone(dir.path());
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = dnsd(
        &zones,
        &format!(
            "metrics = \"{metrics}\"\n[rrl]\nenabled = true\nresponses-per-second = 1\nslip = 1\n"
        ),
    );
    let dnsd_addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let query = Query::new("www.cookie.test.", 1).to_bytes();
            // Bounded: at most 200,000 queries or 60 s.
            let started = std::time::Instant::now();
            for _ in 0..200_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed)
                    || started.elapsed() > Duration::from_secs(60)
                {
                    break;
                }
                let _ = sock.send_to(&query, dnsd_addr);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let port = free_port();
    let conf = dir.path().join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  use-syslog: no\n  \
             logfile: \"\"\n  chroot: \"\"\n  username: \"\"\n  directory: \"{d}\"\n  \
             pidfile: \"{d}/unbound.pid\"\n  do-daemonize: no\n  do-not-query-localhost: no\n  \
             module-config: \"iterator\"\n  access-control: 127.0.0.0/8 allow\n  \
             qname-minimisation: no\n  num-threads: 1\n  outgoing-interface: 127.0.0.1\n  local-zone: \"test.\" nodefault\n\
             forward-zone:\n  name: \".\"\n  forward-addr: {ip}@{dport}\n",
            d = dir.path().display(),
            ip = dnsd_addr.ip(),
            dport = dnsd_addr.port(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new("/usr/sbin/unbound");
    cmd.arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _unbound = ProcessGuard::spawn("unbound", &mut cmd);
    let unbound = SocketAddr::from(([127, 0, 0, 1], port));
    let mut answer = String::new();
    for _ in 0..50 {
        answer = run(
            "dig",
            unbound,
            &["+tries=1", "+time=2", "www.cookie.test", "A"],
        );
        if answer.contains("198.51.100.7") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
    assert!(answer.contains("198.51.100.7"), "{answer}");
    let text = scrape(None, metrics);
    let tcp = metric(
        &text,
        "dnsd_queries_total{transport=\"tcp\",rcode=\"NOERROR\",qtype=\"A\"}",
    )
    .unwrap_or(0);
    assert!(tcp >= 1, "Unbound's retry over TCP:\n{text}");
    assert!(
        text.lines().any(|l| l
            .starts_with("dnsd_rrl_limited_total{kind=\"positive\",action=\"slip\"}")
            && !l.ends_with(" 0")),
        "{text}"
    );
}
