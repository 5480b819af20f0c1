//! A policy change of a running, signed zone (ECDSAP256SHA256 to ED25519 by SIGHUP: an
//! algorithm rollover starts, every RRset is signed again with both algorithms) is
//! signed in batches, each a version of its own: dnsd answers all along, a change
//! made during the re-sign is kept and signed, every AXFR taken meanwhile passes
//! `ldns-verify-zone` and `dnssec-verify`, and the new algorithm's DNSKEY comes only
//! with the last batch. Likewise a change of the denial of existence (NSEC to NSEC3):
//! the NSEC3 chain is built beside the NSEC one, then switched, in several versions;
//! and both at once (ED25519 and NSEC3 in one edit): the denial walked first, then
//! the keys, never in one version.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::dns::short as dig;
use netfabric_tests::dnsd::Dnsd;

/// Names in the zone: about 30 batches of the re-sign.
const NAMES: usize = 30_000;

/// The zone, with `names` hosts and an insecure delegation.
fn zone(names: usize) -> String {
    let mut text = String::from(
        "$ORIGIN resign.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nsub NS ns.sub\nns.sub A 198.51.100.3\n",
    );
    for i in 0..names {
        text.push_str(&format!("h{i} A 198.51.100.{}\n", i % 250));
    }
    text
}

/// dnsd serving the zone of `names` hosts signed under `dnssec` (the `[dnssec]`
/// section's lines), AXFR allowed from loopback; once signed, its first version
/// checked by both verifiers: the daemon, and that version's serial and text.
fn start_signed(names: usize, dnssec: &str) -> (Dnsd, u32, String) {
    let mut dnsd = Dnsd::builder()
        .zone("resign.test", &zone(names))
        .config(&format!(
            "[dnssec]\nsign = true\n{dnssec}\n\
             [xfr]\nallow-transfer = [{{ from = \"127.0.0.1\" }}]\n"
        ))
        .start();
    dnsd.wait_for("the zone signed", |d| {
        d.ask("resign.test.", 48)
            .is_some_and(|n| !n.answer.is_empty())
    });
    let (serial, text) = axfr(dnsd.addr);
    verify(serial, &text);
    (dnsd, serial, text)
}

/// Edits the configuration (each `from` replaced by its `to`) and sends SIGHUP.
fn change_policy(dnsd: &Dnsd, edits: &[(&str, &str)]) {
    let config = dnsd.dir().join("dnsd.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in the configuration");
        text = text.replace(from, to);
    }
    std::fs::write(&config, text).unwrap();
    dnsd.signal(libc::SIGHUP);
}

/// Asks for the zone's names one after another and takes an AXFR after each answer
/// until `done` says the change is over: every version seen after `before`, in
/// order. Each answer must come, with its data: dnsd answers all along.
fn versions_until(
    dnsd: &Dnsd,
    names: usize,
    before: u32,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> Vec<(u32, String)> {
    let mut seen: Vec<(u32, String)> = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    loop {
        let name = format!("h{}.resign.test.", (i * 7919) % names);
        i += 1;
        let answer = dnsd.ask(&name, 1);
        assert!(
            answer.is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
            "{name}: no answer during the {what}\n{}",
            dnsd.log()
        );
        let (serial, text) = axfr(dnsd.addr);
        let over = done(&text);
        if serial != before && seen.iter().all(|(s, _)| *s != serial) {
            seen.push((serial, text));
        }
        if over {
            return seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the {what} did not end\n{}",
            dnsd.log()
        );
    }
}

/// The zone by AXFR (dig's presentation lines), with its SOA serial.
fn axfr(addr: SocketAddr) -> (u32, String) {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .args(["+noall", "+answer", "+time=5", "resign.test.", "AXFR"])
        .output()
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let serial = text
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("SOA"))
        .and_then(|l| l.split_whitespace().nth(6))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (serial, text)
}

/// Runs ldns-verify-zone and dnssec-verify on a transferred zone; panics naming the
/// version when one refuses it.
fn verify(serial: u32, text: &str) {
    verify_by(serial, text, true);
}

