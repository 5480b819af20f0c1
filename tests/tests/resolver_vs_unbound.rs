//! dnsd's resolver beside Unbound (issue 11): both resolve through the same local
//! mini-Internet (`netfabric_tests::mini_internet`: a signed root with its own trust
//! anchor, TLDs and domains served by NSD, Knot and BIND, in a namespace), and every
//! question goes to both. The responses must agree on the rcode and on the answer and
//! authority RRsets (owner, type, data; TTLs and DNSSEC records aside), on AD, and on
//! the Extended DNS Error codes.
//!
//! Input: the cases below (name, type, transport). Output: one line per difference;
//! the test fails on any. Questions go out in parallel, each from a thread in the
//! namespace.
//!
//! A client from an address outside dnsd's access list gets REFUSED with EDE 18.
//!
//! One difference on purpose: for a zone whose only server never answers
//! (timeout.example.), Unbound 1.17 sends nothing at all (measured: no answer within
//! 150 s), while dnsd gives up on the server after its timeout and answers SERVFAIL
//! with EDE 22 (No Reachable Authority, RFC 8914 §4.23), so that its client need not
//! time out; that case is checked on dnsd alone.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use netfabric_tests::dns::{
    Normalized, Query, diff, ede_codes, normalize, tcp_exchange, udp_exchange,
};
use netfabric_tests::mini_internet::{MiniInternet, resolver_addr};

#[path = "resolver_vs_unbound/forward.rs"]
mod forward;
#[path = "resolver_vs_unbound/kresd.rs"]
mod kresd;

/// One question of the comparison.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    qtype: u16,
    tcp: bool,
    /// CD set (RFC 4035 §3.2.2: the client validates itself).
    cd: bool,
    /// DO set; without it (and without AD) no AD comes back (RFC 6840 §5.7).
    dnssec_ok: bool,
}

const fn case(name: &'static str, qtype: u16) -> Case {
    Case {
        name,
        qtype,
        tcp: false,
        cd: false,
        dnssec_ok: true,
    }
}

const A: u16 = 1;
const NS: u16 = 2;
const SOA: u16 = 6;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const DS: u16 = 43;
const DNSKEY: u16 = 48;

fn cases() -> Vec<Case> {
    let mut cases = vec![
        case(".", SOA),
        case(".", NS),
        case("www.nx-tld.", A),
        case("example.", SOA),
        case("nx.example.", A),
        case("www.secure.example.", A),
        case("www.secure.example.", AAAA),
        case("www.secure.example.", TXT),
        case("secure.example.", MX),
        case("secure.example.", NS),
        case("secure.example.", DS),
        case("txt.secure.example.", TXT),
        case("nx.secure.example.", A),
        case("a.wild.secure.example.", A),
        case("b.c.wild.secure.example.", A),
        case("x.wcname.secure.example.", A),
        case("alias.secure.example.", A),
        case("chain.secure.example.", A),
        case("www.dn.secure.example.", A),
        case("x.dn.secure.example.", A),
        case("loop1.secure.example.", A),
        case("www.nsec3.example.", A),
        case("nx.nsec3.example.", A),
        case("a.wild.nsec3.example.", TXT),
        case("back.nsec3.example.", A),
        case("www.insecure.example.", A),
        case("nx.insecure.example.", A),
        case("www.outofzone.example.", A),
        case("www.lame.example.", A),
        case("nx.iter.example.", A),
        case("www.iter.example.", A),
        case("www.plain.lab.", A),
        case("signed.plain.lab.", A),
        case("nx.plain.lab.", A),
        case("lab.", SOA),
        // Denial proofs: NODATA (NSEC, NSEC3), wildcard NODATA, no DS at an insecure
        // delegation (NSEC in example., NSEC3 in the root), NSEC3 opt-out.
        case("www.secure.example.", MX),
        case("www.nsec3.example.", AAAA),
        case("a.wild.secure.example.", TXT),
        case("b.wild.nsec3.example.", A),
        case("insecure.example.", DS),
        case("nsec3.example.", DS),
        case("lab.", DS),
        case("example.", DS),
        case("secure.example.", DNSKEY),
        case("www.optout.example.", A),
        case("nx.optout.example.", A),
        case("www.sub.optout.example.", A),
        case("nx.sub.optout.example.", A),
        Case {
            tcp: true,
            ..case("big.secure.example.", TXT)
        },
        case("big.secure.example.", TXT),
    ];
    // RFC 4035 §5.3.4: wildcard answers of zones served without their NSEC/NSEC3
    // records lack the proof that the name does not exist: bogus; their answers
    // that are no expansion stay secure.
    cases.push(case("www.wcproof.example.", A));
    cases.push(case("www.wcproof3.example.", A));
    // RFC 4035 §5.2, RFC 6840 §5.2: a DS of an algorithm or digest type no one
    // implements: the zone is insecure (data without AD, no SERVFAIL); the DS RRset
    // itself is secure.
    cases.push(case("www.unknownalg.example.", A));
    cases.push(case("nx.unknownalg.example.", A));
    cases.push(case("unknownalg.example.", DS));
    cases.push(case("unknownalg.example.", DNSKEY));
    cases.push(case("www.unknowndigest.example.", A));
    cases.push(case("unknowndigest.example.", DS));
    // RFC 4035 §5.4: negative answers of a signed zone stripped of their SOA and
    // NSEC proof on the way (`stripneg.example.`, behind a relay that does so): bogus,
    // SERVFAIL, never insecure; its positive answers stay secure.
    cases.push(case("nx.stripneg.example.", A));
    cases.push(case("www.stripneg.example.", TXT));
    cases.push(case("www.stripneg.example.", A));
    for name in [
        "www.expired.example.",
        "www.wrongds.example.",
        "www.nodnskey.example.",
        "a.wild.wcproof.example.",
        "b.c.wild.wcproof.example.",
        "a.wild.wcproof3.example.",
    ] {
        cases.push(Case { ..case(name, A) });
        cases.push(Case {
            cd: true,
            ..case(name, A)
        });
    }
    cases.push(Case {
        dnssec_ok: false,
        ..case("txt.secure.example.", TXT)
    });
    cases.push(Case {
        cd: true,
        ..case("mail.secure.example.", A)
    });
    cases
}

