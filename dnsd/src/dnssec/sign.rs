//! Signing one RRset (RFC 4034 §3.1.8.1, RFC 4035 §2.2): the RRSIG RDATA without its
//! signature, then each record in canonical form and order (owner lowercased, RDATA
//! per RFC 4034 §6.2, records sorted by RDATA, duplicates gone), signed by ring.
//!
//! The zone store keeps owners lowercased and each RRset's RDATAs sorted and unique,
//! so the usual RRset is signed without copying or sorting its records: only RDATA
//! with uppercase letters in its names is copied and the set re-sorted.

use std::sync::Arc;

use super::keys::{KeyError, KeyPair};
use super::policy::Policy;
use super::rdata::{RrsigFields, canonical_rdata, rrsig_labels};
use crate::zone::Rtype;

/// A key that signs, with its tag.
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// The key tag of its DNSKEY (RFC 4034 Appendix B).
    pub tag: u16,
    /// The key pair.
    pub pair: Arc<KeyPair>,
}

/// What the signer publishes and signs with at one moment of the key timeline
/// (`dnssec::rollover` decides it): the apex's DNSKEY, CDS and CDNSKEY RRsets, the
/// keys that sign the DNSKEY RRset (and CDS, CDNSKEY), and those that sign the rest.
/// A CSK is in both lists.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    /// DNSKEY RDATAs to publish.
    pub dnskeys: Vec<Vec<u8>>,
    /// CDS RDATAs to publish (RFC 7344), none outside a KSK or CSK rollover.
    pub cds: Vec<Vec<u8>>,
    /// CDNSKEY RDATAs to publish.
    pub cdnskeys: Vec<Vec<u8>>,
    /// Keys that sign the DNSKEY, CDS and CDNSKEY RRsets.
    pub ksks: Vec<SigningKey>,
    /// Keys that sign every other RRset.
    pub zsks: Vec<SigningKey>,
}

impl KeySet {
    /// The keys that sign RRsets of `rtype` at the apex or elsewhere.
    pub fn signers_of(&self, rtype: Rtype, at_apex: bool) -> &[SigningKey] {
        if at_apex && matches!(rtype.0, 48 | 59 | 60) {
            &self.ksks
        } else {
            &self.zsks
        }
    }

    /// Whether a signature by key `tag` of algorithm `algorithm` over `rtype` is one
    /// this key set would make.
    pub fn signs_with(&self, rtype: Rtype, at_apex: bool, tag: u16, algorithm: u8) -> bool {
        self.signers_of(rtype, at_apex)
            .iter()
            .any(|k| k.tag == tag && k.pair.algorithm().number() == algorithm)
    }
}

/// Reused buffers, so that signing many RRsets allocates little.
#[derive(Default)]
pub struct Scratch {
    message: Vec<u8>,
    canonical: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

/// What an RRSIG is made over: the RRset and the times.
pub struct RrsetToSign<'a, F> {
    /// The owner, lowercased wire format.
    pub owner: &'a [u8],
    /// The type.
    pub rtype: Rtype,
    /// The TTL (the RRSIG's original TTL).
    pub ttl: u32,
    /// The RDATAs, sorted and unique as the store keeps them (each call iterates them
    /// from the start).
    pub rdatas: F,
}

