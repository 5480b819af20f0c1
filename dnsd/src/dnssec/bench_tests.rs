//! Signing speed beside the peers, in one run, with the same keys (dnsd's, written in
//! BIND's format, which BIND and ldns read): a zone of `DNSSEC_BENCH_NAMES` names
//! (default 100,000) signed whole by dnsd (`sign_full`, every core), by
//! `dnssec-signzone` (every core) and by `ldns-signzone` (one thread), NSEC and NSEC3;
//! then one changed RRset signed incrementally. Prints times and ratios; asserts only
//! that each signer succeeded (no timing threshold). Run by hand:
//!
//! ```sh
//! cargo test --profile ci -p dnsd --lib dnssec::bench_tests -- --ignored --nocapture
//! ```

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use crate::dnssec::policy::{Denial, Policy};
use crate::dnssec::signer::{Context, sign_diff, sign_full};
use crate::dnssec::{Algorithm, store};
use crate::wire::name::Name;
use crate::zone::txn::{Change, Transaction, apply};
use crate::zone::{Record, Rtype};

fn zone_text(names: usize) -> String {
    let mut text = String::from(
        "$ORIGIN bench.test.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n",
    );
    for i in 0..names {
        let _ = writeln!(text, "h{i} A 198.51.{}.{}", (i >> 8) & 255, i & 255);
    }
    text
}

fn run(what: &str, cmd: &mut Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

#[test]
#[ignore = "a benchmark: run by hand, see the module documentation"]
fn signing_speed_beside_bind_and_ldns() {
    let names: usize = std::env::var("DNSSEC_BENCH_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let apex = Name::from_text("bench.test.", None).unwrap();
    let text = zone_text(names);
    let file = dir.path().join("bench.test.zone");
    std::fs::write(&file, &text).unwrap();
    let zone = crate::zone::load::load_zone_from_bytes(text.as_bytes(), &file, &apex)
        .unwrap()
        .zone;
    let now = crate::manager::unix_now();
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let state = dir.path().join(format!("state-{algorithm}"));
        let policy = Policy {
            algorithm,
            ..Policy::default()
        };
        let (keys, _) = store::ensure(&state, &apex, &policy).unwrap();
        let key_base = keys[0].path.with_extension("");
        // The peers want the DNSKEY in the zone (as `$INCLUDE K….key` does).
        let peer_file = dir.path().join(format!("peer-{algorithm}.zone"));
        let key_text = std::fs::read_to_string(format!("{}.key", key_base.display())).unwrap();
        std::fs::write(&peer_file, format!("{text}{key_text}")).unwrap();
        for nsec3 in [false, true] {
            let policy = Policy {
                denial: if nsec3 {
                    Denial::Nsec3 {
                        iterations: 0,
                        opt_out: false,
                    }
                } else {
                    Denial::Nsec
                },
                ..policy.clone()
            };
            let env = crate::dnssec::timeline::Env {
                policy: &policy,
                dnskey_ttl: 3600,
                max_ttl: &|| 3600,
            };
            let key_set = super::keyset::key_set(&apex, &keys, &env, now);
            let ctx = Context {
                policy: &policy,
                keys: &key_set,
                now,
            };
            let start = Instant::now();
            let signed = sign_full(&zone, ctx).unwrap();
            let dnsd = start.elapsed().as_secs_f64();
            // One changed RRset, signed incrementally (median of 11).
            let mut times = Vec::new();
            let mut current = signed.clone();
            for i in 0..11u8 {
                let mut t = Transaction::new();
                t.push(Change::Replace {
                    owner: Name::from_text("h77.bench.test.", None).unwrap(),
                    rtype: Rtype::A,
                    ttl: 300,
                    rdatas: vec![Box::from(&[203, 0, 113, i][..])],
                });
                t.push(Change::Add(Record {
                    owner: Name::from_text(&format!("new{i}.bench.test."), None).unwrap(),
                    rtype: Rtype::A,
                    ttl: 300,
                    rdata: Box::from(&[203, 0, 113, i][..]),
                }));
                let start = Instant::now();
                let applied = apply(&current, &t).unwrap();
                let s = sign_diff(&applied.zone, &applied.diff, ctx).unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                current = s.zone;
            }
            times.sort_by(f64::total_cmp);
            let out = dir.path().join("out.zone");
            let mut bind = Command::new("dnssec-signzone");
            bind.args(["-q", "-z", "-o", "bench.test."])
                .arg("-K")
                .arg(keys[0].path.parent().unwrap())
                .arg("-f")
                .arg(&out);
            if nsec3 {
                bind.args(["-3", "-", "-H", "0"]);
            }
            bind.arg(&peer_file).arg(&key_base);
            let bind = run("dnssec-signzone", &mut bind);
            let mut ldns = Command::new("ldns-signzone");
            ldns.arg("-f").arg(&out);
            if nsec3 {
                ldns.args(["-n", "-t", "0"]);
            }
            ldns.arg(&peer_file).arg(&key_base);
            let ldns = run("ldns-signzone", &mut ldns);
            println!(
                "{names} names {algorithm} {}: dnsd {dnsd:.2} s, dnssec-signzone {bind:.2} s ({:.1}x), ldns-signzone {ldns:.2} s ({:.1}x); one change signed incrementally: median {:.2} ms",
                if nsec3 { "NSEC3" } else { "NSEC" },
                bind / dnsd,
                ldns / dnsd,
                times[5]
            );
        }
    }
}
