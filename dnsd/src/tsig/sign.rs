//! Signing and verifying messages (RFC 8945 §4.3, §5.1, §5.3, §5.4): responses to a
//! verified request, one or a stream (§5.3.1: each message after the first chains on
//! the MAC of the one before and adds only the timers), and a client's request and the
//! answers it gets back.

use std::sync::Arc;

use super::mac::Context;

use super::record::{self, Locate, Variables, Written};
use super::{Algorithm, DEFAULT_FUDGE, Key, Signed, macs_equal};

/// Most unsigned messages a verifier accepts between two signed ones (§5.3.1: a
/// server must sign at least every 100th).
const MAX_UNSIGNED: usize = 99;

//------------ ResponseSigner ------------------------------------------------

/// Signs the responses to one verified request, in the order they are sent.
pub struct ResponseSigner {
    key: Arc<Key>,
    prior: Vec<u8>,
    first: bool,
}

impl ResponseSigner {
    /// A signer for the responses to `request`.
    pub fn new(request: &Signed) -> Self {
        Self {
            key: request.key.clone(),
            prior: request.mac.clone(),
            first: true,
        }
    }

    /// Octets the TSIG record adds to each message: a response must leave this room
    /// within the size its transport allows.
    pub fn overhead(&self) -> usize {
        record::record_len(
            self.key.name().as_wire(),
            self.key.algorithm().wire(),
            self.key.algorithm().mac_len(),
            0,
        )
    }

    /// Appends the TSIG record to `msg`, a complete response, signed at `now`: the
    /// first with the request's MAC and every TSIG variable, each later one with the
    /// previous message's MAC and the timers only (§5.3.1).
    pub fn sign(&mut self, msg: &mut Vec<u8>, now: u64) {
        let Some(id) = msg.get(..2).map(|h| u16::from_be_bytes([h[0], h[1]])) else {
            return;
        };
        let key = self.key.clone();
        let mut ctx = key.context();
        record::feed_mac(&mut ctx, &self.prior);
        ctx.update(msg);
        if self.first {
            record::feed_variables(&mut ctx, &variables(&key, now));
        } else {
            record::feed_timers(&mut ctx, now, DEFAULT_FUDGE);
        }
        let mac = ctx.sign();
        record::append(msg, &written(&key, now, mac.as_ref(), id));
        self.prior.clear();
        self.prior.extend_from_slice(mac.as_ref());
        self.first = false;
    }
}

fn variables(key: &Key, now: u64) -> Variables<'_> {
    Variables {
        key_name: key.name().as_wire(),
        algorithm: key.algorithm().wire(),
        time: now,
        fudge: DEFAULT_FUDGE,
        error: 0,
        other: &[],
    }
}

fn written<'a>(key: &'a Key, now: u64, mac: &'a [u8], id: u16) -> Written<'a> {
    Written {
        key_name: key.name().as_wire(),
        algorithm: key.algorithm().wire(),
        time: now,
        fudge: DEFAULT_FUDGE,
        mac,
        original_id: id,
        error: 0,
        other: &[],
    }
}

//------------ Client side ---------------------------------------------------

/// Signs `msg`, a request, with `key` at `now` (appends its TSIG record), and returns
/// the verifier of the responses to it.
pub fn sign_request(key: &Arc<Key>, msg: &mut Vec<u8>, now: u64) -> ResponseVerifier {
    let id = msg.get(..2).map_or(0, |h| u16::from_be_bytes([h[0], h[1]]));
    let mut ctx = key.context();
    ctx.update(msg);
    record::feed_variables(&mut ctx, &variables(key, now));
    let mac = ctx.sign();
    record::append(msg, &written(key, now, mac.as_ref(), id));
    ResponseVerifier {
        key: key.clone(),
        prior: mac.as_ref().to_vec(),
        first: true,
        pending: None,
        unsigned: 0,
        last_signed: false,
    }
}

