//! The TCP front (RFC 7766): DNS messages with a two-octet length prefix, on tokio.
//!
//! A connection may carry many queries, sent back to back without waiting (pipelining,
//! RFC 7766 §6.2.1.1): every complete query in what was read is answered, in order,
//! and the answers leave in one write. Answers may be up to 65535 octets, so a client
//! told to retry over TCP (TC) gets the full answer here. A connection that gets no
//! answer for `idle-timeout-ms` is closed (§6.2.3), and beyond `max-connections` a new
//! connection is closed as soon as it is accepted, so that a crowd of idle clients
//! cannot exhaust the server.
//!
//! Only a complete query that is answered resets the idle timeout (§6.2.3, §10):
//! frames that get no answer (empty ones, QR=1 headers, anything shorter than a
//! header) do not keep a connection open, and the [`UNANSWERED_MAX`]th of them since
//! the connection's last answer closes it at once, counted in
//! `dnsd_tcp_unanswered_closes_total`. One such frame among queries is forgiven: a
//! client may get one wrong.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, timeout_at};

use super::acl::Acl;
use super::deferred::{DeferSink, DeferredQuery, Reply};
use crate::answer::{AnswerOptions, RequestContext, Role, Transport, refuse, respond, servfail};
use crate::config::TcpConfig;
use crate::metrics::Metrics;
use crate::zone::ZoneSet;

/// Largest DNS message over TCP (the length prefix is 16 bits).
const MESSAGE_MAX: usize = 65535;
/// Responses gathered before they are written: beyond it, further pipelined queries
/// wait until the client has read (TCP flow control pushes back on it).
const OUTPUT_BOUND: usize = 65536;
/// Pending connections the kernel holds before we accept them.
const BACKLOG: i32 = 1024;
/// Frames without an answer since the last answer that close a connection.
pub const UNANSWERED_MAX: usize = 3;

/// Binds a listening socket on `addr` (freebind: the address may not be here yet).
/// Without SO_REUSEPORT, so that a port another server holds is an error.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// What every connection needs.
pub struct Shared {
    /// The zones answered from.
    pub zones: Arc<ArcSwap<ZoneSet>>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub config: TcpConfig,
    /// One permit per connection allowed, over all listeners.
    pub permits: Arc<Semaphore>,
    /// The answer options (cookie secrets rotate: loaded per read).
    pub options: Arc<ArcSwap<AnswerOptions>>,
    /// Where requests for the resolver go; without it they get SERVFAIL.
    pub defer: Option<DeferSink>,
    /// The transfer service: signed requests, NOTIFY, AXFR and IXFR (streamed).
    pub transfers: Option<Arc<crate::xfr::Service>>,
}

impl Shared {
    /// Shared state for listeners with `config`'s limits.
    pub fn new(zones: Arc<ArcSwap<ZoneSet>>, metrics: Arc<Metrics>, config: TcpConfig) -> Self {
        Self {
            zones,
            metrics,
            config,
            permits: Arc::new(Semaphore::new(config.max_connections)),
            options: Arc::new(ArcSwap::from_pointee(AnswerOptions::default())),
            defer: None,
            transfers: None,
        }
    }

    /// The same, answering with `options`.
    pub fn with_options(mut self, options: Arc<ArcSwap<AnswerOptions>>) -> Self {
        self.options = options;
        self
    }
}

/// A listening socket and what it is in the configuration.
pub struct Listener {
    /// The socket.
    pub listener: TcpListener,
    /// The listener's index in the configuration.
    pub index: u16,
    /// Its role.
    pub role: Role,
    /// The clients it serves (or, for `both`, recurses for).
    pub allow: Acl,
}

