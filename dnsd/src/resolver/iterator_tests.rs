//! Tests of the iterator over servers in memory: each fake server answers from its
//! zones as an authoritative server would (answer, CNAME, referral with glue, NODATA,
//! NXDOMAIN), and counts the queries it gets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, Query as HQuery, ResponseCode};
use hickory_proto::rr::RData;

use super::*;
use crate::resolver::classify::tests::{a, cname, name, ns, response, soa};
use crate::resolver::upstream::UpstreamError;

/// A zone: apex and records (NS at cuts included, glue included).
struct Zone {
    apex: Name,
    records: Vec<Record>,
}

#[derive(Default)]
struct FakeNet {
    servers: HashMap<IpAddr, Vec<Zone>>,
    queries: AtomicUsize,
    asked: Mutex<Vec<(IpAddr, Name, RecordType)>>,
}

impl FakeNet {
    fn serve(&mut self, ip: [u8; 4], apex: &str, records: Vec<Record>) {
        self.serve_at(IpAddr::V4(Ipv4Addr::from(ip)), apex, records);
    }

    fn serve_at(&mut self, ip: IpAddr, apex: &str, records: Vec<Record>) {
        let mut records = records;
        records.push(soa(apex));
        self.servers.entry(ip).or_default().push(Zone {
            apex: name(apex),
            records,
        });
    }
}

