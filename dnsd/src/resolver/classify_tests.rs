//! Tests of `classify`: responses built record by record, as servers send them.

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

pub(crate) fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

pub(crate) fn a(owner: &str, ip: [u8; 4]) -> Record {
    Record::from_rdata(name(owner), 300, RData::A(A(Ipv4Addr::from(ip))))
}

pub(crate) fn ns(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::NS(NS(name(target))))
}

pub(crate) fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
}

pub(crate) fn soa(owner: &str) -> Record {
    let under = |label: &str| match owner {
        "." => format!("{label}."),
        _ => format!("{label}.{owner}"),
    };
    Record::from_rdata(
        name(owner),
        300,
        RData::SOA(SOA::new(
            name(&under("ns")),
            name(&under("h")),
            1,
            3600,
            900,
            604800,
            60,
        )),
    )
}

pub(crate) fn response(
    rcode: ResponseCode,
    aa: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
) -> Message {
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = aa;
    m.answers = answers;
    m.authorities = authorities;
    m.additionals = additionals;
    m
}

#[test]
fn an_answer_in_bailiwick() {
    let r = response(
        ResponseCode::NoError,
        true,
        vec![a("www.example.", [198, 51, 100, 1])],
        vec![],
        vec![],
    );
    let c = classify(&name("example."), &name("www.example."), RecordType::A, &r);
    assert!(c.chain.is_empty());
    assert!(matches!(c.outcome, Outcome::Answer { ref records, .. } if records.len() == 1));
}

#[test]
fn out_of_bailiwick_records_are_not_believed() {
    // A server of example. cannot speak for other.: its records are ignored, and
    // what is left is an empty answer without AA or SOA: a NODATA, as Unbound reads
    // it (its iter_scrub_ns), with nothing of other. in it.
    let r = response(
        ResponseCode::NoError,
        false,
        vec![a("www.other.", [198, 51, 100, 1])],
        vec![ns("other.", "ns.evil.")],
        vec![a("ns.evil.", [203, 0, 113, 66])],
    );
    let c = classify(&name("example."), &name("www.example."), RecordType::A, &r);
    assert_eq!(c.outcome, Outcome::NoData(vec![]));
}

#[test]
fn an_empty_answer_without_soa_is_nodata_unless_a_resolver_or_lame_server_sent_it() {
    // Unbound's response_type_from_server: an empty NOERROR without AA and SOA is
    // a NODATA (RFC 2308 §2.2 type 3), but with RA from a server asked without RD
    // it is a resolver's cache speaking (lame); with the NS RRset of a zone above
    // the one asked, an upward referral (lame); with the zone's own NS RRset and
    // no AA, a lame server.
    let zone = name("example.");
    let www = name("www.example.");
    let empty = |aa: bool, ra: bool, authorities: Vec<Record>| {
        let mut r = response(ResponseCode::NoError, aa, vec![], authorities, vec![]);
        r.metadata.recursion_available = ra;
        r
    };
    let outcome = |r: &Message, rd: bool| classify_asked(&zone, &www, RecordType::A, r, rd).outcome;
    let nodata = Outcome::NoData(vec![]);
    assert_eq!(outcome(&empty(false, false, vec![]), false), nodata);
    assert!(matches!(
        outcome(&empty(false, true, vec![]), false),
        Outcome::Lame(_)
    ));
    // Asked with RD (of a forwarder), RA is expected.
    assert_eq!(outcome(&empty(false, true, vec![]), true), nodata);
    assert_eq!(outcome(&empty(true, true, vec![]), false), nodata);
    // A SOA: NODATA, unless a resolver sent it without AA.
    let with_soa = Outcome::NoData(vec![soa("example.")]);
    assert_eq!(
        outcome(&empty(false, false, vec![soa("example.")]), false),
        with_soa
    );
    assert!(matches!(
        outcome(&empty(false, true, vec![soa("example.")]), false),
        Outcome::Lame(_)
    ));
    // An upward referral: lame, also from a forwarder (Unbound's iter_scrub_ns_fwd).
    for rd in [false, true] {
        let upward = empty(false, false, vec![ns(".", "ns.example.")]);
        assert!(matches!(outcome(&upward, rd), Outcome::Lame(_)), "{rd}");
    }
    // The zone's own NS RRset: lame without AA, a NODATA with it.
    let own = |aa| empty(aa, false, vec![ns("example.", "ns.example.")]);
    assert!(matches!(outcome(&own(false), false), Outcome::Lame(_)));
    assert_eq!(
        outcome(&own(true), false),
        Outcome::NoData(vec![ns("example.", "ns.example.")])
    );
    // An NS RRset beside the name (not a cut above it) says nothing: a NODATA
    // (Unbound's iter_scrub_ns_side).
    let side = empty(false, false, vec![ns("mail.example.", "ns.example.")]);
    assert_eq!(
        outcome(&side, false),
        Outcome::NoData(vec![ns("mail.example.", "ns.example.")])
    );
}

