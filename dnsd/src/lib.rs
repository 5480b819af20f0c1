//! dnsd: every DNS role a self-hosted site needs, in one process.
//!
//! Data flows in this order (shared/DESIGN.md):
//!
//! 1. **Sources** produce records: zone files kept in git, and later transfers in,
//!    container events and dynamic updates.
//! 2. The **zone builder** checks them (file:line errors), builds an immutable
//!    [`zone::Zone`] snapshot, gives it a serial and computes the diff with the previous
//!    version; the diff goes to the journal.
//! 3. The **zone set** ([`zone::ZoneSet`]) holds every zone and is swapped atomically;
//!    readers never wait.
//! 4. The **answer** engine turns a query and the zone set into a response, synchronously
//!    and without locks.
//! 5. The **front** moves bytes: UDP and TCP listeners, limits, metrics. Before a UDP
//!    response leaves, response rate limiting ([`rrl`]) may drop or truncate it; DNS
//!    cookies ([`cookies`]) let a client prove its address and pass. Requests for
//!    names outside the zones, on listeners that recurse, go to the **resolver**.
#![warn(missing_docs)]

pub mod answer;
pub mod config;
pub mod cookies;
pub mod daemon;
pub mod front;
pub mod metrics;
pub mod resolver;
pub mod rrl;
pub mod sources;
pub mod wire;
pub mod xfr;
pub mod zone;
