//! Tests of RFC 8198 synthesis over the cache: which names cached NSEC records deny,
//! and which they must not (signatures are not checked here: the resolver validates
//! every synthesized answer again).

use hickory_proto::dnssec::Algorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, RRSIG, SigInput};
use hickory_proto::rr::{RData, SerialNumber};

use super::*;
use crate::resolver::classify::tests::{name, soa};

fn signed(record: Record, zone: &str) -> [Record; 2] {
    let input = SigInput {
        type_covered: record.record_type(),
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: record.name.num_labels(),
        original_ttl: 300,
        sig_expiration: SerialNumber::new(2_000_000_000),
        sig_inception: SerialNumber::new(1_000_000_000),
        key_tag: 1,
        signer_name: name(zone),
    };
    let sig = Record::from_rdata(
        record.name.clone(),
        300,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0; 64]))),
    );
    [record, sig]
}

fn nsec(owner: &str, next: &str, types: &[RecordType]) -> [Record; 2] {
    let record = Record::from_rdata(
        name(owner),
        300,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(name(next), types.to_vec()))),
    );
    signed(record, "example.")
}

/// A cache and index that learnt example.'s SOA and three NSEC records:
/// example. -> b.example. -> sub.example. (a delegation) -> x.example. (wraps).
fn learnt() -> (Cache, Aggressive) {
    let cache = Cache::new(1 << 20, 0, 86400);
    let index = Aggressive::new(1000);
    let mut authority: Vec<Record> = signed(soa("example."), "example.").to_vec();
    authority.extend(nsec(
        "example.",
        "b.example.",
        &[RecordType::SOA, RecordType::NS],
    ));
    authority.extend(nsec("b.example.", "sub.example.", &[RecordType::A]));
    index.learn(&cache, &authority, true, 0);
    let more: Vec<Record> = [
        nsec(
            "sub.example.",
            "x.example.",
            &[RecordType::NS, RecordType::DS],
        ),
        nsec("x.example.", "example.", &[RecordType::TXT]),
    ]
    .concat();
    index.learn(&cache, &more, true, 0);
    (cache, index)
}

fn owners(resolution: &Resolution, rtype: RecordType) -> Vec<String> {
    resolution
        .authority
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| r.name.to_string())
        .collect()
}

#[test]
fn a_covered_name_is_nxdomain_with_both_proofs() {
    let (cache, index) = learnt();
    let found = index
        .synthesize(&cache, &name("C.example."), RecordType::A, 10)
        .expect("synthesized");
    assert_eq!(found.rcode, ResponseCode::NXDomain);
    assert_eq!(owners(&found, RecordType::SOA), ["example."]);
    // The name's cover, then the cover of *.example. (the apex NSEC).
    assert_eq!(owners(&found, RecordType::NSEC), ["b.example.", "example."]);
    assert!(found.authority.iter().all(|r| r.ttl <= 290));
}

#[test]
fn an_owner_without_the_type_is_nodata() {
    let (cache, index) = learnt();
    let found = index
        .synthesize(&cache, &name("b.example."), RecordType::MX, 0)
        .expect("synthesized");
    assert_eq!(found.rcode, ResponseCode::NoError);
    assert_eq!(owners(&found, RecordType::NSEC), ["b.example."]);
    // The type exists: nothing to say.
    assert!(
        index
            .synthesize(&cache, &name("b.example."), RecordType::A, 0)
            .is_none()
    );
}

#[test]
fn a_delegation_denies_nothing_below_it_and_only_the_ds_at_it() {
    let (cache, index) = learnt();
    assert!(
        index
            .synthesize(&cache, &name("www.sub.example."), RecordType::A, 0)
            .is_none()
    );
    assert!(
        index
            .synthesize(&cache, &name("sub.example."), RecordType::A, 0)
            .is_none()
    );
    // A name after the cut but before x.example. is denied.
    let found = index.synthesize(&cache, &name("t.example."), RecordType::A, 0);
    assert_eq!(found.map(|r| r.rcode), Some(ResponseCode::NXDomain));
}

#[test]
fn nothing_once_the_nsec_left_the_cache() {
    let (cache, index) = learnt();
    cache.flush_name(&name("b.example."));
    assert!(
        index
            .synthesize(&cache, &name("c.example."), RecordType::A, 0)
            .is_none()
    );
    // Expired.
    assert!(
        index
            .synthesize(&cache, &name("y.example."), RecordType::A, 400)
            .is_none()
    );
}

#[test]
fn an_existing_wildcard_is_left_to_upstream() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let index = Aggressive::new(1000);
    let mut authority: Vec<Record> = signed(soa("example."), "example.").to_vec();
    authority.extend(nsec("example.", "*.example.", &[RecordType::SOA]));
    authority.extend(nsec("*.example.", "m.example.", &[RecordType::A]));
    index.learn(&cache, &authority, true, 0);
    assert!(
        index
            .synthesize(&cache, &name("c.example."), RecordType::A, 0)
            .is_none()
    );
}

#[test]
fn unsigned_records_are_not_learnt() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let index = Aggressive::new(1000);
    let [soa_record, _] = signed(soa("example."), "example.");
    let [record, _] = nsec("example.", "z.example.", &[RecordType::SOA]);
    index.learn(&cache, &[soa_record, record], true, 0);
    assert!(
        index
            .synthesize(&cache, &name("c.example."), RecordType::A, 0)
            .is_none()
    );
}

#[test]
fn a_ds_is_denied_by_the_parent_only() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let index = Aggressive::new(1000);
    let mut parent: Vec<Record> = signed(soa("example."), "example.").to_vec();
    parent.extend(nsec("example.", "sub.example.", &[RecordType::SOA]));
    // An insecure delegation: NS, no DS.
    parent.extend(nsec("sub.example.", "example.", &[RecordType::NS]));
    index.learn(&cache, &parent, true, 0);
    let found = index
        .synthesize(&cache, &name("sub.example."), RecordType::DS, 0)
        .expect("the parent's NSEC denies the DS");
    assert_eq!(found.rcode, ResponseCode::NoError);
    assert_eq!(owners(&found, RecordType::SOA), ["example."]);
    // The child's apex NSEC (its own SOA, no DS, as every apex) replaces the parent's
    // in the cache (one RRset per owner and type): it speaks for the child's types,
    // never for the DS.
    let mut child: Vec<Record> = signed(soa("sub.example."), "sub.example.").to_vec();
    let record = Record::from_rdata(
        name("sub.example."),
        300,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
            name("sub.example."),
            vec![RecordType::SOA, RecordType::NS],
        ))),
    );
    child.extend(signed(record, "sub.example."));
    index.learn(&cache, &child, true, 0);
    let found = index
        .synthesize(&cache, &name("sub.example."), RecordType::MX, 0)
        .expect("the child's apex NSEC denies MX");
    assert_eq!(owners(&found, RecordType::SOA), ["sub.example."]);
    assert!(
        index
            .synthesize(&cache, &name("sub.example."), RecordType::DS, 0)
            .is_none()
    );
}