/// Accepts connections on `listener` until `shutdown` turns true.
pub async fn serve(listener: Listener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let Listener {
        listener,
        index,
        role,
        allow,
    } = listener;
    while let Some((stream, peer, permit)) = accept(&listener, &shared, &mut shutdown, "tcp").await
    {
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let client_role = super::acl::role_for(role, &allow, peer.ip());
        let context = Context {
            request: RequestContext::new(Transport::Tcp, peer, index, client_role.unwrap_or(role)),
            refused: client_role.is_none(),
        };
        tokio::spawn(async move {
            let _open = OpenConnection::new(&shared.metrics);
            if let Err(e) = connection(stream, &shared, &context, shutdown, permit).await {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
        });
    }
}

/// The next connection on `listener` (TCP or DoT, `what` in the logs) with its place
/// among the `max-connections`; None at shutdown. A client past the limit is closed at
/// once and counted; an accept error (out of file descriptors) waits a little rather
/// than spin.
pub(super) async fn accept(
    listener: &TcpListener,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    what: &str,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return None,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match shared.permits.clone().try_acquire_owned() {
            Ok(permit) => return Some((stream, peer, permit)),
            Err(_) => {
                shared.metrics.tcp_refused();
                tracing::debug!(%peer, "{what} connection refused: max-connections reached");
                drop(stream);
            }
        }
    }
}

/// Counts a connection in the gauge while it lives, also when its task unwinds.
pub(super) struct OpenConnection<'m>(&'m Metrics);

impl<'m> OpenConnection<'m> {
    pub(super) fn new(metrics: &'m Metrics) -> Self {
        metrics.tcp_connection(1);
        Self(metrics)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.tcp_connection(-1);
    }
}

/// The context of a connection's requests, and whether its client is refused.
struct Context {
    request: RequestContext<'static>,
    refused: bool,
}

/// Serves one connection until the peer closes it, it idles too long, or shutdown.
async fn connection(
    mut stream: TcpStream,
    shared: &Shared,
    context: &Context,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let idle = shared.config.idle_timeout;
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut output: Vec<u8> = Vec::with_capacity(4096);
    let mut response: Vec<u8> = Vec::with_capacity(4096);
    let mut deadline = Instant::now() + idle;
    let mut unanswered = 0;
    loop {
        let (answered, deferred) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answer_complete(
                &mut input,
                &mut output,
                &mut response,
                shared,
                context,
                &mut unanswered,
            )
        }))
        .map_err(|_| {
            // A bug in the answer path: this connection ends, the server goes on.
            shared.metrics.tcp().panic_shared();
            tracing::error!(client = %context.request.client, "the answer path panicked (a bug)");
            io::Error::other("the answer path panicked")
        })?;
        if let (Some(request), Some(service)) = (&deferred, &shared.transfers)
            && crate::xfr::Service::takes(request)
        {
            // Answers before it go first; a transfer writes with its own timeout.
            if !output.is_empty() {
                match timeout_at(deadline, stream.write_all(&output)).await {
                    Ok(result) => result?,
                    Err(_) => return timed_out(shared),
                }
                output.clear();
            }
            let options = shared.options.load_full();
            tokio::select! {
                served = service.serve_tcp(request, context.request, options, &mut stream) => served?,
                _ = shutdown.changed() => return Ok(()),
            }
            deadline = Instant::now() + idle;
            continue;
        }
        if let Some(request) = deferred {
            // Answered in order: the resolver's answer goes where this request was.
            let answer = tokio::select! {
                answer = resolve(request, shared, &context.request) => answer,
                _ = shutdown.changed() => return Ok(()),
            };
            if let Some(answer) = answer.filter(|a| a.len() <= MESSAGE_MAX) {
                output.extend_from_slice(&(answer.len() as u16).to_be_bytes());
                output.extend_from_slice(&answer);
                deadline = Instant::now() + idle;
                unanswered = 0;
            } else {
                unanswered += 1;
            }
            if has_complete_message(&input) || !output.is_empty() {
                continue;
            }
        }
        if answered > 0 {
            deadline = Instant::now() + idle;
        }
        let wrote = !output.is_empty();
        if wrote {
            match timeout_at(deadline, stream.write_all(&output)).await {
                Ok(result) => result?,
                Err(_) => return timed_out(shared),
            }
            output.clear();
        }
        if unanswered >= UNANSWERED_MAX {
            // The answers to what came before are out: now close (RFC 7766 §10).
            shared.metrics.tcp_unanswered_close();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{unanswered} frames without an answer"),
            ));
        }
        if wrote && has_complete_message(&input) {
            // Left over by the output bound: answer them before reading more.
            continue;
        }
        if input.capacity() - input.len() < 2048 {
            input.reserve(input.len().clamp(4096, 2 + MESSAGE_MAX));
        }
        let read = tokio::select! {
            read = timeout_at(deadline, stream.read_buf(&mut input)) => read,
            _ = shutdown.changed() => return Ok(()),
        };
        match read {
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return timed_out(shared),
        }
    }
}

