//! Benchmark (issue 11, speed): DNS over TLS (RFC 7858) handshakes plus one query
//! each, dnsd's `transport = "dot"` listener beside Unbound's `tls-port` and Knot
//! Resolver's `kind = 'tls'`, in the same run, as ratios (shared/BENCHMARKING.md),
//! through the local mini-Internet (never the real one).
//!
//! Run: `cargo build --release -p dnsd && cargo bench -p netfabric-tests --bench
//! resolver_dot` (`-- --seconds S --rounds N --clients C`).
//!
//! The client is here: C threads in the namespace, each opening a new TCP and TLS
//! connection per query (rustls, TLS 1.3, ECDSA P-256 certificate made by openssl),
//! asking one cached validated name (`www.secure.example. A`), reading the answer and
//! closing. Two kinds of handshakes: **full** (no resumption) and **resumed** (the
//! client keeps the server's session tickets, as a stub that reconnects would).
//! Reported per server: handshakes (each with its query answered) per second, and
//! the server's CPU time per handshake (utime+stime of its processes over the run).
//! The client shares the 2 cores with the server: rates are bounded by it too, CPU
//! per handshake is the figure that compares servers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netfabric_tests::dns::Query;
use netfabric_tests::mini_internet::{MiniInternet, RESOLVER_ADDR, ask, resolver_addr};
use netfabric_tests::perf::median;
use netfabric_tests::procstat;
use netfabric_tests::resolver_bench::arg;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Accepts the bench's self-signed certificate (its signature over the handshake is
/// still checked, so the client does the work a verifying client does).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(resumed: bool) -> Arc<ClientConfig> {
    // ring, as dnsd's DoT front (front/dot.rs says why not aws-lc-rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    if !resumed {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// One connection: handshake, one query, its answer. Whether it was answered.
fn one(addr: SocketAddr, config: &Arc<ClientConfig>, query: &[u8]) -> bool {
    let Ok(tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("dot.test").expect("server name");
    let Ok(conn) = rustls::ClientConnection::new(config.clone(), name) else {
        return false;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    if tls.write_all(&framed).is_err() {
        return false;
    }
    let mut len = [0u8; 2];
    if tls.read_exact(&mut len).is_err() {
        return false;
    }
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    let answered = tls.read_exact(&mut answer).is_ok();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    answered
}

/// Handshakes answered per second and the server's CPU µs per handshake.
fn run(
    net: &MiniInternet,
    pid: u32,
    addr: SocketAddr,
    resumed: bool,
    clients: usize,
    seconds: u64,
) -> (f64, f64) {
    let mut q = Query::new("www.secure.example.", 1);
    q.rd = true;
    let query = q.to_bytes();
    let config = client_config(resumed);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let before = procstat::cpu_micros(pid);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients {
            let (config, query, done, stop) =
                (config.clone(), query.clone(), done.clone(), stop.clone());
            let ns = net.ns.clone();
            scope.spawn(move || {
                ns.run_in(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if one(addr, &config, &query) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = procstat::cpu_micros(pid).saturating_sub(before) as f64;
    let n = done.load(Ordering::Relaxed) as f64;
    (n / elapsed, cpu / n.max(1.0))
}

fn main() {
    let seconds: u64 = arg("--seconds", 10);
    let rounds: u32 = arg("--rounds", 3);
    let clients: usize = arg("--clients", 8);
    let net = MiniInternet::start();
    let dir = net.dir().to_path_buf();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=dot.test", "-keyout"])
        .arg(dir.join("dot.key"))
        .arg("-out")
        .arg(dir.join("dot.crt"))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (crt, key) = (dir.join("dot.crt"), dir.join("dot.key"));
    let dot = |port: u16| SocketAddr::new(RESOLVER_ADDR.parse().expect("address"), port);
    let dnsd = net.dnsd(
        resolver_addr(5701),
        &format!(
            "[[listener]]\naddress = \"{}\"\nrole = \"resolver\"\ntransport = \"dot\"\n\
             allow = [\"198.51.100.0/24\"]\ncertificate = \"{}\"\nkey = \"{}\"\n",
            dot(5711),
            crt.display(),
            key.display()
        ),
    );
    let unbound = net.unbound_with(
        resolver_addr(5702),
        &format!(
            "  interface: {RESOLVER_ADDR}@5712\n  tls-port: 5712\n  tls-service-key: \"{}\"\n  \
             tls-service-pem: \"{}\"\n  incoming-num-tcp: 256\n",
            key.display(),
            crt.display()
        ),
    );
    let kresd = net.kresd_with(
        resolver_addr(5703),
        &format!(
            "net.listen('{RESOLVER_ADDR}', 5713, {{ kind = 'tls' }})\nnet.tls('{}', '{}')\n",
            crt.display(),
            key.display()
        ),
    );
    let servers = [
        ("dnsd", dnsd.pid(), resolver_addr(5701), dot(5711)),
        ("unbound", unbound.pid(), resolver_addr(5702), dot(5712)),
        ("kresd", kresd.pid(), resolver_addr(5703), dot(5713)),
    ];
    for (_, _, plain, _) in &servers {
        let mut q = Query::new("www.secure.example.", 1);
        q.rd = true;
        let _ = ask(&net.ns, *plain, &q, Duration::from_secs(5));
    }
    let mut results: Vec<(&str, bool, f64, f64)> = Vec::new();
    for _ in 0..rounds {
        for resumed in [false, true] {
            for (label, pid, _, addr) in &servers {
                let (rate, cpu) = run(&net, *pid, *addr, resumed, clients, seconds);
                results.push((label, resumed, rate, cpu));
            }
        }
    }
    println!(
        "\nDoT: a new connection per query, {clients} client threads, {rounds} rounds of \
         {seconds} s, medians; ratios to Unbound's"
    );
    println!(
        "| handshake | server | handshakes+queries/s | x Unbound | server CPU µs/handshake | x Unbound |"
    );
    println!(
        "|-----------|--------|---------------------:|----------:|------------------------:|----------:|"
    );
    for resumed in [false, true] {
        let pick = |label: &str, f: fn(&(&str, bool, f64, f64)) -> f64| {
            median(
                results
                    .iter()
                    .filter(|r| r.0 == label && r.1 == resumed)
                    .map(f)
                    .collect(),
            )
        };
        let (base_rate, base_cpu) = (pick("unbound", |r| r.2), pick("unbound", |r| r.3));
        for (label, ..) in &servers {
            let (rate, cpu) = (pick(label, |r| r.2), pick(label, |r| r.3));
            println!(
                "| {} | {label} | {rate:.0} | {:.2} | {cpu:.0} | {:.2} |",
                if resumed { "resumed" } else { "full" },
                rate / base_rate,
                base_cpu / cpu
            );
        }
    }
    println!("(CPU x Unbound: Unbound's CPU per handshake over this one's: above 1 is cheaper)");
}
