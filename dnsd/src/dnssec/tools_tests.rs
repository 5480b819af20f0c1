//! Signed zones checked by the real tools: BIND's `dnssec-verify`, ldns's
//! `ldns-verify-zone` and Knot's `kzonecheck --dnssec on` (packages bind9-utils,
//! ldnsutils, knot), on the zone written out in RFC 3597 generic form (which all three
//! read): whole, after random diffs signed incrementally, and as the zone manager
//! publishes it after file loads, transactions, a signature refresh and a restart.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::test_support::{apex_rdatas, n, options, parse_zone};
use crate::dnssec::policy::{Denial, KeyScheme, Policy};
use crate::dnssec::rdata::RrsigFields;
use crate::manager::Manager;
use crate::zone::txn::{Change, Transaction};
use crate::zone::{Record, Rtype, Zone};

/// The zone in presentation format, every RDATA in RFC 3597 generic form.
pub(crate) fn zone_text(zone: &Zone) -> String {
    let mut out = String::new();
    for r in zone.records() {
        let hex: String = r.rdata.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            out,
            "{} {} IN {} \\# {} {}",
            r.owner,
            r.ttl,
            r.rtype,
            r.rdata.len(),
            if hex.is_empty() { "" } else { &hex }
        );
    }
    out
}

/// Runs the three verifiers on `zone`; panics with their output if one fails.
pub(crate) fn verify_with_tools(zone: &Zone, what: &str) {
    verify_with_tools_but(zone, what, &[]);
}

/// [`verify_with_tools`] without the tools named in `skip`.
pub(crate) fn verify_with_tools_but(zone: &Zone, what: &str, skip: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.zone");
    std::fs::write(&path, zone_text(zone)).unwrap();
    let origin = zone.apex().to_string();
    // A CSK (every key a SEP key) signs the data too: BIND's -z (ignore the KSK flag).
    let csk = zone
        .apex_node()
        .rrset(Rtype::DNSKEY)
        .is_some_and(|r| r.rdatas().all(|k| k.get(1).is_some_and(|f| f & 1 == 1)));
    let mut bind = vec!["-q", "-o", &origin];
    if csk {
        bind.push("-z");
    }
    let runs: [(&str, Vec<&str>); 3] = [
        ("dnssec-verify", bind),
        ("ldns-verify-zone", vec![]),
        ("kzonecheck", vec!["--dnssec", "on", "-o", &origin]),
    ];
    for (tool, args) in runs {
        if skip.contains(&tool) {
            continue;
        }
        // kzonecheck cannot judge two CSKs (see `kzonecheck_judges_double_csk`).
        if tool == "kzonecheck" && double_csk(zone) && !kzonecheck_judges_double_csk() {
            continue;
        }
        let out = Command::new(tool)
            .args(&args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e} (install bind9-utils, ldnsutils, knot)"));
        assert!(
            out.status.success(),
            "{what}: {tool} refuses the zone:\n{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            keep(&path)
        );
    }
}

/// Whether kzonecheck accepts a valid zone signed by two CSKs (made and signed by
/// ldns, and accepted by ldns-verify-zone and dnssec-verify): false with Knot 3.2.6.
pub(crate) fn kzonecheck_judges_double_csk() -> bool {
    static JUDGES: OnceLock<bool> = OnceLock::new();
    *JUDGES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let zone = d.join("z");
        std::fs::write(
            &zone,
            "$ORIGIN ctl.test.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\n\
             ns A 198.51.100.1\nwww A 198.51.100.2\n",
        )
        .unwrap();
        let keygen = || {
            let out = Command::new("ldns-keygen")
                .args(["-a", "ECDSAP256SHA256", "-k", "ctl.test."])
                .current_dir(d)
                .output()
                .expect("ldns-keygen (ldnsutils)");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (k1, k2) = (keygen(), keygen());
        let out = Command::new("ldns-signzone")
            .arg(&zone)
            .args([&k1, &k2])
            .current_dir(d)
            .output()
            .expect("ldns-signzone (ldnsutils)");
        assert!(out.status.success(), "{out:?}");
        let signed = d.join("z.signed");
        let run = |tool: &str, args: &[&str]| {
            Command::new(tool)
                .args(args)
                .arg(&signed)
                .output()
                .unwrap_or_else(|e| panic!("{tool}: {e}"))
        };
        let bind = run("dnssec-verify", &["-q", "-z", "-o", "ctl.test."]);
        let ldns = run("ldns-verify-zone", &[]);
        assert!(
            bind.status.success() && ldns.status.success(),
            "the control zone (two CSKs, signed by ldns) is valid: {bind:?} {ldns:?}"
        );
        let knot = run("kzonecheck", &["--dnssec", "on", "-o", "ctl.test."]);
        let text = String::from_utf8_lossy(&knot.stdout).into_owned()
            + &String::from_utf8_lossy(&knot.stderr);
        assert!(
            knot.status.success() || text.contains("no valid signature"),
            "kzonecheck refuses the control zone for another reason: {text}"
        );
        knot.status.success()
    })
}

