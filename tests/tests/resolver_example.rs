//! examples/resolver.toml run as README shows (issue 11, point 8): `dnsd --config
//! examples/resolver.toml` from the repository's root, the file as it is, in a network
//! namespace of its own (its fixed ports are always free there; nothing leaves it: the
//! real root servers its hints name are unreachable, never asked).
//!
//! The namespace's loopback also carries the service address the example names
//! (198.51.100.53, the `both` listener on port 53), a client address in its service
//! prefix (198.51.100.99) and one outside (203.0.113.9). What a user sees:
//! - 127.0.0.1:5353 (authoritative) answers the zones of ./zones with AA and RA clear,
//!   and REFUSED for any other name, even with RD;
//! - 127.0.0.1:5300 (resolver, loopback only) answers the zones from themselves (AA,
//!   RA set) and, with no root server reachable, SERVFAIL with EDE 22 for the rest;
//! - 198.51.100.53:53 (both) recurses for the service prefix (SERVFAIL here, as above),
//!   answers the zones to anyone, and gives an outsider REFUSED for other names;
//! - the metrics endpoint it names (127.0.0.1:9155) serves the resolver's series.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use netfabric_tests::dns::{Normalized, Query, ede_codes, normalize};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::netns::Netns;

const A: u16 = 1;

/// What a response must show: rcode, AA, RA, EDE 22 (No Reachable Authority).
#[derive(Clone, Copy)]
struct Want {
    rcode: u16,
    aa: bool,
    ra: bool,
    unreachable: bool,
}

/// A name of ./zones, on a listener without recursion (or for a client without it).
const ZONE: Want = Want {
    rcode: 0,
    aa: true,
    ra: false,
    unreachable: false,
};
/// A name of ./zones where recursion is offered.
const ZONE_RA: Want = Want { ra: true, ..ZONE };
/// Outside the zones, no recursion.
const REFUSED: Want = Want {
    rcode: 5,
    aa: false,
    ra: false,
    unreachable: false,
};
/// Outside the zones, recursion offered, no root server reachable.
const UNREACHABLE: Want = Want {
    rcode: 2,
    aa: false,
    ra: true,
    unreachable: true,
};

/// Asks `server` from `source` (an address of the namespace), RD set; the response and
/// its EDE codes.
fn ask(source: &str, server: &str, name: &str) -> Option<(Normalized, Vec<u16>)> {
    let mut query = Query::new(name, A);
    query.rd = true;
    let server: SocketAddr = server.parse().ok()?;
    let sock = UdpSocket::bind(format!("{source}:0")).ok()?;
    sock.connect(server).ok()?;
    // Generous: a name outside the zones is resolved (every root server tried).
    sock.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    sock.send(&query.to_bytes()).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some((normalize(&buf).ok()?, ede_codes(&buf)))
}

#[test]
fn the_resolver_example_runs_from_the_repository_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ns = Arc::new(Netns::new("rex"));
    for addr in ["198.51.100.53/32", "198.51.100.99/32", "203.0.113.9/32"] {
        ns.exec_ok(&["ip", "addr", "add", addr, "dev", "lo"]);
    }
    let dnsd = Dnsd::builder()
        .as_is(
            &root,
            &["--config", "examples/resolver.toml"],
            "127.0.0.1:5353".parse().expect("address"),
            "home.example.net",
        )
        .in_netns(ns.clone())
        .start();

    let cases = [
        (
            "127.0.0.1",
            "127.0.0.1:5353",
            "mail.home.example.net.",
            ZONE,
        ),
        ("127.0.0.1", "127.0.0.1:5353", "www.example.com.", REFUSED),
        (
            "127.0.0.1",
            "127.0.0.1:5300",
            "mail.home.example.net.",
            ZONE_RA,
        ),
        (
            "127.0.0.1",
            "127.0.0.1:5300",
            "www.example.com.",
            UNREACHABLE,
        ),
        (
            "198.51.100.99",
            "198.51.100.53:53",
            "www.example.com.",
            UNREACHABLE,
        ),
        (
            "203.0.113.9",
            "198.51.100.53:53",
            "mail.home.example.net.",
            ZONE,
        ),
        (
            "203.0.113.9",
            "198.51.100.53:53",
            "www.example.com.",
            REFUSED,
        ),
    ];
    let mut problems = Vec::new();
    for (source, server, name, want) in cases {
        let Want {
            rcode,
            aa,
            ra,
            unreachable,
        } = want;
        let got = ns.run_in(|| ask(source, server, name));
        let Some((reply, codes)) = got else {
            problems.push(format!("{source} -> {server} {name}: no answer"));
            continue;
        };
        if reply.rcode != rcode
            || reply.flags.contains("aa") != aa
            || reply.flags.contains("ra") != ra
            || codes.contains(&22) != unreachable
            || (rcode == 0 && !reply.to_string().contains("198.51.100.3"))
        {
            problems.push(format!(
                "{source} -> {server} {name}: want rcode {rcode}, AA {aa}, RA {ra}, \
                 EDE 22 {unreachable}; got EDE {codes:?}: {reply}"
            ));
        }
    }
    let metrics =
        netfabric_tests::metrics::scrape(Some(&*ns), "127.0.0.1:9155".parse().expect("address"));
    for series in ["dnsd_resolver_answers_total", "dnsd_resolver_cache_bytes"] {
        if !metrics.lines().any(|l| l.starts_with(series)) {
            problems.push(format!("metrics on 127.0.0.1:9155 lack {series}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n{}\n{metrics}",
        problems.join("\n"),
        dnsd.log()
    );
    drop(dnsd);
    let _ = std::fs::remove_dir_all(root.join(".dnsd-state-resolver"));
}
