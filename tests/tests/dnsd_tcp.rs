//! dnsd over TCP (RFC 7766 §8): a message whose length prefix and body arrive in small
//! pieces is answered, and the connection stays open. Frames that get no answer
//! (empty ones, QR=1 headers) do not keep a connection open (§6.2.3, §10): their
//! senders are closed and counted, while one such frame among queries is forgiven.
//! (Pipelining, the idle timeout and the connection limit are in dnsd_front.rs.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, tcp_recv, tcp_send};
use netfabric_tests::dnsd::{Dnsd, PATIENCE, front_zone};
use netfabric_tests::servers::ZoneFile;

/// dnsd serving the case zones.
fn start() -> Dnsd {
    let mut builder = Dnsd::builder();
    for zone in ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases")) {
        builder = builder.zone_file(&zone);
    }
    builder.start()
}

#[test]
fn a_message_split_across_writes_is_answered() {
    let server = start();
    let mut conn = server.tcp_connect(Duration::from_secs(5));
    conn.set_nodelay(true).unwrap();
    let q = Query::new("www.example.com.", 1).to_bytes();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    for chunk in framed.chunks(5) {
        conn.write_all(chunk).unwrap();
        conn.flush().unwrap();
    }
    let n = normalize(&tcp_recv(&mut conn).unwrap()).unwrap();
    assert_eq!(n.rcode, 0, "{n}");
    assert_eq!(n.answer.len(), 1, "{n}");
    // The connection stays open for the next query.
    tcp_send(&mut conn, &q).unwrap();
    assert_eq!(normalize(&tcp_recv(&mut conn).unwrap()).unwrap().rcode, 0);
}

/// The idle timeout of the abuse tests.
const IDLE: Duration = Duration::from_secs(2);

/// What became of a connection that kept sending one frame every `IDLE / 10`.
#[derive(Debug, PartialEq)]
enum Fate {
    /// The server closed it after this many frames.
    Closed(usize),
    /// Still open after [`PATIENCE`] (15 idle timeouts) and this many frames.
    Open(usize),
}

/// Sends `frame` (length prefix included) on `conn` every `IDLE / 10`, reading in
/// between, until the server closes the connection or [`PATIENCE`] has passed.
fn keep_sending(conn: &mut TcpStream, frame: &[u8]) -> Fate {
    conn.set_read_timeout(Some(IDLE / 10)).unwrap();
    let start = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; 512];
    while start.elapsed() < PATIENCE {
        if conn.write_all(frame).is_err() {
            return Fate::Closed(sent);
        }
        sent += 1;
        // The read is the pause: nothing comes back but the close.
        match conn.read(&mut buf) {
            Ok(0) => return Fate::Closed(sent),
            Ok(n) => panic!("{n} octets back for a frame that deserves no answer"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Fate::Closed(sent),
        }
    }
    Fate::Open(sent)
}

/// Input: with a 2 s idle timeout, one client sends an empty frame every 200 ms,
/// another a QR=1 header (a response) every 200 ms, a third alternates a QR=1 header
/// and a query ten times. Output: the first two are closed (within 15 idle timeouts:
/// dnsd closes at the third frame, but the test asks only that they be closed), and
/// counted in `dnsd_tcp_unanswered_closes_total`; the third gets every answer and
/// stays open.
#[test]
fn frames_that_get_no_answer_do_not_keep_a_connection_open() {
    let mut dnsd = Dnsd::builder()
        .zone("front.test", &front_zone())
        .metrics()
        .config(&format!("[tcp]\nidle-timeout-ms = {}\n", IDLE.as_millis()))
        .start();
    let query = Query::new("www.front.test.", 1).to_bytes();
    let mut response_header = query[..12].to_vec();
    response_header[2] |= 0x80; // QR=1
    let framed = |message: &[u8]| {
        let mut frame = (message.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(message);
        frame
    };
    let before = dnsd.metric("dnsd_tcp_unanswered_closes_total").unwrap_or(0);
    for (what, frame) in [
        ("empty frames", framed(&[])),
        ("QR=1 headers", framed(&response_header)),
    ] {
        let mut conn = TcpStream::connect(dnsd.addr).unwrap();
        let fate = keep_sending(&mut conn, &frame);
        assert!(
            matches!(fate, Fate::Closed(_)),
            "a client sending {what} every {:?} stays: {fate:?}\n{}",
            IDLE / 10,
            dnsd.log()
        );
    }
    dnsd.wait_for("two unanswered closes counted", |d| {
        d.metric("dnsd_tcp_unanswered_closes_total") == Some(before + 2)
    });

    // A client that gets one wrong between queries is answered and kept: an answer
    // starts the count again.
    let mut conn = TcpStream::connect(dnsd.addr).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    for round in 0..10u16 {
        conn.write_all(&framed(&response_header)).unwrap();
        let mut query = Query::new("www.front.test.", 1);
        query.id = round;
        tcp_send(&mut conn, &query.to_bytes()).unwrap();
        let response = tcp_recv(&mut conn)
            .unwrap_or_else(|e| panic!("query {round} after a QR=1 header: {e}\n{}", dnsd.log()));
        assert_eq!(response[..2], round.to_be_bytes());
    }
    assert_eq!(
        dnsd.metric("dnsd_tcp_unanswered_closes_total"),
        Some(before + 2),
        "a client answered between its stray frames was closed as an abuser"
    );
}
