//! dnsd over TCP (RFC 7766 §8): a message whose length prefix and body arrive in small
//! pieces is answered, and the connection stays open. (Pipelining, the idle timeout and
//! the connection limit are in dnsd_front.rs.)

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use netfabric_tests::dns::{Query, normalize, tcp_recv, tcp_send};
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::servers::ZoneFile;

/// dnsd serving the case zones.
fn start() -> Dnsd {
    let mut builder = Dnsd::builder();
    for zone in ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases")) {
        builder = builder.zone_file(&zone);
    }
    builder.start()
}

fn connect(server: &Dnsd) -> TcpStream {
    let c = TcpStream::connect(server.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

#[test]
fn a_message_split_across_writes_is_answered() {
    let server = start();
    let mut conn = connect(&server);
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
