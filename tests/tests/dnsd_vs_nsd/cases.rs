//! The queries of the differential test (dnsd against NSD and Knot): one or more per case
//! of issue 2 point 5, over the zones in `tests/zones/cases/`, plus queries generated from
//! the records of any other zone (the examples in `zones/`).

use netfabric_tests::dns::{Edns, Query};

/// How a case is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One UDP datagram, one answer expected.
    Udp,
    /// One UDP datagram that may deserve no answer (followed by a probe).
    UdpMaybeSilent,
    /// A TCP connection with one length-prefixed message.
    Tcp,
}

/// One request of the differential test.
#[derive(Clone, Debug)]
pub struct Case {
    /// Stable, readable label: allow-lists and known-failure lists refer to it.
    pub label: String,
    /// The request bytes.
    pub request: Vec<u8>,
    /// How to send it.
    pub transport: Transport,
}

impl Case {
    fn udp(label: String, q: &Query) -> Self {
        Case {
            label,
            request: q.to_bytes(),
            transport: Transport::Udp,
        }
    }
}

/// Query types asked for every name, by number and name.
pub const QTYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (39, "DNAME"),
    (43, "DS"),
    (46, "RRSIG"),
    (257, "CAA"),
    (65280, "TYPE65280"),
    (255, "ANY"),
];

/// Names in tests/zones/cases (relative to example.com unless they end with a dot), one
/// or more per case of point 5; the comment says which.
pub const NAMES: &[&str] = &[
    "@",                          // apex: SOA, NS, MX, A, AAAA, TXT, CAA; NS/MX additional
    "www",                        // exact match
    "WwW.ExAmPlE.cOm.",           // qname case preserved
    "MIXEDCASE",                  // owner written in mixed case in the file
    "ns1",                        // in-zone NS target
    "mail",                       // MX target, AAAA with its own TTL
    "alias",                      // CNAME in zone
    "chain1",                     // CNAME chain of three in zone
    "outside",                    // CNAME into another served zone
    "far",                        // CNAME out of every served zone
    "dangling",                   // CNAME to a name that does not exist
    "loop1",                      // CNAME loop
    "dn",                         // DNAME owner itself
    "x.dn",                       // DNAME into another served zone
    "a.b.dn",                     // DNAME, deeper
    "dnin",                       // DNAME owner, in-zone target
    "x.dnin",                     // DNAME in zone, target exists
    "nope.dnin",                  // DNAME in zone, target does not exist
    "target",                     // DNAME target itself
    "moved.example.",             // apex DNAME: the apex keeps SOA, NS, DNAME
    "www.moved.example.",         // below an apex DNAME: redirected into example.com
    "a.b.moved.example.",         // deeper below it, to a name that does not exist
    "ns1.moved.example.",         // below it, where an NS target would be occluded
    "dnin.moved.example.",        // redirected onto a DNAME owner in example.com
    "x.dnin.moved.example.",      // and through that second DNAME
    "nonexistent",                // NXDOMAIN
    "a.b.nonexistent",            // NXDOMAIN, deeper
    "x.wild",                     // wildcard synthesis
    "y.z.wild",                   // wildcard synthesis two labels down
    "wild",                       // the wildcard's parent: empty non-terminal, NODATA
    "*.wild",                     // the wildcard itself
    "sub.wild",                   // an existing name beside the wildcard
    "x.sub.wild",                 // below an existing name: no synthesis, NXDOMAIN
    "b.wild",                     // empty non-terminal blocks the wildcard: NODATA
    "y.b.wild",                   // below the ENT: closest encloser b.wild, NXDOMAIN
    "x.b.wild",                   // existing name under the ENT
    "x.cwild",                    // wildcard CNAME to an in-zone name
    "x.dwild",                    // wildcard CNAME to a name that exists only by wildcard
    "_sip._tcp",                  // SRV with in- and out-of-zone targets
    "_tcp",                       // empty non-terminal
    "sip",                        // SRV target
    "deleg",                      // zone cut: referral, DS from the parent side
    "DeLeG",                      // zone cut, mixed case
    "x.deleg",                    // below the cut: referral
    "ns.deleg",                   // glue name itself: referral
    "a.b.deleg",                  // deeper below the cut
    "other",                      // delegation with no glue, no DS
    "x.other",                    // below it
    "multi",                      // several types at one name (ANY)
    "big",                        // > 512 bytes of TXT
    "many",                       // 100 addresses: > 1232 bytes
    "host",                       // SSHFP
    "_443._tcp.www",              // TLSA
    "svc",                        // HTTPS
    "sip2",                       // NAPTR
    "ptrname",                    // PTR
    "unknown",                    // RFC 3597 type
    "example.net.",               // the second zone's apex
    "www.example.net.",           // a name in the second zone
    "nope.example.net.",          // NXDOMAIN in the second zone
    "signed.example.",            // pre-signed zone: RRSIG RRsets of other TTLs
    "www.signed.example.",        // RRSIGs over A (TTL 300) and TXT (TTL 60)
    "4.100.51.198.in-addr.arpa.", // reverse zone: PTR
    "9.100.51.198.in-addr.arpa.", // reverse zone: NXDOMAIN
];

