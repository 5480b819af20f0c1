//! VRRPv3 (RFC 5798): packet codec and state machine (pure), socket I/O at the edge.
//!
//! Data flow: `config` validates the `[[vrrp]]` sections into `Instance`s; per instance,
//! `io` opens the raw sockets (IP protocol 112) and runs a task that decodes packets
//! (`packet`), feeds them with timer and tracking events into the state machine
//! (`fsm::Router::step`) and carries out the actions it returns: send adverts, add or
//! remove the virtual addresses (`crate::links::Netlink`, rtnetlink), announce them (`announce`:
//! gratuitous ARP, unsolicited NA); `accept` keeps a master with Accept_Mode off from
//! accepting packets to them (nftables). `track` turns interface state and health checks
//! into the effective priority, `peer` records routers of our VRID configured
//! differently (another version, other addresses or interval); `status` writes the state file and metrics that
//! `netd status` reads.
//!
//! RFCs: 5798 (VRRPv3), 5227 (ARP announcements), 4861 section 7.2.6 (unsolicited NA).

pub mod config;
pub mod fsm;
pub mod packet;
pub mod peer;

pub mod accept;
pub mod announce;
pub mod io;
pub mod socket;
pub mod status;
pub mod supervise;
pub mod track;