impl Upstream for FakeNet {
    async fn query(
        &self,
        server: IpAddr,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, UpstreamError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.asked
            .lock()
            .unwrap()
            .push((server, qname.clone(), rtype));
        let Some(zones) = self.servers.get(&server) else {
            return Err(UpstreamError::Timeout);
        };
        let Some(zone) = zones
            .iter()
            .filter(|z| z.apex.zone_of(qname))
            .max_by_key(|z| z.apex.num_labels())
        else {
            return Ok(with_question(
                response(ResponseCode::Refused, false, vec![], vec![], vec![]),
                qname,
                rtype,
            ));
        };
        let at = |owner: &Name, t: RecordType| -> Vec<Record> {
            zone.records
                .iter()
                .filter(|r| r.name == *owner && r.record_type() == t)
                .cloned()
                .collect()
        };
        // A cut between the apex and the name: referral.
        let mut cut = qname.clone();
        while cut != zone.apex {
            let delegation = at(&cut, RecordType::NS);
            let ds_at_cut = rtype == RecordType::DS && cut == *qname;
            if !delegation.is_empty() && !ds_at_cut {
                let glue = zone
                    .records
                    .iter()
                    .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                    .filter(|r| {
                        delegation
                            .iter()
                            .any(|n| matches!(&n.data, RData::NS(t) if t.0 == r.name))
                    })
                    .cloned()
                    .collect();
                return Ok(with_question(
                    response(ResponseCode::NoError, false, vec![], delegation, glue),
                    qname,
                    rtype,
                ));
            }
            cut = cut.base_name();
        }
        let found = at(qname, rtype);
        if !found.is_empty() {
            return Ok(with_question(
                response(ResponseCode::NoError, true, found, vec![], vec![]),
                qname,
                rtype,
            ));
        }
        let alias = at(qname, RecordType::CNAME);
        if !alias.is_empty() {
            return Ok(with_question(
                response(ResponseCode::NoError, true, alias, vec![], vec![]),
                qname,
                rtype,
            ));
        }
        let exists = zone.records.iter().any(|r| qname.zone_of(&r.name));
        let code = if exists {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        Ok(with_question(
            response(
                code,
                true,
                vec![],
                vec![soa(&zone.apex.to_string())],
                vec![],
            ),
            qname,
            rtype,
        ))
    }
}

fn with_question(mut m: Message, qname: &Name, rtype: RecordType) -> Message {
    m.add_query(HQuery::query(qname.clone(), rtype));
    m
}

const ROOT: [u8; 4] = [198, 51, 100, 1];
const TLD: [u8; 4] = [198, 51, 100, 10];
const LEAF: [u8; 4] = [198, 51, 100, 20];

/// root -> example. (TLD) -> site.example. (LEAF); other. on TLD too.
fn internet() -> FakeNet {
    let mut net = FakeNet::default();
    net.serve(
        ROOT,
        ".",
        vec![
            ns(".", "ns."),
            a("ns.", ROOT),
            ns("example.", "ns.example."),
            a("ns.example.", TLD),
            ns("other.", "ns.other."),
            a("ns.other.", TLD),
        ],
    );
    net.serve(
        TLD,
        "example.",
        vec![
            ns("example.", "ns.example."),
            a("ns.example.", TLD),
            ns("site.example.", "ns.site.example."),
            a("ns.site.example.", LEAF),
        ],
    );
    net.serve(
        TLD,
        "other.",
        vec![
            ns("other.", "ns.other."),
            a("ns.other.", TLD),
            a("www.other.", [203, 0, 113, 80]),
        ],
    );
    net.serve(
        LEAF,
        "site.example.",
        vec![
            ns("site.example.", "ns.site.example."),
            a("ns.site.example.", LEAF),
            a("www.site.example.", [203, 0, 113, 1]),
            cname("alias.site.example.", "www.other."),
        ],
    );
    net
}

fn iterator(net: FakeNet) -> Iterator<FakeNet> {
    Iterator {
        cache: Arc::new(Cache::new(1 << 20, 0, 86400)),
        upstream: net,
        hints: Hints {
            ns: vec![ns(".", "ns.")],
            addresses: vec![a("ns.", ROOT)],
        },
        clock: || 1000,
        qname_minimisation: true,
        forwards: Default::default(),
        parent_side: Default::default(),
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn resolves_from_the_root_down_then_from_the_cache() {
    let it = iterator(internet());
    let r = block_on(it.resolve(&name("www.site.example."), RecordType::A));
    assert_eq!(r.rcode, ResponseCode::NoError);
    assert_eq!(r.answer, vec![a("www.site.example.", [203, 0, 113, 1])]);
    let sent = it.upstream.queries.load(Ordering::Relaxed);
    // Minimised: the root is asked for example. only, the TLD for site.example. only.
    let asked = it.upstream.asked.lock().unwrap().clone();
    assert!(
        asked.contains(&(IpAddr::V4(ROOT.into()), name("example."), RecordType::A)),
        "{asked:?}"
    );
    assert!(
        asked.contains(&(IpAddr::V4(TLD.into()), name("site.example."), RecordType::A)),
        "{asked:?}"
    );
    let again = block_on(it.resolve(&name("www.site.example."), RecordType::A));
    assert_eq!(again.answer, r.answer);
    assert_eq!(
        it.upstream.queries.load(Ordering::Relaxed),
        sent,
        "answered from the cache"
    );
}

#[test]
fn cnames_across_zones_and_negative_answers() {
    let it = iterator(internet());
    let r = block_on(it.resolve(&name("alias.site.example."), RecordType::A));
    assert_eq!(
        r.answer,
        vec![
            cname("alias.site.example.", "www.other."),
            a("www.other.", [203, 0, 113, 80])
        ]
    );
    let nx = block_on(it.resolve(&name("nx.site.example."), RecordType::A));
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.authority, vec![soa("site.example.")]);
    let nodata = block_on(it.resolve(&name("www.site.example."), RecordType::TXT));
    assert_eq!(
        (nodata.rcode, nodata.answer.len()),
        (ResponseCode::NoError, 0)
    );
}

#[test]
fn out_of_bailiwick_data_is_not_cached() {
    let mut net = internet();
    // site.example.'s server also claims an address for www.other.
    net.servers.get_mut(&IpAddr::V4(LEAF.into())).unwrap()[0]
        .records
        .push(a("www.other.", [203, 0, 113, 66]));
    let it = iterator(net);
    let _ = block_on(it.resolve(&name("alias.site.example."), RecordType::A));
    let cached = it
        .cache
        .rrset(&name("www.other."), RecordType::A, 1000)
        .unwrap();
    assert_eq!(cached.records[0].data, a("x.", [203, 0, 113, 80]).data);
}

#[test]
fn a_referral_loop_ends_in_servfail_within_the_limits() {
    let mut net = internet();
    // loop.example. is served by ns.loop2.example. and loop2.example. by
    // ns.loop.example., neither with glue.
    let tld = net.servers.get_mut(&IpAddr::V4(TLD.into())).unwrap();
    tld[0]
        .records
        .push(ns("loop.example.", "ns.loop2.example."));
    tld[0]
        .records
        .push(ns("loop2.example.", "ns.loop.example."));
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.loop.example."), RecordType::A));
    assert_eq!(r.rcode, ResponseCode::ServFail);
    assert!(it.upstream.queries.load(Ordering::Relaxed) <= MAX_QUERIES);
}

#[test]
fn an_nxns_fan_out_is_bounded() {
    let mut net = internet();
    // A delegation to 50 name servers in a domain that does not exist, no glue.
    let tld = net.servers.get_mut(&IpAddr::V4(TLD.into())).unwrap();
    for i in 0..50 {
        tld[0]
            .records
            .push(ns("victim.example.", &format!("ns{i}.nx.other.")));
    }
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.victim.example."), RecordType::A));
    assert_eq!(r.rcode, ResponseCode::ServFail);
    let asked = it.upstream.asked.lock().unwrap().clone();
    let fetched: std::collections::BTreeSet<_> = asked
        .iter()
        .filter(|(_, n, _)| {
            n.to_string().starts_with("ns") && n.to_string().ends_with(".nx.other.")
        })
        .map(|(_, n, _)| n.clone())
        .collect();
    assert!(fetched.len() <= MAX_NS_FETCHES, "{fetched:?}");
}

/// A server that works, one that never answers, and one more.
const WORKS: [u8; 4] = [198, 51, 100, 30];
const DEAD: [u8; 4] = [198, 51, 100, 31];
const OTHER: [u8; 4] = [198, 51, 100, 40];

fn tld_zone<'a>(net: &'a mut FakeNet, apex: &str) -> &'a mut Vec<Record> {
    let zones = net.servers.get_mut(&IpAddr::V4(TLD.into())).unwrap();
    &mut zones
        .iter_mut()
        .find(|z| z.apex == name(apex))
        .unwrap()
        .records
}