/// Absolute presentation form of a name of [`NAMES`].
pub fn absolute(name: &str) -> String {
    if name == "@" {
        "example.com.".to_string()
    } else if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.example.com.")
    }
}

/// Every case over tests/zones/cases.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // The matrix: every name, every type, UDP with EDNS (1232).
    for name in NAMES {
        for (qtype, tname) in QTYPES {
            let q = Query::new(&absolute(name), *qtype);
            cases.push(Case::udp(format!("{name} {tname}"), &q));
        }
    }
    // No EDNS: answers over 512 bytes are truncated (TC), small ones are not.
    for (name, qtype, tname) in [
        ("www", 1, "A"),
        ("@", 15, "MX"),
        ("big", 16, "TXT"),
        ("many", 1, "A"),
        ("@", 255, "ANY"),
        ("deleg", 1, "A"),
        ("nonexistent", 1, "A"),
    ] {
        let q = Query::new(&absolute(name), qtype).no_edns();
        cases.push(Case::udp(format!("{name} {tname} no-edns"), &q));
    }
    // Advertised sizes: below 512 (treated as 512), 512, 1232, 4096.
    for size in [100u16, 512, 1232, 4096] {
        for (name, qtype, tname) in [("many", 1, "A"), ("big", 16, "TXT")] {
            let mut q = Query::new(&absolute(name), qtype);
            q.edns = Some(Edns {
                size,
                ..Edns::default()
            });
            cases.push(Case::udp(format!("{name} {tname} edns-{size}"), &q));
        }
    }
    // EDNS version 1 (BADVERS, without and with DO), DO bit, an unknown option, NSID, a
    // cookie.
    let edns_variants: Vec<(&str, Edns)> = vec![
        (
            "edns-v1",
            Edns {
                version: 1,
                ..Edns::default()
            },
        ),
        (
            // RFC 3225 §3: DO is copied into the BADVERS answer too (Knot; NSD drops it).
            "edns-v1+do",
            Edns {
                version: 1,
                dnssec_ok: true,
                ..Edns::default()
            },
        ),
        (
            "edns-do",
            Edns {
                dnssec_ok: true,
                ..Edns::default()
            },
        ),
        (
            "edns-unknown-option",
            Edns {
                options: vec![(65001, vec![1, 2, 3])],
                ..Edns::default()
            },
        ),
        (
            "edns-nsid",
            Edns {
                options: vec![(3, vec![])],
                ..Edns::default()
            },
        ),
        (
            "edns-client-cookie",
            Edns {
                options: vec![(10, vec![1, 2, 3, 4, 5, 6, 7, 8])],
                ..Edns::default()
            },
        ),
    ];
    for (label, edns) in &edns_variants {
        for (name, qtype, tname) in [("www", 1, "A"), ("nonexistent", 1, "A"), ("deleg", 1, "A")] {
            let mut q = Query::new(&absolute(name), qtype);
            q.edns = Some(edns.clone());
            cases.push(Case::udp(format!("{name} {tname} {label}"), &q));
        }
    }
    // RD and CD are echoed; no recursion is offered (no RA).
    for (name, qtype, tname) in [("www", 1, "A"), ("www.example.invalid.", 1, "A")] {
        let mut q = Query::new(&absolute(name), qtype);
        q.rd = true;
        q.cd = true;
        cases.push(Case::udp(format!("{name} {tname} rd+cd"), &q));
    }
    // TCP: the full answer, never truncated.
    for (name, qtype, tname) in [
        ("www", 1, "A"),
        ("many", 1, "A"),
        ("big", 16, "TXT"),
        ("deleg", 1, "A"),
        ("x.wild", 1, "A"),
        ("@", 255, "ANY"),
    ] {
        let q = Query::new(&absolute(name), qtype).no_edns();
        cases.push(Case {
            label: format!("{name} {tname} tcp"),
            request: q.to_bytes(),
            transport: Transport::Tcp,
        });
    }
    // Names in no zone: REFUSED.
    for (name, qtype, tname) in [
        ("www.example.invalid.", 1, "A"),
        (".", 6, "SOA"),
        ("com.", 2, "NS"),
        ("example.org.", 1, "A"),
    ] {
        let q = Query::new(name, qtype);
        cases.push(Case::udp(format!("{name} {tname}"), &q));
    }
    // Class CH: no such zone here.
    let mut q = Query::new("www.example.com.", 1);
    q.qclass = 3;
    cases.push(Case::udp("www CH A".to_string(), &q));
    // Unknown and unimplemented opcodes: NOTIMP.
    for opcode in [1u8, 2, 3, 5, 6, 15] {
        let mut q = Query::new("www.example.com.", 1);
        q.opcode = opcode;
        cases.push(Case {
            label: format!("opcode {opcode}"),
            request: q.to_bytes(),
            transport: Transport::UdpMaybeSilent,
        });
    }
    cases.extend(malformed());
    cases
}

