//! For tests of zone transfers over TLS (XoT, RFC 9103): a test CA and certificates
//! it issues (openssl), the SPKI pin of a certificate (RFC 7858 §4.2), and BIND 9.18
//! started with a configuration the test writes (its `tls` clauses, `listen-on tls`,
//! `primaries { ADDR tls NAME; }`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::netns::Netns;
use crate::xfr::{Peer, PeerServer};

/// A test certificate authority in a folder of its own.
pub struct Pki {
    dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new CA (ECDSA P-256), `ca.pem`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nf-xot-pki-")
            .tempdir()
            .expect("temporary folder");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=netfabric test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            dir.path(),
        );
        Self { dir }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Issues `stem`.pem and `stem`.key for the DNS name `name`; returns their paths.
    pub fn issue(&self, stem: &str, name: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        let (key, csr, pem, ext) = (
            format!("{stem}.key"),
            format!("{stem}.csr"),
            format!("{stem}.pem"),
            format!("{stem}.ext"),
        );
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
            d,
        );
        std::fs::write(d.join(&ext), format!("subjectAltName=DNS:{name}\n")).expect("ext");
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
            d,
        );
        (d.join(pem), d.join(key))
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// The base64 SHA-256 of `cert`'s SubjectPublicKeyInfo (what `tls-pin-sha256` takes).
pub fn spki_pin(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64",
            cert.display()
        ))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts BIND (`named -g`) on `addr` (its plain DNS port), inside `netns` when given,
/// with the `options` statements `options` and the other statements `rest` (both
/// given BIND's folder). Returns once it answers on `addr`.
pub fn start_bind(
    netns: Option<Arc<Netns>>,
    addr: SocketAddr,
    options: &str,
    rest: impl FnOnce(&Path) -> String,
) -> PeerServer {
    let dir = tempfile::Builder::new()
        .prefix("nf-xot-bind-")
        .tempdir()
        .expect("temporary folder");
    let d = dir.path().display();
    let conf = format!(
        "options {{\n  directory \"{d}\";\n  pid-file none;\n  session-keyfile none;\n  \
         listen-on port {port} {{ {ip}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  \
         dnssec-validation no;\n  notify explicit;\n{options}}};\n{rest}",
        port = addr.port(),
        ip = addr.ip(),
        rest = rest(dir.path()),
    );
    let path = dir.path().join("named.conf");
    std::fs::write(&path, conf).expect("write named.conf");
    let argv = vec![
        "named".to_string(),
        "-g".into(),
        "-c".into(),
        path.display().to_string(),
    ];
    PeerServer::launch(Peer::Bind, netns, addr, dir, &argv)
}
