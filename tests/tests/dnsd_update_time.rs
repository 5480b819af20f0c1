//! TSIG time checks on RFC 2136 updates (RFC 8945 §5.2.3), differential with BIND: the
//! same UPDATE, signed with the same key at a time outside the fudge (in the past and
//! in the future), sent to dnsd and to BIND, gets NOTAUTH with the TSIG error BADTIME,
//! a MAC (the error is signed), and the server's own time in the Other Data — on both,
//! with the same Time Signed rule; the record is not added. Inside the fudge the same
//! update is applied by both. Then `dnsd ctl status` (the binary) shows the update
//! source's counters by key.
//!
//! `clients_with_a_clock_off_get_badtime_like_bind`: Knot's client, `knsupdate`, run
//! under libfaketime (Debian's faketime) with its clock 1000 s behind, then ahead. A
//! relay in the test takes each request and sends the same bytes to dnsd, BIND and
//! Knot; every answer is NOTAUTH/BADTIME, signed, with the server's own time in the
//! Other Data, with the same Time Signed rule on all three, the zone section echoed
//! (dnsd's had none before). The client is given dnsd's answer, then BIND's: it
//! prints the same of both (it printed `ZONE: 0` for dnsd's before).

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dnsd::tsig::{Key, keyfile, sign_request};
use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::process::run_with_input;
use netfabric_tests::update::{Peer, bind_with, knot_with};

const ZONE: &str = "$ORIGIN dyn.test.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";

const SECRET: &str = "dXBkYXRlLWtleS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=";
const KEYS: &str = "key \"upd.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"dXBkYXRlLWtleS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=\";\n};\n";

/// NOTAUTH (RFC 2136 §2.2) and BADTIME (RFC 8945 §3).
const NOTAUTH: u8 = 9;
const BADTIME: u16 = 18;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An UPDATE of dyn.test adding `owner` (a label under it) 300 A `addr`.
fn update_message(id: u16, owner: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x28, 0x00]); // opcode UPDATE
    m.extend_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0]); // 1 zone, 0 prereq, 1 update, 0 additional
    let name = |m: &mut Vec<u8>, labels: &[&str]| {
        for label in labels {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
    };
    name(&mut m, &["dyn", "test"]);
    m.extend_from_slice(&[0, 6, 0, 1]); // SOA IN
    name(&mut m, &[owner, "dyn", "test"]);
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 1, 44, 0, 4]); // A IN 300, rdlen 4
    m.extend_from_slice(&addr);
    m
}

/// What a response's TSIG record says.
#[derive(Debug)]
struct Seen {
    rcode: u8,
    time_signed: u64,
    mac_len: usize,
    error: u16,
    other: Vec<u8>,
}

fn skip_name(m: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let len = *m.get(p)? as usize;
        if len & 0xc0 == 0xc0 {
            return Some(p + 2);
        }
        if len == 0 {
            return Some(p + 1);
        }
        p += 1 + len;
    }
}

fn u16_at(m: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(p)?, *m.get(p + 1)?]))
}

/// The RCODE and the TSIG record of response `m`.
fn tsig_of(m: &[u8]) -> Option<Seen> {
    let rcode = m.get(3)? & 0x0f;
    let count = |i| u16_at(m, i).map(usize::from);
    let (zones, rrs) = (count(4)?, count(6)? + count(8)? + count(10)?);
    let mut p = 12;
    for _ in 0..zones {
        p = skip_name(m, p)? + 4;
    }
    for _ in 0..rrs {
        p = skip_name(m, p)?;
        let rtype = u16_at(m, p)?;
        let rdlen = usize::from(u16_at(m, p + 8)?);
        let rdata = m.get(p + 10..p + 10 + rdlen)?;
        p += 10 + rdlen;
        if rtype != 250 {
            continue;
        }
        let q = skip_name(rdata, 0)?;
        let time = rdata.get(q..q + 6)?;
        let time_signed = time.iter().fold(0u64, |t, b| (t << 8) | u64::from(*b));
        let mac_len = usize::from(u16_at(rdata, q + 8)?);
        let r = q + 10 + mac_len + 2;
        let error = u16_at(rdata, r)?;
        let other_len = usize::from(u16_at(rdata, r + 2)?);
        let other = rdata.get(r + 4..r + 4 + other_len)?.to_vec();
        return Some(Seen {
            rcode,
            time_signed,
            mac_len,
            error,
            other,
        });
    }
    None
}

