//! A key or algorithm change of a signed zone larger than a batch: signed again over
//! several versions (`resign`), each checked by `dnssec-verify`, `ldns-verify-zone`
//! and `kzonecheck`; changes made between batches kept and signed; a restart in the
//! middle going on to the end.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::test_support::{apex_rdatas, n, options, parse_zone, resigning};
use super::tools_tests::verify_with_tools;
use crate::dnssec::Algorithm;
use crate::dnssec::policy::{Denial, Policy};
use crate::dnssec::rdata::RrsigFields;
use crate::manager::{Manager, ZoneHandle};
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// Signatures per batch in these tests: the zone below needs a dozen batches or more.
const BATCH: usize = 40;

/// A zone of about 120 names: hosts, a delegation with glue, a wildcard, an empty
/// non-terminal.
fn zone_text() -> String {
    let mut text = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ 3600 SOA ns h 1 3600 900 604800 600\n@ NS ns\n\
         ns A 198.51.100.1\nsub NS ns.sub\nns.sub A 198.51.100.3\n*.w TXT wild\n\
         a.b.c TXT deep\n",
    );
    for i in 0..120 {
        let _ = writeln!(text, "h{i} A 198.51.100.{}", i % 250);
    }
    text
}

fn now() -> u64 {
    crate::manager::unix_now()
}

fn nsec3() -> Denial {
    Denial::Nsec3 {
        iterations: 0,
        opt_out: false,
    }
}

