//! A change of the denial of existence of a signed zone larger than a batch (NSEC to
//! NSEC3, NSEC3 to NSEC, Opt-Out on and off): walked over several versions
//! (`rechain`), each checked by the verifiers; a change made between batches kept; a
//! restart in the middle going on to the end.

use std::fmt::Write as _;

use super::policy::{Denial, Policy};
use super::rechain::{Nsec3Chain, Phase};
use super::test_support::{apex_rdatas, n, options, parse_zone, resigning};
use super::tools_tests::{verify_with_tools, verify_with_tools_but};
use crate::manager::{Manager, ZoneHandle};
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// Signatures per batch: the zone below needs a dozen batches or more per phase.
const BATCH: usize = 40;

/// About 120 names: hosts, an insecure delegation with glue, a secure one, a
/// wildcard, an empty non-terminal.
pub(super) fn zone_text() -> String {
    let mut text = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ 3600 SOA ns h 1 3600 900 604800 600\n@ NS ns\n\
         ns A 198.51.100.1\nsub NS ns.sub\nns.sub A 198.51.100.3\nsec NS ns.sub\n\
         sec DS 1 13 2 abababababababababababababababababababababababababababababababab\n\
         *.w TXT wild\na.b.c TXT deep\n",
    );
    for i in 0..120 {
        let _ = writeln!(text, "h{i} A 198.51.100.{}", i % 250);
    }
    text
}

pub(super) fn now() -> u64 {
    crate::manager::unix_now()
}

pub(super) fn policy(denial: Denial) -> Policy {
    Policy {
        denial,
        ..Policy::default()
    }
}

pub(super) fn nsec3(opt_out: bool) -> Denial {
    Denial::Nsec3 {
        iterations: 0,
        opt_out,
    }
}

pub(super) fn phase(zone: &ZoneHandle) -> Option<Phase> {
    zone.with_signer(|s, _| s.denial_phase()).unwrap()
}

/// The zone signed under `first`, then the daemon restarted under `second`, batches
/// made by the test's own commits.
fn restarted_under(
    state: &std::path::Path,
    first: &Policy,
    second: &Policy,
) -> (Manager, ZoneHandle) {
    {
        let manager = Manager::new(state, now);
        let zone = manager.open(&n("example.org."), options(first));
        zone.load_file(parse_zone(&zone_text(), "example.org."))
            .unwrap();
        verify_with_tools(&zone.zone().unwrap(), "signed under the first policy");
        manager.wait_images();
    }
    reopened(state, second)
}

pub(super) fn reopened(state: &std::path::Path, policy: &Policy) -> (Manager, ZoneHandle) {
    let manager = Manager::new(state, now);
    let zone = manager.open(&n("example.org."), options(policy));
    zone.with_signer(|s, _| {
        s.resign_batch = BATCH;
        s.resign_in_background = false;
    })
    .unwrap();
    (manager, zone)
}

/// The verifiers a version of `phase` is not checked by, and why (see `rechain`'s
/// documentation): an NSEC zone holding NSEC3 records without NSEC3PARAM makes
/// kzonecheck 3.2.6 crash, and ldns-verify-zone wants those records to cover every
/// name.
fn unjudged(phase: Option<Phase>) -> &'static [&'static str] {
    match phase {
        Some(Phase::BuildNsec3 | Phase::DropNsec3) => &["kzonecheck", "ldns-verify-zone"],
        // Two NSEC3 chains at once: both tools read every NSEC3 record as one chain
        // ("inconsistent NSEC(3) chain"; "original of NSEC3 hashed name could not be
        // found"); dnssec-verify checks the chain the NSEC3PARAM names.
        Some(Phase::BuildNsec3Beside { .. } | Phase::DropOldNsec3 { .. }) => {
            &["kzonecheck", "ldns-verify-zone"]
        }
        _ => &[],
    }
}

/// One commit (what the re-sign thread does); the version checked.
pub(super) fn step(zone: &ZoneHandle, what: &str) -> Zone {
    zone.refresh_signatures().unwrap();
    let served = (*zone.zone().unwrap()).clone();
    // A version is of the phase the stage is in after it: a batch, or the switch
    // into it.
    verify_with_tools_but(&served, what, unjudged(phase(zone)));
    served
}

pub(super) fn add(zone: &ZoneHandle, owner: &str) {
    zone.submit(
        "api",
        Transaction {
            changes: vec![Change::Add(Record {
                owner: n(owner),
                rtype: Rtype::A,
                ttl: 300,
                rdata: vec![198, 51, 100, 77].into(),
            })],
            strict: false,
        },
    )
    .unwrap();
}

pub(super) fn count(zone: &Zone, rtype: Rtype) -> usize {
    zone.records().filter(|r| r.rtype == rtype).count()
}