fn exchange(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.send_to(msg, addr).expect("send");
    let mut buf = vec![0u8; 4096];
    let n = socket.recv(&mut buf).expect("a response within 5 s");
    buf.truncate(n);
    buf
}

/// dnsd and BIND serving dyn.test, both granting `upd.key` (its key file written in
/// `dir`) updates anywhere in the zone.
fn dnsd_and_bind(dir: &std::path::Path) -> (Dnsd, Peer) {
    let keys = dir.join("update.key");
    std::fs::write(&keys, KEYS).expect("keys");
    let dnsd = Dnsd::builder()
        .zone("dyn.test", ZONE)
        .config(&format!(
            "[update]\nkey-files = [\"{}\"]\n\
             [[update.grant]]\nkey = \"upd.key\"\nmatch = \"zonesub\"\n",
            keys.display()
        ))
        .start();
    let bind = bind_with(
        "dyn.test",
        ZONE,
        "update-policy { grant upd.key zonesub; };",
        &format!("include \"{}\";", keys.display()),
    );
    (dnsd, bind)
}

#[test]
fn update_signed_outside_the_fudge_gets_badtime_like_bind() {
    let dir = tempfile::tempdir().expect("dir");
    let (dnsd, bind) = dnsd_and_bind(dir.path());
    let spec = keyfile::parse(KEYS)
        .expect("key file")
        .into_iter()
        .next()
        .expect("one key");
    let key = Arc::new(Key::new(&spec.name, spec.algorithm, &spec.secret));

    let mut table = Vec::new();
    let mut rules = Vec::new();
    for (what, skew, owner) in [("past", -1000i64, "late"), ("future", 1000, "early")] {
        let mut rule = Vec::new();
        for (server, addr) in [("dnsd", dnsd.addr), ("bind", bind.addr)] {
            let before = now();
            let signed_at = before.saturating_add_signed(skew);
            let mut msg = update_message(0x5a5a, owner, [198, 51, 100, 33]);
            sign_request(&key, &mut msg, signed_at);
            let response = exchange(addr, &msg);
            let after = now();
            let seen = tsig_of(&response)
                .unwrap_or_else(|| panic!("{what}: {server}: no TSIG in {response:02x?}"));
            table.push(format!("{what}: {server}: {seen:?}"));
            assert_eq!(seen.rcode, NOTAUTH, "{what}: {server}: {seen:?}");
            assert_eq!(seen.error, BADTIME, "{what}: {server}: {seen:?}");
            assert!(seen.mac_len > 0, "{what}: {server}: BADTIME unsigned");
            // Other Data: the server's time, 48 bits (RFC 8945 §5.2.3).
            assert_eq!(seen.other.len(), 6, "{what}: {server}: {seen:?}");
            let server_time = seen
                .other
                .iter()
                .fold(0u64, |t, b| (t << 8) | u64::from(*b));
            assert!(
                (before..=after).contains(&server_time),
                "{what}: {server}: other data {server_time}, not now ({before}..{after})"
            );
            rule.push(if seen.time_signed == signed_at {
                "the request's time"
            } else if (before..=after).contains(&seen.time_signed) {
                "the server's time"
            } else {
                "neither"
            });
            assert!(
                short(addr, &format!("{owner}.dyn.test."), "A").is_empty(),
                "{what}: {server} applied an update signed outside the fudge"
            );
        }
        rules.push(rule);
    }
    eprintln!("{}", table.join("\n"));
    for rule in &rules {
        assert_eq!(
            rule[0],
            rule[1],
            "Time Signed: dnsd vs BIND\n{}",
            table.join("\n")
        );
    }

    // Inside the fudge (300 s): applied by both.
    for addr in [dnsd.addr, bind.addr] {
        let mut msg = update_message(0x5a5b, "near", [198, 51, 100, 34]);
        sign_request(&key, &mut msg, now() - 200);
        let seen = tsig_of(&exchange(addr, &msg)).expect("TSIG");
        assert_eq!((seen.rcode, seen.error), (0, 0), "{seen:?}");
        assert_eq!(short(addr, "near.dyn.test.", "A"), ["198.51.100.34"]);
    }

    // `dnsd ctl status`: the update source's counters by key.
    let (ok, status) = dnsd.ctl_binary(&["status"]);
    assert!(ok, "{status}");
    for line in [
        "source update key=bad-tsig NOTAUTH=2\n",
        "source update key=upd.key. NOERROR=1\n",
        "source update requests=3 commits=1 ",
    ] {
        assert!(status.contains(line), "{line:?} not in\n{status}");
    }
}