fn timed_out(shared: &Shared) -> io::Result<()> {
    shared.metrics.tcp_idle_timeout();
    Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
}

/// Whether `input` starts with a complete length-prefixed message.
fn has_complete_message(input: &[u8]) -> bool {
    input.len() >= 2 && input.len() >= 2 + usize::from(u16::from_be_bytes([input[0], input[1]]))
}

/// The resolver's answer to `request`, or SERVFAIL when it cannot take it; None when
/// the request gets no answer at all.
pub(super) async fn resolve(
    request: Vec<u8>,
    shared: &Shared,
    context: &RequestContext<'_>,
) -> Option<Vec<u8>> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut fallback = Vec::new();
    if let Some(sink) = &shared.defer
        && sink.answer_now(&request, context, &mut fallback).is_some()
    {
        return Some(fallback);
    }
    servfail(&request, context, &mut fallback)?;
    let taken = shared.defer.as_ref().is_some_and(|sink| {
        sink.defer(DeferredQuery {
            request,
            transport: context.transport,
            client: context.client,
            reply: Reply::Tcp(sender),
        })
    });
    if !taken {
        return Some(fallback);
    }
    // A resolver that dropped the request without an answer: SERVFAIL too.
    Some(receiver.await.unwrap_or(fallback))
}

/// Answers the complete length-prefixed messages at the front of `input`, in order,
/// appending the length-prefixed responses to `output` until it holds
/// [`OUTPUT_BOUND`] octets, or until `unanswered` (frames that got no answer since
/// the last answer: reset by an answer, raised by each of them) reaches
/// [`UNANSWERED_MAX`]; removes the messages read from `input` and returns how many
/// were answered, and the request for the resolver that stopped it, if one did (its
/// answer comes later, and counts then). The bound keeps a client that pipelines many
/// queries for big answers from making the server hold megabytes for it.
fn answer_complete(
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    response: &mut Vec<u8>,
    shared: &Shared,
    context: &Context,
    unanswered: &mut usize,
) -> (usize, Option<Vec<u8>>) {
    let mut at = 0;
    let mut answered_count = 0;
    let zones = shared.zones.load();
    let options = shared.options.load();
    let refused = context.refused;
    let context = context.request.with_options(&options, super::unix_now());
    let context = &context;
    let counters = shared.metrics.tcp();
    while output.len() < OUTPUT_BOUND
        && *unanswered < UNANSWERED_MAX
        && let Some(len_bytes) = input.get(at..at + 2)
    {
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let Some(request) = input.get(at + 2..at + 2 + len) else {
            break;
        };
        at += 2 + len;
        let answered = if refused {
            refuse(request, context, response)
        } else {
            respond(&zones, request, context, response)
        };
        match answered {
            Some(outcome) if outcome.deferred => {
                let request = request.to_vec();
                input.drain(..at);
                return (answered_count, Some(request));
            }
            Some(outcome) if response.len() <= MESSAGE_MAX => {
                counters.count_shared(
                    outcome.rcode,
                    outcome.qtype,
                    response.len(),
                    outcome.truncated,
                );
                counters.cookie_shared(outcome.cookie);
                output.extend_from_slice(&(response.len() as u16).to_be_bytes());
                output.extend_from_slice(response);
                answered_count += 1;
                *unanswered = 0;
            }
            _ => {
                counters.drop_shared();
                *unanswered += 1;
            }
        }
    }
    input.drain(..at);
    (answered_count, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-prefixed query for `name`'s A record (no zone: REFUSED, as long as it).
    fn framed_query(id: u16, name: &str) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        framed
    }

    fn shared() -> Shared {
        Shared::new(
            Arc::new(ArcSwap::from_pointee(ZoneSet::new())),
            Arc::new(Metrics::new()),
            TcpConfig {
                idle_timeout: Duration::from_secs(1),
                max_connections: 1,
            },
        )
    }

    fn tcp_context() -> Context {
        Context {
            request: Transport::Tcp.into(),
            refused: false,
        }
    }

    fn ids(mut output: &[u8]) -> Vec<u16> {
        let mut ids = Vec::new();
        while output.len() >= 4 {
            let len = usize::from(u16::from_be_bytes([output[0], output[1]]));
            ids.push(u16::from_be_bytes([output[2], output[3]]));
            output = &output[2 + len..];
        }
        ids
    }

    #[test]
    fn complete_messages_are_answered_in_order_and_a_partial_one_waits() {
        let shared = shared();
        let mut input = Vec::new();
        for id in 1..=3 {
            input.extend_from_slice(&framed_query(id, "a.example"));
        }
        let partial = framed_query(4, "b.example");
        input.extend_from_slice(&partial[..7]);
        let (mut output, mut response, mut unanswered) = (Vec::new(), Vec::new(), 0);
        assert_eq!(
            answer_complete(
                &mut input,
                &mut output,
                &mut response,
                &shared,
                &tcp_context(),
                &mut unanswered,
            ),
            (3, None)
        );
        assert_eq!(ids(&output), vec![1, 2, 3]);
        assert_eq!(input, partial[..7]);
        assert!(!has_complete_message(&input));
        input.extend_from_slice(&partial[7..]);
        assert!(has_complete_message(&input));
        output.clear();
        assert_eq!(
            answer_complete(
                &mut input,
                &mut output,
                &mut response,
                &shared,
                &tcp_context(),
                &mut unanswered,
            ),
            (1, None)
        );
        assert_eq!(ids(&output), vec![4]);
        assert!(input.is_empty());
        assert_eq!(unanswered, 0);
    }

    #[test]
    fn a_long_pipeline_is_answered_in_bounded_slices() {
        let shared = shared();
        let mut input = Vec::new();
        for id in 0..5000 {
            input.extend_from_slice(&framed_query(id, "pipelined.example"));
        }
        let (mut output, mut response, mut unanswered) = (Vec::new(), Vec::new(), 0);
        let mut answered = Vec::new();
        while has_complete_message(&input) {
            answer_complete(
                &mut input,
                &mut output,
                &mut response,
                &shared,
                &tcp_context(),
                &mut unanswered,
            );
            assert!(output.len() < OUTPUT_BOUND + 2 + MESSAGE_MAX);
            answered.extend(ids(&output));
            output.clear();
        }
        assert_eq!(answered, (0..5000).collect::<Vec<u16>>());
    }

    /// Input: an empty frame, a QR=1 header, a query, then three empty frames and a
    /// query, in one read. Output: two frames forgiven before the first answer (which
    /// resets the count); the third unanswered frame after it stops the reading,
    /// with the query behind it left unread.
    #[test]
    fn frames_without_an_answer_are_not_answers_and_the_third_stops_the_connection() {
        let shared = shared();
        let empty = vec![0u8, 0];
        let mut response_header = framed_query(7, "a.example");
        response_header[4] |= 0x80; // QR=1
        let mut input = Vec::new();
        input.extend_from_slice(&empty);
        input.extend_from_slice(&response_header);
        input.extend_from_slice(&framed_query(1, "a.example"));
        for _ in 0..UNANSWERED_MAX {
            input.extend_from_slice(&empty);
        }
        let last = framed_query(2, "a.example");
        input.extend_from_slice(&last);
        let (mut output, mut response, mut unanswered) = (Vec::new(), Vec::new(), 0);
        let answered = answer_complete(
            &mut input,
            &mut output,
            &mut response,
            &shared,
            &tcp_context(),
            &mut unanswered,
        );
        assert_eq!((answered, unanswered), ((1, None), UNANSWERED_MAX));
        assert_eq!(ids(&output), vec![1]);
        assert_eq!(input, last);

        // Frames alone are no answer: nothing for the idle timeout to count.
        let mut input = empty.clone();
        let mut unanswered = 0;
        output.clear();
        let answered = answer_complete(
            &mut input,
            &mut output,
            &mut response,
            &shared,
            &tcp_context(),
            &mut unanswered,
        );
        assert_eq!((answered, unanswered), ((0, None), 1));
        assert!(output.is_empty() && input.is_empty());
    }
}
