//! Forwarding (issue 11, point 5), beside Unbound configured alike, through the local
//! mini-Internet (`netfabric_tests::mini_internet`), started once for this and
//! `resolver_vs_unbound`.
//!
//! ```text
//!  client ─► dnsd P (dead root hints)       ─┬─ "."             ─► Unbound A (iterates;
//!        ├─► dnsd T (same, "." over DoT)    ─┤                     UDP/TCP and DoT)
//!        └─► Unbound B (same forward zones) ─┼─ "nsec3.example" ─► its authoritative NSD
//!                                            └─ "corp.example"  ─► NSD of a zone not
//!                                               (insecure-domains)  delegated (a stub)
//!  dnsd P also serves home.lan itself.
//! ```
//!
//! Input: the questions below, asked of dnsd P, of dnsd T and of Unbound B. Output: one
//! line per difference in rcode, AD, answer and authority RRsets (TTLs and DNSSEC
//! records aside) or EDE class; the test fails on any. dnsd's root hints name a server
//! that never answers, so every answer it gives came through a forwarder (or from its
//! own zone). Unbound B forwards corp.example as a stub zone (`stub-zone`: asked without
//! RD, referrals followed), which is what forwarding to an authoritative server is.
//!
//! Then each dnsd alone: validation stays on through forwarders (AD on signed data,
//! SERVFAIL with a DNSSEC EDE for bogus data, no AD under the negative trust anchor),
//! its own zone is answered by itself (AA), and the forwarded queries are counted.
//!
//! DNS over TLS to the forwarder (Unbound A's `tls-port`, a certificate for `dot.test`
//! and its IP address from a CA made here with `openssl`): dnsd T asks every question
//! over a handful of TLS connections (pipelined, reused: counted in its metrics, far
//! fewer than its queries). dnsd W forwards `secure.example` to the same server under
//! a name its certificate does not carry: SERVFAIL with EDE 22 (No Reachable
//! Authority), the certificate error in its log, a failed connection counted; and
//! `insecure.example` under no name (the certificate's IP address): answered.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use netfabric_tests::dns::{
    Normalized, Query, diff, ede_codes, normalize, tcp_exchange, udp_exchange,
};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::mini_internet::{CORP, MiniInternet, RESOLVER_ADDR, resolver_addr};

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

