//! TSIG for UPDATE (RFC 8945): the keys `[update] key-files` names, read from BIND's
//! key-file format (`tsig-keygen` output, usable by `nsupdate -k`), the check of a
//! signed request (§5.2: key, MAC, time) and the signing of its response (§5.3).
//!
//! The MAC work is hickory's (`TSigner`); this module keeps the key ring and maps
//! the outcomes onto RCODEs and TSIG errors: an unknown key → NOTAUTH + BADKEY, a
//! wrong MAC → NOTAUTH + BADSIG (both unsigned, §5.3.2), a time outside the fudge →
//! NOTAUTH + BADTIME (signed, with our time as Other Data: made by `crate::tsig`, as
//! hickory leaves that out).
//!
//! Issue 8 (transfers) brings dnsd's own TSIG module and key ring; once it lands the
//! key ring here is to be taken from it (the key-file format is the same).

use data_encoding::BASE64;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name as HName, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::wire::name::Name;

/// Allowed clock difference when the client sends none smaller (seconds).
const FUDGE: u16 = 300;

/// One key.
#[derive(Clone)]
pub struct Key {
    /// Its name, lowercased (the identity policies name).
    pub name: Name,
    signer: TSigner,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.name)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.signer.key() == other.signer.key()
            && self.signer.algorithm() == other.signer.algorithm()
    }
}

impl Eq for Key {}

/// How a request is authenticated.
pub enum Auth {
    /// No TSIG record.
    Unsigned,
    /// A valid TSIG: the key, the request's MAC and the time to sign the response
    /// with.
    Signed {
        /// The key that signed it.
        key: Key,
        /// The request's MAC (the response's MAC covers it).
        mac: Vec<u8>,
    },
    /// A TSIG that fails: the RCODE (NOTAUTH) and how to sign the error response.
    Failed {
        /// What failed, for the log.
        why: String,
        /// The NOTAUTH response, or how to sign it.
        reply: FailedReply,
    },
}

/// The response to a request whose TSIG failed.
pub enum FailedReply {
    /// The NOTAUTH response is to be signed (or not, per RFC 8945 §5.3.2) by this.
    Sign(TSigResponseContext),
    /// The whole response, made by `crate::tsig` (BADTIME: signed, with our time in
    /// Other Data, §5.2.3, which hickory's signer leaves out).
    Ready(Vec<u8>),
}

impl FailedReply {
    /// The bytes to send for `request`, whose NOTAUTH response is `response`.
    pub fn into_bytes(self, response: Vec<u8>) -> Vec<u8> {
        match self {
            FailedReply::Sign(context) => sign(response, context),
            FailedReply::Ready(bytes) => bytes,
        }
    }
}

/// The BADTIME response to `request` signed by `key` (RFC 8945 §5.2.3), made by
/// `crate::tsig`; None if that module does not see a BADTIME (or the algorithm).
fn badtime_response(key: &Key, request: &[u8], now: u64) -> Option<Vec<u8>> {
    use crate::tsig::{Algorithm, Check, FailureKind, KeyRing};
    let algorithm = match key.signer.algorithm() {
        TsigAlgorithm::HmacSha1 => Algorithm::HmacSha1,
        TsigAlgorithm::HmacSha256 => Algorithm::HmacSha256,
        TsigAlgorithm::HmacSha384 => Algorithm::HmacSha384,
        TsigAlgorithm::HmacSha512 => Algorithm::HmacSha512,
        _ => return None,
    };
    let mut ring = KeyRing::new();
    ring.insert(crate::tsig::Key::new(
        &key.name,
        algorithm,
        key.signer.key(),
    ));
    match ring.check_request(request, now) {
        Check::Failed(failure) if failure.kind == FailureKind::BadTime => {
            let mut out = Vec::new();
            crate::tsig::failure_response(request, &failure, now, &mut out);
            Some(out)
        }
        _ => None,
    }
}

