//! TSIG (RFC 8945): shared-secret authentication of DNS messages, for zone transfers
//! and NOTIFY (`xfr`) and dynamic updates (RFC 2136).
//!
//! # Usage
//! A server checks a request with [`KeyRing::check_request`]:
//!
//! ```text
//!  request ─► check_request(msg, now) ─┬─ Unsigned
//!                                      ├─ Verified(Signed) ─► key identity for the
//!                                      │     request context (Signed::key), then
//!                                      │     ResponseSigner::new(&signed).sign(resp)
//!                                      │     for each response message (§5.3, §5.3.1)
//!                                      └─ Failed(Failure) ─► failure_response(): FORMERR,
//!                                            or NOTAUTH with BADKEY/BADSIG (unsigned),
//!                                            BADTIME/BADTRUNC (signed), §5.2, §5.3.2
//! ```
//!
//! A client signs its request with [`sign_request`], which returns the
//! [`ResponseVerifier`] that checks each message of the answer (a transfer's up to
//! 99 unsigned messages in between included, §5.3.1) and, with `finish`, that the
//! last one was signed.
//!
//! # What is supported
//! hmac-sha256, hmac-sha384 and hmac-sha512; hmac-sha1 and hmac-md5 as legacy, for
//! peers that still need them (RFC 8945 §6: "MAY"; MD5 is deprecated there, and ring,
//! which computes the other HMACs, has no MD5: `mac` builds HMAC-MD5 on the `md5`
//! crate). hmac-sha224 is refused. Truncated MACs are
//! read as §5.2.2.1 says (shorter than 10 octets or half the hash: FORMERR; longer
//! than the hash: FORMERR) and refused as too short for our policy with BADTRUNC:
//! we accept full-length MACs only, as BIND and Knot do by default.
//!
//! # Where hickory fits
//! hickory-proto 0.26's TSIG verifies whole messages it decodes itself, without the
//! truncation rules or hmac-sha1, and signs only hickory `Message`s; a zone transfer
//! here streams messages that dnsd renders itself. So the digest (RFC 8945 §4.3) is
//! built here over the octets as they travel, fed to ring's incremental HMAC without
//! copying the message, and the tests check both directions against hickory's
//! `TSigner` (`tests`).

mod check;
pub mod keyfile;
mod mac;
mod record;
mod sign;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::wire::name::Name;

pub use check::{
    Check, Failure, FailureKind, Signed, failure_response, failure_response_with_zone,
};
pub use sign::{ResponseSigner, ResponseVerifier, VerifyError, sign_request};

/// The fudge we sign with and allow (seconds), as BIND, Knot and NSD use.
pub const DEFAULT_FUDGE: u16 = 300;

/// TSIG error codes (RFC 8945 §3, the TSIG RR's Error field).
pub mod error {
    /// The MAC does not verify.
    pub const BADSIG: u16 = 16;
    /// The key or its algorithm is unknown.
    pub const BADKEY: u16 = 17;
    /// The time signed is outside the fudge.
    pub const BADTIME: u16 = 18;
    /// The MAC is truncated more than our policy allows.
    pub const BADTRUNC: u16 = 22;
}

//------------ Algorithm -----------------------------------------------------

/// A MAC algorithm (RFC 8945 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// hmac-sha1: legacy, for peers that need it.
    HmacSha1,
    /// hmac-sha256: the one to use.
    HmacSha256,
    /// hmac-sha384.
    HmacSha384,
    /// hmac-sha512.
    HmacSha512,
    /// hmac-md5 (HMAC-MD5.SIG-ALG.REG.INT): legacy, for peers that need it.
    HmacMd5,
}

