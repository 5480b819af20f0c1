//! DNS over TLS to forwarders (RFC 7858 §3, RFC 8310): a forwarder written
//! `tls://198.51.100.7:853#dns.example` in `[resolver.forward]` is asked over one
//! long-lived TLS connection, shared by every query to it and pipelined (RFC 7766
//! §6.2.1.1: many queries in flight, answers matched by ID in whatever order they
//! come).
//!
//! ```text
//!  query ─► pool: the forwarder's connection (made on first use) ─► jobs channel
//!            writer task: TCP connect, TLS handshake, then per job: a fresh ID
//!              (unique among those in flight), pending[ID] = reply, frame, write
//!            reader task: frame ─► pending.remove(ID) ─► reply
//!  idle for IDLE with nothing in flight, or closed by the forwarder ─► both end;
//!  the next query opens a new connection (TLS session resumption, rustls' cache)
//! ```
//!
//! Authentication (RFC 8310 §8.1, the strict profile): the certificate must chain to
//! `forward-tls-ca` and name the forwarder's authentication name (the part after `#`),
//! or its IP address when none is given. There is no fallback to clear text: a
//! forwarder whose handshake fails is logged (with rustls' reason), counted as failed
//! for [`HOLD_DOWN`] (queries go straight on to the next forwarder), and when no
//! forwarder of the zone is left the client gets SERVFAIL with EDE 22.
//!
//! A query sent on a connection the forwarder closed at the same moment (its idle
//! timeout) is sent once more on a new connection.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use std::sync::atomic::Ordering::Relaxed;

use super::forward::Forwarder;
use super::stats::ResolverStats;
use super::upstream::UpstreamError;

/// A connection with nothing in flight for this long is closed.
const IDLE: Duration = Duration::from_secs(10);
/// TCP connect and TLS handshake together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// After a failed handshake, the forwarder is not tried again for this long.
pub const HOLD_DOWN: Duration = Duration::from_secs(5);
/// Queries waiting for the writer of one connection.
const QUEUE: usize = 256;
/// Queries in flight on one connection (of 65,536 IDs).
const MAX_IN_FLIGHT: usize = 4096;

/// A reply to one job: the response's bytes.
type Reply = oneshot::Sender<Result<Vec<u8>, UpstreamError>>;

struct Job {
    /// The query; its first two octets (the ID) are set by the writer.
    request: Vec<u8>,
    reply: Reply,
}

/// One connection to one forwarder (or its failed attempt).
struct Connection {
    jobs: mpsc::Sender<Job>,
    /// Set when the handshake failed: when, and why.
    failed: Arc<Mutex<Option<(Instant, String)>>>,
    /// Whether the handshake completed (a reused connection may be closed under us).
    open: Arc<std::sync::atomic::AtomicBool>,
}

/// The TLS connections to forwarders, one per forwarder.
pub struct TlsUpstream {
    connector: TlsConnector,
    stats: Arc<ResolverStats>,
    connections: Mutex<HashMap<Forwarder, Arc<Connection>>>,
}

