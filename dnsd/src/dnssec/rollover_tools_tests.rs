//! Every version of a CSK rollover and of an algorithm rollover checked by the three
//! tools — BIND's `dnssec-verify` (which has no time option and cannot run under
//! libfaketime), `ldns-verify-zone` and `kzonecheck` — at the real time: the zone
//! manager's clock starts at the real time and moves by seconds, with rollover
//! timings of a minute, so that every signature made is already valid when the tools
//! read it (inception an hour back) and the whole rollover fits in minutes.
//!
//! kzonecheck and double-signed CSK zones: Knot (3.2.6, and its master branch too)
//! validates a zone with keys it infers from the DNSKEY RRset (`policy_from_zone` in
//! `knot/dnssec/context.c`): single-type signing (CSK) only when the RRset holds one
//! key; otherwise a key flagged 257 counts as a KSK alone (`kasp_zone_keys_from_rr`:
//! `is_zsk = single_type || !is_ksk`), so with two CSKs no key may sign the data and
//! `knot_validate_rrsigs` reports "no valid signature for a record" for the first
//! RRset it meets. That is not dnsd's output: a zone signed by `ldns-signzone` with two
//! CSKs is refused the same way, and BIND and ldns accept both. So kzonecheck checks
//! every version except those with two CSKs, and only while a control zone made by
//! ldns shows the limitation: once kzonecheck accepts the control, it checks those too.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use super::test_support::{answer_ds_check, apex_rdatas, n, parse_zone};
use super::tools_tests::verify_with_tools;
use crate::dnssec::Algorithm;
use crate::dnssec::policy::{KeyScheme, Policy};
use crate::dnssec::store;
use crate::manager::{Manager, ZoneOptions};
use crate::zone::{Rtype, Zone};

/// A zone whose TTLs are a minute.
fn zone_text(apex: &str) -> String {
    format!(
        "$ORIGIN {apex}\n$TTL 60\n@ SOA ns h 1 3600 900 604800 60\n@ NS ns\n\
         ns A 198.51.100.1\nwww A 198.51.100.2\nmail MX 10 mail\nmail A 198.51.100.3\n\
         sub NS ns.sub\nns.sub A 198.51.100.4\n*.w TXT wild\n"
    )
}

/// Rollover timings of a minute.
fn policy() -> Policy {
    Policy {
        scheme: KeyScheme::Csk,
        dnskey_ttl: Some(60),
        propagation_delay: 60,
        parent_ds_ttl: 60,
        parent_resolvers: vec!["198.51.100.53:53".parse().unwrap()],
        ds_check_interval: 1,
        ..Policy::default()
    }
}

/// How the rollover starts.
enum Start {
    /// `dnsd keys retire` of the CSK.
    Retire,
    /// The policy's algorithm changes.
    Algorithm(Algorithm),
}

