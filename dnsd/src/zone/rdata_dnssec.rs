//! RDATA of the DNSSEC records a zone signed elsewhere carries (dnssec-signzone,
//! ldns-signzone, a signer's output kept in git): RRSIG and NSEC (RFC 4034 §3.2, §4.2),
//! NSEC3 and NSEC3PARAM (RFC 5155 §3.3, §4.3), with their type bitmaps (RFC 4034 §4.1.2).

use super::rdata_text::{Fields, RdataError, bad};
use super::record::Rtype;
use super::text;

/// Appends RRSIG RDATA: type covered, algorithm, labels, original TTL, expiration,
/// inception, key tag, signer's name, signature.
pub fn rrsig_into(
    f: &mut Fields<'_, '_>,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    let t = f.next("type covered")?;
    let covered = rtype(t.text).ok_or_else(|| bad("type covered", t))?;
    out.extend_from_slice(&covered.0.to_be_bytes());
    out.push(super::rdata_text::algorithm(f)?);
    out.push(f.u8("labels")?);
    let t = f.next("original TTL")?;
    let ttl = text::ttl(t.text).ok_or_else(|| bad("original TTL", t))?;
    out.extend_from_slice(&ttl.to_be_bytes());
    for field in ["signature expiration", "signature inception"] {
        let t = f.next(field)?;
        let time = signature_time(t.text).ok_or_else(|| bad(field, t))?;
        out.extend_from_slice(&time.to_be_bytes());
    }
    out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
    f.name("signer's name", origin, out)?;
    let rest = f.rest();
    if rest.is_empty() {
        return Err(RdataError::Missing("signature"));
    }
    text::base64_into(rest.iter().map(|t| t.text), out).ok_or(RdataError::Bad {
        field: "signature",
        text: "not valid base64".into(),
    })
}

/// Appends NSEC RDATA: next owner name and type bitmap.
pub fn nsec_into(
    f: &mut Fields<'_, '_>,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    f.name("next domain name", origin, out)?;
    bitmap_into(f, out)
}

/// Appends NSEC3 RDATA (`with_next`) or NSEC3PARAM RDATA: hash algorithm, flags,
/// iterations, salt (`-` for none), and for NSEC3 the next hashed owner (base32hex)
/// and the type bitmap.
pub fn nsec3_into(
    f: &mut Fields<'_, '_>,
    with_next: bool,
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    out.push(f.u8("hash algorithm")?);
    out.push(f.u8("flags")?);
    out.extend_from_slice(&f.u16("iterations")?.to_be_bytes());
    let t = f.next("salt")?;
    if t.text == b"-" {
        out.push(0);
    } else {
        let at = out.len();
        out.push(0);
        text::hex_into(t.text, out).ok_or_else(|| bad("salt", t))?;
        out[at] = u8::try_from(out.len() - at - 1).map_err(|_| bad("salt", t))?;
    }
    if with_next {
        let t = f.next("next hashed owner name")?;
        let at = out.len();
        out.push(0);
        base32hex_into(t.text, out).ok_or_else(|| bad("next hashed owner name", t))?;
        out[at] = u8::try_from(out.len() - at - 1).map_err(|_| bad("next hashed owner name", t))?;
        bitmap_into(f, out)?;
    }
    Ok(())
}

/// A type mnemonic or `TYPEnnn`.
fn rtype(text: &[u8]) -> Option<Rtype> {
    std::str::from_utf8(text).ok().and_then(Rtype::from_text)
}

/// Appends the type bitmap of the remaining tokens (types in any order, RFC 4034
/// §4.1.2): per 256-type window, the window number, the length and the bits.
pub fn bitmap_into(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let mut types: Vec<u16> = Vec::new();
    for t in f.rest() {
        types.push(rtype(t.text).ok_or_else(|| bad("type", t))?.0);
    }
    types.sort_unstable();
    types.dedup();
    type_bitmap_into(&types, out);
    Ok(())
}

/// Appends the type bitmap (RFC 4034 §4.1.2) of `types`, which must be sorted and
/// without duplicates: per 256-type window, the window number, the length and the
/// bits. The zone-file parser and the signer's NSEC/NSEC3 records both use it.
pub fn type_bitmap_into(types: &[u16], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xff) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
}

/// Writes `bytes` in base32 with the extended hex alphabet, lowercase, no padding
/// (RFC 4648 §7, RFC 5155 §3.3), one character at a time to `push` (no allocation:
/// the answer engine writes NSEC3 owner labels into a fixed buffer).
pub fn base32hex_encode(bytes: &[u8], mut push: impl FnMut(u8)) {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = acc << 8 | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            push(ALPHABET[((acc >> bits) & 31) as usize]);
        }
    }
    if bits > 0 {
        push(ALPHABET[((acc << (5 - bits)) & 31) as usize]);
    }
}

/// Decodes base32 with the extended hex alphabet (either case, no padding) into `out`;
/// None if a character is not of the alphabet or bits are left over.
pub fn base32hex_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c.to_ascii_uppercase() {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = acc << 5 | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(())
}

/// A signature time: `YYYYMMDDHHmmSS` (UTC) or seconds since the epoch (RFC 4034
/// §3.2), as 32-bit serial-number arithmetic counts it.
fn signature_time(text: &[u8]) -> Option<u32> {
    if text.len() != 14 {
        return text::u32_from(text);
    }
    let num = |range: std::ops::Range<usize>| text::decimal(&text[range], 9999).map(|v| v as i64);
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(8..10)?, num(10..12)?, num(12..14)?);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    // Times past 2106 wrap, as RFC 4034 §3.1.5 serial arithmetic expects.
    Some(seconds.rem_euclid(1 << 32) as u32)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_base32hex() {
        assert_eq!(signature_time(b"19700101000000"), Some(0));
        assert_eq!(signature_time(b"20260101000000"), Some(1_767_225_600));
        assert_eq!(signature_time(b"1767225600"), Some(1_767_225_600));
        assert_eq!(signature_time(b"20261301000000"), None);
        let mut out = Vec::new();
        base32hex_into(b"CPNMUOJ1E8", &mut out).unwrap();
        assert_eq!(out, b"foobar");
        assert!(base32hex_into(b"W", &mut out).is_none());
    }
}