/// Signs the RRset with `key`, signer `apex`, valid from `inception` to
/// `expiration`: the RRSIG RDATA.
pub fn sign_rrset<'a, F, I>(
    rrset: RrsetToSign<'a, F>,
    apex: &[u8],
    key: &SigningKey,
    times: (u32, u32),
    scratch: &mut Scratch,
) -> Result<Vec<u8>, KeyError>
where
    F: Fn() -> I,
    I: Iterator<Item = &'a [u8]>,
{
    let fields = RrsigFields {
        covered: rrset.rtype,
        algorithm: key.pair.algorithm().number(),
        labels: rrsig_labels(rrset.owner),
        original_ttl: rrset.ttl,
        expiration: times.1,
        inception: times.0,
        key_tag: key.tag,
    };
    let message = &mut scratch.message;
    message.clear();
    fields.write(apex, message);
    let rdata_at = message.len();
    let mut head = [0u8; 10];
    head[..2].copy_from_slice(&rrset.rtype.0.to_be_bytes());
    head[2..4].copy_from_slice(&1u16.to_be_bytes());
    head[4..8].copy_from_slice(&rrset.ttl.to_be_bytes());
    let mut push = |message: &mut Vec<u8>, rdata: &[u8]| {
        message.extend_from_slice(rrset.owner);
        head[8..10].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        message.extend_from_slice(&head);
        message.extend_from_slice(rdata);
    };
    let lowered = (rrset.rdatas)()
        .any(|r| canonical_rdata(rrset.rtype, r, &mut scratch.buf).as_ptr() != r.as_ptr());
    if !lowered {
        for rdata in (rrset.rdatas)() {
            push(message, rdata);
        }
    } else {
        let canonical = &mut scratch.canonical;
        canonical.clear();
        for rdata in (rrset.rdatas)() {
            canonical.push(canonical_rdata(rrset.rtype, rdata, &mut scratch.buf).to_vec());
        }
        canonical.sort_unstable();
        canonical.dedup();
        for rdata in canonical.iter() {
            push(message, rdata);
        }
    }
    let signature = key.pair.sign(message)?;
    let mut rdata = Vec::with_capacity(rdata_at + signature.len());
    rdata.extend_from_slice(&message[..rdata_at]);
    rdata.extend_from_slice(&signature);
    Ok(rdata)
}

