//! A change of keys and denial at once (an algorithm rollover with NSEC to NSEC3, and
//! back): the denial walked first, then the re-sign, each in batches of
//! a version each, every version checked by the verifiers, the new algorithm's DNSKEY
//! only at the end, a change between batches kept, a restart in the middle of either
//! walk going on to the end.

use super::Algorithm;
use super::policy::{Denial, Policy};
use super::rechain::Phase;
use super::rechain_tests::{
    add, count, now, nsec3, phase, reopened, step, stop_after_three, zone_text,
};
use super::test_support::{apex_rdatas, n, options, parse_zone, resigning};
use super::tools_tests::verify_with_tools;
use crate::manager::{Manager, ZoneHandle};
use crate::zone::{Rtype, Zone};

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

/// The zone signed under `first`, then the daemon restarted under `second` once the
/// clock's second has moved on (the new algorithm's keys are then made at the first
/// commit, `timeline::successor_time`).
fn restarted_under(
    state: &std::path::Path,
    first: &Policy,
    second: &Policy,
) -> (Manager, ZoneHandle) {
    let made = {
        let manager = Manager::new(state, now);
        let zone = manager.open(&n("example.org."), options(first));
        zone.load_file(parse_zone(&zone_text(), "example.org."))
            .unwrap();
        verify_with_tools(&zone.zone().unwrap(), "signed under the first policy");
        manager.wait_images();
        now()
    };
    while now() == made {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reopened(state, second)
}

/// The two policies of a case: an algorithm and a denial, both changed.
fn cases() -> [(Policy, Policy); 2] {
    let ecdsa_nsec = Policy::default();
    // Without Opt-Out: ldns-verify-zone 1.8.3 refuses the versions of NSEC to NSEC3
    // with Opt-Out that still hold NSEC records (an insecure delegation's NSEC and
    // its RRSIG make it want an NSEC3 for it), which dnssec-verify and kzonecheck
    // accept; NSEC3 with Opt-Out to NSEC is `rechain_tests`'.
    let ed_nsec3 = Policy {
        algorithm: Algorithm::Ed25519,
        denial: nsec3(false),
        ..Policy::default()
    };
    [
        (ecdsa_nsec.clone(), ed_nsec3.clone()),
        (ed_nsec3, ecdsa_nsec),
    ]
}

/// Whether `zone`'s denial is the one `policy` asks for, and it alone.
fn denial_is(zone: &Zone, policy: &Policy) -> bool {
    match policy.denial {
        Denial::Nsec => count(zone, Rtype::NSEC3) == 0 && count(zone, Rtype::NSEC) > 0,
        Denial::Nsec3 { .. } => {
            count(zone, Rtype::NSEC) == 0 && count(zone, Rtype::NSEC3PARAM) == 1
        }
    }
}

#[test]
fn keys_and_denial_changed_at_once_walk_the_denial_then_the_keys_each_version_valid() {
    for (first, second) in cases() {
        let what = format!(
            "{} {:?} to {} {:?}",
            first.algorithm, first.denial, second.algorithm, second.denial
        );
        let dir = tempfile::tempdir().unwrap();
        let (_manager, zone) = restarted_under(&dir.path().join("state"), &first, &second);
        let old = vec![first.algorithm.number()];
        let mut both = vec![first.algorithm.number(), second.algorithm.number()];
        both.sort_unstable();
        let mut phases: Vec<Phase> = Vec::new();
        let (mut denial_versions, mut key_versions, mut added) = (0, 0, 0);
        loop {
            let served = step(
                &zone,
                &format!("{what}: version {}", denial_versions + key_versions),
            );
            match phase(&zone) {
                Some(p) => {
                    assert_eq!(key_versions, 0, "{what}: the denial after the keys");
                    denial_versions += 1;
                    if phases.last() != Some(&p) {
                        phases.push(p);
                        add(&zone, &format!("between{added}.example.org."));
                        added += 1;
                    }
                }
                None if resigning(&zone) => {
                    if key_versions == 0 {
                        // The denial is the policy's before the keys are walked.
                        assert!(denial_is(&served, &second), "{what}: the denial done");
                        add(&zone, &format!("between{added}.example.org."));
                        added += 1;
                    }
                    key_versions += 1;
                }
                None => {
                    assert_eq!(dnskey_algorithms(&served), both, "{what}: the end");
                    break;
                }
            }
            // The new algorithm's DNSKEY waits until every RRset carries its
            // signatures (RFC 6781 §4.1.4).
            assert_eq!(dnskey_algorithms(&served), old, "{what}");
            assert!(
                denial_versions + key_versions < 400,
                "{what}: the walk does not end"
            );
        }
        assert!(
            denial_versions >= 4,
            "{what}: {denial_versions} versions of the denial"
        );
        assert!(
            key_versions >= 2,
            "{what}: {key_versions} versions of the keys"
        );
        assert_eq!(phases.len(), 2, "{what}: {phases:?}");
        let last = zone.zone().unwrap();
        verify_with_tools(&last, &format!("{what}: the end"));
        assert!(denial_is(&last, &second), "{what}");
        for i in 0..added {
            let owner = n(&format!("between{i}.example.org."));
            assert!(last.node(owner.as_wire()).is_some(), "{what}: {owner}");
        }
    }
}

#[test]
fn a_restart_in_the_middle_of_a_keys_and_denial_change_goes_on_to_the_end() {
    let [(first, second), _] = cases();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Stopped in the denial's walk, then in the keys' walk.
    for stop_in_denial in [true, false] {
        let _ = std::fs::remove_dir_all(&state);
        let (manager, zone) = restarted_under(&state, &first, &second);
        if stop_in_denial {
            stop_after_three(&zone, Phase::BuildNsec3);
        } else {
            let mut batches = 0;
            while batches < 2 {
                step(&zone, "before the restart");
                if phase(&zone).is_none() {
                    batches += 1;
                }
                assert!(resigning(&zone), "the walk ended before the restart");
            }
        }
        manager.wait_images();
        drop(zone);
        drop(manager);
        let (_manager, zone) = reopened(&state, &second);
        assert!(resigning(&zone), "the walk is found again");
        let mut versions = 0;
        while resigning(&zone) {
            let served = step(&zone, &format!("batch {versions} after the restart"));
            if resigning(&zone) {
                assert_eq!(dnskey_algorithms(&served), vec![13]);
            }
            versions += 1;
            assert!(versions < 400);
        }
        let last = zone.zone().unwrap();
        verify_with_tools(&last, &format!("stopped in the denial: {stop_in_denial}"));
        assert_eq!(dnskey_algorithms(&last), vec![13, 15]);
        assert!(denial_is(&last, &second));
        assert!(!super::rechain::was_started(&state, &n("example.org.")));
        assert!(!super::resign::was_started(&state, &n("example.org.")));
    }
}
