//! TSIG key files, as the tools of the field write them, so that one file can be
//! shared between dnsd and its peers:
//!
//! - BIND's `tsig-keygen` (and `named.conf` `key` statements):
//!   `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` (several per file;
//!   `#`, `//` and `/* */` comments);
//! - Knot's `keymgr -t NAME` (YAML): `key:` then `- id: NAME`, `algorithm: ALG`,
//!   `secret: BASE64` for each key;
//! - NSD's `nsd.conf` `key:` clauses: `name:`, `algorithm:`, `secret:`.
//!
//! [`generate`] writes a new key in BIND's format (`dnsd tsig-keygen NAME`).

use data_encoding::BASE64;

use super::Algorithm;
use crate::wire::name::Name;

/// One key read from a file.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The key's name.
    pub name: Name,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The secret, decoded.
    pub secret: Vec<u8>,
    /// The line it starts on (1-based).
    pub line: usize,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySpec({} {} line {})",
            self.name, self.algorithm, self.line
        )
    }
}

/// A problem in a key file, with its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct KeyFileError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn fail<T>(line: usize, message: impl Into<String>) -> Result<T, KeyFileError> {
    Err(KeyFileError {
        line,
        message: message.into(),
    })
}

/// Reads every key of a key file's `text`, in any of the three formats.
pub fn parse(text: &str) -> Result<Vec<KeySpec>, KeyFileError> {
    let tokens = tokenize(text)?;
    let keys = match tokens.first() {
        Some(Token::Word(w, _)) if w == "key" && tokens.get(1).is_some_and(Token::is_name) => {
            parse_bind(&tokens)?
        }
        _ => parse_yaml(text)?,
    };
    if keys.is_empty() {
        return fail(1, "no key in the file");
    }
    Ok(keys)
}

/// Makes a key from its parts as written: name, algorithm name, base64 secret.
pub fn key_spec(
    name: &str,
    algorithm: &str,
    secret: &str,
    line: usize,
) -> Result<KeySpec, KeyFileError> {
    let absolute = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let Ok(name) = Name::from_text(&absolute, None) else {
        return fail(line, format!("{name:?} is not a key name"));
    };
    let Some(algorithm) = Algorithm::from_text(algorithm) else {
        return fail(
            line,
            format!(
                "algorithm {algorithm:?} is not supported (hmac-sha256, hmac-sha384, \
                 hmac-sha512, or hmac-sha1 and hmac-md5 for legacy peers)"
            ),
        );
    };
    let secret = match BASE64.decode(secret.trim().as_bytes()) {
        Ok(s) if !s.is_empty() => s,
        _ => return fail(line, "the secret is not base64 (RFC 4648 with padding)"),
    };
    Ok(KeySpec {
        name,
        algorithm,
        secret,
        line,
    })
}

/// A new key named `name` with a random secret as long as the hash (RFC 8945 §6:
/// "at least as long as the output"), in `tsig-keygen`'s format.
pub fn generate(name: &str, algorithm: Algorithm) -> Result<String, KeyFileError> {
    use ring::rand::SecureRandom;
    let mut secret = vec![0u8; algorithm.mac_len()];
    if ring::rand::SystemRandom::new().fill(&mut secret).is_err() {
        return fail(0, "the system gave no random octets");
    }
    let spec = key_spec(name, algorithm.text(), &BASE64.encode(&secret), 1)?;
    let text = spec.name.to_string();
    let shown = text.strip_suffix('.').unwrap_or(&text);
    Ok(format!(
        "key \"{shown}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
        algorithm.text(),
        BASE64.encode(&secret)
    ))
}

//------------ BIND format ---------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String, usize),
    Quoted(String, usize),
    Open(usize),
    Close(usize),
    Semicolon(usize),
}

impl Token {
    fn line(&self) -> usize {
        match self {
            Token::Word(_, l)
            | Token::Quoted(_, l)
            | Token::Open(l)
            | Token::Close(l)
            | Token::Semicolon(l) => *l,
        }
    }

    fn is_name(&self) -> bool {
        matches!(self, Token::Word(..) | Token::Quoted(..))
    }

