use std::sync::Arc;

use super::*;
use crate::dnssec::keys::{Algorithm, FLAG_SEP, FLAG_ZONE, KeyPair, key_tag};
use crate::dnssec::sign::SigningKey;
use crate::dnssec::sign::tests::verify;
use crate::test_rng::Rng;
use crate::zone::Record;
use crate::zone::canonical;

const NOW: u64 = 1_800_000_000;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn zone(text: &str) -> Zone {
    let text = format!(
        "$ORIGIN example.org.\n$TTL 300\n@ 3600 SOA ns h 1 3600 900 604800 600\n@ NS ns\nns A 198.51.100.1\n{text}"
    );
    crate::zone::load::load_zone_from_bytes(
        text.as_bytes(),
        std::path::Path::new("t.zone"),
        &n("example.org."),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .zone
}

fn signing_key(algorithm: Algorithm, flags: u16) -> (SigningKey, Vec<u8>) {
    let pair = KeyPair::generate(algorithm).unwrap();
    let dnskey = pair.dnskey_rdata(flags);
    (
        SigningKey {
            tag: key_tag(&dnskey),
            pair: Arc::new(pair),
        },
        dnskey,
    )
}

/// A CSK key set.
pub(crate) fn csk(algorithm: Algorithm) -> KeySet {
    let (key, dnskey) = signing_key(algorithm, FLAG_ZONE | FLAG_SEP);
    KeySet {
        dnskeys: vec![dnskey],
        ksks: vec![key.clone()],
        zsks: vec![key],
        ..KeySet::default()
    }
}

/// A KSK + ZSK key set.
fn ksk_zsk() -> KeySet {
    let (ksk, k) = signing_key(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP);
    let (zsk, z) = signing_key(Algorithm::EcdsaP256Sha256, FLAG_ZONE);
    KeySet {
        dnskeys: vec![k, z],
        ksks: vec![ksk],
        zsks: vec![zsk],
        ..KeySet::default()
    }
}

/// Checks every signature of `zone` with hickory, and that every RRset that should
/// be signed is, by the right keys, and nothing else.
pub(crate) fn check_signatures(zone: &Zone, keys: &KeySet) {
    let dnskeys: Vec<Vec<u8>> = zone
        .apex_node()
        .rrset(Rtype::DNSKEY)
        .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    for node in zone.nodes() {
        for rrset in node.rrsets().filter(|r| r.rtype != Rtype::RRSIG) {
            let sigs = node.rrsig(rrset.rtype);
            if !signable(&node, rrset.rtype) {
                assert!(
                    sigs.is_none(),
                    "{} {} is signed",
                    node.owner_name(),
                    rrset.rtype
                );
                continue;
            }
            let sigs =
                sigs.unwrap_or_else(|| panic!("{} {} unsigned", node.owner_name(), rrset.rtype));
            assert_eq!(sigs.ttl, rrset.ttl);
            assert_eq!(
                sigs.len(),
                keys.signers_of(rrset.rtype, node.is_apex()).len()
            );
            let rdatas: Vec<&[u8]> = rrset.rdatas().collect();
            for sig in sigs.rdatas() {
                let f = RrsigFields::parse(sig).unwrap();
                assert!(keys.signs_with(rrset.rtype, node.is_apex(), f.key_tag, f.algorithm));
                let dnskey = dnskeys
                    .iter()
                    .find(|k| key_tag(k) == f.key_tag)
                    .expect("key published");
                verify(dnskey, node.owner(), rrset.rtype.0, rrset.ttl, &rdatas, sig);
            }
        }
        for sigs in node.rrsets_of(Rtype::RRSIG) {
            assert!(
                node.rrset(sigs.covered().unwrap()).is_some(),
                "stray RRSIG at {}",
                node.owner_name()
            );
        }
    }
}

/// The zone's records without RRSIG RDATAs (which differ by nature): each RRSIG
/// becomes (owner, RRSIG, TTL, covered type and key tag).
fn shape(zone: &Zone) -> Vec<(Vec<u8>, Rtype, u32, Vec<u8>)> {
    let mut out: Vec<_> = zone
        .records()
        .map(|r| {
            let rdata = if r.rtype == Rtype::RRSIG {
                let f = RrsigFields::parse(&r.rdata).unwrap();
                let mut v = f.covered.0.to_be_bytes().to_vec();
                v.extend_from_slice(&f.key_tag.to_be_bytes());
                v.push(f.labels);
                v.extend_from_slice(&f.original_ttl.to_be_bytes());
                v
            } else {
                r.rdata.to_vec()
            };
            (r.owner.as_wire().to_vec(), r.rtype, r.ttl, rdata)
        })
        .collect();
    out.sort_by(|a, b| canonical::compare(&a.0, &b.0).then((a.1, &a.3).cmp(&(b.1, &b.3))));
    out
}

const TEXT: &str = "www A 198.51.100.2\nwww AAAA 2001:db8::2\nmail MX 10 Mail.Example.ORG.\n\
a.b.c TXT hello\nsub NS ns.sub\nns.sub A 198.51.100.3\nsec NS ns.sec\nns.sec A 198.51.100.4\n\
sec DS 1 13 2 abababababababababababababababababababababababababababababababab\n*.w TXT wild\n\
alias CNAME www\n";

#[test]
fn a_zone_signed_whole_verifies_and_signs_what_rfc_4035_says() {
    for (denial, keys) in [
        (Denial::Nsec, csk(Algorithm::EcdsaP256Sha256)),
        (
            Denial::Nsec3 {
                iterations: 0,
                opt_out: false,
            },
            csk(Algorithm::Ed25519),
        ),
        (
            Denial::Nsec3 {
                iterations: 0,
                opt_out: true,
            },
            ksk_zsk(),
        ),
    ] {
        let policy = Policy {
            denial,
            ..Policy::default()
        };
        let ctx = Context {
            policy: &policy,
            keys: &keys,
            now: NOW,
        };
        let signed = sign_full(&zone(TEXT), ctx).unwrap();
        check_signatures(&signed, &keys);
        assert!(!needs_full(&signed, ctx));
        let apex = signed.apex_node();
        assert_eq!(apex.rrset(Rtype::DNSKEY).unwrap().len(), keys.dnskeys.len());
        assert_eq!(
            apex.rrset(Rtype::DNSKEY).unwrap().ttl,
            3600,
            "the SOA's TTL"
        );
        let glue = signed.node(n("ns.sub.example.org.").as_wire()).unwrap();
        assert!(glue.rrsig(Rtype::A).is_none());
        let sub = signed.node(n("sub.example.org.").as_wire()).unwrap();
        assert!(sub.rrsig(Rtype::NS).is_none());
        match denial {
            Denial::Nsec => {
                assert_eq!(
                    sub.rrset(Rtype::NSEC).unwrap().ttl,
                    600,
                    "min(SOA TTL, MINIMUM)"
                );
                assert_eq!(signed.nsec3_nodes().count(), 0);
            }
            Denial::Nsec3 { opt_out, .. } => {
                assert!(apex.rrset(Rtype::NSEC3PARAM).is_some());
                // apex, ns, www, mail, c, b.c, a.b.c, sec, sub (not opted out), w, *.w, alias
                let expected = if opt_out { 11 } else { 12 };
                assert_eq!(signed.nsec3_nodes().count(), expected);
            }
        }
        // Signing a signed zone again changes nothing but signatures.
        let again = sign_full(&signed, ctx).unwrap();
        assert_eq!(shape(&again), shape(&signed));
    }
}

fn random_change(rng: &mut Rng) -> Change {
    let labels = ["a", "b", "c", "d", "*"];
    let mut text = String::new();
    for _ in 0..(1 + rng.below(3)) {
        text.push_str(labels[rng.below(5) as usize]);
        text.push('.');
    }
    text.push_str("example.org.");
    let owner = n(&text);
    let record = |rtype: Rtype, ttl: u32, rdata: Vec<u8>| Record {
        owner: owner.clone(),
        rtype,
        ttl,
        rdata: rdata.into(),
    };
    match rng.below(7) {
        0 | 1 => Change::Add(record(
            Rtype::A,
            300,
            vec![198, 51, 100, rng.below(3) as u8],
        )),
        2 => Change::Add(record(
            Rtype::TXT,
            60 * (1 + rng.below(2) as u32),
            vec![1, b'x'],
        )),
        3 => Change::RemoveName {
            owner: owner.clone(),
        },
        4 => Change::RemoveRrset {
            owner: owner.clone(),
            rtype: Rtype::A,
        },
        5 => Change::Add(record(
            Rtype::NS,
            300,
            n("ns.example.org.").as_wire().to_vec(),
        )),
        _ => Change::Add(record(Rtype::DS, 300, {
            let mut ds = vec![0, 1, 13, 2];
            ds.extend_from_slice(&[0xab; 32]);
            ds
        })),
    }
}

/// Serial bump, as the manager makes it.
fn bump(zone: &Zone, txn: &mut Transaction) {
    let soa = zone.soa().unwrap();
    let mut rdata = soa.rdatas().next().unwrap().to_vec();
    let at = rdata.len() - 20;
    let serial = u32::from_be_bytes(rdata[at..at + 4].try_into().unwrap()) + 1;
    rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    txn.push(Change::Replace {
        owner: zone.apex().clone(),
        rtype: Rtype::SOA,
        ttl: soa.ttl,
        rdatas: vec![rdata.into()],
    });
}

#[test]
fn random_diffs_signed_incrementally_equal_the_zone_signed_whole() {
    for (seed, denial) in [
        (3u64, Denial::Nsec),
        (
            77,
            Denial::Nsec3 {
                iterations: 0,
                opt_out: false,
            },
        ),
        (
            2024,
            Denial::Nsec3 {
                iterations: 0,
                opt_out: true,
            },
        ),
        (555, Denial::Nsec),
    ] {
        let policy = Policy {
            denial,
            ..Policy::default()
        };
        let keys = if seed % 2 == 0 {
            ksk_zsk()
        } else {
            csk(Algorithm::Ed25519)
        };
        let ctx = Context {
            policy: &policy,
            keys: &keys,
            now: NOW,
        };
        let mut rng = Rng(seed);
        let mut current = sign_full(&zone(TEXT), ctx).unwrap();
        for step in 0..40 {
            let mut t = Transaction::new();
            for _ in 0..(1 + rng.below(4)) {
                t.push(random_change(&mut rng));
            }
            bump(&current, &mut t);
            let Ok(applied) = txn::apply(&current, &t) else {
                continue;
            };
            let signed = sign_diff(&applied.zone, &applied.diff, ctx).unwrap();
            let whole = sign_full(&applied.zone, ctx).unwrap();
            let (inc, full) = (shape(&signed.zone), shape(&whole));
            if inc != full {
                let text = |v: &[(Vec<u8>, Rtype, u32, Vec<u8>)],
                            other: &[(Vec<u8>, Rtype, u32, Vec<u8>)]| {
                    v.iter()
                        .filter(|r| !other.contains(r))
                        .map(|r| {
                            format!(
                                "{} {} {} {:?}",
                                Name::from_wire(&r.0).unwrap(),
                                r.1,
                                r.2,
                                r.3
                            )
                        })
                        .collect::<Vec<_>>()
                };
                panic!(
                    "seed {seed} step {step}: {t:?}\nonly incremental: {:#?}\nonly whole: {:#?}",
                    text(&inc, &full),
                    text(&full, &inc)
                );
            }
            let sorted = |mut d: ZoneDiff| {
                d.removed.sort();
                d.added.sort();
                d
            };
            assert_eq!(
                sorted(signed.diff),
                sorted(ZoneDiff::between(&applied.zone, &signed.zone))
            );
            current = signed.zone;
        }
        check_signatures(&current, &keys);
    }
}

#[test]
fn refresh_replaces_signatures_close_to_expiry_and_of_retired_keys() {
    let policy = Policy::default();
    let keys = csk(Algorithm::EcdsaP256Sha256);
    let ctx = Context {
        policy: &policy,
        keys: &keys,
        now: NOW,
    };
    let signed = sign_full(&zone(TEXT), ctx).unwrap();
    let (txn, next) = refresh(&signed, ctx).unwrap();
    assert!(txn.is_empty(), "nothing due right after signing");
    let next = next.unwrap();
    // The first refresh falls between 6 and 7 days on (14 d, refresh 7 d, jitter 1 d).
    assert!(
        next > NOW + 6 * 86_400 && next <= NOW + 7 * 86_400,
        "{}",
        next - NOW
    );
    let later = Context {
        now: next + 1,
        ..ctx
    };
    let (txn, _) = refresh(&signed, later).unwrap();
    assert!(!txn.is_empty());
    let refreshed = txn::apply(&signed, &txn).unwrap().zone;
    check_signatures(&refreshed, &keys);
    let (again, _) = refresh(&refreshed, later).unwrap();
    assert!(again.is_empty(), "refreshed signatures are not due again");
    // Eight days on, every signature is due.
    let (all, _) = refresh(
        &signed,
        Context {
            now: NOW + 8 * 86_400,
            ..ctx
        },
    )
    .unwrap();
    let rrsigs = signed.records().filter(|r| r.rtype == Rtype::RRSIG).count();
    let removed = all
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Remove(_)))
        .count();
    assert_eq!(removed, rrsigs);
}

