//! The operator's cache commands (issue 11 points 4 and 7) through the binary: dnsd
//! resolves through the local mini-Internet (never the real one), then `dnsd ctl`
//! dumps and flushes its cache over the control socket.
//!
//! A user sees: `cache dump NAME` lists what a client was just answered (records with
//! their RRSIGs, an NXDOMAIN as a comment with its SOA), one record per line;
//! `cache flush NAME` drops that name only, `cache flush-tree NAME` a subtree,
//! `cache flush-all` everything, each ending with `ok N`. That a flush took effect is
//! seen from outside as well: asking a flushed name again sends queries upstream
//! (`dnsd_resolver_upstream_queries_total` grows), asking a name that was kept does
//! not.

use std::net::SocketAddr;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};

/// Asks `name` A (RD, DO) of `resolver` from the namespace; the rcode.
fn ask(net: &MiniInternet, resolver: SocketAddr, name: &str) -> u16 {
    let mut query = Query::new(name, 1);
    query.rd = true;
    let bytes = query.to_bytes();
    let reply = net
        .ns
        .run_in(|| udp_exchange(resolver, &bytes, Duration::from_secs(20)))
        .unwrap_or_else(|| panic!("{resolver} answers {name}"));
    normalize(&reply)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .rcode
}

/// `dnsd_resolver_upstream_queries_total` of the dnsd on `addr`.
fn upstream_queries(net: &MiniInternet, addr: SocketAddr) -> u64 {
    let metrics = net.scrape_dnsd(addr);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("dnsd_resolver_upstream_queries_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no upstream query count:\n{metrics}"))
}

/// Runs `dnsd ctl LINE`, which must succeed; its output.
fn ctl(net: &MiniInternet, addr: SocketAddr, line: &str) -> String {
    let (ok, out) = net.dnsd_ctl(addr, &[line]);
    assert!(ok, "dnsd ctl {line:?} failed: {out}");
    out
}

/// Whether asking `name` again sent queries upstream.
fn went_upstream(net: &MiniInternet, addr: SocketAddr, name: &str) -> bool {
    let before = upstream_queries(net, addr);
    assert_eq!(ask(net, addr, name), 0, "{name}");
    upstream_queries(net, addr) > before
}

#[test]
fn cache_commands_dump_and_flush_a_name_a_subtree_and_everything() {
    let net = MiniInternet::start();
    let addr = resolver_addr(5341);
    let _dnsd = net.dnsd(addr, "");
    for name in [
        "www.secure.example.",
        "mail.secure.example.",
        "www.nsec3.example.",
        "www.insecure.example.",
    ] {
        assert_eq!(ask(&net, addr, name), 0, "{name}");
    }
    assert_eq!(ask(&net, addr, "nx.secure.example."), 3);

    // Dumps: what the clients were answered, one record per line.
    let www = ctl(&net, addr, "cache dump WWW.secure.example");
    let lines: Vec<&str> = www.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("www.secure.example. ") && l.ends_with(" IN A 198.51.100.80")),
        "{www}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("www.secure.example. ") && l.contains(" IN RRSIG A ")),
        "{www}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("www.secure.example. ") || l.starts_with("ok ")),
        "only that name: {www}"
    );
    let nx = ctl(&net, addr, "cache dump nx.secure.example.");
    assert!(
        nx.lines().any(|l| l == "; NXDOMAIN nx.secure.example."),
        "{nx}"
    );
    assert!(nx.lines().any(|l| l.contains(" IN SOA ")), "{nx}");
    let all = ctl(&net, addr, "cache dump");
    assert!(all.contains("www.nsec3.example. "), "{all}");
    assert!(all.contains("www.insecure.example. "), "{all}");

    // Answered from the cache: no query upstream.
    assert!(!went_upstream(&net, addr, "www.secure.example."));

    // One name.
    let flushed = ctl(&net, addr, "cache flush www.secure.example.");
    assert!(flushed.trim() != "ok 0", "{flushed}");
    assert_eq!(
        ctl(&net, addr, "cache dump www.secure.example.").trim(),
        "ok 0"
    );
    assert!(
        ctl(&net, addr, "cache dump mail.secure.example.").contains("198.51.100.25"),
        "a sibling stays"
    );
    assert!(went_upstream(&net, addr, "www.secure.example."));
    assert!(!went_upstream(&net, addr, "mail.secure.example."));

    // A subtree.
    ctl(&net, addr, "cache flush-tree secure.example");
    assert_eq!(
        ctl(&net, addr, "cache dump-tree secure.example.").trim(),
        "ok 0"
    );
    assert!(ctl(&net, addr, "cache dump-tree nsec3.example.").contains("198.51.100.83"));
    assert!(went_upstream(&net, addr, "mail.secure.example."));
    assert!(!went_upstream(&net, addr, "www.nsec3.example."));

    // Everything.
    ctl(&net, addr, "cache flush-all");
    assert_eq!(ctl(&net, addr, "cache dump").trim(), "ok 0");
    assert!(went_upstream(&net, addr, "www.nsec3.example."));

    // A bad line is an error, and says so.
    let (ok, out) = net.dnsd_ctl(addr, &["cache flush"]);
    assert!(!ok && out.starts_with("error "), "{out}");
}
