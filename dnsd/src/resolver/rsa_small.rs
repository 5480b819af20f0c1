//! RSA signatures (algorithms 5, 7 and 8) by keys of 512 to 1023 bits: ring verifies
//! RSA from 1024 bits only, and would make every zone signed with a smaller key bogus.
//! RFC 3110 and RFC 5702 §2.1 allow RSA/SHA-1 and RSA/SHA-256 keys from 512 bits, and
//! the validators dnsd is compared with (Unbound over OpenSSL, Knot Resolver over
//! GnuTLS) verify them: RFC 5155's appendix zone, for one, is signed with 512-bit keys.
//! RSA/SHA-512 keys stay at ring's floor (RFC 5702 §2.1: at least 1024 bits).
//!
//! Verification only, with public data: the signature to the public exponent modulo
//! the modulus (num-bigint), compared with the EMSA-PKCS1-v1_5 encoding of the digest
//! (RFC 8017 §8.2.2 and §9.2); no secret is involved, so constant time does not matter.

use hickory_proto::dnssec::rdata::{DNSKEY, RRSIG};
use hickory_proto::dnssec::{Algorithm, PublicKey as _, TBS, Verifier as _};
use hickory_proto::rr::{DNSClass, Name, Record};
use num_bigint::BigUint;
use ring::digest;

/// Smallest modulus verified here (RFC 3110 §2's range begins at 512 bits).
const MIN_BITS: u64 = 512;
/// Moduli from this size on are ring's to verify.
const RING_MIN_BITS: u64 = 1024;

/// The DER DigestInfo prefixes of RFC 8017 §9.2, note 1.
const SHA1_PREFIX: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// An RSA public key in the RFC 3110 §2 layout: exponent length (one octet, or zero
/// and two more), exponent, modulus.
struct PublicKey {
    exponent: BigUint,
    modulus: BigUint,
    bits: u64,
}

fn parse(bytes: &[u8]) -> Option<PublicKey> {
    let (&first, rest) = bytes.split_first()?;
    let (len, rest) = if first == 0 {
        let (len, rest) = rest.split_at_checked(2)?;
        (usize::from(u16::from_be_bytes([len[0], len[1]])), rest)
    } else {
        (usize::from(first), rest)
    };
    let (exponent, modulus) = rest.split_at_checked(len)?;
    let modulus = BigUint::from_bytes_be(modulus);
    let bits = modulus.bits();
    Some(PublicKey {
        exponent: BigUint::from_bytes_be(exponent),
        modulus,
        bits,
    })
}

/// Whether `key` is an RSA key that this module, not ring, verifies with.
pub fn handles(key: &DNSKEY) -> bool {
    digest_of(key.algorithm()).is_some()
        && parse(key.public_key().public_bytes())
            .is_some_and(|k| (MIN_BITS..RING_MIN_BITS).contains(&k.bits))
}

/// The digest algorithm and DigestInfo prefix of an RSA DNSSEC algorithm whose keys
/// may be below 1024 bits.
#[allow(deprecated)] // RSA/SHA-1: still MUST validate (RFC 8624 §3.1).
fn digest_of(algorithm: Algorithm) -> Option<(&'static digest::Algorithm, &'static [u8])> {
    match algorithm {
        Algorithm::RSASHA1 | Algorithm::RSASHA1NSEC3SHA1 => {
            Some((&digest::SHA1_FOR_LEGACY_USE_ONLY, SHA1_PREFIX))
        }
        Algorithm::RSASHA256 => Some((&digest::SHA256, SHA256_PREFIX)),
        _ => None,
    }
}

/// Whether `sig` over the RRset `records` of `name` verifies with `key` (one that
/// [`handles`] accepts; false for any other).
pub fn verify_rrsig(key: &DNSKEY, name: &Name, sig: &RRSIG, records: &[Record]) -> bool {
    let Ok(tbs) = TBS::from_input(name, DNSClass::IN, sig.input(), records.iter()) else {
        return false;
    };
    verify(key, tbs.as_ref(), sig.sig())
}

/// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) of `signature` over `message`.
fn verify(key: &DNSKEY, message: &[u8], signature: &[u8]) -> bool {
    let Some((algorithm, prefix)) = digest_of(key.algorithm()) else {
        return false;
    };
    let Some(public) = parse(key.public_key().public_bytes()) else {
        return false;
    };
    if !(MIN_BITS..RING_MIN_BITS).contains(&public.bits) || public.exponent < BigUint::from(3u8) {
        return false;
    }
    let k = public.bits.div_ceil(8) as usize;
    let s = BigUint::from_bytes_be(signature);
    if signature.len() > k || s >= public.modulus {
        return false;
    }
    let m = s.modpow(&public.exponent, &public.modulus).to_bytes_be();
    // EM = 0x00 0x01 PS 0x00 T, PS at least eight 0xff (§9.2 step 5); m, an integer,
    // has lost the leading zero octet.
    let hash = digest::digest(algorithm, message);
    let t_len = prefix.len() + hash.as_ref().len();
    if k < t_len + 11 || m.len() != k - 1 {
        return false;
    }
    let pad = k - 3 - t_len;
    m[0] == 0x01
        && m[1..=pad].iter().all(|&b| b == 0xff)
        && m[pad + 1] == 0x00
        && m[pad + 2..pad + 2 + prefix.len()] == *prefix
        && m[pad + 2 + prefix.len()..] == *hash.as_ref()
}

#[cfg(test)]
#[path = "rsa_small_tests.rs"]
mod tests;
