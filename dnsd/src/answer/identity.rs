//! CHAOS-class queries that say who answers: `id.server.` (RFC 4892 §2.3) and
//! `hostname.bind.`, answered with the configured `identity` as one TXT record, as
//! NSD's `identity` and Knot's `server.identity` do. Without `identity`, and for
//! every other CHAOS question (`version.bind.`, `version.server.`, ...), REFUSED with
//! EDE "Not Supported": dnsd does not tell what it is or where it runs unless asked to.

use super::render::{Head, Opt, Writer};
use super::special::EDE_NOT_SUPPORTED;
use super::{Outcome, Reply, limit::LimitKey, write};
use crate::answer::response::Response;
use crate::wire::message::{Question, Request, flags, rcode};

/// The names answered with the identity.
const NAMES: [&[u8]; 2] = [b"\x02id\x06server\x00", b"\x08hostname\x04bind\x00"];
/// QTYPE TXT and ANY.
const TXT: u16 = 16;
const ANY: u16 = 255;

/// Answers a CHAOS question.
pub fn respond(
    request: &Request<'_>,
    question: &Question<'_>,
    reply: &Reply<'_>,
    out: &mut Vec<u8>,
) -> Outcome {
    let asks_identity = NAMES
        .iter()
        .any(|name| name.eq_ignore_ascii_case(question.name));
    let identity = reply.options.identity.as_deref();
    let (Some(identity), true) = (identity, asks_identity) else {
        let mut response = Response::new();
        response.rcode = rcode::REFUSED;
        return write(out, request, reply, &response, Some(EDE_NOT_SUPPORTED));
    };
    let mut writer = Writer::new(out, Some(question.wire));
    if matches!(question.qtype, TXT | ANY) {
        writer.chaos_txt(identity);
    }
    if let Some(edns) = request.edns {
        writer.opt(&Opt {
            udp_size: reply.options.udp_max,
            extended_rcode: 0,
            dnssec_ok: edns.dnssec_ok,
            ede: None,
            cookie: reply.cookie,
            nsid: reply.nsid(request),
        });
    }
    let len = writer.finish(Head {
        id: request.header.id,
        flags: flags::QR | flags::AA | (request.header.flags & (flags::OPCODE_MASK | flags::RD)),
    });
    Outcome {
        rcode: rcode::NOERROR,
        qtype: question.qtype,
        len,
        truncated: false,
        limit: LimitKey::ERROR,
        cookie: reply.cookie_state,
        deferred: false,
    }
}
