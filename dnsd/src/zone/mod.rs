//! Zones: the immutable snapshot every source produces (`snapshot`), its records
//! (`record`), and the set of zones a server answers for (`set`).
//!
//! Zone text is read by `files` (regular files, allowed folders, a budget per zone),
//! tokenized by `lexer`, parsed by `parse` (with `generate` for `$GENERATE` and the
//! `rdata_*` modules per type, `quote` for input in messages) and checked by `check`
//! and `glue` (file:line errors), all driven by `load`; then turned into a `Zone` by
//! `Zone::build`, compared with the previous version by `diff`, and given a serial by
//! `serial`; the `ZoneSet` holding every zone is swapped atomically.

pub mod arena;
pub mod block;
pub mod canonical;
pub mod check;
pub mod diff;
pub mod file_edit;
pub mod file_match;
pub mod files;
pub mod generate;
pub mod glue;
pub mod index;
pub mod lexer;
pub mod load;
pub mod marks;
pub mod node;
pub mod order;
pub mod ordered;
pub mod parse;
pub mod quote;
pub mod rdata_dnssec;
pub mod rdata_loc;
pub mod rdata_misc;
pub mod rdata_svcb;
pub mod rdata_text;
pub mod rdata_wire;
pub mod record;
pub mod serial;
pub mod set;
pub mod snapshot;
pub mod stream;
pub mod text;
pub mod txn;

pub use load::{LoadError, LoadErrorKind, Loaded, load_zone};
pub use record::{Record, Rtype};
pub use set::ZoneSet;
pub use snapshot::{BuildError, NodeRef, RrsetRef, Zone};
