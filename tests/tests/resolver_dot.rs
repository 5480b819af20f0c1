//! DNS over TLS (RFC 7858, issue 11 point 6), from outside: dnsd resolves through the
//! local mini-Internet (never the real one) and serves clients on a `transport =
//! "dot"` listener with a self-signed certificate made by `openssl` here.
//!
//! What a user sees:
//! - `kdig +tls` gets the validated answer (AD), padded to a 468-octet block (RFC
//!   8467) with a Padding option, and the keepalive timeout it asked for (RFC 7828);
//! - answers leave as they are ready, not in the order asked (RFC 7858 §3.3): over one
//!   TLS connection (`openssl s_client`), a question for a zone whose server never
//!   answers, then one for a cached name: the second answer comes first;
//! - after the certificate files are replaced and dnsd gets SIGHUP, a new connection
//!   is shown the new certificate;
//! - a DoT listener whose certificate file is missing stops dnsd at start with an
//!   error naming the file.

use std::path::Path;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize};
use netfabric_tests::mini_internet::{MiniInternet, RESOLVER_ADDR, resolver_addr};
use netfabric_tests::process::ProcessGuard;

/// Makes a self-signed ECDSA certificate for `cn` in `dir`/`stem`.{crt,key}.
fn certificate(dir: &Path, stem: &str, cn: &str) {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(dir.join(format!("{stem}.key")))
        .arg("-out")
        .arg(dir.join(format!("{stem}.crt")))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `[[listener]]` table of a DoT listener on `port` with `dir`'s dot.{crt,key}.
fn dot_listener(port: u16, dir: &Path) -> String {
    format!(
        "[[listener]]\naddress = \"{RESOLVER_ADDR}:{port}\"\nrole = \"resolver\"\n\
         transport = \"dot\"\nallow = [\"198.51.100.0/24\"]\n\
         certificate = \"{crt}\"\nkey = \"{key}\"\n",
        crt = dir.join("dot.crt").display(),
        key = dir.join("dot.key").display(),
    )
}

/// The subject of the certificate the DoT listener on `port` presents.
fn presented_subject(net: &MiniInternet, port: u16) -> String {
    let script = format!(
        "openssl s_client -connect {RESOLVER_ADDR}:{port} </dev/null 2>/dev/null \
         | openssl x509 -noout -subject"
    );
    let out = net.ns.exec(&["sh", "-c", &script]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The IDs of the length-prefixed DNS messages in `stream`, in order.
fn ids(mut stream: &[u8]) -> Vec<u16> {
    let mut ids = Vec::new();
    while stream.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([stream[0], stream[1]]));
        ids.push(u16::from_be_bytes([stream[2], stream[3]]));
        stream = stream.get(2 + len..).unwrap_or_default();
    }
    ids
}

#[test]
fn dot_clients_get_padded_answers_out_of_order_and_new_certificates_on_sighup() {
    let net = MiniInternet::start();
    let dir = tempfile::Builder::new()
        .prefix("nf-dot-")
        .tempdir()
        .expect("temporary folder");
    certificate(dir.path(), "dot", "dns.test");
    let port = 8531;
    let dnsd = net.dnsd(resolver_addr(5341), &dot_listener(port, dir.path()));

    // kdig over TLS: the validated answer, padded, with the keepalive it asked for.
    let server = format!("@{RESOLVER_ADDR}");
    let port_arg = port.to_string();
    let out = net.ns.exec(&[
        "kdig",
        &server,
        "-p",
        &port_arg,
        "+tls",
        "+dnssec",
        // edns-tcp-keepalive, empty (RFC 7828 §3.2.1; this kdig has no +keepalive).
        "+ednsopt=11",
        "+padding",
        "+timeout=15",
        "www.secure.example.",
        "A",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", dnsd.log());
    assert!(text.contains("198.51.100.80"), "{text}");
    // Each feature's failure is collected, so that one broken build shows them all.
    let mut problems = Vec::new();
    assert!(
        text.lines()
            .any(|l| l.to_lowercase().contains("flags:") && l.contains(" ad")),
        "AD: {text}"
    );
    if !text.contains("PADDING") {
        problems.push(format!("no padding: {text}"));
    }
    // kdig 3.2 shows the keepalive option by its code: 100 × 100 ms, the idle timeout.
    if !(text.contains("KEEPALIVE") || text.contains("Option (11): 0064")) {
        problems.push(format!("no keepalive: {text}"));
    }
    let received = text
        .lines()
        .find_map(|l| l.strip_prefix(";; Received "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    if received.is_none_or(|n| n % 468 != 0) {
        problems.push(format!("not a multiple of 468 octets: {received:?}"));
    }

    // Two pipelined questions on one connection: the slow one first.
    let mut slow = Query::new("www.timeout.example.", 1);
    slow.rd = true;
    slow.id = 1;
    let mut cached = Query::new("www.secure.example.", 1);
    cached.rd = true;
    cached.id = 2;
    let mut input = Vec::new();
    for query in [&slow, &cached] {
        let bytes = query.to_bytes();
        input.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        input.extend_from_slice(&bytes);
    }
    let input_path = dir.path().join("pipelined.bin");
    std::fs::write(&input_path, &input).expect("write queries");
    let output_path = dir.path().join("answers.bin");
    let mut client = net.ns.command(&[
        "sh",
        "-c",
        &format!(
            "openssl s_client -quiet -connect {RESOLVER_ADDR}:{port} < {} > {} 2>/dev/null",
            input_path.display(),
            output_path.display()
        ),
    ]);
    let mut client = ProcessGuard::spawn("s_client", &mut client);
    // dnsd closes the connection once idle (after both answers are out).
    client.wait_output(Duration::from_secs(60));
    let answers = std::fs::read(&output_path).unwrap_or_default();
    if ids(&answers) != vec![2, 1] {
        problems.push(format!("answer IDs in this order: {:?}", ids(&answers)));
    }
    let mut stream = &answers[..];
    let mut rcodes = Vec::new();
    while stream.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([stream[0], stream[1]]));
        let message = stream.get(2..2 + len).unwrap_or_default();
        rcodes.push(normalize(message).map(|n| n.rcode));
        stream = stream.get(2 + len..).unwrap_or_default();
    }
    rcodes.sort_by_key(|r| r.clone().unwrap_or(99));
    assert_eq!(rcodes, vec![Ok(0), Ok(2)], "NOERROR and SERVFAIL");

    // SIGHUP: the new certificate for new connections.
    assert!(
        presented_subject(&net, port).contains("dns.test"),
        "{}",
        presented_subject(&net, port)
    );
    certificate(dir.path(), "next", "dns2.test");
    std::fs::rename(dir.path().join("next.crt"), dir.path().join("dot.crt")).expect("rename");
    std::fs::rename(dir.path().join("next.key"), dir.path().join("dot.key")).expect("rename");
    dnsd.signal(libc::SIGHUP);
    let renewed = netfabric_tests::process::wait_until(Duration::from_secs(20), || {
        presented_subject(&net, port).contains("dns2.test")
    });
    if !renewed {
        problems.push(format!(
            "after SIGHUP: {}\n{}",
            presented_subject(&net, port),
            dnsd.log()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_certificate_stops_dnsd_with_the_files_name() {
    let dir = tempfile::Builder::new()
        .prefix("nf-dot-")
        .tempdir()
        .expect("temporary folder");
    std::fs::create_dir_all(dir.path().join("zones")).expect("zones");
    certificate(dir.path(), "dot", "dns.test");
    let missing = dir.path().join("missing.crt");
    let conf = format!(
        "zones-dir = \"zones\"\nstate-dir = \"state\"\n[[listener]]\n\
         address = \"127.0.0.83:8532\"\ntransport = \"dot\"\n\
         certificate = \"{}\"\nkey = \"{}\"\n",
        missing.display(),
        dir.path().join("dot.key").display()
    );
    let config = dir.path().join("dnsd.toml");
    std::fs::write(&config, conf).expect("write dnsd.toml");
    let mut command = std::process::Command::new(netfabric_tests::bins::path("dnsd"));
    command
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("dnsd runs");
    // Bounded: a dnsd that serves anyway is stopped after 30 s.
    let exited = netfabric_tests::process::wait_until(Duration::from_secs(30), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("dnsd's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "dnsd served without its certificate"
    );
    assert!(
        stderr.contains(&missing.display().to_string()),
        "the error names the file: {stderr}"
    );
}
