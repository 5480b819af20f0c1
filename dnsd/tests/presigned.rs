//! A pre-signed zone (tests/zones/cases/signed.example.zone): each RRSIG RRset keeps
//! the TTL of the RRset it covers (RFC 4034 §3), and a query for type RRSIG gets every
//! one of them, each with its own TTL, as NSD answers it. (Knot 3.2 answers one, so
//! the differential test, which accepts Knot's side where the peers disagree, cannot
//! hold this on its own.)

use std::path::Path;
use std::sync::Arc;

use dnsd::answer::{Transport, respond};
use dnsd::wire::name::Name;
use dnsd::zone::{Rtype, ZoneSet, load_zone};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};

fn zones() -> ZoneSet {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones/cases/signed.example.zone");
    let apex = Name::from_text("signed.example.", None).unwrap();
    let loaded = load_zone(&path, &apex).unwrap_or_else(|e| panic!("{e:?}"));
    ZoneSet::new().with_zone(Arc::new(loaded.zone))
}

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(Name::from_text(name, None).unwrap().as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

#[test]
fn each_rrsig_rrset_keeps_the_ttl_of_what_it_covers() {
    let zones = zones();
    let zone = zones.zones().next().unwrap();
    let www = zone
        .node(
            Name::from_text("www.signed.example.", None)
                .unwrap()
                .as_wire(),
        )
        .unwrap();
    assert_eq!(www.rrsig(Rtype::A).map(|r| r.ttl), Some(300));
    assert_eq!(www.rrsig(Rtype::TXT).map(|r| r.ttl), Some(60));
    assert_eq!(zone.apex_node().rrsig(Rtype::NS).map(|r| r.ttl), Some(7200));
    assert_eq!(
        zone.apex_node().rrsig(Rtype::SOA).map(|r| r.ttl),
        Some(3600)
    );

    let mut out = Vec::new();
    respond(
        &zones,
        &query("www.signed.example.", 46),
        &Transport::Udp.into(),
        &mut out,
    )
    .unwrap();
    let message = Message::from_bytes(&out).unwrap();
    let mut got: Vec<(u32, String)> = message
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .map(|r| {
            let rdata = r.data.to_bytes().unwrap();
            (
                r.ttl,
                Rtype(u16::from_be_bytes([rdata[0], rdata[1]])).to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![(60, "TXT".to_string()), (300, "A".to_string())]);
}
