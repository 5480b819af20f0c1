//! The link changes that move the kernel toward the configured bridges: a pure function
//! of (configured bridges, kernel state, what netd owns).
//!
//! Ownership rules (DESIGN.md principle 5): a bridge named in the configuration is
//! managed; netd deletes a bridge only if it created it, removes an address only if it
//! added it, releases a port only if it enslaved it. Addresses that others put on a
//! managed bridge (a VRRP address, an operator's test address, IPv6 link-local) stay.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::{Bridge, ConfigError};

/// One link as the kernel has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelLink {
    /// Interface index.
    pub index: u32,
    /// Whether it is a bridge.
    pub is_bridge: bool,
    /// MTU.
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Index of its bridge, if it is a port of one.
    pub controller: Option<u32>,
    /// Its addresses, with prefix length.
    pub addresses: Vec<IpNet>,
}

/// The kernel's links, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kernel {
    /// Links by name.
    pub links: BTreeMap<String, KernelLink>,
}

/// What netd did to one bridge, so that it undoes only that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedBridge {
    /// netd created the bridge (and so may delete it).
    pub created: bool,
    /// Addresses netd added.
    pub addresses: BTreeSet<IpNet>,
    /// Ports netd enslaved.
    pub members: BTreeSet<String>,
}

/// One change to the kernel's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// Create bridge `name`.
    CreateBridge {
        /// Bridge name.
        name: String,
    },
    /// Make `member` a port of `bridge`.
    Enslave {
        /// Port.
        member: String,
        /// Bridge.
        bridge: String,
    },
    /// Set the MTU of `name`.
    SetMtu {
        /// Link.
        name: String,
        /// New MTU.
        mtu: u32,
        /// MTU before, if the link existed.
        was: Option<u32>,
    },
    /// Add `address` to `name`.
    AddAddress {
        /// Link.
        name: String,
        /// Address with prefix length.
        address: IpNet,
    },
    /// Set `name` administratively up.
    SetUp {
        /// Link.
        name: String,
    },
    /// Remove `address` (which netd added) from `name`.
    RemoveAddress {
        /// Link.
        name: String,
        /// Address with prefix length.
        address: IpNet,
    },
    /// Take `member` (which netd enslaved) out of `bridge`.
    Release {
        /// Port.
        member: String,
        /// Bridge.
        bridge: String,
    },
    /// Delete bridge `name` (which netd created).
    DeleteBridge {
        /// Bridge name.
        name: String,
    },
}

impl fmt::Display for LinkChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateBridge { name } => write!(f, "+ bridge {name}"),
            Self::Enslave { member, bridge } => write!(f, "+ port {member} -> {bridge}"),
            Self::SetMtu { name, mtu, was } => match was {
                Some(w) => write!(f, "~ mtu {name} {w} -> {mtu}"),
                None => write!(f, "~ mtu {name} {mtu}"),
            },
            Self::AddAddress { name, address } => write!(f, "+ address {address} on {name}"),
            Self::SetUp { name } => write!(f, "~ up {name}"),
            Self::RemoveAddress { name, address } => {
                write!(f, "- address {address} on {name}")
            }
            Self::Release { member, bridge } => write!(f, "- port {member} -> {bridge}"),
            Self::DeleteBridge { name } => write!(f, "- bridge {name}"),
        }
    }
}

impl LinkChange {
    /// Whether the change makes netd own something (a bridge, an address, a port),
    /// which is then recorded before the change is made.
    pub fn gains_ownership(&self) -> bool {
        matches!(
            self,
            Self::CreateBridge { .. } | Self::Enslave { .. } | Self::AddAddress { .. }
        )
    }
}

