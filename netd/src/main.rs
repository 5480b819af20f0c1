//! netd: the command line. Parses arguments and hands over to `netd::commands`.
//!
//! Exit codes: 0 done; 1 failed while applying (netlink, nft, files); 2 the
//! configuration is invalid or does not fit this host (nothing was applied).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netd::commands::{self, Global};

/// Bridges, NAT and port forwards for the service network, reconciled with nftables.
#[derive(Parser)]
#[command(name = "netd", version)]
struct Cli {
    /// The configuration file.
    #[arg(short, long, global = true, default_value = "/etc/netd/netd.toml")]
    config: PathBuf,
    /// Where netd records what it owns.
    #[arg(long, global = true, default_value = "/run/netd")]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration and exit.
    Check,
    /// Print the link changes and the nftables table that `apply` would load.
    Plan,
    /// Apply the configuration once.
    Apply,
    /// Apply, then keep it applied: follow the file, repair drift.
    Run {
        /// Seconds between drift checks.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
    },
    /// Remove everything netd owns.
    Down,
    /// Show each VRRP instance's state, priority and master (from a running daemon).
    Status {
        /// Print the raw JSON state instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logs();
    let global = Global {
        config: cli.config,
        state_dir: cli.state_dir,
    };
    let code = match cli.command {
        Command::Check => commands::check(&global),
        Command::Plan => commands::block_on(commands::plan(&global)),
        Command::Apply => commands::block_on(commands::apply(&global)),
        Command::Run { interval } => commands::block_on(commands::run(&global, interval)),
        Command::Down => commands::block_on(commands::down(&global)),
        Command::Status { json } => commands::status(&global, json),
    };
    ExitCode::from(code)
}
