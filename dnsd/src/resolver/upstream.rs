//! Queries to authoritative servers: the I/O edge of the iterator.
//!
//! - **UDP first**, each query from a fresh socket on a port the kernel picks at
//!   random, with a random ID (RFC 5452 §9.2 and §4.5: both are the entropy that
//!   makes spoofing hard); the socket is connected to the server, so the kernel drops
//!   datagrams from any other address or port, and a datagram whose ID or question
//!   does not match is ignored while the wait goes on (§9.1).
//! - **EDNS** (RFC 6891) with a 1232-octet payload and DO set; a server that answers
//!   FORMERR, NOTIMP or BADVERS to EDNS is asked again without it (§7).
//! - **TCP on TC** (RFC 7766 §5; RFC 1035 §4.2.2 framing).
//! - **Forwarders** (`forward`): a configured resolver (or an authoritative server of
//!   a stub zone) on its own port, asked with RD (we want its answer, RFC 1035
//!   §4.1.1) and CD (we validate ourselves and want the data even where the forwarder
//!   finds it bogus, RFC 4035 §3.2.2), the same way otherwise; a forwarder
//!   declared with TLS over DNS over TLS instead (`tls_upstream.rs`).
//! - **Timeouts** follow the server's smoothed RTT (RFC 6298's estimator, as Unbound's
//!   infrastructure cache does) and back off exponentially on each timeout.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::forward::Forwarder;
use super::tls_upstream::TlsUpstream;

/// Why a query got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No response in time.
    #[error("timed out")]
    Timeout,
    /// The network said no (unreachable, refused connection, ...).
    #[error("network: {0}")]
    Network(String),
    /// The response did not parse.
    #[error("malformed response")]
    Malformed,
}

/// Sends one question to one server and returns its response: the real network, or
/// in tests a set of servers in memory.
pub trait Upstream: Send + Sync {
    /// Asks `server` (port 53) about (`name`, `rtype`), without RD.
    fn query(
        &self,
        server: IpAddr,
        name: &Name,
        rtype: RecordType,
    ) -> impl Future<Output = Result<Message, UpstreamError>> + Send;

    /// Asks the forwarder at `server` (a resolver, or the authoritative server of a
    /// stub zone) about (`name`, `rtype`), with RD and CD.
    fn forward(
        &self,
        server: &Forwarder,
        name: &Name,
        rtype: RecordType,
    ) -> impl Future<Output = Result<Message, UpstreamError>> + Send {
        self.query(server.addr.ip(), name, rtype)
    }

    /// The servers among `candidates` in the order to try them.
    fn order(&self, candidates: &mut [IpAddr]) {
        let _ = candidates;
    }
}

/// Smoothed RTT of one server (RFC 6298 §2), in milliseconds.
#[derive(Clone, Copy, Debug)]
struct Rtt {
    srtt: f64,
    rttvar: f64,
    /// Consecutive timeouts (each doubles the timeout, RFC 6298 §5.5).
    backoff: u32,
}

/// The network upstream, with its per-server RTT estimates.
pub struct Network {
    rtts: Mutex<HashMap<IpAddr, Rtt>>,
    port: u16,
    stats: std::sync::Arc<super::stats::ResolverStats>,
    /// Connections to forwarders declared with TLS (None: no such forwarder).
    tls: Option<TlsUpstream>,
}

/// The timeout of a server never heard from.
const INITIAL_TIMEOUT_MS: f64 = 400.0;
const MIN_TIMEOUT_MS: f64 = 50.0;
const MAX_TIMEOUT_MS: f64 = 3000.0;
/// Our EDNS payload size (DNS flag day 2020).
const EDNS_SIZE: u16 = 1232;

impl Network {
    /// Servers are asked on `port` (53, or another in tests).
    pub fn new(port: u16, stats: std::sync::Arc<super::stats::ResolverStats>) -> Self {
        Self {
            rtts: Mutex::new(HashMap::new()),
            port,
            stats,
            tls: None,
        }
    }

    /// Forwarders declared with TLS are reached through `tls`.
    pub fn with_tls(mut self, tls: TlsUpstream) -> Self {
        self.tls = Some(tls);
        self
    }

    fn timeout(&self, server: IpAddr) -> Duration {
        let rtts = self.rtts.lock().ok();
        let ms = match rtts.as_ref().and_then(|r| r.get(&server)) {
            Some(rtt) => {
                let base = (rtt.srtt + 4.0 * rtt.rttvar).clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
                (base * f64::from(1u32 << rtt.backoff.min(4))).min(MAX_TIMEOUT_MS)
            }
            None => INITIAL_TIMEOUT_MS,
        };
        Duration::from_millis(ms as u64)
    }

    /// RFC 6298 §2.2/§2.3 on a measured round trip.
    fn measured(&self, server: IpAddr, elapsed: Duration) {
        let sample = elapsed.as_secs_f64() * 1000.0;
        if let Ok(mut rtts) = self.rtts.lock() {
            let rtt = rtts.entry(server).or_insert(Rtt {
                srtt: sample,
                rttvar: sample / 2.0,
                backoff: 0,
            });
            rtt.rttvar = 0.75 * rtt.rttvar + 0.25 * (rtt.srtt - sample).abs();
            rtt.srtt = 0.875 * rtt.srtt + 0.125 * sample;
            rtt.backoff = 0;
        }
    }

