//! DO answers in process (the rest is tested through the binary with delv and against
//! Knot, tests/tests/dnsd_dnssec_answers.rs): the TTL of signatures near their expiry
//! (RFC 4035 §2.2), answers without DO unchanged by signatures in the zone, and TC when
//! a signed UDP answer does not fit (RFC 4035 §3.1.1).

use std::sync::Arc;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::tests::ask;
use super::tests_zones::zone;
use super::{RequestContext, Transport, respond};
use crate::zone::ZoneSet;

/// 2030-01-01 00:00:00 UTC, the signatures' expiration.
const EXPIRES: u32 = 1_893_456_000;

fn signed() -> ZoneSet {
    let sig = "13 3 300 20300101000000 20261201000000 4242 sig.test. \
               dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgbG9uZyBlbm91Z2ggdG8gbWF0dGVyIQ==";
    let mut text = format!(
        "$ORIGIN sig.test.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n\
         www A 198.51.100.2\nwww RRSIG A {sig}\n"
    );
    // A big RRset with signatures of several keys: too large for 512 octets signed.
    for i in 1..=6 {
        text.push_str(&format!(
            "big TXT \"text number {i:02} of the big RRset\"\n"
        ));
    }
    for tag in 0..6 {
        text.push_str(&format!("big RRSIG TXT 13 3 300 20300101000000 20261201000000 {tag} sig.test. dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgbG9uZyBlbm91Z2ggdG8gbWF0dGVyIQ==\n"));
    }
    ZoneSet::new().with_zone(Arc::new(zone(&text)))
}

/// The response to `name` `qtype` with DO as `dnssec_ok`, at `now`, over UDP of `size`.
fn run(name: &'static str, qtype: u16, dnssec_ok: bool, now: u32, size: u16) -> (Message, Vec<u8>) {
    let mut request = ask(name, qtype);
    request.edns = Some((size, 0, dnssec_ok));
    let options = super::AnswerOptions::default();
    let context = RequestContext::from(Transport::Udp).with_options(&options, now);
    let mut out = Vec::new();
    respond(&signed(), &request.bytes(), &context, &mut out).unwrap();
    (Message::from_vec(&out).unwrap(), out)
}

fn rrsig_ttls(message: &Message) -> Vec<u32> {
    message
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .map(|r| r.ttl)
        .collect()
}

#[test]
fn signatures_go_with_their_rrset_and_live_no_longer_than_their_validity() {
    let (m, _) = run("www.sig.test.", 1, true, EXPIRES - 3_600, 1232);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(
        rrsig_ttls(&m),
        vec![300],
        "the RRset's TTL while it is shorter"
    );
    let (m, _) = run("www.sig.test.", 1, true, EXPIRES - 100, 1232);
    assert_eq!(rrsig_ttls(&m), vec![100], "cut to the time left");
    let (m, _) = run("www.sig.test.", 1, true, EXPIRES + 10, 1232);
    assert_eq!(rrsig_ttls(&m), vec![0], "expired: not to be cached");
    let (m, _) = run("www.sig.test.", 1, false, EXPIRES - 100, 1232);
    assert!(rrsig_ttls(&m).is_empty(), "no signatures without DO");
}

#[test]
fn answers_without_do_are_the_same_as_from_the_zone_unsigned() {
    let unsigned_set = ZoneSet::new().with_zone(Arc::new(zone(
        "$ORIGIN sig.test.\n$TTL 300\n@ SOA ns h 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.1\n\
         www A 198.51.100.2\n",
    )));
    for (name, qtype) in [
        ("www.sig.test.", 1),
        ("nx.sig.test.", 1),
        ("www.sig.test.", 16),
    ] {
        let (_, signed_bytes) = run(name, qtype, false, EXPIRES - 100, 1232);
        let request = {
            let mut r = ask(name, qtype);
            r.edns = Some((1232, 0, false));
            r.bytes()
        };
        let mut out = Vec::new();
        respond(&unsigned_set, &request, &Transport::Udp.into(), &mut out).unwrap();
        assert_eq!(signed_bytes, out, "{name} {qtype}");
    }
}

#[test]
fn a_signed_answer_that_does_not_fit_udp_is_truncated() {
    let (plain, _) = run("big.sig.test.", 16, false, 0, 512);
    assert!(!plain.metadata.truncation, "6 TXT records fit unsigned");
    let (signed, _) = run("big.sig.test.", 16, true, 0, 512);
    assert!(signed.metadata.truncation, "with 6 signatures they do not");
    let (large, _) = run("big.sig.test.", 16, true, 0, 4096);
    assert!(!large.metadata.truncation);
    assert_eq!(large.answers.len(), 12);
}
