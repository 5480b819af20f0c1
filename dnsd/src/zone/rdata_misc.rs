//! RDATA from presentation format for the rarer types that NSD, Knot or BIND read:
//! WKS (RFC 1035 §3.4.2), X25, ISDN, RT (RFC 1183), NSAP (RFC 1706), GPOS (RFC 1712),
//! NXT (RFC 2535), ATMA (ATM Forum AF-DANS-0152), CERT (RFC 4398), A6 (RFC 2874),
//! SINK (BIND), IPSECKEY (RFC 4025), HIP (RFC 8005), CSYNC (RFC 7477), ZONEMD
//! (RFC 8976), DSYNC (RFC 9859), NID, L32, L64 (RFC 6742), EUI48, EUI64 (RFC 7043), DOA
//! (draft-durand-doa-over-dns), AMTRELAY (RFC 8777). LOC and APL are in `rdata_loc`.
//!
//! Each writes the type's wire form into the caller's buffer, as `rdata_text` does for
//! the common types; formats follow what the peers print (`nsd-checkzone -p`,
//! `named-checkzone -D`), which `dnsd/tests/zone_files.rs` compares byte for byte.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rdata_dnssec;
use super::rdata_text::{Fields, RdataError, algorithm, bad, base64_rest, hex_rest, string_token};
use super::record::Rtype;
use super::text;

