//! Runs one scenario against the real dnsd:
//!
//! ```text
//!  namespace rpl-d                           namespace rpl-s
//!  dnsd on 127.0.0.1:53 (role both)          lo: every address the scenario (no dummy
//!  client steps from a thread here           interfaces here) names (RANGE ADDRESS, stub/forward
//!  veth 198.18.0.1/30, 2001:db8:ffff::1 ───► addresses, A/AAAA data of its entries)
//!  default routes via the peer               veth 198.18.0.2/30, 2001:db8:ffff::2
//! ```
//!
//! The two namespaces are linked only to each other: the scenario's addresses (often
//! public ones, e.g. K-root's 193.0.14.129) exist inside them and nothing can leave
//! (shared/TESTNET.md). dnsd's configuration comes from the scenario's: the `.`
//! stub's addresses become its root hints, other stub and forward zones
//! `[resolver.forward]`, `trust-anchor` lines its anchor file (an anchor for
//! `replay.invalid.` when there is none: nothing validated), `domain-insecure` its
//! insecure domains, `qname-minimisation` and `prefetch` as given (Unbound's defaults
//! otherwise: on, off), serve-stale off; `val-override-date` runs it under libfaketime
//! at that date (wall clock only: the monotonic clock of its cache is left alone).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::Message;

use super::parse::{Scenario, StepKind};
use super::server::{self, State};
use super::wire::{self, Grade};
use crate::netns::{Netns, veth};
use crate::process::ProcessGuard;

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The worst grade over its CHECK_ANSWER steps (Fail when it could not run).
    pub grade: Grade,
    /// Why it is short of Full: one line per difference, with the step.
    pub reasons: Vec<String>,
    /// The fake servers' log (questions asked and the entries that answered).
    pub traffic: Vec<String>,
}

impl Outcome {
    /// A scenario that could not run, and why.
    pub fn failed(reason: String) -> Self {
        Self::broken(reason)
    }

    fn broken(reason: String) -> Self {
        Self {
            grade: Grade::Fail,
            reasons: vec![reason],
            traffic: Vec::new(),
        }
    }
}

/// How long dnsd may take to answer a step's query.
const ANSWER_WAIT: Duration = Duration::from_secs(12);

/// Every address the fake servers must own (loopback ones excepted: dnsd's own).
pub fn server_addresses(s: &Scenario) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut add = |a: IpAddr| {
        if !a.is_loopback() && !a.is_unspecified() && !a.is_multicast() && !addrs.contains(&a) {
            addrs.push(a);
        }
    };
    for r in &s.ranges {
        r.addrs.iter().copied().for_each(&mut add);
        for e in &r.entries {
            for line in e.sections[1..].iter().flatten() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Some(i) = words.iter().position(|w| *w == "A" || *w == "AAAA")
                    && let Some(Ok(a)) = words.get(i + 1).map(|w| w.parse())
                {
                    add(a);
                }
            }
        }
    }
    s.config
        .all("stub-addr")
        .filter_map(super::parse::parse_addr)
        .for_each(&mut add);
    for zone in s.config.stubs.iter().chain(&s.config.forwards) {
        zone.addrs
            .iter()
            .filter_map(|a| super::parse::parse_addr(a))
            .for_each(&mut add);
    }
    addrs
}

