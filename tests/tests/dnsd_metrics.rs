//! dnsd's metrics, driven through the real binary and read from its endpoint, as a
//! Prometheus server scrapes them: queries by transport, rcode and type; requests
//! dropped and responses truncated; the TCP connection gauge, refusals and idle
//! timeouts; zones, records per zone, and the records of each change's diff.
//!
//! Input: requests sent to dnsd on a loopback address, zone files edited in its folder.
//! Output: the scraped series, compared with what the test sent or changed. Counters
//! that the server updates after it answers (a connection's close) are polled until
//! they reach the expected value, within a bounded wait that fails with the log.

use std::net::UdpSocket;
use std::time::Duration;

use netfabric_tests::dns::{Query, tcp_exchange, tcp_recv, tcp_send, udp_exchange};
use netfabric_tests::dnsd::{Dnsd, front_zone, metric};

const TIMEOUT: Duration = Duration::from_secs(5);

/// dnsd serving the front zone, with metrics and `config`.
fn start(config: &str) -> Dnsd {
    Dnsd::builder()
        .zone("front.test", &front_zone())
        .metrics()
        .config(config)
        .start()
}

/// A series' value in `text`, 0 when absent (a counter not rendered before its first
/// increment).
fn count(text: &str, series: &str) -> u64 {
    metric(text, series).unwrap_or(0)
}

#[test]
fn queries_are_counted_by_transport_rcode_and_type() {
    let dnsd = start("");
    let udp_a = "dnsd_queries_total{transport=\"udp\",rcode=\"NOERROR\",qtype=\"A\"}";
    let tcp_a = "dnsd_queries_total{transport=\"tcp\",rcode=\"NOERROR\",qtype=\"A\"}";
    let before = dnsd.scrape();
    let query = Query::new("www.front.test.", 1).to_bytes();
    for _ in 0..3 {
        // One try each: a retry would count twice.
        udp_exchange(dnsd.addr, &query, TIMEOUT).expect("an answer over UDP");
    }
    tcp_exchange(dnsd.addr, &query, TIMEOUT).unwrap();
    let after = dnsd.scrape();
    assert_eq!(count(&after, udp_a), count(&before, udp_a) + 3, "{after}");
    assert_eq!(count(&after, tcp_a), count(&before, tcp_a) + 1, "{after}");
    assert!(
        after.contains("dnsd_zone_served_serial{zone=\"front.test.\"} "),
        "{after}"
    );
    assert!(
        after.contains("dnsd_zone_reloads_total{zone=\"front.test.\"} 1"),
        "{after}"
    );
    assert!(
        after.contains("dnsd_response_bytes_bucket{transport=\"udp\",le=\"+Inf\"}"),
        "{after}"
    );
}

/// Requests that get no answer are counted as dropped, answers sent with TC as
/// truncated, per transport. One UDP worker and one client socket: dnsd reads that
/// socket's datagrams in order, so once the good query that follows the bad ones is
/// answered, the bad ones have been counted.
#[test]
fn dropped_requests_and_truncated_responses_are_counted() {
    let dnsd = start("[udp]\nworkers = 1\n");
    let dropped_udp = "dnsd_queries_dropped_total{transport=\"udp\"}";
    let dropped_tcp = "dnsd_queries_dropped_total{transport=\"tcp\"}";
    let truncated_udp = "dnsd_responses_truncated_total{transport=\"udp\"}";
    let truncated_tcp = "dnsd_responses_truncated_total{transport=\"tcp\"}";
    let before = dnsd.scrape();

    let good = Query::new("www.front.test.", 1).to_bytes();
    let mut qr_set = good.clone();
    qr_set[2] |= 0x80;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(dnsd.addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    for bad in [
        &qr_set[..],
        &qr_set[..],
        &qr_set[..],
        &good[..11],
        &[0x42][..],
    ] {
        sock.send(bad).unwrap();
    }
    sock.send(&good).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no answer to the good query after 5 bad ones: {e}"));
    assert_eq!(
        buf[..2],
        good[..2],
        "the first datagram back answers the good query"
    );
    assert!(n > 12, "a header and more");
    // Truncated: 40 big TXT records without EDNS; over TCP the same query is whole.
    let big = Query::new("big.front.test.", 16).no_edns().to_bytes();
    sock.send(&big).unwrap();
    let n = sock.recv(&mut buf).expect("an answer to big TXT");
    assert!(buf[2] & 0x02 != 0, "TC set on {n} octets");
    tcp_exchange(dnsd.addr, &big, TIMEOUT).unwrap();
    // Over TCP: a message with QR set is dropped; the next on the connection answered.
    let mut conn = dnsd.tcp_connect(TIMEOUT);
    tcp_send(&mut conn, &qr_set).unwrap();
    tcp_send(&mut conn, &good).unwrap();
    let response = tcp_recv(&mut conn).expect("an answer to the good query over TCP");
    assert_eq!(response[..2], good[..2]);

    let after = dnsd.scrape();
    for (series, more) in [
        (dropped_udp, 5),
        (dropped_tcp, 1),
        (truncated_udp, 1),
        (truncated_tcp, 0),
    ] {
        assert_eq!(
            count(&after, series),
            count(&before, series) + more,
            "{series}\n{after}"
        );
    }
}

/// The connection gauge follows connections opening and closing; a connection beyond
/// `max-connections` is refused and counted.
#[test]
fn tcp_connections_are_gauged_and_refusals_counted() {
    // An idle timeout far longer than the test, so that no connection closes by itself.
    let mut dnsd = start("[tcp]\nmax-connections = 2\nidle-timeout-ms = 3600000\n");
    let gauge = "dnsd_tcp_connections";
    let refused = "dnsd_tcp_connections_refused_total";
    assert_eq!(dnsd.metric(gauge), Some(0));
    assert_eq!(dnsd.metric(refused), Some(0));
    let query = Query::new("www.front.test.", 1).to_bytes();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = dnsd.tcp_connect(TIMEOUT);
        tcp_send(&mut conn, &query).unwrap();
        tcp_recv(&mut conn).unwrap();
        held.push(conn);
    }
    dnsd.wait_for("dnsd_tcp_connections 2", |d| d.metric(gauge) == Some(2));
    let mut third = dnsd.tcp_connect(TIMEOUT);
    let _ = tcp_send(&mut third, &query);
    assert!(
        tcp_recv(&mut third).is_err(),
        "a connection beyond the limit was served"
    );
    dnsd.wait_for("one refusal counted", |d| d.metric(refused) == Some(1));
    assert_eq!(
        dnsd.metric(gauge),
        Some(2),
        "a refused connection is not gauged"
    );
    drop(held.pop());
    dnsd.wait_for("dnsd_tcp_connections 1 after a close", |d| {
        d.metric(gauge) == Some(1)
    });
    held.clear();
    dnsd.wait_for("dnsd_tcp_connections 0 after every close", |d| {
        d.metric(gauge) == Some(0)
    });
    assert_eq!(dnsd.metric(refused), Some(1));
}

