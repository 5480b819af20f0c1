//! Presentation-format primitives shared by the zone-file parser (`parse`) and the
//! per-type RDATA parsers (`rdata_text`): names, numbers, TTLs with units,
//! character-strings with `\X`/`\DDD` escapes (RFC 1035 §5.1), hex and base64.
//!
//! Every function appends to a caller-owned buffer and works on slices of the file
//! buffer, so parsing a record allocates nothing but the record itself.

use crate::wire::name::{MAX_LABEL_LEN, MAX_NAME_LEN, NameError};

/// Appends the wire form of the name `text` to `out`. `@` is `origin`; a name without
/// a trailing dot is relative to `origin` (an absolute wire name).
pub fn name_into(text: &[u8], origin: &[u8], out: &mut Vec<u8>) -> Result<(), NameError> {
    let start = out.len();
    if text == b"@" {
        out.extend_from_slice(origin);
        return Ok(());
    }
    if text == b"." {
        out.push(0);
        return Ok(());
    }
    if text.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    let mut label_at = out.len();
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < text.len() {
        let byte = match text[i] {
            b'.' => {
                if out.len() - label_at - 1 == 0 {
                    return Err(NameError::EmptyLabel);
                }
                if i + 1 == text.len() {
                    absolute = true;
                    break;
                }
                label_at = out.len();
                out.push(0);
                i += 1;
                continue;
            }
            b'\\' => {
                let (byte, used) = unescape(&text[i + 1..]).ok_or(NameError::BadEscape)?;
                i += 1 + used;
                byte
            }
            c => {
                i += 1;
                c
            }
        };
        out.push(byte);
        let len = out.len() - label_at - 1;
        if len > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        out[label_at] = len as u8;
    }
    if out.len() - label_at - 1 == 0 {
        return Err(NameError::EmptyLabel);
    }
    if absolute {
        out.push(0);
    } else {
        out.extend_from_slice(origin);
    }
    if out.len() - start > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(())
}

/// Decodes the escape after a `\`: `\DDD` (decimal, at most 255) or `\X`. Returns the
/// byte and how many input bytes it used.
pub fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            Some((u8::try_from(value).ok()?, 3))
        }
        [d, ..] if d.is_ascii_digit() => None,
        [x, ..] => Some((*x, 1)),
        [] => None,
    }
}

/// Appends `text` with its escapes decoded. `None` on a bad escape.
pub fn unescape_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            let (byte, used) = unescape(&text[i + 1..])?;
            out.push(byte);
            i += 1 + used;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Some(())
}

/// Why a character-string cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringError {
    /// A bad `\` escape.
    BadEscape,
    /// More than 255 octets once unescaped (RFC 1035 §3.3).
    TooLong,
}

/// Appends a <character-string>: one length octet, then the unescaped text.
pub fn char_string_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), StringError> {
    let at = out.len();
    out.push(0);
    unescape_into(text, out).ok_or(StringError::BadEscape)?;
    let len = out.len() - at - 1;
    out[at] = u8::try_from(len).map_err(|_| StringError::TooLong)?;
    Ok(())
}

/// An unsigned decimal number of at most `max`, digits only.
pub fn decimal(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    (value <= max).then_some(value)
}

/// A decimal `u8`.
pub fn u8_from(text: &[u8]) -> Option<u8> {
    decimal(text, u8::MAX.into()).map(|v| v as u8)
}

/// A decimal `u16`.
pub fn u16_from(text: &[u8]) -> Option<u16> {
    decimal(text, u16::MAX.into()).map(|v| v as u16)
}

/// A decimal `u32`.
pub fn u32_from(text: &[u8]) -> Option<u32> {
    decimal(text, u32::MAX.into()).map(|v| v as u32)
}

