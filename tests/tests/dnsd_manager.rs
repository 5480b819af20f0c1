//! The zone managers through the real binary: transactions over the control socket,
//! readers that never see half of one, kill -9 that never loses an acknowledged change
//! or lowers a serial, and zone files and dynamic records in one zone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Normalized, Query, normalize, udp_exchange};
use netfabric_tests::dnsd::Dnsd;

const ZONE: &str = "$ORIGIN tx.test.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 198.51.100.1\n\
    www A 198.51.100.2\n";

fn soa_serial(n: &Normalized) -> Option<u32> {
    n.answer
        .iter()
        .chain(n.authority.iter())
        .find(|(k, _)| k.1 == "SOA")
        .and_then(|(_, v)| v.iter().next())
        .and_then(|soa| soa.split_whitespace().nth(2)?.parse().ok())
}

fn serial(dnsd: &Dnsd) -> u32 {
    dnsd.ask("tx.test.", 6)
        .as_ref()
        .and_then(soa_serial)
        .unwrap_or_else(|| panic!("no SOA answer\n{}", dnsd.log()))
}

/// One transaction: the replies must be all `ok`, the last one with the serial.
fn commit(dnsd: &Dnsd, lines: &[&str]) -> u32 {
    let replies = dnsd.ctl(lines);
    assert!(
        replies.iter().all(|r| r.starts_with("ok")),
        "{lines:?} -> {replies:?}"
    );
    replies
        .last()
        .and_then(|r| r.strip_prefix("ok "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no serial in {replies:?}"))
}

/// Input: a stream of transactions that each move `alias` (CNAME) to a new name
/// `tK` and give `tK` the TXT "K" while removing the old one, and readers asking
/// `alias TXT` all the time. Output: every answer holds the CNAME and the TXT of one
/// and the same K (half of a transaction would show a CNAME to a name that is gone, or
/// a TXT of another K), and serials never go back.
#[test]
fn readers_see_every_transaction_whole_or_not_at_all() {
    let dnsd = Dnsd::builder().zone("tx.test", ZONE).start();
    commit(
        &dnsd,
        &[
            "zone tx.test stream",
            "add alias 60 CNAME t0",
            "add t0 60 TXT \"0\"",
            "commit",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let addr = dnsd.addr;
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let query = Query::new("alias.tx.test.", 16).to_bytes();
            let soa = Query::new("tx.test.", 6).to_bytes();
            let (mut answers, mut last_serial) = (0u32, 0u32);
            let mut inconsistent = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(n) = udp_exchange(addr, &query, Duration::from_secs(2))
                    .and_then(|r| normalize(&r).ok())
                {
                    answers += 1;
                    let cname = n.answer.iter().find(|(k, _)| k.1 == "CNAME");
                    let txt = n.answer.iter().find(|(k, _)| k.1 == "TXT");
                    let ok = match (cname, txt) {
                        (Some((_, target)), Some((key, text))) => {
                            let target = target.iter().next().cloned().unwrap_or_default();
                            let k = target
                                .trim_start_matches('t')
                                .split('.')
                                .next()
                                .unwrap_or("");
                            let text = text.iter().next().map(|t| t.trim_matches('"'));
                            key.0 == target && text == Some(k)
                        }
                        _ => false,
                    };
                    if !ok {
                        inconsistent.push(format!("{n}"));
                    }
                }
                if let Some(s) = udp_exchange(addr, &soa, Duration::from_secs(2))
                    .and_then(|r| normalize(&r).ok())
                    .as_ref()
                    .and_then(soa_serial)
                {
                    assert!(s >= last_serial, "serial went back: {last_serial} -> {s}");
                    last_serial = s;
                }
            }
            (answers, inconsistent)
        })
    };
    let mut serials = Vec::new();
    for k in 1..=300 {
        let (old, new) = (format!("t{}", k - 1), format!("t{k}"));
        serials.push(commit(
            &dnsd,
            &[
                "zone tx.test stream",
                "del alias CNAME",
                &format!("add alias 60 CNAME {new}"),
                &format!("del-name {old}"),
                &format!("add {new} 60 TXT \"{k}\""),
                "commit",
            ],
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let (answers, inconsistent) = reader.join().expect("reader");
    assert!(
        answers > 100,
        "only {answers} answers read during the stream"
    );
    assert!(
        inconsistent.is_empty(),
        "{} of {answers} answers mixed two versions, e.g.:\n{}",
        inconsistent.len(),
        inconsistent[0]
    );
    assert!(
        serials.windows(2).all(|w| w[1] > w[0]),
        "serials of commits go up"
    );
    assert_eq!(serial(&dnsd), *serials.last().unwrap_or(&0));
}

/// Input: bursts of transactions from two clients, and zone-file edits, with kill -9 at
/// random moments, five times. Output: after each restart the served serial is at
/// least the last one acknowledged, every acknowledged record is served, the state was
/// restored from the image and journal without a broken chain, and the zone file's
/// edits are there too.
#[test]
fn kill_9_never_loses_an_acknowledged_change_or_lowers_a_serial() {
    let mut dnsd = Dnsd::builder().zone("tx.test", ZONE).start();
    let mut acked: BTreeSet<u32> = BTreeSet::new();
    let mut last_acked = 0u32;
    let mut seed = std::process::id() as u64 | 1;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut file = ZONE.to_string();
    let mut file_lines = 0;
    for round in 0..5 {
        // A zone-file edit that lands (or not) around the kill.
        file_lines += 1;
        file.push_str(&format!(
            "f{file_lines} A 198.51.100.{}\n",
            file_lines % 250
        ));
        std::fs::write(dnsd.zones_dir().join("tx.test.zone"), &file).expect("write zone");
        let deadline = Instant::now() + Duration::from_millis(100 + next(400));
        let socket = dnsd.dir().join(".dnsd-state/control.sock");
        // Two clients committing as fast as they can until the kill.
        let clients: Vec<_> = (0..2u32)
            .map(|c| {
                let socket = socket.clone();
                let base = 100_000 * (round + 1) + 10_000 * c;
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..u32::MAX {
                        if Instant::now() > deadline {
                            break;
                        }
                        let k = base + i;
                        let lines = vec![
                            format!("zone tx.test c{c}"),
                            format!("add n{k} 60 A 198.51.100.{}", k % 250),
                            "commit".to_string(),
                        ];
                        match dnsd::front::control::client(&socket, &lines) {
                            Ok(replies) => match replies.last().and_then(|r| r.strip_prefix("ok "))
                            {
                                Some(serial) => mine.push((k, serial.parse::<u32>().unwrap_or(0))),
                                None => break,
                            },
                            Err(_) => break,
                        }
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        dnsd.kill();
        for client in clients {
            for (k, serial) in client.join().expect("client") {
                acked.insert(k);
                last_acked = last_acked.max(serial);
            }
        }
        dnsd.restart();
        let served = serial(&dnsd);
        assert!(
            served >= last_acked,
            "round {round}: serves {served}, acknowledged {last_acked}\n{}",
            dnsd.log()
        );
        for k in &acked {
            let name = format!("n{k}.tx.test.");
            let answer = dnsd.ask(&name, 1);
            assert!(
                answer
                    .as_ref()
                    .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
                "round {round}: acknowledged {name} is not served after kill -9\n{}",
                dnsd.log()
            );
        }
        dnsd.wait_for("the zone file's edit", |d| {
            d.ask(&format!("f{file_lines}.tx.test."), 1)
                .is_some_and(|n| !n.answer.is_empty())
        });
        let log = dnsd.log();
        assert!(
            !log.contains("does not apply"),
            "round {round}: a journal entry did not chain\n{log}"
        );
    }
    assert!(
        acked.len() > 20,
        "only {} transactions acknowledged",
        acked.len()
    );
}

/// Input: a zone file and a dynamic source writing to the same zone. Output: an edit
/// of the file keeps the source's records; the source may not change what the file
/// defines; a file that later defines the source's RRset takes it over (logged); a
/// file broken while dnsd is stopped leaves the last good version served at start.
#[test]
fn zone_files_and_dynamic_records_share_a_zone() {
    let mut dnsd = Dnsd::builder().zone("tx.test", ZONE).metrics().start();
    commit(
        &dnsd,
        &[
            "zone tx.test docker",
            "add web 30 A 198.51.100.80",
            "commit",
        ],
    );
    let refused = dnsd.ctl(&[
        "zone tx.test docker",
        "add www 30 A 198.51.100.81",
        "commit",
    ]);
    assert!(
        refused
            .last()
            .is_some_and(|r| r.contains("defined by the zone file")),
        "{refused:?}"
    );
    let series = |result: &str| {
        format!(
            "dnsd_zone_transactions_total{{zone=\"tx.test.\",source=\"docker\",result=\"{result}\"}}"
        )
    };
    assert_eq!(dnsd.metric(&series("committed")), Some(1));
    assert_eq!(dnsd.metric(&series("refused")), Some(1));
    let swaps = dnsd.metric("dnsd_zone_set_swaps_total").expect("swaps");
    // A git commit of the zone file: the container's record stays.
    let edited = format!("{ZONE}mail A 198.51.100.25\n");
    std::fs::write(dnsd.zones_dir().join("tx.test.zone"), &edited).expect("write");
    dnsd.wait_for("the edit", |d| {
        d.ask("mail.tx.test.", 1)
            .is_some_and(|n| !n.answer.is_empty())
    });
    let web = dnsd.ask("web.tx.test.", 1).expect("answer");
    assert_eq!(
        web.answer.values().next().map(|v| v.to_vec()),
        Some(vec!["198.51.100.80".to_string()])
    );
    // The file takes web's A over.
    std::fs::write(
        dnsd.zones_dir().join("tx.test.zone"),
        format!("{edited}web A 198.51.100.99\n"),
    )
    .expect("write");
    dnsd.wait_for("the takeover", |d| {
        d.ask("web.tx.test.", 1).is_some_and(|n| {
            n.answer
                .values()
                .any(|v| v.iter().any(|a| a == "198.51.100.99"))
        })
    });
    assert!(dnsd.log().contains("takes it over"), "{}", dnsd.log());
    // Two edits, two versions, each one swap of the served set.
    assert_eq!(dnsd.metric("dnsd_zone_set_swaps_total"), Some(swaps + 2));
    let status = dnsd.ctl(&["status tx.test"]);
    assert!(status[0].contains("dynamic=-"), "{status:?}");
    // Broken while stopped: the last good version is served at start.
    let before = serial(&dnsd);
    dnsd.terminate(Duration::from_secs(10));
    std::fs::write(dnsd.zones_dir().join("tx.test.zone"), "garbage\n").expect("write");
    dnsd.restart();
    assert_eq!(serial(&dnsd), before);
    assert!(
        dnsd.ask("mail.tx.test.", 1)
            .is_some_and(|n| !n.answer.is_empty())
    );
    assert!(dnsd.log().contains("keeps serving its last good version"));
}

/// Input: 300 transactions pipelined on one control connection (written before any
/// reply is read), each removing the record the one before added and adding the next.
/// Output: every one acknowledged, serials that never go down, and only the last record
/// served — so they were committed in the order they were sent, none lost or doubled.
#[test]
fn pipelined_transactions_commit_in_the_order_sent() {
    let dnsd = Dnsd::builder().zone("tx.test", ZONE).start();
    let count = 300;
    let mut lines = vec![
        "zone tx.test pipe".to_string(),
        "add p0 30 A 198.51.100.1".into(),
        "commit".into(),
    ];
    for i in 1..count {
        lines.push("zone tx.test pipe".into());
        lines.push(format!("del p{} A", i - 1));
        lines.push(format!("add p{i} 30 A 198.51.100.1"));
        lines.push("commit".into());
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let replies = dnsd.ctl(&refs);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    let serials: Vec<u32> = replies
        .iter()
        .filter_map(|r| r.strip_prefix("ok ")?.parse().ok())
        .collect();
    assert_eq!(serials.len(), count, "{replies:?}");
    assert!(
        serials.windows(2).all(|w| w[0] <= w[1]),
        "serials went down: {serials:?}"
    );
    let served: Vec<usize> = (0..count)
        .filter(|i| {
            dnsd.ask(&format!("p{i}.tx.test."), 1)
                .is_some_and(|n| !n.answer.is_empty())
        })
        .collect();
    assert_eq!(served, vec![count - 1]);
}
