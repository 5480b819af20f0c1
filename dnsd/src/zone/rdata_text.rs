//! RDATA from presentation format to wire format, per type: RFC 1035 §3.3 (A, NS,
//! CNAME, SOA, PTR, MX, TXT, HINFO, MINFO, MB, MG, MR, MD, MF), RFC 3596 (AAAA), 1183
//! (RP, AFSDB, RT), 2230 (KX), 2782 (SRV), 6672 (DNAME), 3403 (NAPTR), 4034 (DS,
//! DNSKEY, and SIG, KEY, CDS, CDNSKEY, TA, DLV, RKEY in the same forms), 4255 (SSHFP),
//! 6698 (TLSA), 8162 (SMIMEA), 7929 (OPENPGPKEY), 4701 (DHCID), 8659 (CAA), 7553 (URI),
//! the TXT-like AVC, NINFO, RESINFO, WALLET, SPF, and TALINK; then `rdata_svcb` (SVCB,
//! HTTPS), `rdata_dnssec` (RRSIG, NSEC, NSEC3, NSEC3PARAM), `rdata_loc` (LOC, APL),
//! `rdata_misc` (the rarer types), and any type in the RFC 3597 `\# len hex` form,
//! checked against the type's layout by `rdata_wire`.
//!
//! Every parser is hand-written over the tokens of the file buffer and writes into a
//! caller-owned buffer: the common types are what a million-name zone is made of, and
//! hickory's parsers know no origin for relative names (RFC 1035 §5.1).

use std::net::Ipv6Addr;

use super::lexer::Token;
use super::rdata_dnssec;
use super::rdata_loc;
use super::rdata_misc;
use super::rdata_svcb;
use super::rdata_wire;
use super::record::Rtype;
use super::text::{self, StringError};
use crate::wire::name::NameError;

/// Why a record's RDATA text is not valid for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdataError {
    /// A field is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// Tokens left over after the last field.
    #[error("unexpected '{0}' after the last field")]
    Trailing(String),
    /// A field that does not parse.
    #[error("bad {field} '{text}'")]
    Bad {
        /// Which field.
        field: &'static str,
        /// Its text.
        text: String,
    },
    /// A domain name that does not parse.
    #[error("bad {field} '{text}': {error}")]
    BadName {
        /// Which field.
        field: &'static str,
        /// Its text.
        text: String,
        /// Why.
        error: NameError,
    },
    /// A character-string above 255 octets; NSD refuses these too rather than split.
    #[error("text string is longer than 255 octets; split it into several quoted strings")]
    StringTooLong,
    /// A type with no presentation-format parser here.
    #[error("no presentation format known for {0}; write it in RFC 3597 form (\\# length hex)")]
    Unsupported(Rtype),
    /// RFC 3597 form whose length does not match its data.
    #[error("\\# says {said} octets but the data has {has}")]
    GenericLength {
        /// Declared length.
        said: usize,
        /// Octets actually given.
        has: usize,
    },
    /// RFC 3597 form of a known type whose data is not valid for the type.
    #[error("\\# data is not valid {0} RDATA")]
    GenericInvalid(Rtype),
    /// An SVCB/HTTPS parameter problem (RFC 9460).
    #[error("{0}")]
    Svcb(String),
    /// RDATA above 65535 octets.
    #[error("RDATA longer than 65535 octets")]
    TooLong,
}

/// The RDATA fields of one record, consumed front to back.
pub struct Fields<'t, 'a> {
    tokens: &'t [Token<'a>],
    at: usize,
}

