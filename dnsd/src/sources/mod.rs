//! Where zone content comes from: zone files in a folder kept in git (`files` says
//! which file is which zone, `reload` loads them into their zone managers, `watcher`
//! reloads on every change — when `burst` says a change is complete, for the files
//! `watch_plan` resolves); container engines (`containers`); the PowerDNS-compatible
//! HTTP API (`api`); RFC 2136 updates and transfers in. Each submits transactions to
//! the zone's manager; `status` gathers what the dynamic ones tell `dnsd ctl status`;
//! `desired` turns a dynamic source's whole wanted state into one.

pub mod api;
pub mod burst;
pub mod containers;
pub mod desired;
pub mod file_diff;
pub mod files;
pub mod reload;
pub mod state;
pub mod stats;
pub mod status;
pub mod update;
pub mod watch_plan;
pub mod watcher;

pub use reload::{Reloader, Settings, ZoneOptions};
pub use watcher::{WatchHandle, watch};