/// The changes that make the kernel hold `bridges`, given what netd owns; errors for
/// configured bridge names that the kernel holds as something else.
pub fn plan(
    bridges: &[Bridge],
    kernel: &Kernel,
    owned: &BTreeMap<String, OwnedBridge>,
) -> Result<Vec<LinkChange>, Vec<ConfigError>> {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let none = OwnedBridge::default();
    for (i, b) in bridges.iter().enumerate() {
        let mine = owned.get(&b.name).unwrap_or(&none);
        let current = kernel.links.get(&b.name);
        if let Some(k) = current
            && !k.is_bridge
        {
            errors.push(ConfigError {
                line: None,
                key: format!("bridge[{i}].name"),
                message: format!("{:?} exists and is not a bridge", b.name),
            });
            continue;
        }
        if current.is_none() {
            changes.push(LinkChange::CreateBridge {
                name: b.name.clone(),
            });
        }
        for m in &b.members {
            let port = kernel.links.get(m);
            let enslaved = match (port, current) {
                (Some(p), Some(k)) => p.controller == Some(k.index),
                _ => false,
            };
            if !enslaved {
                changes.push(LinkChange::Enslave {
                    member: m.clone(),
                    bridge: b.name.clone(),
                });
            }
            if !port.is_some_and(|p| p.up) {
                changes.push(LinkChange::SetUp { name: m.clone() });
            }
        }
        for m in mine.members.iter().filter(|m| !b.members.contains(m)) {
            if let (Some(p), Some(k)) = (kernel.links.get(m), current)
                && p.controller == Some(k.index)
            {
                changes.push(LinkChange::Release {
                    member: m.clone(),
                    bridge: b.name.clone(),
                });
            }
        }
        if let Some(mtu) = b.mtu
            && current.is_none_or(|k| k.mtu != mtu)
        {
            changes.push(LinkChange::SetMtu {
                name: b.name.clone(),
                mtu,
                was: current.map(|k| k.mtu),
            });
        }
        let have: &[IpNet] = current.map_or(&[], |k| &k.addresses);
        for a in mine
            .addresses
            .iter()
            .filter(|a| !b.addresses.contains(a) && have.contains(a))
        {
            changes.push(LinkChange::RemoveAddress {
                name: b.name.clone(),
                address: *a,
            });
        }
        for a in b.addresses.iter().filter(|a| !have.contains(a)) {
            changes.push(LinkChange::AddAddress {
                name: b.name.clone(),
                address: *a,
            });
        }
        if !current.is_some_and(|k| k.up) {
            changes.push(LinkChange::SetUp {
                name: b.name.clone(),
            });
        }
    }
    for (name, mine) in owned {
        if !bridges.iter().any(|b| &b.name == name) {
            changes.extend(undo(name, mine, kernel));
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// The changes that undo what netd did to bridge `name`.
pub fn undo(name: &str, mine: &OwnedBridge, kernel: &Kernel) -> Vec<LinkChange> {
    let Some(k) = kernel.links.get(name) else {
        return Vec::new();
    };
    if mine.created {
        // Deleting the bridge releases its ports and drops its addresses.
        return vec![LinkChange::DeleteBridge {
            name: name.to_string(),
        }];
    }
    let mut changes = Vec::new();
    for a in mine.addresses.iter().filter(|a| k.addresses.contains(a)) {
        changes.push(LinkChange::RemoveAddress {
            name: name.to_string(),
            address: *a,
        });
    }
    for m in &mine.members {
        if kernel
            .links
            .get(m)
            .is_some_and(|p| p.controller == Some(k.index))
        {
            changes.push(LinkChange::Release {
                member: m.clone(),
                bridge: name.to_string(),
            });
        }
    }
    changes
}

/// Records in `owned` what a change applied successfully makes netd own.
pub fn record(owned: &mut BTreeMap<String, OwnedBridge>, change: &LinkChange) {
    match change {
        LinkChange::CreateBridge { name } => owned.entry(name.clone()).or_default().created = true,
        LinkChange::Enslave { member, bridge } => {
            owned
                .entry(bridge.clone())
                .or_default()
                .members
                .insert(member.clone());
        }
        LinkChange::AddAddress { name, address } => {
            owned
                .entry(name.clone())
                .or_default()
                .addresses
                .insert(*address);
        }
        LinkChange::RemoveAddress { name, address } => {
            if let Some(o) = owned.get_mut(name) {
                o.addresses.remove(address);
            }
        }
        LinkChange::Release { member, bridge } => {
            if let Some(o) = owned.get_mut(bridge) {
                o.members.remove(member);
            }
        }
        LinkChange::DeleteBridge { name } => {
            owned.remove(name);
        }
        LinkChange::SetMtu { .. } | LinkChange::SetUp { .. } => {}
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
