//! SVCB and HTTPS RDATA from presentation format (RFC 9460 §2.1 and Appendix A):
//! priority, target name, then SvcParams `key=value` in any order, written in wire
//! format sorted by key. Keys: mandatory (0), alpn (1), no-default-alpn (2), port (3),
//! ipv4hint (4), ech (5), ipv6hint (6), dohpath (7, RFC 9461), ohttp (8, RFC 9540) and
//! `keyNNNNN` for any other.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rdata_text::{Fields, RdataError, quoted};
use super::text;

const KEY_NAMES: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
    ("ohttp", 8),
];

fn svcb_error(message: String) -> RdataError {
    RdataError::Svcb(message)
}

/// Parses a key name (`alpn`, `key65000`): lower case, as RFC 9460 §2.1 writes them,
/// and `keyNNNNN` without leading zeros.
fn key_from(name: &[u8]) -> Result<u16, RdataError> {
    if let Some(&(_, key)) = KEY_NAMES.iter().find(|(n, _)| n.as_bytes() == name) {
        return Ok(key);
    }
    let number = name
        .strip_prefix(b"key")
        .filter(|d| d == b"0" || !d.starts_with(b"0"))
        .and_then(text::u16_from);
    match number {
        Some(65535) => Err(svcb_error(
            "SvcParamKey key65535 is reserved (RFC 9460 §14.3.2)".into(),
        )),
        Some(key) => Ok(key),
        None => {
            let lower = name.to_ascii_lowercase();
            let hint = match KEY_NAMES.iter().find(|(n, _)| n.as_bytes() == lower) {
                Some((n, _)) => format!(" (keys are lower case: {n})"),
                None if lower.starts_with(b"key") => " (write keyNNNNN, 0 to 65534)".into(),
                None => String::new(),
            };
            Err(svcb_error(format!(
                "unknown SvcParamKey '{}'{hint}",
                quoted(name)
            )))
        }
    }
}

/// Appends SVCB/HTTPS RDATA.
pub fn svcb_into(
    f: &mut Fields<'_, '_>,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RdataError> {
    out.extend_from_slice(&f.u16("priority")?.to_be_bytes());
    f.name("target name", origin, out)?;
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let tokens = f.rest();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        i += 1;
        let (key_text, value): (&[u8], Option<&[u8]>) = match t.text.iter().position(|&c| c == b'=')
        {
            None => (t.text, None),
            Some(eq) if eq + 1 == t.text.len() => {
                // `key="quoted value"`: the tokenizer cut the token at the quote.
                match tokens.get(i) {
                    Some(next) if next.quoted => {
                        i += 1;
                        (&t.text[..eq], Some(next.text))
                    }
                    _ => (&t.text[..eq], Some(&[][..])),
                }
            }
            Some(eq) => (&t.text[..eq], Some(&t.text[eq + 1..])),
        };
        let key = key_from(key_text)?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(svcb_error(format!(
                "SvcParamKey '{}' appears twice",
                quoted(key_text)
            )));
        }
        let mut decoded = Vec::new();
        if let Some(v) = value {
            text::unescape_into(v, &mut decoded).ok_or_else(|| {
                svcb_error(format!("bad escape in the value of '{}'", quoted(key_text)))
            })?;
        }
        let wire = param_value(key, key_text, value.is_some(), &decoded)?;
        params.push((key, wire));
    }
    params.sort_unstable_by_key(|(k, _)| *k);
    if let Some((_, mandatory)) = params.iter().find(|(k, _)| *k == 0) {
        for pair in mandatory.chunks_exact(2) {
            let listed = u16::from_be_bytes([pair[0], pair[1]]);
            if !params.iter().any(|(k, _)| *k == listed) {
                return Err(svcb_error(format!(
                    "mandatory SvcParamKey {} is missing",
                    key_name(listed)
                )));
            }
        }
    }
    if params.iter().any(|(k, _)| *k == 2) && !params.iter().any(|(k, _)| *k == 1) {
        return Err(svcb_error(
            "no-default-alpn without alpn (RFC 9460 §7.1.1)".into(),
        ));
    }
    for (key, value) in &params {
        let len = u16::try_from(value.len()).map_err(|_| RdataError::TooLong)?;
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(())
}

