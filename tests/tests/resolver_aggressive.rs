//! RFC 8198 (issue 11): aggressive use of the DNSSEC-validated cache. After one
//! NXDOMAIN and one NODATA from secure.example. (signed with NSEC, served by BIND in
//! the mini-Internet), other questions that the same cached NSEC records deny are
//! answered from the cache with no query upstream: by dnsd (its
//! `dnsd_resolver_upstream_queries_total` does not move, its
//! `dnsd_resolver_aggressive_answers_total` counts them) and by Unbound with
//! `aggressive-nsec: yes` (the differential: the same rcode, AD, answer and authority
//! RRsets, TTLs and DNSSEC records aside), and BIND's query log shows that neither
//! asked it.
//!
//! Input: NXDOMAIN for nx1 (NSEC ns -> txt, and secure.example. -> alias for the
//! wildcard), NODATA for www TXT (the NSEC at www). Output: NXDOMAIN with AD for oops
//! and pq (inside ns -> txt), NODATA with AD for www MX, none of them seen by BIND;
//! then a name no cached NSEC covers (m, between alias and ns) still asked
//! upstream.

use std::net::SocketAddr;
use std::time::Duration;

use netfabric_tests::dns::{Normalized, Query, diff, normalize};
use netfabric_tests::metrics::metric;
use netfabric_tests::mini_internet::{MiniInternet, ask, resolver_addr};

const A: u16 = 1;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;

fn query(net: &MiniInternet, addr: SocketAddr, name: &str, qtype: u16) -> Normalized {
    let mut q = Query::new(name, qtype);
    q.rd = true;
    if let Some(edns) = q.edns.as_mut() {
        edns.dnssec_ok = true;
    }
    let bytes = ask(&net.ns, addr, &q, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{addr}: no answer to {name} {qtype}:\n{}", net.logs()));
    normalize(&bytes).unwrap_or_else(|e| panic!("{addr}: {name} {qtype}: {e}"))
}

/// TTLs and DNSSEC records taken out: what two correct resolvers agree on.
fn comparable(mut n: Normalized) -> Normalized {
    for section in ["answer", "authority"] {
        let sets = std::mem::take(n.section_mut(section));
        *n.section_mut(section) = sets
            .into_iter()
            .filter(|((_, rtype, _, _), _)| !matches!(rtype.as_str(), "RRSIG" | "NSEC" | "NSEC3"))
            .map(|((owner, rtype, class, _), data)| ((owner, rtype, class, 0), data))
            .collect();
    }
    n.additional.clear();
    n.edns_size = None;
    n
}

fn upstream(net: &MiniInternet, addr: SocketAddr) -> (u64, u64) {
    let text = net.scrape_dnsd(addr);
    (
        metric(&text, "dnsd_resolver_upstream_queries_total").unwrap_or(0),
        metric(&text, "dnsd_resolver_aggressive_answers_total").unwrap_or(0),
    )
}

#[test]
fn cached_nsec_records_deny_other_names_without_asking_upstream() {
    let net = MiniInternet::start();
    let dnsd_addr = resolver_addr(5611);
    let unbound_addr = resolver_addr(5612);
    let _dnsd = net.dnsd(dnsd_addr, "");
    let _unbound = net.unbound(unbound_addr);
    let resolvers = [("dnsd", dnsd_addr), ("unbound", unbound_addr)];

    // What teaches both caches the NSEC records.
    for (who, addr) in resolvers {
        let nx = query(&net, addr, "nx1.secure.example.", A);
        assert_eq!(
            (nx.rcode, nx.flags.contains("ad")),
            (3, true),
            "{who}: {nx:?}"
        );
        let nodata = query(&net, addr, "www.secure.example.", TXT);
        assert_eq!(nodata.rcode, 0, "{who}: {nodata:?}");
        assert!(
            nodata.answer.is_empty() && nodata.flags.contains("ad"),
            "{who}: {nodata:?}"
        );
    }

    let (queries_before, synthesized_before) = upstream(&net, dnsd_addr);
    let denied = [
        ("oops.secure.example.", A, 3),
        ("pq.secure.example.", AAAA, 3),
        ("www.secure.example.", MX, 0),
    ];
    let mut differences = Vec::new();
    for (name, qtype, rcode) in denied {
        let dnsd = query(&net, dnsd_addr, name, qtype);
        let unbound = query(&net, unbound_addr, name, qtype);
        assert_eq!(dnsd.rcode, rcode, "dnsd: {name} {qtype}: {dnsd:?}");
        assert!(
            dnsd.flags.contains("ad"),
            "dnsd: {name} {qtype}: no AD: {dnsd:?}"
        );
        assert!(
            dnsd.authority.keys().any(|(_, t, _, _)| t == "NSEC"),
            "dnsd: {name} {qtype}: no NSEC proof for a DO client: {dnsd:?}"
        );
        for line in diff("dnsd", &comparable(dnsd), "unbound", &comparable(unbound)) {
            differences.push(format!("{name} {qtype}: {line}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let (queries_after, synthesized_after) = upstream(&net, dnsd_addr);
    assert_eq!(
        queries_after, queries_before,
        "dnsd asked upstream for names its cached NSEC records deny"
    );
    assert_eq!(synthesized_after - synthesized_before, 3);
    for (name, qtype, _) in denied {
        let rtype = match qtype {
            A => "A",
            AAAA => "AAAA",
            _ => "MX",
        };
        let name = name.trim_end_matches('.');
        assert_eq!(
            net.bind_queries(name, rtype),
            0,
            "the authority was asked {name} {rtype} (neither resolver should have)"
        );
    }

    // A name no cached NSEC covers (between alias. and ns.: those NSEC records were
    // never seen) is asked upstream.
    let m = query(&net, dnsd_addr, "m.secure.example.", A);
    assert_eq!(m.rcode, 3, "{m:?}");
    assert!(upstream(&net, dnsd_addr).0 > queries_after);
}
