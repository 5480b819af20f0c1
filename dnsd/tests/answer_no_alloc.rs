//! The answer path allocates nothing once its output buffer has grown: a counting
//! global allocator watches `respond` over every kind of query.
//!
//! Input: a zone with hosts, MX, a wildcard, a CNAME, a DNAME and a delegation;
//! queries of each kind over UDP and TCP, and malformed ones. Output: zero allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dnsd::answer::{Transport, respond};
use dnsd::wire::name::Name;
use dnsd::zone::{Record, Rtype, Zone, ZoneSet};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut answered = 0;
    for _ in 0..10 {
        for request in &requests {
            for transport in [Transport::Udp, Transport::Tcp] {
                answered +=
                    usize::from(respond(&zones, request, &transport.into(), &mut out).is_some());
            }
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(answered, 10 * 2 * (requests.len() - 1));
    assert_eq!(allocations, 0, "respond allocated");
    // The counter does see allocations: a fresh buffer has to grow.
    let mut fresh = Vec::new();
    respond(&zones, &requests[0], &Transport::Udp.into(), &mut fresh);
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before + allocations);
}
