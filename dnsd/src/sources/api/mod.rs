//! The PowerDNS HTTP API subset that Proxmox VE's SDN DNS plugin uses (issue 10,
//! point 5), so that Proxmox VMs and CTs register with no code on the Proxmox side.
//! Off unless `[api]` is configured; HTTP/1.1 (hyper) on the configured address;
//! every request needs `X-API-Key` equal to the key in `key-file`.
//!
//! ```text
//!  GET   /api/v1/servers                      [server]
//!  GET   /api/v1/servers/ID                   server object
//!  GET   /api/v1/servers/ID/zones             zones, without RRsets
//!  GET   /api/v1/servers/ID/zones/Z[?rrsets=false]
//!  PATCH /api/v1/servers/ID/zones/Z           rrsets: REPLACE | DELETE ─► submit("api")
//! ```
//!
//! A PATCH is one transaction, acknowledged (204) once the zone manager has made it
//! durable and served it. Errors are PowerDNS-shaped: `{"error": "..."}` with 401
//! (no or wrong key), 404 (no such server, zone or route), 400 (not JSON) and 422
//! (a record refused — also an RRset that the zone file defines: the file wins).

pub mod http;
pub mod json;

/// The source name under which API changes are committed and owned.
pub const SOURCE: &str = "api";
