//! The authoritative answer engine: request bytes in, response bytes out.
//!
//! The front calls [`respond`] for every packet, on its own thread, with the current
//! [`ZoneSet`] snapshot. The path is synchronous, takes no lock and, once `out` has
//! grown to its working size, allocates nothing. Its steps, each in its own module:
//!
//! 1. `wire::message` parses the header, the question and the OPT record, and rejects
//!    what must be rejected (no reply, FORMERR, NOTIMP);
//! 2. `special` answers what is not a lookup: EDNS version, classes other than IN,
//!    zone transfers, NOTIFY;
//! 3. `lookup` runs RFC 1034 §4.3.2 over the zones into a `Response` description,
//!    with `wildcard`, `referral`, `negative` and `additional` for the parts of it;
//! 4. `render` writes the description: compression, OPT, truncation.
//!
//! Around them: `cookie` checks the request's DNS cookie and makes the response's
//! (RFC 7873, RFC 9018), `identity` answers CHAOS `id.server` when configured, and
//! `limit` tells response rate limiting what each response was and writes the short
//! response that replaces a limited one.
//!
//! With DO (RFC 3225), `proof` adds the DNSSEC records of RFC 4035 §3.1 and RFC 5155
//! §7.2: signatures beside each RRset, denial of existence, DS at referrals.
//!
//! RFCs: 1034, 1035, 2181, 2308, 3597, 4035 §3.1, 5155 §7.2, 4592, 4892, 5001, 6672,
//! 6891, 7766, 7873, 8482, 8914, 8945 §5.2, 9018, 9471. Where the RFCs leave a choice, dnsd does what NSD 4.6
//! does; `vs_nsd` checks that, response by response, against a running NSD.
//!
//! # Differences from NSD 4.6 (on purpose)
//!
//! - Positive answers carry no NS RRset in the authority section and so no addresses
//!   for it in additional (NSD adds both unless `minimal-responses: yes`, which also
//!   drops the MX/SRV addresses dnsd keeps). Knot does the same as dnsd; RFC 2181 §6.1
//!   leaves it optional, and it costs size on every answer.
//! - A referral whose glue for in-domain name servers does not fit is truncated (TC),
//!   as RFC 9471 §3 requires; NSD 4.6 predates it and drops the glue silently.
//! - BADVERS answers keep the DO bit of the query (RFC 3225 §3), as Knot does; NSD 4.6
//!   leaves it out.
//! - CHAOS queries (version.bind, id.server, ...) are REFUSED: dnsd does not tell what
//!   it is or where it runs, unless `identity` is configured (then `id.server` and
//!   `hostname.bind` get it). NSD answers them unless `hide-version`/`hide-identity`.
//! - QTYPE ANY is answered with one RRset, over UDP and TCP, as NSD does (RFC 8482
//!   §4.1); NSD picks the first of SOA/A/AAAA/MX/PTR in zone-file order, dnsd in that
//!   order of types (the snapshot keeps no file order).
//! - CNAME and DNAME chains stop after 12 steps (`lookup::MAX_CHAIN`); NSD stops only
//!   at a loop or when its pool of synthesized names runs out.
//! - Zone transfers, NOTIFY and TSIG-signed requests go to the transfer service
//!   (`crate::xfr::service`) when the daemon runs one (`AnswerOptions::transfers`):
//!   `respond` defers them. Without it (tests, fuzzing), AXFR over TCP and IXFR are
//!   REFUSED, AXFR over UDP is NOTIMP (as NSD), NOTIFY is REFUSED (NSD without
//!   `allow-notify`), and a signed request gets NOTAUTH/BADKEY (NSD without keys).

mod additional;
mod context;
mod cookie;
mod identity;
mod limit;
mod lookup;
mod negative;
mod prefetch;
mod proof;
mod referral;
mod render;
mod response;
mod special;
mod wildcard;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dname;
#[cfg(test)]
mod tests_dnssec;
#[cfg(test)]
mod tests_internet;
#[cfg(test)]
mod tests_wire;
#[cfg(test)]
mod tests_zones;
#[cfg(test)]
mod vs_nsd;

use crate::wire::message::{self, Rejection, Request, class, flags, rcode};
use crate::zone::{Rtype, ZoneSet};
use lookup::Query;
use render::{Head, Opt, Writer};
use response::Response;

pub use prefetch::prefetch;

pub use context::{AnswerOptions, DEFAULT_OPTIONS, RequestContext, Role};
pub use cookie::CookieState;
pub use limit::{BADCOOKIE, LimitKey, slip};

/// Our default EDNS UDP payload size (the DNS flag day 2020 value, NSD's default);
/// `udp-max-response-size` changes it.
pub const EDNS_UDP_SIZE: u16 = 1232;
/// Largest response without EDNS (RFC 1035 §4.2.1).
pub const PLAIN_UDP_SIZE: usize = 512;
/// Largest response over TCP (RFC 7766 §8: the two-octet length prefix).
pub const TCP_SIZE: usize = 65535;