/// What one server answered a relayed request: the checks common to every server, and
/// the Time Signed rule ("request" or "server").
fn badtime_answer(what: &str, response: &[u8], request_time: u64, before: u64) -> &'static str {
    let after = now();
    let seen = tsig_of(response).unwrap_or_else(|| panic!("{what}: no TSIG in {response:02x?}"));
    assert_eq!(
        (seen.rcode, seen.error),
        (NOTAUTH, BADTIME),
        "{what}: {seen:?}"
    );
    assert!(seen.mac_len > 0, "{what}: BADTIME unsigned");
    assert_eq!(seen.other.len(), 6, "{what}: {seen:?}");
    let server_time = seen
        .other
        .iter()
        .fold(0u64, |t, b| (t << 8) | u64::from(*b));
    assert!(
        (before..=after).contains(&server_time),
        "{what}: other data {server_time}, not the server's time ({before}..{after})"
    );
    if seen.time_signed == request_time {
        "request"
    } else if (before..=after).contains(&seen.time_signed) {
        "server"
    } else {
        "neither"
    }
}

/// A request relayed, and every server's answer to it.
type Relayed = (Vec<u8>, Vec<Vec<u8>>);

/// What a client printed, without what differs from one request to the next (the
/// message ID; the TSIG record's times, MAC and original ID).
fn normalised(text: &str) -> String {
    text.lines()
        .map(|line| {
            if let Some((head, _)) = line.split_once("; id: ") {
                return format!("{head}; id: ID");
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.iter().position(|f| *f == "TSIG") {
                Some(t) if fields.len() > t + 9 => fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match i.checked_sub(t) {
                        Some(2) => "TIME",
                        Some(5) => "MAC",
                        Some(6) => "ID",
                        Some(n) if n >= 9 && f.chars().all(|c| c.is_ascii_digit()) => "OTHER",
                        _ => f,
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `client` (with `args`, script `script`) under libfaketime, `skew` off, with a
/// relay in between: each request it sends goes to every one of `servers` as it is,
/// and the client gets the answer of `servers[answer]`. (What the client printed and
/// its exit status; each request with every server's answer.)
fn relayed(
    client: &str,
    args: &[&str],
    script: &str,
    skew: &str,
    servers: &[SocketAddr],
    answer: usize,
) -> (String, Vec<Relayed>) {
    let relay = UdpSocket::bind("127.0.0.1:0").expect("bind");
    relay
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let port = relay.local_addr().expect("address").port();
    let done = Arc::new(AtomicBool::new(false));
    let relaying = {
        let (done, servers) = (done.clone(), servers.to_vec());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 65535];
            while !done.load(Ordering::Relaxed) {
                let Ok((n, from)) = relay.recv_from(&mut buf) else {
                    continue;
                };
                let request = buf[..n].to_vec();
                let answers: Vec<Vec<u8>> =
                    servers.iter().map(|s| exchange(*s, &request)).collect();
                relay.send_to(&answers[answer], from).expect("answer");
                seen.push((request, answers));
            }
            seen
        })
    };
    let script = script.replace("PORT", &port.to_string());
    // libfaketime preloaded as the `faketime` wrapper would, without the wrapper: it
    // names a semaphore after its PID and leaves it in /dev/shm when the process is
    // killed, and a later wrapper with the same PID then stops ("sem_open: File
    // exists"). Without FAKETIME_SHARED no semaphore is made.
    let out = run_with_input(
        Command::new(client)
            .args(args)
            .env("LD_PRELOAD", faketime_lib())
            .env("FAKETIME", skew),
        &script,
    );
    done.store(true, Ordering::Relaxed);
    let seen = relaying.join().expect("relay");
    let text = format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, seen)
}

/// libfaketime, from Debian's multiarch folder of this machine.
fn faketime_lib() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime (package faketime) installed")
}

#[test]
fn clients_with_a_clock_off_get_badtime_like_bind() {
    let dir = tempfile::tempdir().expect("dir");
    let (dnsd, bind) = dnsd_and_bind(dir.path());
    let knot = knot_with(
        "dyn.test",
        ZONE,
        "key: upd.key",
        &format!("key:\n  - id: upd.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n"),
    );
    let servers = [
        ("dnsd", dnsd.addr),
        ("bind", bind.addr),
        ("knot", knot.addr),
    ];
    let addrs: Vec<SocketAddr> = servers.iter().map(|(_, a)| *a).collect();
    let key = format!("hmac-sha256:upd.key:{SECRET}");
    let script = "server 127.0.0.1 PORT\nzone dyn.test.\n\
                  update add skewed.dyn.test. 300 A 198.51.100.35\nsend\n";
    let mut table = Vec::new();
    // BIND's nsupdate cannot run under libfaketime (it stops at "unexpected recursive
    // calls to clock_gettime()", jemalloc's start): the crafted message of the test
    // above stands for it.
    for (client, args) in [("knsupdate", ["-y", key.as_str(), "-t", "5", "-r", "0"])] {
        for skew in ["-1000s", "+1000s"] {
            let mut said = Vec::new();
            for (answer, (server, _)) in servers.iter().enumerate().take(2) {
                let what = format!("{client} {skew}, answered by {server}");
                let before = now();
                let (text, seen) = relayed(client, &args, script, skew, &addrs, answer);
                assert!(!seen.is_empty(), "{what}: no request\n{text}");
                for (request, answers) in &seen {
                    let request_time = tsig_of(request)
                        .unwrap_or_else(|| panic!("{what}: unsigned request"))
                        .time_signed;
                    let off = request_time.abs_diff(before);
                    assert!((900..1100).contains(&off), "{what}: clock {off} s off");
                    let rules: Vec<&str> = servers
                        .iter()
                        .zip(answers)
                        .map(|((s, _), a)| {
                            badtime_answer(&format!("{what}: {s}"), a, request_time, before)
                        })
                        .collect();
                    let zones: Vec<u8> = answers
                        .iter()
                        .map(|a| a.get(5).copied().unwrap_or(0))
                        .collect();
                    table.push(format!(
                        "{what}: dnsd, bind, knot: Time Signed {rules:?}, ZOCOUNT {zones:?}"
                    ));
                    // dnsd, BIND and Knot: the same Time Signed, the zone section echoed.
                    assert!(
                        rules.iter().all(|r| *r == rules[0]) && zones == [1, 1, 1],
                        "{what}: dnsd, bind, knot: {rules:?}, ZOCOUNT {zones:?}"
                    );
                }
                table.push(format!("{what}: the client said: {text}"));
                said.push(normalised(&text));
            }
            assert_eq!(
                said[0], said[1],
                "{client} {skew}: what the client says of dnsd's answer and of BIND's"
            );
        }
    }
    eprintln!("{}", table.join("\n"));
    for (server, addr) in servers {
        assert!(
            short(addr, "skewed.dyn.test.", "A").is_empty(),
            "{server} applied an update signed outside the fudge"
        );
    }
}
