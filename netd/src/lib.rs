//! netd: the plumbing of the service network.
//!
//! The configuration (`config`) becomes a desired state; `links` reconciles bridges and
//! addresses with rtnetlink, `nat` renders one nftables table of netd's own and applies it
//! atomically, `sysctl` turns forwarding on, and `vrrp` moves the shared addresses
//! between two hosts (RFC 5798). `owned` records what netd made so that it removes only
//! that, and `lock` lets one netd at a time change the host; `reconcile` runs one pass
//! over all of them, `daemon` keeps them true, `metrics` and `metrics_http` count and
//! serve what it does, and `commands` holds what each subcommand prints.
//! Every core is a pure function of its inputs; sockets, netlink and `nft` stay at the edges.

#![warn(missing_docs)]

pub mod commands;
pub mod config;
pub mod daemon;
pub mod links;
pub mod lock;
pub mod metrics;
pub mod metrics_http;
pub mod nat;
pub mod owned;
pub mod reconcile;
pub mod sysctl;
pub mod vrrp;
