//! Tests of the cache: TTLs, ranks, negative answers, the memory bound.

use super::*;
use crate::resolver::classify::tests::{a, name, soa};

fn rrset(records: Vec<Record>, rank: Rank) -> CachedRrset {
    CachedRrset {
        records,
        signatures: Vec::new(),
        rank,
        proof: Vec::new(),
    }
}

#[test]
fn ttls_count_down_and_entries_expire() {
    let cache = Cache::new(1 << 20, 0, 86400);
    cache.put_rrset(
        rrset(vec![a("www.example.", [198, 51, 100, 1])], Rank::Answer),
        100,
    );
    let Lookup::Rrset(hit) = cache.get(&name("WWW.Example."), RecordType::A, 250) else {
        panic!("miss");
    };
    assert_eq!(hit.records[0].ttl, 150);
    assert_eq!(
        cache.get(&name("www.example."), RecordType::A, 400),
        Lookup::Miss
    );
}

#[test]
fn ttl_caps_apply() {
    let cache = Cache::new(1 << 20, 60, 120);
    let mut long = a("long.example.", [198, 51, 100, 1]);
    long.ttl = 100_000;
    let mut short = a("short.example.", [198, 51, 100, 2]);
    short.ttl = 1;
    cache.put_rrset(rrset(vec![long], Rank::Answer), 0);
    cache.put_rrset(rrset(vec![short], Rank::Answer), 0);
    assert_eq!(
        cache
            .rrset(&name("long.example."), RecordType::A, 0)
            .unwrap()
            .records[0]
            .ttl,
        120
    );
    assert_eq!(
        cache
            .rrset(&name("short.example."), RecordType::A, 0)
            .unwrap()
            .records[0]
            .ttl,
        60
    );
}

#[test]
fn glue_does_not_replace_an_answer() {
    let cache = Cache::new(1 << 20, 0, 86400);
    cache.put_rrset(
        rrset(vec![a("ns.example.", [198, 51, 100, 1])], Rank::Answer),
        0,
    );
    cache.put_rrset(
        rrset(vec![a("ns.example.", [203, 0, 113, 66])], Rank::Glue),
        1,
    );
    let hit = cache.rrset(&name("ns.example."), RecordType::A, 2).unwrap();
    assert_eq!(
        hit.records,
        vec![{
            let mut r = a("ns.example.", [198, 51, 100, 1]);
            r.ttl = 298;
            r
        }]
    );
    // An answer replaces glue.
    cache.put_rrset(
        rrset(vec![a("ns2.example.", [203, 0, 113, 66])], Rank::Glue),
        0,
    );
    cache.put_rrset(
        rrset(vec![a("ns2.example.", [198, 51, 100, 2])], Rank::Answer),
        0,
    );
    assert_eq!(
        cache
            .rrset(&name("ns2.example."), RecordType::A, 0)
            .unwrap()
            .rank,
        Rank::Answer
    );
}

#[test]
fn nxdomain_covers_every_type_and_lives_for_the_soa_minimum() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let negative = CachedNegative {
        nxdomain: true,
        authority: vec![soa("example.")],
    };
    cache.put_negative(&name("nx.example."), RecordType::A, negative, 0);
    for rtype in [RecordType::A, RecordType::MX] {
        assert!(
            matches!(cache.get(&name("nx.example."), rtype, 59), Lookup::Negative(n) if n.nxdomain)
        );
    }
    // RFC 2308 §5: min(SOA TTL 300, MINIMUM 60).
    assert_eq!(
        cache.get(&name("nx.example."), RecordType::A, 60),
        Lookup::Miss
    );
    // Without an SOA: not cached.
    cache.put_negative(
        &name("nx2.example."),
        RecordType::A,
        CachedNegative {
            nxdomain: true,
            authority: vec![],
        },
        0,
    );
    assert_eq!(
        cache.get(&name("nx2.example."), RecordType::A, 0),
        Lookup::Miss
    );
}

#[test]
fn memory_stays_bounded_under_a_flood_of_names() {
    let cache = Cache::new(1 << 20, 0, 86400);
    for i in 0..50_000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        cache.put_rrset(
            rrset(
                vec![a(&format!("n{i}.flood.example."), [198, b, c, d])],
                Rank::Answer,
            ),
            0,
        );
    }
    assert!(cache.bytes() <= 1 << 20, "{}", cache.bytes());
    assert!(cache.len() > 1000);
    // The newest names are there, the oldest went.
    assert!(
        cache
            .rrset(&name("n49999.flood.example."), RecordType::A, 0)
            .is_some()
    );
    assert!(
        cache
            .rrset(&name("n0.flood.example."), RecordType::A, 0)
            .is_none()
    );
    let before = cache.len();
    assert_eq!(cache.flush(&name("flood.example.")), before);
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
}

fn nsec(owner: &str, next: &str) -> Record {
    use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
    Record::from_rdata(
        name(owner),
        300,
        hickory_proto::rr::RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
            name(next),
            [RecordType::A, RecordType::TXT],
        ))),
    )
}

