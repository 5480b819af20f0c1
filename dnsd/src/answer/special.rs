//! Requests that are not a lookup in the zones, answered as NSD 4.6 answers them:
//! errors without a question, EDNS probes and versions, classes other than IN, zone
//! transfers and NOTIFY. Where the daemon runs a transfer service
//! (`AnswerOptions::transfers`), zone transfers, NOTIFY and signed requests are
//! deferred to it instead; it verifies TSIG and calls `respond` again with the key in
//! the request context.

use super::limit::LimitKey;
use super::render::{Head, Opt, Writer};
use super::response::Response;
use super::{Outcome, Reply, Transport, identity, write};
use crate::wire::message::{Header, Request, Tsig, class, flags, opcode, rcode};
use crate::wire::name::{MAX_NAME_LEN, lowercase_into};
use crate::zone::ZoneSet;

/// RFC 8914 §4.21: the server is not authoritative for the name.
pub const EDE_NOT_AUTHORITATIVE: u16 = 20;
/// EDE 14, Not Ready (RFC 8914 §4.15): a secondary zone never loaded, or expired.
pub const EDE_NOT_READY: u16 = 14;
/// RFC 8914 §4.22: the request is of a kind the server does not support.
pub const EDE_NOT_SUPPORTED: u16 = 21;
/// RFC 8914 §4.19: the server's policy forbids the request (a transfer refused).
pub const EDE_PROHIBITED: u16 = 18;

/// A response of the header alone (counts zero): id, opcode, RD if `keep_rd`, RCODE.
pub fn header_only(out: &mut Vec<u8>, header: &Header, code: u16, keep_rd: bool) -> Outcome {
    let keep = if keep_rd {
        flags::OPCODE_MASK | flags::RD
    } else {
        flags::OPCODE_MASK
    };
    let writer = Writer::new(out, None);
    let len = writer.finish(Head {
        id: header.id,
        flags: flags::QR | (header.flags & keep) | (code & 0x000f),
    });
    Outcome {
        rcode: code,
        qtype: 0,
        len,
        truncated: false,
        limit: LimitKey::ERROR,
        cookie: Default::default(),
        deferred: false,
    }
}

/// Answers `request` if it is not a plain lookup; `None` lets the lookup answer it.
pub fn respond(
    zones: &ZoneSet,
    request: &Request<'_>,
    reply: &Reply<'_>,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let header = &request.header;
    // The transfer service takes these; a request it passes back is verified.
    let hand_on = reply.options.transfers && !reply.signed;
    if header.opcode() == opcode::NOTIFY {
        if hand_on {
            return Some(deferred(out, request));
        }
        return Some(notify(zones, request, out));
    }
    if let Some(tsig) = request.tsig
        && !reply.signed
    {
        if hand_on {
            return Some(deferred(out, request));
        }
        return Some(tsig_bad_key(out, request, &tsig));
    }
    if let Some(edns) = request.edns
        && edns.version > 0
    {
        // RFC 6891 §6.1.3: BADVERS, with the highest version we support (0). RFC 3225
        // §3: the DO bit is copied into every response to a query that set it, this
        // one included (Knot does; NSD 4.6 leaves it out).
        let mut response = Response::new();
        response.rcode = rcode::BADVERS;
        return Some(write(out, request, reply, &response, None));
    }
    let Some(question) = request.question else {
        // An EDNS probe (RFC 7873 §5.4): NOERROR, our OPT.
        return Some(write(out, request, reply, &Response::new(), None));
    };
    match question.qclass {
        class::IN | class::ANY => {}
        class::CH => return Some(identity::respond(request, &question, reply, out)),
        _ => {
            let mut bare = *request;
            bare.question = None;
            let mut response = Response::new();
            response.rcode = rcode::REFUSED;
            return Some(write(out, &bare, reply, &response, Some(EDE_NOT_SUPPORTED)));
        }
    }
    if hand_on && matches!(question.qtype, 251 | 252) {
        return Some(deferred(out, request));
    }
    let code = match (question.qtype, reply.transport) {
        // RFC 5936 §4.2: AXFR is a TCP affair; over UDP, NOTIMP as NSD says.
        (252, Transport::Udp) => rcode::NOTIMP,
        // Transfers are served in a later issue; until then, as NSD without an ACL:
        // REFUSED for a zone we serve, NOTAUTH for any other.
        (252, Transport::Tcp) | (251, _) if is_apex(zones, question.name) => rcode::REFUSED,
        (252, Transport::Tcp) | (251, _) => rcode::NOTAUTH,
        _ => return None,
    };
    let mut response = Response::new();
    response.rcode = code;
    let ede = match code {
        rcode::REFUSED => Some(EDE_PROHIBITED),
        rcode::NOTAUTH => Some(EDE_NOT_AUTHORITATIVE),
        _ => None,
    };
    Some(write(out, request, reply, &response, ede))
}

