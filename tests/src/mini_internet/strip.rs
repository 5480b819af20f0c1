//! A relay in front of an authoritative server that strips the authority section
//! (the SOA, the NSEC/NSEC3 records and their RRSIGs) from its negative answers:
//! NXDOMAIN, and NOERROR without answer records. It does to a signed zone what an
//! attacker on the path would, to get a negative answer accepted as insecure; a
//! validator must find such an answer bogus (RFC 4035 §5.4). UDP only: the
//! answers relayed are small.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::netns::Netns;

/// The running relay; dropping it stops it.
pub(super) struct Stripper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stripper {
    /// Relays queries to `listen`:53 (in the namespace) to `server`:53.
    pub(super) fn start(ns: &Netns, listen: &str, server: &str) -> Stripper {
        let (front, back) = ns.run_in(|| {
            let front = UdpSocket::bind((listen, 53)).expect("bind the stripping relay");
            let back = UdpSocket::bind((listen, 0)).expect("bind the relay's upstream socket");
            back.connect((server, 53))
                .expect("connect the relay upstream");
            (front, back)
        });
        front
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("relay timeout");
        back.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("relay timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65535];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, client)) = front.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..len].to_vec();
                if back.send(&query).is_err() {
                    continue;
                }
                // The server's answer to this query (same ID); a stale one is skipped.
                while let Ok(len) = back.recv(&mut buf) {
                    if len >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
                        let reply = stripped(&buf[..len]).unwrap_or_else(|| buf[..len].to_vec());
                        let _ = front.send_to(&reply, client);
                        break;
                    }
                }
            }
        });
        Stripper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Stripper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `response` without its authority section when it is a negative answer; None
/// when it is not one (or does not parse): relayed as it is.
fn stripped(response: &[u8]) -> Option<Vec<u8>> {
    let mut msg = Message::from_vec(response).ok()?;
    let rcode = msg.metadata.response_code;
    let nodata = rcode == ResponseCode::NoError
        && msg.answers.is_empty()
        && msg
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA);
    if rcode != ResponseCode::NXDomain && !nodata {
        return None;
    }
    msg.authorities.clear();
    msg.to_vec().ok()
}
