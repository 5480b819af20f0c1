//! Tests of the NSEC3 proofs (RFC 5155 §8 and §9.2) on the zone of RFC 5155's
//! appendix A: `example.`, SHA-1, 12 iterations, salt aabbccdd, every NSEC3 opt-out.
//! The owners and next hashes below are the appendix's; the tests hash the names.

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC3};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

const SALT: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];

fn n(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn zone() -> Name {
    n("example.")
}

/// The NSEC3 record `owner` (a hash in base32hex) -> `next`, with `types`.
fn nsec3(owner: &str, next: &str, opt_out: bool, types: &[RecordType]) -> Record {
    let next = data_encoding::BASE32HEX_NOPAD
        .decode(next.to_ascii_uppercase().as_bytes())
        .unwrap();
    Record::from_rdata(
        n(&format!("{owner}.example.")),
        3600,
        RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            opt_out,
            12,
            SALT.to_vec(),
            next,
            types.iter().copied(),
        ))),
    )
}

/// The appendix's hash of `name` (checked against the hashing the proofs use).
fn hash(name: &str) -> String {
    let digest = Nsec3HashAlgorithm::SHA1.hash(&SALT, &n(name), 12).unwrap();
    base32hex(digest.as_ref())
}

use RecordType::{A, AAAA, DS, MX, NS, RRSIG, SOA};

/// w.example. (the encloser of the wildcard *.w.example.), the NSEC3 that covers
/// z.w.example. (the next closer name of a.z.w.example.), and *.w.example.'s.
fn wildcard_proof(opt_out: bool) -> Vec<Record> {
    vec![
        nsec3(
            "k8udemvp1j2f7eg6jebps17vp3n8i58h",
            "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
            opt_out,
            &[],
        ),
        nsec3(
            "q04jkcevqvmu85r014c7dkba38o0ji5r",
            "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
            opt_out,
            &[A, RRSIG],
        ),
        nsec3(
            "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
            "t644ebqk9bibcna874givr6joj62mlhv",
            opt_out,
            &[MX, RRSIG],
        ),
    ]
}

#[test]
fn the_appendix_hashes() {
    assert_eq!(hash("example."), "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
    assert_eq!(hash("w.example."), "k8udemvp1j2f7eg6jebps17vp3n8i58h");
    assert_eq!(hash("*.w.example."), "r53bq7cc2uvmubfu5ocmm6pers9tk9en");
    assert_eq!(hash("ns1.example."), "2t7b4g4vsa5smi47k61mv5bv1a22bojr");
}

#[test]
fn a_wildcard_expansion_under_an_opt_out_span_is_insecure() {
    // B.4: a.z.w.example. MX expanded from *.w.example. (labels 2); the NSEC3
    // covering z.w.example. is opt-out: z.w.example. may be an unsigned delegation.
    let name = n("a.z.w.example.");
    let proof = &wildcard_proof(true)[1..2];
    assert_eq!(
        proves_wildcard_expansion(&zone(), &name, 2, proof),
        Err(Security::Insecure)
    );
    let proof = &wildcard_proof(false)[1..2];
    assert_eq!(
        proves_wildcard_expansion(&zone(), &name, 2, proof),
        Ok(true)
    );
}

#[test]
fn a_wildcard_nodata_under_an_opt_out_span_is_insecure() {
    // B.5: a.z.w.example. AAAA; *.w.example. has MX only.
    let name = n("a.z.w.example.");
    assert_eq!(
        proves_nodata(&zone(), &name, AAAA, &wildcard_proof(true)),
        Err(Security::Insecure)
    );
    assert_eq!(
        proves_nodata(&zone(), &name, AAAA, &wildcard_proof(false)),
        Ok(true)
    );
    // The wildcard has the type: no proof, opt-out or not.
    assert_eq!(
        proves_nodata(&zone(), &name, MX, &wildcard_proof(true)),
        Ok(false)
    );
    // Without the wildcard's NSEC3, only the opt-out span can explain the answer:
    // insecure (Unbound's val_nsec3_b5_wcnodata_nowc); without opt-out, bogus.
    assert_eq!(
        proves_nodata(&zone(), &name, AAAA, &wildcard_proof(true)[..2]),
        Err(Security::Insecure)
    );
    assert_eq!(
        proves_nodata(&zone(), &name, AAAA, &wildcard_proof(false)[..2]),
        Ok(false)
    );
}

#[test]
fn a_matching_nsec3_at_a_cut_without_ds_is_an_insecure_delegation() {
    // The parent side of a cut at w.example.: NS, no SOA. Without DS the data
    // below is unsigned; with DS the server should have referred.
    let cut = |types: &[RecordType]| {
        vec![nsec3(
            "k8udemvp1j2f7eg6jebps17vp3n8i58h",
            "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
            false,
            types,
        )]
    };
    let name = n("w.example.");
    assert_eq!(
        proves_nodata(&zone(), &name, A, &cut(&[NS])),
        Err(Security::Insecure)
    );
    assert_eq!(
        proves_nodata(&zone(), &name, A, &cut(&[NS, DS, RRSIG])),
        Ok(false)
    );
    // The absence of a DS at the cut is proven (the child is unsigned).
    assert_eq!(proves_nodata(&zone(), &name, DS, &cut(&[NS])), Ok(true));
    // A child's apex NSEC3 (with SOA) proves nothing of the parent's DS.
    assert_eq!(
        proves_nodata(&zone(), &name, DS, &cut(&[NS, SOA, RRSIG])),
        Ok(false)
    );
    // Below the cut: the closest encloser is the cut itself: insecure, not proven.
    let below = n("a.z.w.example.");
    let mut proof = cut(&[NS]);
    proof.push(wildcard_proof(false)[1].clone());
    assert_eq!(
        proves_nodata(&zone(), &below, A, &proof),
        Err(Security::Insecure)
    );
    assert_eq!(
        proves_nxdomain(&zone(), &below, &proof),
        Err(Security::Insecure)
    );
}

#[test]
fn nsec3_of_another_chain_or_zone_prove_nothing() {
    let name = n("ns1.example.");
    let matching = nsec3(
        "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
        "2vptu5timamqttgl4luu9kg21e0aor3s",
        false,
        &[A, RRSIG],
    );
    // B.2: ns1.example. has A, not MX.
    assert_eq!(
        proves_nodata(&zone(), &name, MX, std::slice::from_ref(&matching)),
        Ok(true)
    );
    // Beside an NSEC3 of other parameters: two chains, no proof.
    let mut other = wildcard_proof(false)[1].clone();
    if let RData::DNSSEC(DNSSECRData::NSEC3(rdata)) = &other.data {
        other.data = RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            13,
            SALT.to_vec(),
            rdata.next_hashed_owner_name().to_vec(),
            [A],
        )));
    }
    assert_eq!(
        proves_nodata(&zone(), &name, MX, &[matching.clone(), other]),
        Ok(false)
    );
    // An NSEC3 owned two labels below the zone is no NSEC3 of the zone.
    let mut deeper = matching;
    deeper.name = n("2t7b4g4vsa5smi47k61mv5bv1a22bojr.sub.example.");
    assert_eq!(proves_nodata(&zone(), &name, MX, &[deeper]), Ok(false));
}