/// Reads the keys of a BIND key file: `key "NAME" { algorithm ALG; secret "B64"; };`,
/// several per file, with `#`, `//` and `/* */` comments. Errors name the file's line.
pub fn read_key_file(text: &str) -> Result<Vec<Key>, String> {
    let tokens = tokenize(text)?;
    let mut keys = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize| -> Result<&(String, usize), String> {
        let t = tokens.get(*i).ok_or("unexpected end of file")?;
        *i += 1;
        Ok(t)
    };
    while i < tokens.len() {
        let (word, line) = next(&mut i)?;
        if word != "key" {
            return Err(format!("line {line}: expected `key`, found {word:?}"));
        }
        let (name, line) = next(&mut i)?.clone();
        let text = if name.ends_with('.') {
            name.clone()
        } else {
            format!("{name}.")
        };
        let name = Name::from_text(&text, None)
            .map_err(|e| format!("line {line}: {name:?} is not a key name: {e}"))?
            .to_lowercase();
        if next(&mut i)?.0 != "{" {
            return Err(format!("line {line}: expected `{{` after the key's name"));
        }
        let (mut algorithm, mut secret) = (None, None);
        loop {
            let (word, line) = next(&mut i)?.clone();
            if word == "}" {
                break;
            }
            let (value, _) = next(&mut i)?.clone();
            if next(&mut i)?.0 != ";" {
                return Err(format!("line {line}: expected `;` after {word}"));
            }
            match word.as_str() {
                "algorithm" => algorithm = Some((value, line)),
                "secret" => secret = Some((value, line)),
                _ => return Err(format!("line {line}: unknown key clause {word:?}")),
            }
        }
        if tokens.get(i).is_some_and(|t| t.0 == ";") {
            i += 1;
        }
        let (algorithm, aline) =
            algorithm.ok_or(format!("line {line}: key {name} has no algorithm"))?;
        let (secret, sline) = secret.ok_or(format!("line {line}: key {name} has no secret"))?;
        let alg = algorithm_of(&algorithm)
            .ok_or(format!("line {aline}: algorithm {algorithm:?} is not supported (hmac-sha256, -sha384, -sha512, -sha224, -sha1)"))?;
        let secret = BASE64
            .decode(secret.as_bytes())
            .map_err(|e| format!("line {sline}: the secret is not base64: {e}"))?;
        let hname =
            HName::from_ascii(name.to_string()).map_err(|e| format!("line {line}: {name}: {e}"))?;
        let signer =
            TSigner::new(secret, alg, hname, FUDGE).map_err(|e| format!("line {aline}: {e}"))?;
        keys.push(Key { name, signer });
    }
    Ok(keys)
}

fn algorithm_of(text: &str) -> Option<TsigAlgorithm> {
    Some(
        match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha1" => TsigAlgorithm::HmacSha1,
            "hmac-sha224" => TsigAlgorithm::HmacSha224,
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            _ => return None,
        },
    )
}

/// Words, quoted strings (unquoted), `{`, `}` and `;`, each with its line.
fn tokenize(text: &str) -> Result<Vec<(String, usize)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    let c = chars
                        .next()
                        .ok_or(format!("line {line}: unterminated comment"))?;
                    if c == '\n' {
                        line += 1;
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '{' | '}' | ';' => out.push((c.to_string(), line)),
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\n') | None => {
                            return Err(format!("line {line}: unterminated string"));
                        }
                        Some(c) => s.push(c),
                    }
                }
                out.push((s, line));
            }
            c => {
                let mut s = c.to_string();
                while chars
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !matches!(c, '{' | '}' | ';' | '"'))
                {
                    s.extend(chars.next());
                }
                out.push((s, line));
            }
        }
    }
    Ok(out)
}