    fn timed_out(&self, server: IpAddr) {
        if let Ok(mut rtts) = self.rtts.lock() {
            let rtt = rtts.entry(server).or_insert(Rtt {
                srtt: INITIAL_TIMEOUT_MS,
                rttvar: INITIAL_TIMEOUT_MS / 2.0,
                backoff: 0,
            });
            rtt.backoff = (rtt.backoff + 1).min(8);
        }
    }

    async fn exchange(
        &self,
        addr: SocketAddr,
        name: &Name,
        rtype: RecordType,
        edns: bool,
        forwarded: bool,
    ) -> Result<Message, UpstreamError> {
        let server = addr.ip();
        let id: u16 = rand::random();
        let request = request(id, name, rtype, edns, forwarded)?;
        let started = Instant::now();
        let timeout = self.timeout(server);
        self.stats
            .upstream_queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let udp =
            tokio::time::timeout(timeout, udp_exchange(addr, &request, id, name, rtype)).await;
        let response = match udp {
            Err(_) => {
                self.timed_out(server);
                self.stats
                    .upstream_timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(UpstreamError::Timeout);
            }
            Ok(result) => result?,
        };
        self.measured(server, started.elapsed());
        if !response.metadata.truncation {
            return Ok(response);
        }
        // RFC 7766 §5: truncated over UDP, ask again over TCP.
        let tcp_timeout = (timeout * 3).max(Duration::from_secs(1));
        match tokio::time::timeout(tcp_timeout, tcp_exchange(addr, &request, id, name, rtype)).await
        {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(result) => result,
        }
    }
}

impl Network {
    /// One query to a forwarder over DNS over TLS; never in clear instead.
    async fn tls_exchange(
        &self,
        server: &Forwarder,
        name: &Name,
        rtype: RecordType,
        edns: bool,
    ) -> Result<Message, UpstreamError> {
        let Some(tls) = &self.tls else {
            return Err(UpstreamError::Network("no TLS configuration".into()));
        };
        let ip = server.addr.ip();
        let request = request(0, name, rtype, edns, true)?;
        let started = Instant::now();
        // The first query waits for the handshake too.
        let timeout = (self.timeout(ip) * 3).max(Duration::from_secs(2));
        self.stats
            .upstream_queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = match tokio::time::timeout(timeout, tls.exchange(server, request)).await {
            Err(_) => {
                self.timed_out(ip);
                self.stats
                    .upstream_timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(UpstreamError::Timeout);
            }
            Ok(Err(e)) => {
                self.timed_out(ip);
                return Err(e);
            }
            Ok(Ok(bytes)) => bytes,
        };
        let response = Message::from_vec(&bytes).map_err(|_| UpstreamError::Malformed)?;
        if !matches(&response, response.metadata.id, name, rtype) {
            return Err(UpstreamError::Malformed);
        }
        self.measured(ip, started.elapsed());
        Ok(response)
    }

    /// A query with EDNS, and without when the server does not know it.
    async fn ask(
        &self,
        addr: SocketAddr,
        name: &Name,
        rtype: RecordType,
        forwarded: bool,
    ) -> Result<Message, UpstreamError> {
        let response = self.exchange(addr, name, rtype, true, forwarded).await?;
        let code = response.metadata.response_code;
        if matches!(
            code,
            ResponseCode::FormErr | ResponseCode::NotImp | ResponseCode::BADVERS
        ) && response.edns.is_none()
        {
            // RFC 6891 §7: a server that does not know EDNS; ask it without.
            return self.exchange(addr, name, rtype, false, forwarded).await;
        }
        Ok(response)
    }
}

