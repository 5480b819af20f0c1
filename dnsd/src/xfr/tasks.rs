//! The transfer tasks the daemon starts beside its listeners: NOTIFY out for every
//! zone (`notify`), and the refresh of each secondary zone (`secondary`), which takes
//! NOTIFY in from the transfer service (`service`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use super::access::XfrSettings;
use super::service::{NotifyIn, Service};
use super::stats::XfrStats;
use crate::config::Config;
use crate::manager::Manager;

/// What the tasks need, gathered before the runtime serves.
pub struct Tasks {
    manager: Arc<Manager>,
    stats: Arc<XfrStats>,
    notify_in: mpsc::UnboundedReceiver<NotifyIn>,
    settings: Arc<ArcSwap<XfrSettings>>,
}

impl Tasks {
    /// The tasks of `service`, which from now on sends NOTIFY in to them.
    pub fn new(manager: Arc<Manager>, service: &Service) -> Self {
        let (sink, notify_in) = mpsc::unbounded_channel();
        service.set_notify_sink(sink);
        Self {
            manager,
            stats: service.stats().clone(),
            notify_in,
            settings: service.shared_settings(),
        }
    }

    /// Starts NOTIFY out and the secondary zones (inside the runtime), until
    /// `shutdown`.
    pub fn spawn(self, config: &Config, shutdown: watch::Receiver<bool>) {
        let source = source_address(&config.listen);
        super::secondary::start(
            self.manager.clone(),
            self.settings.clone(),
            &|apex| config.zone_options(apex),
            self.stats.clone(),
            source,
            self.notify_in,
            shutdown.clone(),
        );
        super::notify::start(
            self.manager,
            self.settings,
            self.stats,
            config.listen.clone(),
            source,
            shutdown,
        );
    }
}

/// SIGHUP: applies `next` (access lists, keys, primaries, NOTIFY targets, timer
/// bounds) to the service and, through it, to the refresh and NOTIFY-out tasks from
/// their next step.
pub fn reconfigure(service: &Service, next: &XfrSettings) {
    // Always stored: key secrets do not take part in the settings' equality.
    let changed = *service.shared_settings().load_full() != *next;
    service.set_settings(next.clone());
    tracing::info!(
        changed,
        "SIGHUP: transfer settings applied ([xfr], [key], primaries, access and notify lists of [zone])"
    );
}

/// The address transfers and NOTIFY leave from: the first listener's, unless it is a
/// wildcard (then the system chooses). A peer's access list sees the address it
/// knows us by.
fn source_address(listen: &[SocketAddr]) -> Option<IpAddr> {
    listen
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| !ip.is_unspecified())
}
