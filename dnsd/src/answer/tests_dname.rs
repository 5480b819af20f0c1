//! Data below a DNAME is never served (RFC 6672 §2.4): whatever a zone holds below the
//! DNAME's owner — records, the empty non-terminals they make, wildcards, delegations —
//! every name there is answered with the DNAME and the CNAME synthesized from it, the
//! same response, byte for byte, as from the zone without that data. The zone-file
//! loader refuses such data; other sources (transfers, updates) may still bring it, so
//! the answer engine is checked on zones built directly.

use std::sync::Arc;

use super::{Transport, respond};
use crate::wire::name::Name;
use crate::zone::{Record, Rtype, Zone, ZoneSet};

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

/// A record from presentation text of the few types used here.
fn rr(owner: &str, rtype: Rtype, data: &str) -> Record {
    let rdata: Vec<u8> = match rtype {
        Rtype::A => data
            .parse::<std::net::Ipv4Addr>()
            .unwrap()
            .octets()
            .to_vec(),
        Rtype::TXT => [&[data.len() as u8][..], data.as_bytes()].concat(),
        Rtype::SOA => {
            let mut soa = n("ns1.example.org.").as_wire().to_vec();
            soa.extend_from_slice(n("hostmaster.example.org.").as_wire());
            for v in [1u32, 7200, 900, 1_209_600, 300] {
                soa.extend_from_slice(&v.to_be_bytes());
            }
            soa
        }
        _ => n(data).as_wire().to_vec(),
    };
    Record {
        owner: n(owner),
        rtype,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

fn set(apex: &str, records: Vec<Record>) -> ZoneSet {
    ZoneSet::new().with_zone(Arc::new(Zone::build(&n(apex), records).unwrap()))
}

fn base(dname_owner: &str) -> Vec<Record> {
    vec![
        rr("example.org.", Rtype::SOA, ""),
        rr("example.org.", Rtype::NS, "ns1.example.net."),
        rr("www.example.org.", Rtype::A, "198.51.100.2"),
        rr(dname_owner, Rtype::DNAME, "target.example.net."),
    ]
}

/// Below `d.example.org.`: data, an empty non-terminal, a wildcard, a delegation.
fn occluded() -> Vec<Record> {
    vec![
        rr("www.d.example.org.", Rtype::A, "198.51.100.5"),
        rr("www.d.example.org.", Rtype::TXT, "hidden"),
        rr("a.b.d.example.org.", Rtype::TXT, "deep"),
        rr("*.w.d.example.org.", Rtype::A, "198.51.100.6"),
        rr("sub.d.example.org.", Rtype::NS, "ns.sub.d.example.org."),
        rr("ns.sub.d.example.org.", Rtype::A, "198.51.100.7"),
    ]
}

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(n(name).as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn answer(zones: &ZoneSet, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    respond(zones, &query(name, qtype), &Transport::Tcp.into(), &mut out).unwrap();
    out
}

#[test]
fn names_below_a_dname_get_the_redirect_whatever_the_zone_holds_there() {
    let clean = set("example.org.", base("d.example.org."));
    let mut records = base("d.example.org.");
    records.extend(occluded());
    let dirty = set("example.org.", records);
    for name in [
        "www.d.example.org.",
        "b.d.example.org.",
        "a.b.d.example.org.",
        "x.w.d.example.org.",
        "w.d.example.org.",
        "sub.d.example.org.",
        "ns.sub.d.example.org.",
        "nothing.d.example.org.",
        "d.example.org.",
        "www.example.org.",
    ] {
        for qtype in [1u16, 2, 5, 16, 39, 255] {
            assert_eq!(
                answer(&dirty, name, qtype),
                answer(&clean, name, qtype),
                "{name} type {qtype}"
            );
        }
    }
    // And that response is the redirect.
    let response = answer(&dirty, "www.d.example.org.", 1);
    let message = hickory_proto::op::Message::from_vec(&response).unwrap();
    let types: Vec<u16> = message
        .answers
        .iter()
        .map(|r| u16::from(r.record_type()))
        .collect();
    assert_eq!(types, [39, 5]);
}

#[test]
fn an_apex_dname_redirects_every_name_below_the_apex() {
    let mut clean = base("example.org.");
    clean.retain(|r| r.owner != n("www.example.org."));
    let dirty = {
        let mut records = base("example.org.");
        records.push(rr("ns1.example.org.", Rtype::A, "198.51.100.1"));
        set("example.org.", records)
    };
    let clean = set("example.org.", clean);
    for name in ["www.example.org.", "ns1.example.org.", "a.b.example.org."] {
        for qtype in [1u16, 2, 28] {
            assert_eq!(
                answer(&dirty, name, qtype),
                answer(&clean, name, qtype),
                "{name} type {qtype}"
            );
        }
    }
    // The apex itself keeps its data.
    let message = hickory_proto::op::Message::from_vec(&answer(&dirty, "example.org.", 6)).unwrap();
    assert_eq!(message.answers.len(), 1);
}
