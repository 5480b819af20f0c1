//! The time-travel simulation behind `rollover_tests`: a signed zone in the zone
//! manager driven by an injected clock for days, the signing timer emulated event by
//! event, a registrar that copies the CDS into the parent's DS set, a change a day,
//! and checks at every moment:
//!
//! - a validating resolver's cache modelled after RFC 7583 §3: at every moment, any
//!   DNSKEY RRset, data RRset and parent DS RRset that a resolver may still hold
//!   (published within its TTL plus the propagation delay) must chain: the DS set
//!   names a key that signs the DNSKEY RRset, and the DNSKEY RRset holds a key whose
//!   signature over the data is valid at that moment. Zero bogus combinations;
//! - zero expired signatures: every RRSIG served is valid when served and for its
//!   TTL after;
//! - every version at a rollover step (and one a week) verified by
//!   `ldns-verify-zone -t` and `kzonecheck -t` at its simulated time (packages
//!   ldnsutils, knot); kzonecheck cannot judge versions with two CSKs (why:
//!   `rollover_tools_tests`). BIND's `dnssec-verify` has no time option and hangs
//!   under libfaketime 0.9.10 (recursive clock_gettime): `rollover_tools_tests` runs
//!   it on every version of a CSK and an algorithm rollover at the real time.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::test_support::{answer_ds_check, apex_rdatas, n, parse_zone};
use super::tools_tests::{double_csk, kzonecheck_judges_double_csk, zone_text};
use crate::dnssec::keys::{ds_rdata, key_tag};
use crate::dnssec::policy::{DAY, Policy};
use crate::dnssec::rdata::RrsigFields;
use crate::manager::{Manager, ZoneHandle, ZoneOptions};
use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// 2027-01-15T08:00:00Z.
pub(super) const START: u64 = 1_800_000_000;

fn zone_file(apex: &str) -> Zone {
    let text = format!(
        "$ORIGIN {apex}\n$TTL 300\n@ 3600 SOA ns h 1 3600 900 604800 600\n@ NS ns\n\
         ns A 198.51.100.1\nwww 7200 A 198.51.100.2\nmail MX 10 mail\nmail A 198.51.100.3\n\
         sub NS ns.sub\nns.sub A 198.51.100.4\n*.w TXT wild\n"
    );
    parse_zone(&text, apex)
}

/// A version served from `from` on.
struct Version {
    from: u64,
    zone: Arc<Zone>,
}

/// The parent's DS RRset from `from` on.
struct DsSet {
    from: u64,
    rdatas: Vec<Vec<u8>>,
}

/// The items that were served at some moment of [`lo`, `hi`] (each valid from its
/// `from` until the next one's).
fn live<T>(items: &[T], from: impl Fn(&T) -> u64, lo: u64, hi: u64) -> Vec<&T> {
    (0..items.len())
        .filter(|&i| {
            let start = from(&items[i]);
            let end = items.get(i + 1).map_or(u64::MAX, &from);
            start <= hi && end > lo
        })
        .map(|i| &items[i])
        .collect()
}

/// The DNSKEY RDATAs.
fn dnskeys(zone: &Zone) -> Vec<Vec<u8>> {
    apex_rdatas(zone, Rtype::DNSKEY)
}

/// Whether some signature of `sigs` (RRSIG RDATAs) is by a key of `keys` and valid
/// at `t`.
fn signed_at(sigs: &[Vec<u8>], keys: &[Vec<u8>], t: u64) -> bool {
    sigs.iter().filter_map(|s| RrsigFields::parse(s)).any(|f| {
        let t32 = t as u32;
        f.inception.wrapping_sub(t32) as i32 <= 0
            && f.expiration.wrapping_sub(t32) as i32 > 0
            && keys
                .iter()
                .any(|k| key_tag(k) == f.key_tag && k.get(3) == Some(&f.algorithm))
    })
}

/// The RRSIG RDATAs over (`owner`, `rtype`) in `zone`.
fn sigs_of(zone: &Zone, owner: &[u8], rtype: Rtype) -> Vec<Vec<u8>> {
    zone.node(owner)
        .and_then(|n| {
            n.rrsig(rtype)
                .map(|s| s.rdatas().map(<[u8]>::to_vec).collect())
        })
        .unwrap_or_default()
}

