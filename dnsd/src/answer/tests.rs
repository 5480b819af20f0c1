//! Behaviour of `respond` as a client sees it: requests built as bytes, responses parsed
//! with hickory-proto and checked section by section. This file: the lookup (RFC 1034
//! §4.3.2 and its companions) and the helpers; `tests_wire.rs`: EDNS, errors,
//! truncation, compression, garbage; `tests_zones.rs`: the zones, shared with
//! `vs_nsd.rs`.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Record as HRecord;

use super::tests_zones::zone;
pub(super) use super::tests_zones::zones;
use super::{Outcome, Transport, respond};
use crate::wire::name::Name;
use crate::zone::ZoneSet;

/// A request: (udp size, version, DO) for EDNS.
#[derive(Clone)]
pub(super) struct Ask {
    pub(super) name: &'static str,
    pub(super) qtype: u16,
    pub(super) qclass: u16,
    pub(super) edns: Option<(u16, u8, bool)>,
    pub(super) flags: u16,
}

pub(super) fn ask(name: &'static str, qtype: u16) -> Ask {
    Ask {
        name,
        qtype,
        qclass: 1,
        edns: Some((1232, 0, false)),
        flags: 0,
    }
}

impl Ask {
    pub(super) fn bytes(&self) -> Vec<u8> {
        let arcount = u16::from(self.edns.is_some());
        let mut p = vec![0xab, 0xcd];
        for w in [self.flags, 1, 0, 0, arcount] {
            p.extend_from_slice(&w.to_be_bytes());
        }
        p.extend_from_slice(Name::from_text(self.name, None).unwrap().as_wire());
        p.extend_from_slice(&self.qtype.to_be_bytes());
        p.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some((size, version, dnssec_ok)) = self.edns {
            p.push(0);
            p.extend_from_slice(&41u16.to_be_bytes());
            p.extend_from_slice(&size.to_be_bytes());
            p.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        p
    }

    pub(super) fn run(&self, transport: Transport) -> (Message, Outcome, Vec<u8>) {
        let mut out = Vec::new();
        let outcome = respond(&zones(), &self.bytes(), &transport.into(), &mut out).unwrap();
        assert_eq!(outcome.len, out.len());
        (Message::from_vec(&out).unwrap(), outcome, out)
    }

    pub(super) fn udp(&self) -> Message {
        self.run(Transport::Udp).0
    }

    pub(super) fn noedns(mut self) -> Self {
        self.edns = None;
        self
    }
}

/// A section as sorted "owner ttl TYPE rdata" lines, names lowercased.
pub(super) fn lines(records: &[HRecord]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data).to_ascii_lowercase()
        })
        .collect();
    v.sort();
    v
}

/// The additional section of a referral to sub.example.org: the glue below the cut,
/// and the addresses of its in-zone server outside the cut.
const SUB_ADDITIONAL: [&str; 4] = [
    "ns.sub.example.org. 3600 a 198.51.100.9",
    "ns.sub.example.org. 3600 aaaa 2001:db8::9",
    "ns1.example.org. 3600 a 198.51.100.1",
    "ns1.example.org. 3600 aaaa 2001:db8::1",
];

/// mail.example.org's addresses, as additional data for an MX or SRV target.
const MAIL_ADDRESSES: [&str; 2] = [
    "mail.example.org. 3600 a 198.51.100.5",
    "mail.example.org. 3600 aaaa 2001:db8::5",
];

const SOA_NEG: &str =
    "example.org. 300 soa ns1.example.org. hostmaster.example.org. 7 3600 900 604800 300";

#[test]
fn answers_authoritatively_with_the_question_case_kept() {
    let (m, outcome, bytes) = ask("WwW.Example.ORG.", 1).run(Transport::Udp);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(lines(&m.answers), ["www.example.org. 3600 a 198.51.100.2"]);
    assert!(m.authorities.is_empty() && m.additionals.is_empty());
    assert_eq!(m.answers[0].name.to_string(), "WwW.Example.ORG.");
    assert_eq!(m.queries[0].name().to_string(), "WwW.Example.ORG.");
    // The owner is a pointer to the question.
    let answer_at = 12 + 17 + 4;
    assert_eq!(&bytes[answer_at..answer_at + 2], &[0xc0, 0x0c]);
    assert_eq!(outcome.rcode, 0);
    assert_eq!(outcome.qtype, 1);
    let edns = m.edns.unwrap();
    assert_eq!(edns.max_payload(), 1232);
}

