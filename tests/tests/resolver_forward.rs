//! Forwarding (issue 11, point 5), beside Unbound configured alike, through the local
//! mini-Internet (`netfabric_tests::mini_internet`).
//!
//! ```text
//!  client ─► dnsd (dead root hints)        ─┬─ "."             ─► Unbound A (iterates)
//!        └─► Unbound B (same forward zones) ─┼─ "nsec3.example" ─► its authoritative NSD
//!                                            └─ "corp.example"  ─► NSD of a zone not
//!                                               (insecure-domains)  delegated (a stub)
//!  dnsd also serves home.lan itself.
//! ```
//!
//! Input: the questions below, asked of dnsd and of Unbound B. Output: one line per
//! difference in rcode, AD, answer and authority RRsets (TTLs and DNSSEC records
//! aside) or EDE class; the test fails on any. dnsd's root hints name a server that
//! never answers, so every answer it gives came through a forwarder (or from its own
//! zone). Unbound B forwards corp.example as a stub zone (`stub-zone`: asked without
//! RD, referrals followed), which is what forwarding to an authoritative server is.
//!
//! Then dnsd alone: validation stays on through forwarders (AD on signed data, SERVFAIL
//! with a DNSSEC EDE for bogus data, no AD under the negative trust anchor), its own
//! zone is answered by itself (AA), and the forwarded queries are counted.

use std::net::SocketAddr;
use std::time::Duration;

use netfabric_tests::dns::{
    Normalized, Query, diff, ede_codes, normalize, tcp_exchange, udp_exchange,
};
use netfabric_tests::mini_internet::{CORP, MiniInternet, resolver_addr};

const A: u16 = 1;
const SOA: u16 = 6;
const TXT: u16 = 16;
const DS: u16 = 43;
const DNSKEY: u16 = 48;

fn query(name: &str, qtype: u16) -> Query {
    let mut query = Query::new(name, qtype);
    query.rd = true;
    if let Some(edns) = query.edns.as_mut() {
        edns.dnssec_ok = true;
    }
    query
}

fn ask(net: &MiniInternet, addr: SocketAddr, query: &Query, tcp: bool) -> Option<Vec<u8>> {
    let bytes = query.to_bytes();
    let timeout = Duration::from_secs(15);
    net.ns.run_in(move || {
        if tcp {
            tcp_exchange(addr, &bytes, timeout).ok()
        } else {
            udp_exchange(addr, &bytes, timeout)
        }
    })
}

/// What two correct resolvers may differ in taken out: TTLs, DNSSEC records, the
/// additional section, the EDNS size.
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

fn ede_class(codes: &[u16]) -> &'static str {
    if codes.iter().any(|c| (1..=12).contains(c)) {
        "dnssec"
    } else {
        "other"
    }
}

