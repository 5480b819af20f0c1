//! The TSIG record of a message (RFC 8945 §4.2): finding it (the last record of the
//! additional section, §5.1), reading its RDATA, writing one, and feeding the parts of
//! the digest (§4.3) to an HMAC context over the message as it travels.

use super::mac::Context;

use crate::wire::message::HEADER_LEN;
use crate::wire::reader::{read_name, skip_name};

/// TYPE of TSIG.
const TSIG: u16 = 250;
/// CLASS ANY.
const ANY: u16 = 255;

/// A TSIG record found in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found<'m> {
    /// Offset of the record's first octet: the message it signs ends here.
    pub start: usize,
    /// The key name as received (decompressed).
    pub key_name: Vec<u8>,
    /// The algorithm name as received.
    pub algorithm: Vec<u8>,
    /// Time signed (48 bits).
    pub time: u64,
    /// Fudge.
    pub fudge: u16,
    /// The MAC.
    pub mac: &'m [u8],
    /// The original message id.
    pub original_id: u16,
    /// The TSIG error.
    pub error: u16,
    /// Other data.
    pub other: &'m [u8],
}

/// What a message holds in the way of TSIG.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Locate<'m> {
    /// No TSIG record.
    None,
    /// One TSIG record, last in the additional section.
    Found(Found<'m>),
    /// A TSIG record elsewhere, or more than one, or a message or RDATA that does not
    /// parse (FORMERR, §5.1).
    Malformed,
}

/// Finds the TSIG record of `msg`.
pub(crate) fn locate(msg: &[u8]) -> Locate<'_> {
    let Some(found) = walk(msg) else {
        return Locate::Malformed;
    };
    match found {
        None => Locate::None,
        Some(start) => match read_rdata(msg, start) {
            Some(found) => Locate::Found(found),
            None => Locate::Malformed,
        },
    }
}

/// Walks every record; Some(None) without TSIG, Some(Some(start)) with one TSIG last
/// in the additional section, None otherwise.
fn walk(msg: &[u8]) -> Option<Option<usize>> {
    let word = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    let qd = word(4)?;
    let (an, ns, ar) = (word(6)?, word(8)?, word(10)?);
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = skip_name(msg, at).ok()? + 4;
        msg.get(..at)?;
    }
    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    let mut found = None;
    for index in 0..total {
        let start = at;
        at = skip_name(msg, at).ok()?;
        let rtype = word(at)?;
        let rdlen = usize::from(word(at + 8)?);
        at += 10 + rdlen;
        msg.get(..at)?;
        if rtype == TSIG {
            let last = index + 1 == total;
            let in_additional = index >= u32::from(an) + u32::from(ns);
            if !last || !in_additional {
                return None;
            }
            found = Some(start);
        }
    }
    Some(found)
}

/// Reads the TSIG record at `start`.
fn read_rdata(msg: &[u8], start: usize) -> Option<Found<'_>> {
    let mut key_name = Vec::with_capacity(32);
    let at = read_name(msg, start, &mut key_name).ok()?;
    let fixed = msg.get(at..at + 10)?;
    if u16::from_be_bytes([fixed[2], fixed[3]]) != ANY {
        return None;
    }
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let rdata_at = at + 10;
    let end = rdata_at + rdlen;
    msg.get(rdata_at..end)?;
    let mut algorithm = Vec::with_capacity(16);
    let mut at = read_name(msg, rdata_at, &mut algorithm).ok()?;
    let field = |at: usize, n: usize| msg.get(at..at + n).filter(|_| at + n <= end);
    let t = field(at, 10)?;
    let time = u64::from_be_bytes([0, 0, t[0], t[1], t[2], t[3], t[4], t[5]]);
    let fudge = u16::from_be_bytes([t[6], t[7]]);
    let mac_len = usize::from(u16::from_be_bytes([t[8], t[9]]));
    at += 10;
    let mac = field(at, mac_len)?;
    at += mac_len;
    let t = field(at, 6)?;
    let original_id = u16::from_be_bytes([t[0], t[1]]);
    let error = u16::from_be_bytes([t[2], t[3]]);
    let other_len = usize::from(u16::from_be_bytes([t[4], t[5]]));
    at += 6;
    let other = field(at, other_len)?;
    if at + other_len != end {
        return None;
    }
    Some(Found {
        start,
        key_name,
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// Feeds the message a TSIG record at `start` signs (§4.3.2): the octets before it,
/// with ARCOUNT one less and the id put back to `original_id`.
pub(crate) fn feed_message(ctx: &mut Context, msg: &[u8], start: usize, original_id: u16) {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&msg[..HEADER_LEN]);
    header[0..2].copy_from_slice(&original_id.to_be_bytes());
    let arcount = u16::from_be_bytes([header[10], header[11]]).saturating_sub(1);
    header[10..12].copy_from_slice(&arcount.to_be_bytes());
    ctx.update(&header);
    ctx.update(&msg[HEADER_LEN..start]);
}

/// The TSIG fields of the digest (§4.3.3).
pub(crate) struct Variables<'a> {
    /// The key name, any case (lowercased here).
    pub key_name: &'a [u8],
    /// The algorithm name, any case.
    pub algorithm: &'a [u8],
    /// Time signed.
    pub time: u64,
    /// Fudge.
    pub fudge: u16,
    /// Error.
    pub error: u16,
    /// Other data.
    pub other: &'a [u8],
}

