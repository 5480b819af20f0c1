//! dnsd as the secondary of a primary that misbehaves (a scripted primary on loopback,
//! `netfabric_tests::xfr_script`, where NSD or Knot cannot misbehave on demand):
//! - an IXFR that does not chain, deletes a record the zone does not have, or stops
//!   in the middle: the secondary keeps serving its old version, logs why with zone
//!   and primary, and asks for AXFR (refused at first, so the old version is seen
//!   served; then allowed: the new version is served);
//! - a primary whose journal has no history answers IXFR AXFR-style (RFC 1995 §4):
//!   taken as the whole zone, with AXFR refused throughout;
//! - NOTIFY from another address, unsigned, or with a bad MAC: refused (REFUSED, or
//!   NOTAUTH with BADSIG), counted, and no refresh follows; the genuine NOTIFY after
//!   them does refresh;
//! - a primary that answers BADKEY, BADSIG or BADTIME: a log line naming the zone,
//!   the primary and the TSIG error, refreshes retried, and the zone refreshed once
//!   the primary answers well.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::PATIENCE;
use netfabric_tests::xfr_script::{
    Asked, IxfrMode, Script, ScriptedPrimary, TsigMode, notify, records, test_key,
};

const ZONE: &str = "example.net.";
const KEY: &str = "scripted-key.";
const SECRET: &[u8] = b"scripted-primary-secret-32-bytes";
const SECRET_B64: &str = "c2NyaXB0ZWQtcHJpbWFyeS1zZWNyZXQtMzItYnl0ZXM=";

/// Version 1 or 2 of the zone: 300 hosts (a transfer of several messages); version 2
/// changes www, removes "old" and adds "new". REFRESH an hour (only NOTIFY and
/// retries drive the refreshes here), RETRY `retry`.
fn version(serial: u32, retry: u32) -> String {
    let mut text = format!(
        "$ORIGIN {ZONE}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 {retry} 86400 300\n\
         @ NS ns1\nns1 A 198.51.100.1\n"
    );
    for i in 0..300 {
        text.push_str(&format!("h{i} A 198.51.100.{}\n", i % 250 + 1));
    }
    if serial == 1 {
        text.push_str("www A 198.51.100.7\nold A 198.51.100.8\n");
    } else {
        text.push_str("www A 198.51.100.70\nnew A 198.51.100.9\n");
    }
    text
}

fn script(retry: u32, key: bool) -> Script {
    let versions: BTreeMap<u32, _> = [1, 2]
        .into_iter()
        .map(|s| (s, records(ZONE, &version(s, retry))))
        .collect();
    Script {
        versions,
        current: 1,
        ixfr: IxfrMode::Good,
        axfr_refused: false,
        key: key.then(|| (KEY.to_string(), SECRET.to_vec())),
        tsig: TsigMode::Good,
    }
}

/// A dnsd secondary of `primary` (signing with the key when `key`), timers bounded
/// down to a second.
fn secondary(primary: &ScriptedPrimary, key: bool) -> Dnsd {
    let (keys, key_ref) = if key {
        (
            format!("[key.\"{KEY}\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n"),
            format!(", key = \"{KEY}\""),
        )
    } else {
        (String::new(), String::new())
    };
    let config = format!(
        "{keys}[xfr]\nrefresh-min-seconds = 1\nexpire-min-seconds = 1\n\
         [zone.\"{}\"]\nprimaries = [{{ address = \"{}\"{key_ref} }}]\n",
        ZONE.trim_end_matches('.'),
        primary.addr
    );
    let mut dnsd = Dnsd::builder()
        .metrics()
        .probe(ZONE)
        .config(&config)
        .start();
    dnsd.wait_for("the first transfer", |d| d.soa_serial(ZONE) == Some(1));
    dnsd
}

fn wait(what: &str, dnsd: &Dnsd, primary: &ScriptedPrimary, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}\nasked: {:?}\n{}",
            primary.asked(),
            dnsd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sum of the metric series starting with `prefix` whose labels hold every one of
