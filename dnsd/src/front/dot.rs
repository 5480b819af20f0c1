//! The DNS-over-TLS front (RFC 7858): a `[[listener]]` with `transport = "dot"`,
//! TLS 1.2/1.3 by rustls (ring), the certificate chain and key from PEM files,
//! read again on SIGHUP (a new connection gets the new certificate; a file that no
//! longer loads is logged and the old certificate stays).
//!
//! ```text
//!  accept ─► TLS handshake ─► reader: frames (2-octet length, RFC 7766 §8)
//!                               │ answered at once (zones, refused, cached answers)
//!                               │ or a task per deferred request (the resolver)
//!                               ▼            ▼
//!                             channel ◄── answers in the order they are ready
//!                               ▼
//!                            writer ─► TLS
//! ```
//!
//! Answers leave as soon as each is ready, not in the order asked (RFC 7858 §3.3,
//! RFC 7766 §6.2.1.1): a query for a slow name does not hold up the cached ones
//! pipelined behind it. At most [`IN_FLIGHT`] requests of one connection wait for the
//! resolver at once (then the reader waits). Each response gets the EDNS options of
//! `edns_tail`: keepalive (RFC 7828) when asked for, Padding to 468-octet blocks
//! (RFC 7830, RFC 8467). Limits are the TCP front's: `max-connections` (shared),
//! `idle-timeout-ms` (also for the handshake), counted in the TCP metrics.
//!
//! Zone transfers over TLS (XoT, RFC 9103): AXFR, IXFR, NOTIFY and TSIG-signed
//! requests go to the transfer service (`crate::xfr::Service`) as over TCP, with the
//! zone's `allow-transfer` (prefixes and keys) and the transfer's own write timeout;
//! the listener's ALPN is "dot", as RFC 9103 §7.1 requires.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::acl::Acl;
use super::edns_tail;
use super::tcp::{OpenConnection, Shared, accept, resolve};
use crate::answer::{RequestContext, Role, Transport, refuse, respond};

/// Requests of one connection waiting for the resolver at once.
pub const IN_FLIGHT: usize = 100;
/// Answers queued for the writer.
const QUEUE: usize = 128;

/// A DoT listener's certificate chain and private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The TLS configuration a listener hands out, reloadable.
#[derive(Clone)]
pub struct Certificates {
    files: TlsFiles,
    config: Arc<ArcSwap<rustls::ServerConfig>>,
}

impl Certificates {
    /// Reads the files; the error names the file and says what is wrong with it.
    pub fn load(files: &TlsFiles) -> Result<Self, String> {
        Ok(Self {
            config: Arc::new(ArcSwap::from_pointee(server_config(files)?)),
            files: files.clone(),
        })
    }

    /// Reads the files again (SIGHUP): new connections get the new certificate; on an
    /// error the old one stays, and the error is logged.
    pub fn reload(&self) {
        match server_config(&self.files) {
            Ok(config) => {
                self.config.store(Arc::new(config));
                tracing::info!(certificate = %self.files.certificate.display(), "SIGHUP: DoT certificate read again");
            }
            Err(e) => tracing::error!("SIGHUP: {e}; the DoT listener keeps its certificate"),
        }
    }
}

/// The rustls configuration of `files`.
fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificate = files.certificate.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| format!("certificate {certificate}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate {certificate}: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "certificate {certificate}: no CERTIFICATE in the file"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("key {}: {e}", files.key.display()))?;
    // ring, as the rest of dnsd (the validator, hickory's dnssec-ring): rustls 0.23.48
    // deprecates its ring provider for want of post-quantum key exchange; aws-lc-rs,
    // which has it, would bring a C and CMake build into every cold build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "certificate {certificate} with key {}: {e}",
                files.key.display()
            )
        })?;
    // RFC 7858 §3.2: ALPN "dot" (RFC 9461 names it; clients that send none are served too).
    config.alpn_protocols = vec![b"dot".to_vec()];
    Ok(config)
}

/// A listening socket, its place in the configuration and its certificate.
pub struct Listener {
    /// The socket.
    pub listener: TcpListener,
    /// The listener's index in the configuration.
    pub index: u16,
    /// Its role.
    pub role: Role,
    /// The clients it serves (or, for `both`, recurses for).
    pub allow: Acl,
    /// The certificate it presents.
    pub certificates: Certificates,
}

/// Accepts connections on `listener` until `shutdown` turns true.
pub async fn serve(listener: Listener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let Listener {
        listener,
        index,
        role,
        allow,
        certificates,
    } = listener;
    while let Some((stream, peer, permit)) = accept(&listener, &shared, &mut shutdown, "dot").await
    {
        let client_role = super::acl::role_for(role, &allow, peer.ip());
        let context = RequestContext::new(Transport::Tcp, peer, index, client_role.unwrap_or(role));
        let acceptor = TlsAcceptor::from(certificates.config.load_full());
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        let refused = client_role.is_none();
        tokio::spawn(async move {
            let _open = OpenConnection::new(&shared.metrics);
            let served = connection(
                stream, acceptor, &shared, context, refused, shutdown, permit,
            );
            if let Err(e) = served.await {
                tracing::debug!(%peer, error = %e, "dot connection ended");
            }
        });
    }
}