/// Feeds the TSIG variables (§4.3.3): names in canonical form (lowercase).
pub(crate) fn feed_variables(ctx: &mut Context, v: &Variables<'_>) {
    ctx.update(&v.key_name.to_ascii_lowercase());
    ctx.update(&[0, ANY as u8, 0, 0, 0, 0]);
    ctx.update(&v.algorithm.to_ascii_lowercase());
    feed_timers(ctx, v.time, v.fudge);
    ctx.update(&v.error.to_be_bytes());
    ctx.update(&(v.other.len() as u16).to_be_bytes());
    ctx.update(v.other);
}

/// Feeds time signed and fudge: all of the TSIG a later message of a stream adds to
/// its digest (§4.3.1, §5.3.1).
pub(crate) fn feed_timers(ctx: &mut Context, time: u64, fudge: u16) {
    ctx.update(&time.to_be_bytes()[2..]);
    ctx.update(&fudge.to_be_bytes());
}

/// Feeds a prior MAC (a request's, or the previous message's), length first (§4.3.1).
pub(crate) fn feed_mac(ctx: &mut Context, mac: &[u8]) {
    ctx.update(&(mac.len() as u16).to_be_bytes());
    ctx.update(mac);
}

/// A TSIG record to append.
pub(crate) struct Written<'a> {
    /// Key name (wire).
    pub key_name: &'a [u8],
    /// Algorithm name (wire).
    pub algorithm: &'a [u8],
    /// Time signed.
    pub time: u64,
    /// Fudge.
    pub fudge: u16,
    /// MAC (empty for unsigned errors).
    pub mac: &'a [u8],
    /// Original id.
    pub original_id: u16,
    /// Error.
    pub error: u16,
    /// Other data.
    pub other: &'a [u8],
}

/// Appends a TSIG record to `msg` and counts it in ARCOUNT.
pub(crate) fn append(msg: &mut Vec<u8>, r: &Written<'_>) {
    msg.extend_from_slice(r.key_name);
    msg.extend_from_slice(&TSIG.to_be_bytes());
    msg.extend_from_slice(&ANY.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0]);
    let rdlen = r.algorithm.len() + 10 + r.mac.len() + 6 + r.other.len();
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(r.algorithm);
    msg.extend_from_slice(&r.time.to_be_bytes()[2..]);
    msg.extend_from_slice(&r.fudge.to_be_bytes());
    msg.extend_from_slice(&(r.mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(r.mac);
    msg.extend_from_slice(&r.original_id.to_be_bytes());
    msg.extend_from_slice(&r.error.to_be_bytes());
    msg.extend_from_slice(&(r.other.len() as u16).to_be_bytes());
    msg.extend_from_slice(r.other);
    if msg.len() >= HEADER_LEN {
        let arcount = u16::from_be_bytes([msg[10], msg[11]]).saturating_add(1);
        msg[10..12].copy_from_slice(&arcount.to_be_bytes());
    }
}

/// Octets a TSIG record of `key_name` with `algorithm` and a full MAC takes (what a
/// response must leave room for).
pub(crate) fn record_len(key_name: &[u8], algorithm: &[u8], mac_len: usize, other: usize) -> usize {
    key_name.len() + 10 + algorithm.len() + 10 + mac_len + 6 + other
}