fn key_name(key: u16) -> String {
    match KEY_NAMES.iter().find(|(_, k)| *k == key) {
        Some((n, _)) => (*n).to_string(),
        None => format!("key{key}"),
    }
}

/// The wire value of SvcParam `key` from its decoded presentation value.
fn param_value(
    key: u16,
    key_text: &[u8],
    has_value: bool,
    value: &[u8],
) -> Result<Vec<u8>, RdataError> {
    let name = quoted(key_text);
    let need_value = || {
        if value.is_empty() {
            Err(svcb_error(format!("SvcParamKey '{name}' needs a value")))
        } else {
            Ok(())
        }
    };
    let mut wire = Vec::new();
    match key {
        0 => {
            need_value()?;
            let mut keys = Vec::new();
            for item in value_list(value)? {
                let k = key_from(&item)?;
                if k == 0 {
                    return Err(svcb_error("mandatory lists itself".into()));
                }
                if keys.contains(&k) {
                    return Err(svcb_error(format!(
                        "key '{}' twice in mandatory",
                        quoted(&item)
                    )));
                }
                keys.push(k);
            }
            keys.sort_unstable();
            for k in keys {
                wire.extend_from_slice(&k.to_be_bytes());
            }
        }
        1 => {
            need_value()?;
            for id in value_list(value)? {
                let len = u8::try_from(id.len())
                    .map_err(|_| svcb_error("alpn ID longer than 255 octets".into()))?;
                wire.push(len);
                wire.extend_from_slice(&id);
            }
        }
        2 | 8 => {
            if has_value {
                return Err(svcb_error(format!("SvcParamKey '{name}' takes no value")));
            }
        }
        3 => {
            let port = text::u16_from(value)
                .ok_or_else(|| svcb_error(format!("bad port '{}'", quoted(value))))?;
            wire.extend_from_slice(&port.to_be_bytes());
        }
        4 | 6 => {
            need_value()?;
            for item in value_list(value)? {
                let text = std::str::from_utf8(&item).unwrap_or("");
                let ok = if key == 4 {
                    text.parse::<Ipv4Addr>()
                        .map(|a| wire.extend_from_slice(&a.octets()))
                } else {
                    text.parse::<Ipv6Addr>()
                        .map(|a| wire.extend_from_slice(&a.octets()))
                };
                ok.map_err(|_| svcb_error(format!("bad address '{}' in {name}", quoted(&item))))?;
            }
        }
        7 => {
            // RFC 9461 §5: a URI template, never empty.
            need_value()?;
            wire.extend_from_slice(value);
        }
        5 => {
            need_value()?;
            text::base64_into(std::iter::once(value), &mut wire)
                .ok_or_else(|| svcb_error("ech is not valid base64".into()))?;
        }
        _ => wire.extend_from_slice(value),
    }
    Ok(wire)
}

/// Splits a decoded value-list on commas, `\,` and `\\` escaping within an item
/// (RFC 9460 Appendix A.1). Empty items are refused.
fn value_list(value: &[u8]) -> Result<Vec<Vec<u8>>, RdataError> {
    let mut items = Vec::new();
    let mut item = Vec::new();
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                item.push(value[i + 1]);
                i += 2;
            }
            b',' => {
                items.push(std::mem::take(&mut item));
                i += 1;
            }
            c => {
                item.push(c);
                i += 1;
            }
        }
    }
    items.push(item);
    if items.iter().any(Vec::is_empty) {
        return Err(svcb_error("empty item in a comma-separated list".into()));
    }
    Ok(items)
}
