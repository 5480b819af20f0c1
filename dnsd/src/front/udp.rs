//! The UDP front: worker threads that read batches of queries with `recvmmsg`, answer
//! each through the answer engine, and send the batch of responses with `sendmmsg`.
//!
//! Each worker owns one socket per listen address, all bound with SO_REUSEPORT so that
//! the kernel spreads datagrams over the workers by flow hash: no socket, buffer or
//! counter is shared between workers, and the query path takes no lock and makes no
//! allocation once the buffers have grown. The zone set is loaded once per batch (an
//! arc-swap guard, no lock).
//!
//! Each response to a listener that rate limits goes through `crate::rrl` before it
//! is queued: passed, dropped, or replaced by a truncated one (`answer::slip`). The
//! table is shared by every worker, lock-free; a client with a good server cookie
//! (RFC 7873 §5.4) or in an exempt prefix is not limited.
//!
//! A panic while answering (a bug) is contained: the query it hit goes unanswered,
//! `dnsd_answer_panics_total` counts it, and the worker goes on with the rest of its
//! batch and its socket. A
//! worker that died would leave its SO_REUSEPORT socket open and unread, and the
//! kernel would go on handing it its share of the queries.
//!
//! Sockets set IP_FREEBIND / IPV6_FREEBIND, so an address that is not on the host yet
//! (a VRRP virtual address) can be bound. On a wildcard address (0.0.0.0, ::) the
//! destination of each query is read with IP_PKTINFO / IPV6_RECVPKTINFO and used as the
//! source of the response, so that a multi-homed host answers from the address it was
//! asked on.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};

use super::acl::Acl;
use super::deferred::{DeferSink, Routed};
use crate::answer::{AnswerOptions, Outcome, RequestContext, Role, Transport, refuse, respond};
use crate::metrics::QueryCounters;
use crate::rrl::Limiter;
use crate::zone::ZoneSet;

/// Datagrams read (and answered) per system call.
const BATCH: usize = 64;
/// Largest query read; longer datagrams are flagged MSG_TRUNC and dropped.
const QUERY_MAX: usize = 4096;
use super::deferred::CONTROL_LEN;
/// Socket receive buffer asked for, to ride out bursts (the kernel caps it at rmem_max).
const RECV_BUFFER: usize = 4 << 20;