/// `needles`.
fn counter(dnsd: &Dnsd, prefix: &str, needles: &[&str]) -> u64 {
    dnsd.scrape()
        .lines()
        .filter(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn kinds(asked: &[Asked]) -> Vec<String> {
    asked
        .iter()
        .filter(|a| a.transport == "tcp")
        .map(|a| a.qtype.clone())
        .collect()
}

/// What version 1 and version 2 each answer for their own names.
fn serves_version(dnsd: &Dnsd, serial: u32) -> bool {
    let www = dnsd.addresses(&format!("www.{ZONE}"));
    let (old, new) = (
        dnsd.addresses(&format!("old.{ZONE}")),
        dnsd.addresses(&format!("new.{ZONE}")),
    );
    dnsd.soa_serial(ZONE) == Some(serial)
        && match serial {
            1 => {
                www == Some(vec!["198.51.100.7".into()])
                    && old == Some(vec!["198.51.100.8".into()])
                    && new.is_none_or(|a| a.is_empty())
            }
            _ => {
                www == Some(vec!["198.51.100.70".into()])
                    && new == Some(vec!["198.51.100.9".into()])
                    && old.is_none_or(|a| a.is_empty())
            }
        }
}

fn broken_ixfr(mode: IxfrMode) {
    let primary = ScriptedPrimary::start(ZONE, script(600, false));
    let dnsd = secondary(&primary, false);
    assert!(serves_version(&dnsd, 1), "{}", dnsd.log());
    // Version 2, a broken IXFR, and AXFR refused: the fallback is asked for, and
    // fails, so the old version must still be what is served.
    {
        let mut s = primary.script();
        s.current = 2;
        s.ixfr = mode;
        s.axfr_refused = true;
    }
    primary.clear_asked();
    let response = primary.notify(dnsd.addr, None).expect("NOTIFY answered");
    assert_eq!(response[3] & 0x0f, 0, "NOTIFY from the primary accepted");
    wait("IXFR, then the AXFR fallback", &dnsd, &primary, || {
        kinds(&primary.asked()).ends_with(&["IXFR".to_string(), "AXFR".to_string()])
    });
    let ixfr = primary
        .asked()
        .into_iter()
        .find(|a| a.qtype == "IXFR")
        .expect("an IXFR");
    assert_eq!(ixfr.serial, Some(1), "IXFR from the serial served");
    assert!(
        serves_version(&dnsd, 1),
        "{mode:?}: version 1 no longer served whole:\n{}",
        dnsd.log()
    );
    let log = dnsd.log();
    let line = log
        .lines()
        .find(|l| l.contains("retrying with AXFR"))
        .unwrap_or_else(|| panic!("{mode:?}: no log line of the IXFR refused:\n{log}"));
    assert!(
        line.contains("example.net") && line.contains(&primary.addr.to_string()),
        "{mode:?}: the line names neither zone nor primary: {line}"
    );
    assert!(
        counter(&dnsd, "dnsd_xfr_in_total{", &["type=\"ixfr\""])
            > counter(
                &dnsd,
                "dnsd_xfr_in_total{",
                &["type=\"ixfr\"", "result=\"ok\""]
            ),
        "{mode:?}: the IXFR refused is not counted:\n{}",
        dnsd.scrape()
    );
    // AXFR allowed again: the next NOTIFY brings version 2, by AXFR.
    primary.script().axfr_refused = false;
    primary.clear_asked();
    primary.notify(dnsd.addr, None).expect("NOTIFY answered");
    wait("version 2 served", &dnsd, &primary, || {
        serves_version(&dnsd, 2)
    });
    assert_eq!(
        kinds(&primary.asked()),
        ["IXFR", "AXFR"],
        "{mode:?}: IXFR first, then AXFR"
    );
}

#[test]
fn an_ixfr_that_does_not_chain_keeps_the_old_version_and_falls_back_to_axfr() {
    broken_ixfr(IxfrMode::WrongChain);
}

#[test]
fn an_ixfr_deleting_a_missing_record_keeps_the_old_version_and_falls_back_to_axfr() {
    broken_ixfr(IxfrMode::DeletesMissing);
}

#[test]
fn a_truncated_ixfr_keeps_the_old_version_and_falls_back_to_axfr() {
    broken_ixfr(IxfrMode::Truncated);
}

/// A primary whose journal has no history for our serial answers IXFR with the whole
/// zone (RFC 1995 §4): taken as such, with AXFR refused throughout.
#[test]
fn an_ixfr_answered_axfr_style_is_taken_as_the_whole_zone() {
    let primary = ScriptedPrimary::start(ZONE, script(600, false));
    let dnsd = secondary(&primary, false);
    {
        let mut s = primary.script();
        s.current = 2;
        s.ixfr = IxfrMode::NoHistory;
        s.axfr_refused = true;
    }
    primary.clear_asked();
    primary.notify(dnsd.addr, None).expect("NOTIFY answered");
    wait("version 2 served", &dnsd, &primary, || {
        serves_version(&dnsd, 2)
    });
    assert_eq!(kinds(&primary.asked()), ["IXFR"], "{}", dnsd.log());
    assert!(
        counter(
            &dnsd,
            "dnsd_xfr_in_total{",
            &["type=\"axfr\"", "result=\"ok\""]
        ) >= 2,
        "the AXFR-style answer counted as a full transfer:\n{}",
        dnsd.scrape()
    );
}

/// A primary may send an AXFR in any order (RFC 5936 §2.2): dnsd builds the zone as
/// the records come when they come in canonical order, and sorts them otherwise. One
/// whose records come backwards (the apex's NS last, apart from its SOA, which comes
/// first) is served whole.
#[test]
fn an_axfr_out_of_canonical_order_is_served_whole() {
    let mut s = script(600, false);
    for records in s.versions.values_mut() {
        records.reverse();
    }
    let primary = ScriptedPrimary::start(ZONE, s);
    let dnsd = secondary(&primary, false);
    assert!(serves_version(&dnsd, 1), "{}", dnsd.log());
    for i in 0..300 {
        assert_eq!(
            dnsd.addresses(&format!("h{i}.{ZONE}")),
            Some(vec![format!("198.51.100.{}", i % 250 + 1)]),
            "h{i}"
        );
    }
    let ns = dnsd.ask(ZONE, 2).expect("NS answered");
    assert!(
        ns.answer.iter().any(|(k, _)| k.1 == "NS"),
        "the apex's NS, sent last: {ns:?}"
    );
}

/// NOTIFY from an address that is not the primary, unsigned from the primary's
/// address (its key is required), or signed with a wrong secret: refused, counted,
/// and no refresh follows (the primary sees no query); then the primary's own,
/// signed: the refresh follows.
#[test]
fn spoofed_notify_is_refused_counted_and_triggers_no_refresh() {
    let primary = ScriptedPrimary::start(ZONE, script(600, true));
    let dnsd = secondary(&primary, true);
    // A refresh now would bring version 2.
    primary.script().current = 2;
    primary.clear_asked();
    let zone = dnsd::wire::name::Name::from_text(ZONE, None).unwrap();
    let good = test_key(KEY, SECRET);
    let wrong = test_key(KEY, b"not-the-secret-not-the-secret-!!");
    let elsewhere = match primary.addr.ip() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::from([127, o[1], o[2], o[3].wrapping_add(1).max(2)])
        }
        ip => ip,
    };
    let rcode = |r: Option<Vec<u8>>| r.map(|r| r[3] & 0x0f);
    assert_eq!(
        rcode(notify(elsewhere, dnsd.addr, &zone, Some(&good))),
        Some(5),
        "NOTIFY from another address, with the right key: REFUSED"
    );
    assert_eq!(
        rcode(primary.notify(dnsd.addr, None)),
        Some(5),
        "NOTIFY from the primary's address, unsigned: REFUSED"
    );
    assert_eq!(
        rcode(primary.notify(dnsd.addr, Some(&wrong))),
        Some(9),
        "NOTIFY with a MAC that does not verify: NOTAUTH (BADSIG)"
    );
    assert_eq!(
        counter(
            &dnsd,
            "dnsd_notify_in_total{",
            &["zone=\"example.net.\"", "result=\"refused\""]
        ),
        2,
        "{}",
        dnsd.scrape()
    );
    assert!(
        counter(&dnsd, "dnsd_tsig_failures_total{", &["badsig"]) >= 1,
        "{}",
        dnsd.scrape()
    );
    // Nothing follows: a refresh would be a query at once (NOTIFY is acted on within
    // a second); two seconds of silence.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        primary.asked(),
        [],
        "a refused NOTIFY made a refresh:\n{}",
        dnsd.log()
    );
    assert!(serves_version(&dnsd, 1), "{}", dnsd.log());
    assert!(
        dnsd.log().contains("NOTIFY refused"),
        "refusals logged:\n{}",
        dnsd.log()
    );
    // The genuine NOTIFY is acted on.
    assert_eq!(rcode(primary.notify(dnsd.addr, Some(&good))), Some(0));
    wait("version 2 served", &dnsd, &primary, || {
        serves_version(&dnsd, 2)
    });
}

