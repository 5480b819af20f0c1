//! `netd run`: apply, then keep it true, as a set of tasks sharing one shutdown signal.
//!
//! ```text
//!  signals (TERM, INT: stop; HUP: check now)
//!     │
//!     ▼ shutdown (watch)          ┌────────────────────────────────────────────┐
//!  ───┼─────────────────────────► reconcile task: every `interval` or on HUP, │
//!     │                           │ re-read the file (`ConfigFile`):           │
//!     │                           │  new, valid and fitting -> apply, and hand  │
//!     │                           │  its [[vrrp]] blocks to the supervisor      │
//!     │                           │  (only changed instances restart);          │
//!     │                           │  otherwise -> the last good one, re-applied │
//!     │                           │  ("drift repaired")                         │
//!     │                           └────────────────────────────────────────────┘
//!     └─► metrics endpoint (`metrics_http`), when configured
//! ```
//!
//! The daemon holds the state folder's lock (`crate::lock`) for its whole life: a
//! one-shot `netd apply` or `netd down` beside it is refused. A file that fails to
//! parse, or does not fit the host (an unknown interface), is logged once per change
//! and ignored: the last good configuration stays applied and keeps being repaired
//! (DESIGN.md principle 6). Stopping leaves everything in place but the VRRP
//! addresses, which the instances hand over (priority 0); `netd down` removes the rest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{self, Config, ConfigError};
use crate::lock::StateLock;
use crate::metrics::Metrics;
use crate::nat::apply::fingerprint;
use crate::reconcile::{self, ApplyError, Context};
use crate::vrrp::status::Board;
use crate::vrrp::supervise::{Supervisor, clean_leftovers};

/// How `netd run` was asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// The ownership record's folder.
    pub state_dir: PathBuf,
    /// Time between drift checks.
    pub interval: Duration,
}

//------------ ConfigFile (pure) ---------------------------------------------

/// What a read of the configuration file found.
#[derive(Debug)]
pub enum Reading {
    /// The text of the configuration applied: nothing new.
    Same,
    /// A new file that parses and validates (it may still not fit the host).
    New(Box<Config>, u64),
    /// A new file that does not validate; `first` when this text is reported first.
    Invalid(Vec<ConfigError>, bool),
}

/// Tells what the file's text means against what is applied, and reports each bad
/// text once.
#[derive(Debug)]
pub struct ConfigFile {
    /// Fingerprint of the text applied.
    applied: u64,
    /// Fingerprint of the last text reported (invalid or not fitting).
    reported: Option<u64>,
}

impl ConfigFile {
    /// The file whose text `applied` is applied.
    pub fn new(applied: &str) -> Self {
        Self {
            applied: fingerprint(applied),
            reported: None,
        }
    }

    /// Reads `text`.
    pub fn read(&mut self, text: &str) -> Reading {
        let print = fingerprint(text);
        if print == self.applied {
            return Reading::Same;
        }
        match config::parse(text) {
            Ok(c) => Reading::New(Box::new(c), print),
            Err(errors) => Reading::Invalid(errors, self.first_report(print)),
        }
    }

    /// Whether the text with fingerprint `print` is reported for the first time.
    pub fn first_report(&mut self, print: u64) -> bool {
        self.reported.replace(print) != Some(print)
    }

    /// Records that the text with fingerprint `print` is applied.
    pub fn applied(&mut self, print: u64) {
        self.applied = print;
        self.reported = None;
    }
}

//------------ run -----------------------------------------------------------

/// Applies `config` once, then runs every task until SIGTERM or SIGINT.
/// Fails only if the state folder is locked or the first apply fails.
pub async fn run(opts: RunOptions, config: Config, text: String) -> Result<(), ApplyError> {
    // First of all: a SIGTERM during startup is then handled (a clean stop once
    // started), not the default action that kills the process mid-way.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let _lock = StateLock::acquire(&opts.state_dir, "run").map_err(ApplyError::Lock)?;
    let mut ctx = Context::open(&opts.state_dir)?;
    let metrics = Arc::new(Metrics::default());
    let first = reconcile::apply(&mut ctx, &config, "apply").await;
    metrics.pass("apply", first.as_ref().map(Vec::len).map_err(|_| ()));
    first?;
    metrics.applied(&config);
    info!(config = %opts.config.display(), "applied; watching for changes and drift");

    let board = Arc::new(Board::new(Some(opts.state_dir.clone()))?);
    metrics.set_board(board.clone());
    clean_leftovers(&ctx.netlink, &opts.state_dir, &config.vrrp).await;
    let mut vrrp = Supervisor::new(ctx.netlink.clone(), board, Some(opts.state_dir.clone()));
    let mut warned = Vec::new();
    warn_coexistence(&config, &mut warned).await;
    vrrp.set(&config.vrrp).await;

    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut tasks: JoinSet<()> = JoinSet::new();
    if let Some(addr) = config.metrics {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            ApplyError::Io(std::io::Error::new(
                e.kind(),
                format!("metrics: cannot listen on {addr}: {e}"),
            ))
        })?;
        info!(%addr, "metrics at http://{addr}/metrics");
        tasks.spawn(crate::metrics_http::serve(
            listener,
            metrics.clone(),
            stop_rx.clone(),
        ));
    }
    let file = ConfigFile::new(&text);
    tasks.spawn(reconcile_task(
        opts.clone(),
        ctx,
        (config, file, warned),
        vrrp,
        metrics,
        stop_rx.clone(),
        wake.clone(),
    ));

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => wake.notify_one(),
            Some(done) = tasks.join_next() => {
                if let Err(e) = done {
                    error!(error = %e, "a task ended");
                }
                if tasks.is_empty() {
                    break;
                }
            }
        }
    }
    info!("stopping; what netd applied stays in place (netd down removes it)");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Re-reads the file and re-applies every `interval`, on a wake-up, until stopped;