/// Binds one UDP socket on `addr` for one worker: SO_REUSEPORT, freebind, blocking.
pub fn bind(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_cloexec(true)?;
    socket.set_reuse_port(true)?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    match addr {
        SocketAddr::V4(_) => {
            socket.set_freebind_v4(true)?;
            if addr.ip().is_unspecified() {
                set_int_option(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
            }
        }
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
            if addr.ip().is_unspecified() {
                set_int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            }
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Fails when another process already serves UDP on `addr`. SO_REUSEPORT would
/// otherwise let a second server (of the same user) share the port silently; a socket
/// bound without it is refused while a reuse-port group holds the address.
pub fn ensure_free(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    match addr {
        SocketAddr::V4(_) => probe.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            probe.set_only_v6(true)?;
            probe.set_freebind_v6(true)?;
        }
    }
    probe.bind(&addr.into())
}

fn set_int_option(socket: &Socket, level: i32, name: i32, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

//------------ Worker --------------------------------------------------------

/// The function a worker answers with: [`respond`], or in tests one that misbehaves.
pub type Responder = fn(&ZoneSet, &[u8], &RequestContext<'_>, &mut Vec<u8>) -> Option<Outcome>;

/// A socket of a worker and the listener it serves.
pub struct Listener {
    /// The socket, bound to the listener's address.
    pub socket: Arc<Socket>,
    /// The listener's index in the configuration.
    pub index: u16,
    /// Its role.
    pub role: Role,
    /// Whether its responses are rate limited (when the worker has a limiter).
    pub limit: bool,
    /// The clients it serves (or, for `both`, recurses for).
    pub allow: Acl,
    /// Its own largest UDP response, when it has one (the options' otherwise).
    pub udp_max: Option<u16>,
}

/// One UDP worker: its sockets, buffers and counters. Runs on its own thread.
pub struct Worker {
    listeners: Vec<Listener>,
    respond: Responder,
    zones: Arc<ArcSwap<ZoneSet>>,
    options: Arc<ArcSwap<AnswerOptions>>,
    limiter: Option<Arc<Limiter>>,
    log_budget: (u32, u32),
    counters: Arc<QueryCounters>,
    stop: Arc<AtomicBool>,
    wake: RawFd,
    batch: Box<Batch>,
    defer: Option<DeferSink>,
    /// Per listener with a size of its own: the options with that size, and the
    /// options they were made from (remade only when those are swapped).
    own_options: Vec<Option<AnswerOptions>>,
    own_options_from: usize,
    transfers: Option<DeferSink>,
}

/// The buffers of one batch, allocated once per worker. The `mmsghdr`s point into the
/// other fields, so a `Batch` lives in a `Box` and never moves.
struct Batch {
    queries: Box<[[u8; QUERY_MAX]]>,
    names: Box<[libc::sockaddr_storage]>,
    recv_control: Box<[[u8; CONTROL_LEN]]>,
    send_control: Box<[[u8; CONTROL_LEN]]>,
    recv_iov: Box<[libc::iovec]>,
    send_iov: Box<[libc::iovec]>,
    recv_hdrs: Box<[libc::mmsghdr]>,
    send_hdrs: Box<[libc::mmsghdr]>,
    responses: Vec<Vec<u8>>,
}

// SAFETY: the raw pointers inside a Batch point into its own heap buffers, which move
// with it to the worker thread and are used by that thread alone.
unsafe impl Send for Batch {}

impl Batch {
    fn new() -> Self {
        // SAFETY: all-zero bytes are valid for these plain C structs.
        let zero_hdr = || unsafe { zeroed::<libc::mmsghdr>() };
        let zero_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Self {
            queries: vec![[0; QUERY_MAX]; BATCH].into_boxed_slice(),
            // SAFETY: as above.
            names: (0..BATCH)
                .map(|_| unsafe { zeroed::<libc::sockaddr_storage>() })
                .collect(),
            recv_control: vec![[0; CONTROL_LEN]; BATCH].into_boxed_slice(),
            send_control: vec![[0; CONTROL_LEN]; BATCH].into_boxed_slice(),
            recv_iov: vec![zero_iov; BATCH].into_boxed_slice(),
            send_iov: vec![zero_iov; BATCH].into_boxed_slice(),
            recv_hdrs: (0..BATCH).map(|_| zero_hdr()).collect(),
            send_hdrs: (0..BATCH).map(|_| zero_hdr()).collect(),
            responses: (0..BATCH).map(|_| Vec::with_capacity(1232)).collect(),
        }
    }

    /// Points the receive headers at the buffers again (recvmmsg overwrites lengths).
    fn arm_receive(&mut self) {
        for i in 0..BATCH {
            self.recv_iov[i] = libc::iovec {
                iov_base: self.queries[i].as_mut_ptr().cast(),
                iov_len: QUERY_MAX,
            };
            let hdr = &mut self.recv_hdrs[i];
            hdr.msg_len = 0;
            hdr.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = &mut self.recv_iov[i];
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = self.recv_control[i].as_mut_ptr().cast();
            hdr.msg_hdr.msg_controllen = CONTROL_LEN as _;
            hdr.msg_hdr.msg_flags = 0;
        }
    }
}

impl Worker {
    /// A worker serving `sockets`; it stops when `stop` is set and then either its
    /// socket is shut down for reading (one socket) or `wake`, the read end of a pipe
    /// whose write end is closed at shutdown, becomes readable (several).
    pub fn new(
        listeners: Vec<Listener>,
        zones: Arc<ArcSwap<ZoneSet>>,
        counters: Arc<QueryCounters>,
        stop: Arc<AtomicBool>,
        wake: RawFd,
    ) -> Self {
        Self {
            listeners,
            respond,
            zones,
            options: Arc::new(ArcSwap::from_pointee(AnswerOptions::default())),
            limiter: None,
            log_budget: (0, 0),
            counters,
            stop,
            wake,
            batch: Box::new(Batch::new()),
            defer: None,
            own_options: Vec::new(),
            own_options_from: 0,
            transfers: None,
        }
    }

    /// Answers with `options` (swapped when a cookie secret rotates).
    pub fn with_options(mut self, options: Arc<ArcSwap<AnswerOptions>>) -> Self {
        self.options = options;
        self
    }

    /// Rate limits the responses of the listeners that say so with `limiter`.
    pub fn with_limiter(mut self, limiter: Option<Arc<Limiter>>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Hands requests for the resolver to `sink` (without one, they get SERVFAIL).
    pub fn with_defer(mut self, sink: DeferSink) -> Self {
        self.defer = Some(sink);
        self
    }

    /// Hands signed requests, NOTIFY and IXFR to the transfer service (`crate::xfr`).
    pub fn with_transfers(mut self, sink: DeferSink) -> Self {
        self.transfers = Some(sink);
        self
    }

    /// Answers with `responder` instead of [`respond`] (tests of the worker itself).
    pub fn with_responder(mut self, responder: Responder) -> Self {
        self.respond = responder;
        self
    }

    /// Serves until shutdown.
    pub fn run(mut self) {
        if self.listeners.len() == 1 {
            // One socket: block in recvmmsg itself (MSG_WAITFORONE), two system calls
            // per batch. Shutdown wakes it with shutdown(SHUT_RD), after which recvmmsg
            // returns at once.
            while !self.stop.load(Ordering::Relaxed) {
                self.serve_batch(0, libc::MSG_WAITFORONE);
            }
            return;
        }
        let mut pollfds: Vec<libc::pollfd> = self
            .listeners
            .iter()
            .map(|l| l.socket.as_raw_fd())
            .chain(std::iter::once(self.wake))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        while !self.stop.load(Ordering::Relaxed) {
            let mut busy = false;
            for s in 0..self.listeners.len() {
                busy |= self.serve_batch(s, libc::MSG_DONTWAIT);
            }
            if !busy {
                // Nothing queued on any socket: sleep until one is readable or the
                // shutdown pipe closes.
                // SAFETY: pollfds is a live array of initialised pollfd.
                unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as _, -1) };
            }
        }
    }

    /// Reads (with recvmmsg `flags`), answers and sends one batch from socket `s`;
    /// false if there was nothing.
    fn serve_batch(&mut self, s: usize, flags: libc::c_int) -> bool {
        let fd = self.listeners[s].socket.as_raw_fd();
        self.batch.arm_receive();
        // SAFETY: the headers point at buffers of the sizes they declare, owned by
        // `self.batch`, which outlives the call.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                self.batch.recv_hdrs.as_mut_ptr(),
                BATCH as _,
                flags,
                std::ptr::null_mut(),
            )
        };
        if received <= 0 {
            return false;
        }
        let to_send = self.answer_batch(s, received as usize);
        send_all(fd, &mut self.batch.send_hdrs[..to_send]);
        true
    }

    /// Remakes the options of the listeners with a UDP size of their own when the
    /// shared options were swapped (a cookie secret rotated): not per batch, so the
    /// query path allocates nothing.
    fn refresh_own_options(&mut self, shared: &Arc<AnswerOptions>) {
        let from = Arc::as_ptr(shared) as usize;
        if from == self.own_options_from {
            return;
        }
        self.own_options_from = from;
        self.own_options = self
            .listeners
            .iter()
            .map(|l| {
                l.udp_max.map(|udp_max| AnswerOptions {
                    udp_max,
                    ..AnswerOptions::clone(shared)
                })
            })
            .collect();
    }

    /// Notes a panic of the answer path (a bug): the query goes unanswered (its client
    /// retries), the rest of the batch and the worker go on.
    fn answer_panicked(counters: &QueryCounters, client: SocketAddr) {
        counters.panic_shared();
        let panics = counters.panics();
        if panics.is_power_of_two() {
            tracing::error!(panics, %client, "the answer path panicked (a bug)");
        }
    }

    /// Answers the `received` datagrams of the batch read from listener `s` and
    /// prepares the send headers; returns how many responses are to be sent.
    fn answer_batch(&mut self, s: usize, received: usize) -> usize {
        let shared_options = self.options.load();
        self.refresh_own_options(&shared_options);
        let options = self
            .own_options
            .get(s)
            .and_then(Option::as_ref)
            .unwrap_or(&shared_options);
        let listener = &self.listeners[s];
        let batch = &mut *self.batch;
        let zones = self.zones.load();
        crate::answer::prefetch(
            &zones,
            (0..received).filter_map(|i| {
                let len = batch.recv_hdrs[i].msg_len as usize;
                batch.queries[i].get(..len)
            }),
        );
        let now = super::unix_now();
        let limiter = self.limiter.as_deref().filter(|_| listener.limit);
        let seconds = if limiter.is_some() {
            super::monotonic_seconds()
        } else {
            0
        };
        let mut to_send = 0;
        for i in 0..received {
            let hdr = &batch.recv_hdrs[i];
            let len = hdr.msg_len as usize;
            if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.counters.drop_owned();
                continue;
            }
            let Some(client) = socket_addr(&batch.names[i]) else {
                self.counters.drop_owned();
                continue;
            };
            let role = super::acl::role_for(listener.role, &listener.allow, client.ip());
            let mut context = RequestContext::new(
                Transport::Udp,
                client,
                listener.index,
                role.unwrap_or(listener.role),
            )
            .with_options(options, now);
            context.rate_limited = limiter.is_some();
            let out = &mut batch.responses[i];
            let query = &batch.queries[i][..len];
            let answered = catch_unwind(AssertUnwindSafe(|| match role {
                Some(_) => (self.respond)(&zones, query, &context, out),
                None => refuse(query, &context, out),
            }));
            let Ok(answered) = answered else {
                Self::answer_panicked(&self.counters, client);
                continue;
            };
            let Some(mut outcome) = answered else {
                self.counters.drop_owned();
                continue;
            };
            if outcome.deferred {
                // To the transfer service or the resolver (not rate limited: RRL is
                // for authoritative data).
                let sink = match &self.transfers {
                    Some(t) if crate::xfr::Service::takes(query) => Some(t),
                    _ => self.defer.as_ref(),
                };
                // Made only when the request is queued: a cache hit needs neither
                // the socket's reference nor the control message.
                let reply = || {
                    let mut control = [0u8; CONTROL_LEN];
                    let control_len = reply_control(&batch.recv_hdrs[i], &mut control);
                    super::deferred::Reply::Udp {
                        socket: listener.socket.clone(),
                        to: client,
                        control,
                        control_len,
                    }
                };
                // The resolver's cache hit is answered here, on the worker: guarded
                // as the answer path is.
                let routed = catch_unwind(AssertUnwindSafe(|| {
                    super::deferred::route(sink, query, &context, reply, out)
                }));
                match routed {
                    Err(_) => {
                        Self::answer_panicked(&self.counters, client);
                        continue;
                    }
                    Ok(Routed::Taken) => continue,
                    Ok(Routed::Answered(answered)) => outcome = answered,
                    Ok(Routed::Nothing) => {
                        self.counters.drop_owned();
                        continue;
                    }
                }
            } else if let Some(limiter) = limiter {
                let limited = super::udp_limit::Limited {
                    limiter,
                    counters: &self.counters,
                    log_budget: &mut self.log_budget,
                    seconds,
                };
                match limited.apply(query, &context, outcome, out) {
                    Some(sent) => outcome = sent,
                    None => continue,
                }
            }
            self.counters
                .count_owned(outcome.rcode, outcome.qtype, out.len(), outcome.truncated);
            self.counters.cookie_owned(outcome.cookie);
            let control_len = reply_control(&batch.recv_hdrs[i], &mut batch.send_control[to_send]);
            batch.send_iov[to_send] = libc::iovec {
                iov_base: batch.responses[i].as_mut_ptr().cast(),
                iov_len: batch.responses[i].len(),
            };
            let send = &mut batch.send_hdrs[to_send];
            send.msg_len = 0;
            send.msg_hdr.msg_name = batch.recv_hdrs[i].msg_hdr.msg_name;
            send.msg_hdr.msg_namelen = batch.recv_hdrs[i].msg_hdr.msg_namelen;
            send.msg_hdr.msg_iov = &mut batch.send_iov[to_send];
            send.msg_hdr.msg_iovlen = 1;
            if control_len > 0 {
                send.msg_hdr.msg_control = batch.send_control[to_send].as_mut_ptr().cast();
                send.msg_hdr.msg_controllen = control_len as _;
            } else {
                send.msg_hdr.msg_control = std::ptr::null_mut();
                send.msg_hdr.msg_controllen = 0;
            }
            send.msg_hdr.msg_flags = 0;
            to_send += 1;
        }
        to_send
    }
}