#[test]
fn follows_cname_chains_inside_and_across_our_zones() {
    let m = ask("alias2.example.org.", 1).udp();
    assert_eq!(
        lines(&m.answers),
        [
            "alias.example.org. 3600 cname www.example.org.",
            "alias2.example.org. 3600 cname alias.example.org.",
            "www.example.org. 3600 a 198.51.100.2",
        ]
    );
    let m = ask("toother.example.org.", 1).udp();
    assert_eq!(
        lines(&m.answers),
        [
            "toother.example.org. 3600 cname www.other.test.",
            "www.other.test. 600 a 198.51.100.31"
        ]
    );
    assert!(m.metadata.authoritative);
    // A target outside our zones ends the chain, NOERROR.
    let m = ask("tonone.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    // A target that does not exist: NXDOMAIN with the SOA (RFC 6604).
    let m = ask("tonx.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    // NODATA at the target: SOA of the target's zone.
    let m = ask("toother.example.org.", 15).udp();
    assert_eq!(m.answers.len(), 1);
    assert_eq!(
        lines(&m.authorities),
        ["other.test. 60 soa ns1.other.test. h.other.test. 1 2 3 4 60"]
    );
    // A target below a cut: the referral completes the answer, which stays AA.
    let m = ask("toref.example.org.", 1).udp();
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.authorities.len(), 3);
    assert_eq!(lines(&m.additionals), SUB_ADDITIONAL);
}

#[test]
fn stops_at_cname_loops() {
    let m = ask("loop1.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&m.answers),
        [
            "loop1.example.org. 3600 cname loop2.example.org.",
            "loop2.example.org. 3600 cname loop1.example.org."
        ]
    );
    let m = ask("loop1.example.org.", 5).udp();
    assert_eq!(m.answers.len(), 1, "a CNAME query is answered by the CNAME");
}

#[test]
fn substitutes_dnames() {
    let m = ask("X.d.example.org.", 1).udp();
    assert_eq!(m.answers.len(), 2);
    assert_eq!(u16::from(m.answers[0].record_type()), 39);
    assert_eq!(m.answers[0].name.to_string(), "d.example.org.");
    assert_eq!(
        lines(&m.answers[1..]),
        ["x.d.example.org. 3600 cname x.target.example.net."]
    );
    assert_eq!(m.answers[1].name.to_string(), "X.d.example.org.");
    // The DNAME's owner itself is not substituted.
    let m = ask("d.example.org.", 39).udp();
    assert_eq!(m.answers.len(), 1);
    // A substitution that loops back into the same DNAME stops.
    let m = ask("a.dloop.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.len() <= 3);
}

#[test]
fn dname_result_too_long_is_yxdomain() {
    let long: &'static str = Box::leak(
        format!(
            "{}.{}.{}.{}.d.example.org.",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(54)
        )
        .into_boxed_str(),
    );
    let m = ask(long, 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::YXDomain);
    assert_eq!(m.answers.len(), 1, "the DNAME, no CNAME");
}

#[test]
fn synthesizes_from_wildcards() {
    let m = ask("Host.wild.example.org.", 16).udp();
    assert_eq!(lines(&m.answers), ["host.wild.example.org. 3600 txt wild"]);
    assert_eq!(m.answers[0].name.to_string(), "Host.wild.example.org.");
    // Below a name that does not exist, too.
    let m = ask("a.b.wild.example.org.", 16).udp();
    assert_eq!(m.answers.len(), 1);
    // A name that exists is not answered from the wildcard.
    let m = ask("ent.wild.example.org.", 16).udp();
    assert!(m.answers.is_empty());
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    // An empty non-terminal blocks the wildcard above it: b.c exists.
    let m = ask("b.c.example.org.", 16).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = ask("x.b.c.example.org.", 16).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // `*` answers for itself, and NODATA from a wildcard.
    let m = ask("*.wild.example.org.", 16).udp();
    assert_eq!(lines(&m.answers), ["*.wild.example.org. 3600 txt wild"]);
    let m = ask("host.wild.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    // Wildcard MX: additional addresses for its target.
    let m = ask("host.wild.example.org.", 15).udp();
    assert_eq!(lines(&m.additionals), MAIL_ADDRESSES);
}

#[test]
fn refers_below_a_cut() {
    for (name, qtype) in [
        ("sub.example.org.", 1),
        ("sub.example.org.", 2),
        ("x.sub.example.org.", 1),
        ("ns.sub.example.org.", 1),
        ("deep.ns.sub.example.org.", 1),
        ("sub.example.org.", 255),
    ] {
        let m = ask(name, qtype).udp();
        assert!(!m.metadata.authoritative, "{name}");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty(), "{name}");
        assert_eq!(
            lines(&m.authorities),
            [
                "sub.example.org. 3600 ns ns.elsewhere.net.",
                "sub.example.org. 3600 ns ns.sub.example.org.",
                "sub.example.org. 3600 ns ns1.example.org."
            ],
            "{name}"
        );
        assert_eq!(lines(&m.additionals), SUB_ADDITIONAL, "{name}");
    }
}

#[test]
fn answers_ds_from_the_parent_side() {
    // We serve the child and the parent: the parent answers, with its DS.
    let m = ask("child.example.org.", 43).udp();
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 3600);
    // A delegation whose child we do not serve: NODATA from the parent.
    let m = ask("sub.example.org.", 43).udp();
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    // Other types at the child apex come from the child.
    let m = ask("child.example.org.", 2).udp();
    assert!(m.metadata.authoritative);
    assert_eq!(
        lines(&m.answers),
        ["child.example.org. 600 ns ns1.child.example.org."]
    );
    // DS of a zone whose parent we do not serve: NODATA from the zone itself.
    let m = ask("other.test.", 43).udp();
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type().to_string(), "SOA");
}

