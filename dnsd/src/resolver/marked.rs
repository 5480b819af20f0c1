//! Answers from RRsets the validator found secure since they were stored, without
//! validating them again: the RRset cache keeps the verdict with each RRset
//! (`Cache::mark_secure`), as Unbound keeps a security status with each RRset of its
//! cache.
//!
//! Why: a rendered answer (`answers.rs`) lives as long as its smallest TTL, which for
//! a wildcard expansion is its NSEC proof's (the zone's SOA MINIMUM, often far below
//! the data's TTL). Once it expires, the question reaches the resolver's tasks while
//! the RRset and its proof still live in the cache (the proof stored again with each
//! later expansion). Judged again, each answer cost a public-key operation: the
//! memo of verified signatures (`verified.rs`) holds some 32,000 digests, and 1,000,000
//! names each have their own. Measured at 1,000,000 cached names
//! (`benches/resolver_memory.rs`), the answers stored first outlived their rendered
//! copy, and the hit phase ran at 3.1k QPS, 179 µs per query.
//!
//! A mark is the verdict on the octets stored: storing other data under the key drops
//! it (`table::BlobTable::mark`), and it is only set where the cached records and
//! signatures are those judged. The time is checked here, at each use: every RRSIG of
//! the answer and of its proofs must be within its validity window (RFC 4035 §5.3.1),
//! else the answer is validated as usual.

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::cache::Cache;
use super::iterator::Resolution;

/// The positive answer to (`name`, `qtype`) from an RRset marked secure (with its
/// marked wildcard proofs), when every signature in it is valid at Unix time
/// `unix_now`; None to resolve and validate as usual.
pub fn secure_answer(
    cache: &Cache,
    name: &Name,
    qtype: RecordType,
    now: u64,
    unix_now: u32,
) -> Option<Resolution> {
    let rrset = cache.get_secure(name, qtype, now)?;
    if rrset.signatures.is_empty() {
        return None;
    }
    let signed = rrset.signatures.iter().chain(&rrset.proof);
    if !signed
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .all(|r| in_window(r, unix_now))
    {
        return None;
    }
    let mut answer = rrset.records;
    answer.extend(rrset.signatures);
    Some(Resolution {
        rcode: ResponseCode::NoError,
        answer,
        authority: rrset.proof,
        ede: None,
    })
}

/// Keeps the verdict of a positive resolution found secure with its RRsets in the
/// cache: the answer section's and the wildcard proofs'.
pub fn mark(cache: &Cache, resolution: &Resolution, now: u64) {
    if resolution.rcode != ResponseCode::NoError || resolution.answer.is_empty() {
        return;
    }
    cache.mark_secure(&resolution.answer, now);
    let proofs: Vec<Record> = resolution
        .authority
        .iter()
        .filter(|r| {
            matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3)
                || matches!(
                    super::classify::covered_type(r),
                    Some(RecordType::NSEC | RecordType::NSEC3)
                )
        })
        .cloned()
        .collect();
    cache.mark_secure(&proofs, now);
}

/// Whether the RRSIG `record` is valid at Unix time `now` (inception and expiration
/// in serial number arithmetic, RFC 4034 §3.1.5).
fn in_window(record: &Record, now: u32) -> bool {
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &record.data else {
        return false;
    };
    let input = sig.input();
    not_after(input.sig_inception.get(), now) && not_after(now, input.sig_expiration.get())
}

/// `a` is `b` or before it (RFC 1982).
fn not_after(a: u32, b: u32) -> bool {
    a == b || b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::Algorithm;
    use hickory_proto::dnssec::rdata::{NSEC, RRSIG, SigInput};
    use hickory_proto::rr::SerialNumber;

    use super::*;
    use crate::resolver::cache::{CachedRrset, Rank};
    use crate::resolver::classify::tests::{a, name};

    /// An RRSIG over `record` valid from `inception` to `expiration`.
    fn sig(record: &Record, inception: u32, expiration: u32) -> Record {
        let input = SigInput {
            type_covered: record.record_type(),
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: 2,
            original_ttl: 300,
            sig_expiration: SerialNumber::new(expiration),
            sig_inception: SerialNumber::new(inception),
            key_tag: 1,
            signer_name: name("example."),
        };
        Record::from_rdata(
            record.name.clone(),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0; 64]))),
        )
    }

    #[test]
    fn a_resolution_found_secure_answers_again_while_its_signatures_are_valid() {
        let cache = Cache::new(1 << 20, 0, 86400);
        let record = a("n1.wild.example.", [198, 51, 100, 1]);
        let proof = Record::from_rdata(
            name("*.wild.example."),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                name("z.wild.example."),
                [RecordType::A],
            ))),
        );
        let (record_sig, proof_sig) = (sig(&record, 1_000, 2_000), sig(&proof, 1_000, 1_500));
        cache.put_rrset(
            CachedRrset {
                records: vec![record.clone()],
                signatures: vec![record_sig.clone()],
                rank: Rank::Answer,
                proof: vec![proof.clone(), proof_sig.clone()],
            },
            0,
        );
        let qname = name("n1.wild.example.");
        assert!(secure_answer(&cache, &qname, RecordType::A, 1, 1_200).is_none());
        let resolution = Resolution {
            rcode: ResponseCode::NoError,
            answer: vec![record, record_sig],
            authority: vec![proof, proof_sig],
            ede: None,
        };
        mark(&cache, &resolution, 1);
        let again = secure_answer(&cache, &qname, RecordType::A, 2, 1_200).expect("marked");
        assert_eq!(again.answer.len(), 2);
        assert_eq!(again.authority.len(), 2);
        // The proof's signature expired: validated again (the caller's usual path).
        assert!(secure_answer(&cache, &qname, RecordType::A, 2, 1_600).is_none());
        assert!(secure_answer(&cache, &qname, RecordType::A, 2, 999).is_none());
        // A negative or failed resolution marks nothing.
        let nothing = Resolution {
            rcode: ResponseCode::ServFail,
            answer: Vec::new(),
            authority: Vec::new(),
            ede: Some(22),
        };
        mark(&cache, &nothing, 3);
    }
}