#[test]
fn the_parents_glue_when_the_childs_address_fails() {
    let mut net = internet();
    // site2.example. is served by ns.dns.other.; other.'s referral gives it the
    // address WORKS, but dns.other.'s own servers say DEAD, where nothing answers.
    tld_zone(&mut net, "example.").push(ns("site2.example.", "ns.dns.other."));
    let other = tld_zone(&mut net, "other.");
    other.push(ns("dns.other.", "ns.dns.other."));
    other.push(a("ns.dns.other.", WORKS));
    net.serve(
        WORKS,
        "dns.other.",
        vec![ns("dns.other.", "ns.dns.other."), a("ns.dns.other.", DEAD)],
    );
    net.serve(
        WORKS,
        "site2.example.",
        vec![
            ns("site2.example.", "ns.dns.other."),
            a("www.site2.example.", [203, 0, 113, 2]),
        ],
    );
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.site2.example."), RecordType::A));
    assert_eq!(r.rcode, ResponseCode::NoError, "{r:?}");
    assert_eq!(r.answer, vec![a("www.site2.example.", [203, 0, 113, 2])]);
    // The child's address was tried first: it is the better-ranked data.
    let asked = it.upstream.asked.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|(ip, _, _)| *ip == IpAddr::V4(DEAD.into()))
    );
}

#[test]
fn the_other_name_servers_when_the_ones_with_addresses_fail() {
    let mut net = internet();
    // site3.example.'s first server has glue and is dead; the second, in other.,
    // has no glue and works.
    let example = tld_zone(&mut net, "example.");
    example.push(ns("site3.example.", "ns.site3.example."));
    example.push(a("ns.site3.example.", DEAD));
    example.push(ns("site3.example.", "ns.w.other."));
    tld_zone(&mut net, "other.").push(a("ns.w.other.", OTHER));
    net.serve(
        OTHER,
        "site3.example.",
        vec![
            ns("site3.example.", "ns.site3.example."),
            a("www.site3.example.", [203, 0, 113, 3]),
        ],
    );
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.site3.example."), RecordType::A));
    assert_eq!(
        r.answer,
        vec![a("www.site3.example.", [203, 0, 113, 3])],
        "{r:?}"
    );
}

