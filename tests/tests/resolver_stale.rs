//! Serve-stale (RFC 8767, issue 11 point 4 and issue 14 point 3), from outside: dnsd
//! resolves through the local mini-Internet (never the real one), the authority of a
//! zone goes away (its address leaves the namespace), the cached data expires, and the
//! same questions are asked again.
//!
//! A user sees the old answer with TTL 30 and EDE 3 (Stale Answer), the old NXDOMAIN
//! with EDE 19 (Stale NXDOMAIN Answer), where a resolver with serve-stale off
//! (`serve-stale-secs = 0`, asked the same questions) says SERVFAIL.

use std::net::SocketAddr;
use std::time::Duration;

use netfabric_tests::dns::{Normalized, Query, ede_codes, normalize, udp_exchange};
use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};

/// Asks `resolver` (RD set, EDNS) from inside the namespace: the response and its EDE
/// codes.
fn ask(net: &MiniInternet, resolver: SocketAddr, name: &str) -> (Normalized, Vec<u16>) {
    let mut query = Query::new(name, 1);
    query.rd = true;
    let bytes = query.to_bytes();
    let reply = net
        .ns
        .run_in(|| udp_exchange(resolver, &bytes, Duration::from_secs(20)))
        .unwrap_or_else(|| panic!("{resolver} answers {name}"));
    let normalized = normalize(&reply).unwrap_or_else(|e| panic!("{name}: {e}"));
    (normalized, ede_codes(&reply))
}

/// The answer records as (owner, type, TTL, data).
fn answers(n: &Normalized) -> Vec<(String, String, u32, String)> {
    n.answer
        .iter()
        .flat_map(|((owner, rtype, _, ttl), data)| {
            data.iter()
                .map(|d| (owner.clone(), rtype.clone(), *ttl, d.clone()))
        })
        .collect()
}

#[test]
fn expired_answers_are_served_when_every_authority_fails() {
    let net = MiniInternet::start();
    let stale_addr = resolver_addr(5321);
    let strict_addr = resolver_addr(5322);
    // Every TTL capped to 1 second, so that the data expires at once.
    let _stale = net.dnsd(stale_addr, "max-ttl = 1\nserve-stale-secs = 3600\n");
    let _strict = net.dnsd(strict_addr, "max-ttl = 1\nserve-stale-secs = 0\n");
    for addr in [stale_addr, strict_addr] {
        let (fresh, _) = ask(&net, addr, "www.insecure.example.");
        assert_eq!(fresh.rcode, 0, "{fresh}");
        let (nx, _) = ask(&net, addr, "nx.insecure.example.");
        assert_eq!(nx.rcode, 3, "{nx}");
    }

    // The zone's only server (NSD, also serving nsec3. and others of this namespace's
    // mini-Internet) goes away; the data expires.
    net.ns
        .exec_ok(&["ip", "addr", "del", "198.51.100.21/32", "dev", "lo"]);
    std::thread::sleep(Duration::from_secs(3));

    let (stale, codes) = ask(&net, stale_addr, "www.insecure.example.");
    assert_eq!(stale.rcode, 0, "{stale}");
    assert_eq!(codes, vec![3], "EDE Stale Answer: {stale}");
    assert_eq!(
        answers(&stale),
        vec![(
            "www.insecure.example.".to_string(),
            "A".to_string(),
            30,
            "198.51.100.84".to_string()
        )],
        "{stale}"
    );
    let (stale_nx, codes) = ask(&net, stale_addr, "nx.insecure.example.");
    assert_eq!(stale_nx.rcode, 3, "{stale_nx}");
    assert_eq!(codes, vec![19], "EDE Stale NXDOMAIN Answer: {stale_nx}");

    for name in ["www.insecure.example.", "nx.insecure.example."] {
        let (strict, _) = ask(&net, strict_addr, name);
        assert_eq!(
            strict.rcode, 2,
            "serve-stale off: SERVFAIL for {name}: {strict}"
        );
    }

    let metrics = net.scrape_dnsd(stale_addr);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dnsd_resolver_stale_answers_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}