/// Appends the RDATA of `rtype` if it is one of this module's types; `Ok(false)` if not.
pub fn typed_into(
    rtype: Rtype,
    f: &mut Fields<'_, '_>,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, RdataError> {
    match rtype.0 {
        11 => wks(f, out)?,
        19 => {
            let t = f.next("PSDN address")?;
            // RFC 1183 §3.1: decimal digits, the 4-digit DNIC first.
            if t.text.len() < 4 || !t.text.iter().all(u8::is_ascii_digit) {
                return Err(bad("PSDN address", t));
            }
            string_token(t, "PSDN address", out)?;
        }
        20 => {
            f.string("ISDN address", out)?;
            if f.peek().is_some() {
                f.string("subaddress", out)?;
            }
        }
        22 => {
            let t = f.next("NSAP address")?;
            let digits = t
                .text
                .strip_prefix(b"0x")
                .or_else(|| t.text.strip_prefix(b"0X"))
                .ok_or_else(|| bad("NSAP address", t))?;
            let at = out.len();
            hex_dotted(digits, out).ok_or_else(|| bad("NSAP address", t))?;
            if out.len() == at {
                return Err(bad("NSAP address", t));
            }
        }
        26 => {
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            f.name("MAP822", origin, out)?;
            f.name("MAPX400", origin, out)?;
        }
        27 => {
            for field in ["longitude", "latitude", "altitude"] {
                let t = f.next(field)?;
                let number = std::str::from_utf8(t.text)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok());
                if !number.is_some_and(f64::is_finite) {
                    return Err(bad(field, t));
                }
                string_token(t, field, out)?;
            }
        }
        30 => {
            f.name("next domain name", origin, out)?;
            nxt_bitmap(f, out)?;
        }
        34 => atma(f, out)?,
        37 => {
            let t = f.next("certificate type")?;
            let kind = text::u16_from(t.text)
                .or_else(|| cert_type(t.text))
                .ok_or_else(|| bad("certificate type", t))?;
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
            out.push(algorithm(f)?);
            base64_rest(f, "certificate", out)?;
        }
        38 => a6(f, origin, out)?,
        40 => {
            out.push(f.u8("meaning")?);
            out.push(f.u8("coding")?);
            out.push(f.u8("subcoding")?);
            if f.peek().is_some() {
                base64_rest(f, "data", out)?;
            }
        }
        45 => ipseckey(f, origin, out)?,
        55 => hip(f, origin, out)?,
        62 => {
            let t = f.next("SOA serial")?;
            let serial = text::u32_from(t.text).ok_or_else(|| bad("SOA serial", t))?;
            out.extend_from_slice(&serial.to_be_bytes());
            out.extend_from_slice(&f.u16("flags")?.to_be_bytes());
            rdata_dnssec::bitmap_into(f, out)?;
        }
        63 => {
            let t = f.next("serial")?;
            let serial = text::u32_from(t.text).ok_or_else(|| bad("serial", t))?;
            out.extend_from_slice(&serial.to_be_bytes());
            out.push(f.u8("scheme")?);
            let hash = f.u8("hash algorithm")?;
            out.push(hash);
            let at = out.len();
            hex_rest(f, "digest", false, out)?;
            zonemd_digest_fits(hash, out.len() - at)?;
        }
        66 => {
            let t = f.next("type")?;
            let rtype = Rtype::from_text(std::str::from_utf8(t.text).unwrap_or(""))
                .ok_or_else(|| bad("type", t))?;
            out.extend_from_slice(&rtype.0.to_be_bytes());
            let t = f.next("scheme")?;
            let scheme = text::u8_from(t.text)
                .or_else(|| t.text.eq_ignore_ascii_case(b"NOTIFY").then_some(1))
                .ok_or_else(|| bad("scheme", t))?;
            out.push(scheme);
            out.extend_from_slice(&f.u16("port")?.to_be_bytes());
            f.name("target", origin, out)?;
        }
        // NID and L64: preference and a 64-bit identifier as four 16-bit hex groups.
        104 | 106 => {
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            let t = f.next("identifier")?;
            hex_groups(t.text, out).ok_or_else(|| bad("identifier", t))?;
        }
        105 => {
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            let t = f.next("locator")?;
            let addr = std::str::from_utf8(t.text)
                .ok()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .ok_or_else(|| bad("locator", t))?;
            out.extend_from_slice(&addr.octets());
        }
        108 | 109 => {
            let t = f.next("address")?;
            let len = if rtype.0 == 108 { 6 } else { 8 };
            eui(t.text, len, out).ok_or_else(|| bad("address", t))?;
        }
        259 => {
            for field in ["enterprise", "type"] {
                let t = f.next(field)?;
                let v = text::u32_from(t.text).ok_or_else(|| bad(field, t))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.push(f.u8("location")?);
            f.string("media type", out)?;
            match f.peek() {
                Some(t) if t.text == b"-" && !t.quoted => {
                    f.next("data")?;
                }
                Some(_) => base64_rest(f, "data", out)?,
                None => return Err(RdataError::Missing("data")),
            }
        }
        260 => amtrelay(f, origin, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// WKS: address, protocol (number, `tcp` or `udp`), services (numbers or names).
fn wks(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let t = f.next("address")?;
    let addr = std::str::from_utf8(t.text)
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .ok_or_else(|| bad("address", t))?;
    out.extend_from_slice(&addr.octets());
    let t = f.next("protocol")?;
    let protocol = text::u8_from(t.text)
        .or_else(|| {
            PROTOCOLS
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(t.text))
                .map(|&(_, p)| p)
        })
        .ok_or_else(|| bad("protocol", t))?;
    out.push(protocol);
    let mut bits: Vec<u8> = Vec::new();
    for t in f.rest() {
        let port = text::u16_from(t.text)
            .or_else(|| {
                SERVICES
                    .iter()
                    .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(t.text))
                    .map(|&(_, p)| p)
            })
            .ok_or_else(|| bad("service", t))?;
        let (byte, bit) = (usize::from(port / 8), port % 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> bit;
    }
    out.extend_from_slice(&bits);
    Ok(())
}

/// Protocol names of WKS.
const PROTOCOLS: &[(&str, u8)] = &[("icmp", 1), ("tcp", 6), ("udp", 17)];

/// Service names of WKS (IANA port numbers; a fixed table, not the host's
/// /etc/services, so that a zone means the same on every machine).
const SERVICES: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("whois", 43),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("nntp", 119),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
];

/// Hex digits with optional dots between them (NSAP, ATMA), as octets.
fn hex_dotted(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let digits: Vec<u8> = text.iter().copied().filter(|&c| c != b'.').collect();
    if text.first() == Some(&b'.') || text.last() == Some(&b'.') {
        return None;
    }
    text::hex_into(&digits, out)
}

/// NXT's bitmap (RFC 2535 §5.2): bit N for type N, types 1 to 127, no windows.
fn nxt_bitmap(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let mut bits = [0u8; 16];
    let mut len = 0;
    for t in f.rest() {
        let rtype = Rtype::from_text(std::str::from_utf8(t.text).unwrap_or(""))
            .filter(|r| (1..128).contains(&r.0))
            .ok_or_else(|| bad("type", t))?;
        let n = usize::from(rtype.0);
        bits[n / 8] |= 0x80 >> (n % 8);
        len = len.max(n / 8 + 1);
    }
    out.extend_from_slice(&bits[..len]);
    Ok(())
}

/// ATMA: `+` and E.164 digits (format 1), or hex digits of an NSAP (format 0).
fn atma(f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let t = f.next("ATM address")?;
    if let Some(digits) = t.text.strip_prefix(b"+") {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("ATM address", t));
        }
        out.push(1);
        out.extend_from_slice(digits);
    } else {
        out.push(0);
        let at = out.len();
        hex_dotted(t.text, out).ok_or_else(|| bad("ATM address", t))?;
        if out.len() == at {
            return Err(bad("ATM address", t));
        }
    }
    Ok(())
}

