//! The DNSSEC records the signer writes and reads, in wire format: RRSIG (RFC 4034
//! §3.1), NSEC (RFC 4034 §4.1), NSEC3 and NSEC3PARAM (RFC 5155 §3.2, §4.2), their type
//! bitmaps (RFC 4034 §4.1.2), the canonical form of RDATA that signatures cover (RFC
//! 4034 §6.2 as corrected by RFC 6840 §5.1), and base32hex (RFC 4648 §7) for NSEC3
//! owner names.

use crate::wire::name;
use crate::zone::Rtype;
use crate::zone::rdata_dnssec::{base32hex_encode, base32hex_into};

/// Length of the RRSIG RDATA fields before the signer's name.
pub const RRSIG_FIXED: usize = 18;

/// The fields of an RRSIG RDATA that the signer reads back (RFC 4034 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrsigFields {
    /// The type covered.
    pub covered: Rtype,
    /// The algorithm number.
    pub algorithm: u8,
    /// The labels field.
    pub labels: u8,
    /// The original TTL.
    pub original_ttl: u32,
    /// Signature expiration (seconds, serial arithmetic).
    pub expiration: u32,
    /// Signature inception.
    pub inception: u32,
    /// The signing key's tag.
    pub key_tag: u16,
}

impl RrsigFields {
    /// Reads the fixed fields of RRSIG RDATA; None if it is too short.
    pub fn parse(rdata: &[u8]) -> Option<Self> {
        let b = rdata.get(..RRSIG_FIXED)?;
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(Self {
            covered: Rtype(u16::from_be_bytes([b[0], b[1]])),
            algorithm: b[2],
            labels: b[3],
            original_ttl: u32_at(4),
            expiration: u32_at(8),
            inception: u32_at(12),
            key_tag: u16::from_be_bytes([b[16], b[17]]),
        })
    }

    /// Appends the fixed fields and `signer` (the RRSIG RDATA without its signature),
    /// what the signature itself covers first (RFC 4034 §3.1.8.1).
    pub fn write(&self, signer: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.covered.0.to_be_bytes());
        out.push(self.algorithm);
        out.push(self.labels);
        out.extend_from_slice(&self.original_ttl.to_be_bytes());
        out.extend_from_slice(&self.expiration.to_be_bytes());
        out.extend_from_slice(&self.inception.to_be_bytes());
        out.extend_from_slice(&self.key_tag.to_be_bytes());
        out.extend_from_slice(signer);
    }
}

/// The RRSIG labels field for `owner` (RFC 4034 §3.1.3): its labels, root and a
/// leading wildcard label not counted.
pub fn rrsig_labels(owner: &[u8]) -> u8 {
    let count = name::label_offsets(owner).count();
    let wild = owner.len() >= 2 && owner[0] == 1 && owner[1] == b'*';
    (count - usize::from(wild)) as u8
}

/// Whether RDATA of `rtype` holds domain names that the canonical form lowercases,
/// and where: the offsets of those names in `rdata`, at most three. RFC 4034 §6.2's
/// list without NSEC (RFC 6840 §5.1) and HINFO (it holds no name).
fn name_offsets(rtype: Rtype, rdata: &[u8]) -> ([usize; 3], usize) {
    let mut at = [0usize; 3];
    let mut n = 0;
    let mut push = |offset: usize| {
        if n < 3 {
            at[n] = offset;
            n += 1;
        }
    };
    let after = |offset: usize| name::wire_len(rdata.get(offset..)?).map(|l| offset + l);
    match rtype.0 {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME: one name.
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => push(0),
        // SOA, MINFO, RP: two names.
        6 | 14 | 17 => {
            push(0);
            if let Some(second) = after(0) {
                push(second);
            }
        }
        // MX, AFSDB, RT, KX: preference then a name.
        15 | 18 | 21 | 36 => push(2),
        // PX: preference then two names.
        26 => {
            push(2);
            if let Some(second) = after(2) {
                push(second);
            }
        }
        // SRV: priority, weight, port, target.
        33 => push(6),
        // SIG, RRSIG: the signer's name.
        24 | 46 => push(RRSIG_FIXED),
        // NXT: the next name.
        30 => push(0),
        // NAPTR: two numbers, three character-strings, the replacement.
        35 => {
            let mut offset = 4;
            for _ in 0..3 {
                match rdata.get(offset) {
                    Some(&len) => offset += 1 + usize::from(len),
                    None => return (at, 0),
                }
            }
            push(offset);
        }
        // A6: prefix length, address suffix, prefix name when the length is not 0.
        38 => {
            if let Some(&prefix) = rdata.first()
                && prefix > 0
                && prefix <= 128
            {
                push(1 + (128 - usize::from(prefix)).div_ceil(8));
            }
        }
        _ => {}
    }
    (at, n)
}