    fn text(&self) -> Option<&str> {
        match self {
            Token::Word(w, _) | Token::Quoted(w, _) => Some(w),
            _ => None,
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, KeyFileError> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    match bytes.get(i) {
                        None => return fail(start, "unterminated comment"),
                        Some(b'*') if bytes.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(b'\n') => line += 1,
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end] != b'"' {
                    if bytes[end] == b'\n' {
                        return fail(line, "unterminated string");
                    }
                    end += 1;
                }
                if end >= bytes.len() {
                    return fail(line, "unterminated string");
                }
                tokens.push(Token::Quoted(text[start..end].to_string(), line));
                i = end + 1;
            }
            b'{' => {
                tokens.push(Token::Open(line));
                i += 1;
            }
            b'}' => {
                tokens.push(Token::Close(line));
                i += 1;
            }
            b';' => {
                tokens.push(Token::Semicolon(line));
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\r\n{};\"#".contains(&bytes[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(text[start..i].to_string(), line));
            }
        }
    }
    Ok(tokens)
}

/// `key NAME { algorithm ALG; secret "B64"; };` statements.
fn parse_bind(tokens: &[Token]) -> Result<Vec<KeySpec>, KeyFileError> {
    let mut keys = Vec::new();
    let mut i = 0;
    let last_line = tokens.last().map_or(1, Token::line);
    let at = |i: usize| tokens.get(i);
    while i < tokens.len() {
        let line = tokens[i].line();
        if tokens[i].text() != Some("key") || !matches!(tokens[i], Token::Word(..)) {
            return fail(line, "expected `key \"NAME\" { ... };`");
        }
        let Some(name) = at(i + 1).and_then(Token::text) else {
            return fail(line, "`key` needs a name");
        };
        if !matches!(at(i + 2), Some(Token::Open(_))) {
            return fail(line, "expected `{` after the key's name");
        }
        i += 3;
        let (mut algorithm, mut secret) = (None, None);
        loop {
            match at(i) {
                None => return fail(last_line, "the key statement is not closed"),
                Some(Token::Close(_)) => break,
                Some(Token::Word(field, l)) => {
                    let Some(value) = at(i + 1).and_then(Token::text) else {
                        return fail(*l, format!("`{field}` needs a value"));
                    };
                    match field.as_str() {
                        "algorithm" => algorithm = Some(value.to_string()),
                        "secret" => secret = Some(value.to_string()),
                        other => return fail(*l, format!("unknown key field `{other}`")),
                    }
                    if !matches!(at(i + 2), Some(Token::Semicolon(_))) {
                        return fail(*l, format!("expected `;` after `{field}`"));
                    }
                    i += 3;
                }
                Some(other) => return fail(other.line(), "expected `algorithm` or `secret`"),
            }
        }
        i += 1;
        if matches!(at(i), Some(Token::Semicolon(_))) {
            i += 1;
        }
        let (Some(algorithm), Some(secret)) = (algorithm, secret) else {
            return fail(line, "a key needs both `algorithm` and `secret`");
        };
        keys.push(key_spec(name, &algorithm, &secret, line)?);
    }
    Ok(keys)
}

//------------ YAML formats (Knot, NSD) --------------------------------------

