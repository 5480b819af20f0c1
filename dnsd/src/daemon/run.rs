//! `dnsd` serving: loads the zones, binds every listener (so that a busy port is an
//! error at start, not a surprise later), starts the UDP workers and the tokio runtime
//! that carries TCP, metrics and signals, and stops cleanly on SIGTERM or SIGINT.
//!
//! ```text
//!  zone files ──Reloader──► Arc<ArcSwap<ZoneSet>> ◄──swap── watcher, SIGHUP
//!                                  │ load() per batch / per query
//!        ┌─────────────────────────┼──────────────────────────┐
//!   UDP worker 0 … N-1        TCP (tokio)              metrics endpoint
//!   (one thread per core,     accept, pipelined        (scrape sums the
//!    SO_REUSEPORT socket       queries, idle timeout,   per-worker counters)
//!    per address)              max-connections)
//! ```

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::{limits, notify, options, privileges};
use crate::config::Config;
use crate::front::{metrics_http, tcp, udp};
use crate::manager::Manager;
use crate::metrics::Metrics;
use crate::sources::watcher::WatchError;
use crate::sources::{Reloader, WatchHandle, watch};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The zones folder could not be read.
    #[error("cannot read the zones folder {}: {source}", path.display())]
    ZonesDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The zones folder could not be watched.
    #[error("{0}")]
    Watch(WatchError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({transport}): {source}{}", privileges::bind_hint(.addr, .source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// "udp", "tcp" or "metrics".
        transport: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The state folder cannot be written, or another dnsd uses it.
    #[error("{0}")]
    State(#[from] super::state_dir::StateError),
    /// The resolver's root hints or trust anchor could not be used.
    #[error("resolver: {0}")]
    Resolver(crate::resolver::hints::HintsError),
    /// A DoT listener's certificate or key could not be used.
    #[error("listener {addr} (dot): {message}")]
    Tls {
        /// The listener's address.
        addr: SocketAddr,
        /// What is wrong, naming the file.
        message: String,
    },
    /// The runtime, a thread or a pipe could not be created.
    #[error("cannot start: {0}")]
    Start(io::Error),
}

/// Serves `config` until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<(), RunError> {
    let open_files = limits::raise();
    // Signal handlers first: a SIGTERM that comes while zones load or as soon as the
    // first answer went out must stop the server cleanly, not kill it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dnsd-io")
        .enable_all()
        .build()
        .map_err(RunError::Start)?;
    let signals = {
        let _context = runtime.enter();
        Signals::new().map_err(RunError::Start)?
    };
    let metrics = Arc::new(Metrics::new());
    let answer_options = options::answer_options(&config)
        .ok_or_else(|| RunError::Start(io::Error::other("no random cookie secret")))?;
    let answer_options = Arc::new(ArcSwap::from_pointee(answer_options));
    let limiter = options::limiter(&config);
    options::exempt_transfer_peers(limiter.as_deref(), &config);
    // A zones folder that cannot be read is a mistake to show at once; later, while
    // serving, the reloader rides out a folder that goes away for a moment.
    if let Err(source) = std::fs::read_dir(&config.zones_dir) {
        return Err(RunError::ZonesDir {
            path: config.zones_dir.clone(),
            source,
        });
    }
    // One dnsd per state folder, and one that can write it (state_dir.rs says why).
    let _state_lock = super::state_dir::lock(&config.state_dir)?;
    let manager = Arc::new(Manager::new(&config.state_dir, crate::manager::unix_now));
    let zones = manager.zone_set();
    let mut reloader = Reloader::new(
        config.reload_settings(),
        manager.clone(),
        Box::new(super::zones::loader(&config)),
    );
    let summary = reloader.reload_all();
    tracing::info!(
        zones = zones.load().len(),
        failed = summary.failed,
        "zones loaded"
    );
    metrics.attach_reload_stats(reloader.stats());
    metrics.attach_publisher(manager.publisher().clone());
    // What the dynamic sources tell `dnsd ctl status`.
    let sources = Arc::new(crate::sources::status::Registry::default());
    let dynamic = super::dynamic::start(&config, &manager, &metrics, &runtime, &sources);
    // Transfers out, NOTIFY and signed requests (`xfr`): the fronts hand them over.
    let xfr_stats = Arc::new(crate::xfr::stats::XfrStats::default());
    metrics.attach_xfr_stats(xfr_stats.clone());
    let transfers = Arc::new(crate::xfr::Service::new(
        manager.clone(),
        config.xfr.clone(),
        xfr_stats,
    ));
    if let Some(limiter) = &limiter {
        transfers.set_limiter(limiter.clone());
    }
    let xfr_tasks = crate::xfr::tasks::Tasks::new(manager.clone(), &transfers);
    // A catalog member whose zone file goes is handed back to its catalog.
    let xfr_settings = transfers.shared_settings();
    reloader.set_handover(Box::new(move |apex| {
        xfr_settings.load().members.contains_key(apex)
    }));
    metrics.attach(Arc::new(crate::dnssec::status::KeyMetrics::new(
        manager.clone(),
        crate::manager::unix_now,
    )));
    crate::dnssec::timer::spawn(manager.clone(), crate::manager::unix_now);

    // Bind everything before serving anything.
    let mut tcp_listeners = Vec::new();
    for &addr in &config.listen {
        let bind_err = |transport, source| RunError::Bind {
            addr,
            transport,
            source,
        };
        tcp_listeners.push(tcp::bind(addr).map_err(|e| bind_err("tcp", e))?);
        udp::ensure_free(addr).map_err(|e| bind_err("udp", e))?;
    }
    let workers = match config.udp.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut worker_listeners = Vec::new();
    for _ in 0..workers {
        let mut listeners = Vec::new();
        for (index, listener) in config.listeners.iter().enumerate() {
            if listener.tls.is_some() {
                // DoT is TCP only.
                continue;
            }
            let addr = listener.address;
            let socket = udp::bind(addr).map_err(|source| RunError::Bind {
                addr,
                transport: "udp",
                source,
            })?;
            listeners.push(udp::Listener {
                socket: Arc::new(socket),
                index: index as u16,
                role: listener.role,
                limit: config.rrl.applies_to(&addr),
                allow: listener.allow.clone(),
                udp_max: listener.udp_max_response_size,
            });
        }
        worker_listeners.push(listeners);
    }
    let metrics_listener = match config.metrics {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr).map_err(|source| RunError::Bind {
                addr,
                transport: "metrics",
                source,
            })?,
        ),
        None => None,
    };

    // The control socket, before the first answer (a client that got one may use it):
    // a failure is reported loudly, but DNS is served all the same.
    let control_path = crate::front::control::socket_path(&config.state_dir);
    let control = match crate::front::control::bind(&control_path) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::error!(
                "{}: cannot open the control socket: {e}; `dnsd ctl` will not reach this dnsd",
                control_path.display()
            );
            None
        }
    };

    let watcher = watch(reloader).map_err(RunError::Watch)?;

    // The resolver, when a listener recurses: requests for names outside the zones
    // go to it (front/deferred.rs).
    let defer = if config.listeners.iter().any(|l| l.role.recursion()) {
        let resolver =
            crate::resolver::Resolver::new(&config.resolver).map_err(RunError::Resolver)?;
        metrics.attach_resolver_stats(resolver.stats());
        crate::resolver::control::install(resolver.cache_control());
        let _context = runtime.enter();
        Some(resolver.start(config.resolver.max_in_flight))
    } else {
        None
    };
    // RFC 2136 updates go the same deferred way, to the update service.
    let (defer, updates) =
        super::dynamic::route_updates(&config, &manager, &metrics, &sources, defer)
            .map_err(RunError::Start)?;

    // Workers sleep in recvmmsg (one socket each: woken by shutting the socket down
    // for reading) or in poll (several: woken by closing the write end of this pipe).
    let udp_sockets: Vec<Arc<socket2::Socket>> = worker_listeners
        .iter()
        .flatten()
        .map(|l| l.socket.clone())
        .collect();
    let (wake_read, wake_write) = pipe().map_err(RunError::Start)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (i, listeners) in worker_listeners.into_iter().enumerate() {
        let mut worker = udp::Worker::new(
            listeners,
            zones.clone(),
            metrics.udp_worker(),
            stop.clone(),
            wake_read_fd(&wake_read),
        )
        .with_options(answer_options.clone())
        .with_limiter(limiter.clone())
        .with_transfers(transfers.clone());
        if let Some(sink) = &defer {
            worker = worker.with_defer(sink.clone());
        }
        let thread = std::thread::Builder::new()
            .name(format!("dnsd-udp-{i}"))
            .spawn(move || worker.run())
            .map_err(RunError::Start)?;
        threads.push(thread);
    }

    let control_bound = control.is_some();
    // Everything is open now but TCP connections: they get what the limit leaves.
    let tcp_config = limits::fit_tcp(&config, open_files);
    let result = runtime.block_on(serve(
        &config,
        signals,
        &watcher,
        (
            manager.clone(),
            control.map(|l| (l, sources.clone())),
            xfr_tasks,
            updates,
        ),
        Arc::new({
            let mut shared =
                tcp::Shared::new(zones, metrics, tcp_config).with_options(answer_options.clone());
            shared.defer = defer;
            shared.transfers = Some(transfers.clone());
            shared
        }),
        tcp_listeners,
        metrics_listener,
    ));
    watcher.stop();
    dynamic.stop();
    if control_bound {
        let _ = std::fs::remove_file(&control_path);
    }
    // Images being written in the background: let them finish, so that the next start
    // replays less.
    manager.wait_images();

    stop.store(true, Ordering::Relaxed);
    for socket in &udp_sockets {
        // ENOTCONN for an unconnected UDP socket, but the kernel still marks it shut
        // and wakes its readers.
        let _ = socket.shutdown(std::net::Shutdown::Read);
    }
    drop(wake_write);
    for thread in threads {
        let _ = thread.join();
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(wake_read);
    tracing::info!("stopped");
    result
}