#[test]
fn forwarded_zones_resolve_and_validate_as_unbound_does() {
    let net = MiniInternet::start();
    let upstream = resolver_addr(5321);
    let dnsd_addr = resolver_addr(5322);
    let unbound_addr = resolver_addr(5323);
    let _upstream = net.unbound(upstream);
    let forwards = format!(
        "insecure-domains = [\"corp.example\"]\n[resolver.forward]\n\
         \".\" = [\"{upstream}\"]\n\"nsec3.example\" = [\"198.51.100.21\"]\n\
         \"corp.example\" = [\"{CORP}\"]\n"
    );
    std::fs::write(
        net.dnsd_zones_dir(dnsd_addr).join("home.lan.zone"),
        "$ORIGIN home.lan.\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n\
         @ NS ns\nns A 198.51.100.53\nnas A 198.51.100.60\n",
    )
    .expect("write home.lan");
    let _dnsd = net.dnsd_with_hints(dnsd_addr, &net.dead_root_hints(), &forwards);
    let _unbound = net.unbound_with(
        unbound_addr,
        &format!(
            "  domain-insecure: \"corp.example.\"\nforward-zone:\n  name: \".\"\n  \
             forward-addr: {}@{}\nforward-zone:\n  name: \"nsec3.example.\"\n  \
             forward-addr: 198.51.100.21\nstub-zone:\n  name: \"corp.example.\"\n  \
             stub-addr: {CORP}\nserver:\n",
            upstream.ip(),
            upstream.port()
        ),
    );

    let cases: Vec<(&str, u16, bool)> = vec![
        (".", SOA, false),
        ("www.secure.example.", A, false),
        ("a.wild.secure.example.", A, false),
        ("alias.secure.example.", A, false),
        ("nx.secure.example.", A, false),
        ("www.secure.example.", TXT, false),
        ("secure.example.", DNSKEY, false),
        ("big.secure.example.", TXT, false),
        ("big.secure.example.", TXT, true),
        ("www.expired.example.", A, false),
        ("www.wrongds.example.", A, false),
        ("www.insecure.example.", A, false),
        ("www.plain.lab.", A, false),
        ("www.nsec3.example.", A, false),
        ("nx.nsec3.example.", A, false),
        ("a.wild.nsec3.example.", TXT, false),
        ("back.nsec3.example.", A, false),
        ("nsec3.example.", DS, false),
        ("www.corp.example.", A, false),
        ("nx.corp.example.", A, false),
        ("alias.corp.example.", A, false),
        ("www.dev.corp.example.", A, false),
    ];
    let mut problems = Vec::new();
    for round in ["cold", "cached"] {
        let found: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .iter()
                .map(|&(name, qtype, tcp)| {
                    let net = &net;
                    scope.spawn(move || {
                        let q = query(name, qtype);
                        let label =
                            format!("{round}: {name} {qtype}{}", if tcp { " tcp" } else { "" });
                        let (Some(u), Some(d)) = (
                            ask(net, unbound_addr, &q, tcp),
                            ask(net, dnsd_addr, &q, tcp),
                        ) else {
                            return vec![format!("{label}: no answer (unbound or dnsd)")];
                        };
                        let (u_ede, d_ede) = (ede_codes(&u), ede_codes(&d));
                        let (Ok(u), Ok(d)) = (normalize(&u), normalize(&d)) else {
                            return vec![format!("{label}: unparsable answer")];
                        };
                        let (u, d) = (comparable(u), comparable(d));
                        let mut lines = diff("unbound", &u, "dnsd", &d);
                        if ede_class(&u_ede) != ede_class(&d_ede) {
                            lines.push(format!("EDE: unbound {u_ede:?} / dnsd {d_ede:?}"));
                        }
                        lines
                            .into_iter()
                            .map(|line| format!("{label}: {line}\n  unbound: {u}  dnsd: {d}"))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|_| vec!["a case panicked".into()]))
                .collect()
        });
        problems.extend(found);
    }

    // dnsd alone: the verdicts (the comparison would pass if both were wrong alike).
    for (name, qtype, rcode, ad, dnssec_ede) in [
        ("www.secure.example.", A, 0, true, false),
        ("a.wild.secure.example.", A, 0, true, false),
        ("www.nsec3.example.", A, 0, true, false),
        ("www.expired.example.", A, 2, false, true),
        ("www.corp.example.", A, 0, false, false),
        ("www.dev.corp.example.", A, 0, false, false),
    ] {
        let Some(reply) = ask(&net, dnsd_addr, &query(name, qtype), false) else {
            problems.push(format!("{name}: no answer from dnsd"));
            continue;
        };
        let codes = ede_codes(&reply);
        let Ok(reply) = normalize(&reply) else {
            problems.push(format!("{name}: unparsable answer from dnsd"));
            continue;
        };
        if reply.rcode != rcode
            || reply.flags.contains("ad") != ad
            || (ede_class(&codes) == "dnssec") != dnssec_ede
        {
            problems.push(format!(
                "{name}: want rcode {rcode}, AD {ad}, DNSSEC EDE {dnssec_ede}; got EDE \
                 {codes:?}: {reply}"
            ));
        }
    }

    // Its own zone: answered by dnsd itself (AA), not forwarded (Unbound A would say
    // NXDOMAIN: home.lan. is in no zone of the mini-Internet).
    let reply = ask(&net, dnsd_addr, &query("nas.home.lan.", A), false)
        .and_then(|r| normalize(&r).ok())
        .expect("dnsd answers for its own zone");
    let text = reply.to_string();
    if reply.rcode != 0 || !reply.flags.contains("aa") || !text.contains("198.51.100.60") {
        problems.push(format!(
            "nas.home.lan.: not answered from dnsd's zone: {reply}"
        ));
    }

    let metrics = net.scrape_dnsd(dnsd_addr);
    let forwarded = metrics
        .lines()
        .find(|l| l.starts_with("dnsd_resolver_forwarded_queries_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if forwarded == 0 {
        problems.push(format!("no forwarded query counted:\n{metrics}"));
    }
    eprintln!(
        "{} questions compared twice; {forwarded} queries forwarded; {} problems",
        cases.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
