//! The engine against NSD 4.6, query by query: the same zones are served by NSD on a
//! loopback port and answered by `respond` directly; each response is normalized (rcode,
//! flags, question, EDNS, each section as RRsets with their records counted) and must
//! match, except for the differences dnsd makes on purpose, which `DELIBERATE` names.
//! The zones are those of every answer test (`tests_zones.rs`).
//!
//! Needs NSD (Debian's `nsd`, which test.sh installs).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netfabric_tests::dns::{
    Edns, Normalized, Query, Reply, diff, normalize, tcp_exchange, udp_exchange_or_silence,
};
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

use super::tests_zones::{zone, zones_text};
use super::{Transport, respond};
use crate::zone::ZoneSet;

/// NSD (default `minimal-responses: no`) adds the zone's NS RRset to the authority
/// section of every positive answer, and the addresses of those servers to the
/// additional section. dnsd does not (as Knot does not): it costs size on every answer
/// and no resolver needs it (RFC 2181 §6.1 leaves it optional). Takes them out of NSD's
/// response where dnsd's has none of them.
fn drop_apex_ns(nsd: &mut Normalized, ours: &Normalized) {
    if nsd.rcode != 0 || nsd.answer.is_empty() || !ours.authority.is_empty() {
        return;
    }
    let apexes: Vec<String> = zones_text().iter().map(|(z, _)| format!("{z}.")).collect();
    let ns_keys: Vec<_> = nsd
        .authority
        .keys()
        .filter(|k| k.1 == "NS" && apexes.contains(&k.0))
        .cloned()
        .collect();
    let mut targets = Vec::new();
    for key in ns_keys {
        if let Some(rdatas) = nsd.authority.remove(&key) {
            targets.extend(rdatas);
        }
    }
    nsd.additional
        .retain(|key, _| !targets.contains(&key.0) || ours.additional.contains_key(key));
}

/// Responses where dnsd differs from NSD on purpose: (query label, the one difference
/// allowed, why).
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "midref.example.org. 1 noedns",
        r#"flags: only dnsd ["tc"], only nsd []"#,
        "RFC 9471 §3 (2023, after NSD 4.6): a referral that cannot carry all glue for \
         in-domain name servers is truncated",
    ),
    ("edns v1 do www.example.org.", BADVERS_DO, BADVERS_DO_WHY),
    ("edns v1 do big.example.org.", BADVERS_DO, BADVERS_DO_WHY),
    ("edns v1 do nx.example.org.", BADVERS_DO, BADVERS_DO_WHY),
];

const BADVERS_DO: &str = "edns (version, do): dnsd Some((0, true)) / nsd Some((0, false))";
const BADVERS_DO_WHY: &str = "RFC 3225 §3: DO is copied into every response to a query that \
     set it, BADVERS included (as Knot does)";

/// How long one try waits for NSD's answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Tries of a UDP exchange with NSD (a datagram can be lost on a loaded machine).
const TRIES: usize = 3;

/// Requests that neither dnsd nor NSD answer: shorter than a header, or a response
/// (RFC 1035 §4.1.1). Any other case both leave unanswered fails the test, and so does
/// a listed one answered.
const SILENT: &[&str] = &["empty", "short", "qr set"];

