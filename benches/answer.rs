//! Micro-benchmark of the answer engine alone: `dnsd::answer::respond` called in a loop
//! on a zone of 10,000 names (`--names N` for another size), no sockets. Prints wall and
//! thread-CPU nanoseconds per query for each kind of query.
//! Run: `cargo bench -p dnsd --bench answer [-- [--names N] [FILTER]]`.
//!
//! This is the server's own share of the CPU time per query; the kernel's share (1.6 to
//! 2.7 µs here, shared/BENCHMARKING.md) comes on top, and dnsperf against the real
//! binaries (benches/dnsd_qps.rs) measures the whole.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use dnsd::answer::{Transport, respond};
use dnsd::wire::name::Name;
use dnsd::zone::{Record, Rtype, Zone, ZoneSet};

const DEFAULT_NAMES: usize = 10_000;
const ROUNDS: usize = 2_000_000;

fn name(text: &str) -> Name {
    Name::from_text(text, None).expect("valid name")
}

fn record(owner: &str, rtype: Rtype, rdata: Vec<u8>) -> Record {
    Record {
        owner: name(owner),
        rtype,
        ttl: 3600,
        rdata: rdata.into(),
    }
}

/// example.net with NAMES hosts (A, every other one AAAA too), MX, a wildcard, a CNAME
/// and a delegation.
fn zones(names: usize) -> ZoneSet {
    let mut soa = name("ns1.example.net.").as_wire().to_vec();
    soa.extend_from_slice(name("hostmaster.example.net.").as_wire());
    for v in [1u32, 3600, 900, 604800, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut records = vec![
        record("example.net.", Rtype::SOA, soa),
        record(
            "example.net.",
            Rtype::NS,
            name("ns1.example.net.").as_wire().to_vec(),
        ),
        record(
            "example.net.",
            Rtype::NS,
            name("ns2.example.net.").as_wire().to_vec(),
        ),
        record("ns1.example.net.", Rtype::A, vec![198, 51, 100, 1]),
        record("ns2.example.net.", Rtype::A, vec![198, 51, 100, 2]),
        record("*.wild.example.net.", Rtype::A, vec![198, 51, 100, 3]),
        record(
            "alias.example.net.",
            Rtype::CNAME,
            name("host42.example.net.").as_wire().to_vec(),
        ),
        record(
            "sub.example.net.",
            Rtype::NS,
            name("ns.sub.example.net.").as_wire().to_vec(),
        ),
        record("ns.sub.example.net.", Rtype::A, vec![198, 51, 100, 4]),
    ];
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend_from_slice(name("mail.example.net.").as_wire());
    records.push(record("example.net.", Rtype::MX, mx));
    records.push(record("mail.example.net.", Rtype::A, vec![198, 51, 100, 5]));
    for i in 0..names {
        let owner = format!("host{i}.example.net.");
        let ip = (i as u32).to_be_bytes();
        records.push(record(&owner, Rtype::A, vec![10, ip[1], ip[2], ip[3]]));
        if i % 2 == 0 {
            let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0];
            v6.extend_from_slice(&ip);
            records.push(record(&owner, Rtype::AAAA, v6));
        }
    }
    let zone = Zone::build(&name("example.net."), records).expect("zone builds");
    ZoneSet::new().with_zone(Arc::new(zone))
}

fn query(qname: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    p.extend_from_slice(name(qname).as_wire());
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        p.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    }
    p
}

/// CPU time of this thread, in nanoseconds: unlike wall time, it does not count the
/// time other processes take the core from us (this machine is shared).
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Runs `queries` round-robin ROUNDS times; returns (wall, CPU) ns per query.
fn measure(zones: &ZoneSet, queries: &[Vec<u8>]) -> (f64, f64) {
    let mut out = Vec::with_capacity(65_536);
    // Warm up caches and `out`'s capacity.
    for q in queries.iter().cycle().take(100_000) {
        black_box(respond(zones, q, &Transport::Udp.into(), &mut out));
    }
    let started = Instant::now();
    let cpu = thread_cpu_ns();
    for q in queries.iter().cycle().take(ROUNDS) {
        black_box(respond(
            black_box(zones),
            black_box(q),
            &Transport::Udp.into(),
            &mut out,
        ));
    }
    let cpu = thread_cpu_ns() - cpu;
    (
        started.elapsed().as_nanos() as f64 / ROUNDS as f64,
        cpu as f64 / ROUNDS as f64,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names = args
        .iter()
        .position(|a| a == "--names")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_NAMES);
    let zones = zones(names);
    // Queries over the whole zone, in a scrambled order, as dnsperf's would be (at most
    // 100,000 distinct ones).
    let distinct = names.min(100_000);
    let hosts: Vec<usize> = (0..distinct).map(|i| (i * 7919) % names).collect();
    let a: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("host{i}.example.net."), 1, true))
        .collect();
    let a_plain: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("host{i}.example.net."), 1, false))
        .collect();
    let aaaa: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("HOST{i}.Example.Net."), 28, true))
        .collect();
    let nx: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("nx{i}.example.net."), 1, true))
        .collect();
    let wild: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("w{i}.wild.example.net."), 1, true))
        .collect();
    let referral: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("h{i}.sub.example.net."), 1, true))
        .collect();
    let refused: Vec<Vec<u8>> = hosts
        .iter()
        .map(|i| query(&format!("h{i}.example.com."), 1, true))
        .collect();
    let fixed = |q: Vec<u8>| vec![q];
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("A, existing name, EDNS", a.clone()),
        ("A, existing name, no EDNS", a_plain),
        ("AAAA, mixed-case qname (NODATA for odd hosts)", aaaa),
        ("NXDOMAIN", nx),
        ("wildcard", wild),
        ("referral with glue", referral),
        ("REFUSED (no zone)", refused),
        (
            "MX at apex + additional",
            fixed(query("example.net.", 15, true)),
        ),
        (
            "NS at apex + additional",
            fixed(query("example.net.", 2, true)),
        ),
        ("CNAME chain", fixed(query("alias.example.net.", 1, true))),
    ];
    // `cargo bench --bench answer -- WORD` runs the cases whose label holds WORD.
    let filter: Option<&String> = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--names"))
        .map(|(_, a)| a);
    println!("answer engine, zone of {names} names, {ROUNDS} queries per case");
    println!("    wall      cpu  (ns/query)");
    for (label, queries) in &cases {
        if filter.is_some_and(|f| !label.contains(f.as_str())) {
            continue;
        }
        let (wall, cpu) = measure(&zones, queries);
        println!("{wall:>8.0} {cpu:>8.0}  {label}");
    }
}
