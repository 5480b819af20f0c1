//! Tests of the serial policy: the table of policy × file serial × content × restart.

use super::*;

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
        };
        let file_serial = match (file, policy) {
            (Up, _) => 11,
            (Same, _) => 10,
            (Down, _) => 9,
            (AboveServed, Keep) => 1000,
            (AboveServed, Date) => 2026113000,
            (AboveServed, Unixtime) => 1_795_400_000,
        };
        {
            let got = decide(policy, Some(&last), file_serial, content_changed, now);
            let case = format!(
                "{policy} served={served} file={file:?} changed={content_changed} now={now}"
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
    let first = |p, f| decide(p, None, f, true, NOW).map(Verdict::serial);
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
    };
    assert_eq!(
        decide(SerialPolicy::Keep, Some(&last), 0, true, NOW),
        Ok(Verdict::Changed(0))
    );
    assert_eq!(
        decide(SerialPolicy::Date, Some(&last), u32::MAX, true, NOW),
        Ok(Verdict::Changed(2026112200))
    );
    // Never further than 2^31 - 1 in one step: from a serial just above today's date
    // plus 2^31 - 1, today's date is "lower", so the server counts on by one.
    let far = Served {
        serial: 2026112200u32.wrapping_add((1 << 31) - 1),
        ..last
    };
    assert_eq!(
        decide(SerialPolicy::Date, Some(&far), u32::MAX, true, NOW),
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
fn changes_from_other_sources_count_on() {
    assert_eq!(next(SerialPolicy::Keep, 41, NOW), 42);
    assert_eq!(next(SerialPolicy::Date, 2026112203, NOW), 2026112204);
    assert_eq!(next(SerialPolicy::Date, 2026112203, TOMORROW), 2026112300);
    assert_eq!(next(SerialPolicy::Unixtime, 5, NOW), NOW as u32);
    assert_eq!(
        next(SerialPolicy::Unixtime, NOW as u32 + 9, NOW),
        NOW as u32 + 10
    );
    assert_eq!(next(SerialPolicy::Keep, u32::MAX, NOW), 0);
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
            let mut content = 0u64;
            let mut served_content: Option<u64> = None;
            let mut last: Option<Served> = None;
            for _ in 0..60 {
                match next(5) {
                    0 => content = next(4),                         // edit or checkout
                    1 => file_serial = file_serial.wrapping_add(1), // operator raises it
                    2 => file_serial = file_serial.wrapping_sub(1), // older commit
                    3 => now += next(200_000),                      // time passes
                    _ => now = now.saturating_sub(next(100)),       // clock steps back
                }
                let changed = served_content != Some(content);
                match decide(policy, last.as_ref(), file_serial, changed, now) {
                    Ok(Verdict::Unchanged(s)) => {
                        let last = last.expect("unchanged needs a last state");
                        assert_eq!(s, last.serial);
                        assert!(!changed);
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
                        served_content = Some(content);
                        last = Some(Served {
                            serial: s,
                            file_serial,
                        });
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