/// The address a datagram came from, as the kernel wrote it.
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET, and sockaddr_storage
            // is large and aligned enough for it.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends every prepared response; a response the kernel refuses (say, to an
/// unreachable address) is skipped, the others still go.
fn send_all(fd: RawFd, hdrs: &mut [libc::mmsghdr]) {
    let mut next = 0;
    while next < hdrs.len() {
        // SAFETY: the headers point at live buffers prepared by serve_batch.
        let sent =
            unsafe { libc::sendmmsg(fd, hdrs[next..].as_mut_ptr(), (hdrs.len() - next) as _, 0) };
        if sent > 0 {
            next += sent as usize;
        } else if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        } else {
            next += 1;
        }
    }
}

/// Writes into `control` the control message that makes a response leave from the
/// address its query came to (wildcard listeners only); returns its length, 0 if none.
fn reply_control(received: &libc::mmsghdr, control: &mut [u8; CONTROL_LEN]) -> usize {
    let hdr = &received.msg_hdr;
    if hdr.msg_controllen == 0 {
        return 0;
    }
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed
    // control messages; CMSG_* walk them within that length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                let reply = libc::in_pktinfo {
                    ipi_ifindex: info.ipi_ifindex,
                    ipi_spec_dst: info.ipi_addr,
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                return write_control(control, libc::IPPROTO_IP, libc::IP_PKTINFO, &reply);
            }
            if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return write_control(control, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    0
}

