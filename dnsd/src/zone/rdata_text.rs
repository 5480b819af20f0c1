//! RDATA from presentation format to wire format, per type: RFC 1035 §3.3 (A, NS,
//! CNAME, SOA, PTR, MX, TXT, HINFO), RFC 3596 (AAAA), 2782 (SRV), 6672 (DNAME),
//! 3403 (NAPTR), 4034 (DS, DNSKEY), 4255 (SSHFP), 6698 (TLSA), 8659 (CAA), 7553 (URI),
//! 9460 (SVCB/HTTPS, in `rdata_svcb`), RRSIG, NSEC, NSEC3, NSEC3PARAM (in
//! `rdata_dnssec`), and any type in the RFC 3597 `\# len hex` form.
//!
//! Every parser is hand-written over the tokens of the file buffer and writes into a
//! caller-owned buffer: the common types are what a million-name zone is made of, and
//! hickory's parsers know no origin for relative names (RFC 1035 §5.1).

use std::net::Ipv6Addr;

use super::lexer::Token;
use super::rdata_dnssec;
use super::rdata_svcb;
use super::record::Rtype;
use super::text::{self, StringError};
use crate::wire::name::{self, NameError};

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
            Some(t) => Err(RdataError::Trailing(lossy(t.text))),
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
            text: lossy(t.text),
            error,
        })
    }

    /// A <character-string> appended to `out`.
    pub fn string(&mut self, field: &'static str, out: &mut Vec<u8>) -> Result<(), RdataError> {
        let t = self.next(field)?;
        string_into(t, field, out)
    }
}

/// The token's text for an error message.
pub fn lossy(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// `Bad { field, text }` for token `t`.
pub fn bad(field: &'static str, t: &Token<'_>) -> RdataError {
    RdataError::Bad {
        field,
        text: lossy(t.text),
    }
}

fn string_into(t: &Token<'_>, field: &'static str, out: &mut Vec<u8>) -> Result<(), RdataError> {
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
        // NS, CNAME, PTR, DNAME: one name.
        2 | 5 | 12 | 39 => f.name("target name", origin, out)?,
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
        // MX (RFC 1035), AFSDB (RFC 1183), KX (RFC 2230): preference and a name.
        15 | 18 | 36 => {
            out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
            f.name("exchange", origin, out)?;
        }
        // TXT and SPF: one or more character-strings.
        16 | 99 => {
            f.string("text", out)?;
            for t in f.rest() {
                string_into(t, "text", out)?;
            }
        }
        13 => {
            f.string("CPU", out)?;
            f.string("OS", out)?;
        }
        17 => {
            f.name("mailbox", origin, out)?;
            f.name("TXT owner", origin, out)?;
        }
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
        // DS, CDS: key tag, algorithm, digest type, digest.
        43 | 59 => {
            out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
            out.push(algorithm(f)?);
            out.push(f.u8("digest type")?);
            hex_rest(f, "digest", false, out)?;
        }
        44 => {
            out.push(f.u8("algorithm")?);
            out.push(f.u8("fingerprint type")?);
            hex_rest(f, "fingerprint", false, out)?;
        }
        // DNSKEY, CDNSKEY: flags, protocol, algorithm, public key.
        48 | 60 => {
            out.extend_from_slice(&f.u16("flags")?.to_be_bytes());
            out.push(f.u8("protocol")?);
            out.push(algorithm(f)?);
            base64_rest(f, "public key", out)?;
        }
        // TLSA, SMIMEA: usage, selector, matching type, data.
        52 | 53 => {
            out.push(f.u8("certificate usage")?);
            out.push(f.u8("selector")?);
            out.push(f.u8("matching type")?);
            hex_rest(f, "certificate association data", false, out)?;
        }
        46 => rdata_dnssec::rrsig_into(f, origin, out)?,
        47 => rdata_dnssec::nsec_into(f, origin, out)?,
        50 => rdata_dnssec::nsec3_into(f, true, out)?,
        51 => rdata_dnssec::nsec3_into(f, false, out)?,
        61 => base64_rest(f, "public key", out)?,
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
        _ => return Err(RdataError::Unsupported(rtype)),
    }
    Ok(())
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

/// RFC 3597 §5: `\# length hex...`, for any type. For the types whose RDATA holds
/// names or has a fixed shape, the data must be valid for the type, since the answer
/// engine reads it (additional-section names, the SOA).
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

/// Whether `rdata` is well-formed for `rtype`, for the types whose shape is checked.
pub fn wire_fits_type(rtype: Rtype, rdata: &[u8]) -> bool {
    let name_at = |at: usize| rdata.get(at..).and_then(name::wire_len);
    match rtype.0 {
        1 => rdata.len() == 4,
        28 => rdata.len() == 16,
        2 | 5 | 12 | 39 => name_at(0) == Some(rdata.len()),
        15 | 18 | 36 => name_at(2).is_some_and(|n| 2 + n == rdata.len()),
        33 => name_at(6).is_some_and(|n| 6 + n == rdata.len()),
        6 => name_at(0)
            .and_then(|m| Some(m + name_at(m)?))
            .is_some_and(|names| names + 20 == rdata.len()),
        _ => true,
    }
}

/// Decodes the remaining tokens as one run of hex digits (they may be split by spaces).
fn hex_rest(
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

fn base64_rest(
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
