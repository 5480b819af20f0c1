//! The largest UDP response, globally and per listener (issue 14, point 5): a listener
//! with `udp-max-response-size = 512` truncates an answer that another listener of the
//! same dnsd sends whole, and advertises 512 as its EDNS payload size; TCP is never
//! bound by it.

use std::time::Duration;

use netfabric_tests::dns::{Edns, Query, normalize, tcp_exchange, udp_exchange};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::servers::free_port;

/// A zone with a TXT RRset of about 900 octets: more than 512, less than 1232.
fn zone() -> String {
    let mut z = String::from(
        "$ORIGIN size.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n\
         @ NS ns\nns A 198.51.100.1\n",
    );
    for i in 0..9 {
        z.push_str(&format!("big TXT \"{i}{}\"\n", "x".repeat(90)));
    }
    z
}

/// Input: the same EDNS query (payload 4096) for the big TXT RRset to dnsd's default
/// listener (global size 1232) and to a listener configured with 512. Output: whole
/// from the first, advertising 1232; truncated (TC, no answer) from the second,
/// advertising 512; whole over TCP from the second.
#[test]
fn a_listener_with_its_own_udp_size_truncates_what_another_sends_whole() {
    let small = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dnsd = Dnsd::builder()
        .zone("size.test", &zone())
        .config(&format!(
            "udp-max-response-size = 1232\n\
             [[listener]]\naddress = \"{small}\"\nudp-max-response-size = 512\n"
        ))
        .start();
    let mut query = Query::new("big.size.test.", 16);
    query.edns = Some(Edns {
        size: 4096,
        ..Edns::default()
    });
    let bytes = query.to_bytes();

    let whole = udp_exchange(dnsd.addr, &bytes, Duration::from_secs(2))
        .and_then(|r| normalize(&r).ok())
        .unwrap_or_else(|| panic!("no answer from {}\n{}", dnsd.addr, dnsd.log()));
    assert!(!whole.flags.contains("tc"), "{whole:?}");
    assert_eq!(whole.answer.values().map(Vec::len).sum::<usize>(), 9);
    assert_eq!(whole.edns_size, Some(1232));

    let raw = udp_exchange(small, &bytes, Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no answer from {small}\n{}", dnsd.log()));
    assert!(
        raw.len() <= 512,
        "{} octets over UDP from {small}",
        raw.len()
    );
    let truncated = normalize(&raw).expect("a DNS message");
    assert!(truncated.flags.contains("tc"), "{truncated:?}");
    assert_eq!(truncated.edns_size, Some(512));

    let over_tcp = tcp_exchange(small, &bytes, Duration::from_secs(2))
        .ok()
        .and_then(|r| normalize(&r).ok())
        .expect("an answer over TCP");
    assert!(!over_tcp.flags.contains("tc"));
    assert_eq!(over_tcp.answer.values().map(Vec::len).sum::<usize>(), 9);
}