/// Connections closed for idleness are counted, whether they sent a query or not,
/// and leave the gauge.
#[test]
fn tcp_idle_timeouts_are_counted() {
    let mut dnsd = start("[tcp]\nidle-timeout-ms = 300\n");
    let timeouts = "dnsd_tcp_idle_timeouts_total";
    assert_eq!(dnsd.metric(timeouts), Some(0));
    let silent = [dnsd.tcp_connect(TIMEOUT), dnsd.tcp_connect(TIMEOUT)];
    let mut asked = dnsd.tcp_connect(TIMEOUT);
    tcp_send(&mut asked, &Query::new("www.front.test.", 1).to_bytes()).unwrap();
    tcp_recv(&mut asked).unwrap();
    dnsd.wait_for("3 idle timeouts counted", |d| d.metric(timeouts) == Some(3));
    dnsd.wait_for("dnsd_tcp_connections 0", |d| {
        d.metric("dnsd_tcp_connections") == Some(0)
    });
    drop(silent);
}

/// `dnsd_zones` and `dnsd_zone_records` follow the zones served; a change adds its
/// diff's records to `dnsd_zone_diff_records_total` (the old and new SOA included, as
/// IXFR carries them).
#[test]
fn zone_records_and_diff_records_are_counted() {
    let mut dnsd = Dnsd::builder()
        .zone("front.test", &front_zone())
        .metrics()
        .keep_serials()
        .start();
    let records = "dnsd_zone_records{zone=\"front.test.\"}";
    let removed = "dnsd_zone_diff_records_total{zone=\"front.test.\",op=\"removed\"}";
    let added = "dnsd_zone_diff_records_total{zone=\"front.test.\",op=\"added\"}";
    let changes = "dnsd_zone_changes_total{zone=\"front.test.\"}";
    let text = dnsd.scrape();
    // SOA, NS, ns1 A, www A and 40 TXT.
    assert_eq!(metric(&text, "dnsd_zones"), Some(1), "{text}");
    assert_eq!(metric(&text, records), Some(44), "{text}");
    assert_eq!(count(&text, removed), 0, "{text}");
    assert_eq!(count(&text, added), 0, "{text}");

    // A second zone.
    let other = "$ORIGIN other.test.\n$TTL 300\n@ SOA ns1 h 1 3600 900 604800 300\n\
                 @ NS ns1\nns1 A 127.0.0.1\n";
    std::fs::write(dnsd.zones_dir().join("other.test.zone"), other).unwrap();
    dnsd.wait_for("dnsd_zones 2", |d| d.metric("dnsd_zones") == Some(2));
    assert_eq!(
        dnsd.metric("dnsd_zone_records{zone=\"other.test.\"}"),
        Some(3)
    );

    // www's address goes, two names come, the serial goes up: 2 removed (old SOA,
    // www A), 3 added (new SOA, two A).
    let changed = front_zone().replace("2024010101", "2024010102").replace(
        "www A 198.51.100.10\n",
        "new1 A 198.51.100.11\nnew2 A 198.51.100.12\n",
    );
    std::fs::write(dnsd.zones_dir().join("front.test.zone"), changed).unwrap();
    dnsd.wait_for("the change counted", |d| d.metric(changes) == Some(1));
    let text = dnsd.scrape();
    assert_eq!(metric(&text, records), Some(45), "{text}");
    assert_eq!(metric(&text, removed), Some(2), "{text}");
    assert_eq!(metric(&text, added), Some(3), "{text}");

    std::fs::remove_file(dnsd.zones_dir().join("other.test.zone")).unwrap();
    dnsd.wait_for("dnsd_zones 1", |d| d.metric("dnsd_zones") == Some(1));
    let text = dnsd.scrape();
    assert_eq!(
        metric(&text, "dnsd_zone_records{zone=\"other.test.\"}"),
        None,
        "{text}"
    );
}
