//! Logging: tracing events as text lines on standard error, filtered by `RUST_LOG`
//! when set, else by the configuration's `log-level`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `level` is the configuration's `log-level`
/// (validated by `config`). A second call does nothing.
pub fn init(level: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::builder().parse_lossy(env),
        _ => EnvFilter::builder().parse_lossy(level),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