/// The simulation's findings.
#[derive(Default)]
pub(super) struct Report {
    bogus: Vec<String>,
    expired: Vec<String>,
    tool_runs: usize,
    pub(super) key_steps: Vec<String>,
    checks: usize,
    /// The algorithms of the DNSKEY RRset at the end.
    pub(super) final_algorithms: Vec<u8>,
}

/// Checks the moment `t`: the resolver model and the signatures served.
fn check_moment(
    t: u64,
    versions: &[Version],
    parent: &[DsSet],
    policy: &Policy,
    apex: &Name,
    report: &mut Report,
) {
    let dprp = u64::from(policy.propagation_delay);
    let apex_wire = apex.as_wire().to_vec();
    let served = &versions.last().unwrap().zone;
    // Every signature served is valid now and for its TTL.
    for r in served.records().filter(|r| r.rtype == Rtype::RRSIG) {
        let f = RrsigFields::parse(&r.rdata).unwrap();
        let t32 = t as u32;
        let until = (t + u64::from(f.original_ttl)) as u32;
        if f.inception.wrapping_sub(t32) as i32 > 0 || f.expiration.wrapping_sub(until) as i32 <= 0
        {
            report.expired.push(format!(
                "t+{}s: {} RRSIG {} by {} valid {}..{}",
                t - START,
                r.owner,
                f.covered,
                f.key_tag,
                f.inception,
                f.expiration
            ));
        }
    }
    // The resolver model: every combination a cache may hold.
    let key_ttl = served.apex_node().rrset(Rtype::DNSKEY).map_or(0, |r| r.ttl);
    let ds_sets = live(
        parent,
        |d| d.from,
        t.saturating_sub(u64::from(policy.parent_ds_ttl)),
        t,
    );
    let key_versions = live(
        versions,
        |v| v.from,
        t.saturating_sub(u64::from(key_ttl) + dprp),
        t,
    );
    let probes: [(Vec<u8>, Rtype); 5] = [
        (apex_wire.clone(), Rtype::SOA),
        (n(&format!("www.{apex}")).as_wire().to_vec(), Rtype::A),
        (n(&format!("mail.{apex}")).as_wire().to_vec(), Rtype::MX),
        (apex_wire.clone(), Rtype::NSEC),
        (apex_wire.clone(), Rtype(59)),
    ];
    for a in &key_versions {
        let keys = dnskeys(&a.zone);
        let key_sigs = sigs_of(&a.zone, &apex_wire, Rtype::DNSKEY);
        for d in &ds_sets {
            // The DNSKEY RRset chains to the DS set: a key with a DS signs it.
            let anchored: Vec<Vec<u8>> = keys
                .iter()
                .filter(|k| d.rdatas.contains(&ds_rdata(&apex_wire, k)))
                .cloned()
                .collect();
            report.checks += 1;
            if !signed_at(&key_sigs, &anchored, t) {
                report.bogus.push(format!(
                    "t+{}s: DNSKEY of the version from t+{}s does not chain to the DS set from t+{}s",
                    t - START,
                    a.from - START,
                    d.from - START
                ));
            }
        }
        for (owner, rtype) in &probes {
            let ttl = served
                .node(owner)
                .and_then(|n| n.rrset(*rtype))
                .map_or(300, |r| r.ttl);
            for b in live(
                versions,
                |v| v.from,
                t.saturating_sub(u64::from(ttl) + dprp),
                t,
            ) {
                let sigs = sigs_of(&b.zone, owner, *rtype);
                if sigs.is_empty() && b.zone.node(owner).and_then(|n| n.rrset(*rtype)).is_none() {
                    continue;
                }
                report.checks += 1;
                if !signed_at(&sigs, &keys, t) {
                    report.bogus.push(format!(
                        "t+{}s: {rtype} of the version from t+{}s has no valid signature by the DNSKEY RRset from t+{}s",
                        t - START,
                        b.from - START,
                        a.from - START
                    ));
                }
            }
        }
    }
}