/// Reads the CA certificates (PEM) that forwarders' certificates must chain to; the
/// error says what is wrong with the file.
pub fn client_config(ca_file: &Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| e.to_string())? {
        let cert = cert.map_err(|e| e.to_string())?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate rustls refuses: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CERTIFICATE in the file".into());
    }
    // ring, as the DoT front (see front/dot.rs for why not aws-lc-rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl TlsUpstream {
    /// Connections made with `config` (see [`client_config`]), counted in `stats`.
    pub fn new(config: rustls::ClientConfig, stats: Arc<ResolverStats>) -> Self {
        Self {
            connector: TlsConnector::from(Arc::new(config)),
            stats,
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` (wire format; its ID is replaced) to `forwarder` and returns the
    /// response's bytes (with the ID the connection chose: callers match the question).
    pub async fn exchange(
        &self,
        forwarder: &Forwarder,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, UpstreamError> {
        let (connection, reused) = self.connection(forwarder)?;
        match Self::send(&connection, request.clone()).await {
            Err(UpstreamError::Network(_)) if reused => {
                // Closed by the forwarder as we sent: once more, on a new connection.
                let (connection, _) = self.connection(forwarder)?;
                Self::send(&connection, request).await
            }
            result => result,
        }
    }

    async fn send(connection: &Connection, request: Vec<u8>) -> Result<Vec<u8>, UpstreamError> {
        let closed = || UpstreamError::Network("TLS connection closed".into());
        let (reply, response) = oneshot::channel();
        connection
            .jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| closed())?;
        response.await.map_err(|_| closed())?
    }

    /// The connection to `forwarder`, opened when there is none alive; whether it was
    /// open already. An error while the forwarder is held down after a failed
    /// handshake.
    fn connection(&self, forwarder: &Forwarder) -> Result<(Arc<Connection>, bool), UpstreamError> {
        let mut connections = self
            .connections
            .lock()
            .map_err(|_| UpstreamError::Network("TLS pool poisoned".into()))?;
        if let Some(existing) = connections.get(forwarder) {
            if !existing.jobs.is_closed() {
                let open = existing.open.load(std::sync::atomic::Ordering::Acquire);
                return Ok((existing.clone(), open));
            }
            if let Ok(failed) = existing.failed.lock()
                && let Some((when, why)) = failed.as_ref()
                && when.elapsed() < HOLD_DOWN
            {
                return Err(UpstreamError::Network(why.clone()));
            }
        }
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let connection = Arc::new(Connection {
            jobs,
            failed: Default::default(),
            open: Default::default(),
        });
        tokio::spawn(run(
            self.connector.clone(),
            self.stats.clone(),
            forwarder.clone(),
            receiver,
            connection.failed.clone(),
            connection.open.clone(),
        ));
        connections.insert(forwarder.clone(), connection.clone());
        Ok((connection, false))
    }
}

/// The name the forwarder's certificate must carry.
fn server_name(forwarder: &Forwarder) -> Result<ServerName<'static>, String> {
    match &forwarder.auth_name {
        Some(name) => ServerName::try_from(name.trim_end_matches('.').to_string())
            .map_err(|e| format!("authentication name {name:?}: {e}")),
        None => Ok(ServerName::IpAddress(forwarder.addr.ip().into())),
    }
}

async fn handshake(
    connector: &TlsConnector,
    forwarder: &Forwarder,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = server_name(forwarder)?;
    let connect = async {
        let tcp = TcpStream::connect(forwarder.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| "TLS handshake: timed out".to_string())?
}

/// The connection's writer: connects, then writes each job's query until idle or
/// closed; its reader hands responses back.
async fn run(
    connector: TlsConnector,
    stats: Arc<ResolverStats>,
    forwarder: Forwarder,
    mut jobs: mpsc::Receiver<Job>,
    failed: Arc<Mutex<Option<(Instant, String)>>>,
    open: Arc<std::sync::atomic::AtomicBool>,
) {
    let stream = match handshake(&connector, &forwarder).await {
        Ok(stream) => stream,
        Err(why) => {
            stats.tls_failures.fetch_add(1, Relaxed);
            tracing::warn!(%forwarder, %why, "DoT forwarder unusable: not asked (no clear-text fallback)");
            if let Ok(mut failed) = failed.lock() {
                *failed = Some((Instant::now(), format!("{forwarder}: {why}")));
            }
            jobs.close();
            while let Ok(job) = jobs.try_recv() {
                let _ = job.reply.send(Err(UpstreamError::Network(why.clone())));
            }
            return;
        }
    };
    stats.tls_connections.fetch_add(1, Relaxed);
    open.store(true, std::sync::atomic::Ordering::Release);
    tracing::debug!(%forwarder, "DoT connection to forwarder open");
    let (mut reader, mut writer) = tokio::io::split(stream);
    let pending: Arc<Mutex<HashMap<u16, Reply>>> = Default::default();
    let mut read_task = tokio::spawn({
        let pending = pending.clone();
        async move {
            loop {
                let mut len = [0u8; 2];
                if reader.read_exact(&mut len).await.is_err() {
                    break;
                }
                let mut frame = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if reader.read_exact(&mut frame).await.is_err() || frame.len() < 2 {
                    break;
                }
                let id = u16::from_be_bytes([frame[0], frame[1]]);
                let reply = pending.lock().ok().and_then(|mut p| p.remove(&id));
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(frame));
                }
            }
        }
    });
    let in_flight = |pending: &Mutex<HashMap<u16, Reply>>| pending.lock().map_or(0, |p| p.len());
    loop {
        let job = tokio::select! {
            biased;
            _ = &mut read_task => break,
            job = tokio::time::timeout(IDLE, jobs.recv()) => job,
        };
        let mut job = match job {
            Ok(Some(job)) => job,
            Ok(None) => break,
            Err(_) if in_flight(&pending) == 0 => break,
            Err(_) => continue,
        };
        if job.request.len() < 12 || job.request.len() > usize::from(u16::MAX) {
            let _ = job.reply.send(Err(UpstreamError::Malformed));
            continue;
        }
        let Some(id) = register(&pending, job.reply) else {
            continue;
        };
        job.request[..2].copy_from_slice(&id.to_be_bytes());
        let mut frame = Vec::with_capacity(job.request.len() + 2);
        frame.extend_from_slice(&(job.request.len() as u16).to_be_bytes());
        frame.extend_from_slice(&job.request);
        if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    // Closed: queued and in-flight queries fail (their senders are dropped).
    jobs.close();
    while jobs.try_recv().is_ok() {}
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
    read_task.abort();
    if let Ok(mut waiting) = pending.lock() {
        waiting.clear();
    }
    tracing::debug!(%forwarder, "DoT connection to forwarder closed");
}

/// Files `reply` under a fresh ID, unique among those in flight; None when the map is
/// poisoned, or when [`MAX_IN_FLIGHT`] wait already (then `reply` gets an error).
fn register(pending: &Mutex<HashMap<u16, Reply>>, reply: Reply) -> Option<u16> {
    let mut waiting = pending.lock().ok()?;
    if waiting.len() >= MAX_IN_FLIGHT {
        let _ = reply.send(Err(UpstreamError::Network(
            "too many queries in flight".into(),
        )));
        return None;
    }
    let id = loop {
        let id: u16 = rand::random();
        if !waiting.contains_key(&id) {
            break id;
        }
    };
    waiting.insert(id, reply);
    Some(id)
}
