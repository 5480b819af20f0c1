//! The assembler: AXFR, IXFR (RFC 1995 §4's example shape), up to date, AXFR-style
//! IXFR, and answers that are not transfers.

use super::*;

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn soa(serial: u32) -> Record {
    let mut rdata = n("ns.jain.ad.jp.").as_wire().to_vec();
    rdata.extend_from_slice(n("mohta.jain.ad.jp.").as_wire());
    for v in [serial, 600, 600, 3600000, 604800] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Record {
        owner: n("JAIN.AD.JP."),
        rtype: Rtype::SOA,
        ttl: 600,
        rdata: rdata.into(),
    }
}

fn a(owner: &str, last: u8) -> Record {
    Record {
        owner: n(owner),
        rtype: Rtype::A,
        ttl: 600,
        rdata: vec![133, 69, 136, last].into(),
    }
}

fn run(ours: Option<u32>, records: Vec<Record>) -> Result<Fetched, XfrError> {
    let mut assembler = Assembler::new(n("jain.ad.jp."), ours);
    for r in records {
        assembler.push(r)?;
    }
    assembler.finish()
}

/// The records of the whole zone a transfer brought (owners lowercased, in canonical
/// order); None when it brought something else or is not a zone.
fn full(fetched: Fetched) -> Option<Vec<Record>> {
    match fetched {
        Fetched::Full(builder) => Some(builder.finish().ok()?.records().collect()),
        _ => None,
    }
}

fn lower(mut r: Record) -> Record {
    r.owner = r.owner.to_lowercase();
    r
}

#[test]
fn an_axfr_is_the_records_between_the_two_soas() {
    let got = run(
        None,
        vec![
            soa(3),
            a("nezu.jain.ad.jp.", 4),
            a("jain-bb.jain.ad.jp.", 3),
            soa(3),
        ],
    )
    .unwrap();
    assert_eq!(
        full(got),
        Some(vec![
            lower(soa(3)),
            a("jain-bb.jain.ad.jp.", 3),
            a("nezu.jain.ad.jp.", 4),
        ])
    );
}

#[test]
fn an_ixfr_is_its_deltas_in_order() {
    // RFC 1995 §7's example, serial 1 to 3 in two steps.
    let records = vec![
        soa(3),
        soa(1),
        a("nezu.jain.ad.jp.", 5),
        soa(2),
        soa(2),
        a("jain-bb.jain.ad.jp.", 4),
        soa(3),
        a("jain-bb.jain.ad.jp.", 3),
        soa(3),
    ];
    let Fetched::Incremental(deltas) = run(Some(1), records).unwrap() else {
        panic!("not incremental");
    };
    assert_eq!(
        deltas,
        vec![
            Delta {
                old_soa: soa(1),
                removed: vec![a("nezu.jain.ad.jp.", 5)],
                new_soa: soa(2),
                added: vec![],
            },
            Delta {
                old_soa: soa(2),
                removed: vec![a("jain-bb.jain.ad.jp.", 4)],
                new_soa: soa(3),
                added: vec![a("jain-bb.jain.ad.jp.", 3)],
            },
        ]
    );
}

#[test]
fn a_lone_soa_not_newer_is_up_to_date_and_an_axfr_style_ixfr_is_full() {
    let mut assembler = Assembler::new(n("jain.ad.jp."), Some(3));
    assembler.push(soa(3)).unwrap();
    assert!(assembler.is_done());
    assert!(matches!(assembler.finish().unwrap(), Fetched::UpToDate(3)));
    let mut newer = Assembler::new(n("jain.ad.jp."), Some(2));
    newer.push(soa(3)).unwrap();
    assert!(!newer.is_done() && newer.first_soa_only());
    let got = run(Some(1), vec![soa(3), a("nezu.jain.ad.jp.", 4), soa(3)]).unwrap();
    assert_eq!(
        full(got),
        Some(vec![lower(soa(3)), a("nezu.jain.ad.jp.", 4)])
    );
}

#[test]
fn answers_that_are_not_transfers_are_refused() {
    assert!(run(None, vec![a("nezu.jain.ad.jp.", 4)]).is_err());
    assert!(
        run(None, vec![soa(3), a("nezu.jain.ad.jp.", 4)]).is_err(),
        "no final SOA"
    );
    assert!(run(None, vec![soa(3), soa(3), a("x.jain.ad.jp.", 1)]).is_err());
    assert!(run(None, vec![soa(3), a("x.jain.ad.jp.", 1), soa(4)]).is_err());
    let mut other = soa(3);
    other.owner = n("other.jp.");
    assert!(run(None, vec![other]).is_err());
    assert!(
        matches!(
            run(None, vec![soa(3), a("nezu.other.jp.", 4), soa(3)]),
            Err(XfrError::NotAZone(_))
        ),
        "a name outside the zone"
    );
}