/// A request for the transfer service: nothing written, the front hands it on.
fn deferred(out: &mut Vec<u8>, request: &Request<'_>) -> Outcome {
    out.clear();
    Outcome {
        rcode: rcode::NOERROR,
        qtype: request.question.map_or(0, |q| q.qtype),
        len: 0,
        truncated: false,
        limit: LimitKey::ERROR,
        cookie: Default::default(),
        deferred: true,
    }
}

/// TSIG error BADKEY (RFC 8945 §5.2.2).
const TSIG_BADKEY: u16 = 17;

/// A signed request: no TSIG keys are configured yet (transfers and updates come in
/// later issues), so the key is unknown. RFC 8945 §5.2.2, as NSD answers: NOTAUTH,
/// no question, the OPT if the request had one, and an unsigned TSIG record with error
/// BADKEY that echoes key, algorithm, time, fudge and original id.
fn tsig_bad_key(out: &mut Vec<u8>, request: &Request<'_>, tsig: &Tsig<'_>) -> Outcome {
    let mut writer = Writer::new(out, None);
    if let Some(edns) = request.edns {
        writer.opt(&Opt {
            udp_size: super::EDNS_UDP_SIZE,
            extended_rcode: 0,
            dnssec_ok: edns.dnssec_ok,
            ede: None,
            cookie: None,
            nsid: None,
        });
    }
    writer.tsig_error(
        tsig.key,
        tsig.algorithm,
        tsig.time_and_fudge,
        tsig.original_id,
        TSIG_BADKEY,
    );
    let header = &request.header;
    let len = writer.finish(Head {
        id: header.id,
        flags: flags::QR | (header.flags & (flags::OPCODE_MASK | flags::RD)) | rcode::NOTAUTH,
    });
    Outcome {
        rcode: rcode::NOTAUTH,
        qtype: request.question.map_or(0, |q| q.qtype),
        len,
        truncated: false,
        limit: LimitKey::ERROR,
        cookie: Default::default(),
        deferred: false,
    }
}

/// NOTIFY (RFC 1996): not accepted yet (secondary zones come in a later issue). As NSD
/// without `allow-notify`: REFUSED for a zone we serve, NXDOMAIN for any other.
fn notify(zones: &ZoneSet, request: &Request<'_>, out: &mut Vec<u8>) -> Outcome {
    let code = if request.question.is_some_and(|q| is_apex(zones, q.name)) {
        rcode::REFUSED
    } else {
        rcode::NXDOMAIN
    };
    header_only(out, &request.header, code, true)
}

/// Whether `name` (any case) is the apex of a zone we serve.
fn is_apex(zones: &ZoneSet, name: &[u8]) -> bool {
    let mut buf = [0u8; MAX_NAME_LEN];
    let lower = lowercase_into(name, &mut buf);
    zones
        .find(lower)
        .is_some_and(|zone| zone.apex().as_wire() == lower)
}
