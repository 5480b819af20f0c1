//! The metrics endpoint: a minimal HTTP/1.x responder for Prometheus scrapes. Any
//! `GET /metrics` (or `GET /`) gets the text exposition of [`Metrics::render`]; other
//! requests get 404. One request per connection; requests are bounded in size and time,
//! and at most [`CONNECTIONS_MAX`] are served at once (the others wait in the kernel's
//! backlog), so that the endpoint's descriptors fit the reserve `daemon::limits` keeps.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::metrics::Metrics;
use crate::zone::ZoneSet;

/// Longest request head read.
const REQUEST_MAX: usize = 8192;
/// Time a scraper has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once.
pub const CONNECTIONS_MAX: usize = 16;

/// Answers scrapes on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    zones: Arc<ArcSwap<ZoneSet>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        // A free slot first: a scraper beyond it waits in the backlog, not in a
        // descriptor of ours.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = shutdown.changed() => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (metrics, zones) = (metrics.clone(), zones.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, scrape(stream, &metrics, &zones)).await;
        });
    }
}

async fn scrape(
    mut stream: TcpStream,
    metrics: &Metrics,
    zones: &ArcSwap<ZoneSet>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > REQUEST_MAX {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, body) = if method == b"GET" && (path == b"/metrics" || path == b"/") {
        ("200 OK", metrics.render(&zones.load()))
    } else {
        ("404 Not Found", "not found: try /metrics\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
