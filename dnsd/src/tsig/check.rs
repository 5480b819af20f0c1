//! The server's side of TSIG (RFC 8945 §5.2): checking a request's TSIG in the
//! order the RFC gives (key, MAC with its size, time, truncation), and the response
//! to a request that fails (§5.3.2).

use std::sync::Arc;

use super::record::{self, Found, Locate, Variables, Written};
use super::{Algorithm, Key, KeyRing, error, macs_equal};
use crate::wire::message::HEADER_LEN;

/// What checking a request's TSIG found.
#[derive(Debug)]
pub enum Check {
    /// The request carries no TSIG.
    Unsigned,
    /// Signed with a key we know, and the MAC and time are good.
    Verified(Signed),
    /// Signed, and refused: answer with [`failure_response`].
    Failed(Failure),
}

/// A request whose TSIG verified: who signed it, and what signing the response needs.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The key: the identity of the request's sender (access lists, logs).
    pub key: Arc<Key>,
    /// The request's MAC, which the first response's digest starts with (§4.3.1).
    pub mac: Vec<u8>,
    /// The request's time signed.
    pub time: u64,
}

/// Why a request's TSIG was refused (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The TSIG is not the last record, there are two, its RDATA does not parse, or
    /// its MAC size is outside what §5.2.2.1 allows: FORMERR.
    FormErr,
    /// Unknown key, or an algorithm other than the key's (§5.2.1).
    BadKey,
    /// The MAC does not verify (§5.2.2).
    BadSig,
    /// The time signed is outside the fudge (§5.2.3).
    BadTime,
    /// A good MAC, truncated more than our policy (full length) allows (§5.2.4).
    BadTrunc,
}

impl FailureKind {
    /// Its name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::FormErr => "formerr",
            FailureKind::BadKey => "badkey",
            FailureKind::BadSig => "badsig",
            FailureKind::BadTime => "badtime",
            FailureKind::BadTrunc => "badtrunc",
        }
    }
}

/// A refused TSIG, with what the error response echoes.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What is wrong.
    pub kind: FailureKind,
    /// The key name as received (wire format; empty for FORMERR on a record that did
    /// not parse).
    pub key_name: Vec<u8>,
    algorithm: Vec<u8>,
    time: u64,
    fudge: u16,
    original_id: u16,
    /// For BADTIME and BADTRUNC, whose response is signed: the key and request MAC.
    signed: Option<Signed>,
}

impl Failure {
    fn formerr() -> Self {
        Failure {
            kind: FailureKind::FormErr,
            key_name: Vec::new(),
            algorithm: Vec::new(),
            time: 0,
            fudge: 0,
            original_id: 0,
            signed: None,
        }
    }

    /// The key's name in presentation format, for logs.
    pub fn key_text(&self) -> String {
        crate::wire::name::Name::from_wire(&self.key_name)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "(none)".into())
    }
}

/// Checks `msg`'s TSIG against `keys` at `now` (RFC 8945 §5.2).
pub(super) fn check_request(keys: &KeyRing, msg: &[u8], now: u64) -> Check {
    let found = match record::locate(msg) {
        Locate::None => return Check::Unsigned,
        Locate::Malformed => return Check::Failed(Failure::formerr()),
        Locate::Found(found) => found,
    };
    let mut failure = Failure {
        kind: FailureKind::BadKey,
        key_name: found.key_name.clone(),
        algorithm: found.algorithm.clone(),
        time: found.time,
        fudge: found.fudge,
        original_id: found.original_id,
        signed: None,
    };
    // §5.2.1: the key, and the algorithm it is configured with.
    let Some(key) = keys.get_wire(&found.key_name) else {
        return Check::Failed(failure);
    };
    if Algorithm::from_wire(&found.algorithm) != Some(key.algorithm()) {
        return Check::Failed(failure);
    }
    // §5.2.2.1: a MAC longer than the hash, or shorter than the larger of 10 octets
    // and half the hash, is FORMERR; an empty one cannot verify (BADSIG, as BIND).
    let full = key.algorithm().mac_len();
    let size = found.mac.len();
    if size > full || (size > 0 && size < full.div_ceil(2).max(10)) {
        failure.kind = FailureKind::FormErr;
        return Check::Failed(failure);
    }
    // §5.2.2: the MAC.
    let tag = request_mac(key, msg, &found);
    if size == 0 || !macs_equal(&tag.as_ref()[..size], found.mac) {
        failure.kind = FailureKind::BadSig;
        return Check::Failed(failure);
    }
    let signed = Signed {
        key: key.clone(),
        mac: found.mac.to_vec(),
        time: found.time,
    };
    // §5.2.3: the time, within the request's fudge.
    if now.abs_diff(found.time) > u64::from(found.fudge) {
        failure.kind = FailureKind::BadTime;
        failure.signed = Some(signed);
        return Check::Failed(failure);
    }
    // §5.2.4: our policy takes full-length MACs only.
    if size < full {
        failure.kind = FailureKind::BadTrunc;
        failure.signed = Some(signed);
        return Check::Failed(failure);
    }
    Check::Verified(signed)
}