#[test]
fn negative_answers_carry_the_soa_with_the_minimum_ttl() {
    let m = ask("nx.example.org.", 1).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    let m = ask("www.example.org.", 16).udp();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(lines(&m.authorities), [SOA_NEG]);
    // Types that no zone holds (meta types, RRSIG): NODATA.
    for qtype in [0, 41, 46, 254, 65535] {
        let m = ask("www.example.org.", qtype).udp();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.authorities.len(), 1);
    }
}

#[test]
fn adds_addresses_for_ns_mx_and_srv_targets() {
    let m = ask("example.org.", 2).udp();
    assert_eq!(
        lines(&m.additionals),
        [
            "ns1.example.org. 3600 a 198.51.100.1",
            "ns1.example.org. 3600 aaaa 2001:db8::1"
        ]
    );
    let m = ask("example.org.", 15).udp();
    assert_eq!(lines(&m.additionals), MAIL_ADDRESSES);
    // Targets in the zone get their addresses; one outside our zones, none.
    let m = ask("srv._tcp.example.org.", 33).udp();
    assert_eq!(m.answers.len(), 3);
    assert_eq!(
        lines(&m.additionals),
        [
            "mail.example.org. 3600 a 198.51.100.5",
            "mail.example.org. 3600 aaaa 2001:db8::5",
            "www.example.org. 3600 a 198.51.100.2",
            "www.example.org. 3600 aaaa 2001:db8::2"
        ]
    );
    // An MX target below a cut is glue: not added.
    let m = ask("mx3.example.org.", 15).udp();
    assert!(m.additionals.is_empty());
    // An MX target matched by a wildcard has no address there.
    let m = ask("mx2.example.org.", 15).udp();
    assert!(m.additionals.is_empty());
}

#[test]
fn any_is_answered_with_one_rrset() {
    let m = ask("example.org.", 255).udp();
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type().to_string(), "SOA");
    let (m, _, _) = ask("example.org.", 255).run(Transport::Tcp);
    assert_eq!(m.answers.len(), 1);
    let m = ask("ns1.example.org.", 255).udp();
    assert_eq!(lines(&m.answers), ["ns1.example.org. 3600 a 198.51.100.1"]);
    let m = ask("alias.example.org.", 255).udp();
    assert_eq!(
        lines(&m.answers),
        ["alias.example.org. 3600 cname www.example.org."]
    );
    let m = ask("b.c.example.org.", 255).udp();
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
}

