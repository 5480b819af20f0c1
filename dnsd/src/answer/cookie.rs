//! DNS cookies in the answer path (RFC 7873 §5.2): what the request's COOKIE option
//! proves, and the COOKIE option of the response.
//!
//! With cookies on (`[cookies]`), every response to a request that carried a client
//! cookie carries it back with a server cookie (RFC 9018): the one that came, if it
//! is good and younger than half an hour, else a new one. The policy:
//!
//! | request carries | UDP | TCP |
//! |---|---|---|
//! | no cookie | answered; rate limited | answered |
//! | client cookie only, or a bad server cookie (RFC 7873 §5.2.4: as client only) | answered with a new server cookie; rate limited, and a limited response slips as BADCOOKIE instead of TC; with `require = true`, BADCOOKIE at once | answered |
//! | good server cookie | answered, never rate limited | answered |
//!
//! With cookies off, the option is ignored, as by a server that does not know it.

use std::net::IpAddr;

use super::context::RequestContext;
use crate::cookies::{CLIENT_LEN, Check, SERVER_LEN};
use crate::wire::message::Request;

/// Octets of the COOKIE option data we send: client and server cookie.
pub const REPLY_LEN: usize = CLIENT_LEN + SERVER_LEN;

/// What a request's cookie proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CookieState {
    /// No cookie, or cookies are off.
    #[default]
    None,
    /// A client cookie without a good server cookie: the client speaks cookies but
    /// has not proven its address.
    Client,
    /// A good server cookie: the client has received from this address before
    /// (RFC 7873 §5.4: rate limits need not apply).
    Valid,
}

/// The request's cookie state and the COOKIE option data of the response.
pub fn verdict(
    request: &Request<'_>,
    context: &RequestContext<'_>,
) -> (CookieState, Option<[u8; REPLY_LEN]>) {
    let (Some(secrets), Some(data)) = (
        context.options.cookies.as_ref(),
        request.edns.and_then(|e| e.cookie),
    ) else {
        return (CookieState::None, None);
    };
    let Some(client) = data
        .get(..CLIENT_LEN)
        .and_then(|c| <[u8; CLIENT_LEN]>::try_from(c).ok())
    else {
        return (CookieState::None, None);
    };
    let ip = canonical(context.client.ip());
    let now = context.now;
    let mut reply = [0u8; REPLY_LEN];
    reply[..CLIENT_LEN].copy_from_slice(&client);
    let server = &data[CLIENT_LEN..];
    let state = if server.is_empty() {
        CookieState::Client
    } else {
        match secrets.check(&client, server, ip, now) {
            Check::Fresh => {
                reply[CLIENT_LEN..].copy_from_slice(server);
                return (CookieState::Valid, Some(reply));
            }
            Check::Good => CookieState::Valid,
            Check::Bad => CookieState::Client,
        }
    };
    reply[CLIENT_LEN..].copy_from_slice(&secrets.make(&client, ip, now));
    (state, Some(reply))
}

/// The address a cookie is bound to: an IPv4-mapped IPv6 address counts as IPv4, as
/// another server of the cluster listening on IPv4 would see it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
