//! The metrics endpoint (`metrics = "ADDR:PORT"` in netd.toml): a minimal HTTP/1.x
//! responder for Prometheus scrapes. `GET /metrics` (or `/`) gets
//! [`Metrics::render`]; anything else 404. One request per connection, its head
//! bounded in size and time, so a slow or hostile client costs one small task.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Longest request head read.
const HEAD_MAX: usize = 8192;
/// Time a client has to send its request and read the answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Answers scrapes on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TIMEOUT, answer(stream, &metrics)).await;
                });
            }
            // Out of descriptors, say: do not spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The first line's method and path of a request head.
fn request_line(head: &[u8]) -> (&[u8], &[u8]) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let method = words.next().unwrap_or_default();
    let path = words.next().unwrap_or_default();
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    (method, path)
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > HEAD_MAX {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let (status, body) = match request_line(&head) {
        (b"GET", b"/metrics" | b"/") => ("200 OK", metrics.render()),
        _ => ("404 Not Found", "not found: try /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_method_and_path() {
        assert_eq!(
            request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            (&b"GET"[..], &b"/metrics"[..])
        );
        assert_eq!(request_line(b""), (&b""[..], &b""[..]));
    }
}