/// Whether `zone`'s DNSKEY RRset holds more than one key, all SEP (a CSK rollover
/// or an algorithm rollover of CSKs).
pub(crate) fn double_csk(zone: &Zone) -> bool {
    let keys = apex_rdatas(zone, Rtype::DNSKEY);
    keys.len() > 1 && keys.iter().all(|k| k.get(1) == Some(&1))
}

/// Keeps a failing zone's text for a look.
fn keep(path: &Path) -> String {
    let kept = std::env::temp_dir().join(format!("dnsd-bad-signed-{}.zone", std::process::id()));
    let _ = std::fs::copy(path, &kept);
    format!("(zone kept at {})", kept.display())
}

fn now() -> u64 {
    crate::manager::unix_now()
}

const ZONE: &str = "$ORIGIN example.org.\n$TTL 300\n@ 3600 SOA ns h 1 3600 900 604800 600\n@ NS ns\n\
ns A 198.51.100.1\nwww A 198.51.100.2\nwww AAAA 2001:db8::2\nmail MX 10 Mail.Example.ORG.\n\
a.b.c TXT hello\nsub NS ns.sub\nns.sub A 198.51.100.3\nsec NS ns.sec\nns.sec A 198.51.100.4\n\
sec DS 1 13 2 abababababababababababababababababababababababababababababababab\n*.w TXT wild\n\
alias CNAME www\n";

fn parse(text: &str) -> Zone {
    parse_zone(text, "example.org.")
}

fn policies() -> Vec<Policy> {
    vec![
        Policy::default(),
        Policy {
            algorithm: crate::dnssec::Algorithm::Ed25519,
            denial: Denial::Nsec3 {
                iterations: 0,
                opt_out: false,
            },
            ..Policy::default()
        },
        Policy {
            scheme: KeyScheme::KskZsk,
            denial: Denial::Nsec3 {
                iterations: 0,
                opt_out: true,
            },
            ..Policy::default()
        },
    ]
}

fn add(owner: &str, rtype: Rtype, rdata: Vec<u8>) -> Change {
    Change::Add(Record {
        owner: n(owner),
        rtype,
        ttl: 300,
        rdata: rdata.into(),
    })
}

/// The transactions a user makes: names come and go, a delegation appears (and gets
/// a DS), an RRset is emptied leaving an empty non-terminal.
fn user_changes() -> Vec<Transaction> {
    let txn = |changes: Vec<Change>| Transaction {
        changes,
        strict: false,
    };
    vec![
        txn(vec![add(
            "new.example.org.",
            Rtype::A,
            vec![198, 51, 100, 9],
        )]),
        txn(vec![
            add("x.y.z.example.org.", Rtype::TXT, b"\x03abc".to_vec()),
            Change::RemoveName {
                owner: n("new.example.org."),
            },
        ]),
        txn(vec![add(
            "dyn.example.org.",
            Rtype::NS,
            n("ns.example.org.").as_wire().to_vec(),
        )]),
        txn(vec![add("dyn.example.org.", Rtype::DS, {
            let mut ds = vec![0, 7, 13, 2];
            ds.extend_from_slice(&[0xcd; 32]);
            ds
        })]),
        txn(vec![Change::RemoveRrset {
            owner: n("x.y.z.example.org."),
            rtype: Rtype::TXT,
        }]),
        txn(vec![add(
            "d.x.y.z.example.org.",
            Rtype::A,
            vec![198, 51, 100, 10],
        )]),
    ]
}