/// The control socket bound, and the dynamic sources its `status` lists.
type ControlSocket = (
    std::os::unix::net::UnixListener,
    Arc<crate::sources::status::Registry>,
);

/// The async half: TCP, metrics, signals. Returns on SIGTERM or SIGINT.
async fn serve(
    config: &Config,
    mut signals: Signals,
    watcher: &WatchHandle,
    (manager, control, xfr_tasks, updates): (
        Arc<Manager>,
        Option<ControlSocket>,
        crate::xfr::tasks::Tasks,
        Option<Arc<crate::sources::update::UpdateService>>,
    ),
    shared: Arc<tcp::Shared>,
    tcp_listeners: Vec<std::net::TcpListener>,
    metrics_listener: Option<std::net::TcpListener>,
) -> Result<(), RunError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    if let Some((listener, sources)) = control {
        let listener = tokio::net::UnixListener::from_std(listener).map_err(RunError::Start)?;
        tokio::spawn(crate::front::control::serve(
            listener,
            manager,
            shared.transfers.as_ref().map(|t| t.stats().clone()),
            sources,
            shutdown_rx.clone(),
        ));
    }
    // Secondary zones (opened from the state folder, served at once) and NOTIFY out.
    let xfr_running = xfr_tasks.spawn(config, shutdown_rx.clone());
    let (zones, metrics) = (shared.zones.clone(), shared.metrics.clone());
    tokio::spawn({
        let config = config.clone();
        let (options, shutdown) = (shared.options.clone(), shutdown_rx.clone());
        async move { options::rotate_cookie_secret(&config, options, shutdown).await }
    });
    let mut certificates = Vec::new();
    for (index, (listener, configured)) in
        tcp_listeners.into_iter().zip(&config.listeners).enumerate()
    {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(RunError::Start)?;
        if let Some(files) = &configured.tls {
            let loaded =
                crate::front::dot::Certificates::load(files).map_err(|message| RunError::Tls {
                    addr: configured.address,
                    message,
                })?;
            certificates.push(loaded.clone());
            let listener = crate::front::dot::Listener {
                listener,
                index: index as u16,
                role: configured.role,
                allow: configured.allow.clone(),
                certificates: loaded,
            };
            tokio::spawn(crate::front::dot::serve(
                listener,
                shared.clone(),
                shutdown_rx.clone(),
            ));
            continue;
        }
        let listener = tcp::Listener {
            listener,
            index: index as u16,
            role: configured.role,
            allow: configured.allow.clone(),
        };
        tokio::spawn(tcp::serve(listener, shared.clone(), shutdown_rx.clone()));
    }
    if let Some(listener) = metrics_listener {
        listener.set_nonblocking(true).map_err(RunError::Start)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(RunError::Start)?;
        tokio::spawn(metrics_http::serve(
            listener,
            metrics.clone(),
            zones.clone(),
            shutdown_rx.clone(),
        ));
    }
    tracing::info!(
        listen = ?config.listen,
        zones = zones.load().len(),
        metrics = ?config.metrics,
        "serving"
    );
    notify::ready(&format!("serving {} zones", zones.load().len()));
    loop {
        tokio::select! {
            _ = signals.terminate.recv() => break,
            _ = signals.interrupt.recv() => break,
            _ = signals.hangup.recv() => {
                certificates.iter().for_each(crate::front::dot::Certificates::reload);
                reconfigure(
                    config,
                    watcher,
                    shared.transfers.as_deref().map(|t| (t, &*xfr_running)),
                    updates.as_deref(),
                );
            }
        }
    }
    tracing::info!("stopping");
    notify::stopping();
    let _ = shutdown_tx.send(true);
    Ok(())
}