/// dnsd's configuration files for `s` in `dir`; Err when the scenario needs what
/// cannot be said in it.
pub fn write_config(s: &Scenario, dir: &Path) -> Result<(), String> {
    let c = &s.config;
    let mut forward = String::new();
    let mut hints = String::new();
    let quoted = |addrs: &[String]| -> String {
        addrs
            .iter()
            .filter_map(|a| super::parse::parse_addr(a))
            .map(|a| format!("\"{}\"", SocketAddr::new(a, 53)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Deckard names the root's servers with server-level `stub-addr` lines.
    let mut root: Vec<IpAddr> = c
        .all("stub-addr")
        .filter_map(super::parse::parse_addr)
        .collect();
    for zone in c.stubs.iter().chain(&c.forwards) {
        let name = zone.name.trim_end_matches('.');
        if name.is_empty() && c.stubs.contains(zone) {
            root.extend(
                zone.addrs
                    .iter()
                    .filter_map(|a| super::parse::parse_addr(a)),
            );
        } else {
            let name = if name.is_empty() { "." } else { name };
            let _ = writeln!(forward, "\"{name}\" = [{}]", quoted(&zone.addrs));
        }
    }
    for (i, a) in root.iter().enumerate() {
        let t = if a.is_ipv4() { "A" } else { "AAAA" };
        let _ = writeln!(hints, ". 3600000 NS hint{i}.replay.invalid.");
        let _ = writeln!(hints, "hint{i}.replay.invalid. 3600000 {t} {a}");
    }
    if hints.is_empty() {
        // Forwarded only: hints that lead nowhere (an address no one serves).
        hints =
            ". 3600000 NS hint.replay.invalid.\nhint.replay.invalid. 3600000 A 198.18.0.3\n".into();
    }
    let anchors: Vec<&str> = c.all("trust-anchor").collect();
    let anchor = if anchors.is_empty() {
        format!("replay.invalid. 3600 IN DS 1 8 2 {}\n", "00".repeat(32))
    } else {
        let mut text = String::new();
        for a in &anchors {
            text.push_str(&wire::anchor_as_ds(a)?);
            text.push('\n');
        }
        text
    };
    let yes = |key: &str, default: bool| match c.get(key) {
        Some(v) => v == "yes" || v == "on",
        None => default,
    };
    let insecure: Vec<String> = c
        .all("domain-insecure")
        .map(|d| format!("\"{}\"", d.trim_end_matches('.')))
        .collect();
    std::fs::create_dir_all(dir.join("zones")).map_err(|e| e.to_string())?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("root.hints", &hints)?;
    write("anchor", &anchor)?;
    write(
        "zones/probe.replay.invalid.zone",
        "$ORIGIN probe.replay.invalid.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 127.0.0.1\n",
    )?;
    let config = format!(
        "zones-dir = \"zones\"\nstate-dir = \"state\"\n\
         [[listener]]\naddress = \"127.0.0.1:53\"\nrole = \"both\"\n\
         [resolver]\nroot-hints = \"root.hints\"\ntrust-anchor = \"anchor\"\n\
         qname-minimisation = {}\nprefetch = {}\nserve-stale-secs = 0\n\
         insecure-domains = [{}]\n{}",
        yes("qname-minimisation", true) && yes("query-minimization", true),
        yes("prefetch", false),
        insecure.join(", "),
        if forward.is_empty() {
            String::new()
        } else {
            format!("[resolver.forward]\n{forward}")
        },
    );
    write("dnsd.toml", &config)
}

/// libfaketime's start time for a `val-override-date` ("20070916134226").
fn fake_time(date: &str) -> Option<String> {
    let d = date.trim();
    if d.len() != 14 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "@{}-{}-{} {}:{}:{}",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12],
        &d[12..14]
    ))
}

