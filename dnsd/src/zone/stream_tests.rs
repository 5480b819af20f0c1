//! The stream builder gives what `Zone::build` gives, records in canonical order or
//! not, and refuses what it refuses.

use super::*;
use crate::zone::load::load_zone_from_bytes;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

/// A zone with the shapes a builder must get right: apex, delegation and glue, empty
/// non-terminals, a wildcard, RRSIGs of several types with their own TTLs, an RRset
/// of several records.
fn sample() -> Zone {
    let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                a.b.c A 192.0.2.2\nsub NS ns.sub\nns.sub A 192.0.2.3\nZ AAAA ::1\n\
                *.w TXT \"any\"\nm MX 10 ns\nm A 192.0.2.4\nm A 192.0.2.5\n\
                m RRSIG A 8 2 300 20300101000000 20200101000000 1 example. AAAA\n\
                m 600 RRSIG MX 8 2 600 20300101000000 20200101000000 1 example. AAAA\n\
                x.y.z.deep A 192.0.2.6\n";
    let apex = n("example.");
    load_zone_from_bytes(text.as_bytes(), std::path::Path::new("t.zone"), &apex)
        .unwrap()
        .zone
}

fn stream(
    apex: &str,
    records: impl IntoIterator<Item = Record>,
) -> (Result<Zone, BuildError>, bool) {
    let mut b = StreamBuilder::new(&n(apex), 64);
    for r in records {
        if let Err(e) = b.push(r) {
            return (Err(e), b.in_order());
        }
    }
    let in_order = b.in_order();
    (b.finish(), in_order)
}

/// The same version: the same node blobs (owners, flags, RRsets) in the same order,
/// and the same counts.
fn assert_same(got: &Zone, want: &Zone) {
    let blobs = |z: &Zone| z.nodes().map(|n| n.blob().to_vec()).collect::<Vec<_>>();
    assert_eq!(blobs(got), blobs(want));
    assert_eq!(got.record_count(), want.record_count());
    assert_eq!(got.live_bytes(), want.live_bytes());
    assert_eq!(got.delegations().count(), want.delegations().count());
    assert_eq!(got.serial(), want.serial());
    for node in want.nodes() {
        assert!(
            got.node(node.owner()).is_some(),
            "{} is found",
            node.owner_name()
        );
    }
}

#[test]
fn records_in_canonical_order_are_written_as_they_come() {
    let want = sample();
    let (got, in_order) = stream("example.", want.records());
    assert!(in_order, "no sort needed");
    assert_same(&got.unwrap(), &want);
}

#[test]
fn records_out_of_order_are_sorted_at_the_end() {
    let want = sample();
    let mut records: Vec<Record> = want.records().collect();
    // The apex's SOA first, as a transfer sends it, then everything backwards.
    let soa = records.iter().position(|r| r.rtype == Rtype::SOA).unwrap();
    let soa = records.remove(soa);
    records.reverse();
    records.insert(0, soa);
    let (got, in_order) = stream("example.", records);
    assert!(!in_order, "fell back to the sort");
    assert_same(&got.unwrap(), &want);
}

#[test]
fn an_owner_seen_again_later_merges_as_the_bulk_build_does() {
    let soa = sample().records().find(|r| r.rtype == Rtype::SOA).unwrap();
    let rec = |owner: &str, ttl: u32, last: u8| Record {
        owner: n(owner),
        rtype: Rtype::A,
        ttl,
        rdata: vec![192, 0, 2, last].into(),
    };
    // "a" is written as a node before "b" comes; then "a" again: its A RRset takes
    // the TTL of its first record, the duplicate goes, as Zone::build does.
    let records = vec![
        soa,
        rec("a.example.", 300, 1),
        rec("B.example.", 60, 9),
        rec("a.example.", 600, 2),
        rec("A.example.", 900, 1),
    ];
    let want = Zone::build(&n("example."), records.clone()).unwrap();
    let (got, in_order) = stream("example.", records);
    assert!(!in_order);
    let got = got.unwrap();
    assert_same(&got, &want);
    let a = got.node(n("a.example.").as_wire()).unwrap();
    let a = a.rrset(Rtype::A).unwrap();
    assert_eq!((a.ttl, a.len()), (300, 2));
}

#[test]
fn what_the_bulk_build_refuses_is_refused() {
    let zone = sample();
    let soa = zone.records().find(|r| r.rtype == Rtype::SOA).unwrap();
    let www = |owner: &str| Record {
        owner: n(owner),
        rtype: Rtype::A,
        ttl: 300,
        rdata: vec![192, 0, 2, 1].into(),
    };
    let (got, _) = stream("example.", vec![soa.clone(), www("www.example.org.")]);
    assert!(matches!(got, Err(BuildError::OutOfZone { .. })));
    let (got, _) = stream("example.", vec![www("www.example.")]);
    assert!(matches!(got, Err(BuildError::NoSoa(_))));
    let mut other = soa.clone();
    other.rdata = zone.records().find(|r| r.rtype == Rtype::NS).unwrap().rdata;
    let (got, _) = stream("example.", vec![soa.clone(), www("www.example."), other]);
    assert!(matches!(got, Err(BuildError::MultipleSoa(_))));
    // The same SOA twice is one SOA.
    let (got, _) = stream("example.", vec![soa.clone(), soa]);
    assert!(got.is_ok());
}