/// The algorithms of the zone's DNSKEY RRset.
fn dnskey_algorithms(zone: &Zone) -> Vec<u8> {
    let mut out: Vec<u8> = apex_rdatas(zone, Rtype::DNSKEY)
        .iter()
        .map(|k| k[3])
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The algorithms of the signatures over `rtype` at `owner`.
fn sig_algorithms(zone: &Zone, owner: &str, rtype: Rtype) -> Vec<u8> {
    let mut out: Vec<u8> = zone
        .node(n(owner).as_wire())
        .and_then(|node| node.rrsig(rtype))
        .map(|s| {
            s.rdatas()
                .map(|r| RrsigFields::parse(r).unwrap().algorithm)
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// Small batches, each made by the test's own commits (`step`).
fn set_batch(zone: &ZoneHandle) {
    zone.with_signer(|s, _| {
        s.resign_batch = BATCH;
        s.resign_in_background = false;
    })
    .unwrap();
}

/// The zone under `first`, loaded, then the daemon restarted under `second` (what a
/// configuration change and restart does): the zone's handle, with a walk under way.
fn restarted_under(
    state: &std::path::Path,
    first: &Policy,
    second: &Policy,
) -> (Manager, ZoneHandle) {
    let apex = n("example.org.");
    {
        let manager = Manager::new(state, now);
        let zone = manager.open(&apex, options(first));
        zone.load_file(parse_zone(&zone_text(), "example.org."))
            .unwrap();
        verify_with_tools(&zone.zone().unwrap(), "signed under the first policy");
        manager.wait_images();
    }
    let manager = Manager::new(state, now);
    let zone = manager.open(&apex, options(second));
    set_batch(&zone);
    (manager, zone)
}

/// Commits until the key timeline starts the rollover and the walk is under way: the
/// first commit under the new policy may find the timeline's step not yet due (the
/// zone's first key was made this very second, `timeline::successor_time`), the
/// signing timer's next commit does it. Each version checked.
fn start_walk(zone: &ZoneHandle) {
    for i in 0..50 {
        if resigning(zone) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
        step(zone, &format!("commit {i} before the walk"));
    }
    panic!("the walk did not start");
}

/// One commit of the walk (what the re-sign thread does), the version checked.
fn step(zone: &ZoneHandle, what: &str) -> Zone {
    zone.refresh_signatures().unwrap();
    let served = (*zone.zone().unwrap()).clone();
    verify_with_tools(&served, what);
    served
}

#[test]
fn a_new_algorithm_is_signed_in_batches_each_version_valid_its_dnskey_last() {
    let cases = [
        (Policy::default(), Algorithm::Ed25519, Denial::Nsec),
        (
            Policy {
                algorithm: Algorithm::Ed25519,
                denial: nsec3(),
                ..Policy::default()
            },
            Algorithm::EcdsaP256Sha256,
            nsec3(),
        ),
    ];
    for (first, algorithm, denial) in cases {
        let second = Policy {
            algorithm,
            denial,
            ..first.clone()
        };
        let what = format!("{} to {algorithm}, {denial:?}", first.algorithm);
        let dir = tempfile::tempdir().unwrap();
        let (_manager, zone) = restarted_under(&dir.path().join("state"), &first, &second);
        let old = vec![first.algorithm.number()];
        let mut both = vec![first.algorithm.number(), algorithm.number()];
        both.sort_unstable();
        start_walk(&zone);
        let mut versions = 0;
        let mut serials = vec![zone.zone().unwrap().serial().unwrap()];
        loop {
            let served = step(&zone, &format!("{what}: batch {versions}"));
            versions += 1;
            serials.push(served.serial().unwrap());
            if versions == 3 {
                // A change between batches: kept, and signed with both algorithms.
                zone.submit(
                    "api",
                    Transaction {
                        changes: vec![Change::Add(Record {
                            owner: n("between.example.org."),
                            rtype: Rtype::A,
                            ttl: 300,
                            rdata: vec![198, 51, 100, 77].into(),
                        })],
                        strict: false,
                    },
                )
                .unwrap();
                let served = zone.zone().unwrap();
                verify_with_tools(&served, &format!("{what}: a change between batches"));
                assert_eq!(
                    sig_algorithms(&served, "between.example.org.", Rtype::A),
                    both
                );
            }
            if !resigning(&zone) {
                assert_eq!(dnskey_algorithms(&served), both, "{what}: the end");
                break;
            }
            // The new algorithm's DNSKEY waits until every RRset carries its
            // signatures (RFC 6781 §4.1.4).
            assert_eq!(dnskey_algorithms(&served), old, "{what}: batch {versions}");
            assert!(versions < 200, "{what}: the walk does not end");
        }
        assert!(versions >= 5, "{what}: {versions} versions");
        let last = zone.zone().unwrap();
        for owner in ["example.org.", "h0.example.org.", "h119.example.org."] {
            assert_eq!(sig_algorithms(&last, owner, Rtype::A).len() % 2, 0);
        }
        assert_eq!(sig_algorithms(&last, "h119.example.org.", Rtype::A), both);
        assert!(last.node(n("between.example.org.").as_wire()).is_some());
        // Each batch is a version of its own in the journal (what IXFR carries).
        let journal = zone.published().journal.clone();
        let entries = journal.entries();
        let new: Vec<u32> = entries
            .iter()
            .map(|e| e.diff.new_serial)
            .filter(|s| serials[1..].contains(s))
            .collect();
        assert_eq!(new.len(), versions, "{what}: {new:?} {serials:?}");
    }
}

#[test]
fn a_restart_in_the_middle_of_a_re_sign_goes_on_from_where_it_stopped() {
    let first = Policy::default();
    let second = Policy {
        algorithm: Algorithm::Ed25519,
        ..Policy::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (manager, zone) = restarted_under(&state, &first, &second);
    start_walk(&zone);
    for i in 0..3 {
        step(&zone, &format!("batch {i} before the restart"));
    }
    assert!(resigning(&zone));
    manager.wait_images();
    drop(zone);
    drop(manager);

    let manager = Manager::new(&state, now);
    let zone = manager.open(&n("example.org."), options(&second));
    set_batch(&zone);
    let restored = zone.zone().unwrap();
    verify_with_tools(&restored, "restored in the middle of the walk");
    assert!(resigning(&zone), "the walk is found again");
    let t = now();
    assert!(
        zone.signature_refresh_due(t).is_some_and(|due| due <= t),
        "the zone wants its next batch at once"
    );
    let mut versions = 0;
    while resigning(&zone) {
        step(&zone, &format!("batch {versions} after the restart"));
        versions += 1;
        assert!(versions < 200);
    }
    let last = zone.zone().unwrap();
    assert_eq!(dnskey_algorithms(&last), vec![13, 15]);
    assert_eq!(
        sig_algorithms(&last, "h5.example.org.", Rtype::A),
        vec![13, 15]
    );
    assert!(!super::resign::was_started(&state, &n("example.org.")));
}

#[test]
fn a_policy_change_of_a_running_zone_is_signed_in_the_background_in_several_versions() {
    let first = Policy::default();
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::new(&dir.path().join("state"), now);
    let zone = manager.open(&n("example.org."), options(&first));
    zone.load_file(parse_zone(&zone_text(), "example.org."))
        .unwrap();
    let before = zone.zone().unwrap().serial().unwrap();
    let second = Policy {
        algorithm: Algorithm::Ed25519,
        ..first
    };
    // The stage set_options opens (on this thread) makes small batches.
    super::resign::TEST_BATCH.set(BATCH);
    zone.set_options(options(&second)).unwrap();
    // A change while the walk goes on.
    zone.submit(
        "api",
        Transaction {
            changes: vec![Change::Add(Record {
                owner: n("during.example.org."),
                rtype: Rtype::TXT,
                ttl: 300,
                rdata: b"\x06during".to_vec().into_boxed_slice(),
            })],
            strict: false,
        },
    )
    .unwrap();
    let start = Instant::now();
    // The key timeline starts the rollover a second later when the zone's first key
    // was made this very second (`timeline::successor_time`): then the commit that
    // starts the walk is another's (the signing timer's, as the daemon makes it, or
    // the change above), and that commit starts the thread making its batches.
    while dnskey_algorithms(&zone.zone().unwrap()) != vec![13, 15] && !resigning(&zone) {
        assert!(start.elapsed() < Duration::from_secs(60), "no rollover");
        std::thread::sleep(Duration::from_millis(100));
        zone.refresh_signatures().unwrap();
    }
    while resigning(&zone) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the walk does not end"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let last = zone.zone().unwrap();
    verify_with_tools(&last, "after the walk");
    assert_eq!(dnskey_algorithms(&last), vec![13, 15]);
    assert_eq!(
        sig_algorithms(&last, "during.example.org.", Rtype::TXT),
        vec![13, 15]
    );
    let versions = zone
        .published()
        .journal
        .entries()
        .iter()
        .filter(|e| crate::zone::serial::serial_gt(e.diff.new_serial, before))
        .count();
    assert!(versions >= 5, "{versions} versions");
}

/// The clock of the test below, moved by hand.
static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn test_clock() -> u64 {
    CLOCK.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn a_walk_started_by_another_sources_commit_goes_on_in_the_background() {
    use std::sync::atomic::Ordering::SeqCst;
    CLOCK.store(now(), SeqCst);
    let first = Policy::default();
    let second = Policy {
        algorithm: Algorithm::Ed25519,
        ..first.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::new(&dir.path().join("state"), test_clock);
    let zone = manager.open(&n("example.org."), options(&first));
    zone.load_file(parse_zone(&zone_text(), "example.org."))
        .unwrap();
    super::resign::TEST_BATCH.set(BATCH);
    // In the second the zone's first key was made, the new algorithm's keys are
    // published from the next one (`timeline::successor_time`): no walk yet.
    zone.set_options(options(&second)).unwrap();
    assert!(!resigning(&zone));
    assert_eq!(dnskey_algorithms(&zone.zone().unwrap()), vec![13]);
    // A second later, an update's commit is the one that starts the walk.
    CLOCK.fetch_add(1, SeqCst);
    zone.submit(
        "api",
        Transaction {
            changes: vec![Change::Add(Record {
                owner: n("later.example.org."),
                rtype: Rtype::TXT,
                ttl: 300,
                rdata: b"\x05later".to_vec().into_boxed_slice(),
            })],
            strict: false,
        },
    )
    .unwrap();
    let start = Instant::now();
    while resigning(&zone) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "nobody makes the walk's batches"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let last = zone.zone().unwrap();
    verify_with_tools(&last, "after the walk");
    assert_eq!(dnskey_algorithms(&last), vec![13, 15]);
    assert_eq!(
        sig_algorithms(&last, "later.example.org.", Rtype::TXT),
        vec![13, 15]
    );
}
