//! What each subcommand does and prints; `main.rs` only parses arguments. Each returns
//! its exit code: 0 done, 1 failed while applying, 2 configuration invalid.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tracing::error;

use crate::config::{self, Config};
use crate::daemon::{self, RunOptions};
use crate::links::Netlink;
use crate::lock::StateLock;
use crate::nat::render::render;
use crate::owned::Owned;
use crate::reconcile::{self, ApplyError, Context};

/// Exit code: done.
pub const OK: u8 = 0;
/// Exit code: failed while applying.
pub const FAILED: u8 = 1;
/// Exit code: the configuration is invalid or does not fit this host.
pub const INVALID: u8 = 2;

/// Options every subcommand takes.
pub struct Global {
    /// The configuration file.
    pub config: PathBuf,
    /// The ownership record's folder.
    pub state_dir: PathBuf,
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs `f` on a single-threaded runtime (netd's work is I/O, one step at a time).
pub fn block_on(f: impl Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            error!("cannot start the runtime: {e}");
            FAILED
        }
    }
}

/// Loads the configuration, printing its errors.
fn load(global: &Global) -> Result<(Config, String), u8> {
    let text = std::fs::read_to_string(&global.config).map_err(|e| {
        eprintln!("{}: cannot read: {e}", global.config.display());
        INVALID
    })?;
    match config::parse(&text) {
        Ok(c) => Ok((c, text)),
        Err(errors) => {
            for e in errors {
                eprintln!("{}:{e}", global.config.display());
            }
            eprintln!("configuration refused: nothing applied");
            Err(INVALID)
        }
    }
}

/// Prints an apply error and returns its exit code.
fn report(global: &Global, e: &ApplyError) -> u8 {
    match e {
        ApplyError::Config(errors) => {
            for e in errors {
                eprintln!("{}:{e}", global.config.display());
            }
            eprintln!("configuration refused: nothing applied");
            INVALID
        }
        other => {
            eprintln!("netd: {other}");
            FAILED
        }
    }
}

/// `netd check`.
pub fn check(global: &Global) -> u8 {
    match load(global) {
        Ok(_) => {
            println!("{}: ok", global.config.display());
            OK
        }
        Err(code) => code,
    }
}

/// `netd plan`: needs no privilege. The kernel's links are read when netlink allows
/// (it does unprivileged); otherwise the changes are those from an empty host.
pub async fn plan(global: &Global) -> u8 {
    let (config, _) = match load(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let owned = Owned::load(&global.state_dir).unwrap_or_default();
    let kernel = match Netlink::connect() {
        Ok(nl) => nl.kernel().await.ok(),
        Err(_) => None,
    };
    let kernel = match kernel {
        Some(k) => k,
        None => {
            println!("# kernel state unreadable: changes shown from an empty host");
            Default::default()
        }
    };
    let plan = match reconcile::plan(&config, &kernel, &owned) {
        Ok(p) => p,
        Err(ApplyError::Io(e)) => {
            // Sysctls unreadable: still show links and the ruleset.
            eprintln!("netd: {e}");
            reconcile::Plan {
                links: Vec::new(),
                sysctls: Vec::new(),
                ruleset: render(&config),
            }
        }
        Err(e) => return report(global, &e),
    };
    println!("# links");
    if plan.links.is_empty() {
        println!("# (no change)");
    }
    for c in &plan.links {
        println!("{c}");
    }
    println!("# sysctls");
    if plan.sysctls.is_empty() {
        println!("# (no change)");
    }
    for c in &plan.sysctls {
        println!("{c}");
    }
    println!("# forwards");
    for f in &config.forwards {
        let protos: Vec<String> = f.protocols.iter().map(ToString::to_string).collect();
        println!(
            "# {} {}/{} {}{}-> {}:{}{}",
            f.label(),
            protos.join("+"),
            f.ports,
            f.interface
                .as_ref()
                .map_or(String::new(), |i| format!("on {i} ")),
            f.address.map_or(String::new(), |a| format!("at {a} ")),
            f.to,
            f.to_port,
            if f.allow.is_empty() {
                String::new()
            } else {
                let a: Vec<String> = f.allow.iter().map(ToString::to_string).collect();
                format!(" allow {}", a.join(", "))
            }
        );
    }
    println!("# nftables: replaces table inet netd in one transaction");
    print!("{}", plan.ruleset.replace_batch());
    warn_coexistence(&config).await;
    OK
}

/// Prints what in the host's other tables breaks the configuration (stderr).
async fn warn_coexistence(config: &Config) {
    match reconcile::coexistence(config).await {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
        }
        Err(e) => eprintln!("netd: cannot read the host's other tables: {e}"),
    }
}

/// `netd apply`.
pub async fn apply(global: &Global) -> u8 {
    let (config, _) = match load(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _lock = match StateLock::acquire(&global.state_dir, "apply") {
        Ok(l) => l,
        Err(e) => return report(global, &ApplyError::Lock(e)),
    };
    let mut ctx = match Context::open(&global.state_dir) {
        Ok(c) => c,
        Err(e) => return report(global, &e),
    };
    let applied = reconcile::apply(&mut ctx, &config, "apply").await;
    if applied.is_ok() {
        warn_coexistence(&config).await;
    }
    match applied {
        Ok(changes) => {
            if changes.is_empty() {
                println!("no changes");
            }
            for c in changes {
                println!("{c}");
            }
            OK
        }
        Err(e) => report(global, &e),
    }
}

/// `netd run`.
pub async fn run(global: &Global, interval: f64) -> u8 {
    let (config, text) = match load(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let interval = Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(2));
    let opts = RunOptions {
        config: global.config.clone(),
        state_dir: global.state_dir.clone(),
        interval,
    };
    match daemon::run(opts, config, text).await {
        Ok(()) => OK,
        Err(e) => report(global, &e),
    }
}

/// Exit code of `netd status` when no daemon runs (its last state is shown).
pub const NOT_RUNNING: u8 = 3;

/// `netd status`: the VRRP instances of a running daemon, from its state folder.
/// When no `netd run` holds the folder, the states shown are a dead daemon's last
/// (marked stale) and the exit code is [`NOT_RUNNING`].
pub fn status(global: &Global, json: bool) -> u8 {
    let running = match StateLock::holder(&global.state_dir) {
        Ok(holder) => holder.is_some_and(|h| h.command == "run"),
        Err(e) => {
            eprintln!("netd: {e}");
            return FAILED;
        }
    };
    let all = match crate::vrrp::status::read(&global.state_dir) {
        Ok(all) => all,
        Err(e) => {
            eprintln!("netd: {e}");
            return FAILED;
        }
    };
    if json {
        if !running {
            eprintln!("netd is not running: this is the last state a daemon wrote");
        }
        match serde_json::to_string_pretty(&all) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("netd: {e}");
                return FAILED;
            }
        }
    } else {
        print!("{}", crate::vrrp::status::render_table(&all, running));
    }
    if running { OK } else { NOT_RUNNING }
}

/// `netd down`.
pub async fn down(global: &Global) -> u8 {
    let _lock = match StateLock::acquire(&global.state_dir, "down") {
        Ok(l) => l,
        Err(e) => return report(global, &ApplyError::Lock(e)),
    };
    let mut ctx = match Context::open(&global.state_dir) {
        Ok(c) => c,
        Err(e) => return report(global, &e),
    };
    let (done, errors) = reconcile::down(&mut ctx).await;
    for c in done {
        println!("{c}");
    }
    for e in &errors {
        eprintln!("netd: {e}");
    }
    if errors.is_empty() { OK } else { FAILED }
}