#[test]
fn the_parents_name_server_when_the_childs_ns_rrset_fails() {
    let mut net = internet();
    // The parent names two servers of site4.example.; the child's own NS RRset
    // (in the authority section of its answers) names only the dead one.
    let example = tld_zone(&mut net, "example.");
    example.push(ns("site4.example.", "ns.site4.example."));
    example.push(a("ns.site4.example.", OTHER));
    net.serve(
        OTHER,
        "site4.example.",
        vec![
            ns("site4.example.", "ns.site4.example."),
            a("www.site4.example.", [203, 0, 113, 4]),
        ],
    );
    let it = iterator(net);
    // What the child said about itself, cached as its server's answer would be.
    it.cache.put_rrset(
        CachedRrset {
            records: vec![ns("site4.example.", "ns.dead.other.")],
            signatures: Vec::new(),
            rank: Rank::Authority,
            proof: Vec::new(),
        },
        1000,
    );
    it.cache.put_rrset(
        CachedRrset {
            records: vec![a("ns.dead.other.", DEAD)],
            signatures: Vec::new(),
            rank: Rank::Answer,
            proof: Vec::new(),
        },
        1000,
    );
    it.parent_side.remember(
        &name("site4.example."),
        &[ns("site4.example.", "ns.site4.example.")],
        &[a("ns.site4.example.", OTHER)],
        1000,
        |ttl| ttl,
    );
    let r = block_on(it.resolve(&name("www.site4.example."), RecordType::A));
    assert_eq!(
        r.answer,
        vec![a("www.site4.example.", [203, 0, 113, 4])],
        "{r:?}"
    );
}

#[test]
fn name_servers_with_ipv6_addresses_only() {
    let mut net = internet();
    let v6: IpAddr = "2001:db8::53".parse().unwrap();
    let aaaa = |owner: &str| {
        Record::from_rdata(
            name(owner),
            300,
            RData::AAAA(hickory_proto::rr::rdata::AAAA(match v6 {
                IpAddr::V6(v6) => v6,
                IpAddr::V4(_) => unreachable!(),
            })),
        )
    };
    let example = tld_zone(&mut net, "example.");
    example.push(ns("v6.example.", "ns.v6.example."));
    example.push(aaaa("ns.v6.example."));
    net.serve_at(
        v6,
        "v6.example.",
        vec![
            ns("v6.example.", "ns.v6.example."),
            aaaa("ns.v6.example."),
            a("www.v6.example.", [203, 0, 113, 6]),
        ],
    );
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.v6.example."), RecordType::A));
    assert_eq!(
        r.answer,
        vec![a("www.v6.example.", [203, 0, 113, 6])],
        "{r:?}"
    );
}

#[test]
fn a_name_server_whose_glue_fails_is_resolved_from_its_own_zone() {
    let mut net = internet();
    // example.'s glue for ns.glue.example. is DEAD; glue.example.'s own server
    // (OTHER, reached through ns.g.other.) says WORKS.
    let example = tld_zone(&mut net, "example.");
    example.push(ns("site5.example.", "ns.glue.example."));
    example.push(a("ns.glue.example.", DEAD));
    example.push(ns("glue.example.", "ns.g.other."));
    tld_zone(&mut net, "other.").push(a("ns.g.other.", OTHER));
    net.serve(
        OTHER,
        "glue.example.",
        vec![
            ns("glue.example.", "ns.g.other."),
            a("ns.glue.example.", WORKS),
        ],
    );
    net.serve(
        WORKS,
        "site5.example.",
        vec![
            ns("site5.example.", "ns.glue.example."),
            a("www.site5.example.", [203, 0, 113, 5]),
        ],
    );
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.site5.example."), RecordType::A));
    assert_eq!(
        r.answer,
        vec![a("www.site5.example.", [203, 0, 113, 5])],
        "{r:?}"
    );
}

#[test]
fn a_priming_answer_without_glue_leaves_the_hints_addresses_in_use() {
    // RFC 8109 §3: the root's NS RRset replaces the hints' names; when the priming
    // response gives no address for them (Deckard's root scenarios: one name, no
    // glue, another name than the hints'), the hints' addresses are still the
    // root's servers: without them nothing could be resolved at all.
    let mut net = internet();
    let root = net
        .servers
        .get_mut(&IpAddr::V4(ROOT.into()))
        .and_then(|zones| zones.iter_mut().find(|z| z.apex.is_root()))
        .unwrap();
    root.records
        .retain(|r| !(r.name.is_root() && r.record_type() == RecordType::NS));
    root.records.push(ns(".", "k.root-servers.test."));
    let it = iterator(net);
    let r = block_on(it.resolve(&name("www.site.example."), RecordType::A));
    assert_eq!(r.rcode, ResponseCode::NoError, "{r:?}");
    assert_eq!(r.answer, vec![a("www.site.example.", [203, 0, 113, 1])]);
}
