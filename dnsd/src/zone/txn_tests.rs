//! Transactions against a model: thousands of random transactions applied to a zone
//! one after the other give, record for record and answer for answer, the zone built
//! from scratch from the same records; a transaction the model finds invalid is
//! refused, and one it finds valid is accepted. Ordered iteration, predecessors and
//! NSEC3 order are checked against brute force, and every old version stays as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::answer::{Transport, respond};
use crate::test_rng::Rng;
use crate::zone::ZoneSet;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

/// Owners the random changes pick from (relative to `example.`): nested names, a
/// wildcard, a delegation with glue inside and beside it, an NSEC3-like hash label,
/// a label with a zero octet and one with 0xff (canonical order's corners).
const OWNERS: &[&str] = &[
    "a",
    "b",
    "c.b",
    "d.c.b",
    "*.b",
    "sub",
    "ns.sub",
    "x.sub",
    "y.x.sub",
    "deep.e.f.g",
    "g",
    "\\000",
    "\\255x",
    "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
    "vl7bqj0m9sdbdsu0sn0j7pkmtg7m5o43",
];

fn owner(i: usize) -> Name {
    n(&format!("{}.example.", OWNERS[i]))
}

fn soa(serial: u32) -> Box<[u8]> {
    let mut rdata = n("ns1.example.").as_wire().to_vec();
    rdata.extend_from_slice(n("h.example.").as_wire());
    for v in [serial, 3600, 900, 604800, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rdata.into()
}

/// A random record at a random owner: addresses, TXT, MX, NS (the delegation `sub`
/// and the occluded `x.sub`), CNAME, RRSIG over A or TXT, NSEC3 at the hash labels.
fn random_record(rng: &mut Rng) -> Record {
    let o = rng.index(OWNERS.len());
    let v = rng.index(3) as u8;
    let (rtype, rdata): (Rtype, Vec<u8>) = match rng.index(9) {
        0 | 1 => (Rtype::A, vec![198, 51, 100, v]),
        2 => (
            Rtype::AAAA,
            [[0x20, 1, 0x0d, 0xb8], [0; 4], [0; 4], [0, 0, 0, v]].concat(),
        ),
        3 => (Rtype::TXT, vec![1, b'a' + v]),
        4 => {
            let mut mx = vec![0, 10];
            mx.extend_from_slice(owner(rng.index(4)).as_wire());
            (Rtype::MX, mx)
        }
        5 => {
            let target = ["ns.sub.example.", "ns.elsewhere.test.", "a.example."][v as usize];
            return Record {
                owner: owner([5, 7, 5][v as usize]),
                rtype: Rtype::NS,
                ttl: 3600,
                rdata: n(target).as_wire().into(),
            };
        }
        6 => (
            Rtype::CNAME,
            owner(rng.index(OWNERS.len())).as_wire().to_vec(),
        ),
        7 => {
            let covered = [Rtype::A, Rtype::TXT][rng.index(2)];
            let mut r = covered.0.to_be_bytes().to_vec();
            r.extend_from_slice(&[13, 2, 0, 0, 0, 60, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, v]);
            (Rtype::RRSIG, r)
        }
        _ => {
            let o = 13 + rng.index(2);
            return Record {
                owner: owner(o),
                rtype: Rtype::NSEC3,
                ttl: 300,
                rdata: vec![1, 0, 0, 0, 20, v].into_boxed_slice(),
            };
        }
    };
    Record {
        owner: owner(o),
        rtype,
        ttl: [60, 300, 3600][rng.index(3)],
        rdata: rdata.into(),
    }
}

/// The model: RRsets by (owner, type, type covered), each a TTL and a set of RDATAs.
type Model = BTreeMap<(Name, Rtype, Rtype), (u32, BTreeSet<Box<[u8]>>)>;

fn key(r: &Record) -> (Name, Rtype, Rtype) {
    (
        r.owner.to_lowercase(),
        r.rtype,
        covered_of(r.rtype, Some(&r.rdata)),
    )
}

fn model_apply(model: &mut Model, change: &Change) {
    match change {
        Change::Add(r) => {
            let entry = model.entry(key(r)).or_insert((r.ttl, BTreeSet::new()));
            entry.0 = r.ttl;
            entry.1.insert(r.rdata.clone());
        }
        Change::Remove(r) => {
            if let Some(entry) = model.get_mut(&key(r)) {
                entry.1.remove(&r.rdata);
                if entry.1.is_empty() {
                    model.remove(&key(r));
                }
            }
        }
        Change::Replace {
            owner,
            rtype,
            ttl,
            rdatas,
        } => {
            let owner = owner.to_lowercase();
            model.retain(|(o, t, _), _| !(*o == owner && t == rtype));
            for rdata in rdatas {
                let k = (owner.clone(), *rtype, covered_of(*rtype, Some(rdata)));
                model
                    .entry(k)
                    .or_insert((*ttl, BTreeSet::new()))
                    .1
                    .insert(rdata.clone());
            }
        }
        Change::RemoveRrset { owner, rtype } => {
            let owner = owner.to_lowercase();
            model.retain(|(o, t, _), _| !(*o == owner && t == rtype));
        }
        Change::RemoveName { owner } => {
            let owner = owner.to_lowercase();
            model.retain(|(o, _, _), _| *o != owner);
        }
    }
}

fn model_records(model: &Model) -> Vec<Record> {
    let mut records = Vec::new();
    for ((owner, rtype, _), (ttl, rdatas)) in model {
        for rdata in rdatas {
            records.push(Record {
                owner: owner.clone(),
                rtype: *rtype,
                ttl: *ttl,
                rdata: rdata.clone(),
            });
        }
    }
    records
}

/// Whether the model's zone keeps the rules a transaction must keep (written again
/// here, plainly, over the whole zone).
fn model_valid(model: &Model) -> bool {
    let apex = n("example.");
    let types_at = |o: &Name| -> Vec<(Rtype, usize)> {
        model
            .iter()
            .filter(|((owner, _, _), _)| owner == o)
            .map(|((_, t, _), (_, r))| (*t, r.len()))
            .collect()
    };
    let owners: BTreeSet<&Name> = model.keys().map(|(o, _, _)| o).collect();
    for o in &owners {
        let types = types_at(o);
        let has = |t: Rtype| types.iter().any(|(x, _)| *x == t);
        if has(Rtype::SOA) && **o != apex {
            return false;
        }
        if types
            .iter()
            .any(|(t, c)| matches!(*t, Rtype::CNAME | Rtype::DNAME | Rtype::SOA) && *c > 1)
        {
            return false;
        }
        if has(Rtype::CNAME)
            && types
                .iter()
                .any(|(t, _)| !matches!(*t, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC))
        {
            return false;
        }
    }
    if !types_at(&apex).iter().any(|(t, _)| *t == Rtype::SOA) {
        return false;
    }
    // Name servers (RFC 9471): for the apex and each delegation not below another,
    // a target at or below the delegation needs an address there (glue); a target in
    // the zone's own data needs one there or from a wildcard; a target below another
    // delegation, or outside the zone, needs nothing.
    let is_cut = |o: &Name| *o != apex && types_at(o).iter().any(|(t, _)| *t == Rtype::NS);
    let below_cut = |o: &Name| {
        owners
            .iter()
            .any(|a| is_cut(a) && *a != o && o.is_subdomain_of(a))
    };
    let at_or_below_cut = |o: &Name| owners.iter().any(|a| is_cut(a) && o.is_subdomain_of(a));
    let addressed = |t: &Name| {
        [Rtype::A, Rtype::AAAA]
            .iter()
            .any(|&a| model.contains_key(&(t.clone(), a, Rtype(0))))
    };
    // A name exists if it or a name below it holds records.
    let exists = |t: &Name| owners.iter().any(|o| o.is_subdomain_of(t));
    for o in owners
        .iter()
        .filter(|o| (***o == apex || is_cut(o)) && !below_cut(o))
    {
        let targets = model
            .get(&((*o).clone(), Rtype::NS, Rtype(0)))
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        for t in targets {
            let t = Name::from_wire(&t).unwrap().to_lowercase();
            let ok = if !t.is_subdomain_of(&apex) {
                true
            } else if **o != apex && t.is_subdomain_of(o) {
                addressed(&t)
            } else if at_or_below_cut(&t) || addressed(&t) {
                true
            } else if exists(&t) {
                false
            } else {
                let mut encloser = t.parent();
                while let Some(e) = encloser.clone() {
                    if exists(&e) || e == apex {
                        break;
                    }
                    encloser = e.parent();
                }
                encloser.is_some_and(|e| addressed(&e.prepend_label(b"*").unwrap()))
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

fn random_change(rng: &mut Rng) -> Change {
    let record = random_record(rng);
    match rng.index(10) {
        0..=3 => Change::Add(record),
        4..=6 => Change::Remove(record),
        7 => Change::Replace {
            owner: record.owner.clone(),
            rtype: record.rtype,
            ttl: record.ttl,
            rdatas: if rng.index(3) == 0 {
                vec![]
            } else {
                vec![record.rdata]
            },
        },
        8 => Change::RemoveRrset {
            owner: record.owner,
            rtype: record.rtype,
        },
        _ => Change::RemoveName {
            owner: record.owner,
        },
    }
}

fn query(name: &Name, qtype: u16) -> Vec<u8> {
    let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(name.as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    q
}

/// Everything a reader can see of a version, compared with the version built from
/// scratch.
fn assert_same(got: &Zone, built: &Zone, step: usize) {
    let names = |z: &Zone| -> Vec<(Vec<u8>, u8, NodeData)> {
        z.nodes()
            .map(|n| (n.owner().to_vec(), n.flags(), n.to_data()))
            .collect()
    };
    assert_eq!(
        names(got),
        names(built),
        "nodes, flags and content at step {step}"
    );
    assert_eq!(
        got.record_count(),
        built.record_count(),
        "record count at step {step}"
    );
    assert_eq!(
        got.node_count(),
        built.node_count(),
        "node count at step {step}"
    );
    assert_eq!(
        got.live_bytes(),
        built.live_bytes(),
        "live bytes at step {step}"
    );
    // Ordered iteration is canonical order, and predecessors are what brute force says.
    let owners: Vec<Vec<u8>> = got.nodes().map(|n| n.owner().to_vec()).collect();
    let mut sorted = owners.clone();
    sorted.sort_by(|a, b| canonical::compare(a, b));
    assert_eq!(owners, sorted, "canonical order at step {step}");
    let mut probes: Vec<Vec<u8>> = OWNERS
        .iter()
        .map(|o| {
            owner(OWNERS.iter().position(|x| x == o).unwrap())
                .to_lowercase()
                .as_wire()
                .to_vec()
        })
        .collect();
    probes.push(n("zzz.example.").as_wire().to_vec());
    probes.push(n("aa.b.example.").as_wire().to_vec());
    probes.push(n("example.").as_wire().to_vec());
    for probe in &probes {
        let expected = sorted
            .iter()
            .rev()
            .find(|o| canonical::compare(o, probe).is_lt());
        let found = got.predecessor(probe).map(|n| n.owner().to_vec());
        assert_eq!(found.as_ref(), expected, "predecessor at step {step}");
        let after = sorted.iter().find(|o| canonical::compare(o, probe).is_gt());
        assert_eq!(
            got.successor(probe).map(|n| n.owner().to_vec()).as_ref(),
            after
        );
    }
    let hashes =
        |z: &Zone| -> Vec<Vec<u8>> { z.nsec3_nodes().map(|n| n.owner().to_vec()).collect() };
    let mut expected: Vec<Vec<u8>> = sorted
        .iter()
        .filter(|o| got.node(o).is_some_and(|n| n.rrset(Rtype::NSEC3).is_some()))
        .cloned()
        .collect();
    expected.sort_by(|a, b| a[1..1 + a[0] as usize].cmp(&b[1..1 + b[0] as usize]));
    assert_eq!(hashes(got), expected, "NSEC3 order at step {step}");
    // Answers, byte for byte.
    let set = |z: &Zone| ZoneSet::new().with_zone(Arc::new(z.clone()));
    let (a, b) = (set(got), set(built));
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    for o in 0..OWNERS.len() {
        for prefix in ["", "q."] {
            let name = n(&format!("{prefix}{}", owner(o)));
            for qtype in [1u16, 2, 5, 16, 28, 43, 46, 50, 255] {
                let q = query(&name, qtype);
                respond(&a, &q, &Transport::Udp.into(), &mut out_a);
                respond(&b, &q, &Transport::Udp.into(), &mut out_b);
                assert_eq!(out_a, out_b, "answer to {name} type {qtype} at step {step}");
            }
        }
    }
}

#[test]
fn random_transactions_equal_a_build_from_scratch() {
    let mut rng = Rng(0x7a11_ce55);
    let apex = n("example.");
    let mut model: Model = BTreeMap::new();
    model_apply(
        &mut model,
        &Change::Add(Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 3600,
            rdata: soa(1),
        }),
    );
    model_apply(
        &mut model,
        &Change::Add(Record {
            owner: apex.clone(),
            rtype: Rtype::NS,
            ttl: 3600,
            rdata: n("ns1.example.").as_wire().into(),
        }),
    );
    model_apply(
        &mut model,
        &Change::Add(Record {
            owner: n("ns1.example."),
            rtype: Rtype::A,
            ttl: 3600,
            rdata: vec![198, 51, 100, 53].into(),
        }),
    );
    let mut zone = Zone::build(&apex, model_records(&model)).unwrap();
    let mut history: Vec<(Zone, Vec<Record>)> = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for step in 0..3000 {
        let mut txn = Transaction::new();
        for _ in 0..1 + rng.index(4) {
            txn.push(random_change(&mut rng));
        }
        let mut next_model = model.clone();
        for change in &txn.changes {
            model_apply(&mut next_model, change);
        }
        let valid = model_valid(&next_model);
        match apply(&zone, &txn) {
            Ok(applied) => {
                assert!(valid, "step {step}: accepted {txn:?}");
                let built = Zone::build(&apex, model_records(&next_model)).unwrap();
                assert_same(&applied.zone, &built, step);
                // The diff leads from the old records to the new.
                let mut before: BTreeSet<Record> = zone.records().collect();
                for r in &applied.diff.removed {
                    assert!(
                        before.remove(r),
                        "step {step}: diff removes {r:?}, not there"
                    );
                }
                for r in &applied.diff.added {
                    assert!(
                        before.insert(r.clone()),
                        "step {step}: diff adds {r:?}, there"
                    );
                }
                assert_eq!(before, applied.zone.records().collect::<BTreeSet<_>>());
                if step % 100 == 0 {
                    history.push((zone.clone(), zone.records().collect()));
                }
                zone = applied.zone;
                model = next_model;
                accepted += 1;
            }
            Err(e) => {
                assert!(!valid, "step {step}: refused ({e}) {txn:?}");
                refused += 1;
            }
        }
    }
    println!("{accepted} accepted, {refused} refused");
    assert!(
        accepted > 1000 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
    // Old versions are untouched by everything that came after them.
    for (old, records) in history {
        assert_eq!(old.records().collect::<Vec<_>>(), records);
    }
}

#[test]
fn a_strict_transaction_refuses_what_does_not_apply() {
    let apex = n("example.");
    let base = vec![
        Record {
            owner: apex.clone(),
            rtype: Rtype::SOA,
            ttl: 3600,
            rdata: soa(1),
        },
        Record {
            owner: apex.clone(),
            rtype: Rtype::NS,
            ttl: 3600,
            rdata: n("ns1.example.").as_wire().into(),
        },
        Record {
            owner: n("www.example."),
            rtype: Rtype::A,
            ttl: 60,
            rdata: vec![198, 51, 100, 1].into(),
        },
    ];
    let zone = Zone::build(&apex, base.clone()).unwrap();
    let mut txn = Transaction {
        strict: true,
        ..Transaction::default()
    };
    txn.push(Change::Add(base[2].clone()));
    assert!(matches!(
        apply(&zone, &txn),
        Err(TxnError::AlreadyInZone { .. })
    ));
    let mut txn = Transaction {
        strict: true,
        ..Transaction::default()
    };
    txn.push(Change::Remove(Record {
        rdata: vec![198, 51, 100, 9].into(),
        ..base[2].clone()
    }));
    assert!(matches!(
        apply(&zone, &txn),
        Err(TxnError::NotInZone { .. })
    ));
    let mut txn = Transaction::new();
    txn.push(Change::Add(Record {
        owner: n("www.example.com."),
        ..base[2].clone()
    }));
    assert!(matches!(
        apply(&zone, &txn),
        Err(TxnError::OutOfZone { .. })
    ));
}

#[test]
fn a_serial_change_leads_the_diff() {
    let apex = n("example.");
    let zone = Zone::build(
        &apex,
        vec![
            Record {
                owner: apex.clone(),
                rtype: Rtype::SOA,
                ttl: 3600,
                rdata: soa(1),
            },
            Record {
                owner: apex.clone(),
                rtype: Rtype::NS,
                ttl: 3600,
                rdata: n("ns1.example.").as_wire().into(),
            },
        ],
    )
    .unwrap();
    let mut txn = Transaction::new();
    txn.push(Change::Add(Record {
        owner: n("a.example."),
        rtype: Rtype::A,
        ttl: 60,
        rdata: vec![198, 51, 100, 7].into(),
    }));
    txn.push(Change::Replace {
        owner: apex.clone(),
        rtype: Rtype::SOA,
        ttl: 3600,
        rdatas: vec![soa(2)],
    });
    let applied = apply(&zone, &txn).unwrap();
    assert_eq!((applied.diff.old_serial, applied.diff.new_serial), (1, 2));
    assert_eq!(applied.diff.removed[0].rtype, Rtype::SOA);
    assert_eq!(applied.diff.added[0].rtype, Rtype::SOA);
    assert_eq!(applied.zone.serial(), Some(2));
    assert_eq!(zone.serial(), Some(1), "the old version keeps its serial");
}
