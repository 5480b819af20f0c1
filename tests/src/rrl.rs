//! Driving response rate limiting from outside: a flood of identical queries from one
//! source, counted as full answers, truncated answers and silence, the same way for
//! dnsd, NSD and Knot (the test `dnsd_rrl` and the benchmark `dnsd_qps --flood`).
//!
//! Silence is known without guessing a timeout: after each batch of flood queries
//! comes a probe, a query for a name asked only once (so in a bucket of its own, never
//! limited); servers answer one socket's datagrams in order, so when the probe's
//! answer arrives, every answer to the batch has arrived before it.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns::Query;

/// What a flood got back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Flood queries sent.
    pub sent: usize,
    /// Answered in full (TC clear).
    pub answered: usize,
    /// Answered truncated (TC set): the slip.
    pub truncated: usize,
    /// Other answers (e.g. BADCOOKIE).
    pub other: usize,
    /// Octets of every answer to the flood.
    pub bytes: usize,
}

impl Counts {
    /// Queries that got nothing.
    pub fn dropped(&self) -> usize {
        self.sent - self.answered - self.truncated - self.other
    }

    /// Queries limited: truncated, dropped or otherwise not answered in full.
    pub fn limited(&self) -> usize {
        self.sent - self.answered
    }
}

/// Sends `batches` batches of `batch` copies of `query` from `source` (an address
/// and port, 0 for any) to `server`, each followed by a probe for `probe_name(i)`;
/// counts the answers. `between` runs after each batch (e.g. a query from another
/// source).
pub fn flood(
    server: SocketAddr,
    source: SocketAddr,
    query: &Query,
    batches: usize,
    batch: usize,
    probe_name: impl Fn(usize) -> String,
    mut between: impl FnMut(usize),
) -> (Counts, Duration) {
    let sock = UdpSocket::bind(source).expect("bind the flood's source");
    sock.connect(server).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut counts = Counts::default();
    let mut buf = vec![0u8; 65535];
    let started = Instant::now();
    for b in 0..batches {
        for k in 0..batch {
            let mut q = query.clone();
            q.id = 1000 + ((b * batch + k) % 60_000) as u16;
            let _ = sock.send(&q.to_bytes());
            counts.sent += 1;
        }
        let mut probe = Query::new(&probe_name(b), 1);
        probe.id = (b % 1000) as u16;
        let probe = probe.to_bytes();
        let _ = sock.send(&probe);
        let mut resent = 0;
        loop {
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(_) if resent < 3 => {
                    // The probe itself was lost (a full socket buffer): ask again.
                    resent += 1;
                    let _ = sock.send(&probe);
                    continue;
                }
                Err(_) => break,
            };
            if n < 12 {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            if id == (b % 1000) as u16 {
                break;
            }
            if id < 1000 {
                continue; // a late answer to an earlier probe
            }
            counts.bytes += n;
            let tc = buf[2] & 0x02 != 0;
            let rcode = crate::dns::full_rcode(&buf[..n]);
            let answers = u16::from_be_bytes([buf[6], buf[7]]);
            if tc {
                counts.truncated += 1;
            } else if rcode == 0 && answers > 0 {
                counts.answered += 1;
            } else {
                counts.other += 1;
            }
        }
        between(b);
    }
    (counts, started.elapsed())
}
