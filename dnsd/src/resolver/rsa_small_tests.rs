//! Tests of RSA verification below 1024 bits, on the DNSKEY RRset of RFC 5155's
//! appendix A (RSASHA1-NSEC3-SHA1, 512-bit keys), signed by its key 12708.

use hickory_proto::dnssec::rdata::{DNSSECRData, SigInput};
use hickory_proto::dnssec::{Algorithm, PublicKeyBuf};
use hickory_proto::rr::{RData, SerialNumber};

use super::*;
use crate::resolver::validator;

const ZSK: &str =
    "AwEAAaetidLzsKWUt4swWR8yu0wPHPiUi8LUsAD0QPWU+wzt89epO6tHzkMBVDkC7qphQO2hTY4hHn9npWFRw5BYubE=";
const KSK: &str =
    "AwEAAcUlFV1vhmqx6NSOUOq2R/dsR7Xm3upJj7IommWSpJABVfW8Q0rOvXdM6kzt+TAu92L9AbsUdblMFin8CVF3n4s=";
const SIG: &str =
    "AuU4juU9RaxescSmStrQks3Gh9FblGBlVU31uzMZ/U/FpsUb8aC6QZS+sTsJXnLnz7flGOsmMGQZf3bH+QsCtg==";
/// 2007: inside the signature's window (2005-10-21 to 2015-04-20).
const NOW: u32 = 1_200_000_000;

#[allow(deprecated)] // RSASHA1-NSEC3-SHA1: the appendix's algorithm.
const ALGORITHM: Algorithm = Algorithm::RSASHA1NSEC3SHA1;

fn base64(text: &str) -> Vec<u8> {
    data_encoding::BASE64.decode(text.as_bytes()).unwrap()
}

fn key(flags: u16, text: &str) -> DNSKEY {
    DNSKEY::with_flags(flags, PublicKeyBuf::new(base64(text), ALGORITHM))
}

fn apex() -> Name {
    Name::from_ascii("example.").unwrap()
}

fn dnskeys() -> Vec<Record> {
    [key(256, ZSK), key(257, KSK)]
        .into_iter()
        .map(|k| Record::from_rdata(apex(), 3600, RData::DNSSEC(DNSSECRData::DNSKEY(k))))
        .collect()
}

fn rrsig(signature: Vec<u8>) -> Record {
    let input = SigInput {
        type_covered: hickory_proto::rr::RecordType::DNSKEY,
        algorithm: ALGORITHM,
        num_labels: 1,
        original_ttl: 3600,
        sig_expiration: SerialNumber::new(1_429_574_399),
        sig_inception: SerialNumber::new(1_129_852_800),
        key_tag: 12708,
        signer_name: apex(),
    };
    Record::from_rdata(
        apex(),
        3600,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
    )
}

#[test]
fn a_512_bit_rsa_sha1_signature_verifies() {
    let keys = [key(256, ZSK), key(257, KSK)];
    assert!(keys.iter().all(handles));
    assert_eq!(keys[1].calculate_key_tag().unwrap(), 12708);
    // Through the validator (ring alone refuses keys below 1024 bits: bogus).
    assert_eq!(
        validator::verify_rrset(&dnskeys(), &[rrsig(base64(SIG))], &keys, &apex(), NOW),
        Ok(1)
    );
}

#[test]
fn a_changed_signature_or_rrset_does_not_verify() {
    let keys = [key(256, ZSK), key(257, KSK)];
    let mut bad = base64(SIG);
    bad[20] ^= 1;
    assert_eq!(
        validator::verify_rrset(&dnskeys(), &[rrsig(bad)], &keys, &apex(), NOW),
        Err(validator::ede::BOGUS)
    );
    let mut rrset = dnskeys();
    rrset.truncate(1);
    assert_eq!(
        validator::verify_rrset(&rrset, &[rrsig(base64(SIG))], &keys, &apex(), NOW),
        Err(validator::ede::BOGUS)
    );
    // The other key's tag, or a signature longer than the modulus: not verified.
    let sig = rrsig(base64(SIG));
    let sig = validator::rrsig(&sig).unwrap();
    assert!(verify_rrsig(&keys[1], &apex(), sig, &dnskeys()));
    assert!(!verify_rrsig(&keys[0], &apex(), sig, &dnskeys()));
    let mut long = base64(SIG);
    long.insert(0, 1);
    assert!(!verify(&keys[1], b"anything", &long));
}

#[test]
fn keys_ring_verifies_or_of_other_algorithms_are_not_handled_here() {
    // A 1024-bit modulus (exponent 3): ring's.
    let mut big = vec![1, 3];
    big.extend(std::iter::repeat_n(0xc5, 128));
    let big = DNSKEY::with_flags(256, PublicKeyBuf::new(big, Algorithm::RSASHA256));
    assert!(!handles(&big));
    // RSA/SHA-512 below 1024 bits: RFC 5702 §2.1 forbids it.
    let small512 = DNSKEY::with_flags(256, PublicKeyBuf::new(base64(ZSK), Algorithm::RSASHA512));
    assert!(!handles(&small512));
    // Below 512 bits.
    let tiny = DNSKEY::with_flags(
        256,
        PublicKeyBuf::new(vec![1, 3, 0xc5, 0x11, 0x22], Algorithm::RSASHA256),
    );
    assert!(!handles(&tiny));
}
