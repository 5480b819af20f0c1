//! `netd run`: apply, then keep it true, as a set of tasks sharing one shutdown signal.
//!
//! ```text
//!  signals (TERM, INT: stop; HUP: check now)
//!     │
//!     ▼ shutdown (watch)          ┌────────────────────────────────────────────┐
//!  ───┼─────────────────────────► reconcile task: every `interval` or on HUP, │
//!     │                           │ re-read the file; new and valid -> apply   │
//!     │                           │ ("config changed"); same -> apply anyway,  │
//!     │                           │ any change made is "drift repaired"        │
//!     │                           └────────────────────────────────────────────┘
//!     └─► VRRP instances (`crate::vrrp::io::run_instances`), on the same signal;
//!         further tasks are spawned in `run` the same way.
//! ```
//!
//! A file that fails to parse or validate is logged and ignored: the last good
//! configuration stays applied (DESIGN.md principle 6). Stopping leaves everything in
//! place; `netd down` removes it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::nat::apply::fingerprint;
use crate::reconcile::{self, ApplyError, Context};

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

/// Applies `config` once, then runs every task until SIGTERM or SIGINT.
/// Fails only if the first apply fails.
pub async fn run(opts: RunOptions, mut config: Config, text: String) -> Result<(), ApplyError> {
    let mut ctx = Context::open(&opts.state_dir)?;
    reconcile::apply(&mut ctx, &config, "apply").await?;
    info!(config = %opts.config.display(), "applied; watching for changes and drift");

    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = std::sync::Arc::new(Notify::new());
    let mut tasks: JoinSet<()> = JoinSet::new();
    // VRRP instances are read at start; a change to them takes a restart.
    let vrrp = std::mem::take(&mut config.vrrp);
    let (state_dir, vrrp_stop) = (opts.state_dir.clone(), stop_rx.clone());
    tasks.spawn(async move {
        if let Err(e) = crate::vrrp::io::run_instances(vrrp, Some(state_dir), vrrp_stop).await {
            error!(error = %e, "vrrp");
        }
    });
    tasks.spawn(reconcile_task(
        opts.clone(),
        ctx,
        config,
        fingerprint(&text),
        stop_rx.clone(),
        wake.clone(),
    ));
    // Further tasks are spawned here the same way, each with `stop_rx.clone()`.

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => wake.notify_one(),
            Some(done) = tasks.join_next() => {
                // VRRP with no instances ends at once; a panicked task is an error.
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

/// Re-reads the file and re-applies every `interval`, on a wake-up, until stopped.
async fn reconcile_task(
    opts: RunOptions,
    mut ctx: Context,
    mut config: Config,
    mut applied: u64,
    mut stop: watch::Receiver<bool>,
    wake: std::sync::Arc<Notify>,
) {
    // The fingerprint of a file already reported as invalid, so it is reported once.
    let mut refused = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(opts.interval) => {}
            _ = wake.notified() => {}
        }
        let reason = match std::fs::read_to_string(&opts.config) {
            Ok(text) if fingerprint(&text) != applied => {
                let print = fingerprint(&text);
                match config::parse(&text) {
                    Ok(c) => {
                        config = c;
                        applied = print;
                        refused = None;
                        "config changed"
                    }
                    Err(errors) => {
                        if refused != Some(print) {
                            for e in errors {
                                error!(file = %opts.config.display(), "{e}");
                            }
                            warn!("configuration refused; the last good one stays applied");
                            refused = Some(print);
                        }
                        "drift repaired"
                    }
                }
            }
            Ok(_) => "drift repaired",
            Err(e) => {
                warn!(file = %opts.config.display(), error = %e, "cannot read the configuration");
                "drift repaired"
            }
        };
        if let Err(e) = reconcile::apply(&mut ctx, &config, reason).await {
            error!(reason, "{e}");
        }
    }
}
