//! RFC 2136 dynamic updates (issue 10, point 4): `nsupdate`, `knsupdate`, certbot's
//! `dns-rfc2136`, DHCP servers.
//!
//! ```text
//!  front (UDP, TCP): opcode UPDATE ─► deferred ─► Router ─► service (one worker thread)
//!    read (message) ─► zone served? authenticated? ─► prerequisites, prescan,
//!    policy, ownership, apply (process, policy) ─► one transaction per zone and batch
//!    ─► submit("update"): durable and served ─► each client answered
//! ```
//!
//! - `message`: the UPDATE read with hickory's codec, the response written.
//! - `process`: RFC 2136 §3.2 prerequisites, §3.4.1 prescan, §3.4.2 application (pure).
//! - `policy`: BIND's `update-policy` rules (grant, self, subdomain, wildcard, ...).
//! - TSIG is `crate::tsig`'s: the keys (`keyfile`), the request checked, the response
//!   signed.
//! - `service`: the queue, the batches, the commits and the answers; the `Router`
//!   that sends UPDATEs here and everything else deferred to the resolver.
//!
//! Records an update adds belong to the source "update" (`manager::ownership`): an
//! update may not change an RRset the zone file defines (REFUSED), as no source may.

pub mod message;
pub mod policy;
pub mod process;
pub mod service;

pub use service::{Router, Settings, UpdateService};

/// The source name under which updates are committed and owned.
pub const SOURCE: &str = "update";