/// A TTL: seconds, or a sum of numbers with units `s`, `m`, `h`, `d`, `w` (any case,
/// `1h30m`), as BIND, NSD and Knot accept. `None` when malformed or above `u32::MAX`;
/// the RFC 2181 §8 limit (2^31 - 1) is the caller's check, so that it can say so.
pub fn ttl(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text[0].is_ascii_digit() {
        return None;
    }
    if let Some(plain) = decimal(text, u32::MAX.into()) {
        return Some(plain as u32);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for &c in text {
        if c.is_ascii_digit() {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)?
                .checked_add(u64::from(c - b'0'))?;
            number = Some(n);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86400,
            b'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if let Some(n) = number {
        total = total.checked_add(n)?;
    }
    u32::try_from(total).ok()
}

/// Appends the bytes that the hex digits of `text` encode. `None` on a non-hex digit or
/// an odd count.
pub fn hex_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    for pair in text.chunks_exact(2) {
        out.push(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?);
    }
    Some(())
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes base64 (RFC 4648 §4, padded) spread over several tokens, as zone files split
/// keys over lines. `None` when malformed.
pub fn base64_into<'t>(tokens: impl Iterator<Item = &'t [u8]>, out: &mut Vec<u8>) -> Option<()> {
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut padding = 0;
    let mut count = 0;
    for token in tokens {
        for &c in token {
            count += 1;
            if c == b'=' {
                padding += 1;
                continue;
            }
            if padding > 0 {
                return None;
            }
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            acc = acc << 6 | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
    }
    // Whole quanta only, at most two pad characters, and no stray bits set.
    (count % 4 == 0 && padding <= 2 && acc == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str, origin: &[u8]) -> Result<Vec<u8>, NameError> {
        let mut out = Vec::new();
        name_into(text.as_bytes(), origin, &mut out).map(|()| out)
    }

    #[test]
    fn names_relative_absolute_and_at() {
        let origin = b"\x07example\x03org\x00";
        assert_eq!(
            name("www", origin).unwrap(),
            b"\x03www\x07example\x03org\x00"
        );
        assert_eq!(name("www.", origin).unwrap(), b"\x03www\x00");
        assert_eq!(name("@", origin).unwrap(), origin);
        assert_eq!(name(".", origin).unwrap(), b"\x00");
        assert_eq!(name(r"a\.b.", origin).unwrap(), b"\x03a.b\x00");
        assert_eq!(name(r"a\065.", origin).unwrap(), b"\x02aA\x00");
        assert_eq!(name("a..b", origin), Err(NameError::EmptyLabel));
        assert_eq!(name(r"a\300.", origin), Err(NameError::BadEscape));
        assert_eq!(name(&"a".repeat(64), origin), Err(NameError::LabelTooLong));
        let long = "abcdefghi.".repeat(25) + "abc";
        assert_eq!(name(&long, origin), Err(NameError::NameTooLong));
    }

    #[test]
    fn ttls_with_units() {
        assert_eq!(ttl(b"3600"), Some(3600));
        assert_eq!(ttl(b"1h30m"), Some(5400));
        assert_eq!(ttl(b"1W"), Some(604_800));
        assert_eq!(ttl(b"2d3s"), Some(172_803));
        assert_eq!(ttl(b"4294967295"), Some(u32::MAX));
        assert_eq!(ttl(b"4294967296"), None);
        assert_eq!(ttl(b"1x"), None);
        assert_eq!(ttl(b"h"), None);
        assert_eq!(ttl(b"1hh"), None);
        assert_eq!(ttl(b""), None);
    }

    #[test]
    fn strings_hex_and_base64() {
        let mut out = Vec::new();
        char_string_into(br#"a\"b\032"#, &mut out).unwrap();
        assert_eq!(out, b"\x04a\"b ");
        out.clear();
        let long = vec![b'x'; 256];
        assert_eq!(char_string_into(&long, &mut out), Err(StringError::TooLong));
        out.clear();
        hex_into(b"00fFa1", &mut out).unwrap();
        assert_eq!(out, [0, 255, 0xa1]);
        assert!(hex_into(b"abc", &mut out).is_none());
        out.clear();
        base64_into([&b"aGVsbG8gd2"[..], b"9ybGQ="].into_iter(), &mut out).unwrap();
        assert_eq!(out, b"hello world");
        out.clear();
        assert!(base64_into([&b"aGVsbG8"[..]].into_iter(), &mut out).is_none());
        assert!(base64_into([&b"a=bc"[..]].into_iter(), &mut out).is_none());
    }
}