/// The canonical form of RDATA (RFC 4034 §6.2): the names of the types that carry
/// them, lowercased. `rdata` itself when nothing changes (the usual case: zone data
/// is mostly lowercase), else a copy in `buf`.
pub fn canonical_rdata<'a>(rtype: Rtype, rdata: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
    let (offsets, count) = name_offsets(rtype, rdata);
    let spans = offsets[..count]
        .iter()
        .filter_map(|&at| Some((at, at + name::wire_len(rdata.get(at..)?)?)));
    let needs = spans
        .clone()
        .any(|(from, to)| rdata[from..to].iter().any(u8::is_ascii_uppercase));
    if !needs {
        return rdata;
    }
    buf.clear();
    buf.extend_from_slice(rdata);
    for (from, to) in spans {
        // Label lengths are below 64, never uppercase letters: lowercasing the whole
        // span leaves them alone.
        buf[from..to].make_ascii_lowercase();
    }
    buf
}

/// Appends a type bitmap (RFC 4034 §4.1.2) of `types`, which must be sorted and
/// without duplicates (the zone layer's encoder, shared with the zone-file parser).
pub use crate::zone::rdata_dnssec::type_bitmap_into as bitmap_into;

/// The types of a type bitmap, in order; stops at the first malformed window.
pub fn bitmap_types(mut bitmap: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let mut window: Option<(u8, &[u8], usize)> = None;
    std::iter::from_fn(move || {
        loop {
            if let Some((w, bits, bit)) = window.as_mut() {
                while *bit < bits.len() * 8 {
                    let b = *bit;
                    *bit += 1;
                    if bits[b / 8] & (0x80 >> (b % 8)) != 0 {
                        return Some(u16::from(*w) << 8 | b as u16);
                    }
                }
                window = None;
            }
            let (&w, rest) = bitmap.split_first()?;
            let (&len, rest) = rest.split_first()?;
            let bits = rest.get(..usize::from(len))?;
            bitmap = &rest[usize::from(len)..];
            window = Some((w, bits, 0));
        }
    })
}

/// NSEC RDATA (RFC 4034 §4.1): the next owner name and the bitmap of `types`.
pub fn nsec_rdata(next: &[u8], types: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(next.len() + 16);
    out.extend_from_slice(next);
    bitmap_into(types, &mut out);
    out
}

/// NSEC3 hash algorithm 1, SHA-1 (RFC 5155 §11).
pub const NSEC3_SHA1: u8 = 1;
/// The NSEC3 Opt-Out flag (RFC 5155 §3.1.2.1).
pub const NSEC3_OPT_OUT: u8 = 1;

/// NSEC3 RDATA (RFC 5155 §3.2): SHA-1, `flags`, `iterations`, `salt`, the next
/// hashed owner and the bitmap of `types`.
pub fn nsec3_rdata(flags: u8, iterations: u16, salt: &[u8], next: &[u8], types: &[u16]) -> Vec<u8> {
    let mut out = nsec3param_rdata(flags, iterations, salt);
    out.push(next.len() as u8);
    out.extend_from_slice(next);
    bitmap_into(types, &mut out);
    out
}

/// NSEC3PARAM RDATA (RFC 5155 §4.2): SHA-1, `flags`, `iterations`, `salt`.
pub fn nsec3param_rdata(flags: u8, iterations: u16, salt: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + salt.len() + 48);
    out.push(NSEC3_SHA1);
    out.push(flags);
    out.extend_from_slice(&iterations.to_be_bytes());
    out.push(salt.len() as u8);
    out.extend_from_slice(salt);
    out
}