/// Checks the TSIG of `request` (parsed as `message`) against `keys` at `now`
/// (seconds since the epoch), RFC 8945 §5.2.
pub fn authenticate(keys: &[Key], request: &[u8], message: &Message, now: u64) -> Auth {
    let Some(record) = message.signature() else {
        return Auth::Unsigned;
    };
    let id = message.metadata.id;
    let wanted = record.name.to_lowercase();
    let key = keys.iter().find(|k| {
        HName::from_ascii(k.name.to_string()).is_ok_and(|n| n == wanted)
            && *k.signer.algorithm() == record.data.algorithm
    });
    let Some(key) = key else {
        return Auth::Failed {
            why: format!("unknown key {} ({:?})", record.name, record.data.algorithm),
            reply: FailedReply::Sign(TSigResponseContext::unknown_key(
                id,
                now,
                record.name.clone(),
            )),
        };
    };
    if record.data.time < u64::from(record.data.fudge) {
        // A time before 1970 + fudge: not a clock, and hickory's window would underflow.
        return Auth::Failed {
            why: format!("key {}: time {} is not a time", key.name, record.data.time),
            reply: FailedReply::Sign(TSigResponseContext::bad_signature(
                id,
                now,
                key.signer.clone(),
            )),
        };
    }
    match key.signer.verify_message_byte(request, None, true) {
        Err(e) => Auth::Failed {
            why: format!("key {}: {e}", key.name),
            reply: FailedReply::Sign(TSigResponseContext::bad_signature(
                id,
                now,
                key.signer.clone(),
            )),
        },
        Ok((mac, _, window)) if !window.contains(&now) && window.end != now => Auth::Failed {
            why: format!(
                "key {}: the time {} is outside the fudge (now {now})",
                key.name, record.data.time
            ),
            reply: match badtime_response(key, request, now) {
                Some(bytes) => FailedReply::Ready(bytes),
                None => FailedReply::Sign(TSigResponseContext::new(
                    id,
                    now,
                    key.signer.clone(),
                    mac,
                    Some(TsigError::BadTime),
                )),
            },
        },
        Ok((mac, _, _)) => Auth::Signed {
            key: key.clone(),
            mac,
        },
    }
}

/// Appends the TSIG record `context` makes for `response` and counts it in ARCOUNT;
/// the response unchanged if signing fails (logged).
pub fn sign(mut response: Vec<u8>, context: TSigResponseContext) -> Vec<u8> {
    let record = match context.sign(&response) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("UPDATE response not signed: {e}");
            return response;
        }
    };
    let mut tail = Vec::new();
    let mut encoder = BinEncoder::new(&mut tail);
    if record.emit(&mut encoder).is_err() || response.len() < 12 {
        return response;
    }
    let arcount = u16::from_be_bytes([response[10], response[11]]).saturating_add(1);
    response[10..12].copy_from_slice(&arcount.to_be_bytes());
    response.extend_from_slice(&tail);
    response
}

/// The context that signs a good request's response.
pub fn response_context(id: u16, now: u64, key: &Key, mac: Vec<u8>) -> TSigResponseContext {
    TSigResponseContext::new(id, now, key.signer.clone(), mac, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_key_files_are_read() {
        let text = "# tsig-keygen\nkey \"Upd.Example\" {\n\talgorithm hmac-sha256;\n\t\
                    secret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\n\
                    /* a second */ key k2. { algorithm hmac-sha512; secret \"AAAA\"; }; // end\n";
        let keys = read_key_file(text).expect("keys");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name.to_string(), "upd.example.");
        assert_eq!(keys[1].name.to_string(), "k2.");
        assert_eq!(
            read_key_file("key k { algorithm hmac-md5; secret \"AAAA\"; };").map(|_| ()),
            Err("line 1: algorithm \"hmac-md5\" is not supported (hmac-sha256, -sha384, -sha512, -sha224, -sha1)".into())
        );
        assert!(
            read_key_file("key k { algorithm hmac-sha256;\n secret \"!!\"; };")
                .is_err_and(|e| e.starts_with("line 2: the secret is not base64"))
        );
    }
}
