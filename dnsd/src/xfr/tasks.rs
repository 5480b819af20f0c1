//! The transfer tasks the daemon starts beside its listeners: NOTIFY out for every
//! zone (`notify`), the refresh of each secondary zone (`secondary`), which takes
//! NOTIFY in from the transfer service (`service`), and the catalog zones produced
//! and consumed (`catalog_tasks`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use super::access::XfrSettings;
use super::secondary::Secondaries;
use super::service::{NotifyIn, Service};
use super::stats::XfrStats;
use crate::config::Config;
use crate::manager::{Manager, ZoneOptions};
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

    /// Starts NOTIFY out, the secondary zones and the catalog tasks (inside the
    /// runtime), until `shutdown`; what a SIGHUP changes of them goes through the
    /// [`Running`] returned.
    pub fn spawn(self, config: &Config, shutdown: watch::Receiver<bool>) -> Arc<Running> {
        let source = source_address(&config.listen);
        let secondaries = super::secondary::start(
            self.manager.clone(),
            self.settings.clone(),
            self.stats.clone(),
            source,
            self.notify_in,
            shutdown.clone(),
        );
        let running = Arc::new(Running {
            manager: self.manager.clone(),
            settings: self.settings.clone(),
            secondaries: secondaries.clone(),
            declared: Mutex::new(BTreeMap::new()),
            templates: Arc::new(ArcSwap::from_pointee(BTreeMap::new())),
            producer: Mutex::new(None),
            files: watch::Sender::new(BTreeSet::new()),
            shutdown: shutdown.clone(),
        });
        running.apply(config, false);
        // Catalog zones (RFC 9432) consumed: the members of those configured now.
        super::catalog_tasks::start_consumer(
            self.settings.clone(),
            secondaries,
            running.templates.clone(),
            running.files.subscribe(),
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
        running
    }
}

/// The transfer tasks a SIGHUP starts and stops: the secondary zones the
/// configuration declares, the catalog produced, the templates of the consumed
/// catalogs' members.
pub struct Running {
    manager: Arc<Manager>,
    settings: Arc<ArcSwap<XfrSettings>>,
    secondaries: Arc<Secondaries>,
    /// Each declared secondary zone's stop (true: it left the configuration) and its
    /// task (aborted when the zone is handed over to its zone file).
    declared: Mutex<BTreeMap<Name, (watch::Sender<bool>, tokio::task::AbortHandle)>>,
    /// The zone options each consumed catalog gives its members.
    templates: Arc<ArcSwap<BTreeMap<Name, ZoneOptions>>>,
    /// The catalog produced, and its stop.
    producer: Mutex<Option<(Name, watch::Sender<bool>)>>,
    /// The zones served from zone files (lowercase), for the catalogs' consumer: a
    /// member with a file is handed over to it, and back when the file goes.
    files: watch::Sender<BTreeSet<Name>>,
    shutdown: watch::Receiver<bool>,
}

impl Running {
    /// Makes the tasks what `config` declares (inside the runtime): secondary zones
    /// started and stopped (a zone that left the configuration is no longer served,
    /// its state deleted; one that `config` now serves from a zone file is handed
    /// over: its task stops, its zone manager and state stay for the file; so is a
    /// catalog member, by the consumer), the produced catalog started or stopped.
    /// `sighup`: not the
    /// start (what changes is logged).
    fn apply(&self, config: &Config, sighup: bool) {
        // Options of a catalog's members: the catalog's, without its own file or
        // signing.
        let plain = |apex: &Name| {
            let mut options = config.zone_options(apex);
            options.file = None;
            options.dnssec = None;
            options
        };
        let settings = &config.xfr;
        self.templates.store(Arc::new(
            settings.catalogs().map(|c| (c.clone(), plain(c))).collect(),
        ));
        let wanted: BTreeSet<&Name> = settings.secondaries().map(|(apex, _)| apex).collect();
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        let files = zone_files(config);
        declared.retain(|apex, (stop, task)| {
            let keep = wanted.contains(apex);
            if !keep {
                if files.contains(&apex.to_lowercase()) {
                    // Handed over: the file reload that follows loads the file into
                    // the same zone manager (version, serial floor, journal kept).
                    tracing::info!(zone = %apex, "SIGHUP: secondary zone is now served from its zone file: handed over");
                    task.abort();
                    self.secondaries.forget(apex);
                } else {
                    tracing::info!(zone = %apex, "SIGHUP: secondary zone left the configuration");
                    let _ = stop.send(true);
                }
            }
            keep
        });
        for apex in wanted {
            if declared.contains_key(apex) {
                continue;
            }
            if sighup {
                tracing::info!(zone = %apex, "SIGHUP: secondary zone added");
            }
            let (stop, stop_rx) = watch::channel(false);
            // Runs until shutdown, its stop or its hand-over; nothing waits for it.
            let task = self
                .secondaries
                .spawn(apex, config.zone_options(apex), Some(stop_rx))
                .abort_handle();
            declared.insert(apex.clone(), (stop, task));
        }
        // Catalog members with a zone file now, or no longer (the consumer wakes).
        self.files.send_if_modified(|current| {
            let changed = *current != files;
            *current = files;
            changed
        });
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        if producer.as_ref().map(|(c, _)| c) != settings.produce_catalog.as_ref() {
            if let Some((_, stop)) = producer.take() {
                let _ = stop.send(true);
            }
            if let Some(catalog) = &settings.produce_catalog {
                let (stop, stop_rx) = watch::channel(false);
                super::catalog_tasks::start_producer(
                    self.manager.clone(),
                    self.settings.clone(),
                    catalog.clone(),
                    plain(catalog),
                    (self.shutdown.clone(), stop_rx),
                );
                *producer = Some((catalog.clone(), stop));
            }
        }
    }
}

/// SIGHUP: applies `next` (access lists, keys, primaries, NOTIFY targets, timer
/// bounds) to the service and, through it, to the refresh and NOTIFY-out tasks from
/// their next step; starts and stops the secondary zones and catalogs it adds and
/// removes (inside the runtime).
pub fn reconfigure(service: &Service, running: &Running, next: &Config) {
    let mut changed = false;
    // The members of consumed catalogs are learnt, not configured: they stay (those
    // of a catalog no longer consumed go with it, in its consumer).
    service.shared_settings().rcu(|current| {
        let mut settings = next.xfr.clone();
        settings.members = current.members.clone();
        changed = **current != settings;
        settings
    });
    running.apply(next, true);
    crate::daemon::options::exempt_transfer_peers(service.limiter(), next);
    tracing::info!(
        changed,
        "SIGHUP: transfer settings applied ([xfr], [key], primaries, access and notify lists of [zone], secondary zones and catalogs)"
    );
}

/// The zones `config` serves from zone files (lowercase apexes).
fn zone_files(config: &Config) -> BTreeSet<Name> {
    let settings = config.reload_settings();
    crate::sources::files::zone_files(&settings.zones_dir, &settings.zones)
        .0
        .into_keys()
        .filter(|apex| !settings.secondaries.contains(apex))
        .map(|apex| apex.to_lowercase())
        .collect()
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