impl Upstream for Network {
    async fn query(
        &self,
        server: IpAddr,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Message, UpstreamError> {
        self.ask(SocketAddr::new(server, self.port), name, rtype, false)
            .await
    }

    async fn forward(
        &self,
        server: &Forwarder,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Message, UpstreamError> {
        self.stats
            .forwarded_queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !server.tls {
            return self.ask(server.addr, name, rtype, true).await;
        }
        let response = self.tls_exchange(server, name, rtype, true).await?;
        let code = response.metadata.response_code;
        if matches!(
            code,
            ResponseCode::FormErr | ResponseCode::NotImp | ResponseCode::BADVERS
        ) && response.edns.is_none()
        {
            return self.tls_exchange(server, name, rtype, false).await;
        }
        Ok(response)
    }

    fn order(&self, candidates: &mut [IpAddr]) {
        // Fastest first; servers never heard from are tried early (their estimate is
        // the initial timeout's quarter) so that each gets measured.
        let rtts = self.rtts.lock().ok();
        let score = |ip: &IpAddr| -> u64 {
            match rtts.as_ref().and_then(|r| r.get(ip)) {
                Some(rtt) => (rtt.srtt * f64::from(1u32 << rtt.backoff.min(8))) as u64,
                None => (INITIAL_TIMEOUT_MS / 4.0) as u64,
            }
        };
        candidates.sort_by_key(score);
    }
}

/// The query in wire format: RD clear (we iterate) or, to a forwarder, RD and CD;
/// EDNS with DO when `edns`.
fn request(
    id: u16,
    name: &Name,
    rtype: RecordType,
    edns: bool,
    forwarded: bool,
) -> Result<Vec<u8>, UpstreamError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = forwarded;
    message.metadata.checking_disabled = forwarded;
    message.add_query(Query::query(name.clone(), rtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_SIZE);
        opt.set_dnssec_ok(true);
        message.set_edns(opt);
    }
    message.to_vec().map_err(|_| UpstreamError::Malformed)
}

/// Whether `response` answers our query `id` for (`name`, `rtype`) (RFC 5452 §9.1).
fn matches(response: &Message, id: u16, name: &Name, rtype: RecordType) -> bool {
    response.metadata.id == id
        && response.metadata.message_type == MessageType::Response
        && response
            .queries
            .first()
            .is_some_and(|q| q.name == *name && q.query_type == rtype)
}

thread_local! {
    /// Receive buffers of the runtime's threads: a datagram is read and parsed in
    /// one step without an await, so one buffer per thread serves every query,
    /// instead of a zeroed 64 KiB allocation per query (perf showed that at 7% of a
    /// cold resolution's CPU: the memset, its page faults and the free).
    static RECEIVE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 65535]);
}

/// A UDP socket connected to `addr`, non-blocking. Connecting an unbound socket
/// binds it to a port the kernel picks at random in the ephemeral range, as a bind
/// to port 0 does (RFC 5452 §9.2), one system call fewer.
fn connected_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(
        domain,
        socket2::Type::DGRAM.nonblocking().cloexec(),
        Some(socket2::Protocol::UDP),
    )?;
    socket.connect(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn udp_exchange(
    addr: SocketAddr,
    request: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, UpstreamError> {
    let net = |e: std::io::Error| UpstreamError::Network(e.to_string());
    let socket = connected_udp(addr).map_err(net)?;
    socket.send(request).await.map_err(net)?;
    loop {
        socket.readable().await.map_err(net)?;
        let received = RECEIVE.with_borrow_mut(|buf| match socket.try_recv(buf) {
            Ok(len) => Ok(Message::from_vec(&buf[..len]).ok()),
            Err(e) => Err(e),
        });
        match received {
            // Garbage from the server's address: keep waiting for the real answer.
            Ok(None) => {}
            Ok(Some(response)) if matches(&response, id, name, rtype) => return Ok(response),
            Ok(Some(_)) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(net(e)),
        }
    }
}

async fn tcp_exchange(
    addr: SocketAddr,
    request: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, UpstreamError> {
    let net = |e: std::io::Error| UpstreamError::Network(e.to_string());
    let mut stream = TcpStream::connect(addr).await.map_err(net)?;
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&(request.len() as u16).to_be_bytes());
    framed.extend_from_slice(request);
    stream.write_all(&framed).await.map_err(net)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(net)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(net)?;
    let response = Message::from_vec(&buf).map_err(|_| UpstreamError::Malformed)?;
    if matches(&response, id, name, rtype) {
        Ok(response)
    } else {
        Err(UpstreamError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, UdpSocket};

    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    use super::*;

    /// A response to `query` (wire) with `id` and one A record `last.0.0.1`.
    fn answer(query: &[u8], id: u16, last: u8) -> Vec<u8> {
        let request = Message::from_vec(query).unwrap();
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(request.queries[0].clone());
        m.add_answer(Record::from_rdata(
            request.queries[0].name.clone(),
            60,
            RData::A(A(Ipv4Addr::new(last, 0, 0, 1))),
        ));
        m.to_vec().unwrap()
    }

    #[test]
    fn spoofed_ids_wrong_ports_and_garbage_are_ignored() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let fake = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (len, client) = server.recv_from(&mut buf).unwrap();
            let query = buf[..len].to_vec();
            let id = u16::from_be_bytes([query[0], query[1]]);
            // Garbage, a wrong ID, and the right ID from another port: all ignored.
            server.send_to(b"\x00\x01garbage", client).unwrap();
            server
                .send_to(&answer(&query, id.wrapping_add(1), 66), client)
                .unwrap();
            let other = UdpSocket::bind("127.0.0.1:0").unwrap();
            other.send_to(&answer(&query, id, 66), client).unwrap();
            server.send_to(&answer(&query, id, 198), client).unwrap();
        });
        let network = Network::new(port, Default::default());
        let name = Name::from_ascii("www.example.").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = runtime
            .block_on(network.query("127.0.0.1".parse().unwrap(), &name, RecordType::A))
            .unwrap();
        fake.join().unwrap();
        assert_eq!(
            response.answers[0].data,
            RData::A(A(Ipv4Addr::new(198, 0, 0, 1)))
        );
    }
}
