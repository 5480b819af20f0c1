//! The Prometheus text endpoints of dnsd and netd, as a test reads them: one
//! `GET /metrics` (on loopback, or from inside a namespace the test made), and the
//! value of one series in the text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// Bound on a scrape and on the wait for an endpoint to come up: a failure guard, not
/// a timing requirement.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One `GET /metrics` on `addr`: the whole response, head and body.
pub fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect_timeout(&addr, PATIENCE)?;
    conn.set_read_timeout(Some(PATIENCE))?;
    conn.set_write_timeout(Some(PATIENCE))?;
    conn.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    Ok(response)
}

/// The response of `addr`'s endpoint (from inside `netns` when given), waiting up to
/// [`PATIENCE`] for it to come up; panics, with the last error, when it does not
/// answer `200 OK`.
pub fn scrape(netns: Option<&Netns>, addr: SocketAddr) -> String {
    try_scrape(netns, addr).unwrap_or_else(|e| panic!("{e}"))
}

/// [`scrape`], the failure said in the error rather than in a panic.
pub fn try_scrape(netns: Option<&Netns>, addr: SocketAddr) -> Result<String, String> {
    let started = Instant::now();
    loop {
        let response = match netns {
            Some(ns) => ns.run_in(|| get(addr)),
            None => get(addr),
        };
        match response {
            Ok(text) if text.starts_with("HTTP/1.1 200 OK\r\n") => return Ok(text),
            Ok(text) => return Err(format!("scrape of {addr}: {text}")),
            Err(e) if started.elapsed() >= PATIENCE => {
                return Err(format!("cannot scrape {addr} within {PATIENCE:?}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The value of `series` (name and labels, exactly as rendered) in the scrape `text`;
/// None when the series is absent.
pub fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
