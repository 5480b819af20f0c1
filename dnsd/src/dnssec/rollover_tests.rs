//! Time travel: 120 simulated days of a signed zone in the zone manager, driven by an
//! injected clock — a ZSK rolled by pre-publication every 30 days (KSK+ZSK zone) and
//! a CSK rolled by double signature (CSK zone, its parent's DS changed by a simulated
//! registrar that reads the CDS) — with the signing timer emulated event by event (the
//! commit the daemon's timer makes when the zone is due), a change a day, a
//! validating resolver's cache model and the tools checked throughout (`rollover_sim`).

use std::sync::atomic::{AtomicU64, Ordering};

use super::rollover_sim::{START, assert_clean, simulate, simulate_with};
use crate::dnssec::policy::{DAY, KeyScheme, Policy};

/// One clock per zone simulated (the tests run in parallel).
static ZSK_CLOCK: AtomicU64 = AtomicU64::new(START);
static CSK_CLOCK: AtomicU64 = AtomicU64::new(START);
static ALG_CLOCK: AtomicU64 = AtomicU64::new(START);

fn alg_clock() -> u64 {
    ALG_CLOCK.load(Ordering::SeqCst)
}

fn zsk_clock() -> u64 {
    ZSK_CLOCK.load(Ordering::SeqCst)
}

fn csk_clock() -> u64 {
    CSK_CLOCK.load(Ordering::SeqCst)
}

#[test]
fn a_zsk_rolls_by_pre_publication_for_120_days_without_a_bogus_answer() {
    let policy = Policy {
        scheme: KeyScheme::KskZsk,
        zsk_lifetime: 30 * u64::from(DAY),
        ..Policy::default()
    };
    let report = simulate("zsk.example.", policy, 120, zsk_clock, &ZSK_CLOCK);
    // Three rollovers (days 30, 60, 90): each a publish, a switch and a removal.
    assert_clean(&report, "ZSK", 9);
    assert!(
        report.key_steps.iter().all(|s| !s.contains("parent")),
        "a ZSK rollover leaves the parent alone"
    );
}

#[test]
fn a_csk_rolls_by_double_signature_for_120_days_without_a_bogus_answer() {
    let policy = Policy {
        scheme: KeyScheme::Csk,
        ksk_lifetime: 45 * u64::from(DAY),
        parent_resolvers: vec!["198.51.100.53:53".parse().unwrap()],
        ..Policy::default()
    };
    let report = simulate("csk.example.", policy, 120, csk_clock, &CSK_CLOCK);
    assert_clean(&report, "CSK", 6);
    assert_eq!(
        report
            .key_steps
            .iter()
            .filter(|s| s.contains("parent"))
            .count(),
        2,
        "the DS changes once per rollover (days 45 and 90):\n{}",
        report.key_steps.join("\n")
    );
}

/// Algorithm rollover (RFC 6781 §4.1.4): ECDSAP256SHA256 to ED25519 on day 10 of a
/// CSK zone; every RRset signed with both while both are published (RFC 6840 §5.11),
/// the new CDS once the new signatures are in every cache, the old keys gone after
/// the parent's new DS; checked by the cache model and both tools at every step.
#[test]
fn an_algorithm_rollover_keeps_every_answer_valid() {
    let policy = Policy {
        scheme: KeyScheme::Csk,
        parent_resolvers: vec!["198.51.100.53:53".parse().unwrap()],
        ..Policy::default()
    };
    let next = Policy {
        algorithm: crate::dnssec::Algorithm::Ed25519,
        ..policy.clone()
    };
    let report = simulate_with(
        "alg.example.",
        policy,
        30,
        alg_clock,
        &ALG_CLOCK,
        Some((10, next)),
    );
    assert_clean(&report, "algorithm", 4);
    let steps = report.key_steps.join("\n");
    assert_eq!(
        report
            .key_steps
            .iter()
            .filter(|s| s.contains("parent"))
            .count(),
        1,
        "the DS changes once:\n{steps}"
    );
    // Both algorithms sign at some step, and only ED25519 at the end.
    assert!(
        report
            .key_steps
            .iter()
            .any(|s| s.contains("SOA signed by") && s.matches(", ").count() >= 1),
        "{steps}"
    );
    assert!(
        report.final_algorithms == vec![15],
        "the DNSKEY RRset at the end: {:?}\n{steps}",
        report.final_algorithms
    );
}
