//! Tests of zone diffs: hand-made cases and the property `apply(old, diff(old, new)) == new`.

use super::*;
use crate::wire::name::Name;
use std::collections::HashSet;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn soa(serial: u32) -> Record {
    let mut rdata = n("ns.example.org.").as_wire().to_vec();
    rdata.extend_from_slice(n("hostmaster.example.org.").as_wire());
    for v in [serial, 3600, 900, 604800, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Record {
        owner: n("example.org."),
        rtype: Rtype::SOA,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

fn rec(owner: &str, rtype: Rtype, ttl: u32, rdata: &[u8]) -> Record {
    Record {
        owner: n(owner),
        rtype,
        ttl,
        rdata: rdata.into(),
    }
}

fn zone(records: Vec<Record>) -> Zone {
    Zone::build(&n("example.org."), records).unwrap()
}

fn sorted_records(zone: &Zone) -> Vec<Record> {
    let mut records: Vec<Record> = zone.records().collect();
    records.sort_by(|a, b| {
        (a.owner.as_wire(), a.rtype, a.ttl, &a.rdata).cmp(&(
            b.owner.as_wire(),
            b.rtype,
            b.ttl,
            &b.rdata,
        ))
    });
    records
}

#[test]
fn lists_changes_with_the_soas_first() {
    let old = zone(vec![
        soa(1),
        rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 1]),
        rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
        rec("mail.example.org.", Rtype::A, 300, &[198, 51, 100, 3]),
        rec("ttl.example.org.", Rtype::TXT, 300, b"\x01a"),
        rec("gone.example.org.", Rtype::TXT, 300, b"\x01g"),
    ]);
    let new = zone(vec![
        soa(2),
        rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 2]),
        rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 4]),
        rec("mail.example.org.", Rtype::A, 300, &[198, 51, 100, 3]),
        rec(
            "mail.example.org.",
            Rtype::AAAA,
            300,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        rec("ttl.example.org.", Rtype::TXT, 600, b"\x01a"),
        rec("new.deep.example.org.", Rtype::TXT, 300, b"\x01n"),
    ]);
    let diff = ZoneDiff::between(&old, &new);
    assert_eq!((diff.old_serial, diff.new_serial), (1, 2));
    assert_eq!(diff.removed[0], soa(1));
    assert_eq!(diff.added[0], soa(2));
    let mut removed = diff.removed[1..].to_vec();
    let mut added = diff.added[1..].to_vec();
    removed.sort_by_key(|r| r.owner.to_string());
    added.sort_by_key(|r| r.owner.to_string());
    assert_eq!(
        removed,
        vec![
            rec("gone.example.org.", Rtype::TXT, 300, b"\x01g"),
            rec("ttl.example.org.", Rtype::TXT, 300, b"\x01a"),
            rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 1]),
        ]
    );
    let mut want_added = vec![
        rec(
            "mail.example.org.",
            Rtype::AAAA,
            300,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        rec("new.deep.example.org.", Rtype::TXT, 300, b"\x01n"),
        rec("ttl.example.org.", Rtype::TXT, 600, b"\x01a"),
        rec("www.example.org.", Rtype::A, 300, &[198, 51, 100, 4]),
    ];
    want_added.sort_by_key(|r| r.owner.to_string());
    assert_eq!(added, want_added);
    assert_eq!(
        sorted_records(&diff.apply(&old).unwrap()),
        sorted_records(&new)
    );
}

#[test]
fn identical_zones_have_an_empty_diff() {
    let a = zone(vec![
        soa(5),
        rec("a.example.org.", Rtype::A, 1, &[1, 2, 3, 4]),
    ]);
    let b = zone(vec![
        rec("A.example.org.", Rtype::A, 1, &[1, 2, 3, 4]),
        soa(5),
    ]);
    let diff = ZoneDiff::between(&a, &b);
    assert!(diff.is_empty(), "{diff:?}");
}

#[test]
fn apply_refuses_a_diff_for_another_version() {
    let old = zone(vec![soa(1)]);
    let other = zone(vec![
        soa(1),
        rec("x.example.org.", Rtype::A, 1, &[1, 2, 3, 4]),
    ]);
    let newer = zone(vec![soa(2)]);
    let diff = ZoneDiff::between(&other, &newer);
    assert!(matches!(
        diff.apply(&old),
        Err(ApplyError::MissingRecord(_))
    ));
}

/// xorshift64*: a seeded generator, so a failing case can be replayed.
use crate::test_rng::Rng;

