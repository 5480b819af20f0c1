//! Zone transfers over TLS (XoT, RFC 9103) between dnsd and BIND 9.18, both ways, in
//! the "home" and "vps" namespaces, with a test CA:
//!
//! - BIND on the VPS pulls example.net from dnsd's DoT listener (`primaries { ... tls
//!   NAME; }`, strict: CA file and remote-hostname) — AXFR, then after an edit IXFR;
//!   its zone (its AXFR out, plain) equals dnsd's source file.
//! - dnsd on the VPS pulls example.net from dnsd (strict: CA and name), example.com
//!   from dnsd (opportunistic) and example.org from BIND's `listen-on tls` (strict:
//!   SPKI pin; BIND allows the zone only over TLS), each the same as its source;
//!   the edit on the dnsd primary reaches it by NOTIFY and an IXFR over TLS.
//! - A primary whose certificate does not carry the configured `tls-name`, or whose
//!   public key is not the pinned one, is not transferred from (the zone stays not
//!   ready, the log says why).
//! - Over TLS as over TCP, an AXFR without the key, with a wrong secret, or from an
//!   address allow-transfer does not list is refused, logged and counted.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::netns::Netns;
use netfabric_tests::xfr::{
    HOME, HomeVps, PATIENCE, TsigKey, VPS, canonical, canonical_axfr, zone_text,
};
use netfabric_tests::xot::{Pki, spki_pin, start_bind};

const HOSTS: usize = 3000;

/// example.net's test zone, moved to `zone`.
fn zone_for(zone: &str, serial: u32, edit: usize) -> String {
    zone_text(serial, HOSTS, edit).replace("example.net.", &format!("{zone}."))
}

/// The records of an AXFR of `zone` from `server` (dig, in `ns`, with `args`),
/// canonical; Err with dig's output when the transfer failed.
fn axfr(ns: &Netns, server: &str, zone: &str, args: &[&str]) -> Result<Vec<String>, String> {
    let at = format!("@{server}");
    let mut argv = vec!["dig", &at, "+nocmd", "+nostats", "+nocomments", "+time=10"];
    argv.extend_from_slice(args);
    let qname = format!("{zone}.");
    argv.extend_from_slice(&["AXFR", &qname]);
    let out = ns.exec(&argv);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if text.contains("Transfer failed") || !text.contains("SOA") {
        return Err(text);
    }
    Ok(canonical_axfr(zone, &text))
}

fn source(dir: &Path, zone: &str) -> Vec<String> {
    canonical(zone, &dir.join(format!("{zone}.zone")))
}