/// Runs a rollover of zone `apex` from the real time on, the clock `clock` read by the
/// manager and set through `set`; every new version goes through the three tools.
/// Returns the key steps seen (DNSKEY tags and algorithms).
fn rollover(
    apex: &str,
    start: Start,
    clock: crate::manager::Clock,
    set: &AtomicU64,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let t0 = crate::manager::unix_now();
    set.store(t0, Ordering::SeqCst);
    let apex_name = n(apex);
    let manager = Manager::new(&state, clock);
    let zone = manager.open(
        &apex_name,
        ZoneOptions {
            dnssec: Some(policy()),
            ..ZoneOptions::default()
        },
    );
    zone.load_file(parse_zone(&zone_text(apex), apex)).unwrap();
    let check = |z: &Zone, what: &str| verify_with_tools(z, what);
    let first = zone.zone().unwrap();
    check(&first, "first version");
    let final_algorithm = match start {
        Start::Retire => {
            let mut keys = store::load(&state, &apex_name).unwrap();
            assert_eq!(keys.len(), 1);
            keys[0].times.roll = Some(t0);
            store::save_times(&keys[0]).unwrap();
            Algorithm::EcdsaP256Sha256
        }
        Start::Algorithm(algorithm) => {
            zone.set_options(ZoneOptions {
                dnssec: Some(Policy {
                    algorithm,
                    ..policy()
                }),
                ..ZoneOptions::default()
            })
            .unwrap();
            algorithm
        }
    };
    let mut parent = apex_rdatas(&first, Rtype(59));
    let mut pending: Option<(u64, Vec<Vec<u8>>)> = None;
    let mut serial = first.serial();
    let shape = |z: &Zone| {
        apex_rdatas(z, Rtype::DNSKEY)
            .iter()
            .map(|k| format!("{}/{}", crate::dnssec::keys::key_tag(k), k[3]))
            .collect::<Vec<_>>()
    };
    let mut steps = vec![format!("t+0s: DNSKEY {}", shape(&first).join(" "))];
    let mut t = t0;
    let mut double_seen = false;
    loop {
        t += 5;
        assert!(
            t < t0 + 1800,
            "the rollover did not end within 30 min:\n{steps:?}"
        );
        set.store(t, Ordering::SeqCst);
        if zone.signature_refresh_due(t).is_some_and(|due| due <= t) {
            zone.refresh_signatures().unwrap();
        }
        // The registrar puts the CDS into the parent a minute after it changes; the
        // daemon's timer sees it there.
        let served = zone.zone().unwrap();
        let cds = apex_rdatas(&served, Rtype(59));
        if cds != parent && pending.as_ref().is_none_or(|p| p.1 != cds) {
            pending = Some((t + 60, cds));
        }
        if pending.as_ref().is_some_and(|p| t >= p.0) {
            parent = pending.take().unwrap().1;
        }
        answer_ds_check(&zone, t, &parent);
        let served = zone.zone().unwrap();
        if served.serial() == serial {
            continue;
        }
        serial = served.serial();
        let keys = shape(&served);
        let step = format!("t+{}s: DNSKEY {}", t - t0, keys.join(" "));
        if steps
            .last()
            .is_none_or(|s: &String| s.split(": ").nth(1) != step.split(": ").nth(1))
        {
            steps.push(step.clone());
        }
        double_seen |= keys.len() > 1;
        check(&served, &step);
        if double_seen
            && keys.len() == 1
            && served.apex_node().rrset(Rtype::DNSKEY).is_some_and(|r| {
                r.rdatas()
                    .all(|k| k.get(3) == Some(&final_algorithm.number()))
            })
        {
            return steps;
        }
    }
}

static CSK_CLOCK: AtomicU64 = AtomicU64::new(0);
static ALG_CLOCK: AtomicU64 = AtomicU64::new(0);

fn csk_clock() -> u64 {
    CSK_CLOCK.load(Ordering::SeqCst)
}

fn alg_clock() -> u64 {
    ALG_CLOCK.load(Ordering::SeqCst)
}

#[test]
fn every_version_of_a_csk_rollover_passes_the_three_tools() {
    let steps = rollover("rcsk.example.", Start::Retire, csk_clock, &CSK_CLOCK);
    // One key, two (double signature), one again.
    assert!(steps.len() >= 3, "{steps:#?}");
    eprintln!(
        "CSK rollover, kzonecheck judging two CSKs: {}\n{steps:#?}",
        super::tools_tests::kzonecheck_judges_double_csk()
    );
}

#[test]
fn every_version_of_an_algorithm_rollover_passes_the_three_tools() {
    let steps = rollover(
        "ralg.example.",
        Start::Algorithm(Algorithm::Ed25519),
        alg_clock,
        &ALG_CLOCK,
    );
    assert!(steps.len() >= 3, "{steps:#?}");
    eprintln!("algorithm rollover:\n{steps:#?}");
}

#[test]
fn dnssec_verify_would_refuse_a_version_missing_a_signature() {
    // The tools catch what they are here to catch: the first version of the CSK
    // test's zone, one signature dropped.
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::new(&dir.path().join("state"), crate::manager::unix_now);
    let apex = n("drop.example.");
    let zone = manager.open(
        &apex,
        ZoneOptions {
            dnssec: Some(policy()),
            ..ZoneOptions::default()
        },
    );
    zone.load_file(parse_zone(&zone_text("drop.example."), "drop.example."))
        .unwrap();
    let signed = zone.zone().unwrap();
    let text = super::tools_tests::zone_text(&signed);
    let www = n("www.drop.example.").to_string();
    let kept: String = text
        .lines()
        .filter(|l| !(l.starts_with(&format!("{www} ")) && l.contains(" RRSIG ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < text.len());
    let file = dir.path().join("bad.zone");
    std::fs::write(&file, kept).unwrap();
    let out = Command::new("dnssec-verify")
        .args(["-q", "-z", "-o", "drop.example."])
        .arg(&file)
        .output()
        .expect("dnssec-verify (bind9-utils)");
    assert!(!out.status.success(), "{out:?}");
}
