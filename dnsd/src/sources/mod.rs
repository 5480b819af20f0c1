//! Where zone content comes from. Today: zone files in a folder kept in git (`files`),
//! watched and reloaded on every change. Container engines, dynamic updates and
//! transfers in will be further sources; each produces `Zone` snapshots and diffs the
//! same way.

pub mod file_diff;
pub mod files;
pub mod reload;
pub mod state;
pub mod stats;

pub use files::{WatchHandle, watch};
pub use reload::{Reloader, Settings, ZoneOptions};