/// Waits until `zone` as dig transfers it from `server` equals `want`.
fn wait_same(
    ns: &Netns,
    server: &str,
    zone: &str,
    want: &[String],
    what: &str,
    log: &dyn Fn() -> String,
) {
    let start = Instant::now();
    loop {
        let got = axfr(ns, server, zone, &["+tcp"]);
        if got.as_deref() == Ok(want) {
            return;
        }
        if start.elapsed() > PATIENCE {
            let detail = match got {
                Ok(lines) => {
                    let missing: Vec<&String> =
                        want.iter().filter(|l| !lines.contains(l)).collect();
                    let extra: Vec<&String> = lines.iter().filter(|l| !want.contains(l)).collect();
                    format!(
                        "missing {:?}, extra {:?}",
                        &missing[..missing.len().min(5)],
                        &extra[..extra.len().min(5)]
                    )
                }
                Err(text) => text,
            };
            panic!(
                "{what}: {zone} at {server} is not its source: {detail}\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn counter(metrics: &str, prefix: &str, needle: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn xot_between_dnsd_and_bind_both_ways_with_tsig_acl_and_certificate_checks() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let pki = Pki::new();
    let (cert, cert_key) = pki.issue("home", "home.test");
    let ca = pki.ca();
    let key_table = format!(
        "[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
        key.name, key.algorithm, key.secret
    );

    // Home: the dnsd primary (plain on :53, XoT on :853) and a BIND primary (plain
    // on :5300, XoT on :8853, transfers only over TLS).
    let mut primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .metrics()
        .zone("example.net", &zone_for("example.net", 1, 0))
        .zone("example.com", &zone_for("example.com", 1, 0))
        .zone("wrong.example", &zone_for("wrong.example", 1, 0))
        .zone("pin.example", &zone_for("pin.example", 1, 0))
        .config(&format!(
            "{key_table}[[listener]]\naddress = \"{HOME}:853\"\ntransport = \"dot\"\n\
             certificate = \"{}\"\nkey = \"{}\"\n\
             [xfr]\nallow-transfer = [{{ from = \"{VPS}\", key = \"home-vps\" }}]\n\
             notify = [{{ address = \"{VPS}:53\", key = \"home-vps\" }}, \
             {{ address = \"{VPS}:5300\", key = \"home-vps\" }}]\n",
            cert.display(),
            cert_key.display()
        ))
        .start();
    let bind_primary = start_bind(
        Some(net.home.clone()),
        SocketAddr::new(HOME, 5300),
        &format!("  listen-on port 8853 tls home {{ {HOME}; }};\n"),
        |dir| {
            std::fs::write(dir.join("example.org.zone"), zone_for("example.org", 1, 0))
                .expect("write zone");
            format!(
                "tls home {{ key-file \"{}\"; cert-file \"{}\"; }};\n{}\
                 zone \"example.org\" {{ type primary; file \"{}/example.org.zone\";\n  \
                 allow-transfer port 8853 transport tls {{ key \"home-vps\"; }}; }};\n",
                cert_key.display(),
                cert.display(),
                key.bind_text(),
                dir.display()
            )
        },
    );

    // The VPS: a BIND secondary of dnsd over TLS (strict), and a dnsd secondary of
    // both primaries.
    let bind_secondary = start_bind(
        Some(net.vps.clone()),
        SocketAddr::new(VPS, 5300),
        "",
        |dir| {
            format!(
                "tls to-home {{ ca-file \"{}\"; remote-hostname \"home.test\"; }};\n{}\
                 zone \"example.net\" {{ type secondary; file \"{}/example.net.db\";\n  \
                 masterfile-format text; allow-transfer {{ any; }};\n  \
                 primaries {{ {HOME} port 853 key \"home-vps\" tls to-home; }};\n  \
                 allow-notify {{ {HOME}; }}; }};\n",
                ca.display(),
                key.bind_text(),
                dir.display()
            )
        },
    );
    let pin = spki_pin(&cert);
    // The pin of another key than home's.
    let (other, _) = pki.issue("other", "other.test");
    let wrong_pin = spki_pin(&other);
    assert_ne!(pin, wrong_pin);
    let ca_text = ca.display();
    let mut secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .metrics()
        .probe("example.org")
        .config(&format!(
            "{key_table}[xfr]\nallow-transfer = [{{ from = \"198.18.0.0/24\" }}]\n\
             [zone.\"example.net\"]\nprimaries = [{{ address = \"{HOME}:853\", key = \"home-vps\", \
             tls = \"strict\", tls-ca-file = \"{ca_text}\", tls-name = \"home.test\" }}]\n\
             [zone.\"example.com\"]\nprimaries = [{{ address = \"{HOME}:853\", key = \"home-vps\", \
             tls = \"opportunistic\" }}]\n\
             [zone.\"example.org\"]\nprimaries = [{{ address = \"{HOME}:8853\", key = \"home-vps\", \
             tls = \"strict\", tls-pin-sha256 = \"{pin}\" }}]\n\
             [zone.\"wrong.example\"]\nprimaries = [{{ address = \"{HOME}:853\", key = \"home-vps\", \
             tls = \"strict\", tls-ca-file = \"{ca_text}\", tls-name = \"other.test\" }}]\n\
             [zone.\"pin.example\"]\nprimaries = [{{ address = \"{HOME}:853\", key = \"home-vps\", \
             tls = \"strict\", tls-pin-sha256 = \"{wrong_pin}\" }}]\n"
        ))
        .start();
    let logs = || {
        format!(
            "--- dnsd primary:\n{}\n--- dnsd secondary:\n{}\n--- BIND primary:\n{}\n--- BIND secondary:\n{}",
            primary.log(),
            secondary.log(),
            bind_primary.log(),
            bind_secondary.log()
        )
    };
    let vps = VPS.to_string();

    // Each zone reached each secondary over TLS, whole.
    let home_zones = primary.zones_dir();
    for zone in ["example.net", "example.com"] {
        wait_same(
            &net.vps,
            &vps,
            zone,
            &source(&home_zones, zone),
            "dnsd → dnsd over TLS",
            &logs,
        );
    }
    wait_same(
        &net.vps,
        &vps,
        "example.org",
        &source(bind_primary.dir(), "example.org"),
        "BIND → dnsd over TLS",
        &logs,
    );
    let bind_axfr = |zone: &str| axfr(&net.vps, &vps, zone, &["-p", "5300", "+tcp"]);
    let start = Instant::now();
    while bind_axfr("example.net").ok() != Some(source(&home_zones, "example.net")) {
        assert!(
            start.elapsed() < PATIENCE,
            "dnsd → BIND over TLS: {:?}\n{}",
            bind_axfr("example.net").err(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // BIND allows example.org only over TLS: the transfers above were.
    assert!(
        axfr(
            &net.vps,
            &HOME.to_string(),
            "example.org",
            &[
                "-p",
                "5300",
                "-y",
                &format!("hmac-sha256:home-vps:{}", key.secret)
            ]
        )
        .is_err(),
        "BIND served example.org in clear text"
    );

    // An edit on the dnsd primary: NOTIFY, then IXFR over TLS to both secondaries.
    let path = home_zones.join("example.net.zone");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, zone_for("example.net", 2, 1)).expect("write zone");
    std::fs::rename(&tmp, &path).expect("rename zone");
    wait_same(
        &net.vps,
        &vps,
        "example.net",
        &source(&home_zones, "example.net"),
        "dnsd → dnsd after an edit",
        &logs,
    );
    let start = Instant::now();
    while bind_axfr("example.net").ok() != Some(source(&home_zones, "example.net")) {
        assert!(
            start.elapsed() < PATIENCE,
            "dnsd → BIND after an edit: {:?}\n{}",
            bind_axfr("example.net").err(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = secondary.scrape();
    assert!(
        counter(
            &metrics,
            "dnsd_xfr_in_total{zone=\"example.net.\"",
            "type=\"ixfr\",result=\"ok\""
        ) >= 1,
        "no IXFR in over TLS:\n{metrics}\n{}",
        logs()
    );
    // A certificate without the configured name: never transferred from.
    assert!(
        secondary.soa_serial("wrong.example").is_none(),
        "{}",
        secondary.log()
    );
    secondary.wait_for("the certificate refused for its name", |d| {
        d.log().contains("not valid for name \"other.test\"")
    });
    // Nor one whose public key is not the pinned one.
    secondary.wait_for("the certificate refused for its key", |d| {
        d.log()
            .contains("the certificate's public key does not match tls-pin-sha256")
    });
    assert!(
        secondary.soa_serial("pin.example").is_none(),
        "{}",
        secondary.log()
    );

    // Over TLS, the zone's ACL and keys hold: refused without the key, with a wrong
    // secret, and from an address not listed (home itself); served with both.
    let tls = ["-p", "853", "+tls"];
    let right = format!("hmac-sha256:home-vps:{}", key.secret);
    let wrong = format!("hmac-sha256:home-vps:{}", key.with_wrong_secret().secret);
    let home = HOME.to_string();
    let with = |ns: &Netns, y: Option<&str>| {
        let mut args = tls.to_vec();
        if let Some(y) = y {
            args.extend_from_slice(&["-y", y]);
        }
        axfr(ns, &home, "example.com", &args)
    };
    assert_eq!(
        with(&net.vps, Some(&right)).as_ref(),
        Ok(&source(&home_zones, "example.com")),
        "AXFR over TLS with the key, from the VPS"
    );
    for (what, ns, y) in [
        ("without the key", &net.vps, None),
        ("with a wrong secret", &net.vps, Some(wrong.as_str())),
        (
            "from an address not allowed",
            &net.home,
            Some(right.as_str()),
        ),
    ] {
        assert!(
            with(ns, y).is_err(),
            "AXFR over TLS {what} was served\n{}",
            primary.log()
        );
    }
    let metrics = primary.scrape();
    assert!(
        counter(
            &metrics,
            "dnsd_xfr_out_total{zone=\"example.com.\"",
            "result=\"refused\""
        ) >= 1,
        "{metrics}"
    );
    assert!(
        primary
            .log()
            .contains("transfer refused: not in allow-transfer"),
        "{}",
        primary.log()
    );
    primary.kill();
}