/// then stops the VRRP instances.
async fn reconcile_task(
    opts: RunOptions,
    mut ctx: Context,
    (mut good, mut file, mut warned): (Config, ConfigFile, Vec<String>),
    mut vrrp: Supervisor,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(opts.interval) => {}
            _ = wake.notified() => {}
        }
        let reading = match std::fs::read_to_string(&opts.config) {
            Ok(text) => file.read(&text),
            Err(e) => {
                warn!(file = %opts.config.display(), error = %e, "cannot read the configuration");
                Reading::Same
            }
        };
        match reading {
            Reading::Same => {}
            Reading::Invalid(errors, first) => {
                if first {
                    for e in errors {
                        error!(file = %opts.config.display(), "{e}");
                    }
                    warn!("configuration refused; the last good one stays applied");
                    metrics.refused();
                }
            }
            Reading::New(new, print) => {
                let result = reconcile::apply(&mut ctx, &new, "config changed").await;
                metrics.pass(
                    "config changed",
                    result.as_ref().map(Vec::len).map_err(|_| ()),
                );
                match result {
                    Ok(_) => {
                        file.applied(print);
                        good = *new;
                        metrics.applied(&good);
                        vrrp.set(&good.vrrp).await;
                        continue;
                    }
                    Err(ApplyError::Config(errors)) => {
                        if file.first_report(print) {
                            for e in errors {
                                error!(file = %opts.config.display(), "{e}");
                            }
                            warn!(
                                "configuration does not fit this host; the last good one \
                                   stays applied and keeps being repaired"
                            );
                            metrics.refused();
                        }
                    }
                    // Tried again at the next pass; meanwhile the last good one holds.
                    Err(e) => error!(reason = "config changed", "{e}"),
                }
            }
        }
        let result = reconcile::apply(&mut ctx, &good, "drift repaired").await;
        metrics.pass(
            "drift repaired",
            result.as_ref().map(Vec::len).map_err(|_| ()),
        );
        if let Err(e) = result {
            error!(reason = "drift repaired", "{e}");
        }
        warn_coexistence(&good, &mut warned).await;
    }
    vrrp.stop_all().await;
}

/// Logs what in the host's other tables breaks the configuration, when it differs
/// from what was logged last (`warned`): once per change, not every pass.
async fn warn_coexistence(config: &Config, warned: &mut Vec<String>) {
    let now: Vec<String> = match reconcile::coexistence(config).await {
        Ok(w) => w.iter().map(ToString::to_string).collect(),
        Err(e) => vec![format!("cannot read the host's other tables: {e}")],
    };
    if now != *warned {
        for w in &now {
            warn!("{w}");
        }
        if now.is_empty() && !warned.is_empty() {
            info!("the host's other tables no longer break netd's forwards");
        }
        *warned = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[[bridge]]\nname = \"br-svc\"\naddresses = [\"198.51.100.1/24\"]\n";

    #[test]
    fn same_text_is_nothing_new() {
        let mut f = ConfigFile::new(GOOD);
        assert!(matches!(f.read(GOOD), Reading::Same));
    }

    #[test]
    fn a_bad_text_is_reported_once_until_it_changes() {
        let mut f = ConfigFile::new(GOOD);
        let bad = format!("{GOOD}frobnicate = 1\n");
        assert!(matches!(f.read(&bad), Reading::Invalid(_, true)));
        assert!(matches!(f.read(&bad), Reading::Invalid(_, false)));
        let worse = format!("{bad}x = 2\n");
        assert!(matches!(f.read(&worse), Reading::Invalid(_, true)));
    }

    #[test]
    fn a_new_text_is_new_until_applied() {
        let mut f = ConfigFile::new(GOOD);
        let new = GOOD.replace("198.51.100.1/24", "198.51.100.2/24");
        let Reading::New(_, print) = f.read(&new) else {
            panic!("not new")
        };
        // Not applied (it did not fit the host): still new, reported once.
        assert!(f.first_report(print));
        assert!(!f.first_report(print));
        assert!(matches!(f.read(&new), Reading::New(..)));
        f.applied(print);
        assert!(matches!(f.read(&new), Reading::Same));
    }
}