/// Walks the change from `first` to `second` to its end, checking every version,
/// adding a name between two batches of each phase; the phases seen in order.
fn walk(first: &Policy, second: &Policy, what: &str) -> (Zone, Vec<Phase>) {
    let dir = tempfile::tempdir().unwrap();
    let (_manager, zone) = restarted_under(&dir.path().join("state"), first, second);
    walk_zone(&zone, what)
}

/// [`walk`], of a zone whose walk is about to start.
pub(super) fn walk_zone(zone: &ZoneHandle, what: &str) -> (Zone, Vec<Phase>) {
    let zone = zone.clone();
    let mut phases: Vec<Phase> = Vec::new();
    let mut versions = 0;
    let mut added = 0;
    loop {
        let served = step(&zone, &format!("{what}: version {versions}"));
        versions += 1;
        if let Some(p) = phase(&zone)
            && phases.last() != Some(&p)
        {
            phases.push(p);
            // A change between two batches of the phase, kept and signed.
            add(&zone, &format!("between{added}.example.org."));
            added += 1;
            let served = zone.zone().unwrap();
            verify_with_tools_but(
                &served,
                &format!("{what}: a change in {p:?}"),
                unjudged(Some(p)),
            );
        }
        if !resigning(&zone) {
            assert!(versions > 5, "{what}: {versions} versions");
            let last = zone.zone().unwrap();
            verify_with_tools(&last, &format!("{what}: the end"));
            for i in 0..added {
                let owner = n(&format!("between{i}.example.org."));
                assert!(last.node(owner.as_wire()).is_some(), "{what}: {owner}");
            }
            return ((*last).clone(), phases);
        }
        assert!(versions < 400, "{what}: the walk does not end");
        let _ = served;
    }
}

#[test]
fn nsec_to_nsec3_is_built_beside_then_switched_each_version_valid() {
    let (last, phases) = walk(&Policy::default(), &policy(nsec3(false)), "NSEC to NSEC3");
    assert_eq!(phases, vec![Phase::BuildNsec3, Phase::DropNsec]);
    assert_eq!(count(&last, Rtype::NSEC), 0);
    assert_eq!(count(&last, Rtype::NSEC3PARAM), 1);
}

#[test]
fn nsec3_to_nsec_is_built_beside_then_switched_each_version_valid() {
    let (last, phases) = walk(&policy(nsec3(true)), &Policy::default(), "NSEC3 to NSEC");
    assert_eq!(
        phases,
        vec![
            Phase::BuildNsec {
                served: Nsec3Chain::new(0, &[], true)
            },
            Phase::DropNsec3
        ]
    );
    assert_eq!(count(&last, Rtype::NSEC3), 0);
    assert_eq!(count(&last, Rtype::NSEC3PARAM), 0);
}

#[test]
fn opt_out_turned_on_and_off_rewrites_the_chain_in_place_each_version_valid() {
    let (on, phases) = walk(&policy(nsec3(false)), &policy(nsec3(true)), "Opt-Out on");
    assert_eq!(
        phases,
        vec![Phase::Flags {
            opt_out: true,
            flag: true
        }]
    );
    let flags = |z: &Zone| -> Vec<u8> {
        let mut f: Vec<u8> = z
            .records()
            .filter(|r| r.rtype == Rtype::NSEC3)
            .map(|r| r.rdata[1])
            .collect();
        f.sort_unstable();
        f.dedup();
        f
    };
    assert_eq!(flags(&on), vec![1]);
    let (off, phases) = walk(&policy(nsec3(true)), &policy(nsec3(false)), "Opt-Out off");
    assert_eq!(
        phases,
        vec![
            Phase::Flags {
                opt_out: false,
                flag: true
            },
            Phase::Flags {
                opt_out: false,
                flag: false
            }
        ]
    );
    assert_eq!(flags(&off), vec![0]);
    // The insecure delegation is out of the chain with Opt-Out, in it again without.
    let sub = |z: &Zone| {
        let hash = super::nsec3::nsec3_hash(n("sub.example.org.").as_wire(), &[], 0);
        let owner = super::nsec3::hashed_owner(&hash, n("example.org.").as_wire());
        z.node(&owner).is_some()
    };
    assert!(
        !sub(&on),
        "Opt-Out on: no record for the insecure delegation"
    );
    assert!(sub(&off), "Opt-Out off: its record is back");
}

