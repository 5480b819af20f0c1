//! dnsd over TCP (RFC 7766, issue 2 point 5): length-prefixed messages, pipelined
//! queries answered on one connection, several messages in one segment, a message
//! split across segments, the idle timeout and the connection limit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Query, normalize, tcp_recv, tcp_send};
use netfabric_tests::servers::{Kind, Options, Server, ZoneFile};

fn zones() -> Vec<ZoneFile> {
    ZoneFile::all_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/cases"))
}

fn connect(server: &Server) -> TcpStream {
    let c = TcpStream::connect(server.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

#[test]
fn pipelined_queries_are_all_answered_on_one_connection() {
    let server = Server::start(Kind::Dnsd, &zones(), &Options::default());
    let mut conn = connect(&server);
    let names = [
        "www",
        "mail",
        "ns1",
        "many",
        "x.wild",
        "nonexistent",
        "deleg",
        "big",
    ];
    // All the queries first, in one write, then all the answers (RFC 7766 §6.2.1.1).
    let mut batch = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut q = Query::new(&format!("{name}.example.com."), 1).no_edns();
        q.id = 1000 + i as u16;
        let bytes = q.to_bytes();
        batch.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        batch.extend_from_slice(&bytes);
    }
    conn.write_all(&batch).unwrap();
    let mut ids = Vec::new();
    for _ in &names {
        let response = tcp_recv(&mut conn).expect("one answer per pipelined query");
        let n = normalize(&response).unwrap();
        assert!(
            !n.flags.contains("tc"),
            "TCP answers are never truncated: {n}"
        );
        ids.push(u16::from_be_bytes([response[0], response[1]]));
    }
    ids.sort();
    assert_eq!(ids, (1000..1000 + names.len() as u16).collect::<Vec<_>>());
}

#[test]
fn a_message_split_across_writes_is_answered() {
    let server = Server::start(Kind::Dnsd, &zones(), &Options::default());
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

/// Reads until the server closes the connection (EOF or reset), within `limit`.
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while start.elapsed() < limit {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn an_idle_connection_is_closed() {
    let opts = Options {
        dnsd_config: Some("[tcp]\nidle-timeout-ms = 300\n".to_string()),
        ..Options::default()
    };
    let server = Server::start(Kind::Dnsd, &zones(), &opts);
    let mut conn = connect(&server);
    // One query keeps it open; then silence closes it.
    tcp_send(&mut conn, &Query::new("www.example.com.", 1).to_bytes()).unwrap();
    assert_eq!(normalize(&tcp_recv(&mut conn).unwrap()).unwrap().rcode, 0);
    assert!(
        closed_within(&mut conn, Duration::from_secs(20)),
        "an idle connection stayed open"
    );
}

#[test]
fn connections_over_the_limit_are_closed_and_the_others_served() {
    let opts = Options {
        dnsd_config: Some("[tcp]\nmax-connections = 2\n".to_string()),
        ..Options::default()
    };
    let server = Server::start(Kind::Dnsd, &zones(), &opts);
    let q = Query::new("www.example.com.", 1).to_bytes();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(&server);
        tcp_send(&mut c, &q).unwrap();
        assert_eq!(normalize(&tcp_recv(&mut c).unwrap()).unwrap().rcode, 0);
        held.push(c);
    }
    let mut extra = connect(&server);
    let _ = tcp_send(&mut extra, &q);
    assert!(
        tcp_recv(&mut extra).is_err(),
        "a third connection was served with max-connections = 2"
    );
    // The held connections still work; once one closes, a new one is served.
    tcp_send(&mut held[0], &q).unwrap();
    assert_eq!(
        normalize(&tcp_recv(&mut held[0]).unwrap()).unwrap().rcode,
        0
    );
    drop(held.pop());
    let served = (0..200).any(|_| {
        let mut c = connect(&server);
        let ok = tcp_send(&mut c, &q).is_ok() && tcp_recv(&mut c).is_ok();
        if !ok {
            std::thread::sleep(Duration::from_millis(25));
        }
        ok
    });
    assert!(served, "no new connection served after one closed");
}