/// Why a response did not verify (the client drops it, and the transfer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The first or last message of the answer is not signed, or more than 99 in a
    /// row are not.
    #[error("response not signed (TSIG expected)")]
    Unsigned,
    /// Signed with another key or algorithm.
    #[error("response signed with another key")]
    WrongKey,
    /// The MAC does not verify.
    #[error("response MAC does not verify (BADSIG)")]
    BadMac,
    /// The time signed is outside the fudge.
    #[error("response signed at {signed}, {skew} s from our clock (fudge {fudge})")]
    BadTime {
        /// Time signed.
        signed: u64,
        /// Seconds from our time.
        skew: u64,
        /// The fudge allowed.
        fudge: u16,
    },
    /// The server reported a TSIG error about our request.
    #[error("the server answered TSIG error {}", error_name(*.0))]
    Refused(u16),
    /// The TSIG record does not parse.
    #[error("malformed TSIG record")]
    Malformed,
}

fn error_name(code: u16) -> String {
    match code {
        super::error::BADSIG => "BADSIG (our MAC, or the key's secret differs)".into(),
        super::error::BADKEY => "BADKEY (it does not know the key)".into(),
        super::error::BADTIME => "BADTIME (clocks differ)".into(),
        super::error::BADTRUNC => "BADTRUNC".into(),
        other => other.to_string(),
    }
}

/// Verifies the messages answering one signed request, in the order they come.
pub struct ResponseVerifier {
    key: Arc<Key>,
    prior: Vec<u8>,
    first: bool,
    /// The digest of the unsigned messages since the last signed one.
    pending: Option<Context>,
    unsigned: usize,
    last_signed: bool,
}

impl ResponseVerifier {
    /// Checks `msg`, the next message of the answer, at `now`.
    pub fn verify(&mut self, msg: &[u8], now: u64) -> Result<(), VerifyError> {
        let found = match record::locate(msg) {
            Locate::Malformed => return Err(VerifyError::Malformed),
            Locate::None => {
                self.unsigned += 1;
                if self.first || self.unsigned > MAX_UNSIGNED {
                    return Err(VerifyError::Unsigned);
                }
                let (key, prior) = (&self.key, &self.prior);
                let ctx = self.pending.get_or_insert_with(|| {
                    let mut ctx = key.context();
                    record::feed_mac(&mut ctx, prior);
                    ctx
                });
                ctx.update(msg);
                self.last_signed = false;
                return Ok(());
            }
            Locate::Found(found) => found,
        };
        if !found
            .key_name
            .eq_ignore_ascii_case(self.key.name().as_wire())
            || Algorithm::from_wire(&found.algorithm) != Some(self.key.algorithm())
        {
            return Err(VerifyError::WrongKey);
        }
        if found.error != 0 {
            return Err(VerifyError::Refused(found.error));
        }
        if found.mac.len() != self.key.algorithm().mac_len() {
            return Err(VerifyError::BadMac);
        }
        let mut ctx = self.pending.take().unwrap_or_else(|| {
            let mut ctx = self.key.context();
            record::feed_mac(&mut ctx, &self.prior);
            ctx
        });
        record::feed_message(&mut ctx, msg, found.start, found.original_id);
        if self.first {
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
        } else {
            record::feed_timers(&mut ctx, found.time, found.fudge);
        }
        if !macs_equal(ctx.sign().as_ref(), found.mac) {
            return Err(VerifyError::BadMac);
        }
        let skew = now.abs_diff(found.time);
        if skew > u64::from(found.fudge) {
            return Err(VerifyError::BadTime {
                signed: found.time,
                skew,
                fudge: found.fudge,
            });
        }
        self.prior.clear();
        self.prior.extend_from_slice(found.mac);
        self.first = false;
        self.unsigned = 0;
        self.last_signed = true;
        Ok(())
    }

    /// After the last message: it must have been signed (§5.3.1).
    pub fn finish(&self) -> Result<(), VerifyError> {
        if self.last_signed {
            Ok(())
        } else {
            Err(VerifyError::Unsigned)
        }
    }

    /// The key.
    pub fn key(&self) -> &Arc<Key> {
        &self.key
    }
}