#[test]
fn a_restart_in_the_middle_of_a_denial_change_goes_on_from_where_it_stopped() {
    let first = Policy::default();
    let second = policy(nsec3(false));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for stop_in in [Phase::BuildNsec3, Phase::DropNsec] {
        let (_manager, zone) = stopped_and_reopened(&state, &first, &second, stop_in);
        let mut versions = 0;
        while resigning(&zone) {
            step(
                &zone,
                &format!("{stop_in:?}: batch {versions} after the restart"),
            );
            versions += 1;
            assert!(versions < 400);
        }
        let last = zone.zone().unwrap();
        verify_with_tools(&last, &format!("{stop_in:?}: after the restart"));
        assert_eq!(count(&last, Rtype::NSEC), 0);
        assert!(!super::rechain::was_started(&state, &n("example.org.")));
    }
}

/// Whether every NSEC3 record of `zone` is of the chain of `iterations` and `salt`,
/// and its NSEC3PARAM names that chain alone.
fn only_chain(zone: &Zone, iterations: u16, salt: &[u8]) -> bool {
    let p = super::nsec3::Params {
        salt,
        iterations,
        opt_out: false,
        opt_out_flag: false,
    };
    zone.records()
        .filter(|r| r.rtype == Rtype::NSEC3)
        .all(|r| super::nsec3::of_chain(&r.rdata, p))
        && apex_rdatas(zone, Rtype::NSEC3PARAM)
            == vec![super::rdata::nsec3param_rdata(0, iterations, salt)]
}

#[test]
fn nsec3_iterations_changed_build_the_new_chain_beside_then_switch_each_version_valid() {
    // An NSEC3 chain of 1 iteration with Opt-Out (what an older signer made; dnsd's
    // policy refuses it now, RFC 9276) to the policy's: 0 iterations, no Opt-Out.
    let first = policy(Denial::Nsec3 {
        iterations: 1,
        opt_out: true,
    });
    let (last, phases) = walk(&first, &policy(nsec3(false)), "NSEC3 1 iteration to 0");
    let old = Nsec3Chain::new(1, &[], true);
    assert_eq!(
        phases,
        vec![
            Phase::BuildNsec3Beside { served: old },
            Phase::DropOldNsec3 { old }
        ]
    );
    assert!(only_chain(&last, 0, &[]));
    assert_eq!(count(&last, Rtype::NSEC), 0);
}

/// `zone`'s NSEC3 chain made again with `salt` and signed by `ctx`'s keys: what
/// another signer (BIND's `dnssec-signzone -3 SALT`) would give the zone.
fn resalted(zone: &Zone, ctx: super::signer::Context<'_>, salt: &[u8]) -> Zone {
    use super::nsec3::{Params, full_chain};
    let p = Params {
        salt,
        iterations: 0,
        opt_out: false,
        opt_out_flag: false,
    };
    let mut t = Transaction::new();
    for node in zone.nsec3_nodes() {
        t.changes.push(Change::RemoveName {
            owner: node.owner_name(),
        });
    }
    let chain = full_chain(zone, p)
        .into_iter()
        .map(|(h, r)| (h, Some(r)))
        .collect();
    let mut scratch = super::sign::Scratch::default();
    super::signer::push_nsec3(zone, chain, ctx, &mut t, &mut scratch).unwrap();
    let ttl = zone.apex_node().rrset(Rtype::NSEC3PARAM).unwrap().ttl;
    t.changes.push(Change::Replace {
        owner: zone.apex().clone(),
        rtype: Rtype::NSEC3PARAM,
        ttl,
        rdatas: vec![super::rdata::nsec3param_rdata(0, 0, salt).into()],
    });
    let z = crate::zone::txn::apply(zone, &t).unwrap().zone;
    let apex = z.apex_node();
    let param = apex.rrset(Rtype::NSEC3PARAM).unwrap();
    let mut t = Transaction::new();
    super::rrset_changes::resign_rrset(
        &apex,
        &apex.owner_name(),
        Rtype::NSEC3PARAM,
        ttl,
        || param.rdatas(),
        z.apex().as_wire(),
        ctx,
        &mut scratch,
        &mut t,
    )
    .unwrap();
    crate::zone::txn::apply(&z, &t).unwrap().zone
}

/// A zone signed elsewhere with a salted NSEC3 chain, served as it is, its keys then
/// imported and signing turned on under `second` (what `dnsd keys import` and
/// `sign = true` do): the zone's handle, batches made by the test's commits.
fn imported_salted(dir: &std::path::Path, second: &Policy) -> (Manager, ZoneHandle) {
    let apex = n("example.org.");
    let elsewhere = dir.join("elsewhere");
    let salted = {
        let manager = Manager::new(&elsewhere, now);
        let zone = manager.open(&apex, options(&policy(nsec3(false))));
        zone.load_file(parse_zone(&zone_text(), "example.org."))
            .unwrap();
        let signed = zone.zone().unwrap();
        zone.with_signer(|s, _| {
            let ctx = super::signer::Context {
                policy: &s.policy,
                keys: &s.key_set,
                now: now(),
            };
            resalted(&signed, ctx, &[0xab, 0xcd, 0xef])
        })
        .unwrap()
    };
    verify_with_tools(&salted, "the zone signed elsewhere, salted");
    let state = dir.join("state");
    {
        let manager = Manager::new(&state, now);
        let zone = manager.open(&apex, crate::manager::ZoneOptions::default());
        zone.load_file(salted).unwrap();
        manager.wait_images();
    }
    let (from, to) = (
        super::store::zone_dir(&elsewhere, &apex),
        super::store::zone_dir(&state, &apex),
    );
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    reopened(&state, second)
}