/// A well-spread 64-bit hash of an RRset's owner and type and the signing time's hour:
/// what the jitter of its signature's expiry comes from.
pub fn spread(owner: &[u8], rtype: Rtype, now: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (now / 3600);
    for &b in owner.iter().chain(&rtype.0.to_be_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix (splitmix64), so that close inputs land far apart.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Signs an RRset with every key that signs its type: the RRSIG RDATAs.
#[allow(clippy::too_many_arguments)]
pub fn sign_with_all<'a, F, I>(
    owner: &'a [u8],
    rtype: Rtype,
    ttl: u32,
    rdatas: F,
    apex: &[u8],
    keys: &KeySet,
    policy: &Policy,
    now: u64,
    scratch: &mut Scratch,
) -> Result<Vec<Box<[u8]>>, KeyError>
where
    F: Fn() -> I,
    I: Iterator<Item = &'a [u8]>,
{
    let signers = keys.signers_of(rtype, owner == apex);
    let times = policy.signature_times(now, spread(owner, rtype, now));
    let mut out = Vec::with_capacity(signers.len());
    for key in signers {
        let rrset = RrsetToSign {
            owner,
            rtype,
            ttl,
            rdatas: &rdatas,
        };
        out.push(sign_rrset(rrset, apex, key, times, scratch)?.into_boxed_slice());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dnssec::keys::{Algorithm, FLAG_SEP, FLAG_ZONE, key_tag};
    use crate::wire::name::Name;
    use hickory_proto::dnssec::Verifier;
    use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
    use hickory_proto::rr::{DNSClass, RData, Record as HRecord, RecordType};
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

    fn w(text: &str) -> Vec<u8> {
        Name::from_text(text, None).unwrap().as_wire().to_vec()
    }

    fn key(algorithm: Algorithm) -> (SigningKey, Vec<u8>) {
        let pair = KeyPair::generate(algorithm).unwrap();
        let dnskey = pair.dnskey_rdata(FLAG_ZONE | FLAG_SEP);
        (
            SigningKey {
                tag: key_tag(&dnskey),
                pair: Arc::new(pair),
            },
            dnskey,
        )
    }

    /// hickory's record of (owner, type, ttl, rdata).
    pub(crate) fn hrecord(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> HRecord {
        let mut wire = owner.to_vec();
        wire.extend_from_slice(&rtype.to_be_bytes());
        wire.extend_from_slice(&1u16.to_be_bytes());
        wire.extend_from_slice(&ttl.to_be_bytes());
        wire.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        wire.extend_from_slice(rdata);
        HRecord::read(&mut BinDecoder::new(&wire)).unwrap()
    }

    /// Verifies an RRSIG RDATA over (owner, type, ttl, rdatas) with hickory (an
    /// implementation of canonical form and verification that is not ours).
    pub(crate) fn verify(
        dnskey: &[u8],
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdatas: &[&[u8]],
        sig: &[u8],
    ) {
        let key_record = hrecord(owner, 48, ttl, dnskey);
        let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = &key_record.data else {
            panic!("not a DNSKEY");
        };
        let key: &DNSKEY = key;
        let sig_record = hrecord(owner, 46, ttl, sig);
        let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &sig_record.data else {
            panic!("not an RRSIG");
        };
        let rrsig: &RRSIG = rrsig;
        let records: Vec<HRecord> = rdatas
            .iter()
            .map(|r| hrecord(owner, rtype, ttl, r))
            .collect();
        assert_eq!(records[0].record_type(), RecordType::from(rtype));
        key.verify_rrsig(&records[0].name, DNSClass::IN, rrsig, records.iter())
            .unwrap_or_else(|e| panic!("signature does not verify: {e}"));
    }

    #[test]
    fn signatures_verify_with_hickory_for_each_algorithm() {
        let apex = w("example.org.");
        for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let (key, dnskey) = key(algorithm);
            let owner = w("www.example.org.");
            let a1: &[u8] = &[198, 51, 100, 1];
            let a2: &[u8] = &[198, 51, 100, 2];
            let rrset = RrsetToSign {
                owner: &owner,
                rtype: Rtype::A,
                ttl: 300,
                rdatas: || [a1, a2].into_iter(),
            };
            let sig = sign_rrset(
                rrset,
                &apex,
                &key,
                (1_700_000_000, 1_800_000_000),
                &mut Scratch::default(),
            )
            .unwrap();
            let fields = RrsigFields::parse(&sig).unwrap();
            assert_eq!((fields.labels, fields.key_tag), (3, key.tag));
            verify(&dnskey, &owner, 1, 300, &[a1, a2], &sig);
        }
    }

    #[test]
    fn names_in_rdata_are_signed_lowercased_and_wildcards_by_their_labels() {
        let apex = w("example.org.");
        let (key, dnskey) = key(Algorithm::EcdsaP256Sha256);
        let owner = w("*.example.org.");
        let mut mx_upper = vec![0, 10];
        mx_upper.extend_from_slice(&w("Mail.EXAMPLE.org."));
        let mut mx_lower = vec![0, 20];
        mx_lower.extend_from_slice(&w("a.example.org."));
        let rdatas: [&[u8]; 2] = [&mx_upper, &mx_lower];
        let rrset = RrsetToSign {
            owner: &owner,
            rtype: Rtype::MX,
            ttl: 60,
            rdatas: || rdatas.into_iter(),
        };
        let sig = sign_rrset(
            rrset,
            &apex,
            &key,
            (1, 2_000_000_000),
            &mut Scratch::default(),
        )
        .unwrap();
        assert_eq!(RrsigFields::parse(&sig).unwrap().labels, 2);
        verify(&dnskey, &owner, 15, 60, &rdatas, &sig);
    }

    #[test]
    fn spread_differs_by_owner_and_type() {
        let a = spread(b"\x01a\0", Rtype::A, 0);
        assert_ne!(a, spread(b"\x01b\0", Rtype::A, 0));
        assert_ne!(a, spread(b"\x01a\0", Rtype::AAAA, 0));
        assert_eq!(a, spread(b"\x01a\0", Rtype::A, 10));
    }
}