/// The transport a request came over: it bounds the response's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 octets, or the EDNS size the client advertised, up to ours.
    Udp,
    /// TCP: up to 65535 octets.
    Tcp,
}

/// What `respond` did, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The response's RCODE, extended ones (BADVERS) included.
    pub rcode: u16,
    /// The question's type (0 without a question).
    pub qtype: u16,
    /// The response's length in octets.
    pub len: usize,
    /// Whether TC was set.
    pub truncated: bool,
    /// What response rate limiting accounts it to.
    pub limit: LimitKey,
    /// What the request's DNS cookie proved.
    pub cookie: CookieState,
    /// The request is for the resolver (a name in no zone served, to a listener that
    /// recurses for this client): `out` is empty, and the front hands the request on.
    pub deferred: bool,
}

/// How a response is to be written: transport, options, and what the request's
/// cookie asks for.
pub(crate) struct Reply<'a> {
    /// The transport: it bounds the size.
    pub transport: Transport,
    /// The server's options.
    pub options: &'a AnswerOptions,
    /// The COOKIE option's data for the response.
    pub cookie: Option<[u8; cookie::REPLY_LEN]>,
    /// What the request's cookie proved.
    pub cookie_state: CookieState,
    /// Whether the request's TSIG was verified (`RequestContext::tsig`).
    pub signed: bool,
}

impl Reply<'_> {
    /// Our NSID, if `request` asked for it and one is configured (RFC 5001 §2.1).
    pub fn nsid(&self, request: &Request<'_>) -> Option<&[u8]> {
        self.options
            .nsid
            .as_deref()
            .filter(|_| request.edns.is_some_and(|e| e.nsid))
    }
}

/// Writes the response to `request`, which came as `context` says, into `out`
/// (cleared first); `None` = send nothing. Synchronous, no locks, no allocation once
/// `out` has grown.
pub fn respond(
    zones: &ZoneSet,
    request: &[u8],
    context: &RequestContext<'_>,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let request = match message::parse(request) {
        Ok(request) => request,
        Err(Rejection::Drop) => return None,
        Err(Rejection::NotImplemented(header))
            if header.opcode() == message::opcode::UPDATE && context.options.updates =>
        {
            // RFC 2136: to the update service, which answers once the change is durable.
            out.clear();
            return Some(Outcome {
                rcode: rcode::NOERROR,
                qtype: 0,
                len: 0,
                truncated: false,
                limit: LimitKey::ERROR,
                cookie: CookieState::default(),
                deferred: true,
            });
        }
        Err(Rejection::NotImplemented(header)) => {
            return Some(special::header_only(out, &header, rcode::NOTIMP, true));
        }
        Err(Rejection::Malformed { header, keep_rd }) => {
            return Some(special::header_only(out, &header, rcode::FORMERR, keep_rd));
        }
    };
    let (cookie_state, cookie) = cookie::verdict(&request, context);
    let reply = Reply {
        transport: context.transport,
        options: context.options,
        cookie,
        cookie_state,
        signed: context.tsig.is_some(),
    };
    if cookie_state == CookieState::Client
        && context.options.require_cookie
        && context.transport == Transport::Udp
    {
        // RFC 7873 §5.2.3: a client that sent a cookie proves its address first.
        let mut response = Response::new();
        response.rcode = BADCOOKIE;
        return Some(write(out, &request, &reply, &response, None));
    }
    if let Some(outcome) = special::respond(zones, &request, &reply, out) {
        return Some(outcome);
    }
    let Some(question) = request.question else {
        // `special` answers the EDNS probe, the only request without a question.
        return Some(special::header_only(
            out,
            &request.header,
            rcode::FORMERR,
            true,
        ));
    };
    let query = Query {
        qname: question.name,
        qtype: Rtype(question.qtype),
        class_any: question.qclass == class::ANY,
    };
    let mut response = Response::new();
    if request.edns.is_some_and(|e| e.dnssec_ok) {
        response.dnssec = true;
        response.now = context.now;
    }
    lookup::resolve(zones, &query, &mut response);
    if response.rcode == rcode::REFUSED && context.role.recursion() {
        // DESIGN.md, the router: local zones first, then the resolver.
        out.clear();
        return Some(Outcome {
            rcode: rcode::NOERROR,
            qtype: question.qtype,
            len: 0,
            truncated: false,
            limit: LimitKey::ERROR,
            cookie: reply.cookie_state,
            deferred: true,
        });
    }
    let ede = match response.rcode {
        rcode::REFUSED => Some(special::EDE_NOT_AUTHORITATIVE),
        // Only a secondary zone that never loaded or expired answers SERVFAIL here.
        rcode::SERVFAIL => Some(special::EDE_NOT_READY),
        _ => None,
    };
    let mut outcome = write(out, &request, &reply, &response, ede);
    if context.rate_limited {
        outcome.limit = limit::classify(question.name, &response);
    }
    if context.role.recursion() && out.len() >= 4 {
        // RFC 1035 §4.1.1: RA where recursion is offered (to this client).
        out[3] |= RA_LOW_BYTE;
    }
    Some(outcome)
}

