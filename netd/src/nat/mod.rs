//! NAT and port forwarding: configuration to nftables ruleset (pure), applied atomically.
//!
//! `forward` holds the validated port forward and its checks, `render` turns the whole
//! configuration into netd's one table (`ruleset`), and `apply` loads it with a single
//! `nft -f -` transaction, whole or as element changes. Only `table inet netd` is ever
//! written: other tables (a host firewall, Docker, libvirt, Incus) are never flushed or
//! touched; `coexist` reads them to warn about what would break netd's forwards
//! (Docker's forward policy, a port published twice). docs/netd.md tells how the
//! host firewall and netd's table interact.

pub mod apply;
pub mod coexist;
pub mod forward;
pub mod render;
pub mod ruleset;
