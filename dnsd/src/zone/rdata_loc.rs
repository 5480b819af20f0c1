//! RDATA from presentation format for LOC (RFC 1876) and APL (RFC 3123), the two types
//! whose text is furthest from their wire form.
//!
//! LOC: `d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`, seconds
//! with up to three decimals and metres with up to two; sizes and precisions are
//! encoded as mantissa and power of ten of centimetres, truncated as RFC 1876's
//! reference code (and BIND, NSD, Knot) does. APL: `[!]afi:address/prefix` items, the
//! address written without its trailing zero octets (RFC 3123 §4.1).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lexer::Token;
use super::rdata_text::{Fields, RdataError, bad};

/// Appends LOC RDATA.
pub fn loc_into(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let latitude = angle(f, "latitude", 90, [b'N', b'S'])?;
    let longitude = angle(f, "longitude", 180, [b'E', b'W'])?;
    let t = f.next("altitude")?;
    // Altitude in centimetres above a base 100,000 m below the WGS 84 spheroid.
    let altitude = metres(t.text, true)
        .map(|cm| cm + 10_000_000)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad("altitude", t))?;
    // Defaults (RFC 1876 §3): size 1 m, horizontal precision 10 km, vertical 10 m.
    let mut precision = [0x12u8, 0x16, 0x13];
    for (i, field) in ["size", "horizontal precision", "vertical precision"]
        .into_iter()
        .enumerate()
    {
        let Some(t) = f.peek() else { break };
        f.next(field)?;
        precision[i] = metres(t.text, false)
            .and_then(|cm| size_byte(cm as u64))
            .ok_or_else(|| bad(field, t))?;
    }
    out.push(0);
    out.extend_from_slice(&precision);
    out.extend_from_slice(&latitude.to_be_bytes());
    out.extend_from_slice(&longitude.to_be_bytes());
    out.extend_from_slice(&altitude.to_be_bytes());
    Ok(())
}

/// Degrees, optional minutes and seconds, and a hemisphere letter (`hemispheres[0]`
/// positive): thousandths of a second of arc from 2^31.
fn angle(
    f: &mut Fields<'_, '_>,
    field: &'static str,
    max_degrees: i64,
    hemispheres: [u8; 2],
) -> Result<u32, RdataError> {
    let t = f.next(field)?;
    let degrees = integer(t.text)
        .filter(|&d| d <= max_degrees)
        .ok_or_else(|| bad(field, t))?;
    let mut thousandths = degrees * 3_600_000;
    let mut parts = 0;
    let sign = loop {
        let t: &Token<'_> = f.next(field)?;
        if let [c] = t.text
            && let Some(at) = hemispheres.iter().position(|h| h.eq_ignore_ascii_case(c))
        {
            break if at == 0 { 1 } else { -1 };
        }
        match parts {
            0 => {
                let minutes = integer(t.text)
                    .filter(|&m| m < 60)
                    .ok_or_else(|| bad(field, t))?;
                thousandths += minutes * 60_000;
            }
            1 => {
                let ms = fixed(t.text, 3)
                    .filter(|&s| s < 60_000)
                    .ok_or_else(|| bad(field, t))?;
                thousandths += ms;
            }
            _ => return Err(bad(field, t)),
        }
        parts += 1;
    };
    if thousandths > max_degrees * 3_600_000 {
        return Err(bad(field, t));
    }
    u32::try_from((1i64 << 31) + sign * thousandths).map_err(|_| bad(field, t))
}

/// Digits only.
fn integer(text: &[u8]) -> Option<i64> {
    super::text::decimal(text, 1 << 40).map(|v| v as i64)
}

