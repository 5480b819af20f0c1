//! Starting the dynamic sources (issue 10) beside the zone files: the zones with no
//! file (`manager::dynamic_zone`), the container engines (`sources::containers`), the
//! PowerDNS-compatible API (`sources::api`), RFC 2136 updates (`sources::update`), and
//! their metrics. They run on the daemon's tokio runtime until [`Dynamic::stop`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::manager::Manager;
use crate::manager::dynamic_zone::open_dynamic;
use crate::metrics::Metrics;
use crate::sources::status::Registry;

/// The running dynamic sources.
pub struct Dynamic {
    shutdown: watch::Sender<bool>,
}

impl Dynamic {
    /// Stops them (their tasks end at their next await).
    pub fn stop(self) {
        let _ = self.shutdown.send(true);
    }
}

/// Opens the dynamic zones and starts the sources the configuration names, on
/// `runtime`.
pub fn start(
    config: &Config,
    manager: &Arc<Manager>,
    metrics: &Metrics,
    runtime: &tokio::runtime::Runtime,
    sources: &Registry,
) -> Dynamic {
    for (apex, settings) in &config.dynamic.zones {
        match open_dynamic(manager, apex, settings) {
            Ok((handle, outcome)) => tracing::info!(
                zone = %apex,
                serial = handle.zone().and_then(|z| z.serial()).unwrap_or(0),
                ?outcome,
                "dynamic zone served"
            ),
            Err(e) => tracing::error!(zone = %apex, "dynamic zone: {e}"),
        }
    }
    let (shutdown, receiver) = watch::channel(false);
    if let Some(settings) = &config.dynamic.containers {
        let _context = runtime.enter();
        let stats =
            crate::sources::containers::start(settings.clone(), manager.clone(), receiver.clone());
        metrics.attach(stats.clone());
        sources.attach(stats);
    }
    if let Some(api) = &config.dynamic.api {
        start_api(api, manager, (metrics, sources), runtime, receiver.clone());
    }
    Dynamic { shutdown }
}

/// Starts the PowerDNS-compatible API; a key file that cannot be read or a busy
/// address is logged and leaves the API off (DNS goes on).
fn start_api(
    api: &crate::config::ApiConfig,
    manager: &Arc<Manager>,
    (metrics, sources): (&Metrics, &Registry),
    runtime: &tokio::runtime::Runtime,
    shutdown: watch::Receiver<bool>,
) {
    let key = match std::fs::read_to_string(&api.key_file) {
        Ok(k) if !k.trim().is_empty() => k.trim().to_string(),
        Ok(_) => {
            tracing::error!(
                "api: {}: the key file is empty; the API is off",
                api.key_file.display()
            );
            return;
        }
        Err(e) => {
            tracing::error!("api: {}: {e}; the API is off", api.key_file.display());
            return;
        }
    };
    let listener = match std::net::TcpListener::bind(api.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("api: cannot listen on {}: {e}; the API is off", api.listen);
            return;
        }
    };
    let _context = runtime.enter();
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let stats = Arc::new(crate::sources::api::http::ApiStats::default());
    metrics.attach(stats.clone());
    sources.attach(stats.clone());
    tracing::info!(listen = %api.listen, "PowerDNS-compatible API listening");
    tokio::spawn(crate::sources::api::http::serve(
        listener,
        manager.clone(),
        key,
        api.server_id.clone(),
        stats,
        shutdown,
    ));
}

/// The fronts' deferred sink: `resolver`, with UPDATE requests routed to the update
/// service when the configuration serves UPDATE; and that service (a SIGHUP applies
/// `[update]` to it).
pub fn route_updates(
    config: &Config,
    manager: &Arc<Manager>,
    metrics: &Metrics,
    sources: &Registry,
    resolver: Option<crate::front::deferred::DeferSink>,
) -> std::io::Result<(
    Option<crate::front::deferred::DeferSink>,
    Option<Arc<crate::sources::update::UpdateService>>,
)> {
    if !config.dynamic.update.enabled() {
        return Ok((resolver, None));
    }
    let update = crate::sources::update::UpdateService::start(
        manager.clone(),
        config.dynamic.update.clone(),
    )?;
    metrics.attach(update.stats());
    sources.attach(update.stats());
    let sink: crate::front::deferred::DeferSink = Arc::new(crate::sources::update::Router {
        resolver,
        update: update.clone(),
    });
    Ok((Some(sink), Some(update)))
}
