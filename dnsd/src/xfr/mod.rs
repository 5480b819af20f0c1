//! Zone transfers: what secondaries get from us and what we get from primaries.
//!
//! Today this holds the per-zone `journal` of diffs (written by the file source on every
//! reload that changes a zone, read back at start). IXFR out (RFC 1995) will serve
//! "from serial X to now" from it, NOTIFY (RFC 1996) will announce each new entry, and
//! the secondary's refresh and transfers in will write to it too.

pub mod journal;
