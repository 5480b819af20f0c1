//! The API's HTTP shell (hyper, HTTP/1.1): authentication, routing, bodies, and the
//! commit of a PATCH through the zone manager (`spawn_blocking`: the submit waits for
//! the journal). The JSON itself is `json`'s.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::SOURCE;
use super::json::{Patch, patch_txn, zone_json};
use crate::manager::{CommitError, Manager};
use crate::wire::name::Name;

/// Largest request body read.
const BODY_MAX: usize = 1 << 20;

/// Counters of the API, for `/metrics`.
#[derive(Debug, Default)]
pub struct ApiStats {
    requests: AtomicU64,
    unauthorized: AtomicU64,
    patches: AtomicU64,
    refused: AtomicU64,
    last_patch: AtomicU64,
}

impl crate::metrics::Render for ApiStats {
    /// `dnsd_api_requests_total`, `dnsd_api_unauthorized_total`,
    /// `dnsd_api_patches_total` (committed), `dnsd_api_refused_total` (4xx on a
    /// PATCH), `dnsd_api_last_patch_seconds` (Unix time).
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, kind, v) in [
            ("requests_total", "counter", &self.requests),
            ("unauthorized_total", "counter", &self.unauthorized),
            ("patches_total", "counter", &self.patches),
            ("refused_total", "counter", &self.refused),
            ("last_patch_seconds", "gauge", &self.last_patch),
        ] {
            let _ = writeln!(
                out,
                "# TYPE dnsd_api_{name} {kind}\ndnsd_api_{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

impl crate::sources::status::SourceStatus for ApiStats {
    /// `source api requests=N unauthorized=N patches=N refused=N last-patch=T`.
    fn status(&self, out: &mut Vec<String>) {
        out.push(format!(
            "source api requests={} unauthorized={} patches={} refused={} last-patch={}",
            self.requests.load(Relaxed),
            self.unauthorized.load(Relaxed),
            self.patches.load(Relaxed),
            self.refused.load(Relaxed),
            crate::sources::status::time(self.last_patch.load(Relaxed))
        ));
    }
}

/// What every request needs.
struct Context {
    manager: Arc<Manager>,
    key: String,
    server_id: String,
    stats: Arc<ApiStats>,
}

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    manager: Arc<Manager>,
    key: String,
    server_id: String,
    stats: Arc<ApiStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let context = Arc::new(Context {
        manager,
        key,
        server_id,
        stats,
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let context = context.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let context = context.clone();
                async move { Ok::<_, Infallible>(handle(&context, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Reply = Response<Full<Bytes>>;

fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// PowerDNS's error shape.
fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(status, &serde_json::json!({ "error": message.into() }))
}

async fn handle(context: &Context, req: Request<Incoming>) -> Reply {
    context.stats.requests.fetch_add(1, Relaxed);
    let authorized = req
        .headers()
        .get("x-api-key")
        .is_some_and(|v| constant_time_eq(v.as_bytes(), context.key.as_bytes()));
    if !authorized {
        context.stats.unauthorized.fetch_add(1, Relaxed);
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let base = format!("/api/v1/servers/{}", context.server_id);
    let server = serde_json::json!({
        "type": "Server",
        "id": context.server_id,
        "daemon_type": "authoritative",
        "version": concat!("dnsd ", env!("CARGO_PKG_VERSION")),
        "url": base,
        "config_url": format!("{base}/config{{/config_setting}}"),
        "zones_url": format!("{base}/zones{{/zone}}"),
    });
    match (req.method().clone(), parts.as_slice()) {
        (Method::GET, ["api", "v1", "servers"]) => json(StatusCode::OK, &vec![server]),
        (_, ["api", "v1", "servers", id, ..]) if *id != context.server_id => {
            error(StatusCode::NOT_FOUND, "Not Found")
        }
        (Method::GET, ["api", "v1", "servers", _]) => json(StatusCode::OK, &server),
        (Method::GET, ["api", "v1", "servers", _, "zones"]) => {
            let zones: Vec<_> = context
                .manager
                .zones()
                .iter()
                .filter_map(|h| h.zone())
                .map(|z| zone_json(&z, &base, false))
                .collect();
            json(StatusCode::OK, &zones)
        }
        (method, ["api", "v1", "servers", _, "zones", zone]) => {
            let Some(apex) = zone_apex(zone) else {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("Could not find domain '{zone}'"),
                );
            };
            let Some(handle) = context.manager.zone(&apex) else {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("Could not find domain '{apex}'"),
                );
            };
            match method {
                Method::GET => match handle.zone() {
                    Some(z) => json(
                        StatusCode::OK,
                        &zone_json(&z, &base, !query.split('&').any(|q| q == "rrsets=false")),
                    ),
                    None => error(
                        StatusCode::NOT_FOUND,
                        format!("Could not find domain '{apex}'"),
                    ),
                },
                Method::PATCH => patch(context, handle, &apex, req).await,
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Applies a PATCH: 204 once committed, 422 when a record is refused.
async fn patch(
    context: &Context,
    handle: crate::manager::ZoneHandle,
    apex: &Name,
    req: Request<Incoming>,
) -> Reply {
    let refused = |status, message: String| {
        context.stats.refused.fetch_add(1, Relaxed);
        tracing::warn!(zone = %apex, "API PATCH refused: {message}");
        error(status, message)
    };
    let body = match Limited::new(req.into_body(), BODY_MAX).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
    };
    let patch: Patch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return refused(StatusCode::BAD_REQUEST, format!("Invalid JSON: {e}")),
    };
    let txn = match patch_txn(apex, &patch) {
        Ok(t) => t,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, e.0),
    };
    let changes = txn.changes.len();
    let submitted = tokio::task::spawn_blocking(move || handle.submit(SOURCE, txn)).await;
    match submitted {
        Ok(Ok(serial)) => {
            context.stats.patches.fetch_add(1, Relaxed);
            context
                .stats
                .last_patch
                .store(crate::manager::unix_now(), Relaxed);
            tracing::info!(zone = %apex, serial, changes, "API PATCH committed");
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok(Err(e @ (CommitError::Journal(_) | CommitError::NotLoaded(_)))) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Ok(Err(e)) => refused(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The apex a URL's zone id names (`example.org` or `example.org.`; PowerDNS's `=2F`
/// escapes do not occur in the names dnsd serves).
fn zone_apex(id: &str) -> Option<Name> {
    let text = if id.ends_with('.') {
        id.to_string()
    } else {
        format!("{id}.")
    };
    Name::from_text(&text, None).ok().map(|n| n.to_lowercase())
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