#[test]
fn a_referral_with_aa_set_is_still_a_referral() {
    // RFC 5155 B.3: the referral to the unsigned c.example. carries AA (and the
    // NSEC3 opt-out proof): it is no NODATA for mc.c.example.
    let r = response(
        ResponseCode::NoError,
        true,
        vec![],
        vec![ns("c.example.", "ns1.c.example.")],
        vec![a("ns1.c.example.", [198, 51, 100, 7])],
    );
    let c = classify(
        &name("example."),
        &name("mc.c.example."),
        RecordType::MX,
        &r,
    );
    let Outcome::Referral { zone, glue, .. } = c.outcome else {
        panic!("{c:?}");
    };
    assert_eq!(zone, name("c.example."));
    assert_eq!(glue.len(), 1);
    // With a SOA it is a NODATA of the zone asked, whatever NS records come along.
    let r = response(
        ResponseCode::NoError,
        true,
        vec![],
        vec![soa("example."), ns("c.example.", "ns1.c.example.")],
        vec![],
    );
    let c = classify(
        &name("example."),
        &name("mc.c.example."),
        RecordType::MX,
        &r,
    );
    assert!(matches!(c.outcome, Outcome::NoData(_)), "{c:?}");
}

#[test]
fn a_referral_keeps_glue_in_bailiwick_only() {
    let r = response(
        ResponseCode::NoError,
        false,
        vec![],
        vec![
            ns("sub.example.", "ns1.sub.example."),
            ns("sub.example.", "ns.other."),
        ],
        vec![
            a("ns1.sub.example.", [198, 51, 100, 2]),
            a("ns.other.", [203, 0, 113, 66]),
        ],
    );
    let c = classify(
        &name("example."),
        &name("www.sub.example."),
        RecordType::A,
        &r,
    );
    let Outcome::Referral { zone, ns, glue, .. } = c.outcome else {
        panic!("{c:?}");
    };
    assert_eq!(zone, name("sub.example."));
    assert_eq!(ns.len(), 2);
    assert_eq!(glue, vec![a("ns1.sub.example.", [198, 51, 100, 2])]);
}

#[test]
fn an_upward_referral_is_lame() {
    for owner in ["example.", "."] {
        let r = response(
            ResponseCode::NoError,
            false,
            vec![],
            vec![ns(owner, "ns.example.")],
            vec![],
        );
        let c = classify(
            &name("example."),
            &name("www.sub.example."),
            RecordType::A,
            &r,
        );
        assert!(matches!(c.outcome, Outcome::Lame(_)), "{owner}: {c:?}");
    }
}

#[test]
fn cname_chains_are_followed_in_bailiwick_then_handed_on() {
    let r = response(
        ResponseCode::NoError,
        true,
        vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "c.other."),
            a("c.other.", [203, 0, 113, 66]),
        ],
        vec![],
        vec![],
    );
    let c = classify(&name("example."), &name("a.example."), RecordType::A, &r);
    assert_eq!(c.chain.len(), 2);
    // The address of c.other. is not believed from this server: ask anew.
    assert_eq!(c.outcome, Outcome::Alias(name("c.other.")));
}

#[test]
fn negative_answers_and_loops() {
    let nx = response(
        ResponseCode::NXDomain,
        true,
        vec![],
        vec![soa("example.")],
        vec![],
    );
    let c = classify(&name("example."), &name("nx.example."), RecordType::A, &nx);
    assert_eq!(c.outcome, Outcome::NxDomain(vec![soa("example.")]));
    let nodata = response(
        ResponseCode::NoError,
        true,
        vec![],
        vec![soa("example.")],
        vec![],
    );
    let c = classify(
        &name("example."),
        &name("www.example."),
        RecordType::TXT,
        &nodata,
    );
    assert_eq!(c.outcome, Outcome::NoData(vec![soa("example.")]));
    let looped = response(
        ResponseCode::NoError,
        true,
        vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "a.example."),
        ],
        vec![],
        vec![],
    );
    let c = classify(
        &name("example."),
        &name("a.example."),
        RecordType::A,
        &looped,
    );
    assert!(matches!(c.outcome, Outcome::Lame(_)));
    let refused = response(ResponseCode::Refused, false, vec![], vec![], vec![]);
    let c = classify(
        &name("example."),
        &name("a.example."),
        RecordType::A,
        &refused,
    );
    assert!(matches!(c.outcome, Outcome::Lame(_)));
}
