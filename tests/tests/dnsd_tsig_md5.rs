//! hmac-md5, the legacy TSIG algorithm (RFC 8945 §6), against real peers on
//! loopback: a key written by BIND's `tsig-keygen -a hmac-md5` in dnsd's key file;
//! dig signs an AXFR with it and verifies dnsd's signed answer; BIND as a secondary
//! transfers the zone with it (every message verified by BIND); a wrong secret is
//! refused and counted.

use std::net::SocketAddr;
use std::time::Instant;

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::servers::free_port;
use netfabric_tests::xfr::PATIENCE;
use netfabric_tests::xot::start_bind;

const ZONE: &str = "example.net";

fn zone() -> String {
    let mut z = "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 86400 300\n\
                 @ NS ns1\nns1 A 198.51.100.1\n"
        .to_string();
    for i in 0..1500 {
        z.push_str(&format!("host{i} A 198.51.100.{}\n", i % 250));
    }
    z
}

/// `tsig-keygen -a hmac-md5 NAME`'s output and the secret in it.
fn keygen(name: &str) -> (String, String) {
    let out = std::process::Command::new("tsig-keygen")
        .args(["-a", "hmac-md5", name])
        .output()
        .expect("tsig-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text
        .split("secret \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a secret in tsig-keygen's output")
        .to_string();
    (text, secret)
}

#[test]
fn hmac_md5_signs_transfers_with_dig_and_bind() {
    let (key_text, secret) = keygen("legacy");
    let dir = tempfile::Builder::new()
        .prefix("nf-md5-")
        .tempdir()
        .expect("temporary folder");
    let key_file = dir.path().join("legacy.key");
    std::fs::write(&key_file, &key_text).expect("write key");
    let dnsd = Dnsd::builder()
        .metrics()
        .zone(ZONE, &zone())
        .config(&format!(
            "[xfr]\nkey-files = [\"{}\"]\nallow-transfer = [{{ key = \"legacy\" }}]\n",
            key_file.display()
        ))
        .start();
    let addr = dnsd.addr;
    let port = addr.port().to_string();
    let server = format!("@{}", addr.ip());
    let dig = |y: &str| {
        let out = std::process::Command::new("dig")
            .args([
                &server,
                "-p",
                &port,
                "+time=10",
                "-y",
                y,
                "AXFR",
                "example.net.",
            ])
            .output()
            .expect("dig runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    // dig signs with hmac-md5 and checks the signature of every message it gets.
    let text = dig(&format!("hmac-md5:legacy:{secret}"));
    assert!(
        !text.contains("Transfer failed")
            && !text.contains("verify failure")
            && text.contains("host1499"),
        "{text}\n{}",
        dnsd.log()
    );
    assert!(
        text.contains("HMAC-MD5.SIG-ALG.REG.INT") || text.to_lowercase().contains("hmac-md5"),
        "{text}"
    );
    // The same key name with another secret: refused.
    let wrong = dig("hmac-md5:legacy:AAAAAAAAAAAAAAAAAAAAAA==");
    assert!(!wrong.contains("host1499"), "{wrong}");
    assert!(
        dnsd.log().contains("request refused: TSIG"),
        "{}",
        dnsd.log()
    );

    // BIND transfers the zone signed with the key, and verifies each message.
    let bind_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let bind = start_bind(None, bind_addr, "", |d| {
        format!(
            "{key_text}zone \"{ZONE}\" {{ type secondary; file \"{}/{ZONE}.db\";\n  \
             masterfile-format text;\n  primaries {{ {} port {} key \"legacy\"; }}; }};\n",
            d.display(),
            addr.ip(),
            addr.port()
        )
    });
    let start = Instant::now();
    while !bind.log().contains("Transfer status: success") {
        assert!(
            start.elapsed() < PATIENCE,
            "BIND did not transfer with hmac-md5:\n{}\n{}",
            bind.log(),
            dnsd.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(bind.log().contains("TSIG legacy"), "{}", bind.log());
}
