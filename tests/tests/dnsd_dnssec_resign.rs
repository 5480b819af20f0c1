//! A policy change of a running, signed zone (ECDSAP256SHA256 to ED25519 by SIGHUP: an
//! algorithm rollover starts, every RRset is signed again with both algorithms) is
//! signed in batches, each a version of its own: dnsd answers all along, a change
//! made during the re-sign is kept and signed, every AXFR taken meanwhile passes
//! `ldns-verify-zone` and `dnssec-verify`, and the new algorithm's DNSKEY comes only
//! with the last batch. Likewise a change of the denial of existence (NSEC to NSEC3):
//! the NSEC3 chain is built beside the NSEC one, then switched, in several versions.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::dns::short as dig;
use netfabric_tests::dnsd::Dnsd;

/// Names in the zone: about 30 batches of the re-sign.
const NAMES: usize = 30_000;

fn zone() -> String {
    let mut text = String::from(
        "$ORIGIN resign.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nsub NS ns.sub\nns.sub A 198.51.100.3\n",
    );
    for i in 0..NAMES {
        text.push_str(&format!("h{i} A 198.51.100.{}\n", i % 250));
    }
    text
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
    let mut dnsd = Dnsd::builder()
        .zone("resign.test", &zone())
        .config(
            "[dnssec]\nsign = true\nalgorithm = \"ECDSAP256SHA256\"\n\
             [xfr]\nallow-transfer = [{ from = \"127.0.0.1\" }]\n",
        )
        .start();
    let addr = dnsd.addr;
    dnsd.wait_for("the zone signed", |d| {
        d.ask("resign.test.", 48)
            .is_some_and(|n| !n.answer.is_empty())
    });
    assert_eq!(algorithms(addr), vec!["13"]);
    let (before, text) = axfr(addr);
    verify(before, &text);

    let config = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"ECDSAP256SHA256\"", "\"ED25519\"")).unwrap();
    dnsd.signal(libc::SIGHUP);

    // A change while the zone is signed again.
    let replies = dnsd.ctl(&[
        "zone resign.test",
        "add during.resign.test. 300 A 198.51.100.9",
        "commit",
    ]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");

    // Until the end: answers, and each new version transferred.
    let mut seen: Vec<(u32, String)> = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    loop {
        let name = format!("h{}.resign.test.", (i * 7919) % NAMES);
        i += 1;
        let answer = dnsd.ask(&name, 1);
        assert!(
            answer.is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
            "{name}: no answer during the re-sign\n{}",
            dnsd.log()
        );
        let done = algorithms(addr).len() == 2;
        let (serial, text) = axfr(addr);
        if serial != before && seen.iter().all(|(s, _)| *s != serial) {
            seen.push((serial, text));
        }
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the re-sign did not end\n{}",
            dnsd.log()
        );
    }
    for (serial, text) in &seen {
        verify(*serial, text);
    }
    let (last, last_text) = seen.last().cloned().expect("a version after the change");
    // The new DNSKEY only in the last version: every version before holds ECDSA alone.
    for (serial, text) in &seen[..seen.len() - 1] {
        let ed = text
            .lines()
            .any(|l| l.contains("\tDNSKEY\t") && l.split_whitespace().nth(6) == Some("15"));
        assert!(
            !ed,
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

/// Whether a transferred zone holds records of type `rtype`.
fn holds(text: &str, rtype: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().nth(3) == Some(rtype))
}

#[test]
fn a_denial_change_is_walked_in_batches_answering_and_valid_throughout() {
    const SMALL: usize = 10_000;
    let mut text = String::from(
        "$ORIGIN resign.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nsub NS ns.sub\nns.sub A 198.51.100.3\n",
    );
    for i in 0..SMALL {
        text.push_str(&format!("h{i} A 198.51.100.{}\n", i % 250));
    }
    let mut dnsd = Dnsd::builder()
        .zone("resign.test", &text)
        .config(
            "[dnssec]\nsign = true\ndenial = \"nsec\"\n\
             [xfr]\nallow-transfer = [{ from = \"127.0.0.1\" }]\n",
        )
        .start();
    let addr = dnsd.addr;
    dnsd.wait_for("the zone signed", |d| {
        d.ask("resign.test.", 48)
            .is_some_and(|n| !n.answer.is_empty())
    });
    let (before, text) = axfr(addr);
    verify(before, &text);
    assert!(holds(&text, "NSEC") && !holds(&text, "NSEC3"));

    let config = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"nsec\"", "\"nsec3\"")).unwrap();
    dnsd.signal(libc::SIGHUP);

    let mut seen: Vec<(u32, String)> = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    loop {
        let name = format!("h{}.resign.test.", (i * 7919) % SMALL);
        i += 1;
        let answer = dnsd.ask(&name, 1);
        assert!(
            answer.is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
            "{name}: no answer during the denial change\n{}",
            dnsd.log()
        );
        let (serial, text) = axfr(addr);
        let done = holds(&text, "NSEC3PARAM") && !holds(&text, "NSEC");
        if serial != before && seen.iter().all(|(s, _)| *s != serial) {
            seen.push((serial, text));
        }
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the denial change did not end\n{}",
            dnsd.log()
        );
    }
    // ldns-verify-zone refuses an NSEC zone whose NSEC3 records (no NSEC3PARAM yet)
    // do not cover every name (`dnssec::rechain`): those versions are checked by
    // dnssec-verify alone.
    for (serial, text) in &seen {
        let building = holds(text, "NSEC3") && !holds(text, "NSEC3PARAM");
        verify_by(*serial, text, !building);
    }
    let (last, _) = seen.last().cloned().expect("a version after the change");
    assert!(
        seen.iter()
            .any(|(_, t)| holds(t, "NSEC3") && holds(t, "NSEC")),
        "no version held both chains: the change was not walked"
    );
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