/// CERT type mnemonics (RFC 4398 §2.1).
fn cert_type(text: &[u8]) -> Option<u16> {
    const TYPES: &[(&str, u16)] = &[
        ("PKIX", 1),
        ("SPKI", 2),
        ("PGP", 3),
        ("IPKIX", 4),
        ("ISPKI", 5),
        ("IPGP", 6),
        ("ACPKIX", 7),
        ("IACPKIX", 8),
        ("URI", 253),
        ("OID", 254),
    ];
    TYPES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text))
        .map(|&(_, v)| v)
}

/// A6: prefix length, the address suffix (the octets past the prefix), the prefix name.
fn a6(f: &mut Fields<'_, '_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), RdataError> {
    let t = f.next("prefix length")?;
    let prefix = text::u8_from(t.text)
        .filter(|&p| p <= 128)
        .ok_or_else(|| bad("prefix length", t))?;
    out.push(prefix);
    if prefix < 128 {
        let t = f.next("address suffix")?;
        let addr = std::str::from_utf8(t.text)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .ok_or_else(|| bad("address suffix", t))?;
        let skip = usize::from(prefix) / 8;
        out.extend_from_slice(&addr.octets()[skip..]);
    }
    if prefix > 0 {
        f.name("prefix name", origin, out)?;
    }
    Ok(())
}

/// IPSECKEY: precedence, gateway type, algorithm, gateway, public key (RFC 4025 §3.1).
fn ipseckey(f: &mut Fields<'_, '_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), RdataError> {
    out.push(f.u8("precedence")?);
    let t = f.next("gateway type")?;
    let kind = text::u8_from(t.text)
        .filter(|&k| k <= 3)
        .ok_or_else(|| bad("gateway type", t))?;
    out.push(kind);
    out.push(f.u8("algorithm")?);
    gateway(f, kind, "gateway", origin, out)?;
    if f.peek().is_some() {
        base64_rest(f, "public key", out)?;
    }
    Ok(())
}

