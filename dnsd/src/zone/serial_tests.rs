//! Tests of the serial policy: the table of policy × file serial × content × restart.

use super::*;
use crate::wire::name::Name;
use crate::zone::Record;

/// 2026-11-22 15:30:00 UTC.
const NOW: u64 = 1_795_361_400;
const TOMORROW: u64 = NOW + 86_400;

#[derive(Clone, Copy, Debug)]
enum File {
    Up,
    Same,
    Down,
    AboveServed,
}

#[derive(Clone, Copy, Debug)]
enum Want {
    Unchanged,
    Changed(u32),
    Refused,
}

/// Every combination, each decided once as a running server would and once after a
/// restart (the last served state read back from its state-file line).
#[test]
fn policy_table() {
    use File::*;
    use SerialPolicy::*;
    use Want::*;
    // (policy, served serial, file serial change, content changed, now, expected)
    let table = [
        (Keep, 10, Up, true, NOW, Changed(11)),
        (Keep, 10, Up, false, NOW, Changed(11)),
        (Keep, 10, Same, true, NOW, Refused),
        (Keep, 10, Same, false, NOW, Unchanged),
        (Keep, 10, Down, true, NOW, Refused),
        (Keep, 10, Down, false, NOW, Refused),
        (Keep, 10, AboveServed, true, NOW, Changed(1000)),
        (Date, 2026112203, Up, true, NOW, Changed(2026112204)),
        (Date, 2026112203, Up, false, NOW, Unchanged),
        (Date, 2026112203, Same, true, NOW, Changed(2026112204)),
        (Date, 2026112203, Same, false, NOW, Unchanged),
        // git checkout of an older commit: content changed, file serial lower.
        (Date, 2026112203, Down, true, NOW, Changed(2026112204)),
        (Date, 2026112203, Down, false, NOW, Unchanged),
        (
            Date,
            2026112203,
            AboveServed,
            true,
            NOW,
            Changed(2026113000),
        ),
        (
            Date,
            2026112203,
            AboveServed,
            false,
            NOW,
            Changed(2026113000),
        ),
        (Date, 2026112203, Same, true, TOMORROW, Changed(2026112300)),
        (Date, 2026112203, Down, true, TOMORROW, Changed(2026112300)),
        (Date, 2026112203, Same, false, TOMORROW, Unchanged),
        (Unixtime, 1_795_000_000, Up, true, NOW, Changed(NOW as u32)),
        (
            Unixtime,
            1_795_000_000,
            Same,
            true,
            NOW,
            Changed(NOW as u32),
        ),
        (
            Unixtime,
            1_795_000_000,
            Down,
            true,
            NOW,
            Changed(NOW as u32),
        ),
        (Unixtime, 1_795_000_000, Down, false, NOW, Unchanged),
        (Unixtime, 1_795_000_000, Same, false, NOW, Unchanged),
        (
            Unixtime,
            1_795_000_000,
            AboveServed,
            true,
            NOW,
            Changed(1_795_400_000),
        ),
        // The clock went back (or many changes in one second): served + 1.
        (
            Unixtime,
            NOW as u32 + 5,
            Same,
            true,
            NOW,
            Changed(NOW as u32 + 6),
        ),
        (
            Unixtime,
            NOW as u32,
            Same,
            true,
            NOW,
            Changed(NOW as u32 + 1),
        ),
    ];
    for (policy, served, file, content_changed, now, want) in table {
        let last = Served {
            serial: served,
            file_serial: 10,
            digest: 0xabcd,
        };
        let file_serial = match (file, policy) {
            (Up, _) => 11,
            (Same, _) => 10,
            (Down, _) => 9,
            (AboveServed, Keep) => 1000,
            (AboveServed, Date) => 2026113000,
            (AboveServed, Unixtime) => 1_795_400_000,
        };
        let digest = if content_changed { 0x1234 } else { 0xabcd };
        let restarted = Served::from_line(&last.to_line()).unwrap();
        assert_eq!(restarted, last);
        for (when, last) in [("running", last), ("after restart", restarted)] {
            let got = decide(policy, Some(&last), file_serial, digest, now);
            let case = format!(
                "{policy} served={served} file={file:?} changed={content_changed} now={now} {when}"
            );
            match want {
                Unchanged => assert_eq!(got, Ok(Verdict::Unchanged(served)), "{case}"),
                Changed(s) => {
                    assert_eq!(got, Ok(Verdict::Changed(s)), "{case}");
                    assert!(serial_gt(s, served), "{case}: must go up");
                }
                Refused => assert_eq!(
                    got,
                    Err(SerialNotIncreased {
                        file: file_serial,
                        served
                    }),
                    "{case}"
                ),
            }
        }
    }
}

#[test]
fn first_load_takes_the_policy_or_a_higher_file_serial() {
    let d = 7;
    let first = |p, f| decide(p, None, f, d, NOW).map(Verdict::serial);
    assert_eq!(first(SerialPolicy::Keep, 1), Ok(1));
    assert_eq!(first(SerialPolicy::Date, 1), Ok(2026112200));
    assert_eq!(first(SerialPolicy::Date, 2026112305), Ok(2026112305));
    assert_eq!(first(SerialPolicy::Unixtime, 0), Ok(NOW as u32));
    assert_eq!(first(SerialPolicy::Unixtime, 2026112305), Ok(2026112305));
}