/// A response with what two correct resolvers may differ in taken out: TTLs, DNSSEC
/// records, the EDNS size, and AD until dnsd validates.
fn comparable(mut n: Normalized, with_ad: bool) -> Normalized {
    for section in ["answer", "authority", "additional"] {
        let sets = std::mem::take(n.section_mut(section));
        *n.section_mut(section) = sets
            .into_iter()
            .filter(|((_, rtype, _, _), _)| !matches!(rtype.as_str(), "RRSIG" | "NSEC" | "NSEC3"))
            .map(|((owner, rtype, class, _), data)| ((owner, rtype, class, 0), data))
            .collect();
    }
    n.additional.clear();
    n.edns_size = None;
    if !with_ad {
        n.flags.remove("ad");
    }
    n
}

/// The class of a response's EDE codes: "dnssec" for the DNSSEC ones (RFC 8914 §4.2
/// to §4.13: algorithms, bogus, expired, not yet valid, DNSKEY, RRSIGs, NSEC missing),
/// "other" for the rest and none. The codes within a class differ between resolvers
/// (Unbound says 7 for expired signatures when it resolves, 6 from its cache; dnsd says
/// 22, No Reachable Authority, for a lame zone where Unbound says nothing).
fn ede_class(codes: &[u16]) -> &'static str {
    if codes.iter().any(|c| (1..=12).contains(c)) {
        "dnssec"
    } else {
        "other"
    }
}

fn ask(addr: SocketAddr, query: &Query, tcp: bool, timeout: Duration) -> Option<Vec<u8>> {
    let bytes = query.to_bytes();
    if tcp {
        tcp_exchange(addr, &bytes, timeout).ok()
    } else {
        udp_exchange(addr, &bytes, timeout)
    }
}

