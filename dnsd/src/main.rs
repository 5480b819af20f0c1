//! dnsd's command line: parses the arguments and calls the library (see lib.rs).
//!
//! ```text
//! dnsd [--config FILE] [--listen ADDR:PORT]... [--zones DIR] [--state-dir DIR]
//!                                     serve (default: ./zones on 127.0.0.1:5353)
//! dnsd check [--config FILE] [PATH...]                           check, exit 0 or 1
//! dnsd ctl [--config FILE] [LINE...]                             control socket: change
//!                                                               zones, read their state
//! dnsd tsig-keygen [-a ALGORITHM] NAME                  a new TSIG key (tsig-keygen's format)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use dnsd::config::{self, Overrides};
use dnsd::daemon::{check, logging, run};

/// netfabric's DNS server: authoritative zones from files kept in git.
#[derive(Debug, Parser)]
#[command(name = "dnsd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Serving (the default command).
#[derive(Debug, Args, PartialEq)]
struct ServeArgs {
    /// Configuration file (TOML); without it, the embedded default.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to serve over UDP and TCP (repeatable); replaces the file's `listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<String>,
    /// Folder of NAME.zone files; replaces the file's `zones-dir`.
    #[arg(long, value_name = "DIR")]
    zones: Option<PathBuf>,
    /// Folder of state kept across restarts; replaces the file's `state-dir`.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand, PartialEq)]
enum Command {
    /// Check the configuration and zone files without serving: one line per problem,
    /// exit status 0 when all is well, 1 otherwise.
    Check {
        /// Configuration file (TOML); without it, the embedded default.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Zone files or folders to check (default: every zone the configuration serves).
        paths: Vec<PathBuf>,
    },
    /// Talk to a running dnsd through its control socket (in the state folder): each
    /// LINE (or each line of standard input, without LINEs) is sent and its reply
    /// printed; exit status 1 if any reply is an error. Lines: `zone NAME [SOURCE]`,
    /// `add OWNER TTL TYPE RDATA`, `del OWNER TYPE [RDATA]`, `del-name OWNER`, `commit`,
    /// `abort`, `status [NAME]`.
    Ctl {
        /// Configuration file (TOML), for the state folder; without it, the default.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Lines to send.
        lines: Vec<String>,
    },
    /// Print a new TSIG key (RFC 8945) with a random secret, in the format of BIND's
    /// `tsig-keygen`: paste it into a key file (`[xfr] key-files`) on both ends.
    TsigKeygen {
        /// hmac-sha256, hmac-sha384 or hmac-sha512.
        #[arg(short, long, default_value = "hmac-sha256")]
        algorithm: String,
        /// The key's name.
        name: String,
    },
    /// DNSSEC keys of signed zones, in the state folder.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the DS records (SHA-256) of a signed zone's key-signing keys: what the
    /// parent zone (the registrar) publishes.
    Ds {
        /// Configuration file (TOML), for the state folder and the zone's policy.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The zone.
        zone: String,
    },
}

/// What `dnsd keys` does.
#[derive(Debug, Subcommand, PartialEq)]
enum KeysAction {
    /// One line per key: zone, tag, algorithm, role, flags, state, file.
    List {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Zones (default: every signed zone).
        zones: Vec<String>,
    },
    /// Make a new key of the zone's algorithm, published and signing now (beside the
    /// zone's keys: a rollover by hand).
    Generate {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A zone-signing key (KSK+ZSK zones); default: a key-signing key or CSK.
        #[arg(long)]
        zsk: bool,
        /// The zone.
        zone: String,
    },
    /// Copy keys in BIND's format (`dnssec-keygen`, Knot's `keymgr`) into the store,
    /// as keys the zone already uses: a zone moves from BIND or Knot without a
    /// rollover.
    Import {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The zone.
        zone: String,
        /// Key files: `K<zone>.+<alg>+<tag>.key` (the `.private` beside it) or
        /// `.private`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Retire a key safely: a current key is rolled (successor first), a spare one
    /// leaves once its signatures have left the caches.
    Retire {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The zone.
        zone: String,
        /// The key tag.
        tag: String,
    },
    /// Tell dnsd that the parent publishes the DS of a new KSK or CSK (when the
    /// policy names no `parent-resolvers` to ask): the rollover goes on.
    DsSeen {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The zone.
        zone: String,
        /// The key tag.
        tag: String,
    },
    /// Tell dnsd that the parent publishes no DS any more for a zone whose signing is
    /// turned off (when the policy names no `parent-resolvers` to ask): the zone is
    /// unsigned once that DS has left the caches.
    DsGone {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The zone.
        zone: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { config, paths }) => {
            let report = check::check(config.as_deref(), &paths);
            for line in &report.lines {
                println!("{line}");
            }
            if report.failed {
                ExitCode::FAILURE
            } else {
                eprintln!("dnsd check: {} zones ok", report.zones_ok);
                ExitCode::SUCCESS
            }
        }
        Some(Command::Ctl { config, lines }) => ctl(config, lines),
        Some(Command::TsigKeygen { algorithm, name }) => tsig_keygen(&algorithm, &name),
        Some(Command::Keys { action }) => keys(action),
        Some(Command::Ds { config, zone }) => {
            key_command(config, |c| dnsd::dnssec::cli::ds(c, &zone))
        }
        None => serve(cli.serve),
    }
}

fn tsig_keygen(algorithm: &str, name: &str) -> ExitCode {
    let Some(algorithm) = dnsd::tsig::Algorithm::from_text(algorithm) else {
        eprintln!(
            "dnsd tsig-keygen: {algorithm}: unknown algorithm; expected hmac-sha256, hmac-sha384 or hmac-sha512"
        );
        return ExitCode::FAILURE;
    };
    match dnsd::tsig::keyfile::generate(name, algorithm) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dnsd tsig-keygen: {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn keys(action: KeysAction) -> ExitCode {
    match action {
        KeysAction::List { config, zones } => {
            key_command(config, |c| dnsd::dnssec::cli::keys_list(c, &zones))
        }
        KeysAction::Generate { config, zsk, zone } => key_command(config, |c| {
            dnsd::dnssec::cli::keys_generate(c, &zone, zsk).map(|l| vec![l])
        }),
        KeysAction::Import {
            config,
            zone,
            files,
        } => key_command(config, |c| dnsd::dnssec::cli::keys_import(c, &zone, &files)),
        KeysAction::Retire { config, zone, tag } => key_command(config, |c| {
            dnsd::dnssec::cli::keys_retire(c, &zone, &tag).map(|l| vec![l])
        }),
        KeysAction::DsSeen { config, zone, tag } => key_command(config, |c| {
            dnsd::dnssec::cli::keys_ds_seen(c, &zone, &tag).map(|l| vec![l])
        }),
        KeysAction::DsGone { config, zone } => key_command(config, |c| {
            dnsd::dnssec::cli::keys_ds_gone(c, &zone).map(|l| vec![l])
        }),
    }
}

/// Runs a key command with the configuration: its lines on standard output, or its
/// error on standard error (exit status 1).
fn key_command(
    config: Option<PathBuf>,
    run: impl FnOnce(&config::Config) -> Result<Vec<String>, String>,
) -> ExitCode {
    let config = match config::load(config.as_deref(), &Overrides::default()) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::FAILURE;
        }
    };
    match run(&config) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dnsd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ctl(config: Option<PathBuf>, lines: Vec<String>) -> ExitCode {
    let config = match config::load(config.as_deref(), &Overrides::default()) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::FAILURE;
        }
    };
    let path = dnsd::front::control::socket_path(&config.state_dir);
    let lines: Vec<String> = if lines.is_empty() {
        std::io::stdin().lines().map_while(Result::ok).collect()
    } else {
        lines
    };
    match dnsd::front::control::client(&path, &lines) {
        Ok(replies) => {
            let mut failed = false;
            for reply in replies {
                failed |= reply.starts_with("error");
                println!("{reply}");
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!(
                "dnsd ctl: {}: {e} (is dnsd running with this state folder?)",
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        listen: args.listen,
        zones_dir: args.zones,
        state_dir: args.state_dir,
    };
    let config = match config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::FAILURE;
        }
    };
    if config.listeners.iter().any(|l| l.role.recursion()) {
        // Before any thread allocates: the resolver cache's bound holds for RSS too.
        dnsd::resolver::memory::limit_arenas();
    }
    logging::init(&config.log_level);
    match run::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("dnsd: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dnsd").chain(args.iter().copied()))
    }

    #[test]
    fn no_arguments_serve_the_default() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(
            cli.serve,
            ServeArgs {
                config: None,
                listen: vec![],
                zones: None,
                state_dir: None,
            }
        );
    }

    #[test]
    fn serve_flags() {
        let cli = parse(&[
            "--config",
            "d.toml",
            "--listen",
            "127.0.0.2:53",
            "--listen",
            "[::1]:53",
            "--zones",
            "z",
            "--state-dir",
            "/var/lib/dnsd",
        ])
        .unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.serve.config, Some("d.toml".into()));
        assert_eq!(cli.serve.listen, vec!["127.0.0.2:53", "[::1]:53"]);
        assert_eq!(cli.serve.zones, Some("z".into()));
        assert_eq!(cli.serve.state_dir, Some("/var/lib/dnsd".into()));
    }

    #[test]
    fn check_with_config_and_paths() {
        let cli = parse(&["check", "--config", "d.toml", "a.zone", "zones/"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Check {
                config: Some("d.toml".into()),
                paths: vec!["a.zone".into(), "zones/".into()]
            })
        );
        let bare = parse(&["check"]).unwrap();
        assert_eq!(
            bare.command,
            Some(Command::Check {
                config: None,
                paths: vec![]
            })
        );
    }

    #[test]
    fn unknown_flags_and_serve_flags_before_check_are_refused() {
        assert!(parse(&["--listen-on", "x"]).is_err());
        assert!(parse(&["--zones", "z", "check"]).is_err());
        assert!(parse(&["check", "--listen", "127.0.0.1:53"]).is_err());
    }
}