#[test]
fn the_zone_manager_publishes_zones_the_tools_verify() {
    for policy in policies() {
        let what = format!(
            "{:?}/{:?}/{}",
            policy.scheme, policy.denial, policy.algorithm
        );
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let manager = Manager::new(&state, now);
        let apex = n("example.org.");
        let zone = manager.open(&apex, options(&policy));
        zone.load_file(parse(ZONE)).unwrap();
        let first = zone.zone().unwrap();
        verify_with_tools(&first, &format!("{what}: first load"));
        for (i, t) in user_changes().into_iter().enumerate() {
            zone.submit("api", t).unwrap();
            verify_with_tools(&zone.zone().unwrap(), &format!("{what}: change {i}"));
        }
        // A file edit: the file's own (unsigned) view replaces the file's RRsets; the
        // signer's records and the API's records stay.
        let edited = ZONE.replace("www A 198.51.100.2", "www A 198.51.100.20\nextra TXT e");
        zone.load_file(parse(&edited)).unwrap();
        let served = zone.zone().unwrap();
        verify_with_tools(&served, &format!("{what}: file edit"));
        assert!(served.node(n("dyn.example.org.").as_wire()).is_some());
        // The journal carries the signed changes (what IXFR sends).
        let journal = zone.published().journal.clone();
        let last = journal.changes(first.serial().unwrap(), served.serial().unwrap());
        assert!(format!("{last:?}").contains("RRSIG"), "{what}: {last:?}");
        // An empty signer commit (the refresh timer's) keeps the zone verified.
        zone.refresh_signatures().unwrap();
        verify_with_tools(&zone.zone().unwrap(), &format!("{what}: refresh"));
        // After a restart: the same keys, the zone still signed, changes still signed.
        let tags = |z: &Zone| -> Vec<u16> {
            z.apex_node()
                .rrsig(Rtype::SOA)
                .unwrap()
                .rdatas()
                .map(|r| RrsigFields::parse(r).unwrap().key_tag)
                .collect()
        };
        let before = tags(&zone.zone().unwrap());
        manager.wait_images();
        drop(zone);
        drop(manager);
        let manager = Manager::new(&state, now);
        let zone = manager.open(&apex, options(&policy));
        zone.submit(
            "api",
            Transaction {
                changes: vec![add("after.example.org.", Rtype::A, vec![198, 51, 100, 11])],
                strict: false,
            },
        )
        .unwrap();
        let after = zone.zone().unwrap();
        assert_eq!(tags(&after), before, "{what}: keys kept across a restart");
        verify_with_tools(&after, &format!("{what}: after a restart"));
    }
}

#[test]
fn a_zone_whose_keys_cannot_be_read_keeps_its_last_signed_version() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let apex = n("example.org.");
    let policy = Policy::default();
    let manager = Manager::new(&state, now);
    let zone = manager.open(&apex, options(&policy));
    zone.load_file(parse(ZONE)).unwrap();
    let serial = zone.zone().unwrap().serial();
    manager.wait_images();
    drop(zone);
    drop(manager);
    let keys = crate::dnssec::store::load(&state, &apex).unwrap();
    std::fs::write(&keys[0].path, "Private-key-format: v1.3\nAlgorithm: 13\n").unwrap();
    let manager = Manager::new(&state, now);
    let zone = manager.open(&apex, options(&policy));
    let e = zone
        .submit(
            "api",
            Transaction {
                changes: vec![add("z.example.org.", Rtype::A, vec![198, 51, 100, 12])],
                strict: false,
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains(&keys[0].path.display().to_string()),
        "{e}"
    );
    let served = zone.zone().unwrap();
    assert_eq!(served.serial(), serial, "the last signed version is served");
    verify_with_tools(&served, "after a refused change");
}