#[test]
fn an_imported_salted_nsec3_chain_is_replaced_in_batches_each_version_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (_manager, zone) = imported_salted(dir.path(), &policy(nsec3(false)));
    assert!(only_chain(&zone.zone().unwrap(), 0, &[0xab, 0xcd, 0xef]));
    let (last, phases) = walk_zone(&zone, "salt abcdef to none");
    let old = Nsec3Chain::new(0, &[0xab, 0xcd, 0xef], false);
    assert_eq!(
        phases,
        vec![
            Phase::BuildNsec3Beside { served: old },
            Phase::DropOldNsec3 { old }
        ]
    );
    assert!(only_chain(&last, 0, &[]));
}

#[test]
fn an_imported_salted_nsec3_chain_to_nsec_is_walked_too() {
    let dir = tempfile::tempdir().unwrap();
    let (_manager, zone) = imported_salted(dir.path(), &Policy::default());
    let (last, phases) = walk_zone(&zone, "salted NSEC3 to NSEC");
    let served = Nsec3Chain::new(0, &[0xab, 0xcd, 0xef], false);
    assert_eq!(phases, vec![Phase::BuildNsec { served }, Phase::DropNsec3]);
    assert_eq!(count(&last, Rtype::NSEC3), 0);
    assert_eq!(count(&last, Rtype::NSEC3PARAM), 0);
}

#[test]
fn a_restart_in_the_middle_of_an_nsec3_parameter_change_goes_on_from_where_it_stopped() {
    let first = policy(Denial::Nsec3 {
        iterations: 1,
        opt_out: false,
    });
    let second = policy(nsec3(false));
    let old = Nsec3Chain::new(1, &[], false);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for stop_in in [
        Phase::BuildNsec3Beside { served: old },
        Phase::DropOldNsec3 { old },
    ] {
        let (_manager, zone) = stopped_and_reopened(&state, &first, &second, stop_in);
        assert_eq!(phase(&zone), None, "{stop_in:?}: found at the next commit");
        let mut phases = Vec::new();
        let mut versions = 0;
        while resigning(&zone) {
            step(
                &zone,
                &format!("{stop_in:?}: batch {versions} after the restart"),
            );
            if let Some(p) = phase(&zone)
                && phases.last() != Some(&p)
            {
                phases.push(p);
            }
            versions += 1;
            assert!(versions < 400);
        }
        // Found again in the phase it stopped in (or ended by the first batch).
        assert!(
            phases.first().is_none_or(|p| *p == stop_in),
            "{stop_in:?}: {phases:?}"
        );
        let last = zone.zone().unwrap();
        verify_with_tools(&last, &format!("{stop_in:?}: after the restart"));
        assert!(only_chain(&last, 0, &[]));
        assert!(!super::rechain::was_started(&state, &n("example.org.")));
    }
}

/// Commits until three versions of phase `stop_in` are made.
/// A zone signed under `first` and restarted under `second` (in a fresh `state`),
/// stopped three versions into `stop_in`, then reopened: the walk must be found again.
fn stopped_and_reopened(
    state: &std::path::Path,
    first: &Policy,
    second: &Policy,
    stop_in: Phase,
) -> (Manager, ZoneHandle) {
    let _ = std::fs::remove_dir_all(state);
    let (manager, zone) = restarted_under(state, first, second);
    stop_after_three(&zone, stop_in);
    manager.wait_images();
    drop(zone);
    drop(manager);
    let (manager, zone) = reopened(state, second);
    assert!(resigning(&zone), "{stop_in:?}: the walk is found again");
    (manager, zone)
}

pub(super) fn stop_after_three(zone: &ZoneHandle, stop_in: Phase) {
    let mut versions = 0;
    while phase(zone) != Some(stop_in) || versions < 3 {
        if phase(zone) == Some(stop_in) {
            versions += 1;
        }
        step(zone, &format!("{stop_in:?}: before the restart"));
        assert!(resigning(zone), "{stop_in:?}: the walk ended before it");
    }
}