/// A decimal number with at most `scale` decimals, times 10^scale; `-` allowed.
fn fixed(text: &[u8], scale: u32) -> Option<i64> {
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = match text.iter().position(|&c| c == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if whole.is_empty() || frac.len() > scale as usize || (text.contains(&b'.') && frac.is_empty())
    {
        return None;
    }
    let mut value = integer(whole)?;
    let mut digits = 0;
    for &c in frac {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(c - b'0');
        digits += 1;
    }
    value *= 10i64.pow(scale - digits);
    Some(if negative { -value } else { value })
}

/// Metres (optionally suffixed `m`, at most two decimals) in centimetres.
fn metres(text: &[u8], signed: bool) -> Option<i64> {
    let text = text
        .strip_suffix(b"m")
        .or_else(|| text.strip_suffix(b"M"))
        .unwrap_or(text);
    if !signed && text.first() == Some(&b'-') {
        return None;
    }
    fixed(text, 2)
}

/// A size or precision in centimetres as mantissa (high nibble) and exponent of ten.
fn size_byte(cm: u64) -> Option<u8> {
    let mut exponent = 0u8;
    let mut power = 1u64;
    while exponent < 9 && cm >= power * 10 {
        power *= 10;
        exponent += 1;
    }
    let mantissa = cm / power;
    (mantissa <= 9).then_some((mantissa as u8) << 4 | exponent)
}

/// Appends APL RDATA: each item `[!]afi:address/prefix`.
pub fn apl_into(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    for t in f.rest() {
        let (negated, item) = match t.text.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, t.text),
        };
        let item = std::str::from_utf8(item).map_err(|_| bad("APL item", t))?;
        let (afi, rest) = item.split_once(':').ok_or_else(|| bad("APL item", t))?;
        let (address, prefix) = rest.split_once('/').ok_or_else(|| bad("APL item", t))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("APL prefix", t))?;
        let (family, octets): (u16, Vec<u8>) = match afi {
            "1" if prefix <= 32 => (
                1,
                address
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad("APL address", t))?
                    .octets()
                    .to_vec(),
            ),
            "2" if prefix <= 128 => (
                2,
                address
                    .parse::<Ipv6Addr>()
                    .map_err(|_| bad("APL address", t))?
                    .octets()
                    .to_vec(),
            ),
            _ => return Err(bad("APL item", t)),
        };
        let len = octets
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        out.extend_from_slice(&family.to_be_bytes());
        out.push(prefix);
        out.push(if negated { 0x80 } else { 0 } | len as u8);
        out.extend_from_slice(&octets[..len]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token<'_>> {
        text.split_whitespace()
            .map(|t| Token {
                text: t.as_bytes(),
                quoted: false,
                line: 1,
            })
            .collect()
    }

    fn loc(text: &str) -> Result<Vec<u8>, RdataError> {
        let tokens = tokens(text);
        let mut f = Fields::new(&tokens);
        let mut out = Vec::new();
        loc_into(&mut f, &mut out)?;
        f.end()?;
        Ok(out)
    }

    #[test]
    fn loc_as_rfc_1876_encodes_it() {
        // RFC 1876 §5's example: cambridge-net.kei.com.
        let got = loc("42 21 54 N 71 06 18 W -24m 30m").unwrap();
        let lat = (1u32 << 31) + (42 * 3600 + 21 * 60 + 54) * 1000;
        let lon = (1u32 << 31) - (71 * 3600 + 6 * 60 + 18) * 1000;
        let mut want = vec![0, 0x33, 0x16, 0x13];
        want.extend_from_slice(&lat.to_be_bytes());
        want.extend_from_slice(&lon.to_be_bytes());
        want.extend_from_slice(&(10_000_000u32 - 2400).to_be_bytes());
        assert_eq!(got, want);
        let got = loc("52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m").unwrap();
        assert_eq!(got[1..4], [0x00, 0x16, 0x13]);
        assert!(loc("91 N 0 E 0").is_err());
        assert!(loc("10 60 N 0 E 0").is_err());
        assert!(loc("10 N 0 E").is_err());
        assert!(loc("10 X 0 E 0").is_err());
        assert!(loc("1 2 3 4 N 0 E 0").is_err());
    }

    #[test]
    fn apl_items() {
        let items = tokens("1:198.51.96.0/21 !1:198.51.100.0/28 2:2001:db8::/32 1:0.0.0.0/0");
        let mut f = Fields::new(&items);
        let mut out = Vec::new();
        apl_into(&mut f, &mut out).unwrap();
        assert_eq!(
            out,
            [
                0, 1, 21, 3, 198, 51, 96, 0, 1, 28, 0x83, 198, 51, 100, 0, 2, 32, 4, 0x20, 1, 0xd,
                0xb8, 0, 1, 0, 0
            ]
        );
        for bad in ["3:1.2.3.4/8", "1:1.2.3.4/33", "1:1.2.3.4", "x"] {
            let items = tokens(bad);
            assert!(
                apl_into(&mut Fields::new(&items), &mut Vec::new()).is_err(),
                "{bad}"
            );
        }
    }
}
