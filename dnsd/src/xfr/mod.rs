//! Zone transfers: what secondaries get from us and what we get from primaries.
//!
//! ```text
//!  journal (every diff, durable before it is served) ──► out: AXFR/IXFR out
//!  front ─deferred─► service: TSIG, access lists, NOTIFY in, transfers out
//!  zone set swap ──► notify: NOTIFY out to secondaries
//!  NOTIFY in, timer ──► secondary ──► client (IXFR/AXFR) ──► zone manager
//! ```
//!
//! - `journal`: every change of a zone as a diff, appended and made durable before
//!   the version it leads to is served; IXFR out reads it (RFC 1995).
//! - `access`: who may transfer and NOTIFY each zone (prefixes, TSIG keys), NOTIFY
//!   targets, primaries of secondary zones, and the server's transfer settings.
//! - `writer`: the messages of a transfer, with name compression.
//! - `out`: what an AXFR (RFC 5936) or IXFR (RFC 1995) request gets, record by record
//!   from the served version or the journal's condensed diff.
//! - `service`: the requests the fronts hand over: TSIG check (`crate::tsig`),
//!   NOTIFY in (RFC 1996), transfers out (streamed over TCP, one datagram for IXFR
//!   over UDP).
//! - `notify`: NOTIFY out (RFC 1996) after each new serial is durable and served.
//! - `client`: transfers in on the wire (SOA query, AXFR/IXFR request, TSIG-verified
//!   answers assembled into records or deltas).
//! - `refresh`: a secondary zone's schedule (refresh, retry, expire), pure.
//! - `secondary`: one task per secondary zone: NOTIFY in or timer, SOA query, IXFR
//!   with AXFR fallback, handed to the zone's manager (`manager::ZoneHandle`).
//! - `catalog`: catalog zones (RFC 9432): the producer's records, the consumer's
//!   reading and plan (pure); `catalog_tasks` drives both.
//! - `stats`: counters per zone and peer.
//! - `xot`: transfers in over TLS (RFC 9103): the connector and how the primary is
//!   authenticated (strict: CA and name or SPKI pin; opportunistic).
//! - `tasks`: what the daemon starts (NOTIFY out, secondary zones).

pub mod access;
pub mod catalog;
pub mod catalog_tasks;
pub mod client;
pub mod journal;
pub mod notify;
pub mod out;
pub mod refresh;
pub mod secondary;
pub mod service;
pub mod stats;
pub mod tasks;
pub mod writer;
pub mod xot;

pub use service::Service;