fn tsig_error(mode: TsigMode, name: &str) {
    // RETRY 1 s: the retries come quickly.
    let primary = ScriptedPrimary::start(ZONE, script(1, true));
    let dnsd = secondary(&primary, true);
    {
        let mut s = primary.script();
        s.current = 2;
        s.tsig = mode;
    }
    primary.clear_asked();
    let good = test_key(KEY, SECRET);
    primary
        .notify(dnsd.addr, Some(&good))
        .expect("NOTIFY answered");
    // Retried: two signed SOA queries refused, then a third.
    wait("refreshes retried", &dnsd, &primary, || {
        primary
            .asked()
            .iter()
            .filter(|a| a.qtype == "SOA" && a.signed)
            .count()
            >= 3
    });
    assert!(serves_version(&dnsd, 1), "{}", dnsd.log());
    let log = dnsd.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(name)).collect();
    assert!(lines.len() >= 2, "{name}: not logged at each try:\n{log}");
    assert!(
        lines.iter().all(|l| l.contains("example.net")
            && l.contains(&primary.addr.to_string())
            && l.contains("refresh failed")),
        "{name}: the lines name neither zone nor primary: {lines:?}"
    );
    // The primary fixed: the next retry refreshes.
    primary.script().tsig = TsigMode::Good;
    wait("version 2 served", &dnsd, &primary, || {
        serves_version(&dnsd, 2)
    });
}

#[test]
fn a_primary_answering_badkey_is_logged_and_retried() {
    tsig_error(TsigMode::BadKey, "BADKEY");
}

#[test]
fn a_primary_answering_badsig_is_logged_and_retried() {
    tsig_error(TsigMode::BadSig, "BADSIG");
}

#[test]
fn a_primary_answering_badtime_is_logged_and_retried() {
    tsig_error(TsigMode::BadTime, "BADTIME");
}

/// The scripted primary answers as a primary should: its AXFR, read by dig, is the
/// zone (a check of the fixture itself).
#[test]
fn the_scripted_primary_answers_axfr_as_dig_reads_it() {
    let primary = ScriptedPrimary::start(ZONE, script(600, false));
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{}", primary.addr.ip()),
            "-p",
            &primary.addr.port().to_string(),
            "+tcp",
            "AXFR",
            ZONE,
        ])
        .output()
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("XFR size: 306 records"), "{text}");
}