/// Writes one control message holding `value`; returns the space it takes.
fn write_control<T>(control: &mut [u8; CONTROL_LEN], level: i32, kind: i32, value: &T) -> usize {
    // SAFETY: CMSG_SPACE(size_of::<T>()) <= CONTROL_LEN for the pktinfo structs (checked
    // below), and a msghdr over `control` makes CMSG_FIRSTHDR point at its start.
    unsafe {
        let space = libc::CMSG_SPACE(size_of::<T>() as u32) as usize;
        if space > CONTROL_LEN {
            return 0;
        }
        control[..space].fill(0);
        let mut hdr: libc::msghdr = zeroed();
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<T>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), std::ptr::read(value));
        space
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use super::*;

    /// Echoes the request with QR set, and panics on a request whose ID is 0xdead.
    fn echo_or_panic(
        _: &ZoneSet,
        request: &[u8],
        _: &RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        assert!(request.get(..2) != Some(&[0xde, 0xad][..]), "a bug");
        out.clear();
        out.extend_from_slice(request);
        out[2] |= 0x80;
        Some(Outcome {
            rcode: 0,
            qtype: 0,
            len: out.len(),
            truncated: false,
            limit: crate::answer::LimitKey::ERROR,
            cookie: crate::answer::CookieState::None,
            deferred: false,
        })
    }

    /// A resolver whose cache "answers" by echoing, and panics on ID 0xbeef.
    struct PanickingCache;

    impl super::super::deferred::Recursion for PanickingCache {
        fn answer_now(
            &self,
            request: &[u8],
            context: &RequestContext<'_>,
            out: &mut Vec<u8>,
        ) -> Option<Outcome> {
            assert!(request.get(..2) != Some(&[0xbe, 0xef][..]), "a bug");
            let mut outcome = echo_or_panic(&ZoneSet::new(), request, context, out)?;
            outcome.deferred = false;
            Some(outcome)
        }

        fn defer(&self, _: super::super::deferred::DeferredQuery) -> bool {
            false
        }
    }

    /// Defers every request to the resolver.
    fn defer_all(
        _: &ZoneSet,
        request: &[u8],
        context: &RequestContext<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        let mut outcome = echo_or_panic(&ZoneSet::new(), request, context, out)?;
        outcome.deferred = true;
        Some(outcome)
    }

    /// Runs a worker on one listener of `role` (the worker made by `with`), sends it
    /// the query with ID `fatal` (which panics) then twenty others: each must get its
    /// own answer, and one panic be counted.
    fn panic_leaves_the_worker_serving(
        role: Role,
        fatal: [u8; 2],
        with: impl FnOnce(Worker) -> Worker,
    ) {
        let socket = Arc::new(bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let counters = Arc::new(QueryCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let worker = with(Worker::new(
            vec![Listener {
                socket: socket.clone(),
                index: 0,
                role,
                limit: false,
                allow: Acl::any(),
                udp_max: None,
            }],
            Arc::new(ArcSwap::from_pointee(ZoneSet::new())),
            counters.clone(),
            stop.clone(),
            -1,
        ));
        let thread = std::thread::spawn(move || worker.run());

        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 64];
        client.send_to(&[fatal[0], fatal[1], 0, 0], addr).unwrap();
        // The worker must still answer after the panic, and its client gets the right
        // answer (not the one of the batch that panicked).
        for id in 1..=20u8 {
            client.send_to(&[0, id, 0, 0], addr).unwrap();
            let (len, _) = client.recv_from(&mut buf).expect("answer after a panic");
            assert_eq!(&buf[..len], &[0, id, 0x80, 0]);
        }
        assert_eq!(counters.panics(), 1);

        stop.store(true, Ordering::Relaxed);
        let _ = socket.shutdown(std::net::Shutdown::Read);
        thread.join().expect("the worker thread ends cleanly");
    }

    #[test]
    fn a_panic_in_the_resolvers_cache_hit_leaves_the_worker_serving() {
        panic_leaves_the_worker_serving(Role::Resolver, [0xbe, 0xef], |w| {
            w.with_responder(defer_all)
                .with_defer(Arc::new(PanickingCache))
        });
    }

    #[test]
    fn a_panic_while_answering_leaves_the_worker_serving() {
        panic_leaves_the_worker_serving(Role::Authoritative, [0xde, 0xad], |w| {
            w.with_responder(echo_or_panic)
        });
    }
}