struct Harness {
    nsd: Server,
    zones: ZoneSet,
    /// Labels of the requests neither answered.
    silent: std::cell::RefCell<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut zones = ZoneSet::new();
        for (name, text) in zones_text() {
            let path = dir.path().join(format!("{name}.zone"));
            std::fs::write(&path, &text).unwrap();
            files.push(ZoneFile {
                name: name.to_string(),
                path,
            });
            zones = zones.with_zone(Arc::new(zone(&text)));
        }
        let nsd = Server::start(Kind::Nsd, &files, &Options::default());
        Harness {
            nsd,
            zones,
            silent: Default::default(),
            _dir: dir,
        }
    }

    fn ours(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        respond(&self.zones, request, &transport.into(), &mut out).map(|_| out)
    }

    /// NSD's response, or None when NSD gives none: over UDP, silence is shown by a
    /// probe sent after the request (NSD answers one socket's datagrams in order) and
    /// an exchange with neither answer is tried again; over TCP, a connection closed
    /// without an answer. Panics, naming the request, when NSD does not react at all.
    fn theirs(&self, label: &str, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let addr: SocketAddr = self.nsd.addr;
        match transport {
            Transport::Udp => {
                let probe = q("www.example.org.", 1);
                let reply = (0..TRIES)
                    .find_map(|_| udp_exchange_or_silence(addr, request, &probe, TIMEOUT));
                match reply {
                    Some(Reply::Datagram(bytes)) => Some(bytes),
                    Some(Reply::Silence) => None,
                    None => panic!(
                        "{label}: NSD answered neither the request nor the probe after it \
                         ({TRIES} tries of {TIMEOUT:?})\n{}",
                        self.nsd.log()
                    ),
                }
            }
            Transport::Tcp => match tcp_exchange(addr, request, TIMEOUT) {
                Ok(bytes) => Some(bytes),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("{label}: NSD did not answer over TCP within {TIMEOUT:?}: {e}")
                }
                Err(_) => None,
            },
        }
    }

    /// Compares one request; returns the differences, described.
    fn compare(&self, label: &str, request: &[u8], transport: Transport) -> Vec<String> {
        let ours = self.ours(request, transport);
        let theirs = self.theirs(label, request, transport);
        match (ours, theirs) {
            (None, None) => {
                self.silent.borrow_mut().push(label.to_string());
                Vec::new()
            }
            (Some(_), None) => vec![format!("{label}: dnsd answers, NSD is silent")],
            (None, Some(_)) => vec![format!("{label}: NSD answers, dnsd is silent")],
            (Some(ours), Some(theirs)) => {
                let ours_n = match normalize(&ours) {
                    Ok(n) => n,
                    Err(e) => return vec![format!("{label}: dnsd {e}: {ours:02x?}")],
                };
                let mut theirs_n = match normalize(&theirs) {
                    Ok(n) => n,
                    Err(e) => return vec![format!("{label}: nsd {e}: {theirs:02x?}")],
                };
                drop_apex_ns(&mut theirs_n, &ours_n);
                let mut out: Vec<String> = diff("dnsd", &ours_n, "nsd", &theirs_n)
                    .into_iter()
                    .map(|d| format!("{label}: {d}"))
                    .collect();
                if ours_n.edns.is_some() && ours_n.edns_size != theirs_n.edns_size {
                    out.push(format!(
                        "{label}: EDNS size dnsd {:?} / nsd {:?}",
                        ours_n.edns_size, theirs_n.edns_size
                    ));
                }
                if ours.len() <= 12 || theirs.len() <= 12 {
                    // Header-only responses: the bytes must be the same.
                    if ours != theirs {
                        out.push(format!("{label}: dnsd {ours:02x?} / nsd {theirs:02x?}"));
                    }
                }
                let allowed = DELIBERATE
                    .iter()
                    .find(|(l, _, _)| *l == label)
                    .map(|(l, d, _)| format!("{l}: {d}"));
                if allowed.is_some() && out.len() == 1 && out.first() == allowed.as_ref() {
                    return Vec::new();
                }
                if !out.is_empty() {
                    out.push(format!("--- dnsd:\n{ours_n}--- nsd:\n{theirs_n}"));
                }
                out
            }
        }
    }
}

fn q(name: &str, qtype: u16) -> Query {
    Query::new(name, qtype)
}