/// Unix time `t` as "YYYY-MM-DD HH:MM:SS" (UTC; H. Hinnant's days-to-civil).
fn civil(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The network: dnsd's namespace and the servers' one, linked by a veth pair.
fn network(addrs: &[IpAddr]) -> (Netns, Netns) {
    let client = Netns::new("rpl-d");
    let servers = Netns::new("rpl-s");
    veth(&client, "rpl-a", &servers, "rpl-b");
    for (ns, v4, v6, dev) in [
        (&client, "198.18.0.1/30", "2001:db8:ffff::1/64", "rpl-a"),
        (&servers, "198.18.0.2/30", "2001:db8:ffff::2/64", "rpl-b"),
    ] {
        ns.exec_ok(&["ip", "addr", "add", v4, "dev", dev]);
        ns.exec_ok(&["ip", "-6", "addr", "add", v6, "dev", dev, "nodad"]);
    }
    client.exec_ok(&["ip", "route", "add", "default", "via", "198.18.0.2"]);
    client.exec_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:ffff::2",
    ]);
    for a in addrs {
        let (prefix, extra): (&str, &[&str]) = if a.is_ipv4() {
            ("32", &[])
        } else {
            ("128", &["nodad"])
        };
        let mut argv = vec![
            "ip".to_string(),
            "addr".into(),
            "add".into(),
            format!("{a}/{prefix}"),
        ];
        argv.extend(["dev", "lo"].iter().chain(extra).map(|s| s.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        servers.exec_ok(&argv);
    }
    (client, servers)
}

/// One UDP exchange from the current thread (inside dnsd's namespace).
fn exchange(request: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(ANSWER_WAIT)).ok()?;
    socket.send_to(request, "127.0.0.1:53").ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Runs `scenario` against the dnsd binary `dnsd`.
pub fn run(scenario: &Scenario, dnsd: &Path) -> Outcome {
    let dir = match tempfile::Builder::new().prefix("nf-replay-").tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::broken(format!("temporary folder: {e}")),
    };
    if let Err(e) = write_config(scenario, dir.path()) {
        return Outcome::broken(format!("configuration: {e}"));
    }
    let addrs = server_addresses(scenario);
    let (client, servers) = network(&addrs);
    let state = State::new(scenario.clone());
    let threads = match servers.run_in(|| server::serve(&state, &addrs)) {
        Ok(t) => t,
        Err(e) => return Outcome::broken(format!("replay servers: {e}")),
    };
    let log = match std::fs::File::create(dir.path().join("dnsd.log")) {
        Ok(f) => f,
        Err(e) => return Outcome::broken(format!("log: {e}")),
    };
    let mut cmd = client.command(&[]);
    cmd.current_dir(dir.path());
    let date = match scenario.config.get("val-override-timestamp") {
        Some(ts) => ts
            .trim()
            .parse::<i64>()
            .ok()
            .map(|t| format!("@{}", civil(t))),
        None => scenario.config.get("val-override-date").and_then(fake_time),
    };
    if let Some(date) = date {
        cmd.env("FAKETIME", date)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env(
                "LD_PRELOAD",
                "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
            );
    }
    cmd.arg(dnsd)
        .args(["--config", "dnsd.toml"])
        // REPLAY_RUST_LOG (debug, say) to see why dnsd answered as it did: its log
        // lines are added to the traffic printed.
        .env(
            "RUST_LOG",
            std::env::var("REPLAY_RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_or(Stdio::null(), Stdio::from))
        .stderr(Stdio::from(log));
    let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
    let probe = crate::dns::Query::new("probe.replay.invalid.", 6).to_bytes();
    let up = crate::process::wait_until(crate::dnsd::PATIENCE, || {
        guard.try_wait().is_some()
            || client
                .run_in(|| {
                    crate::dns::udp_exchange(
                        "127.0.0.1:53".parse().ok()?,
                        &probe,
                        Duration::from_millis(200),
                    )
                })
                .is_some()
    });
    let dnsd_log = || std::fs::read_to_string(dir.path().join("dnsd.log")).unwrap_or_default();
    let mut outcome = if !up || guard.try_wait().is_some() {
        Outcome::broken(format!("dnsd did not start: {}", dnsd_log()))
    } else {
        play(scenario, &client, &state)
    };
    guard.kill();
    state.stop();
    for t in threads {
        let _ = t.join();
    }
    outcome.traffic = state.log.lock().map(|l| l.clone()).unwrap_or_default();
    if std::env::var_os("REPLAY_RUST_LOG").is_some() {
        outcome
            .traffic
            .extend(dnsd_log().lines().map(|l| format!("dnsd: {l}")));
    }
    outcome
}

/// Plays the steps; the worst grade and the reasons.
fn play(scenario: &Scenario, client: &Netns, state: &Arc<State>) -> Outcome {
    let (answers_tx, answers_rx) = mpsc::channel::<(u32, Option<Vec<u8>>)>();
    let mut outcome = Outcome {
        grade: Grade::Full,
        reasons: Vec::new(),
        traffic: Vec::new(),
    };
    let mut pending = 0usize;
    let mut received: Vec<(u32, Vec<u8>)> = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        // testbound answers the resolver's queries at the moment after a QUERY;
        // Deckard at the QUERY step itself, whose answer it awaits there (its ranges
        // end there, e.g. `RANGE_BEGIN 0 10` for `STEP 10 QUERY`, `STEP 11
        // CHECK_ANSWER`): its CHECK_ANSWER steps leave the servers' step alone.
        let now = match step.kind {
            StepKind::Query if !scenario.deckard => {
                scenario.steps.get(i + 1).map_or(step.n, |s| s.n)
            }
            StepKind::CheckAnswer if scenario.deckard => state.step.load(Ordering::Relaxed),
            _ => step.n,
        };
        state.step.store(now, Ordering::Relaxed);
        match (&step.kind, &step.entry) {
            (StepKind::Query, Some(entry)) => {
                let request = match wire::client_query(entry) {
                    Ok(r) => r,
                    Err(e) => return Outcome::broken(format!("step {}: query: {e}", step.n)),
                };
                let tx = answers_tx.clone();
                let n = step.n;
                let _ = client.spawn_thread(move || {
                    let _ = tx.send((n, exchange(&request)));
                });
                pending += 1;
            }
            (StepKind::CheckAnswer, Some(entry)) => {
                // The first answer received that matches, else the oldest one's diff.
                let mut best: Option<(Grade, Vec<String>, usize)> = None;
                loop {
                    for (at, (q, bytes)) in received.iter().enumerate() {
                        let graded = match Message::from_vec(bytes) {
                            Ok(m) => wire::check(entry, &m, bytes),
                            Err(e) => Ok((Grade::Fail, vec![format!("unparsable answer: {e}")])),
                        };
                        let (g, mut why) = match graded {
                            Ok(x) => x,
                            Err(e) => {
                                return Outcome::broken(format!("step {}: entry: {e}", step.n));
                            }
                        };
                        why.iter_mut()
                            .for_each(|w| *w = format!("step {} (query of step {q}): {w}", step.n));
                        if best.as_ref().is_none_or(|(b, _, _)| g > *b) {
                            best = Some((g, why, at));
                        }
                    }
                    if best.as_ref().is_some_and(|(g, _, _)| *g != Grade::Fail) || pending == 0 {
                        break;
                    }
                    match answers_rx.recv_timeout(ANSWER_WAIT + Duration::from_secs(3)) {
                        Ok((q, Some(bytes))) => {
                            pending -= 1;
                            received.push((q, bytes));
                        }
                        Ok((q, None)) => {
                            pending -= 1;
                            outcome.reasons.push(format!("step {}: no answer to the query of step {q} within {ANSWER_WAIT:?}", step.n));
                        }
                        Err(_) => break,
                    }
                }
                match best {
                    Some((g, why, at)) => {
                        outcome.grade = outcome.grade.min(g);
                        outcome.reasons.extend(why);
                        // The answer checked is used up (testbound removes it).
                        received.remove(at);
                    }
                    None => {
                        outcome.grade = Grade::Fail;
                        if outcome.reasons.is_empty() {
                            outcome.reasons.push(format!("step {}: no answer", step.n));
                        }
                    }
                }
            }
            (StepKind::Traffic, _) => std::thread::sleep(Duration::from_millis(300)),
            (kind, _) => {
                return Outcome::broken(format!(
                    "step {}: {kind:?} not supported by the runner",
                    step.n
                ));
            }
        }
    }
    outcome
}
