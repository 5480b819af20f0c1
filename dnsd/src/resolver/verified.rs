//! Signatures verified already: a bounded set of SHA-256 digests of (key, RRSIG with
//! its signature, owner as signed, class, RRset), so that the same signed RRset
//! arriving again — the NSEC that proves every expansion of one wildcard, each
//! expansion of a wildcard RRset (all signed as the wildcard's owner, RFC 4035
//! §5.3.2), a zone's DNSKEY RRset in each referral, a popular RRset fetched again
//! after its TTL — costs a hash, not another public-key operation. Unbound does the
//! same by keeping the security status with each RRset in its cache and copying it to
//! an identical RRset (`rrset_check_sec_status`).
//!
//! The digest covers every input of the verification (the whole DNSKEY and RRSIG
//! RDATA, the owner the signature covers and each record's RDATA as received), so
//! equal digests mean an equal verdict; SHA-256 keeps an attacker from making a
//! forged RRset collide with a verified one. The signature's validity window is not in
//! it: the caller checks the time before asking. Only successes are remembered.

use std::collections::HashSet;
use std::sync::Mutex;

use hickory_proto::dnssec::rdata::{DNSKEY, RRSIG};
use hickory_proto::rr::{DNSClass, Name, Record};
use hickory_proto::serialize::binary::BinEncodable;
use ring::digest::{Context, SHA256};

/// Digests kept per generation: two generations are kept, the older dropped whole
/// when the newer fills (about 2 × 32 octets × 16,384 plus the table: ~1.5 MB).
const GENERATION: usize = 16_384;

/// The digest of one verification's inputs (`None` when a part does not encode, or
/// when a record is not of the RRset `sig` covers at `owner`).
///
/// The owner digested is the one the signature covers (RFC 4035 §5.3.2): for an
/// RRset expanded from a wildcard (fewer RRSIG labels than the owner has), `*.`
/// and the owner's rightmost labels. The signed data of every expansion of one
/// wildcard RRset is then the same octets, and so is its digest: the first
/// expansion costs a public-key operation, the next ones a hash (each still needs
/// its own NSEC/NSEC3 proof that the name does not exist, checked apart).
pub fn digest(
    key: &DNSKEY,
    sig: &RRSIG,
    owner: &Name,
    class: DNSClass,
    records: &[Record],
) -> Option<[u8; 32]> {
    let input = sig.input();
    // The records hickory's verifier puts in the signed data: all of them, or none
    // remembered.
    if records
        .iter()
        .any(|r| r.name != *owner || r.record_type() != input.type_covered || r.dns_class != class)
    {
        return None;
    }
    let labels = input.num_labels;
    let signed_owner = match labels < owner.num_labels() {
        true => Name::from_labels([b"*" as &[u8]])
            .ok()?
            .append_name(&owner.trim_to(usize::from(labels)))
            .ok()?,
        false => owner.clone(),
    };
    let mut ctx = Context::new(&SHA256);
    let mut part = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u32).to_be_bytes());
        ctx.update(bytes);
    };
    part(&key.to_bytes().ok()?);
    part(&sig.to_bytes().ok()?);
    part(&signed_owner.to_lowercase().to_bytes().ok()?);
    part(&u16::from(class).to_be_bytes());
    for record in records {
        part(&record.data.to_bytes().ok()?);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Some(out)
}

/// Digests of verifications that succeeded, one generation.
type Digests = HashSet<[u8; 32]>;

/// The set of digests of verifications that succeeded: the newer and the older
/// generation.
#[derive(Default)]
pub struct Verified {
    generations: Mutex<(Digests, Digests)>,
}

impl Verified {
    /// Whether a verification with this digest succeeded before.
    pub fn contains(&self, digest: &[u8; 32]) -> bool {
        let g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.0.contains(digest) || g.1.contains(digest)
    }

    /// Remembers a verification that succeeded.
    pub fn insert(&self, digest: [u8; 32]) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() >= GENERATION {
            let newer = std::mem::take(&mut g.0);
            g.1 = newer;
        }
        g.0.insert(digest);
    }
}

