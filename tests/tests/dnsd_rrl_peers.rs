//! Response rate limiting spares real secondaries: in the "home" and "vps"
//! namespaces (non-loopback addresses, where rate limiting is on by default), a
//! secondary listed in the zone's allow-transfer (198.18.0.2) polls the SOA far above
//! the rate and gets every answer in full, while a flood of the same query from a
//! neighbour in the same /24 (198.18.0.3, one bucket with the secondary) is slipped
//! and dropped. With `exempt-transfer-peers = false` the secondary is limited too.

use std::net::SocketAddr;

use netfabric_tests::dns::Query;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::rrl::{Counts, flood};
use netfabric_tests::xfr::{HOME, HomeVps};

fn zone() -> String {
    let mut text = String::from(
        "$ORIGIN rrl.test.\n$TTL 300\n@ SOA ns h 1 3600 600 86400 300\n@ NS ns\nns A 198.18.0.1\n",
    );
    for i in 0..1000 {
        text.push_str(&format!("s{i} A 198.51.100.2\n"));
    }
    text
}

/// 400 SOA queries (10 batches of 40) from `source`, probes `s{first}...`.
fn poll(net: &HomeVps, source: &str, first: usize) -> Counts {
    let server = SocketAddr::new(HOME, 53);
    let source: SocketAddr = format!("{source}:0").parse().expect("source");
    let soa = Query::new("rrl.test.", 6);
    net.vps
        .run_in(|| {
            flood(
                server,
                source,
                &soa,
                10,
                40,
                |b| format!("s{}.rrl.test.", first + b),
                |_| {},
            )
        })
        .0
}

fn run(exempt_peers: bool) -> (Counts, Counts, String) {
    let net = HomeVps::new();
    net.vps
        .exec_ok(&["ip", "addr", "add", "198.18.0.3/24", "dev", "to-home"]);
    let dnsd = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .zone("rrl.test", &zone())
        .config(&format!(
            "[rrl]\nresponses-per-second = 5\nslip = 2\nexempt-transfer-peers = {exempt_peers}\n\
             [xfr]\nallow-transfer = [{{ from = \"198.18.0.2\" }}]\n"
        ))
        .start();
    let flooder = poll(&net, "198.18.0.3", 0);
    let secondary = poll(&net, "198.18.0.2", 100);
    (flooder, secondary, dnsd.log())
}

#[test]
fn a_secondary_in_allow_transfer_is_never_rate_limited_while_its_neighbour_is() {
    let (flooder, secondary, log) = run(true);
    assert!(
        flooder.limited() > 0 && flooder.truncated > 0,
        "the flood was not limited: {flooder:?}\n{log}"
    );
    assert_eq!(
        secondary.limited(),
        0,
        "the secondary was limited: {secondary:?}\n{log}"
    );
    assert!(
        log.contains("rate limiting exempts the transfer peers"),
        "{log}"
    );
    // Turned off, the secondary shares its neighbour's bucket.
    let (_, secondary, log) = run(false);
    assert!(
        secondary.limited() > 0,
        "not limited without the exemption: {secondary:?}\n{log}"
    );
}