/// `YYYYMMDDhhmmss` of `t`.
fn stamp(t: u64) -> String {
    crate::dnssec::policy::time_text(t)
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The two tools that take a time, on `zone` at simulated time `t`.
fn tools_at(zone: &Zone, t: u64, what: &str, report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.zone");
    std::fs::write(&path, zone_text(zone)).unwrap();
    let origin = zone.apex().to_string();
    let t_text = stamp(t);
    let runs: [(&str, Vec<String>); 2] = [
        ("ldns-verify-zone", vec!["-t".into(), t_text.clone()]),
        (
            "kzonecheck",
            vec![
                "--dnssec".into(),
                "on".into(),
                "-t".into(),
                t.to_string(),
                "-o".into(),
                origin.clone(),
            ],
        ),
    ];
    for (tool, args) in runs {
        // kzonecheck cannot judge two CSKs (`tools_tests::kzonecheck_judges_double_csk`);
        // `rollover_tools_tests` has dnssec-verify check such versions at the real time.
        if tool == "kzonecheck" && double_csk(zone) && !kzonecheck_judges_double_csk() {
            continue;
        }
        let out = Command::new(tool)
            .args(&args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e} (install ldnsutils, knot)"));
        report.tool_runs += 1;
        if !out.status.success() {
            let kept = std::env::temp_dir().join(format!(
                "dnsd-sim-{}-{}.zone",
                std::process::id(),
                report.tool_runs
            ));
            let _ = std::fs::copy(&path, &kept);
            report.bogus.push(format!(
                "{what}: {tool} {args:?} refuses the zone (kept at {}):\n{}{}",
                kept.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
}

/// What identifies a rollover step: the DNSKEY and CDS RRsets and who signs the SOA.
fn key_shape(zone: &Zone) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<u16>) {
    let apex = zone.apex().as_wire().to_vec();
    let cds = zone
        .apex_node()
        .rrset(Rtype(59))
        .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let mut signers: Vec<u16> = sigs_of(zone, &apex, Rtype::SOA)
        .iter()
        .filter_map(|s| RrsigFields::parse(s).map(|f| f.key_tag))
        .collect();
    signers.sort_unstable();
    (dnskeys(zone), cds, signers)
}

/// Runs `days` simulated days of zone `apex` under `policy`, the clock `clock` read
/// by the manager and set through `set`.
pub(super) fn simulate(
    apex_text: &str,
    policy: Policy,
    days: u64,
    clock: crate::manager::Clock,
    set: &AtomicU64,
) -> Report {
    simulate_with(apex_text, policy, days, clock, set, None)
}

/// As `simulate`, the policy replaced by `switch.1` on day `switch.0` (a
/// configuration reload).
pub(super) fn simulate_with(
    apex_text: &str,
    policy: Policy,
    days: u64,
    clock: crate::manager::Clock,
    set: &AtomicU64,
    mut switch: Option<(u64, Policy)>,
) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let apex = n(apex_text);
    set.store(START, Ordering::SeqCst);
    let manager = Manager::new(&state, clock);
    let zone: ZoneHandle = manager.open(
        &apex,
        ZoneOptions {
            dnssec: Some(policy.clone()),
            ..ZoneOptions::default()
        },
    );
    zone.load_file(zone_file(apex_text)).unwrap();
    let mut report = Report::default();
    let first = zone.zone().unwrap();
    // The registrar got the DS of `dnsd ds` (the CDS) when the zone was delegated.
    let cds_of = |z: &Zone| -> Vec<Vec<u8>> { key_shape(z).1 };
    let mut parent = vec![DsSet {
        from: 0,
        rdatas: cds_of(&first),
    }];
    assert!(!parent[0].rdatas.is_empty(), "CDS published from the start");
    let mut versions = vec![Version {
        from: START,
        zone: first.clone(),
    }];
    tools_at(&first, START, "first version", &mut report);
    let mut shape = key_shape(&first);
    let mut pending_ds: Option<(u64, Vec<Vec<u8>>)> = None;
    let end = START + days * u64::from(DAY);
    let mut t = START;
    let mut next_change = START + u64::from(DAY);
    let mut next_weekly = START + 7 * u64::from(DAY);
    let step = 1800;
    while t < end {
        set.store(t, Ordering::SeqCst);
        if let Some((day, _)) = &switch
            && t >= START + day * u64::from(DAY)
            && let Some((_, next)) = switch.take()
        {
            report.key_steps.push(format!(
                "day {:.2}: the policy's algorithm becomes {}",
                (t - START) as f64 / f64::from(DAY),
                next.algorithm
            ));
            zone.set_options(ZoneOptions {
                dnssec: Some(next),
                ..ZoneOptions::default()
            })
            .unwrap();
        }
        // A change a day, as a user makes.
        if t >= next_change {
            next_change += u64::from(DAY);
            let day = (t - START) / u64::from(DAY);
            zone.submit(
                "api",
                Transaction {
                    changes: vec![
                        Change::RemoveRrset {
                            owner: n(&format!("daily.{apex_text}")),
                            rtype: Rtype::TXT,
                        },
                        Change::Add(Record {
                            owner: n(&format!("daily.{apex_text}")),
                            rtype: Rtype::TXT,
                            ttl: 300,
                            rdata: format!("\x05day{:02}", day % 100).into_bytes().into(),
                        }),
                    ],
                    strict: false,
                },
            )
            .unwrap();
        }
        // The daemon's timer: the commit the zone is due for.
        if zone.signature_refresh_due(t).is_some_and(|due| due <= t) {
            zone.refresh_signatures().unwrap();
        }
        // The registrar reads the CDS and publishes it as the DS set six hours later;
        // the DS check (the daemon's timer asks the parent) sees it.
        let served = zone.zone().unwrap();
        let cds = cds_of(&served);
        if cds != parent.last().unwrap().rdatas && pending_ds.as_ref().is_none_or(|p| p.1 != cds) {
            pending_ds = Some((t + 6 * 3600, cds));
        }
        if let Some((at, _)) = &pending_ds
            && t >= *at
            && let Some((_, rdatas)) = pending_ds.take()
        {
            report.key_steps.push(format!(
                "day {:.2}: the parent publishes a new DS set",
                (t - START) as f64 / f64::from(DAY)
            ));
            parent.push(DsSet { from: t, rdatas });
        }
        answer_ds_check(&zone, t, &parent.last().unwrap().rdatas);
        let served = zone.zone().unwrap();
        if served.serial() != versions.last().unwrap().zone.serial() {
            versions.push(Version {
                from: t,
                zone: served.clone(),
            });
            let new_shape = key_shape(&served);
            if new_shape != shape {
                shape = new_shape;
                report.key_steps.push(format!(
                    "day {:.2}: DNSKEY {:?} CDS {} SOA signed by {:?}",
                    (t - START) as f64 / f64::from(DAY),
                    shape.0.iter().map(|k| key_tag(k)).collect::<Vec<_>>(),
                    shape.1.len(),
                    shape.2
                ));
                tools_at(
                    &served,
                    t,
                    &format!("key step at t+{}s", t - START),
                    &mut report,
                );
            } else if t >= next_weekly {
                next_weekly += 7 * u64::from(DAY);
                tools_at(
                    &served,
                    t,
                    &format!("week at t+{}s", t - START),
                    &mut report,
                );
            }
        }
        check_moment(t, &versions, &parent, &policy, &apex, &mut report);
        // Forget what no cache can hold any more.
        let horizon = t.saturating_sub(3 * u64::from(DAY));
        while versions.len() > 2 && versions[1].from < horizon {
            versions.remove(0);
        }
        while parent.len() > 2 && parent[1].from < horizon {
            parent.remove(0);
        }
        let due = zone.signature_refresh_due(t).unwrap_or(u64::MAX);
        t = (t + step).min(due.max(t + 1));
    }
    let mut algorithms: Vec<u8> = dnskeys(&zone.zone().unwrap())
        .iter()
        .filter_map(|k| k.get(3).copied())
        .collect();
    algorithms.sort_unstable();
    algorithms.dedup();
    report.final_algorithms = algorithms;
    report
}

pub(super) fn assert_clean(report: &Report, what: &str, rollovers: usize) {
    let steps = report.key_steps.join("\n");
    assert!(
        report.bogus.is_empty(),
        "{what}: {} bogus (first 5):\n{}\nkey steps:\n{steps}",
        report.bogus.len(),
        report
            .bogus
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        report.expired.is_empty(),
        "{what}: {} expired signatures (first 5):\n{}",
        report.expired.len(),
        report
            .expired
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let parent_changes = report
        .key_steps
        .iter()
        .filter(|s| s.contains("parent"))
        .count();
    assert!(
        report.key_steps.len() >= rollovers,
        "{what}: fewer key steps than {rollovers} rollovers need:\n{steps}"
    );
    eprintln!(
        "{what}: {} checks, {} tool runs, {} parent DS changes, key steps:\n{steps}",
        report.checks, report.tool_runs, parent_changes
    );
}