/// [`verify`], without ldns-verify-zone when `ldns` is false.
fn verify_by(serial: u32, text: &str, ldns: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone");
    std::fs::write(&path, text).unwrap();
    let runs: [(&str, Vec<&str>); 2] = [
        ("ldns-verify-zone", vec![]),
        ("dnssec-verify", vec!["-q", "-z", "-o", "resign.test."]),
    ];
    for (tool, args) in runs {
        if tool == "ldns-verify-zone" && !ldns {
            continue;
        }
        let out = Command::new(tool)
            .args(&args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e} (bind9-utils, ldnsutils)"));
        if !out.status.success() {
            let kept = std::env::temp_dir().join(format!("dnsd-resign-{serial}.zone"));
            let _ = std::fs::copy(&path, &kept);
            panic!(
                "serial {serial}: {tool} refuses the zone (kept at {}):\n{}{}",
                kept.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn algorithms(addr: SocketAddr) -> Vec<String> {
    let mut algs: Vec<String> = dig(addr, "resign.test.", "DNSKEY")
        .iter()
        .filter_map(|k| k.split_whitespace().nth(2).map(String::from))
        .collect();
    algs.sort();
    algs.dedup();
    algs
}

#[test]
fn a_policy_change_is_signed_in_batches_answering_and_valid_throughout() {
    let (dnsd, before, _) = start_signed(NAMES, "algorithm = \"ECDSAP256SHA256\"");
    let addr = dnsd.addr;
    assert_eq!(algorithms(addr), vec!["13"]);
    change_policy(&dnsd, &[("\"ECDSAP256SHA256\"", "\"ED25519\"")]);

    // A change while the zone is signed again.
    let replies = dnsd.ctl(&[
        "zone resign.test",
        "add during.resign.test. 300 A 198.51.100.9",
        "commit",
    ]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");

    // Until the end: answers, and each new version transferred.
    let seen = versions_until(&dnsd, NAMES, before, "re-sign", |_| {
        algorithms(addr).len() == 2
    });
    for (serial, text) in &seen {
        verify(*serial, text);
    }
    let (last, last_text) = seen.last().cloned().expect("a version after the change");
    // The new DNSKEY only in the last version: every version before holds ECDSA alone.
    for (serial, text) in &seen[..seen.len() - 1] {
        assert!(
            !holds_dnskey(text, "15"),
            "serial {serial}: the ED25519 DNSKEY before the last batch"
        );
    }
    // Several versions: the SOA serial grew by one per batch (and one for the change).
    assert!(
        last.wrapping_sub(before) >= 5,
        "{before} to {last}: the re-sign made {} versions",
        last.wrapping_sub(before)
    );
    // The change is kept, signed by both algorithms.
    let sigs: Vec<String> = dig(addr, "during.resign.test.", "RRSIG");
    let mut algs: Vec<&str> = sigs
        .iter()
        .filter(|s| s.starts_with("A "))
        .filter_map(|s| s.split_whitespace().nth(1))
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, vec!["13", "15"], "{sigs:?}");
    assert!(last_text.contains("during.resign.test."));
    eprintln!(
        "{} versions from {before} to {last}, {} transferred and verified",
        last.wrapping_sub(before),
        seen.len()
    );
}

/// Whether a transferred zone holds a DNSKEY of algorithm `number`.
fn holds_dnskey(text: &str, number: &str) -> bool {
    text.lines()
        .any(|l| l.contains("\tDNSKEY\t") && l.split_whitespace().nth(6) == Some(number))
}

/// Whether a transferred zone holds records of type `rtype`.
fn holds(text: &str, rtype: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().nth(3) == Some(rtype))
}

/// Names in the zones of the denial changes below.
const SMALL: usize = 10_000;

/// Checks the versions of a walk that built an NSEC3 chain beside the NSEC one:
/// ldns-verify-zone refuses an NSEC zone whose NSEC3 records (no NSEC3PARAM yet) do
/// not cover every name (`dnssec::rechain`), so those versions are checked by
/// dnssec-verify alone; and some version held both chains (the change was walked,
/// not made in one version).
fn verify_walk_to_nsec3(seen: &[(u32, String)]) {
    for (serial, text) in seen {
        let building = holds(text, "NSEC3") && !holds(text, "NSEC3PARAM");
        verify_by(*serial, text, !building);
    }
    assert!(
        seen.iter()
            .any(|(_, t)| holds(t, "NSEC3") && holds(t, "NSEC")),
        "no version held both chains: the change was not walked"
    );
}

#[test]
fn a_denial_change_is_walked_in_batches_answering_and_valid_throughout() {
    let (dnsd, before, text) = start_signed(SMALL, "denial = \"nsec\"");
    assert!(holds(&text, "NSEC") && !holds(&text, "NSEC3"));
    change_policy(&dnsd, &[("\"nsec\"", "\"nsec3\"")]);
    let seen = versions_until(&dnsd, SMALL, before, "denial change", |t| {
        holds(t, "NSEC3PARAM") && !holds(t, "NSEC")
    });
    verify_walk_to_nsec3(&seen);
    let (last, _) = seen.last().cloned().expect("a version after the change");
    assert!(
        last.wrapping_sub(before) >= 4,
        "{before} to {last}: the change made {} versions",
        last.wrapping_sub(before)
    );
    eprintln!(
        "{} versions from {before} to {last}, {} transferred and verified",
        last.wrapping_sub(before),
        seen.len()
    );
}

#[test]
fn keys_and_denial_changed_at_once_are_walked_in_batches_answering_and_valid_throughout() {
    // An algorithm rollover and NSEC to NSEC3 in one edit: the denial is walked
    // first, then the zone signed again, each in batches (`dnssec::stage`).
    let (dnsd, before, _) =
        start_signed(SMALL, "algorithm = \"ECDSAP256SHA256\"\ndenial = \"nsec\"");
    let addr = dnsd.addr;
    change_policy(
        &dnsd,
        &[
            ("\"ECDSAP256SHA256\"", "\"ED25519\""),
            ("\"nsec\"", "\"nsec3\""),
        ],
    );
    let seen = versions_until(&dnsd, SMALL, before, "keys and denial change", |t| {
        holds(t, "NSEC3PARAM") && !holds(t, "NSEC") && holds_dnskey(t, "15")
    });
    verify_walk_to_nsec3(&seen);
    assert_eq!(algorithms(addr), vec!["13", "15"]);
    // The denial done first, then the keys, each over several versions: the new
    // DNSKEY in the last version only, the NSEC chain gone versions before it.
    let (last, _) = seen.last().cloned().expect("a version after the change");
    for (serial, text) in &seen[..seen.len() - 1] {
        assert!(
            !holds_dnskey(text, "15"),
            "serial {serial}: the ED25519 DNSKEY before the last batch"
        );
    }
    let denial_done = seen
        .iter()
        .position(|(_, t)| holds(t, "NSEC3PARAM") && !holds(t, "NSEC"))
        .expect("the denial changed");
    assert!(
        seen.len() - denial_done >= 2,
        "the keys were not walked after the denial: {} versions after it",
        seen.len() - denial_done
    );
    assert!(
        last.wrapping_sub(before) >= 6,
        "{before} to {last}: the change made {} versions",
        last.wrapping_sub(before)
    );
    eprintln!(
        "{} versions from {before} to {last}, {} transferred and verified",
        last.wrapping_sub(before),
        seen.len()
    );
}