/// Serves one connection: handshake, then requests until the peer closes, it idles
/// `idle-timeout-ms`, or shutdown; the answers still on their way are written before
/// the connection closes.
async fn connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    shared: &Arc<Shared>,
    context: RequestContext<'static>,
    refused: bool,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let idle = shared.config.idle_timeout;
    let handshake = timeout_at(Instant::now() + idle, acceptor.accept(stream)).await;
    let stream = match handshake {
        Ok(stream) => stream?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake")),
    };
    let (mut reader, writer) = tokio::io::split(stream);
    // Shared with a transfer (XoT), which writes its messages while holding it.
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let transfer_writer = writer.clone();
    let (answers, mut queue) = mpsc::channel::<Vec<u8>>(QUEUE);
    let write = async move {
        while let Some(frame) = queue.recv().await {
            let mut writer = writer.lock().await;
            writer.write_all(&frame).await?;
            while let Ok(frame) = queue.try_recv() {
                writer.write_all(&frame).await?;
            }
            writer.flush().await?;
        }
        writer.lock().await.shutdown().await
    };
    let keepalive = u16::try_from(idle.as_millis() / 100).unwrap_or(u16::MAX);
    let waiting = Arc::new(Semaphore::new(IN_FLIGHT));
    let read = async move {
        let mut deadline = Instant::now() + idle;
        let mut request = Vec::with_capacity(512);
        let mut response = Vec::with_capacity(512);
        loop {
            let length = tokio::select! {
                length = timeout_at(deadline, reader.read_u16()) => length,
                _ = shutdown.changed() => return Ok(()),
            };
            let length = match length {
                Ok(Ok(length)) => usize::from(length),
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    shared.metrics.tcp_idle_timeout();
                    return Ok(());
                }
            };
            request.resize(length, 0);
            match timeout_at(deadline, reader.read_exact(&mut request)).await {
                Ok(read) => read?,
                Err(_) => return Ok(()),
            };
            let keepalive = edns_tail::wants_keepalive(&request).then_some(keepalive);
            // Answered here, or deferred to the resolver (the guards end before any
            // await).
            let deferred = {
                let options = shared.options.load();
                let now_context = context.with_options(&options, super::unix_now());
                let answered = if refused {
                    refuse(&request, &now_context, &mut response)
                } else {
                    respond(&shared.zones.load(), &request, &now_context, &mut response)
                };
                match answered {
                    // XoT (RFC 9103): transfers, NOTIFY and signed requests go to the
                    // transfer service, with the zone's access lists and keys.
                    Some(outcome) if outcome.deferred && crate::xfr::Service::takes(&request) => {
                        match &shared.transfers {
                            Some(_) => Some(Next::Transfer),
                            None => {
                                refuse(&request, &now_context, &mut response).map(|_| Next::Now)
                            }
                        }
                    }
                    // A cached answer is written at once, without a task.
                    Some(outcome) if outcome.deferred => {
                        let now = shared.defer.as_ref().is_some_and(|sink| {
                            sink.answer_now(&request, &now_context, &mut response)
                                .is_some()
                        });
                        Some(if now { Next::Now } else { Next::Resolver })
                    }
                    Some(_) => Some(Next::Now),
                    None => None,
                }
            };
            let Some(next) = deferred else {
                continue;
            };
            if let (Next::Transfer, Some(service)) = (next, &shared.transfers) {
                // Every message of the transfer, written in turn while the answers
                // queued before it wait (RFC 9103 §8.2 lets them interleave only
                // between transfers' messages; one writer keeps that simple).
                let options = shared.options.load_full();
                let mut writer = transfer_writer.lock().await;
                tokio::select! {
                    served = service.serve_tcp(&request, context, options, &mut *writer) => served?,
                    _ = shutdown.changed() => return Ok(()),
                }
                writer.flush().await?;
                deadline = Instant::now() + idle;
                continue;
            }
            let deferred = next == Next::Resolver;
            deadline = Instant::now() + idle;
            if !deferred {
                let frame = frame(&mut response, keepalive);
                if answers.send(frame).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            // The resolver's answer goes out whenever it is ready.
            let Ok(slot) = waiting.clone().acquire_owned().await else {
                return Ok(());
            };
            let (shared, answers, request) = (
                shared.clone(),
                answers.clone(),
                std::mem::take(&mut request),
            );
            tokio::spawn(async move {
                let answer = resolve(request, &shared, &context).await;
                if let Some(mut answer) = answer.filter(|a| a.len() <= usize::from(u16::MAX)) {
                    let _ = answers.send(frame(&mut answer, keepalive)).await;
                }
                drop(slot);
            });
        }
    };
    // The reader ends first (close, idle, shutdown); the writer then sends what the
    // resolver still answers and closes once every answer is out.
    let (read, write) = tokio::join!(read, write);
    read.and(write)
}

/// What becomes of a request read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Its answer is in `response`.
    Now,
    /// The resolver answers it, when it can.
    Resolver,
    /// The transfer service streams its answer (XoT).
    Transfer,
}

/// `response` with its EDNS tail and the two-octet length in front.
fn frame(response: &mut Vec<u8>, keepalive: Option<u16>) -> Vec<u8> {
    edns_tail::finish(response, keepalive);
    let mut frame = Vec::with_capacity(2 + response.len());
    frame.extend_from_slice(&(response.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    frame.extend_from_slice(response);
    frame
}
