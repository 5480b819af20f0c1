//! Who asks, and where: the request context a front hands to [`super::respond`] with
//! every request, so that what a request may get can depend on the listener it came
//! to (its role), the client's address and the transport. Access lists, TSIG
//! identities and the resolver route on it. The authoritative path reads the
//! transport, the client's address and the time (DNS cookies, RFC 7873), and the
//! [`AnswerOptions`] of the server: response size, NSID, identity, cookie secrets.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::{EDNS_UDP_SIZE, Transport};
use crate::cookies::Secrets;

/// What the configuration says about answers beyond the zones: the same for every
/// request until the configuration or a cookie secret changes (the front loads them
/// once per batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerOptions {
    /// Largest UDP response, and the EDNS payload size we advertise (RFC 6891 §6.2.5).
    pub udp_max: u16,
    /// Our name server identifier, sent to requests that ask (RFC 5001); None = off.
    pub nsid: Option<Box<[u8]>>,
    /// The TXT answer to CHAOS `id.server.` and `hostname.bind.`; None = REFUSED.
    pub identity: Option<Box<[u8]>>,
    /// Cookie secrets (RFC 7873, RFC 9018); None = cookies off (the option ignored).
    pub cookies: Option<Secrets>,
    /// Whether a UDP request with a client cookie but no good server cookie gets
    /// BADCOOKIE rather than an answer (RFC 7873 §5.2.3).
    pub require_cookie: bool,
    /// Whether UPDATE (RFC 2136) is served: such requests are deferred to the update
    /// service (`sources::update`); otherwise NOTIMP.
    pub updates: bool,
    /// Whether a transfer service (`crate::xfr::service`) takes zone transfers, NOTIFY
    /// and TSIG-signed requests: `respond` defers them (`Outcome::deferred`) and the
    /// front hands them to it. Without one they are answered as NSD without access
    /// lists or keys answers them (REFUSED, NOTAUTH/BADKEY).
    pub transfers: bool,
}

/// The options when nothing is configured.
pub static DEFAULT_OPTIONS: AnswerOptions = AnswerOptions {
    udp_max: EDNS_UDP_SIZE,
    nsid: None,
    identity: None,
    cookies: None,
    require_cookie: false,
    updates: false,
    transfers: false,
};

impl Default for AnswerOptions {
    fn default() -> Self {
        DEFAULT_OPTIONS.clone()
    }
}

/// What a listener is for (DESIGN.md, the router).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Role {
    /// Answers from the zones served; recursion is never offered (RA clear).
    #[default]
    Authoritative,
    /// Answers every name by recursion, for the clients its access list admits.
    Resolver,
    /// Split horizon: the zones served first, recursion for the rest.
    Both,
}

impl Role {
    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Role::Authoritative => "authoritative",
            Role::Resolver => "resolver",
            Role::Both => "both",
        }
    }

    /// Whether this request may get recursion: answers carry RA, and a name in no zone
    /// served goes to the resolver instead of being REFUSED.
    pub fn recursion(self) -> bool {
        self != Role::Authoritative
    }
}

/// The context of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestContext<'a> {
    /// The transport it came over: it bounds the response's size.
    pub transport: Transport,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The index of the listener it came to, in the configuration's order.
    pub listener: u16,
    /// The role this request gets: its listener's, except that the front narrows a
    /// `both` listener's role to `Authoritative` for a client outside its access list.
    pub role: Role,
    /// The time it came, in Unix seconds (cookie timestamps, RFC 9018 §4.3).
    pub now: u32,
    /// The server's answer options.
    pub options: &'a AnswerOptions,
    /// The TSIG key that signed the request, once the transfer service verified the
    /// signature (RFC 8945 §5.2): the sender's identity for access lists (transfers,
    /// NOTIFY, updates). None: unsigned, or not verified (yet).
    pub tsig: Option<&'a crate::tsig::Key>,
    /// Whether the front rate-limits this request's response (RRL): only then does
    /// `respond` work out the response's [`Outcome::limit`] key (`LimitKey::ERROR`
    /// otherwise), which is work on every answer.
    ///
    /// [`Outcome::limit`]: super::Outcome::limit
    pub rate_limited: bool,
}

impl RequestContext<'static> {
    /// A request from `client` over `transport`, to listener `listener` of role `role`,
    /// answered with the default options at time 0 (see [`Self::with_options`]).
    pub fn new(transport: Transport, client: SocketAddr, listener: u16, role: Role) -> Self {
        Self {
            transport,
            client,
            listener,
            role,
            now: 0,
            options: &DEFAULT_OPTIONS,
            tsig: None,
            rate_limited: false,
        }
    }
}

impl<'a> RequestContext<'a> {
    /// The same request, answered with `options` at `now` (Unix seconds).
    pub fn with_options<'b>(self, options: &'b AnswerOptions, now: u32) -> RequestContext<'b>
    where
        'a: 'b,
    {
        RequestContext {
            transport: self.transport,
            client: self.client,
            listener: self.listener,
            role: self.role,
            now,
            options,
            tsig: self.tsig,
            rate_limited: self.rate_limited,
        }
    }

    /// The same request, its response rate-limited (see [`Self::rate_limited`]).
    pub fn with_rate_limit(self) -> Self {
        RequestContext {
            rate_limited: true,
            ..self
        }
    }

    /// The same request, signed with `key` (its TSIG verified).
    pub fn with_tsig<'b>(self, key: &'b crate::tsig::Key) -> RequestContext<'b>
    where
        'a: 'b,
    {
        RequestContext {
            tsig: Some(key),
            ..self
        }
    }
}

/// A request over `transport` from an unknown client (0.0.0.0:0) to the first
/// listener, an authoritative one: what in-process callers (tests, fuzzing,
/// benchmarks) use.
impl From<Transport> for RequestContext<'static> {
    fn from(transport: Transport) -> Self {
        Self::new(
            transport,
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            0,
            Role::Authoritative,
        )
    }
}