/// RA (RFC 1035 §4.1.1) in the header's fourth octet.
const RA_LOW_BYTE: u8 = 0x80;

/// EDE 0, Other (RFC 8914 §4.1): the resolver could not take the request.
pub const EDE_OTHER: u16 = 0;

/// Writes SERVFAIL (RA set) for a request the resolver could not take (no resolver
/// configured, its queue full); `None` for a packet that gets nothing.
pub fn servfail(request: &[u8], context: &RequestContext, out: &mut Vec<u8>) -> Option<Outcome> {
    let request = match message::parse(request) {
        Ok(request) => request,
        // A deferred UPDATE (RFC 2136) that the update service could not take.
        Err(Rejection::NotImplemented(header)) => {
            return Some(special::header_only(out, &header, rcode::SERVFAIL, true));
        }
        Err(_) => return None,
    };
    let mut response = Response::new();
    response.rcode = rcode::SERVFAIL;
    let outcome = write(
        out,
        &request,
        &plain_reply(context),
        &response,
        Some(EDE_OTHER),
    );
    if out.len() >= 4 {
        out[3] |= RA_LOW_BYTE;
    }
    Some(outcome)
}

/// EDE 18, Prohibited (RFC 8914 §4.19): the client is outside the access list.
pub const EDE_PROHIBITED: u16 = 18;

/// Writes REFUSED with EDE Prohibited (when the request has EDNS) for a client that
/// the listener's access list does not admit; `None` for a packet that gets nothing
/// (not a request). RA stays clear: nothing is offered to this client.
pub fn refuse(request: &[u8], context: &RequestContext, out: &mut Vec<u8>) -> Option<Outcome> {
    let request = match message::parse(request) {
        Ok(request) => request,
        Err(Rejection::Drop) => return None,
        Err(Rejection::NotImplemented(header)) | Err(Rejection::Malformed { header, .. }) => {
            return Some(special::header_only(out, &header, rcode::REFUSED, true));
        }
    };
    let mut response = Response::new();
    response.rcode = rcode::REFUSED;
    Some(write(
        out,
        &request,
        &plain_reply(context),
        &response,
        Some(EDE_PROHIBITED),
    ))
}

/// How an answer that is not from the zones (a refusal, a resolver's SERVFAIL) is
/// written: the request's transport and the server's options, no cookie.
fn plain_reply<'a>(context: &RequestContext<'a>) -> Reply<'a> {
    Reply {
        transport: context.transport,
        options: context.options,
        cookie: None,
        cookie_state: CookieState::default(),
        signed: context.tsig.is_some(),
    }
}

/// Renders `response` to `request` into `out`, as `reply` says; accounted as an
/// error by rate limiting (`respond` classifies lookups).
pub(crate) fn write(
    out: &mut Vec<u8>,
    request: &Request<'_>,
    reply: &Reply<'_>,
    response: &Response<'_>,
    ede: Option<u16>,
) -> Outcome {
    let transport = reply.transport;
    let udp_max = reply.options.udp_max.max(PLAIN_UDP_SIZE as u16);
    let question = request.question;
    let qtype = question.map_or(0, |q| q.qtype);
    let question_bytes = question.map(|q| q.wire);
    let qname = question.map_or(&[][..], |q| q.name);
    let opt = request.edns.map(|edns| Opt {
        udp_size: udp_max,
        extended_rcode: (response.rcode >> 4) as u8,
        dnssec_ok: edns.dnssec_ok,
        ede,
        cookie: reply.cookie,
        nsid: reply.nsid(request),
    });
    let limit = match (transport, request.edns) {
        (Transport::Tcp, _) => TCP_SIZE,
        (Transport::Udp, None) => PLAIN_UDP_SIZE,
        (Transport::Udp, Some(edns)) => {
            usize::from(edns.udp_size.clamp(PLAIN_UDP_SIZE as u16, udp_max))
        }
    }
    .saturating_sub(opt.map_or(0, |o| o.wire_len()));
    let mut writer = Writer::new(out, question_bytes);
    let truncated = writer.sections(response, qname, limit);
    if let Some(opt) = &opt {
        writer.opt(opt);
    }
    let mut head_flags = flags::QR
        | (request.header.flags & (flags::OPCODE_MASK | flags::RD))
        | (response.rcode & 0x000f);
    if response.authoritative {
        head_flags |= flags::AA;
    }
    if truncated {
        head_flags |= flags::TC;
    }
    let len = writer.finish(Head {
        id: request.header.id,
        flags: head_flags,
    });
    Outcome {
        rcode: response.rcode,
        qtype,
        len,
        truncated,
        limit: LimitKey::ERROR,
        cookie: reply.cookie_state,
        deferred: false,
    }
}