#[test]
fn a_new_signing_key_or_denial_signs_the_zone_whole() {
    let policy = Policy::default();
    let keys = csk(Algorithm::EcdsaP256Sha256);
    let ctx = Context {
        policy: &policy,
        keys: &keys,
        now: NOW,
    };
    let signed = sign_full(&zone(TEXT), ctx).unwrap();
    let other = csk(Algorithm::Ed25519);
    assert!(needs_full(
        &signed,
        Context {
            keys: &other,
            ..ctx
        }
    ));
    let nsec3 = Policy {
        denial: Denial::Nsec3 {
            iterations: 0,
            opt_out: false,
        },
        ..Policy::default()
    };
    assert!(needs_full(
        &signed,
        Context {
            policy: &nsec3,
            ..ctx
        }
    ));
    let mut t = Transaction::new();
    bump(&signed, &mut t);
    let applied = txn::apply(&signed, &t).unwrap();
    let resigned = sign_diff(
        &applied.zone,
        &applied.diff,
        Context {
            policy: &nsec3,
            keys: &other,
            ..ctx
        },
    )
    .unwrap();
    check_signatures(&resigned.zone, &other);
    assert_eq!(
        resigned
            .zone
            .records()
            .filter(|r| r.rtype == Rtype::NSEC)
            .count(),
        0
    );
    // A published key that does not sign (a pre-published ZSK) is no reason to.
    let mut prepublished = keys.clone();
    prepublished
        .dnskeys
        .push(signing_key(Algorithm::EcdsaP256Sha256, FLAG_ZONE).1);
    assert!(!needs_full(
        &signed,
        Context {
            keys: &prepublished,
            ..ctx
        }
    ));
    let step = sign_diff(
        &applied.zone,
        &applied.diff,
        Context {
            keys: &prepublished,
            ..ctx
        },
    )
    .unwrap();
    check_signatures(&step.zone, &prepublished);
    assert_eq!(step.zone.apex_node().rrset(Rtype::DNSKEY).unwrap().len(), 2);
}
