//! The answer path allocates nothing once its output buffer has grown: a counting
//! global allocator watches `respond` over every kind of query.
//!
//! Input: a zone with hosts, MX, a wildcard, a CNAME, a DNAME and a delegation;
//! queries of each kind over UDP and TCP, and malformed ones. Output: zero allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use dnsd::answer::{Transport, respond};
use dnsd::wire::name::Name;
use dnsd::zone::{Record, Rtype, Zone, ZoneSet};

struct Counting;

thread_local! {
    /// Allocations made by this thread: the tests run in parallel threads, and each
    /// counts only its own.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn name(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn record(owner: &str, rtype: Rtype, rdata: &[u8]) -> Record {
    Record {
        owner: name(owner),
        rtype,
        ttl: 300,
        rdata: rdata.into(),
    }
}

fn zones() -> ZoneSet {
    let mut soa = name("ns1.example.net.").as_wire().to_vec();
    soa.extend_from_slice(name("hostmaster.example.net.").as_wire());
    soa.extend_from_slice(&[0; 20]);
    let mut mx = vec![0, 10];
    mx.extend_from_slice(name("mail.example.net.").as_wire());
    let records = vec![
        record("example.net.", Rtype::SOA, &soa),
        record(
            "example.net.",
            Rtype::NS,
            name("ns1.example.net.").as_wire(),
        ),
        record("example.net.", Rtype::MX, &mx),
        record("ns1.example.net.", Rtype::A, &[198, 51, 100, 1]),
        record("mail.example.net.", Rtype::A, &[198, 51, 100, 2]),
        record("www.example.net.", Rtype::A, &[198, 51, 100, 3]),
        record("*.wild.example.net.", Rtype::A, &[198, 51, 100, 4]),
        record(
            "alias.example.net.",
            Rtype::CNAME,
            name("www.example.net.").as_wire(),
        ),
        record(
            "d.example.net.",
            Rtype::DNAME,
            name("example.net.").as_wire(),
        ),
        record(
            "sub.example.net.",
            Rtype::NS,
            name("ns.sub.example.net.").as_wire(),
        ),
        record("ns.sub.example.net.", Rtype::A, &[198, 51, 100, 5]),
    ];
    let zone = Zone::build(&name("example.net."), records).unwrap();
    ZoneSet::new().with_zone(Arc::new(zone))
}

fn query(qname: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    p.extend_from_slice(name(qname).as_wire());
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        p.extend_from_slice(&[0, 0, 41, 16, 0, 0, 0, 0x80, 0, 0, 0]);
    }
    p
}

#[test]
fn respond_does_not_allocate() {
    let zones = zones();
    let mut requests = Vec::new();
    for edns in [false, true] {
        for (qname, qtype) in [
            ("www.example.net.", 1),
            ("WWW.Example.NET.", 28),
            ("nx.example.net.", 1),
            ("example.net.", 15),
            ("example.net.", 2),
            ("example.net.", 255),
            ("x.wild.example.net.", 1),
            ("alias.example.net.", 1),
            ("www.d.example.net.", 1),
            ("a.sub.example.net.", 1),
            ("sub.example.net.", 43),
            ("www.example.com.", 1),
            ("example.net.", 252),
        ] {
            requests.push(query(qname, qtype, edns));
        }
    }
    let mut garbage = query("www.example.net.", 1, false);
    garbage[5] = 2;
    requests.push(garbage);
    requests.push(vec![0; 5]);
    let mut out = Vec::with_capacity(65_536);
    let before = allocations();
    let mut answered = 0;
    for _ in 0..10 {
        for request in &requests {
            for transport in [Transport::Udp, Transport::Tcp] {
                answered +=
                    usize::from(respond(&zones, request, &transport.into(), &mut out).is_some());
            }
        }
    }
    let made = allocations() - before;
    assert_eq!(answered, 10 * 2 * (requests.len() - 1));
    assert_eq!(made, 0, "respond allocated");
    // The counter does see allocations: a fresh buffer has to grow.
    let mut fresh = Vec::new();
    respond(&zones, &requests[0], &Transport::Udp.into(), &mut fresh);
    assert!(allocations() > before + made);
}

/// The paths a server facing the Internet adds: DNS cookies made and checked, NSID,
/// the CHAOS identity, the slip response, and the rate limiter's decision.
#[test]
fn cookies_nsid_slip_and_rate_limiting_do_not_allocate() {
    use dnsd::answer::{AnswerOptions, RequestContext, Role, slip};
    use dnsd::cookies::{Secret, Secrets};
    use dnsd::rrl::{Limiter, Settings};

    let zones = zones();
    let options = AnswerOptions {
        nsid: Some(b"ns-1".to_vec().into()),
        identity: Some(b"ns1.example.net".to_vec().into()),
        cookies: Some(Secrets::new(Secret([3; 16]), &[Secret([4; 16])])),
        ..AnswerOptions::default()
    };
    let with_options = |mut q: Vec<u8>, data: &[u8]| {
        let at = q.len() - 2;
        q[at..].copy_from_slice(&(data.len() as u16).to_be_bytes());
        q.extend_from_slice(data);
        q
    };
    let mut requests = Vec::new();
    // NSID asked; a client cookie; a client cookie with a bad server cookie.
    requests.push(with_options(
        query("www.example.net.", 1, true),
        b"\x00\x03\x00\x00",
    ));
    let mut client_only = b"\x00\x0a\x00\x08".to_vec();
    client_only.extend_from_slice(b"abcdefgh");
    requests.push(with_options(
        query("www.example.net.", 1, true),
        &client_only,
    ));
    let mut bad = b"\x00\x0a\x00\x18abcdefgh".to_vec();
    bad.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
    requests.push(with_options(query("nx.example.net.", 1, true), &bad));
    let mut chaos = query("id.server.", 16, true);
    let class_at = 12 + 11 + 2;
    chaos[class_at..class_at + 2].copy_from_slice(&3u16.to_be_bytes());
    requests.push(chaos);
    let client = "198.51.100.1:5300".parse().unwrap();
    let limiter = Limiter::new(Settings::default(), 5);
    let mut out = Vec::with_capacity(65_536);
    // A good server cookie, learnt from a first answer (outside the count).
    let context = RequestContext::new(Transport::Udp, client, 0, Role::Authoritative)
        .with_options(&options, 1000);
    respond(&zones, &requests[1], &context, &mut out).unwrap();
    let learnt = out[out.len() - 24..].to_vec();
    let mut good = b"\x00\x0a\x00\x18".to_vec();
    good.extend_from_slice(&learnt);
    requests.push(with_options(query("www.example.net.", 1, true), &good));

    let before = allocations();
    let mut answered = 0;
    for now in 1000..1010 {
        let context = RequestContext::new(Transport::Udp, client, 0, Role::Authoritative)
            .with_options(&options, now);
        for request in &requests {
            let outcome = respond(&zones, request, &context, &mut out).unwrap();
            let name = outcome.limit.name(request);
            limiter.decide(client.ip(), outcome.limit.kind, name, now);
            answered += usize::from(slip(request, &context, &outcome, &mut out).is_some());
        }
    }
    let allocations = allocations() - before;
    assert_eq!(answered, 10 * requests.len());
    assert_eq!(
        allocations, 0,
        "allocated on the cookie, NSID, slip or RRL path"
    );
}
