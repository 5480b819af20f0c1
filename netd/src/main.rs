//! netd: the command line (run, check, status).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "netfabric's network daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/netd/netd.toml")]
        config: PathBuf,
        /// Where the state files (VRRP status and metrics) are written.
        #[arg(long, default_value = "/run/netd")]
        state_dir: PathBuf,
    },
    /// Check the configuration file and exit.
    Check {
        /// The configuration file.
        #[arg(long, default_value = "/etc/netd/netd.toml")]
        config: PathBuf,
    },
    /// Show each VRRP instance's state, priority and master (from a running daemon).
    Status {
        /// The running daemon's state directory.
        #[arg(long, default_value = "/run/netd")]
        state_dir: PathBuf,
        /// Print the raw JSON state instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn load(path: &PathBuf) -> anyhow::Result<Vec<netd::vrrp::config::Instance>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let spec: netd::config::Spec =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    match netd::vrrp::config::validate(&spec.vrrp) {
        Ok(instances) => Ok(instances),
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            bail!("{}: {} errors", path.display(), errors.len())
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Check { config } => {
            load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Status { state_dir, json } => {
            let all = netd::vrrp::status::read(&state_dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print!("{}", netd::vrrp::status::render_table(&all));
            }
            Ok(())
        }
        Command::Run { config, state_dir } => {
            let vrrp = load(&config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let mut vrrp = tokio::spawn(netd::vrrp::io::run_instances(
                    vrrp,
                    Some(state_dir),
                    stopped,
                ));
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                    done = &mut vrrp => return done?.context("vrrp"),
                }
                tracing::info!("netd: stopping");
                let _ = stop.send(true);
                vrrp.await?.context("vrrp")?;
                Ok(())
            })
        }
    }
}