/// Malformed requests: FORMERR, or no answer at all for what cannot be answered.
fn malformed() -> Vec<Case> {
    let good = Query::new("www.example.com.", 1).to_bytes();
    let no_edns = Query::new("www.example.com.", 1).no_edns().to_bytes();
    let mut list: Vec<(&str, Vec<u8>)> = Vec::new();
    list.push(("short: 11 bytes", good[..11].to_vec()));
    list.push(("short: 1 byte", vec![0x42]));
    let mut response = good.clone();
    response[2] |= 0x80; // QR=1: a response, never answered
    list.push(("qr=1", response));
    let mut no_question = good[..12].to_vec();
    no_question[5] = 0;
    no_question[11] = 0;
    list.push(("qdcount=0", no_question));
    let mut two = no_edns.clone();
    two[5] = 2;
    let question = no_edns[12..].to_vec();
    two.extend_from_slice(&question);
    list.push(("qdcount=2", two));
    let mut cut = no_edns.clone();
    cut.truncate(20); // inside the question name
    list.push(("question cut short", cut));
    let mut bad_label = no_edns.clone();
    bad_label[12] = 63; // "www" label claims 63 bytes
    list.push(("label length past the end", bad_label));
    let mut pointer = no_edns[..12].to_vec();
    pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]); // name points to itself
    list.push(("compression loop in the question", pointer));
    let mut fwd = no_edns[..12].to_vec();
    fwd.extend_from_slice(&[0xc0, 0x40, 0, 1, 0, 1]); // pointer past the end
    list.push(("pointer past the end", fwd));
    let mut reserved = no_edns[..12].to_vec();
    reserved.extend_from_slice(&[0x80, 0, 0, 1, 0, 1]); // label type 10
    list.push(("reserved label type", reserved));
    let mut trailing = no_edns.clone();
    trailing.extend_from_slice(&[1, 2, 3]);
    list.push(("trailing bytes", trailing));
    let mut ancount = no_edns.clone();
    ancount[7] = 1; // claims an answer record that is not there
    list.push(("ancount=1 without the record", ancount));
    let mut two_opt = good.clone();
    two_opt[11] = 2;
    let opt = good[good.len() - 11..].to_vec();
    two_opt.extend_from_slice(&opt);
    list.push(("two OPT records", two_opt));
    let mut opt_not_root = no_edns.clone();
    opt_not_root[11] = 1;
    opt_not_root.extend_from_slice(&[1, b'x', 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    list.push(("OPT owner not root", opt_not_root));
    let mut opt_bad_len = good.clone();
    let n = opt_bad_len.len();
    opt_bad_len[n - 1] = 9; // rdlength 9 with no rdata
    list.push(("OPT rdlength past the end", opt_bad_len));
    list.push(("all zero header", vec![0u8; 12]));
    list.push(("all ones", vec![0xffu8; 40]));
    list.into_iter()
        .map(|(label, request)| Case {
            label: format!("malformed: {label}"),
            request,
            transport: Transport::UdpMaybeSilent,
        })
        .collect()
}

/// Queries for a zone known only by its records (e.g. from an AXFR of a peer): every
/// owner with each of its types, A, MX, ANY, and an NXDOMAIN name below it; the owner
/// also asked in mixed case.
pub fn cases_for_records(zone: &str, owners: &[(String, Vec<u16>)]) -> Vec<Case> {
    let mut cases = Vec::new();
    for (owner, types) in owners {
        let mut qtypes: Vec<u16> = types.clone();
        for extra in [1u16, 15, 255] {
            if !qtypes.contains(&extra) {
                qtypes.push(extra);
            }
        }
        for qtype in qtypes {
            let q = Query::new(owner, qtype);
            cases.push(Case::udp(format!("{zone}: {owner} type{qtype}"), &q));
        }
        let nx = format!("nx-{}", owner.trim_start_matches("*."));
        let q = Query::new(&nx, 1);
        cases.push(Case::udp(format!("{zone}: {nx} type1"), &q));
        let mixed: String = owner
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let q = Query::new(&mixed, 1);
        cases.push(Case::udp(format!("{zone}: {mixed} type1"), &q));
    }
    cases
}
