//! netd: the plumbing of the service network.
//!
//! The configuration (`config`) becomes a desired state; `links` reconciles bridges and
//! addresses with rtnetlink, `nat` renders one nftables table of netd's own and applies it
//! atomically, and `vrrp` moves the shared addresses between two hosts (RFC 5798).
//! Every core is a pure function of its inputs; sockets, netlink and `nft` stay at the edges.

pub mod config;
pub mod links;
pub mod nat;
pub mod vrrp;