/// A gateway or relay of type `kind`: 0 none (`.`), 1 IPv4, 2 IPv6, 3 a name.
fn gateway(
    f: &mut Fields<'_, '_>,
    kind: u8,
    field: &'static str,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    let t = f.next(field)?;
    let s = std::str::from_utf8(t.text).unwrap_or("");
    match kind {
        0 if t.text == b"." => {}
        1 => out.extend_from_slice(&s.parse::<Ipv4Addr>().map_err(|_| bad(field, t))?.octets()),
        2 => out.extend_from_slice(&s.parse::<Ipv6Addr>().map_err(|_| bad(field, t))?.octets()),
        3 => {
            text::name_into(t.text, origin, out).map_err(|error| RdataError::BadName {
                field,
                text: super::rdata_text::quoted(t.text),
                error,
            })?;
        }
        _ => return Err(bad(field, t)),
    }
    Ok(())
}

/// HIP: algorithm, HIT (hex), public key (base64), rendezvous servers (RFC 8005 §3).
/// The wire puts the lengths first: HIT length, algorithm, key length, HIT, key, names.
fn hip(f: &mut Fields<'_, '_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), RdataError> {
    let algorithm = f.u8("public key algorithm")?;
    let t = f.next("HIT")?;
    let mut hit = Vec::new();
    text::hex_into(t.text, &mut hit).ok_or_else(|| bad("HIT", t))?;
    let hit_len = u8::try_from(hit.len())
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| bad("HIT", t))?;
    let t = f.next("public key")?;
    let mut key = Vec::new();
    text::base64_into(std::iter::once(t.text), &mut key).ok_or_else(|| bad("public key", t))?;
    let key_len = u16::try_from(key.len()).map_err(|_| RdataError::TooLong)?;
    out.push(hit_len);
    out.push(algorithm);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(&hit);
    out.extend_from_slice(&key);
    while f.peek().is_some() {
        f.name("rendezvous server", origin, out)?;
    }
    Ok(())
}

/// ZONEMD digests: SHA-384 is 48 octets, SHA-512 64, any other at least 12 (RFC 8976
/// §2.2.4).
fn zonemd_digest_fits(hash: u8, len: usize) -> Result<(), RdataError> {
    let want = match hash {
        1 => Some(48),
        2 => Some(64),
        _ => None,
    };
    let fits = want.map_or(len >= 12, |w| len == w);
    if fits {
        Ok(())
    } else {
        Err(RdataError::Bad {
            field: "digest",
            text: format!("{len} octets do not fit hash algorithm {hash}"),
        })
    }
}

/// Four groups of four hex digits separated by colons (RFC 6742 §2.1.2, §2.3.2).
fn hex_groups(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let groups: Vec<&[u8]> = text.split(|&c| c == b':').collect();
    if groups.len() != 4 || groups.iter().any(|g| g.len() != 4) {
        return None;
    }
    for g in groups {
        text::hex_into(g, out)?;
    }
    Some(())
}

/// `len` pairs of hex digits separated by `-` (RFC 7043 §3.2, §4.2).
fn eui(text: &[u8], len: usize, out: &mut Vec<u8>) -> Option<()> {
    let pairs: Vec<&[u8]> = text.split(|&c| c == b'-').collect();
    if pairs.len() != len || pairs.iter().any(|p| p.len() != 2) {
        return None;
    }
    for p in pairs {
        text::hex_into(p, out)?;
    }
    Some(())
}

/// AMTRELAY: precedence, discovery-optional bit, relay type, relay (RFC 8777 §4.3).
fn amtrelay(f: &mut Fields<'_, '_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), RdataError> {
    out.push(f.u8("precedence")?);
    let t = f.next("discovery optional")?;
    let d = match t.text {
        b"0" => 0,
        b"1" => 0x80,
        _ => return Err(bad("discovery optional", t)),
    };
    let t = f.next("relay type")?;
    let kind = text::u8_from(t.text)
        .filter(|&k| k <= 3)
        .ok_or_else(|| bad("relay type", t))?;
    out.push(d | kind);
    if kind == 0 {
        // The relay is "." or absent.
        if f.peek().is_some_and(|t| t.text == b".") {
            f.next("relay")?;
        }
        return Ok(());
    }
    gateway(f, kind, "relay", origin, out)
}