/// A random zone over a small universe of names, types, TTLs and RDATAs, so that two
/// draws share most records and differ in every way a diff must handle (new and gone
/// names, empty non-terminals, TTL changes, RRsets growing and shrinking, SOA changes).
fn random_zone(rng: &mut Rng) -> Zone {
    const OWNERS: &[&str] = &[
        "example.org.",
        "www.example.org.",
        "a.b.example.org.",
        "c.a.b.example.org.",
        "*.example.org.",
        "sub.example.org.",
        "ns.sub.example.org.",
        "MiXeD.example.org.",
    ];
    const TYPES: &[Rtype] = &[Rtype::A, Rtype::TXT, Rtype::NS, Rtype::MX, Rtype(65280)];
    let mut records = vec![soa(rng.below(4) as u32)];
    for _ in 0..rng.below(30) {
        let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
        let rtype = TYPES[rng.below(TYPES.len() as u64) as usize];
        let ttl = [60, 300][rng.below(2) as usize];
        let rdata = [rng.below(4) as u8; 4];
        records.push(rec(owner, rtype, ttl, &rdata));
    }
    zone(records)
}

#[test]
fn property_apply_of_diff_gives_the_new_zone() {
    let mut rng = Rng(0x6e65_7466_6162_7269);
    for case in 0..3000 {
        let old = random_zone(&mut rng);
        let new = random_zone(&mut rng);
        let diff = ZoneDiff::between(&old, &new);
        let applied = diff
            .apply(&old)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(
            sorted_records(&applied),
            sorted_records(&new),
            "case {case}"
        );
        assert_eq!(applied.serial(), new.serial(), "case {case}");
        let back = ZoneDiff::between(&new, &old).apply(&new).unwrap();
        assert_eq!(sorted_records(&back), sorted_records(&old), "case {case}");
        if sorted_records(&old) == sorted_records(&new) {
            assert!(diff.is_empty(), "case {case}");
        }
        for r in &diff.removed {
            assert!(
                !diff.added.contains(r),
                "case {case}: {r:?} both removed and added"
            );
        }
    }
}

#[test]
fn large_zone_with_one_change() {
    let names = 100_000;
    let records = |last: u8, serial: u32| {
        let mut records = vec![soa(serial)];
        for i in 0..names {
            let owner = format!("host{i}.example.org.");
            let octet = if i == names / 2 { last } else { 1 };
            records.push(rec(&owner, Rtype::A, 300, &[198, 51, 100, octet]));
        }
        records
    };
    let old = zone(records(1, 1));
    let new = zone(records(2, 2));
    let diff = ZoneDiff::between(&old, &new);
    assert_eq!(diff.removed.len(), 2);
    assert_eq!(diff.added.len(), 2);
    assert_eq!(diff.added[1].owner, n("host50000.example.org."));
}

#[test]
fn diffs_in_a_row_condense_to_the_diff_of_the_ends() {
    let mut rng = Rng(0xc0de);
    for _ in 0..200 {
        let a = random_zone(&mut rng);
        let b = random_zone(&mut rng);
        let c = random_zone(&mut rng);
        let (ab, bc) = (ZoneDiff::between(&a, &b), ZoneDiff::between(&b, &c));
        let condensed = ab.then(bc);
        let direct = ZoneDiff::between(&a, &c);
        let set = |v: &[Record]| v.iter().cloned().collect::<HashSet<_>>();
        assert_eq!(set(&condensed.removed), set(&direct.removed));
        assert_eq!(set(&condensed.added), set(&direct.added));
        assert_eq!(
            (condensed.old_serial, condensed.new_serial),
            (direct.old_serial, direct.new_serial)
        );
        if let Some(first) = condensed.removed.first() {
            assert!(
                first.rtype == Rtype::SOA
                    || !condensed.removed.iter().any(|r| r.rtype == Rtype::SOA)
            );
        }
        assert_eq!(
            condensed.apply(&a).map(|z| sorted_records(&z)).ok(),
            Some(sorted_records(&c))
        );
    }
}

#[test]
fn a_chain_of_diffs_condenses_to_the_diff_of_its_ends() {
    let mut rng = Rng(0xfeed);
    for _ in 0..100 {
        let zones: Vec<Zone> = (0..6).map(|_| random_zone(&mut rng)).collect();
        let mut chain = zones.windows(2).map(|w| ZoneDiff::between(&w[0], &w[1]));
        let Some(first) = chain.next() else { continue };
        let condensed = first.then_all(chain);
        let last = &zones[zones.len() - 1];
        let direct = ZoneDiff::between(&zones[0], last);
        let set = |v: &[Record]| v.iter().cloned().collect::<HashSet<_>>();
        assert_eq!(set(&condensed.removed), set(&direct.removed));
        assert_eq!(set(&condensed.added), set(&direct.added));
        assert_eq!(condensed.removed.len(), direct.removed.len());
        assert_eq!(condensed.added.len(), direct.added.len());
        assert_eq!(
            condensed.apply(&zones[0]).map(|z| sorted_records(&z)).ok(),
            Some(sorted_records(last))
        );
    }
}
