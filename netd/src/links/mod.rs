//! Bridges, their ports and addresses, reconciled with rtnetlink.
//!
//! `plan` is pure: (configured bridges, kernel state, what netd owns) -> the changes
//! to make, in order (create, enslave ports, MTU, addresses, up). `netlink` reads the
//! kernel and applies changes one by one, and is netd's one address API (by interface
//! name or index; VRRP's virtual addresses go through it without DAD). `carrier`
//! follows an interface's operational state from rtnetlink link events. What netd
//! owns (bridges it created, addresses it added, ports it enslaved) is recorded by the
//! caller in `crate::owned`, so that netd never removes what it did not make.

pub mod carrier;
pub mod netlink;
pub mod plan;

pub use netlink::{Dad, LinkError, Netlink};
pub use plan::{Kernel, KernelLink, LinkChange, OwnedBridge};
