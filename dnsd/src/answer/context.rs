//! Who asks, and where: the request context a front hands to [`super::respond`] with
//! every request, so that what a request may get can depend on the listener it came
//! to (its role), the client's address and the transport. Access lists, TSIG
//! identities and the resolver route on it; the authoritative path only reads the
//! transport today.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::Transport;

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

/// The context of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The transport it came over: it bounds the response's size.
    pub transport: Transport,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The index of the listener it came to, in the configuration's order.
    pub listener: u16,
    /// That listener's role.
    pub role: Role,
}

impl RequestContext {
    /// A request from `client` over `transport`, to listener `listener` of role `role`.
    pub fn new(transport: Transport, client: SocketAddr, listener: u16, role: Role) -> Self {
        Self {
            transport,
            client,
            listener,
            role,
        }
    }
}

/// A request over `transport` from an unknown client (0.0.0.0:0) to the first
/// listener, an authoritative one: what in-process callers (tests, fuzzing,
/// benchmarks) use.
impl From<Transport> for RequestContext {
    fn from(transport: Transport) -> Self {
        Self::new(
            transport,
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            0,
            Role::Authoritative,
        )
    }
}