#[test]
fn wildcard_proofs_are_stored_once_and_shared() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let proven = |owner: &str, proof: Record| CachedRrset {
        records: vec![a(owner, [198, 51, 100, 1])],
        signatures: Vec::new(),
        rank: Rank::Answer,
        proof: vec![proof],
    };
    let proof = nsec("*.wild.example.", "z.wild.example.");
    for i in 0..10 {
        cache.put_rrset(proven(&format!("n{i}.wild.example."), proof.clone()), 0);
    }
    // Ten RRsets and one proof.
    assert_eq!(cache.len(), 11);
    let Lookup::Rrset(hit) = cache.get(&name("N3.wild.example."), RecordType::A, 10) else {
        panic!("miss");
    };
    assert_eq!(hit.proof.len(), 1);
    assert_eq!(hit.proof[0].data, proof.data);
    assert_eq!(hit.proof[0].ttl, 290);
    // The NSEC at that owner changed since: what it proved is not believed any more.
    cache.put_rrset(
        CachedRrset {
            records: vec![nsec("*.wild.example.", "m.wild.example.")],
            signatures: Vec::new(),
            rank: Rank::Answer,
            proof: Vec::new(),
        },
        20,
    );
    assert_eq!(
        cache.get(&name("n3.wild.example."), RecordType::A, 30),
        Lookup::Miss
    );
    // Gone (flushed): a miss too, never an answer without its proof.
    cache.put_rrset(proven("n4.wild.example.", proof.clone()), 40);
    cache.flush_name(&name("*.wild.example."));
    assert_eq!(
        cache.get(&name("n4.wild.example."), RecordType::A, 50),
        Lookup::Miss
    );
}

#[test]
fn a_proof_replaced_or_flushed_is_stored_again_within_the_same_second() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let proven = |owner: &str, proof: Record| CachedRrset {
        records: vec![a(owner, [198, 51, 100, 1])],
        signatures: Vec::new(),
        rank: Rank::Answer,
        proof: vec![proof],
    };
    let proof = nsec("*.wild.example.", "z.wild.example.");
    let hit = |owner: &str| match cache.get(&name(owner), RecordType::A, 1) {
        Lookup::Rrset(r) => r.proof.len() == 1,
        _ => false,
    };
    cache.put_rrset(proven("n1.wild.example.", proof.clone()), 0);
    cache.flush_name(&name("*.wild.example."));
    cache.put_rrset(proven("n2.wild.example.", proof.clone()), 0);
    assert!(hit("n2.wild.example."));
    // Another NSEC at the proof's owner (as a proof would store it), then the proof
    // again, all in one second.
    cache.put_rrset(
        CachedRrset {
            records: vec![nsec("*.wild.example.", "m.wild.example.")],
            signatures: Vec::new(),
            rank: Rank::Authority,
            proof: Vec::new(),
        },
        0,
    );
    assert!(!hit("n2.wild.example."));
    cache.put_rrset(proven("n3.wild.example.", proof.clone()), 0);
    assert!(hit("n3.wild.example."));
    assert!(hit("n2.wild.example."));
}

#[test]
fn a_secure_mark_holds_for_the_data_judged_and_goes_with_other_data() {
    let cache = Cache::new(1 << 20, 0, 86400);
    let proof = nsec("*.wild.example.", "z.wild.example.");
    let proven = |owner: &str, address: [u8; 4]| CachedRrset {
        records: vec![a(owner, address)],
        signatures: Vec::new(),
        rank: Rank::Answer,
        proof: vec![proof.clone()],
    };
    cache.put_rrset(proven("n1.wild.example.", [198, 51, 100, 1]), 0);
    assert_eq!(
        cache.get_secure(&name("n1.wild.example."), RecordType::A, 1),
        None
    );
    // Data other than what is cached (another address) marks nothing.
    cache.mark_secure(&[a("n1.wild.example.", [198, 51, 100, 9])], 1);
    cache.mark_secure(std::slice::from_ref(&proof), 1);
    assert_eq!(
        cache.get_secure(&name("n1.wild.example."), RecordType::A, 1),
        None
    );
    // The RRset marked too: a secure hit, with its proof.
    cache.mark_secure(&[a("n1.wild.example.", [198, 51, 100, 1])], 1);
    let hit = cache
        .get_secure(&name("N1.wild.example."), RecordType::A, 2)
        .expect("marked");
    assert_eq!(hit.proof.len(), 1);
    // The proof stored again as it was (another name under the wildcard) keeps its
    // mark; stored with other data, it loses it, and so do the answers it proves.
    cache.put_rrset(proven("n2.wild.example.", [198, 51, 100, 2]), 3);
    assert!(
        cache
            .get_secure(&name("n1.wild.example."), RecordType::A, 4)
            .is_some()
    );
    cache.put_rrset(
        CachedRrset {
            records: vec![nsec("*.wild.example.", "m.wild.example.")],
            signatures: Vec::new(),
            rank: Rank::Answer,
            proof: Vec::new(),
        },
        5,
    );
    assert_eq!(
        cache.get_secure(&name("n1.wild.example."), RecordType::A, 6),
        None
    );
    // The RRset stored again with other data: unmarked.
    cache.put_rrset(
        rrset(vec![a("www.example.", [198, 51, 100, 1])], Rank::Answer),
        0,
    );
    cache.mark_secure(&[a("www.example.", [198, 51, 100, 1])], 0);
    assert!(
        cache
            .get_secure(&name("www.example."), RecordType::A, 1)
            .is_some()
    );
    cache.put_rrset(
        rrset(vec![a("www.example.", [198, 51, 100, 2])], Rank::Answer),
        2,
    );
    assert_eq!(
        cache.get_secure(&name("www.example."), RecordType::A, 3),
        None
    );
    // Referral or glue data is never a secure answer.
    cache.put_rrset(
        rrset(vec![a("ns.example.", [198, 51, 100, 3])], Rank::Glue),
        0,
    );
    cache.mark_secure(&[a("ns.example.", [198, 51, 100, 3])], 0);
    assert_eq!(
        cache.get_secure(&name("ns.example."), RecordType::A, 1),
        None
    );
}
