//! dnsd: every DNS role a self-hosted site needs, in one process.
//!
//! Data flows in this order (shared/DESIGN.md):
//!
//! 1. **Sources** produce records: zone files kept in git, and later transfers in,
//!    container events and dynamic updates.
//! 2. Each zone's **manager** ([`manager::ZoneHandle`], the zone's only writer) turns
//!    them into a transaction on the live version ([`zone::txn`]): checked, given a
//!    serial, its diff made durable in the journal ([`xfr::journal`]) before the new
//!    version — which shares every unchanged node with the old — is served.
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
pub mod dnssec;
pub mod front;
pub mod manager;
pub mod metrics;
pub mod resolver;
pub mod rrl;
pub mod sources;
pub mod tsig;
pub mod wire;
pub mod xfr;
pub mod zone;

#[cfg(test)]
mod test_rng;