/// `key:` sections with `- id:`/`name:`, `algorithm:` and `secret:` fields.
fn parse_yaml(text: &str) -> Result<Vec<KeySpec>, KeyFileError> {
    struct Partial {
        line: usize,
        name: Option<String>,
        algorithm: Option<String>,
        secret: Option<String>,
    }
    let mut keys = Vec::new();
    let mut current: Option<Partial> = None;
    let mut in_key = false;
    let finish = |p: Partial, keys: &mut Vec<KeySpec>| -> Result<(), KeyFileError> {
        match (p.name, p.algorithm, p.secret) {
            (Some(n), Some(a), Some(s)) => {
                keys.push(key_spec(&n, &a, &s, p.line)?);
                Ok(())
            }
            _ => fail(
                p.line,
                "a key needs `id` (or `name`), `algorithm` and `secret`",
            ),
        }
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim_end();
        if content.trim().is_empty() {
            continue;
        }
        let indented = content.starts_with([' ', '\t']);
        let mut item = content.trim();
        if !indented {
            if let Some(p) = current.take() {
                finish(p, &mut keys)?;
            }
            in_key = item == "key:";
            if !in_key {
                return fail(line, format!("expected `key:`, found {item:?}"));
            }
            continue;
        }
        if !in_key {
            return fail(line, "a field outside a `key:` section");
        }
        let starts_item = item.starts_with("- ");
        if starts_item {
            item = item[2..].trim_start();
        }
        let Some((field, value)) = item.split_once(':') else {
            return fail(line, format!("expected `field: value`, found {item:?}"));
        };
        let value = value.trim().trim_matches('"').to_string();
        let field = field.trim();
        if (starts_item || (field == "name" && current.as_ref().is_some_and(|p| p.name.is_some())))
            && let Some(p) = current.take()
        {
            finish(p, &mut keys)?;
        }
        let p = current.get_or_insert(Partial {
            line,
            name: None,
            algorithm: None,
            secret: None,
        });
        match field {
            "id" | "name" => p.name = Some(value),
            "algorithm" => p.algorithm = Some(value),
            "secret" => p.secret = Some(value),
            other => return fail(line, format!("unknown key field `{other}`")),
        }
    }
    if let Some(p) = current.take() {
        finish(p, &mut keys)?;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tsig_keygen_output_and_named_conf_statements() {
        let text = "# made by tsig-keygen\nkey \"home-vps\" {\n\talgorithm hmac-sha256;\n\tsecret \"wKIwXQlxAHk2BlXWmh/B3AuwvIjmH8dZx23o4HYdESA=\";\n};\n\
                    /* a second one */ key old.key. { algorithm HMAC-SHA1; secret \"Cflin1E3iaYSj1AP4cDPBdXEeNY=\"; };\n";
        let keys = parse(text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name.to_string(), "home-vps.");
        assert_eq!(keys[0].algorithm, Algorithm::HmacSha256);
        assert_eq!(keys[0].secret.len(), 32);
        assert_eq!(keys[0].line, 2);
        assert_eq!(keys[1].name.to_string(), "old.key.");
        assert_eq!(keys[1].algorithm, Algorithm::HmacSha1);
        assert_eq!(keys[1].line, 6);
    }

    #[test]
    fn reads_keymgr_and_nsd_formats() {
        let knot = "# hmac-sha512:home-vps:U+EM9NxhfqLt4PCDhW7r0Xt1v2X94OMwd9kxJXZff+0mbVqspeHDHG7XDOPqHPrV1ipRfbicI+YHiOlhbLELnA==\nkey:\n  - id: home-vps\n    algorithm: hmac-sha512\n    secret: U+EM9NxhfqLt4PCDhW7r0Xt1v2X94OMwd9kxJXZff+0mbVqspeHDHG7XDOPqHPrV1ipRfbicI+YHiOlhbLELnA==\n  - id: other\n    algorithm: hmac-sha384\n    secret: AAAA\n";
        let keys = parse(knot).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].algorithm, Algorithm::HmacSha512);
        assert_eq!(keys[0].secret.len(), 64);
        assert_eq!(keys[1].name.to_string(), "other.");
        let nsd = "key:\n  name: \"xfr\"\n  algorithm: hmac-sha256\n  secret: \"AAAA\"\n";
        let keys = parse(nsd).unwrap();
        assert_eq!(keys[0].name.to_string(), "xfr.");
        assert_eq!(keys[0].secret, vec![0, 0, 0]);
    }

    #[test]
    fn legacy_md5_keys_are_read_by_either_name() {
        let text = "key \"old\" { algorithm hmac-md5; secret \"AAAA\"; };\n\
                    key \"older\" { algorithm HMAC-MD5.SIG-ALG.REG.INT; secret \"AAAA\"; };\n";
        let keys = parse(text).unwrap();
        assert!(keys.iter().all(|k| k.algorithm == Algorithm::HmacMd5));
    }

    #[test]
    fn problems_name_their_line() {
        let bad = "key \"k\" {\n algorithm hmac-sha224;\n secret \"AAAA\";\n};\n";
        let e = parse(bad).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("hmac-sha224"), "{e}");
        let e = parse("key \"k\" {\n algorithm hmac-sha256;\n secret \"not base64!\";\n};")
            .unwrap_err();
        assert!(e.message.contains("base64"), "{e}");
        let e = parse("key:\n  - id: k\n    algorithm: hmac-sha256\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("").is_err());
        assert!(parse("key \"k\" { algorithm hmac-sha256; secret \"AAAA\";").is_err());
    }

    #[test]
    fn generated_keys_read_back() {
        let text = generate("home-vps", Algorithm::HmacSha256).unwrap();
        assert!(text.starts_with("key \"home-vps\" {\n\talgorithm hmac-sha256;\n"));
        let keys = parse(&text).unwrap();
        assert_eq!(keys[0].secret.len(), 32);
        assert_ne!(keys[0].secret, vec![0; 32]);
        assert_ne!(
            parse(&generate("home-vps", Algorithm::HmacSha256).unwrap()).unwrap()[0].secret,
            keys[0].secret
        );
    }
}