impl<'t, 'a> Fields<'t, 'a> {
    /// Fields over `tokens`.
    pub fn new(tokens: &'t [Token<'a>]) -> Self {
        Self { tokens, at: 0 }
    }

    /// The next token, or `Missing(field)`.
    pub fn next(&mut self, field: &'static str) -> Result<&'t Token<'a>, RdataError> {
        let token = self.tokens.get(self.at).ok_or(RdataError::Missing(field))?;
        self.at += 1;
        Ok(token)
    }

    /// The next token, if any.
    pub fn peek(&self) -> Option<&'t Token<'a>> {
        self.tokens.get(self.at)
    }

    /// All remaining tokens.
    pub fn rest(&mut self) -> &'t [Token<'a>] {
        let rest = &self.tokens[self.at.min(self.tokens.len())..];
        self.at = self.tokens.len();
        rest
    }

    /// Fails if any token is left.
    pub fn end(&self) -> Result<(), RdataError> {
        match self.tokens.get(self.at) {
            Some(t) => Err(RdataError::Trailing(quoted(t.text))),
            None => Ok(()),
        }
    }

    /// A decimal `u8`.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, RdataError> {
        let t = self.next(field)?;
        text::u8_from(t.text).ok_or_else(|| bad(field, t))
    }

    /// A decimal `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, RdataError> {
        let t = self.next(field)?;
        text::u16_from(t.text).ok_or_else(|| bad(field, t))
    }

    /// A domain name, relative to `origin`, appended to `out`.
    pub fn name(
        &mut self,
        field: &'static str,
        origin: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RdataError> {
        let t = self.next(field)?;
        text::name_into(t.text, origin, out).map_err(|error| RdataError::BadName {
            field,
            text: quoted(t.text),
            error,
        })
    }

    /// A <character-string> appended to `out`.
    pub fn string(&mut self, field: &'static str, out: &mut Vec<u8>) -> Result<(), RdataError> {
        let t = self.next(field)?;
        string_token(t, field, out)
    }
}

/// The token's text for an error message: short and escaped (`quote::token`).
pub fn quoted(text: &[u8]) -> String {
    super::quote::token(text)
}

/// `Bad { field, text }` for token `t`.
pub fn bad(field: &'static str, t: &Token<'_>) -> RdataError {
    RdataError::Bad {
        field,
        text: quoted(t.text),
    }
}

/// Appends token `t` as a <character-string>.
pub(crate) fn string_token(
    t: &Token<'_>,
    field: &'static str,
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    text::char_string_into(t.text, out).map_err(|e| match e {
        StringError::TooLong => RdataError::StringTooLong,
        StringError::BadEscape => bad(field, t),
    })
}

