//! Where zone content comes from: zone files in a folder kept in git (`files`),
//! watched and reloaded on every change; container engines (`containers`); the
//! PowerDNS-compatible HTTP API (`api`); RFC 2136 updates and transfers in. Each submits transactions to the
//! zone's manager; `desired` turns a dynamic source's whole wanted state into one.

pub mod api;
pub mod containers;
pub mod desired;
pub mod file_diff;
pub mod files;
pub mod reload;
pub mod state;
pub mod stats;
pub mod update;

pub use files::{WatchHandle, watch};
pub use reload::{Reloader, Settings, ZoneOptions};
