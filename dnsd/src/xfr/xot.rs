//! XoT, zone transfers over TLS (RFC 9103), on the secondary's side: a primary
//! declared with `tls` is asked its SOA and its AXFR/IXFR over one TLS connection
//! each (TLS 1.2 or 1.3, rustls with ring, ALPN "dot" as RFC 9103 §7.1 requires).
//! How the primary is authenticated (RFC 9103 §9.3):
//!
//! - `strict` (§9.3.2, RFC 8310's strict profile): the certificate must chain to a CA
//!   of `tls-ca-file` and carry `tls-name` (or the primary's address), and/or its
//!   public key (SPKI) must hash to `tls-pin-sha256` (RFC 7858 §4.2 pins); a failed
//!   check ends the connection, and the next primary is tried.
//! - `opportunistic` (§9.3.1): encrypted, but any certificate is accepted (the
//!   handshake still proves that the peer holds the key of the one it shows). There
//!   is no fallback to clear text: a TLS port does not speak plain DNS.
//!
//! TSIG applies inside the connection exactly as over TCP. The primary's side is the
//! DoT front (`front::dot`), which serves transfers with the zone's access lists.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// How a TLS primary is authenticated (RFC 9103 §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Its certificate is checked (CA and name, or the SPKI pin).
    Strict,
    /// Encrypted only: any certificate.
    Opportunistic,
}

/// A primary's TLS settings as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSpec {
    /// How it is authenticated.
    pub mode: TlsMode,
    /// The name its certificate must carry (strict, with a CA); None: its address.
    pub name: Option<String>,
    /// Trust anchors (PEM), strict mode.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, strict mode.
    pub pin_sha256: Option<[u8; 32]>,
}

/// A TLS primary, ready to connect to: compared by its settings.
#[derive(Clone)]
pub struct XotPeer {
    spec: TlsSpec,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl PartialEq for XotPeer {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.server_name == other.server_name
    }
}

impl Eq for XotPeer {}

impl fmt::Debug for XotPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XotPeer")
            .field("spec", &self.spec)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl XotPeer {
    /// The connector for a primary at `address` with `spec`; the error names the CA
    /// file or the name that is wrong.
    pub fn new(spec: TlsSpec, address: IpAddr) -> Result<Self, String> {
        let server_name = match &spec.name {
            Some(name) => {
                ServerName::try_from(name.clone()).map_err(|e| format!("tls-name {name:?}: {e}"))?
            }
            None => ServerName::from(address),
        };
        // ring, as the DoT front (see front::dot::server_config).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &spec.ca_file {
            Some(path) => Some(webpki_verifier(path, &provider)?),
            None => None,
        };
        if spec.mode == TlsMode::Strict && roots.is_none() && spec.pin_sha256.is_none() {
            return Err("strict TLS needs tls-ca-file or tls-pin-sha256".into());
        }
        let verifier = Verifier {
            roots: roots.filter(|_| spec.mode == TlsMode::Strict),
            pin: spec.pin_sha256.filter(|_| spec.mode == TlsMode::Strict),
            provider: provider.clone(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // RFC 9103 §7.1: XoT uses the ALPN token "dot".
        config.alpn_protocols = vec![b"dot".to_vec()];
        Ok(Self {
            spec,
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Its settings.
    pub fn spec(&self) -> &TlsSpec {
        &self.spec
    }

    /// The TLS handshake over `stream` to the primary at `address`.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        address: SocketAddr,
    ) -> io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS with {address}: {e}")))
    }
}

/// A WebPKI verifier with the CA certificates of `path`.
fn webpki_verifier(
    path: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, String> {
    use rustls::pki_types::pem::PemObject;
    let file = path.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(path).map_err(|e| format!("tls-ca-file {file}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("tls-ca-file {file}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls-ca-file {file}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("tls-ca-file {file}: no CERTIFICATE in the file"));
    }
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("tls-ca-file {file}: {e}"))
}

/// The SHA-256 of `cert`'s SubjectPublicKeyInfo (DER, with its SEQUENCE header), the
/// hash RFC 7858 §4.2 pins.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    digest.as_ref().try_into().ok()
}

/// Checks the primary's certificate as its mode says; the handshake signatures are
/// always verified.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(pin) = &self.pin
            && spki_sha256(end_entity).as_ref() != Some(pin)
        {
            return Err(rustls::Error::General(
                "the certificate's public key does not match tls-pin-sha256".into(),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