/// The forwarding checks, on the mini-Internet of `resolver_vs_unbound` (one setup for
/// both); the problems found.
pub fn forwarding_as_unbound_does(net: &MiniInternet) -> Vec<String> {
    let upstream = resolver_addr(5321);
    let dnsd_addr = resolver_addr(5322);
    let unbound_addr = resolver_addr(5323);
    let upstream_tls = resolver_addr(5324);
    let tls_addr = resolver_addr(5325);
    let wrong_addr = resolver_addr(5326);
    let ca = tls_files(net);
    let _upstream = net.unbound_with(
        upstream,
        &format!(
            "  interface: {ip}@{port}\n  tls-port: {port}\n  tls-service-key: \"{key}\"\n  \
             tls-service-pem: \"{crt}\"\n",
            ip = upstream_tls.ip(),
            port = upstream_tls.port(),
            key = net.dir().join("dot.key").display(),
            crt = net.dir().join("dot.crt").display(),
        ),
    );
    let forwards = |global: &str| {
        format!(
            "insecure-domains = [\"corp.example\"]\nforward-tls-ca = \"{ca}\"\n\
             [resolver.forward]\n\".\" = [\"{global}\"]\n\
             \"nsec3.example\" = [\"198.51.100.21\"]\n\"corp.example\" = [\"{CORP}\"]\n",
            ca = ca.display()
        )
    };
    std::fs::write(
        net.dnsd_zones_dir(dnsd_addr).join("home.lan.zone"),
        "$ORIGIN home.lan.\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n\
         @ NS ns\nns A 198.51.100.53\nnas A 198.51.100.60\n",
    )
    .expect("write home.lan");
    let dead = net.dead_root_hints();
    let _dnsd = net.dnsd_with_hints(dnsd_addr, &dead, &forwards(&upstream.to_string()));
    let dot = format!("tls://{upstream_tls}#dot.test");
    let _dnsd_tls = net.dnsd_with_hints(tls_addr, &dead, &forwards(&dot));
    let wrong = net.dnsd_with_hints(
        wrong_addr,
        &dead,
        &format!(
            "forward-tls-ca = \"{ca}\"\n[resolver.forward]\n\".\" = [\"{dot}\"]\n\
             \"secure.example\" = [\"tls://{upstream_tls}#wrong.test\"]\n\
             \"insecure.example\" = [\"tls://{upstream_tls}\"]\n",
            ca = ca.display()
        ),
    );
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

    let mut problems = Vec::new();
    for round in ["cold", "cached"] {
        for (who, addr) in [("dnsd", dnsd_addr), ("dnsd over DoT", tls_addr)] {
            problems.extend(compare(net, unbound_addr, addr, &format!("{who}, {round}")));
        }
    }
    for (who, addr) in [("dnsd", dnsd_addr), ("dnsd over DoT", tls_addr)] {
        problems.extend(verdicts(net, addr, who));
    }

    // Its own zone: answered by dnsd itself (AA), not forwarded (Unbound A would say
    // NXDOMAIN: home.lan. is in no zone of the mini-Internet).
    let reply = ask(net, dnsd_addr, &query("nas.home.lan.", A), false)
        .and_then(|r| normalize(&r).ok())
        .expect("dnsd answers for its own zone");
    let text = reply.to_string();
    if reply.rcode != 0 || !reply.flags.contains("aa") || !text.contains("198.51.100.60") {
        problems.push(format!(
            "nas.home.lan.: not answered from dnsd's zone: {reply}"
        ));
    }

    let counter = |addr: SocketAddr, series: &str| -> u64 {
        net.scrape_dnsd(addr)
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let forwarded = counter(dnsd_addr, "dnsd_resolver_forwarded_queries_total");
    if forwarded == 0 {
        problems.push("dnsd: no forwarded query counted".into());
    }
    // Connection reuse and pipelining: the questions went out in parallel, twice.
    let tls_forwarded = counter(tls_addr, "dnsd_resolver_forwarded_queries_total");
    let opened = counter(
        tls_addr,
        "dnsd_resolver_forward_tls_connections_total{result=\"open\"}",
    );
    if opened == 0 || opened * 5 > tls_forwarded {
        problems.push(format!(
            "dnsd over DoT: {opened} TLS connections for {tls_forwarded} forwarded queries"
        ));
    }

    problems.extend(wrong_certificate(net, &wrong, wrong_addr));
    eprintln!(
        "{} questions compared twice with each dnsd; {forwarded} queries forwarded, \
         {tls_forwarded} over {opened} TLS connections; {} problems",
        cases().len(),
        problems.len()
    );
    problems
}

fn cases() -> Vec<(&'static str, u16, bool)> {
    vec![
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
    ]
}

/// Every case asked of Unbound B and of the dnsd on `dnsd_addr`, in parallel: the
/// differences.
fn compare(
    net: &MiniInternet,
    unbound_addr: SocketAddr,
    dnsd_addr: SocketAddr,
    round: &str,
) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases()
            .into_iter()
            .map(|(name, qtype, tcp)| {
                scope.spawn(move || {
                    let q = query(name, qtype);
                    let label = format!("{round}: {name} {qtype}{}", if tcp { " tcp" } else { "" });
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
    })
}

/// The verdicts of the dnsd on `addr` (the comparison would pass if both were wrong
/// alike).
fn verdicts(net: &MiniInternet, addr: SocketAddr, who: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, qtype, rcode, ad, dnssec_ede) in [
        ("www.secure.example.", A, 0, true, false),
        ("a.wild.secure.example.", A, 0, true, false),
        ("www.nsec3.example.", A, 0, true, false),
        ("www.expired.example.", A, 2, false, true),
        ("www.corp.example.", A, 0, false, false),
        ("www.dev.corp.example.", A, 0, false, false),
    ] {
        let Some(reply) = ask(net, addr, &query(name, qtype), false) else {
            problems.push(format!("{who}: {name}: no answer"));
            continue;
        };
        let codes = ede_codes(&reply);
        let Ok(reply) = normalize(&reply) else {
            problems.push(format!("{who}: {name}: unparsable answer"));
            continue;
        };
        if reply.rcode != rcode
            || reply.flags.contains("ad") != ad
            || (ede_class(&codes) == "dnssec") != dnssec_ede
        {
            problems.push(format!(
                "{who}: {name}: want rcode {rcode}, AD {ad}, DNSSEC EDE {dnssec_ede}; got \
                 EDE {codes:?}: {reply}"
            ));
        }
    }
    problems
}

/// dnsd W: a DoT forwarder under a name its certificate lacks is not used; one
/// authenticated by its IP address is.
fn wrong_certificate(net: &MiniInternet, wrong: &Dnsd, addr: SocketAddr) -> Vec<String> {
    let mut problems = Vec::new();
    match ask(net, addr, &query("www.secure.example.", A), false) {
        None => problems.push("wrong name: no answer from dnsd W".into()),
        Some(reply) => {
            let codes = ede_codes(&reply);
            match normalize(&reply) {
                Ok(n) if n.rcode == 2 && codes.contains(&22) && n.answer.is_empty() => {}
                Ok(n) => problems.push(format!(
                    "wrong name: want SERVFAIL with EDE 22, got EDE {codes:?}: {n}"
                )),
                Err(_) => problems.push("wrong name: unparsable answer".into()),
            }
        }
    }
    match ask(net, addr, &query("www.insecure.example.", A), false).and_then(|r| normalize(&r).ok())
    {
        Some(n) if n.rcode == 0 && !n.answer.is_empty() => {}
        other => problems.push(format!(
            "IP address as the name: want an answer, got {other:?}"
        )),
    }
    let log = wrong.log();
    if !log.contains("DoT forwarder unusable") || !log.contains("wrong.test") {
        problems.push(format!("wrong name: not in dnsd W's log:\n{log}"));
    }
    let failed = net
        .scrape_dnsd(addr)
        .lines()
        .find(|l| l.starts_with("dnsd_resolver_forward_tls_connections_total{result=\"failed\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if failed == 0 {
        problems.push("wrong name: no failed TLS connection counted".into());
    }
    problems
}

/// A CA and, signed by it, a certificate for `dot.test` and 198.51.100.53, in the
/// mini-Internet's folder (dot.crt, dot.key); the CA's certificate file.
fn tls_files(net: &MiniInternet) -> PathBuf {
    let dir = net.dir();
    std::fs::write(
        dir.join("dot.ext"),
        format!("subjectAltName=DNS:dot.test,IP:{RESOLVER_ADDR}\n"),
    )
    .expect("write dot.ext");
    let script = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -days 2 -subj /CN=netfabric-test-ca -keyout ca.key -out ca.crt \
         && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -subj /CN=dot.test -keyout dot.key -out dot.csr \
         && openssl x509 -req -in dot.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
         -days 2 -extfile dot.ext -out dot.crt";
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("ca.crt")
}
