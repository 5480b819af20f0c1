//! Zones: the immutable snapshot every source produces (`snapshot`), its records
//! (`record`), and the set of zones a server answers for (`set`).
//!
//! Zone text is loaded and checked in `parse`/`check` (file:line errors), turned into a
//! `Zone` by `Zone::build`, compared with the previous version by `diff`, and given a
//! serial by `serial`; the `ZoneSet` holding every zone is swapped atomically.

pub mod diff;
pub mod record;
pub mod serial;
pub mod set;
pub mod snapshot;

pub use record::{Record, Rtype};
pub use set::ZoneSet;
pub use snapshot::{BuildError, NodeRef, RrsetRef, Zone};