#[test]
fn refuses_names_outside_our_zones() {
    for flags in [0, 0x0100] {
        let mut a = ask("www.example.com.", 1);
        a.flags = flags;
        let (m, outcome, _) = a.run(Transport::Udp);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert_eq!(outcome.rcode, 5);
        assert!(!m.metadata.authoritative);
        assert_eq!(m.metadata.recursion_desired, flags != 0);
        assert!(!m.metadata.recursion_available);
        assert_eq!(m.queries.len(), 1);
    }
}

#[test]
fn long_chains_stop_after_max_chain_steps() {
    let mut text = String::from(
        "$ORIGIN chain.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 198.51.100.1\n",
    );
    for i in 0..20 {
        text.push_str(&format!("c{i} CNAME c{}\n", i + 1));
    }
    text.push_str("c20 A 198.51.100.2\n");
    let zones = ZoneSet::new().with_zone(Arc::new(zone(&text)));
    let mut out = Vec::new();
    let request = ask("c0.chain.test.", 1).bytes();
    respond(&zones, &request, &Transport::Udp.into(), &mut out).unwrap();
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), super::lookup::MAX_CHAIN);
    assert!(m.answers.iter().all(|r| u16::from(r.record_type()) == 5));
    // A chain within the bound is followed to its end.
    let request = ask("c10.chain.test.", 1).bytes();
    respond(&zones, &request, &Transport::Udp.into(), &mut out).unwrap();
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.answers.len(), 11);
    assert_eq!(
        lines(&m.answers[10..]),
        ["c20.chain.test. 60 a 198.51.100.2"]
    );
}

#[test]
fn serves_the_root_zone_too() {
    let text = "$ORIGIN .\n$TTL 86400\n. SOA a.root-servers.net. nstld.verisign-grs.com. 1 2 3 4 86400\n. NS a.root-servers.net.\ncom. NS a.gtld-servers.net.\na.gtld-servers.net. A 192.5.6.30\nnet. NS a.gtld-servers.net.\na.root-servers.net. A 198.41.0.4\n";
    let zones = ZoneSet::new().with_zone(Arc::new(zone(text)));
    let mut out = Vec::new();
    for (name, qtype, rcode, referral) in [
        ("www.example.com.", 1, ResponseCode::NoError, true),
        ("com.", 43, ResponseCode::NoError, false),
        ("nx.", 1, ResponseCode::NXDomain, false),
        (".", 2, ResponseCode::NoError, false),
    ] {
        respond(
            &zones,
            &ask(name, qtype).bytes(),
            &Transport::Udp.into(),
            &mut out,
        )
        .unwrap();
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.response_code, rcode, "{name}");
        assert_eq!(m.metadata.authoritative, !referral, "{name}");
        if referral {
            assert_eq!(lines(&m.authorities), ["com. 86400 ns a.gtld-servers.net."]);
        }
    }
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(lines(&m.answers), [". 86400 ns a.root-servers.net."]);
}

#[test]
fn additional_data_is_not_repeated() {
    let text = "$ORIGIN dup.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n@ NS NS.dup.test.\nns A 198.51.100.1\n@ MX 10 ns\n@ MX 20 Ns\nmx MX 10 mx\nmx A 198.51.100.2\n";
    let zones = ZoneSet::new().with_zone(Arc::new(zone(text)));
    let mut out = Vec::new();
    for (name, qtype, additional) in [
        ("dup.test.", 15, vec!["ns.dup.test. 60 a 198.51.100.1"]),
        ("dup.test.", 2, vec!["ns.dup.test. 60 a 198.51.100.1"]),
        // The target's address is the answer's owner's: it is in additional all the
        // same, since the answer holds the MX, not the A.
        ("mx.dup.test.", 15, vec!["mx.dup.test. 60 a 198.51.100.2"]),
    ] {
        respond(
            &zones,
            &ask(name, qtype).bytes(),
            &Transport::Udp.into(),
            &mut out,
        )
        .unwrap();
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(lines(&m.additionals), additional, "{name} {qtype}");
    }
}