#[test]
fn dnsd_resolves_as_unbound_does() {
    let net = MiniInternet::start();
    let unbound_addr = resolver_addr(5301);
    let dnsd_addr = resolver_addr(5302);
    let _unbound = net.unbound(unbound_addr);
    let _dnsd = net.dnsd(dnsd_addr, "");
    let cases = cases();
    // Twice: the second round is answered from both caches.
    let mut problems = Vec::new();
    for round in ["cold", "cached"] {
        let found = compare(&net, &cases, unbound_addr, dnsd_addr);
        problems.extend(found.into_iter().map(|p| format!("{round}: {p}")));
    }

    // The verdicts themselves, on dnsd (the comparison alone would pass if both were
    // wrong alike): a wildcard expansion without its proof is bogus (EDE 12, NSEC
    // Missing, RFC 4035 §5.3.4 / RFC 5155 §8.8); with it, secure, and the proof goes
    // to the client that set DO (RFC 4035 §3.1.3.3).
    for (name, qtype, rcode, ad, ede, proof) in [
        ("a.wild.wcproof.example.", A, 2, false, vec![12], None),
        ("a.wild.wcproof3.example.", A, 2, false, vec![12], None),
        ("www.wcproof3.example.", A, 0, true, vec![], None),
        ("a.wild.secure.example.", A, 0, true, vec![], Some("NSEC")),
        ("x.wcname.secure.example.", A, 0, true, vec![], Some("NSEC")),
        ("a.wild.nsec3.example.", TXT, 0, true, vec![], Some("NSEC3")),
        // Ed448 (RFC 8080), which dnsd's crypto crate lacks: insecure (RFC 6840 §5.2),
        // never SERVFAIL. Unbound (with OpenSSL's Ed448) finds it secure: the one
        // case where the two may differ, each by the algorithms it implements.
        ("www.ed448.example.", A, 0, false, vec![], None),
        ("nx.ed448.example.", A, 3, false, vec![], None),
        ("www.unknownalg.example.", A, 0, false, vec![], None),
        ("www.unknowndigest.example.", A, 0, false, vec![], None),
        ("unknownalg.example.", DS, 0, true, vec![], None),
        ("nx.stripneg.example.", A, 2, false, vec![12], None),
        ("www.stripneg.example.", TXT, 2, false, vec![12], None),
        ("www.stripneg.example.", A, 0, true, vec![], None),
    ] {
        let mut query = Query::new(name, qtype);
        query.rd = true;
        if let Some(edns) = query.edns.as_mut() {
            edns.dnssec_ok = true;
        }
        let reply = net
            .ns
            .run_in(|| ask(dnsd_addr, &query, false, Duration::from_secs(15)))
            .expect("dnsd answers");
        let codes = ede_codes(&reply);
        let reply = normalize(&reply).expect("a DNS response");
        let proven = reply
            .authority
            .keys()
            .any(|(_, rtype, _, _)| Some(rtype.as_str()) == proof);
        if reply.rcode != rcode
            || reply.flags.contains("ad") != ad
            || codes != ede
            || (proof.is_some() && !proven)
        {
            problems.push(format!(
                "{name}: want rcode {rcode}, AD {ad}, EDE {ede:?}, proof {proof:?}; \
                 got EDE {codes:?}: {reply}"
            ));
        }
    }

    // RD clear (RFC 1034 §4.3.1): what the cache holds, a wildcard expansion with
    // its proof (it was SERVFAIL, EDE 12: the proof stayed in the cache).
    let mut query = Query::new("a.wild.secure.example.", A);
    if let Some(edns) = query.edns.as_mut() {
        edns.dnssec_ok = true;
    }
    let reply = net
        .ns
        .run_in(|| ask(dnsd_addr, &query, false, Duration::from_secs(15)))
        .expect("dnsd answers from its cache");
    let reply = normalize(&reply).expect("a DNS response");
    if reply.rcode != 0 || reply.answer.is_empty() || !reply.flags.contains("ad") {
        problems.push(format!("RD clear, cached wildcard answer: {reply}"));
    }

    let mut query = Query::new("www.ed448.example.", A);
    query.rd = true;
    if let Some(edns) = query.edns.as_mut() {
        edns.dnssec_ok = true;
    }
    if let Some(reply) = net
        .ns
        .run_in(|| ask(unbound_addr, &query, false, Duration::from_secs(15)))
    {
        eprintln!("Unbound on Ed448: {:?}", normalize(&reply).map(|n| n.flags));
    }

    // Negative trust anchors (RFC 7646): Unbound's domain-insecure and dnsd's
    // insecure-domains make the broken zones insecure, data without AD, for both.
    let unbound_nta = resolver_addr(5303);
    let dnsd_nta = resolver_addr(5304);
    let _unbound_nta = net.unbound_with(
        unbound_nta,
        "  domain-insecure: \"wrongds.example.\"\n  domain-insecure: \"expired.example.\"\n",
    );
    let _dnsd_nta = net.dnsd(
        dnsd_nta,
        "insecure-domains = [\"wrongds.example\", \"expired.example.\"]\n",
    );
    let nta_cases = [
        case("www.wrongds.example.", A),
        case("www.expired.example.", A),
        case("nx.expired.example.", A),
        case("www.secure.example.", A),
    ];
    let found = compare(&net, &nta_cases, unbound_nta, dnsd_nta);
    problems.extend(found.into_iter().map(|p| format!("insecure-domains: {p}")));
    let mut query = Query::new("www.wrongds.example.", A);
    query.rd = true;
    let reply = net
        .ns
        .run_in(|| ask(dnsd_nta, &query, false, Duration::from_secs(15)))
        .expect("dnsd answers under a negative trust anchor");
    let reply = normalize(&reply).expect("a DNS response");
    assert_eq!(reply.rcode, 0, "{reply}");
    assert!(!reply.flags.contains("ad"), "{reply}");

    // The unreachable zone: dnsd alone (see the module's comment).
    let mut query = Query::new("www.timeout.example.", A);
    query.rd = true;
    let reply = net
        .ns
        .run_in(|| ask(dnsd_addr, &query, false, Duration::from_secs(15)))
        .expect("dnsd answers a question for an unreachable zone");
    assert_eq!(normalize(&reply).map(|n| n.rcode), Ok(2));
    assert_eq!(netfabric_tests::dns::ede_codes(&reply), vec![22]);

    // A client outside dnsd's access list (198.51.100.0/24 and loopback): REFUSED
    // with EDE 18 (Prohibited), for a name it would otherwise resolve.
    net.ns
        .exec_ok(&["ip", "addr", "add", "203.0.113.9/32", "dev", "lo"]);
    let mut query = Query::new("www.secure.example.", A);
    query.rd = true;
    let bytes = query.to_bytes();
    let refused = net
        .ns
        .run_in(|| {
            let socket = std::net::UdpSocket::bind("203.0.113.9:0").ok()?;
            socket.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            socket.send_to(&bytes, dnsd_addr).ok()?;
            let mut buf = [0u8; 1500];
            let (len, _) = socket.recv_from(&mut buf).ok()?;
            Some(buf[..len].to_vec())
        })
        .expect("dnsd answers a client outside its access list");
    assert_eq!(normalize(&refused).map(|n| n.rcode), Ok(5));
    assert_eq!(ede_codes(&refused), vec![18]);

    // The resolver's metrics saw the work: answers by the workers (the cached round),
    // verdicts, upstream queries.
    let metrics = net.scrape_dnsd(dnsd_addr);
    let value = |series: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    for series in [
        "dnsd_resolver_answers_total{source=\"worker\"}",
        "dnsd_resolver_answers_total{source=\"resolver\"}",
        "dnsd_resolver_validation_total{result=\"secure\"}",
        "dnsd_resolver_validation_total{result=\"insecure\"}",
        "dnsd_resolver_validation_total{result=\"bogus\",ede=\"9\"}",
        "dnsd_resolver_upstream_queries_total",
        "dnsd_resolver_cache_entries",
    ] {
        assert!(value(series) > 0, "{series} is 0:\n{metrics}");
    }

    // Knot Resolver too, the same questions, cold and cached (`kresd.rs`).
    problems.extend(kresd::as_knot_resolver_does(&net, &cases, dnsd_addr));

    // Forwarding (plain and DoT), on the same mini-Internet.
    problems.extend(forward::forwarding_as_unbound_does(&net));

    let compared: BTreeSet<String> = cases
        .iter()
        .map(|c| format!("{} {} {} {} {}", c.name, c.qtype, c.tcp, c.cd, c.dnssec_ok))
        .collect();
    eprintln!(
        "{} questions compared twice; {} differences",
        compared.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Asks every case of `cases` of both resolvers, in parallel; the differences.
fn compare(
    net: &MiniInternet,
    cases: &[Case],
    unbound_addr: SocketAddr,
    dnsd_addr: SocketAddr,
) -> Vec<String> {
    compare_with(net, cases, ("unbound", unbound_addr), dnsd_addr)
}

/// [`compare`] with another peer than Unbound: (its name, its address).
fn compare_with(
    net: &MiniInternet,
    cases: &[Case],
    peer: (&str, SocketAddr),
    dnsd_addr: SocketAddr,
) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| scope.spawn(move || compare_one(net, c, peer, dnsd_addr)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["a case panicked".into()]))
            .collect()
    })
}

