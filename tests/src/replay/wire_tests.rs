//! Replay entries on the wire: replies built, queries matched, answers compared.

use hickory_proto::op::Message;

use super::*;
use crate::replay::parse::parse;

fn entries(text: &str) -> Vec<Entry> {
    let s = parse(&format!("CONFIG_END\nRANGE_BEGIN 0 10\n{text}RANGE_END\n")).unwrap();
    s.ranges.into_iter().next().unwrap().entries
}

const REFERRAL: &str = "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n\
    REPLY QR NOERROR\nSECTION QUESTION\nwww.example.com. IN A\nSECTION AUTHORITY\n\
    example.com. IN NS ns.example.com.\n\
    example.com. 3600 IN RRSIG NS 8 2 3600 20070926134150 20070829134150 2854 example.com. AAAA\n\
    SECTION ADDITIONAL\nns.example.com IN A 1.2.3.4\nENTRY_END\n\
    ENTRY_BEGIN\nMATCH opcode subdomain\nADJUST copy_id copy_query\nREPLY QR SERVFAIL\n\
    SECTION QUESTION\nexample.com. IN NS\nENTRY_END\n";

fn query(name: &str, qtype: RecordType) -> Message {
    let mut q = Message::new(0x1234, MessageType::Query, OpCode::Query);
    q.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    q
}

#[test]
fn records_of_every_dnssec_type_build() {
    for line in [
        "example.com. 3600 IN DNSKEY 257 3 8 AwEAAQ==",
        "example.com. IN RRSIG A 8 2 3600 20070926134150 20070829134150 2854 example.com. AAAA",
        "a.example.com. IN NSEC c.example.com. A RRSIG NSEC",
        "example.com. IN DNAME example.net.",
        "example.com. IN DS 2854 8 2 46e4ffc6e9a4793b488954bd3f0cc6af0dfb201b46e4ffc6e9a4793b488954bd",
    ] {
        let r = records(&[line.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.len(), 1, "{line}");
    }
    let error = records(&["www.example.com. A".into()]).unwrap_err();
    assert!(error.contains("www"), "{error}");
}

#[test]
fn a_reply_copies_id_and_question() {
    let e = &entries(REFERRAL)[1];
    let q = query("WWW.Example.com.", RecordType::AAAA);
    let r = Message::from_vec(&reply(e, &q).unwrap()).unwrap();
    assert_eq!(r.metadata.id, 0x1234);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(r.queries, q.queries);
    let e = &entries(REFERRAL)[0];
    let reply = Message::from_vec(&reply(e, &q).unwrap()).unwrap();
    assert_eq!(reply.queries[0].name.to_ascii(), "www.example.com.");
    assert_eq!((reply.authorities.len(), reply.additionals.len()), (2, 1));
}

#[test]
fn queries_match_by_keywords() {
    let es = entries(REFERRAL);
    let built: Vec<Message> = es.iter().map(|e| message(e, None).unwrap()).collect();
    let q = query("WWW.EXAMPLE.COM.", RecordType::A);
    assert!(query_matches(&es[0], &built[0], &q, false));
    let other_type = query("www.example.com.", RecordType::AAAA);
    assert!(!query_matches(&es[0], &built[0], &other_type, false));
    // subdomain: at or below the entry's name.
    assert!(query_matches(&es[1], &built[1], &other_type, false));
    assert!(!query_matches(
        &es[1],
        &built[1],
        &query("example.net.", RecordType::A),
        true
    ));
    // Deckard's `question`: name and type (the root's SOA entry is no answer to
    // every question asked of the root).
    let soa = &entries(
        "ENTRY_BEGIN\nMATCH opcode question\nADJUST copy_id\nREPLY QR AA NOERROR\n\
         SECTION QUESTION\n. IN SOA\nENTRY_END\n",
    )[0];
    let built = message(soa, None).unwrap();
    assert!(query_matches(
        soa,
        &built,
        &query(".", RecordType::SOA),
        false
    ));
    assert!(!query_matches(
        soa,
        &built,
        &query(".", RecordType::NS),
        false
    ));
    assert!(!query_matches(
        soa,
        &built,
        &query("test.", RecordType::SOA),
        false
    ));
}

#[test]
fn answers_are_graded() {
    let check_entry = &entries(
        "ENTRY_BEGIN\nMATCH all\nREPLY QR RD RA AD NOERROR\nSECTION QUESTION\n\
         www.example.com. IN A\nSECTION ANSWER\nwww.example.com. IN A 10.20.30.40\n\
         SECTION AUTHORITY\nexample.com. IN NS ns.example.com.\nENTRY_END\n",
    )[0];
    let mut answer = message(check_entry, None).unwrap();
    answer.answers[0].ttl = 77; // TTLs count only with MATCH ttl
    answer.answers[0].name = Name::from_ascii("WWW.example.COM.").unwrap();
    let grade = |m: &Message| check(check_entry, m, &m.to_vec().unwrap()).unwrap();
    assert_eq!(grade(&answer), (Grade::Full, vec![]));
    let mut minimal = answer.clone();
    minimal.authorities.clear();
    assert_eq!(grade(&minimal).0, Grade::Verdict);
    let mut no_ad = answer.clone();
    no_ad.metadata.authentic_data = false;
    let (g, why) = grade(&no_ad);
    assert_eq!(g, Grade::Fail);
    assert_eq!(why, ["flags [QR RD RA], expected [QR RD RA AD]"]);
    let mut servfail = answer;
    servfail.metadata.response_code = ResponseCode::ServFail;
    servfail.answers.clear();
    let (g, why) = grade(&servfail);
    assert_eq!(g, Grade::Fail);
    assert!(
        why[1].starts_with("answer: missing www.example.com."),
        "{why:?}"
    );
}