/// Every case of issue 2 point 5, as queries.
fn queries() -> Vec<(String, Query, Transport)> {
    use Transport::{Tcp, Udp};
    let mut list: Vec<(String, Query, Transport)> = Vec::new();
    let mut add = |label: &str, query: Query, transport: Transport| {
        list.push((label.to_string(), query, transport));
    };
    for (name, qtype) in [
        ("www.example.org.", 1),
        ("WwW.ExAmPlE.oRg.", 1),
        ("www.example.org.", 28),
        ("www.example.org.", 16),
        ("nx.example.org.", 1),
        ("example.org.", 6),
        ("example.org.", 2),
        ("example.org.", 15),
        ("example.org.", 1),
        ("srv._tcp.example.org.", 33),
        ("ptr.example.org.", 12),
        ("txt.example.org.", 16),
        ("alias.example.org.", 1),
        ("alias.example.org.", 5),
        ("alias.example.org.", 15),
        ("alias2.example.org.", 28),
        ("loop1.example.org.", 1),
        ("self.example.org.", 1),
        ("ext.example.org.", 1),
        ("toother.example.org.", 1),
        ("toother.example.org.", 15),
        ("tochild.example.org.", 1),
        ("tonx.example.org.", 1),
        ("tonone.example.org.", 1),
        ("toref.example.org.", 1),
        ("towild.example.org.", 16),
        ("x.d.example.org.", 1),
        ("X.D.example.org.", 1),
        ("d.example.org.", 39),
        ("d.example.org.", 1),
        ("www.dl.example.org.", 1),
        ("a.www.dl.example.org.", 1),
        ("www.din.example.org.", 1),
        ("nx.din.example.org.", 1),
        ("host.wild.example.org.", 16),
        ("Host.Wild.example.org.", 15),
        ("a.b.wild.example.org.", 16),
        ("host.wild.example.org.", 1),
        ("ent.wild.example.org.", 16),
        ("*.wild.example.org.", 16),
        ("b.c.example.org.", 16),
        ("x.b.c.example.org.", 16),
        ("x.c.example.org.", 16),
        ("x.cn.example.org.", 1),
        ("sub.example.org.", 1),
        ("sub.example.org.", 2),
        ("sub.example.org.", 43),
        ("x.sub.example.org.", 1),
        ("x.sub.example.org.", 43),
        ("ns.sub.example.org.", 1),
        ("deep.ns.sub.example.org.", 1),
        ("child.example.org.", 43),
        ("child.example.org.", 2),
        ("child.example.org.", 6),
        ("www.child.example.org.", 1),
        ("www.child.example.org.", 43),
        ("other.test.", 43),
        ("mx2.example.org.", 15),
        ("mx3.example.org.", 15),
        ("mx4.example.org.", 15),
        ("www.example.com.", 1),
        ("com.", 1),
        (".", 2),
        ("example.org.", 255),
        ("www.example.org.", 255),
        ("alias.example.org.", 255),
        ("b.c.example.org.", 255),
        ("sub.example.org.", 255),
        ("nx.example.org.", 255),
        ("www.example.org.", 0),
        ("www.example.org.", 46),
        ("www.example.org.", 65535),
        ("big.example.org.", 16),
        ("tobig.example.org.", 16),
        ("bigref.example.org.", 1),
        ("midref.example.org.", 1),
        ("x.bigref.example.org.", 1),
        ("manymx.example.org.", 15),
        ("mx5.example.org.", 15),
        ("a.b.c.example.org.", 43),
        ("x.wa.example.org.", 255),
        ("mid.example.org.", 16),
    ] {
        let label = format!("{name} {qtype}");
        add(&label, q(name, qtype), Udp);
        add(&format!("{label} noedns"), q(name, qtype).no_edns(), Udp);
        add(&format!("{label} tcp"), q(name, qtype), Tcp);
    }
    let mut rd = q("www.example.org.", 1);
    rd.rd = true;
    add("rd", rd.clone(), Udp);
    let mut refused_rd = q("www.example.com.", 1);
    refused_rd.rd = true;
    add("refused rd", refused_rd, Udp);
    let mut cd = q("www.example.org.", 1);
    cd.cd = true;
    add("cd", cd, Udp);
    let edns = |size, version, dnssec_ok, options: Vec<(u16, Vec<u8>)>| Edns {
        size,
        version,
        dnssec_ok,
        options,
    };
    for (label, e) in [
        ("edns do", edns(1232, 0, true, vec![])),
        ("edns 4096", edns(4096, 0, false, vec![])),
        ("edns 100", edns(100, 0, false, vec![])),
        ("edns 600", edns(600, 0, false, vec![])),
        ("edns v1", edns(1232, 1, false, vec![])),
        ("edns v1 do", edns(1232, 1, true, vec![])),
        (
            "edns unknown option",
            edns(1232, 0, false, vec![(65001, b"ab".to_vec())]),
        ),
        ("edns cookie", edns(1232, 0, false, vec![(10, vec![1; 8])])),
    ] {
        for name in ["www.example.org.", "big.example.org.", "nx.example.org."] {
            let mut query = q(name, 16);
            query.edns = Some(e.clone());
            add(&format!("{label} {name}"), query, Udp);
        }
    }
    for (qclass, name) in [
        (3, "version.bind."),
        (3, "id.server."),
        (3, "www.example.org."),
        (4, "www.example.org."),
        (254, "www.example.org."),
        (255, "www.example.org."),
        (255, "nx.example.org."),
        (255, "www.example.com."),
    ] {
        let mut query = q(name, 16);
        query.qclass = qclass;
        add(&format!("class {qclass} {name}"), query.clone(), Udp);
        add(
            &format!("class {qclass} {name} noedns"),
            query.no_edns(),
            Udp,
        );
    }
    for (opcode, name) in [
        (1, "example.org."),
        (2, "example.org."),
        (3, "example.org."),
        (5, "example.org."),
        (6, "example.org."),
        (15, "example.org."),
        (4, "example.org."),
        (4, "example.com."),
    ] {
        let mut query = q(name, 6);
        query.opcode = opcode;
        add(&format!("opcode {opcode} {name}"), query.clone(), Udp);
        query.rd = true;
        add(&format!("opcode {opcode} {name} rd"), query.no_edns(), Udp);
    }
    add("axfr udp", q("example.org.", 252), Udp);
    // Not compared: IXFR over UDP. NSD (with the transfer ACL the harness sets) answers
    // with a header claiming a question it does not carry; dnsd, which serves no
    // transfers before issue 3, refuses it.
    add("axfr nx udp", q("example.com.", 252), Udp);
    add("axfr nx tcp", q("example.com.", 252), Tcp);
    add("ixfr nx tcp", q("example.com.", 251), Tcp);
    add("ixfr nx udp", q("example.com.", 251), Udp);
    add("axfr below apex tcp", q("www.example.org.", 252), Tcp);
    list
}