#[test]
fn serials_wrap_per_rfc_1982() {
    assert!(serial_gt(1, 0));
    assert!(serial_gt(0, u32::MAX));
    assert!(!serial_gt(u32::MAX, 0));
    assert!(serial_gt(1 << 31, 1));
    assert!(
        !serial_gt(1 << 31, 0) && !serial_gt(0, 1 << 31),
        "undefined pair"
    );
    let last = Served {
        serial: u32::MAX,
        file_serial: u32::MAX,
        digest: 1,
    };
    assert_eq!(
        decide(SerialPolicy::Keep, Some(&last), 0, 2, NOW),
        Ok(Verdict::Changed(0))
    );
    assert_eq!(
        decide(SerialPolicy::Date, Some(&last), u32::MAX, 2, NOW),
        Ok(Verdict::Changed(2026112200))
    );
    // Never further than 2^31 - 1 in one step: from a serial just above today's date
    // plus 2^31 - 1, today's date is "lower", so the server counts on by one.
    let far = Served {
        serial: 2026112200u32.wrapping_add((1 << 31) - 1),
        ..last
    };
    assert_eq!(
        decide(SerialPolicy::Date, Some(&far), u32::MAX, 2, NOW),
        Ok(Verdict::Changed(far.serial + 1))
    );
}

#[test]
fn dates_are_utc_calendar_days() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days((NOW / 86_400) as i64), (2026, 11, 22));
    assert_eq!(generate(SerialPolicy::Date, 951_868_800), 2000030100);
}

#[test]
fn state_lines_reject_garbage() {
    assert_eq!(Served::from_line(""), None);
    assert_eq!(Served::from_line("1 2"), None);
    assert_eq!(Served::from_line("1 2 zz"), None);
    assert_eq!(Served::from_line("1 2 3 4"), None);
    assert!(Served::from_line("1 2 ff\n").is_some());
}

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn soa(serial: u32, refresh: u32) -> Record {
    let mut rdata = n("ns.example.org.").as_wire().to_vec();
    rdata.extend_from_slice(n("hostmaster.example.org.").as_wire());
    for v in [serial, refresh, 900, 604800, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Record {
        owner: n("example.org."),
        rtype: Rtype::SOA,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

fn a(owner: &str, last: u8) -> Record {
    Record {
        owner: n(owner),
        rtype: Rtype::A,
        ttl: 300,
        rdata: Box::new([198, 51, 100, last]),
    }
}

#[test]
fn digest_ignores_the_serial_and_order_but_not_content() {
    let apex = n("example.org.");
    let build = |records: Vec<Record>| Zone::build(&apex, records).unwrap();
    let base = build(vec![
        soa(1, 3600),
        a("www.example.org.", 1),
        a("x.example.org.", 2),
    ]);
    let digest = content_digest(&base);
    let reordered = build(vec![
        a("x.example.org.", 2),
        soa(99, 3600),
        a("WWW.example.org.", 1),
    ]);
    assert_eq!(content_digest(&reordered), digest);
    let mut reserialed = build(vec![
        soa(1, 3600),
        a("www.example.org.", 1),
        a("x.example.org.", 2),
    ]);
    reserialed.set_serial(2026112201);
    assert_eq!(content_digest(&reserialed), digest);
    for changed in [
        build(vec![
            soa(1, 7200),
            a("www.example.org.", 1),
            a("x.example.org.", 2),
        ]),
        build(vec![
            soa(1, 3600),
            a("www.example.org.", 1),
            a("x.example.org.", 3),
        ]),
        build(vec![soa(1, 3600), a("www.example.org.", 1)]),
        build(vec![
            soa(1, 3600),
            a("www.example.org.", 2),
            a("x.example.org.", 1),
        ]),
    ] {
        assert_ne!(content_digest(&changed), digest);
    }
}

/// Random histories of edits, serial edits, checkouts, clock jumps and restarts: under
/// every policy the served serial only goes up (RFC 1982), and stays put when nothing
/// changed.
#[test]
fn property_served_serials_never_go_back() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for policy in [
        SerialPolicy::Keep,
        SerialPolicy::Unixtime,
        SerialPolicy::Date,
    ] {
        for _ in 0..200 {
            let mut now = NOW;
            let mut file_serial = next(5) as u32;
            let mut digest = 0u64;
            let mut line: Option<String> = None;
            let mut last: Option<Served> = None;
            for _ in 0..60 {
                match next(6) {
                    0 => digest = next(4),                                   // edit or checkout
                    1 => file_serial = file_serial.wrapping_add(1),          // operator raises it
                    2 => file_serial = file_serial.wrapping_sub(1),          // older commit
                    3 => now += next(200_000),                               // time passes
                    4 => now = now.saturating_sub(next(100)),                // clock steps back
                    _ => last = line.as_deref().and_then(Served::from_line), // restart
                }
                match decide(policy, last.as_ref(), file_serial, digest, now) {
                    Ok(Verdict::Unchanged(s)) => {
                        let last = last.expect("unchanged needs a last state");
                        assert_eq!(s, last.serial);
                        assert_eq!(digest, last.digest);
                        // An automatic policy ignores a file serial that moved but
                        // not above the served one.
                        assert!(
                            file_serial == last.file_serial
                                || (policy != SerialPolicy::Keep
                                    && !serial_gt(file_serial, last.serial))
                        );
                    }
                    Ok(Verdict::Changed(s)) => {
                        if let Some(last) = last {
                            assert!(
                                serial_gt(s, last.serial),
                                "{policy}: {} -> {s}",
                                last.serial
                            );
                        }
                        let served = Served {
                            serial: s,
                            file_serial,
                            digest,
                        };
                        line = Some(served.to_line());
                        last = Some(served);
                    }
                    Err(e) => {
                        assert_eq!(policy, SerialPolicy::Keep);
                        assert!(!serial_gt(e.file, e.served));
                    }
                }
            }
        }
    }
}
