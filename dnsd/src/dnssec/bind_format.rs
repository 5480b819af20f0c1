//! BIND's key file formats, which dnsd's key store uses so that keys move between
//! dnsd, BIND and Knot without a rollover: the `.key` file (a DNSKEY record, RFC 4034
//! §2.2 presentation), the `.private` file ("Private-key-format: v1.3"), and dnsd's
//! own `.state` file beside them (the key's timeline, `name: seconds` lines).

use data_encoding::BASE64;

use super::keys::{Algorithm, KeyPair, PrivateKey, RsaComponents};
use super::timeline::KeyTimes;

/// The times of a `.state` file.
pub(super) fn parse_times(text: &str) -> Result<KeyTimes, String> {
    let mut times = KeyTimes::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {}: expected `name: seconds`", n + 1));
        };
        let value: u64 = value.trim().parse().map_err(|_| {
            format!(
                "line {}: {:?} is not a number of seconds",
                n + 1,
                value.trim()
            )
        })?;
        match name.trim() {
            "publish" => times.publish = value,
            "active" => times.active = value,
            "retire" => times.retire = Some(value),
            "remove" => times.remove = Some(value),
            "ds-seen" => times.ds_seen = Some(value),
            "roll" => times.roll = Some(value),
            other => return Err(format!("line {}: unknown field {other:?}", n + 1)),
        }
    }
    Ok(times)
}

/// The text of a `.state` file.
pub(super) fn times_text(times: &KeyTimes) -> String {
    let mut out = String::from("; dnsd key timeline, seconds since the epoch\n");
    out.push_str(&format!(
        "publish: {}\nactive: {}\n",
        times.publish, times.active
    ));
    for (name, value) in [
        ("retire", times.retire),
        ("remove", times.remove),
        ("ds-seen", times.ds_seen),
        ("roll", times.roll),
    ] {
        if let Some(v) = value {
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    out
}

/// The flags, algorithm and public key of the first DNSKEY record in `text` (a BIND
/// `.key` file: comments, then `OWNER [TTL] [IN] DNSKEY FLAGS 3 ALG BASE64...`).
pub(super) fn parse_dnskey(text: &str) -> Option<(u16, Algorithm, Vec<u8>)> {
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("");
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = tokens.iter().position(|t| t.eq_ignore_ascii_case("DNSKEY")) else {
            continue;
        };
        let rest = tokens.get(at + 1..)?;
        let flags: u16 = rest.first()?.parse().ok()?;
        let algorithm = Algorithm::from_text(rest.get(2)?)?;
        let public = BASE64.decode(rest.get(3..)?.concat().as_bytes()).ok()?;
        return Some((flags, algorithm, public));
    }
    None
}

/// The private key of a BIND v1.2/v1.3 private-key file.
pub(super) fn parse_private(text: &str, algorithm: Algorithm) -> Result<PrivateKey, String> {
    let field = |name: &str| -> Result<Vec<u8>, String> {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .ok_or_else(|| format!("no {name} field"))?;
        BASE64
            .decode(value.trim().as_bytes())
            .map_err(|_| format!("{name} is not base64"))
    };
    let declared = text
        .lines()
        .find_map(|l| l.strip_prefix("Algorithm:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u8>().ok());
    if declared != Some(algorithm.number()) {
        return Err(format!(
            "Algorithm is not {} ({}) as its .key file says",
            algorithm.number(),
            algorithm
        ));
    }
    Ok(match algorithm {
        Algorithm::EcdsaP256Sha256 => PrivateKey::Ecdsa(field("PrivateKey")?),
        Algorithm::Ed25519 => PrivateKey::Ed25519(field("PrivateKey")?),
        Algorithm::RsaSha256 => PrivateKey::Rsa(RsaComponents {
            n: field("Modulus")?,
            e: field("PublicExponent")?,
            d: field("PrivateExponent")?,
            p: field("Prime1")?,
            q: field("Prime2")?,
            dp: field("Exponent1")?,
            dq: field("Exponent2")?,
            qinv: field("Coefficient")?,
        }),
    })
}

/// The BIND private-key file of `pair`.
pub(super) fn private_text(pair: &KeyPair) -> String {
    let alg = pair.algorithm();
    let mut out = format!(
        "Private-key-format: v1.3\nAlgorithm: {} ({})\n",
        alg.number(),
        alg
    );
    let b = |v: &[u8]| BASE64.encode(v);
    match pair.private_key() {
        PrivateKey::Ecdsa(d) | PrivateKey::Ed25519(d) => {
            out.push_str(&format!("PrivateKey: {}\n", b(d)));
        }
        PrivateKey::Rsa(c) => {
            for (name, v) in [
                ("Modulus", &c.n),
                ("PublicExponent", &c.e),
                ("PrivateExponent", &c.d),
                ("Prime1", &c.p),
                ("Prime2", &c.q),
                ("Exponent1", &c.dp),
                ("Exponent2", &c.dq),
                ("Coefficient", &c.qinv),
            ] {
                out.push_str(&format!("{name}: {}\n", b(v)));
            }
        }
    }
    out
}