/// The process's set: verdicts depend only on the digested inputs, so every resolver
/// worker may share them.
pub fn shared() -> &'static Verified {
    static SHARED: std::sync::OnceLock<Verified> = std::sync::OnceLock::new();
    SHARED.get_or_init(Verified::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::sign::tests::hrecord;
    use crate::resolver::validator::{dnskey, ede, rrsig, verify_rrset};

    #[test]
    fn generations_bound_the_set_and_keep_the_newest() {
        let set = Verified::default();
        for i in 0..(GENERATION * 3) as u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_be_bytes());
            set.insert(d);
        }
        let g = set.generations.lock().unwrap_or_else(|e| e.into_inner());
        assert!(g.0.len() + g.1.len() <= GENERATION * 2);
        drop(g);
        let mut newest = [0u8; 32];
        newest[..4].copy_from_slice(&((GENERATION * 3 - 1) as u32).to_be_bytes());
        assert!(set.contains(&newest));
        assert!(!set.contains(&[0u8; 32]));
    }

    /// An A RRset of `rdata` at `signed_owner` signed by a new ECDSA key of `apex`
    /// (valid 2023-2027): the key as a DNSKEY, the RRSIG's RDATA and the signer's
    /// name. The one setup of the two tests of the memo below.
    fn signed_a(apex: &str, signed_owner: &str, rdata: &[u8]) -> (DNSKEY, Vec<u8>, Name) {
        use crate::dnssec::keys::{Algorithm, FLAG_SEP, FLAG_ZONE, KeyPair, key_tag};
        use crate::dnssec::sign::{RrsetToSign, Scratch, SigningKey, sign_rrset};
        use crate::zone::record::Rtype;
        use std::sync::Arc;

        let (apex_wire, owner) = (wire(apex), wire(signed_owner));
        let Ok(pair) = KeyPair::generate(Algorithm::EcdsaP256Sha256) else {
            panic!("key");
        };
        let dnskey_rdata = pair.dnskey_rdata(FLAG_ZONE | FLAG_SEP);
        let key = SigningKey {
            tag: key_tag(&dnskey_rdata),
            pair: Arc::new(pair),
        };
        let rrset = RrsetToSign {
            owner: &owner,
            rtype: Rtype::A,
            ttl: 300,
            rdatas: || [rdata].into_iter(),
        };
        let Ok(sig) = sign_rrset(
            rrset,
            &apex_wire,
            &key,
            (1_700_000_000, 1_800_000_000),
            &mut Scratch::default(),
        ) else {
            panic!("sign");
        };
        let Some(dnskey) = dnskey(&hrecord(&apex_wire, 48, 300, &dnskey_rdata)).cloned() else {
            panic!("not a DNSKEY");
        };
        let Ok(signer) = Name::from_ascii(apex) else {
            panic!("name");
        };
        (dnskey, sig, signer)
    }

    /// The wire form of `text`.
    fn wire(text: &str) -> Vec<u8> {
        match crate::wire::name::Name::from_text(text, None) {
            Ok(name) => name.as_wire().to_vec(),
            Err(_) => panic!("name {text}"),
        }
    }

    #[test]
    fn a_verified_signature_is_remembered_and_a_changed_rrset_still_fails() {
        let a1: &[u8] = &[198, 51, 100, 1];
        let a2: &[u8] = &[198, 51, 100, 2];
        let (dnskey, sig, signer) = signed_a("example.org.", "www.example.org.", a1);
        let owner = wire("www.example.org.");
        let sigs = vec![hrecord(&owner, 46, 300, &sig)];
        let good = vec![hrecord(&owner, 1, 300, a1)];
        let forged = vec![hrecord(&owner, 1, 300, a2)];
        let keys = [dnskey.clone()];
        let now = 1_750_000_000;
        assert_eq!(verify_rrset(&good, &sigs, &keys, &signer, now), Ok(3));
        let Some(sig_data) = rrsig(&sigs[0]) else {
            panic!("not an RRSIG");
        };
        let remembered = digest(&dnskey, sig_data, &good[0].name, DNSClass::IN, &good);
        assert!(remembered.is_some_and(|d| shared().contains(&d)));
        // Asked again: the same verdict, now from the remembered digest.
        assert_eq!(verify_rrset(&good, &sigs, &keys, &signer, now), Ok(3));
        // Another RRset under the same signature is still checked, and fails.
        assert_eq!(
            verify_rrset(&forged, &sigs, &keys, &signer, now),
            Err(ede::BOGUS)
        );
        // Outside the validity window the remembered verdict does not help.
        assert_eq!(
            verify_rrset(&good, &sigs, &keys, &signer, 1_900_000_000),
            Err(ede::EXPIRED)
        );
    }

    #[test]
    fn expansions_of_one_wildcard_share_a_digest_and_a_forged_one_still_fails() {
        let good: &[u8] = &[198, 51, 100, 7];
        let (dnskey, sig, signer) = signed_a("wild.example.net.", "*.wild.example.net.", good);
        let (first, second) = (wire("a.wild.example.net."), wire("b.c.wild.example.net."));
        let keys = [dnskey.clone()];
        let now = 1_750_000_000;
        // An expansion: the RRset at the name asked, the wildcard's RRSIG (3 labels).
        let expansion = |owner: &[u8], rdata: &[u8]| {
            (
                vec![hrecord(owner, 1, 300, rdata)],
                vec![hrecord(owner, 46, 300, &sig)],
            )
        };
        let (records, sigs) = expansion(&first, good);
        assert_eq!(verify_rrset(&records, &sigs, &keys, &signer, now), Ok(3));
        let Some(sig_data) = rrsig(&sigs[0]).cloned() else {
            panic!("not an RRSIG");
        };
        let digest_of = |records: &[Record]| {
            digest(&dnskey, &sig_data, &records[0].name, DNSClass::IN, records)
        };
        let (other, other_sigs) = expansion(&second, good);
        // Another name under the wildcard: the same signed data, already verified.
        assert!(digest_of(&other).is_some_and(|d| shared().contains(&d)));
        assert_eq!(digest_of(&other), digest_of(&records));
        assert_eq!(
            verify_rrset(&other, &other_sigs, &keys, &signer, now),
            Ok(3)
        );
        // Other data under the same signature is verified, and fails.
        let (forged, forged_sigs) = expansion(&second, &[203, 0, 113, 9]);
        assert_eq!(
            verify_rrset(&forged, &forged_sigs, &keys, &signer, now),
            Err(ede::BOGUS)
        );
    }
}
