//! Deferred requests: what the front hands to the resolver when no zone served answers
//! a request that may get recursion, and the way back to the client on the socket or
//! connection the request came over (DESIGN.md, the router).
//!
//! ```text
//!  UDP worker ──respond(): deferred──► DeferredQuery { request, context, reply }
//!                                          │ (sink: the resolver's queue, never blocks)
//!                                          ▼
//!                                  resolver task ──► reply.send(response)
//!                                          │
//!     UDP: sendmsg on the listener's own socket (with the query's IP_PKTINFO, so a
//!          wildcard listener answers from the address it was asked on);
//!     TCP: a oneshot channel to the connection, which writes the length-prefixed answer.
//! ```
//!
//! The authoritative path never waits on this: a worker copies the request (the only
//! allocation of the resolver route) and goes on with its batch. A question the
//! resolver answered before is answered by the worker itself (`Recursion::answer_now`),
//! in its batch.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use socket2::{SockAddr, Socket};
use tokio::sync::oneshot;

use crate::answer::{Outcome, RequestContext, Transport};

/// Room for one IP_PKTINFO or IPV6_PKTINFO control message.
pub const CONTROL_LEN: usize = 64;

/// A request the resolver answers later.
pub struct DeferredQuery {
    /// The request as received.
    pub request: Vec<u8>,
    /// The transport it came over.
    pub transport: Transport,
    /// Who asked.
    pub client: SocketAddr,
    /// Where the answer goes.
    pub reply: Reply,
}

/// What became of a request routed to the resolver.
pub enum Routed {
    /// The resolver took it: its answer leaves later.
    Taken,
    /// Answered at once into `out` (a rendered answer, or SERVFAIL when the resolver
    /// could not take it).
    Answered(Outcome),
    /// Nothing to send (not a request).
    Nothing,
}

/// Routes `request`, which no zone answers and which may get recursion, to `sink`:
/// answered at once from what the resolver rendered before, else queued with the
/// `reply` made then, else (no resolver, queue full) SERVFAIL, so that the client
/// does not wait for nothing.
pub fn route(
    sink: Option<&DeferSink>,
    request: &[u8],
    context: &RequestContext<'_>,
    reply: impl FnOnce() -> Reply,
    out: &mut Vec<u8>,
) -> Routed {
    if let Some(sink) = sink {
        if let Some(outcome) = sink.answer_now(request, context, out) {
            return Routed::Answered(outcome);
        }
        let deferred = DeferredQuery {
            request: request.to_vec(),
            transport: context.transport,
            client: context.client,
            reply: reply(),
        };
        if sink.defer(deferred) {
            return Routed::Taken;
        }
    }
    match crate::answer::servfail(request, context, out) {
        Some(outcome) => Routed::Answered(outcome),
        None => Routed::Nothing,
    }
}

/// Where the answer to a deferred request goes.
pub enum Reply {
    /// A datagram on the listener's own socket.
    Udp {
        /// The worker's socket the request came on.
        socket: Arc<Socket>,
        /// The client.
        to: SocketAddr,
        /// The control message that sets the source address (wildcard listeners),
        /// and its length (0: none).
        control: [u8; CONTROL_LEN],
        /// Length of `control` in use.
        control_len: usize,
    },
    /// The connection's task, waiting for the response in order.
    Tcp(oneshot::Sender<Vec<u8>>),
}

impl Reply {
    /// Sends `response` to the client; errors (an unreachable client, a connection
    /// that closed) only matter to that client and are returned for counting.
    pub fn send(self, response: Vec<u8>) -> io::Result<()> {
        match self {
            Reply::Udp {
                socket,
                to,
                mut control,
                control_len,
            } => send_datagram(&socket, to, &response, &mut control[..control_len]),
            Reply::Tcp(sender) => sender
                .send(response)
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }
}

/// The resolver as the front sees it.
pub trait Recursion: Send + Sync {
    /// Answers `request` at once from what the resolver already rendered, into `out`
    /// (synchronous: no lock held long, no await, no allocation once `out` grew);
    /// None when it cannot.
    fn answer_now(
        &self,
        request: &[u8],
        context: &RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Outcome>;

    /// Takes `query` for later; false when it cannot (queue full): the front then
    /// answers SERVFAIL.
    fn defer(&self, query: DeferredQuery) -> bool;
}

/// Where deferred requests go: the resolver.
pub type DeferSink = Arc<dyn Recursion>;

/// sendmsg(2) of one datagram to `to`, with `control` (IP_PKTINFO) when not empty.
fn send_datagram(
    socket: &Socket,
    to: SocketAddr,
    payload: &[u8],
    control: &mut [u8],
) -> io::Result<()> {
    let address = SockAddr::from(to);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: an all-zero msghdr is valid; every pointer set below points at a live
    // buffer of the length given, for the duration of the call.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = address.as_ptr() as *mut libc::c_void;
    header.msg_namelen = address.len();
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if !control.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len() as _;
    }
    // SAFETY: as above.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, 0) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