fn compare_one(
    net: &MiniInternet,
    c: &Case,
    (peer, unbound_addr): (&str, SocketAddr),
    dnsd_addr: SocketAddr,
) -> Vec<String> {
    let mut query = Query::new(c.name, c.qtype);
    query.rd = true;
    query.cd = c.cd;
    if let Some(edns) = query.edns.as_mut() {
        edns.dnssec_ok = c.dnssec_ok;
    }
    let timeout = Duration::from_secs(15);
    let (from_unbound, from_dnsd) = net.ns.run_in(|| {
        (
            ask(unbound_addr, &query, c.tcp, timeout),
            ask(dnsd_addr, &query, c.tcp, timeout),
        )
    });
    let transport = if c.tcp { "tcp" } else { "udp" };
    let label = format!(
        "{} {} {transport}{}{}",
        c.name,
        c.qtype,
        if c.cd { " cd" } else { "" },
        if c.dnssec_ok { " do" } else { "" }
    );
    let (Some(u), Some(d)) = (from_unbound, from_dnsd) else {
        return vec![format!("{label}: no answer ({peer} or dnsd)")];
    };
    let (u_ede, d_ede) = (ede_codes(&u), ede_codes(&d));
    let (Ok(u), Ok(d)) = (normalize(&u), normalize(&d)) else {
        return vec![format!("{label}: unparsable answer")];
    };
    let (u, d) = (comparable(u, true), comparable(d, true));
    let mut lines = diff(peer, &u, "dnsd", &d);
    if ede_class(&u_ede) != ede_class(&d_ede) {
        lines.push(format!("EDE: {peer} {u_ede:?} / dnsd {d_ede:?}"));
    }
    lines
        .into_iter()
        .map(|line| format!("{label}: {line}\n  {peer}: {u}  dnsd: {d}"))
        .collect()
}
