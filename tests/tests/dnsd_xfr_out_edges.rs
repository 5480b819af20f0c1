//! Transfers out at their edges (RFC 1995, RFC 5936), on loopback:
//! - IXFR over UDP: the condensed diff in one datagram when it fits; when it does
//!   not, our SOA alone with TC (the client asks again over TCP, where it gets the
//!   whole diff); a client at our serial gets the SOA alone, over UDP and TCP; a
//!   client whose serial we have no history for gets the zone AXFR-style.
//! - A secondary that reads slowly gets the whole zone, however much longer than the
//!   TCP idle timeout the transfer takes (transfers have a write timeout of their
//!   own); one that stops reading is cut off after the write timeout, logged and
//!   counted; while it holds the only transfer slot (`max-transfers-out = 1`) another
//!   transfer is refused (REFUSED, logged, counted), and once it is cut off, served.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, tcp_recv, tcp_send};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::netns::Netns;
use netfabric_tests::xfr::{PATIENCE, zone_text};

const ZONE: &str = "example.net";

/// dig's output for `args` against `dnsd`.
fn dig(dnsd: &Dnsd, args: &[&str]) -> String {
    let mut dig = match dnsd.netns() {
        Some(ns) => ns.command(&["dig"]),
        None => std::process::Command::new("dig"),
    };
    let out = dig
        .arg(format!("@{}", dnsd.addr.ip()))
        .args(["-p", &dnsd.addr.port().to_string()])
        .args(["+nocmd", "+nostats", "+comments"])
        .args(args)
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of dig's answer: (type, serial for an SOA).
fn records(text: &str) -> Vec<(String, Option<u32>)> {
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let rtype = f.get(3)?.to_string();
            let serial = (rtype == "SOA").then(|| f.get(6)?.parse().ok()).flatten();
            Some((rtype, serial))
        })
        .collect()
}

/// The header flags dig printed (";; flags: qr aa tc; QUERY...").
fn flags(text: &str) -> Vec<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(";; flags: "))
        .and_then(|l| l.split(';').next())
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn soa(serial: u32) -> (String, Option<u32>) {
    ("SOA".to_string(), Some(serial))
}

fn write_zone(dnsd: &mut Dnsd, text: &str, serial: u32) {
    let path = dnsd.zones_dir().join(format!("{ZONE}.zone"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, &path).expect("rename zone");
    dnsd.wait_for(&format!("serial {serial}"), |d| {
        d.soa_serial(ZONE) == Some(serial)
    });
}

#[test]
fn ixfr_over_udp_is_one_datagram_when_it_fits_else_the_soa_with_tc() {
    let first = zone_text(1, 300, 0);
    let mut dnsd = Dnsd::builder()
        .keep_serials()
        .metrics()
        .zone(ZONE, &first)
        .config("[xfr]\nallow-transfer = [{ from = \"127.0.0.0/8\" }]\n")
        .start();
    // A one-record edit: its IXFR fits a datagram.
    let second = format!(
        "{}small TXT \"one line\"\n",
        first.replace("hostmaster 1 3600", "hostmaster 2 3600")
    );
    write_zone(&mut dnsd, &second, 2);
    let udp = dig(&dnsd, &["+notcp", "IXFR=1", "example.net."]);
    assert!(!flags(&udp).contains(&"tc".to_string()), "{udp}");
    assert_eq!(
        records(&udp),
        vec![soa(2), soa(1), soa(2), ("TXT".into(), None), soa(2)],
        "{udp}"
    );
    assert!(udp.contains("\"one line\""), "{udp}");
    // An edit of every address: too large for a datagram.
    write_zone(&mut dnsd, &zone_text(3, 300, 3), 3);
    let udp = dig(&dnsd, &["+notcp", "+ignore", "IXFR=2", "example.net."]);
    assert!(flags(&udp).contains(&"tc".to_string()), "{udp}");
    assert_eq!(records(&udp), vec![soa(3)], "{udp}");
    // Over TCP, the whole condensed diff: SOA 3, SOA 2, removed, SOA 3, added, SOA 3.
    let tcp = dig(&dnsd, &["+tcp", "IXFR=2", "example.net."]);
    let got = records(&tcp);
    let soas: Vec<&(String, Option<u32>)> = got.iter().filter(|r| r.0 == "SOA").collect();
    assert_eq!(soas, vec![&soa(3), &soa(2), &soa(3), &soa(3)], "{tcp}");
    assert!(got.len() > 300, "{} records:\n{tcp}", got.len());
    // A client at our serial (or ahead of it): our SOA alone, no TC.
    for transport in ["+notcp", "+tcp"] {
        for serial in ["IXFR=3", "IXFR=4"] {
            let text = dig(&dnsd, &[transport, serial, "example.net."]);
            assert_eq!(
                records(&text),
                vec![soa(3)],
                "{transport} {serial}:\n{text}"
            );
            assert!(!flags(&text).contains(&"tc".to_string()), "{text}");
        }
    }
    // No history from serial 0 (RFC 1995 §4): the zone AXFR-style, SOA first and
    // last, every record between.
    let axfr_style = records(&dig(&dnsd, &["+tcp", "IXFR=0", "example.net."]));
    let axfr = records(&dig(&dnsd, &["+tcp", "AXFR", "example.net."]));
    assert_eq!(axfr_style.first(), Some(&soa(3)));
    assert_eq!(axfr_style.last(), Some(&soa(3)));
    assert_eq!(
        axfr_style.iter().filter(|r| r.0 == "SOA").count(),
        2,
        "AXFR-style, not a diff"
    );
    assert_eq!(axfr_style.len(), axfr.len());
}

/// A TCP connection to `dnsd` whose receive buffer is small, so that what it does not
/// read soon stops dnsd's writes.
fn narrow_connection(dnsd: &Dnsd) -> TcpStream {
    let addr = dnsd.addr;
    let conn = dnsd.run_in(move || -> std::io::Result<TcpStream> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.set_recv_buffer_size(4096)?;
        socket.connect_timeout(&addr.into(), PATIENCE)?;
        Ok(socket.into())
    });
    let conn = conn.unwrap_or_else(|e| panic!("connect: {e}\n{}", dnsd.log()));
    conn.set_read_timeout(Some(PATIENCE)).expect("timeout");
    conn
}