/// Requests that are not well-formed queries, as bytes.
fn raw_requests() -> Vec<(&'static str, Vec<u8>)> {
    let base = q("www.example.org.", 1).no_edns().to_bytes();
    let with_opt = q("www.example.org.", 1).to_bytes();
    let opt = &with_opt[base.len()..];
    let set = |mut b: Vec<u8>, at: usize, v: u8| {
        b[at] = v;
        b
    };
    let mut two_opts = with_opt.clone();
    two_opts[11] = 2;
    two_opts.extend_from_slice(opt);
    let mut opt_not_root = base.clone();
    opt_not_root[11] = 1;
    opt_not_root.extend_from_slice(b"\x01x");
    opt_not_root.extend_from_slice(&opt[1..]);
    let mut bad_option = base.clone();
    bad_option[11] = 1;
    bad_option.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 6, 0xfd, 0xe9, 0, 9, 1, 2]);
    let mut a_in_additional = base.clone();
    a_in_additional[11] = 1;
    a_in_additional.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]);
    let mut trailing = with_opt.clone();
    trailing.extend_from_slice(b"garbage");
    let mut compressed = base[..12].to_vec();
    compressed.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 12, 0, 1, 0, 1]);
    let mut probe = base[..12].to_vec();
    probe[5] = 0;
    probe[11] = 1;
    probe[2] = 1;
    probe.extend_from_slice(opt);
    let tsig = {
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c, 0, 32]);
        rdata.extend_from_slice(&[7; 32]);
        rdata.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 0]);
        let mut rr = b"\x03key\x07example\x00\x00\xfa\x00\xff\x00\x00\x00\x00".to_vec();
        rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rr.extend_from_slice(&rdata);
        rr
    };
    let mut signed = set(base.clone(), 11, 1);
    signed.extend_from_slice(&tsig);
    let mut opt_then_tsig = set(with_opt.clone(), 11, 2);
    opt_then_tsig.extend_from_slice(&tsig);
    let mut tsig_then_opt = set(base.clone(), 11, 2);
    tsig_then_opt.extend_from_slice(&tsig);
    tsig_then_opt.extend_from_slice(opt);
    // The TSIG's "other length" claims data its RDATA does not hold.
    let mut bad_tsig = signed.clone();
    let last = bad_tsig.len() - 1;
    bad_tsig[last] = 5;
    vec![
        ("tsig, unknown key", signed),
        ("opt then tsig", opt_then_tsig),
        ("tsig then opt", tsig_then_opt),
        ("tsig fields do not add up", bad_tsig),
        ("empty", vec![]),
        ("short", base[..11].to_vec()),
        ("header only qd=0", set(base[..12].to_vec(), 5, 0)),
        ("header only qd=1", base[..12].to_vec()),
        ("qr set", set(base.clone(), 2, 0x80)),
        ("qd=2", set(set(base.clone(), 5, 2), 2, 1)),
        ("an=1", set(set(base.clone(), 7, 1), 2, 1)),
        ("ns=1", set(base.clone(), 9, 1)),
        ("ar=1 missing", set(base.clone(), 11, 1)),
        ("truncated question", base[..base.len() - 2].to_vec()),
        ("tc set", set(base.clone(), 2, 0x02)),
        ("rcode set", set(base.clone(), 3, 0x03)),
        ("aa ra ad z set", set(base.clone(), 3, 0xf0)),
        ("two opts", two_opts),
        ("opt not at root", opt_not_root),
        ("bad option length", bad_option),
        ("a record in additional", a_in_additional),
        ("trailing garbage", trailing),
        ("compressed qname", compressed),
        ("edns probe qd=0", probe),
    ]
}

#[test]
fn answers_like_nsd() {
    let harness = Harness::start();
    let mut differences = Vec::new();
    for (label, query, transport) in queries() {
        differences.extend(harness.compare(&label, &query.to_bytes(), transport));
    }
    for (label, bytes) in raw_requests() {
        differences.extend(harness.compare(label, &bytes, Transport::Udp));
    }
    if std::env::var_os("SHOW_NSD").is_some() {
        for (label, query, transport) in queries() {
            let bytes = query.to_bytes();
            let show = |b: Option<Vec<u8>>| b.map(|b| normalize(&b).map(|n| n.to_string()));
            eprintln!(
                "=== {label}\n{:?}\n{:?}",
                show(harness.ours(&bytes, transport)),
                show(harness.theirs(&label, &bytes, transport))
            );
        }
    }
    assert_eq!(
        *harness.silent.borrow(),
        SILENT,
        "the requests that neither dnsd nor NSD answered"
    );
    assert!(
        differences.is_empty(),
        "{} differences from NSD:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