/// Appends the RDATA of a record of type `rtype` written as `tokens` to `out`.
/// Names are relative to `origin` (absolute, wire format).
pub fn rdata_into(
    rtype: Rtype,
    tokens: &[Token<'_>],
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    let start = out.len();
    let mut f = Fields::new(tokens);
    if let Some(first) = f.peek()
        && !first.quoted
        && first.text == b"\\#"
    {
        f.next("\\#")?;
        generic_into(rtype, &mut f, out)?;
    } else {
        typed_into(rtype, &mut f, origin, out)?;
        f.end()?;
    }
    if out.len() - start > usize::from(u16::MAX) {
        return Err(RdataError::TooLong);
    }
    Ok(())
}

fn typed_into(
    rtype: Rtype,
    f: &mut Fields<'_, '_>,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    match rtype.0 {
        1 => {
            let t = f.next("IPv4 address")?;
            let octets = ipv4(t.text).ok_or_else(|| bad("IPv4 address", t))?;
            out.extend_from_slice(&octets);
        }
        28 => {
            let t = f.next("IPv6 address")?;
            let addr = std::str::from_utf8(t.text)
                .ok()
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .ok_or_else(|| bad("IPv6 address", t))?;
            out.extend_from_slice(&addr.octets());
        }
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, NSAP-PTR, DNAME: one name.
        2..=5 | 7..=9 | 12 | 23 | 39 => f.name("target name", origin, out)?,
        6 => {
            f.name("primary server (MNAME)", origin, out)?;
            f.name("mailbox (RNAME)", origin, out)?;
            let t = f.next("serial")?;
            let serial = text::u32_from(t.text).ok_or_else(|| bad("serial", t))?;
            out.extend_from_slice(&serial.to_be_bytes());
            for field in ["refresh", "retry", "expire", "minimum"] {
                let t = f.next(field)?;
                let v = text::ttl(t.text).ok_or_else(|| bad(field, t))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        // MX (RFC 1035), AFSDB, RT (RFC 1183), KX (RFC 2230), LP (RFC 6742):
        // preference and a name.
        15 | 18 | 21 | 36 | 107 => {
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            f.name("exchange", origin, out)?;
        }
        // TXT, SPF, NINFO, AVC, RESINFO, WALLET: one or more character-strings.
        16 | 99 | 56 | 258 | 261 | 262 => {
            f.string("text", out)?;
            for t in f.rest() {
                string_token(t, "text", out)?;
            }
        }
        13 => {
            f.string("CPU", out)?;
            f.string("OS", out)?;
        }
        // MINFO, RP, TALINK: two names.
        14 | 17 | 58 => {
            f.name("first name", origin, out)?;
            f.name("second name", origin, out)?;
        }
        29 => rdata_loc::loc_into(f, out)?,
        42 => rdata_loc::apl_into(f, out)?,
        33 => {
            for field in ["priority", "weight", "port"] {
                out.extend_from_slice(&f.u16(field)?.to_be_bytes());
            }
            f.name("target", origin, out)?;
        }
        35 => {
            out.extend_from_slice(&f.u16("order")?.to_be_bytes());
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            f.string("flags", out)?;
            f.string("services", out)?;
            f.string("regexp", out)?;
            f.name("replacement", origin, out)?;
        }
        // DS, CDS, TA, DLV: key tag, algorithm, digest type, digest.
        43 | 59 | 32768 | 32769 => {
            out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
            out.push(algorithm(f)?);
            let digest_type = f.u8("digest type")?;
            out.push(digest_type);
            let at = out.len();
            hex_rest(f, "digest", false, out)?;
            digest_fits(digest_type, out.len() - at)?;
        }
        44 => {
            out.push(f.u8("algorithm")?);
            out.push(f.u8("fingerprint type")?);
            hex_rest(f, "fingerprint", false, out)?;
        }
        // DNSKEY, CDNSKEY, RKEY, KEY: flags, protocol, algorithm, public key (which a
        // KEY may lack, RFC 2535 §3.1.2).
        25 | 48 | 57 | 60 => {
            out.extend_from_slice(&f.u16("flags")?.to_be_bytes());
            out.push(f.u8("protocol")?);
            out.push(algorithm(f)?);
            if rtype.0 != 25 || f.peek().is_some() {
                base64_rest(f, "public key", out)?;
            }
        }
        // TLSA, SMIMEA: usage, selector, matching type, data.
        52 | 53 => {
            out.push(f.u8("certificate usage")?);
            out.push(f.u8("selector")?);
            out.push(f.u8("matching type")?);
            hex_rest(f, "certificate association data", false, out)?;
        }
        24 | 46 => rdata_dnssec::rrsig_into(f, origin, out)?,
        47 => rdata_dnssec::nsec_into(f, origin, out)?,
        50 => rdata_dnssec::nsec3_into(f, true, out)?,
        51 => rdata_dnssec::nsec3_into(f, false, out)?,
        // OPENPGPKEY, DHCID: base64.
        61 | 49 => base64_rest(f, "data", out)?,
        // EID, NIMLOC: hex.
        31 | 32 => hex_rest(f, "data", false, out)?,
        64 | 65 => rdata_svcb::svcb_into(f, origin, out)?,
        256 => {
            out.extend_from_slice(&f.u16("priority")?.to_be_bytes());
            out.extend_from_slice(&f.u16("weight")?.to_be_bytes());
            let t = f.next("target")?;
            text::unescape_into(t.text, out).ok_or_else(|| bad("target", t))?;
        }
        257 => {
            out.push(f.u8("flags")?);
            let t = f.next("tag")?;
            let tag_ok = !t.text.is_empty()
                && t.text.len() <= 255
                && t.text.iter().all(|c| c.is_ascii_alphanumeric());
            if !tag_ok {
                return Err(bad("tag", t));
            }
            out.push(t.text.len() as u8);
            out.extend_from_slice(t.text);
            let t = f.next("value")?;
            text::unescape_into(t.text, out).ok_or_else(|| bad("value", t))?;
        }
        _ => {
            if !rdata_misc::typed_into(rtype, f, origin, out)? {
                return Err(RdataError::Unsupported(rtype));
            }
        }
    }
    Ok(())
}

/// Checks a DS-style digest's length for the digest types whose length is known
/// (SHA-1 20, SHA-256 32, GOST 32, SHA-384 48: RFC 3658, 4509, 5933, 6605), as BIND
/// does.
pub(crate) fn digest_fits(digest_type: u8, len: usize) -> Result<(), RdataError> {
    let want = match digest_type {
        1 => 20,
        2 | 3 => 32,
        4 => 48,
        _ => return Ok(()),
    };
    if len == want {
        Ok(())
    } else {
        Err(RdataError::Bad {
            field: "digest",
            text: format!("{len} octets where digest type {digest_type} has {want}"),
        })
    }
}

/// A dotted-quad IPv4 address, as strict as `Ipv4Addr::from_str` (four decimal
/// octets, no leading zeros), without its UTF-8 check: A records are most of a zone.
fn ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &c in text {
        match c {
            b'.' => {
                if digits == 0 || n == 3 {
                    return None;
                }
                octets[n] = value as u8;
                n += 1;
                (value, digits) = (0, 0);
            }
            b'0'..=b'9' => {
                if digits > 0 && value == 0 {
                    return None;
                }
                value = value * 10 + u32::from(c - b'0');
                digits += 1;
                if value > 255 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if n != 3 || digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(octets)
}

/// RFC 3597 §5: `\# length hex...`, for any type. For a type known here the data must
/// be valid for the type (RFC 3597 §5), as NSD, Knot and BIND require: the answer
/// engine reads some of it (additional-section names, the SOA), and resolvers reject
/// malformed RDATA.
fn generic_into(rtype: Rtype, f: &mut Fields<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataError> {
    let t = f.next("RDATA length")?;
    let said = text::u16_from(t.text).ok_or_else(|| bad("RDATA length", t))?;
    let start = out.len();
    hex_rest(f, "RDATA hex", true, out)?;
    let has = out.len() - start;
    if has != usize::from(said) {
        return Err(RdataError::GenericLength {
            said: said.into(),
            has,
        });
    }
    if !wire_fits_type(rtype, &out[start..]) {
        return Err(RdataError::GenericInvalid(rtype));
    }
    Ok(())
}

/// Whether `rdata` is well formed for `rtype` (`rdata_wire`; unknown types pass).
pub fn wire_fits_type(rtype: Rtype, rdata: &[u8]) -> bool {
    rdata_wire::fits(rtype.0, rdata)
}

/// Decodes the remaining tokens as one run of hex digits (they may be split by spaces).
pub(crate) fn hex_rest(
    f: &mut Fields<'_, '_>,
    field: &'static str,
    allow_empty: bool,
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    let rest = f.rest();
    if rest.is_empty() && !allow_empty {
        return Err(RdataError::Missing(field));
    }
    let mut half: Option<u8> = None;
    for t in rest {
        for &c in t.text {
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(bad(field, t)),
            };
            match half.take() {
                Some(high) => out.push(high << 4 | v),
                None => half = Some(v),
            }
        }
    }
    if half.is_some() {
        return Err(RdataError::Bad {
            field,
            text: "odd number of hex digits".into(),
        });
    }
    Ok(())
}

/// Decodes the remaining tokens as one run of base64.
pub(crate) fn base64_rest(
    f: &mut Fields<'_, '_>,
    field: &'static str,
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    let rest = f.rest();
    if rest.is_empty() {
        return Err(RdataError::Missing(field));
    }
    text::base64_into(rest.iter().map(|t| t.text), out).ok_or_else(|| RdataError::Bad {
        field,
        text: "not valid base64".into(),
    })
}

/// A DNSSEC algorithm, by number or mnemonic (RFC 4034 Appendix A.1, RFC 8624).
pub(crate) fn algorithm(f: &mut Fields<'_, '_>) -> Result<u8, RdataError> {
    const MNEMONICS: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    let t = f.next("algorithm")?;
    if let Some(v) = text::u8_from(t.text) {
        return Ok(v);
    }
    MNEMONICS
        .iter()
        .find(|(m, _)| m.as_bytes().eq_ignore_ascii_case(t.text))
        .map(|&(_, v)| v)
        .ok_or_else(|| bad("algorithm", t))
}

#[cfg(test)]
#[path = "rdata_text_tests.rs"]
mod tests;