/// The MAC a request's TSIG should carry (§4.3: no prior MAC for a request).
fn request_mac(key: &Key, msg: &[u8], found: &Found<'_>) -> super::mac::Tag {
    let mut ctx = key.context();
    record::feed_message(&mut ctx, msg, found.start, found.original_id);
    record::feed_variables(
        &mut ctx,
        &Variables {
            key_name: &found.key_name,
            algorithm: &found.algorithm,
            time: found.time,
            fudge: found.fudge,
            error: found.error,
            other: found.other,
        },
    );
    ctx.sign()
}

/// Writes into `out` (cleared) the response to `request`, whose TSIG check failed as
/// `failure` says, at `now` (§5.3.2): FORMERR alone; or NOTAUTH with a TSIG record
/// carrying the error, unsigned for BADKEY and BADSIG (the key or MAC cannot be
/// trusted), signed with the request's MAC for BADTIME (at the request's time, as
/// BIND does, with our time as Other Data, so that the client can see the skew) and
/// BADTRUNC. No question (as NSD answers BADKEY).
pub fn failure_response(request: &[u8], failure: &Failure, now: u64, out: &mut Vec<u8>) {
    failure_response_in(request, failure, now, false, out);
}

/// As [`failure_response`], with the request's first section copied when it is one
/// well-formed entry: an UPDATE's zone section, as BIND answers an UPDATE that fails
/// its TSIG check (RFC 2136 §3.8 allows either; `knsupdate` then prints the same for
/// both servers).
pub fn failure_response_with_zone(request: &[u8], failure: &Failure, now: u64, out: &mut Vec<u8>) {
    failure_response_in(request, failure, now, true, out);
}

fn failure_response_in(request: &[u8], failure: &Failure, now: u64, echo: bool, out: &mut Vec<u8>) {
    out.clear();
    let (id, flags) = match request.get(..4) {
        Some(h) => (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[2], h[3]]),
        ),
        None => return,
    };
    // QR, the request's opcode and RD.
    let head = 0x8000 | (flags & 0x7900);
    let rcode = match failure.kind {
        FailureKind::FormErr => 1,
        _ => 9,
    };
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(head | rcode).to_be_bytes());
    out.extend_from_slice(&[0; HEADER_LEN - 4]);
    let first = request
        .get(4..6)
        .filter(|c| echo && *c == [0, 1])
        .and_then(|_| {
            let rest = request.get(HEADER_LEN..)?;
            rest.get(..crate::wire::name::wire_len(rest)? + 4)
        });
    if let Some(first) = first {
        out[5] = 1;
        out.extend_from_slice(first);
    }
    let code = match failure.kind {
        FailureKind::FormErr => return,
        FailureKind::BadKey => error::BADKEY,
        FailureKind::BadSig => error::BADSIG,
        FailureKind::BadTime => error::BADTIME,
        FailureKind::BadTrunc => error::BADTRUNC,
    };
    let Some(signed) = &failure.signed else {
        record::append(
            out,
            &Written {
                key_name: &failure.key_name,
                algorithm: &failure.algorithm,
                time: failure.time,
                fudge: failure.fudge,
                mac: &[],
                original_id: failure.original_id,
                error: code,
                other: &[],
            },
        );
        return;
    };
    let other_time = now.to_be_bytes();
    let other: &[u8] = if code == error::BADTIME {
        &other_time[2..]
    } else {
        &[]
    };
    // BADTIME is signed at the request's time, as BIND does, so that the client's
    // own time check of the response passes and it sees the error; our time is in
    // Other Data.
    let time = if code == error::BADTIME {
        failure.time
    } else {
        now
    };
    let key = &signed.key;
    let mut ctx = key.context();
    record::feed_mac(&mut ctx, &signed.mac);
    ctx.update(out);
    let variables = Variables {
        key_name: key.name().as_wire(),
        algorithm: key.algorithm().wire(),
        time,
        fudge: super::DEFAULT_FUDGE,
        error: code,
        other,
    };
    record::feed_variables(&mut ctx, &variables);
    let mac = ctx.sign();
    record::append(
        out,
        &Written {
            key_name: key.name().as_wire(),
            algorithm: key.algorithm().wire(),
            time,
            fudge: super::DEFAULT_FUDGE,
            mac: mac.as_ref(),
            original_id: id,
            error: code,
            other,
        },
    );
}
