use super::*;
use crate::test_rng::Rng;
use crate::wire::name::Name;
use crate::zone::Record;
use crate::zone::txn::{Change, Transaction, apply};

const PARAMS: Params<'static> = Params {
    salt: &[],
    iterations: 0,
    opt_out: false,
    opt_out_flag: false,
};

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn zone(text: &str) -> Zone {
    let text = format!(
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n{text}"
    );
    crate::zone::load::load_zone_from_bytes(
        text.as_bytes(),
        std::path::Path::new("t.zone"),
        &n("example.org."),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .zone
}

/// The zone with its NSEC3 records replaced by `chain`.
fn with_records(zone: &Zone, chain: &[(Hash, Option<Vec<u8>>)]) -> Zone {
    let apex = zone.apex().as_wire().to_vec();
    let mut txn = Transaction::new();
    for (hash, rdata) in chain {
        let owner = Name::from_wire(&hashed_owner(hash, &apex)).unwrap();
        txn.push(match rdata {
            Some(r) => Change::Replace {
                owner,
                rtype: Rtype::NSEC3,
                ttl: 300,
                rdatas: vec![r.clone().into()],
            },
            None => Change::RemoveName { owner },
        });
    }
    apply(zone, &txn).unwrap().zone
}

fn nsec3_records(zone: &Zone) -> Vec<Record> {
    let mut r: Vec<Record> = zone.records().filter(|r| r.rtype == Rtype::NSEC3).collect();
    r.sort();
    r
}

fn signed(zone: &Zone) -> Zone {
    let chain: Vec<_> = full_chain(zone, PARAMS)
        .into_iter()
        .map(|(h, r)| (h, Some(r)))
        .collect();
    with_records(zone, &chain)
}

#[test]
fn hashes_match_rfc_5155_appendix_a() {
    // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
    let salt = [0xaa, 0xbb, 0xcc, 0xdd];
    let cases = [
        ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
        ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
        ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
        ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
    ];
    for (name, label) in cases {
        let hash = nsec3_hash(n(name).as_wire(), &salt, 12);
        assert_eq!(base32hex(&hash), label.as_bytes(), "{name}");
        let owner = hashed_owner(&hash, n("example.").as_wire());
        assert_eq!(hash_of_owner(&owner), Some(hash));
    }
}

#[test]
fn the_chain_covers_empty_non_terminals_and_leaves_out_glue_and_opt_out() {
    let z = zone(
        "a.b.c A 198.51.100.2\nsub NS ns.sub\nns.sub A 198.51.100.3\nsec NS ns\nsec DS 1 13 2 abababababababababababababababababababababababababababababababab\n",
    );
    let owners: Vec<String> = z
        .nodes()
        .filter(|node| nsec3_types(node, false).is_some())
        .map(|node| node.owner_name().to_string())
        .collect();
    assert_eq!(
        owners,
        [
            "example.org.",
            "c.example.org.",
            "b.c.example.org.",
            "a.b.c.example.org.",
            "ns.example.org.",
            "sec.example.org.",
            "sub.example.org."
        ]
    );
    let sub = z.node(n("sub.example.org.").as_wire()).unwrap();
    assert_eq!(
        nsec3_types(&sub, false),
        Some(vec![2]),
        "NS alone, no RRSIG"
    );
    assert_eq!(nsec3_types(&sub, true), None, "opted out");
    let sec = z.node(n("sec.example.org.").as_wire()).unwrap();
    assert_eq!(nsec3_types(&sec, true), Some(vec![2, 43, 46]));
    let ent = z.node(n("c.example.org.").as_wire()).unwrap();
    assert_eq!(nsec3_types(&ent, false), Some(vec![]));
    let chain = full_chain(&z, PARAMS);
    assert_eq!(chain.len(), 7);
    // Each record names the next hash, the last the first.
    for (i, (_, rdata)) in chain.iter().enumerate() {
        let (_, next, _) = nsec3_parts(rdata).unwrap();
        assert_eq!(next, chain[(i + 1) % chain.len()].0);
    }
    let signed = signed(&z);
    assert_eq!(signed.nsec3_nodes().count(), 7);
    assert!(
        nsec3_changes(
            &signed,
            &with_ancestors(
                signed.apex().as_wire(),
                &[n("a.b.c.example.org.").as_wire().to_vec()]
            ),
            PARAMS
        )
        .is_empty()
    );
}

/// A small deterministic generator.
/// Random names two or three labels deep from a small alphabet, so that changes make
/// and unmake empty non-terminals and delegations.
fn random_name(rng: &mut Rng) -> Name {
    let labels = ["a", "b", "c", "d", "e", "f"];
    let depth = 1 + rng.below(3);
    let mut text = String::new();
    for _ in 0..depth {
        text.push_str(labels[rng.below(6) as usize]);
        text.push('.');
    }
    text.push_str("example.org.");
    n(&text)
}

fn random_change(rng: &mut Rng) -> Change {
    let owner = random_name(rng);
    match rng.below(5) {
        0 | 1 => Change::Add(Record {
            owner,
            rtype: Rtype::TXT,
            ttl: 300,
            rdata: vec![1, b'a' + rng.below(3) as u8].into(),
        }),
        2 => Change::RemoveName { owner },
        3 => Change::Add(Record {
            owner,
            rtype: Rtype::NS,
            ttl: 300,
            rdata: n("ns.example.org.").as_wire().into(),
        }),
        _ => Change::Add(Record {
            owner,
            rtype: Rtype::DS,
            ttl: 300,
            rdata: vec![0, 1, 13, 2, 0xaa].into(),
        }),
    }
}

#[test]
fn incremental_repairs_equal_a_chain_made_from_scratch() {
    for (seed, opt_out) in [(7u64, false), (99, true), (12345, false), (4242, true)] {
        let params = Params {
            opt_out,
            opt_out_flag: opt_out,
            ..PARAMS
        };
        let mut rng = Rng(seed);
        let start = {
            let mut txn = Transaction::new();
            for _ in 0..30 {
                txn.push(random_change(&mut rng));
            }
            let z = apply(&zone(""), &txn).unwrap().zone;
            let chain: Vec<_> = full_chain(&z, params)
                .into_iter()
                .map(|(h, r)| (h, Some(r)))
                .collect();
            with_records(&z, &chain)
        };
        let mut current = start;
        for step in 0..60 {
            let mut txn = Transaction::new();
            for _ in 0..(1 + rng.below(4)) {
                txn.push(random_change(&mut rng));
            }
            let Ok(applied) = apply(&current, &txn) else {
                continue;
            };
            let mut changed: Vec<Vec<u8>> = applied
                .diff
                .removed
                .iter()
                .chain(&applied.diff.added)
                .map(|r| r.owner.to_lowercase().as_wire().to_vec())
                .collect();
            // Names below a cut that appeared or went change too.
            for record in applied.diff.removed.iter().chain(&applied.diff.added) {
                if record.rtype == Rtype::NS {
                    let owner = record.owner.to_lowercase();
                    changed.extend(
                        applied
                            .zone
                            .subtree(owner.as_wire())
                            .map(|n| n.owner().to_vec()),
                    );
                }
            }
            changed.sort();
            changed.dedup();
            let apex = applied.zone.apex().as_wire().to_vec();
            let changes = nsec3_changes(&applied.zone, &with_ancestors(&apex, &changed), params);
            let repaired = with_records(&applied.zone, &changes);
            let expected: Vec<_> = full_chain(&repaired, params)
                .into_iter()
                .map(|(h, r)| (h, Some(r)))
                .collect();
            let fresh = with_records(
                &{
                    // The same content with no NSEC3 at all, then the whole chain.
                    let mut strip = Transaction::new();
                    for node in repaired.nsec3_nodes() {
                        strip.push(Change::RemoveName {
                            owner: node.owner_name(),
                        });
                    }
                    apply(&repaired, &strip).unwrap().zone
                },
                &expected,
            );
            assert_eq!(
                nsec3_records(&repaired),
                nsec3_records(&fresh),
                "seed {seed} step {step}: {txn:?}"
            );
            current = repaired;
        }
    }
}
