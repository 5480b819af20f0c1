//! A flood of garbage does not stop dnsd answering good queries (issue 2 point 10).

#[path = "dnsd_vs_nsd/cases.rs"]
#[allow(dead_code)]
mod cases;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize, udp_exchange};
use netfabric_tests::fuzz::{Rng, mutate};
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

/// 20,000 garbage datagrams (random bytes and mutated queries) while good queries keep
/// coming: every good query is answered, correctly, and dnsd is still running after.
#[test]
fn a_flood_of_garbage_does_not_stop_it_answering() {
    let zones = ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases"));
    let mut server = Server::start(Kind::Dnsd, &zones, &Options::default());
    let addr = server.addr;
    let seeds: Vec<Vec<u8>> = cases::cases().into_iter().map(|c| c.request).collect();
    let flood = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = Rng(0xf100d);
        for i in 0..20_000 {
            let input = if i % 2 == 0 {
                let len = rng.below(600);
                rng.bytes(len)
            } else {
                let a = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, a, a)
            };
            let _ = sock.send_to(&input, addr);
        }
    });
    let good = Query::new("www.example.com.", 1).to_bytes();
    let mut answered = 0;
    while !flood.is_finished() || answered < 50 {
        // A datagram lost in a full socket buffer is the kernel's doing: ask again.
        let response = (0..5)
            .find_map(|_| udp_exchange(addr, &good, Duration::from_secs(1)))
            .expect("no answer to a good query during the flood");
        let n = normalize(&response).expect("a good query's answer parses");
        assert_eq!(n.rcode, 0, "{n}");
        assert_eq!(n.answer.len(), 1, "{n}");
        answered += 1;
        assert!(answered < 100_000, "bounded");
    }
    flood.join().unwrap();
    assert!(server.is_running(), "dnsd stopped:\n{}", server.log());
    let after = udp_exchange(addr, &good, Duration::from_secs(3)).expect("answer after the flood");
    assert_eq!(normalize(&after).unwrap().rcode, 0);
    println!("{answered} good queries answered during the flood");
}
