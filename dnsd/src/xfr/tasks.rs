//! The transfer tasks the daemon starts beside its listeners: NOTIFY out for every
//! zone (`notify`), the refresh of each secondary zone (`secondary`), which takes
//! NOTIFY in from the transfer service (`service`), and the catalog zones produced
//! and consumed (`catalog_tasks`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use super::access::XfrSettings;
use super::service::{NotifyIn, Service};
use super::stats::XfrStats;
use crate::config::Config;
use crate::manager::Manager;
use crate::wire::name::Name;

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
        let secondaries = super::secondary::start(
            self.manager.clone(),
            self.settings.clone(),
            &|apex| config.zone_options(apex),
            self.stats.clone(),
            source,
            self.notify_in,
            shutdown.clone(),
        );
        // Catalog zones (RFC 9432): the one produced here, the members of those
        // consumed.
        let plain = |apex: &Name| {
            let mut options = config.zone_options(apex);
            options.file = None;
            options.dnssec = None;
            options
        };
        let settings = self.settings.load_full();
        if let Some(catalog) = &settings.produce_catalog {
            super::catalog_tasks::start_producer(
                self.manager.clone(),
                self.settings.clone(),
                catalog.clone(),
                plain(catalog),
                shutdown.clone(),
            );
        }
        if let Some(catalog) = settings.catalogs().next() {
            super::catalog_tasks::start_consumer(
                self.settings.clone(),
                secondaries,
                plain(catalog),
                shutdown.clone(),
            );
        }
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
    let mut changed = false;
    // The members of consumed catalogs are learnt, not configured: they stay.
    service.shared_settings().rcu(|current| {
        let mut next = next.clone();
        next.members = current.members.clone();
        changed = **current != next;
        next
    });
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
