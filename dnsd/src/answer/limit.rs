//! What response rate limiting (`crate::rrl`) needs from the answer engine: the kind
//! of each response and the name it is accounted under, and the short response sent
//! in place of a limited one ("slip").
//!
//! The kinds and their names follow the RRL technical note (BIND) and NSD:
//!
//! | response | kind | name |
//! |---|---|---|
//! | NOERROR with answers | positive | the question's name |
//! | NOERROR synthesized from `*.X` | wildcard | X |
//! | NOERROR, no answer, NS in authority, no AA | referral | the delegation |
//! | NOERROR, no answer | nodata | the zone |
//! | NXDOMAIN | nxdomain | the zone |
//! | any other RCODE (REFUSED, FORMERR, ...) | error | none |
//!
//! Every name is a suffix of the question's name (or, after an alias into another
//! zone, the question's name itself), so the key is a range of the request's bytes:
//! the front hashes it without a copy.

use super::cookie::{self, CookieState};
use super::render::{Head, Opt, Writer};
use super::response::{Response, Section};
use super::{Outcome, RequestContext};
use crate::rrl::Kind;
use crate::wire::message::{self, HEADER_LEN, flags, rcode};
use crate::wire::name::is_subdomain;
use crate::zone::Rtype;

/// RCODE BADCOOKIE (RFC 7873 §8).
pub const BADCOOKIE: u16 = 23;

/// The bucket a response is accounted to, but for the client's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitKey {
    /// The kind of response.
    pub kind: Kind,
    /// Where the key's name lies in the request: start and end offsets (equal = no
    /// name).
    pub name: (u16, u16),
}

impl LimitKey {
    /// An error, or a response that is no lookup: one bucket per prefix.
    pub const ERROR: LimitKey = LimitKey {
        kind: Kind::Error,
        name: (0, 0),
    };

    /// The key's name in `request` (the bytes the response answered).
    pub fn name<'r>(&self, request: &'r [u8]) -> &'r [u8] {
        request
            .get(usize::from(self.name.0)..usize::from(self.name.1))
            .unwrap_or(&[])
    }
}

/// The key of `response`, the answer to a question for `qname`.
pub fn classify(qname: &[u8], response: &Response<'_>) -> LimitKey {
    let end = HEADER_LEN + qname.len();
    let range = |owner: Option<&[u8]>| match owner {
        Some(owner) if is_subdomain(qname, owner) => ((end - owner.len()) as u16, end as u16),
        _ => (HEADER_LEN as u16, end as u16),
    };
    let owner_of = |section: Section, rtype: Rtype| {
        response
            .items()
            .iter()
            .find(|i| i.section == section && i.rtype == rtype)
            .map(|i| response.name(i.owner, qname))
    };
    let (kind, name) = match response.rcode {
        rcode::NXDOMAIN => (
            Kind::Nxdomain,
            range(owner_of(Section::Authority, Rtype::SOA)),
        ),
        rcode::NOERROR => {
            let answered = response
                .items()
                .iter()
                .any(|i| i.section == Section::Answer);
            if answered {
                match response.wildcard {
                    Some(encloser) if is_subdomain(qname, encloser) => {
                        (Kind::Wildcard, range(Some(encloser)))
                    }
                    _ => (Kind::Positive, range(None)),
                }
            } else if let Some(cut) = owner_of(Section::Authority, Rtype::NS)
                && !response.authoritative
            {
                (Kind::Referral, range(Some(cut)))
            } else {
                (
                    Kind::Nodata,
                    range(owner_of(Section::Authority, Rtype::SOA)),
                )
            }
        }
        _ => return LimitKey::ERROR,
    };
    LimitKey { kind, name }
}

/// Writes into `out` the response that replaces a limited one: the header of
/// `limited` (RCODE, AA) with TC set, the question, and the OPT record, so that the
/// client retries over TCP (RFC 7766 §5); or, to a client that sent a cookie without
/// a good server cookie, BADCOOKIE with a fresh server cookie, so that it retries
/// over UDP with it and passes the limit (RFC 7873 §5.3). `None`: send nothing.
pub fn slip(
    request: &[u8],
    context: &RequestContext<'_>,
    limited: &Outcome,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let request = message::parse(request).ok()?;
    let authoritative = out
        .get(2..4)
        .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & flags::AA != 0);
    let (state, cookie) = cookie::verdict(&request, context);
    let badcookie = state == CookieState::Client;
    let code = if badcookie { BADCOOKIE } else { limited.rcode };
    let mut writer = Writer::new(out, request.question.map(|q| q.wire));
    if let Some(edns) = request.edns {
        writer.opt(&Opt {
            udp_size: context.options.udp_max,
            extended_rcode: (code >> 4) as u8,
            dnssec_ok: edns.dnssec_ok,
            ede: None,
            cookie,
            nsid: None,
        });
    }
    let mut head_flags =
        flags::QR | (request.header.flags & (flags::OPCODE_MASK | flags::RD)) | (code & 0x000f);
    // BADCOOKIE (only with EDNS, where the cookie came) answers without TC.
    if !badcookie {
        head_flags |= flags::TC;
        if authoritative {
            head_flags |= flags::AA;
        }
    }
    let len = writer.finish(Head {
        id: request.header.id,
        flags: head_flags,
    });
    Some(Outcome {
        rcode: code,
        qtype: limited.qtype,
        len,
        truncated: !badcookie,
        limit: limited.limit,
        cookie: state,
        deferred: false,
    })
}