#[cfg(test)]
mod tests {
    use super::super::lexer::Token;
    use super::*;

    fn wire(rtype: u16, text: &str) -> Result<Vec<u8>, RdataError> {
        let tokens: Vec<Token<'_>> = text
            .split_whitespace()
            .map(|t| Token {
                text: t.as_bytes(),
                quoted: false,
                line: 1,
            })
            .collect();
        let mut f = Fields::new(&tokens);
        let mut out = Vec::new();
        assert!(typed_into(
            Rtype(rtype),
            &mut f,
            b"\x07example\x00",
            &mut out
        )?);
        f.end()?;
        Ok(out)
    }

    #[test]
    fn rare_types_make_their_wire_form() {
        // WKS: 198.51.100.1, TCP, SMTP (25) and HTTP (80).
        let mut want = vec![198, 51, 100, 1, 6];
        want.extend_from_slice(&[0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(wire(11, "198.51.100.1 tcp smtp 80").unwrap(), want);
        assert_eq!(wire(22, "0x47.0005.80").unwrap(), [0x47, 0, 5, 0x80]);
        assert_eq!(wire(34, "+61200000000").unwrap(), b"\x0161200000000");
        assert_eq!(wire(34, "39246f").unwrap(), [0, 0x39, 0x24, 0x6f]);
        assert_eq!(
            wire(108, "00-00-5e-00-53-2a").unwrap(),
            [0, 0, 0x5e, 0, 0x53, 0x2a]
        );
        assert!(wire(108, "00-00-5e-00-53").is_err());
        assert_eq!(
            wire(104, "10 0014:4fff:ff20:ee64").unwrap(),
            [0, 10, 0, 0x14, 0x4f, 0xff, 0xff, 0x20, 0xee, 0x64]
        );
        assert_eq!(wire(105, "10 10.1.2.0").unwrap(), [0, 10, 10, 1, 2, 0]);
        assert_eq!(
            wire(37, "PKIX 1 RSASHA256 AAAA").unwrap(),
            [0, 1, 0, 1, 8, 0, 0, 0]
        );
        // A6 with a 64-bit prefix: eight octets of suffix, then the prefix name.
        let mut want = vec![64, 0, 0, 0, 0, 0, 0, 0, 1];
        want.extend_from_slice(b"\x01p\x07example\x00");
        assert_eq!(wire(38, "64 ::1 p").unwrap(), want);
        assert_eq!(wire(38, "0 2001:db8::1").unwrap()[..3], [0, 0x20, 0x01]);
        assert_eq!(
            wire(45, "10 1 2 198.51.100.38 AQNR").unwrap(),
            [10, 1, 2, 198, 51, 100, 38, 1, 3, 0x51]
        );
        assert_eq!(wire(45, "10 0 2 .").unwrap(), [10, 0, 2]);
        assert_eq!(wire(260, "10 1 0 .").unwrap(), [10, 0x80]);
        assert_eq!(
            wire(260, "10 0 1 203.0.113.15").unwrap(),
            [10, 1, 203, 0, 113, 15]
        );
        assert_eq!(
            wire(55, "2 2001 AQID").unwrap(),
            [2, 2, 0, 3, 0x20, 0x01, 1, 2, 3]
        );
        assert!(
            wire(63, "2021 1 1 abcd").is_err(),
            "SHA-384 digest is 48 octets"
        );
        assert_eq!(
            wire(66, "CDS NOTIFY 5359 ds.").unwrap(),
            b"\x00\x3b\x01\x14\xef\x02ds\x00"
        );
        assert_eq!(wire(30, "a. A NS").unwrap(), b"\x01a\x00\x60");
        assert!(wire(30, "a. TYPE300").is_err());
        assert!(wire(19, "12").is_err());
    }
}