impl Algorithm {
    /// Every algorithm, the preferred first.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
        Algorithm::HmacSha1,
        Algorithm::HmacMd5,
    ];

    /// Its name as written in configuration and key files (`hmac-sha256`).
    pub fn text(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
            Algorithm::HmacMd5 => "hmac-md5",
        }
    }

    /// The algorithm named `text` (any case, with or without a final dot; hmac-md5
    /// also by its wire name, HMAC-MD5.SIG-ALG.REG.INT, as BIND writes it).
    pub fn from_text(text: &str) -> Option<Algorithm> {
        let text = text.trim_end_matches('.');
        if text.eq_ignore_ascii_case("hmac-md5.sig-alg.reg.int") {
            return Some(Algorithm::HmacMd5);
        }
        Self::ALL
            .into_iter()
            .find(|a| a.text().eq_ignore_ascii_case(text))
    }

    /// The algorithm whose name, in wire format, is `wire` (any case).
    pub fn from_wire(wire: &[u8]) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.wire().eq_ignore_ascii_case(wire))
    }

    /// Its name in canonical wire format (RFC 8945 §4.3.3: lowercase, uncompressed).
    pub fn wire(self) -> &'static [u8] {
        match self {
            Algorithm::HmacSha1 => b"\x09hmac-sha1\x00",
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
            // RFC 8945 §6: hmac-md5 keeps its old name.
            Algorithm::HmacMd5 => b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00",
        }
    }

    /// Octets of a full MAC.
    pub fn mac_len(self) -> usize {
        self.ring()
            .map_or(16, |a| a.digest_algorithm().output_len())
    }

    /// Whether it is kept only for peers that still need it.
    pub fn is_legacy(self) -> bool {
        matches!(self, Algorithm::HmacSha1 | Algorithm::HmacMd5)
    }

    /// ring's HMAC; None for hmac-md5 (`mac`).
    fn ring(self) -> Option<ring::hmac::Algorithm> {
        Some(match self {
            Algorithm::HmacSha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => ring::hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => ring::hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => ring::hmac::HMAC_SHA512,
            Algorithm::HmacMd5 => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

//------------ Key -----------------------------------------------------------

/// A TSIG key: its name, algorithm and secret. The secret never leaves it (not in
/// `Debug`, not in logs).
pub struct Key {
    name: Name,
    algorithm: Algorithm,
    secret: mac::Secret,
    secret_len: usize,
    /// The MAC of a fixed text under the key: equal for equal secrets, so that a
    /// changed secret is a changed key, without keeping the secret itself.
    fingerprint: mac::Tag,
}

impl Key {
    /// A key named `name` (kept lowercased, RFC 8945 §4.3.3) for `algorithm`.
    pub fn new(name: &Name, algorithm: Algorithm, secret: &[u8]) -> Key {
        let secret_key = mac::Secret::new(algorithm, secret);
        Key {
            name: name.to_lowercase(),
            algorithm,
            fingerprint: secret_key.sign(FINGERPRINT_TEXT),
            secret: secret_key,
            secret_len: secret.len(),
        }
    }

    /// The key's name, lowercased: its identity in access lists and logs.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Octets of the secret (for checks: a secret shorter than the hash is weak).
    pub fn secret_len(&self) -> usize {
        self.secret_len
    }

    fn context(&self) -> mac::Context {
        self.secret.context()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} {})", self.name, self.algorithm)
    }
}

impl PartialEq for Key {
    /// The same name, algorithm and secret (compared through the fingerprints).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.algorithm == other.algorithm
            && self.secret_len == other.secret_len
            && macs_equal(self.fingerprint.as_ref(), other.fingerprint.as_ref())
    }
}

/// What a key's fingerprint is the MAC of.
const FINGERPRINT_TEXT: &[u8] = b"dnsd tsig key fingerprint";

impl Eq for Key {}

//------------ KeyRing -------------------------------------------------------

/// The keys a server knows, by name.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: BTreeMap<Name, Arc<Key>>,
}

impl KeyRing {
    /// No key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`; false (and nothing changed) when a key of that name is there.
    pub fn insert(&mut self, key: Key) -> bool {
        if self.keys.contains_key(key.name()) {
            return false;
        }
        self.keys.insert(key.name().clone(), Arc::new(key));
        true
    }

    /// Adds `key`, shared with another ring; false (and nothing changed) when a key
    /// of that name is there.
    pub fn insert_shared(&mut self, key: Arc<Key>) -> bool {
        if self.keys.contains_key(key.name()) {
            return false;
        }
        self.keys.insert(key.name().clone(), key);
        true
    }

    /// The key named `name` (any case).
    pub fn get(&self, name: &Name) -> Option<&Arc<Key>> {
        self.keys.get(&name.to_lowercase())
    }

    /// The key whose name, in wire format, is `wire` (any case).
    pub fn get_wire(&self, wire: &[u8]) -> Option<&Arc<Key>> {
        let name = Name::from_wire(wire).ok()?;
        self.get(&name)
    }

    /// Every key, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Key>> {
        self.keys.values()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the TSIG of a request (RFC 8945 §5.2) at `now` (Unix seconds).
    pub fn check_request(&self, msg: &[u8], now: u64) -> Check {
        check::check_request(self, msg, now)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.values()).finish()
    }
}

impl PartialEq for KeyRing {
    /// The same keys: names, algorithms and secrets (a SIGHUP that changes only a
    /// secret changes the ring).
    fn eq(&self, other: &Self) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&other.keys)
                .all(|((a, ka), (b, kb))| a == b && ka == kb)
    }
}

impl Eq for KeyRing {}

/// The time in Unix seconds, for signing and checking.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Compares two MACs in time that does not depend on where they differ.
fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