/// The parts of NSEC3 RDATA: flags, next hashed owner and type bitmap.
pub fn nsec3_parts(rdata: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let flags = *rdata.get(1)?;
    let salt_len = usize::from(*rdata.get(4)?);
    let at = 5 + salt_len;
    let hash_len = usize::from(*rdata.get(at)?);
    let next = rdata.get(at + 1..at + 1 + hash_len)?;
    Some((flags, next, &rdata[at + 1 + hash_len..]))
}

/// The parts of NSEC RDATA: next owner name and type bitmap.
pub fn nsec_parts(rdata: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = name::wire_len(rdata)?;
    Some((&rdata[..len], &rdata[len..]))
}

/// Base32hex, lowercase, no padding (RFC 4648 §7; RFC 5155 §3.3).
pub fn base32hex(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(5) * 8);
    base32hex_encode(bytes, |c| out.push(c));
    out
}

/// Decodes base32hex (either case, no padding); None if a character is not of the
/// alphabet or bits are left over.
pub fn from_base32hex(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    base32hex_into(text, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::Name;

    fn w(text: &str) -> Vec<u8> {
        Name::from_text(text, None).unwrap().as_wire().to_vec()
    }

    #[test]
    fn labels_skip_the_wildcard() {
        assert_eq!(rrsig_labels(&w("www.example.org.")), 3);
        assert_eq!(rrsig_labels(&w("*.example.org.")), 2);
        assert_eq!(rrsig_labels(&w(".")), 0);
    }

    #[test]
    fn canonical_rdata_lowercases_names_of_the_listed_types_only() {
        let mut buf = Vec::new();
        let mut mx = vec![0, 10];
        mx.extend_from_slice(&w("Mail.Example.ORG."));
        assert_eq!(
            canonical_rdata(Rtype::MX, &mx, &mut buf)[2..],
            w("mail.example.org.")[..]
        );
        // NSEC keeps its case (RFC 6840 §5.1), TXT holds no name.
        let nsec = nsec_rdata(&w("B.example."), &[1]);
        assert_eq!(canonical_rdata(Rtype::NSEC, &nsec, &mut buf), &nsec[..]);
        assert_eq!(canonical_rdata(Rtype::TXT, b"\x02AB", &mut buf), b"\x02AB");
        let mut soa = w("NS.example.");
        soa.extend_from_slice(&w("Host.Master.example."));
        soa.extend_from_slice(&[0xAB; 20]);
        let canon = canonical_rdata(Rtype::SOA, &soa, &mut buf).to_vec();
        let mut expected = w("ns.example.");
        expected.extend_from_slice(&w("host.master.example."));
        expected.extend_from_slice(&[0xAB; 20]);
        assert_eq!(canon, expected, "the serial and timers are left alone");
        let mut naptr = vec![0, 1, 0, 2, 1, b'U', 0, 0];
        naptr.extend_from_slice(&w("X.example."));
        let canon = canonical_rdata(Rtype::NAPTR, &naptr, &mut buf).to_vec();
        assert_eq!(&canon[..6], b"\0\x01\0\x02\x01U", "the flags' case stays");
        assert_eq!(&canon[8..], &w("x.example.")[..]);
    }

    #[test]
    fn bitmaps_round_trip() {
        let types = [1u16, 2, 6, 46, 47, 48, 257, 65534];
        let mut out = Vec::new();
        bitmap_into(&types, &mut out);
        assert_eq!(&out[..2], &[0, 7]);
        assert_eq!(bitmap_types(&out).collect::<Vec<_>>(), types);
        assert_eq!(bitmap_types(&[]).count(), 0);
    }

    #[test]
    fn base32hex_matches_rfc_4648() {
        assert_eq!(base32hex(b"foobar"), b"cpnmuoj1e8");
        assert_eq!(base32hex(b"f"), b"co");
        assert_eq!(from_base32hex(b"CPNMUOJ1E8").unwrap(), b"foobar");
        assert!(from_base32hex(b"w").is_none());
        let hash = [0xa5u8; 20];
        assert_eq!(base32hex(&hash).len(), 32);
        assert_eq!(from_base32hex(&base32hex(&hash)).unwrap(), hash);
    }
}