/// SIGHUP: reads the configuration file again and applies what can change while
/// serving (zones, their options, `[include]`), then reloads every zone; a file that
/// does not validate changes nothing, and keys that need a restart are named.
fn reconfigure(
    config: &Config,
    watcher: &WatchHandle,
    transfers: Option<(&crate::xfr::Service, &crate::xfr::tasks::Running)>,
    updates: Option<&crate::sources::update::UpdateService>,
) {
    let Some(file) = &config.file else {
        tracing::info!("SIGHUP: reloading every zone");
        watcher.reload_all();
        return;
    };
    match crate::config::load(Some(file), &config.overrides) {
        Ok(next) => {
            let restart = config.needs_restart(&next);
            if !restart.is_empty() {
                tracing::warn!(
                    "SIGHUP: {}: changes to {} apply at the next restart",
                    file.display(),
                    restart.join(", ")
                );
            }
            if let Some((service, running)) = transfers {
                crate::xfr::tasks::reconfigure(service, running, &next);
            }
            // Turned off: no key, no unsigned client, every UPDATE refused.
            if let Some(updates) = updates {
                let changed = updates.reconfigure(next.dynamic.update.clone());
                tracing::info!(
                    changed,
                    "SIGHUP: [update] applied (keys, grants, allow-unsigned)"
                );
            }
            tracing::info!("SIGHUP: configuration read again, reloading every zone");
            watcher.reconfigure(
                next.reload_settings(),
                Box::new(super::zones::loader(&next)),
            );
        }
        Err(errors) => {
            for e in &errors {
                tracing::error!("{e}");
            }
            tracing::error!(
                "SIGHUP: {} has {} errors; the running configuration stays; reloading every zone",
                file.display(),
                errors.len()
            );
            watcher.reload_all();
        }
    }
}

/// The signals the daemon handles.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers (inside a tokio runtime's context).
    fn new() -> io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into a 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn wake_read_fd(fd: &OwnedFd) -> RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}