fn axfr_request() -> Vec<u8> {
    Query::new("example.net.", 252).no_edns().to_bytes()
}

/// Reads an AXFR from `conn`, `chunk` bytes at a time with `pause` after each, until
/// its closing SOA or the end of the connection: the records read and whether the
/// closing SOA came.
fn read_transfer(conn: &mut TcpStream, chunk: usize, pause: Duration) -> (usize, bool) {
    let mut input: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; chunk];
    let (mut records, mut soas) = (0usize, 0usize);
    loop {
        while input.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([input[0], input[1]]));
            if input.len() < 2 + len {
                break;
            }
            let msg = hickory_proto::op::Message::from_vec(&input[2..2 + len])
                .expect("a transfer message parses");
            assert_eq!(u16::from(msg.metadata.response_code), 0, "{msg:?}");
            for r in &msg.answers {
                records += 1;
                if r.record_type() == hickory_proto::rr::RecordType::SOA {
                    soas += 1;
                }
            }
            input.drain(..2 + len);
            if soas == 2 {
                return (records, true);
            }
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return (records, false),
            Ok(n) => input.extend_from_slice(&buf[..n]),
        }
        std::thread::sleep(pause);
    }
}

fn counter(dnsd: &Dnsd, needle: &str) -> u64 {
    dnsd.scrape()
        .lines()
        .filter(|l| l.starts_with("dnsd_xfr_out_total{") && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_slow_secondary_is_served_a_stalled_one_cut_off_and_transfers_are_limited() {
    // A namespace whose TCP send buffers stay at 4 KiB (loopback's default grows
    // them to MiBs, which would hold the whole zone): what the secondary does not
    // read stops dnsd's writes.
    let ns = Arc::new(Netns::new("nf-xfr-edges"));
    ns.exec_ok(&["sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 4096 4096"]);
    let addr: SocketAddr = "127.0.0.1:53".parse().expect("address");
    let mut dnsd = Dnsd::builder()
        .in_netns(ns)
        .listen(addr)
        .keep_serials()
        .metrics()
        .zone(ZONE, &zone_text(1, 20_000, 0))
        .config(
            "[tcp]\nidle-timeout-ms = 50\n\
             [xfr]\nallow-transfer = [{ from = \"127.0.0.0/8\" }]\n\
             write-timeout-ms = 10000\nmax-transfers-out = 1\n",
        )
        .start();
    let whole = records(&dig(&dnsd, &["+tcp", "AXFR", "example.net."])).len();
    assert!(whole > 20_000, "{whole} records");

    // Slow: 2 KiB every 5 ms, seconds for the zone, far beyond the idle timeout.
    let mut slow = narrow_connection(&dnsd);
    tcp_send(&mut slow, &axfr_request()).expect("send");
    let started = Instant::now();
    let (read, complete) = read_transfer(&mut slow, 2048, Duration::from_millis(5));
    assert!(
        complete && read == whole,
        "the slow secondary got {read} of {whole} records\n{}",
        dnsd.log()
    );
    assert!(started.elapsed() > Duration::from_millis(500));

    // Stalled: it reads the first message, then nothing.
    let mut stalled = narrow_connection(&dnsd);
    tcp_send(&mut stalled, &axfr_request()).expect("send");
    let first = tcp_recv(&mut stalled).expect("the first message of the transfer");
    assert_eq!(first[3] & 0x0f, 0, "NOERROR");
    // It holds the only slot: another secondary is refused meanwhile.
    let mut other = dnsd.run_in(|| TcpStream::connect(addr)).expect("connect");
    other.set_read_timeout(Some(PATIENCE)).expect("timeout");
    tcp_send(&mut other, &axfr_request()).expect("send");
    let refused = tcp_recv(&mut other).expect("an answer");
    assert_eq!(refused[3] & 0x0f, 5, "REFUSED: {refused:?}\n{}", dnsd.log());
    assert!(
        dnsd.log()
            .contains("transfer refused: max-transfers-out reached"),
        "{}",
        dnsd.log()
    );
    assert!(counter(&dnsd, "result=\"refused\"") >= 1);
    // Cut off after the write timeout, logged and counted.
    dnsd.wait_for("the stalled transfer cut off", |d| {
        d.log().contains("transfer out failed: write timeout")
    });
    assert!(counter(&dnsd, "type=\"axfr\",result=\"error\"") >= 1);
    let (_, complete) = read_transfer(&mut stalled, 1 << 16, Duration::ZERO);
    assert!(!complete, "the stalled secondary was not cut off");
    // The slot is free again.
    let mut after = narrow_connection(&dnsd);
    tcp_send(&mut after, &axfr_request()).expect("send");
    let (read, complete) = read_transfer(&mut after, 1 << 16, Duration::ZERO);
    assert!(
        complete && read == whole,
        "{read} of {whole}\n{}",
        dnsd.log()
    );
}
