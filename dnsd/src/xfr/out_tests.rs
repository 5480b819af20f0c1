//! AXFR and IXFR out, in memory: the messages parse (with hickory-proto too, a second
//! decoder), hold every record of the zone once between the two SOAs, and an IXFR
//! carries the condensed diff in RFC 1995's order.

use super::*;
use crate::wire::name::Name;
use crate::wire::reader::Reader;
use crate::xfr::writer::MESSAGE_LIMIT;
use crate::zone::{Record, Zone};

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn soa(serial: u32) -> Record {
    let mut rdata = n("ns1.example.org.").as_wire().to_vec();
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

fn zone(serial: u32, hosts: usize) -> Zone {
    let mut records = vec![
        soa(serial),
        Record {
            owner: n("example.org."),
            rtype: Rtype::NS,
            ttl: 3600,
            rdata: n("ns1.example.org.").as_wire().into(),
        },
    ];
    for i in 0..hosts {
        records.push(Record {
            owner: n(&format!("host{i}.sub{}.example.org.", i % 7)),
            rtype: Rtype::A,
            ttl: 300,
            rdata: vec![198, 51, 100, (i % 250) as u8].into(),
        });
        records.push(Record {
            owner: n(&format!("host{i}.sub{}.example.org.", i % 7)),
            rtype: Rtype::TXT,
            ttl: 300,
            rdata: format!("\x0ctext {i:07}").into_bytes().into(),
        });
    }
    Zone::build(&n("example.org."), records).unwrap()
}

/// Every message of the transfer, and the records they hold (read back by our reader
/// and, as a check on our compression, by hickory's decoder).
fn transfer(zone: &Zone, plan: &Plan) -> (usize, Vec<Record>) {
    let mut question = zone.apex().as_wire().to_vec();
    question.extend_from_slice(&[0, 252, 0, 1]);
    let mut producer = Producer::new(
        records(zone, plan),
        99,
        0x0100,
        Some(&question),
        zone.apex().as_wire(),
    );
    let mut msg = Message::new(MESSAGE_LIMIT);
    let mut messages = 0;
    let mut out = Vec::new();
    while producer.next_message(&mut msg).unwrap() {
        messages += 1;
        let bytes = msg.bytes();
        assert!(bytes.len() <= MESSAGE_LIMIT);
        assert_eq!(&bytes[..4], &[0, 99, 0x85, 0x00], "id, QR AA RD");
        let hickory = hickory_proto::op::Message::from_vec(bytes).expect("hickory parses it");
        let mut reader = Reader::new(bytes).unwrap();
        let mut count = 0;
        while let Some(r) = reader.record().unwrap() {
            out.push(r.to_record(bytes).unwrap());
            count += 1;
        }
        assert_eq!(hickory.answers.len(), count);
    }
    (messages, out)
}

#[test]
fn an_axfr_holds_every_record_once_between_two_soas_over_many_messages() {
    let zone = zone(7, 3000);
    let (messages, got) = transfer(&zone, &Plan::Axfr);
    assert!(messages > 5, "{messages} messages");
    assert_eq!(got.first().map(|r| r.rtype), Some(Rtype::SOA));
    assert_eq!(got.last().map(|r| r.rtype), Some(Rtype::SOA));
    // RFC 5936 §2.2 allows any order; ours is canonical (RFC 4034 §6.1), owner by
    // owner, which lets a dnsd secondary build the version as it arrives.
    let body = &got[1..got.len() - 1];
    for pair in body.windows(2) {
        assert_ne!(
            crate::zone::canonical::compare(pair[0].owner.as_wire(), pair[1].owner.as_wire()),
            std::cmp::Ordering::Greater,
            "{} before {}",
            pair[0].owner,
            pair[1].owner
        );
    }
    let mut body: Vec<Record> = body.to_vec();
    let mut all: Vec<Record> = zone.records().filter(|r| r.rtype != Rtype::SOA).collect();
    assert_eq!(body.len() + 1, zone.record_count());
    body.sort();
    all.sort();
    assert_eq!(body, all);
}

#[test]
fn an_ixfr_sends_the_condensed_diff_in_rfc_1995_order() {
    let old = zone(7, 20);
    let new = zone(8, 25);
    let diff = crate::zone::diff::ZoneDiff::between(&old, &new);
    let (_, got) = transfer(&new, &Plan::Ixfr(diff.clone()));
    let serial = |r: &Record| crate::zone::snapshot::soa_fields(&r.rdata).map(|f| f[0]);
    let soas: Vec<(usize, Option<u32>)> = got
        .iter()
        .enumerate()
        .filter(|(_, r)| r.rtype == Rtype::SOA)
        .map(|(i, r)| (i, serial(r)))
        .collect();
    let removed = diff.removed.len();
    let added = diff.added.len();
    assert_eq!(
        soas,
        vec![
            (0, Some(8)),
            (1, Some(7)),
            (1 + removed, Some(8)),
            (1 + removed + added, Some(8))
        ]
    );
    assert_eq!(got.len(), 2 + removed + added);
    assert_eq!(&got[1 + removed + 1..1 + removed + added], &diff.added[1..]);
}

#[test]
fn a_current_client_gets_one_soa() {
    let zone = zone(7, 3);
    let (messages, got) = transfer(&zone, &Plan::SoaOnly);
    assert_eq!(messages, 1);
    assert_eq!(got, vec![soa(7)]);
}

#[test]
fn ixfr_plans_follow_the_history() {
    use crate::xfr::journal::{Entry, Journal, Limits, Meta};
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_entries: 10,
        max_bytes: 1 << 20,
    };
    let mut journal = Journal::empty(&dir.path().join("j"), limits);
    let zones: Vec<Zone> = (7..=9).map(|s| zone(s, 10 + s as usize)).collect();
    for pair in zones.windows(2) {
        let diff = crate::zone::diff::ZoneDiff::between(&pair[0], &pair[1]);
        journal
            .append(Entry {
                diff,
                meta: Meta::default(),
            })
            .unwrap();
    }
    let newest = &zones[2];
    let published = Published {
        zone: Some(std::sync::Arc::new(newest.clone())),
        journal: journal.view(),
    };
    assert!(matches!(plan_ixfr(&published, newest, 9), Plan::SoaOnly));
    assert!(matches!(plan_ixfr(&published, newest, 10), Plan::SoaOnly));
    match plan_ixfr(&published, newest, 7) {
        Plan::Ixfr(diff) => {
            assert_eq!((diff.old_serial, diff.new_serial), (7, 9));
            assert_eq!(
                diff,
                crate::zone::diff::ZoneDiff::between(&zones[0], newest)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(plan_ixfr(&published, newest, 3), Plan::Axfr));
}

#[test]
fn the_client_serial_is_read_from_the_authority_section() {
    let mut request = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
    request.extend_from_slice(n("example.org.").as_wire());
    request.extend_from_slice(&[0, 251, 0, 1]);
    request.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0]);
    let rdata = soa(41).rdata;
    request.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    request.extend_from_slice(&rdata);
    let authority = crate::wire::reader::Section::Authority;
    assert_eq!(
        soa_serial(&request, n("EXAMPLE.org.").as_wire(), authority),
        Some(41)
    );
    assert_eq!(
        soa_serial(&request, n("other.org.").as_wire(), authority),
        None
    );
    let answer = crate::wire::reader::Section::Answer;
    assert_eq!(
        soa_serial(&request, n("example.org.").as_wire(), answer),
        None
    );
}
