//! The TCP front (RFC 7766): DNS messages with a two-octet length prefix, on tokio.
//!
//! A connection may carry many queries, sent back to back without waiting (pipelining,
//! RFC 7766 §6.2.1.1): every complete query in what was read is answered, in order,
//! and the answers leave in one write. Answers may be up to 65535 octets, so a client
//! told to retry over TCP (TC) gets the full answer here. A connection that brings no
//! complete query for `idle-timeout-ms` is closed (§6.2.3), and beyond
//! `max-connections` a new connection is closed as soon as it is accepted, so that a
//! crowd of idle clients cannot exhaust the server.

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

use crate::answer::{Transport, respond};
use crate::config::TcpConfig;
use crate::metrics::Metrics;
use crate::zone::ZoneSet;

/// Largest DNS message over TCP (the length prefix is 16 bits).
const MESSAGE_MAX: usize = 65535;
/// Pending connections the kernel holds before we accept them.
const BACKLOG: i32 = 1024;

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
}

impl Shared {
    /// Shared state for listeners with `config`'s limits.
    pub fn new(zones: Arc<ArcSwap<ZoneSet>>, metrics: Arc<Metrics>, config: TcpConfig) -> Self {
        Self {
            zones,
            metrics,
            config,
            permits: Arc::new(Semaphore::new(config.max_connections)),
        }
    }
}

/// Accepts connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
            shared.metrics.tcp_refused();
            tracing::debug!(%peer, "tcp connection refused: max-connections reached");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shared.metrics.tcp_connection(1);
            if let Err(e) = connection(stream, &shared, shutdown, permit).await {
                tracing::debug!(%peer, error = %e, "tcp connection ended");
            }
            shared.metrics.tcp_connection(-1);
        });
    }
}

/// Serves one connection until the peer closes it, it idles too long, or shutdown.
async fn connection(
    mut stream: TcpStream,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let idle = shared.config.idle_timeout;
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut output: Vec<u8> = Vec::with_capacity(4096);
    let mut response: Vec<u8> = Vec::with_capacity(4096);
    let mut deadline = Instant::now() + idle;
    loop {
        let answered = answer_complete(&mut input, &mut output, &mut response, shared);
        if answered > 0 {
            deadline = Instant::now() + idle;
        }
        if !output.is_empty() {
            match timeout_at(deadline, stream.write_all(&output)).await {
                Ok(result) => result?,
                Err(_) => return timed_out(shared),
            }
            output.clear();
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

/// Answers every complete length-prefixed message at the front of `input`, in order,
/// appending the length-prefixed responses to `output`; removes them from `input` and
/// returns how many there were.
fn answer_complete(
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    response: &mut Vec<u8>,
    shared: &Shared,
) -> usize {
    let mut at = 0;
    let mut count = 0;
    let zones = shared.zones.load();
    let counters = shared.metrics.tcp();
    while let Some(len_bytes) = input.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let Some(request) = input.get(at + 2..at + 2 + len) else {
            break;
        };
        count += 1;
        at += 2 + len;
        match respond(&zones, request, Transport::Tcp, response) {
            Some(outcome) if response.len() <= MESSAGE_MAX => {
                counters.count_shared(
                    outcome.rcode,
                    outcome.qtype,
                    response.len(),
                    outcome.truncated,
                );
                output.extend_from_slice(&(response.len() as u16).to_be_bytes());
                output.extend_from_slice(response);
            }
            _ => counters.drop_shared(),
        }
    }
    input.drain(..at);
    count
}
