//! Adding and removing the virtual addresses with rtnetlink.
//!
//! Written inside `vrrp/` because `links/` had no address API on main when VRRP needed
//! one; both speak rtnetlink, so they can merge later. IPv6 addresses are added with
//! IFA_F_NODAD: the address moves between routers, and duplicate address detection
//! would keep it tentative (unusable) for a second or two after each failover.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::{AddressMessageBuilder, Handle};

/// An rtnetlink connection for address changes.
#[derive(Clone)]
pub struct Addresses {
    handle: Handle,
}

impl Addresses {
    /// Opens a netlink socket; its connection runs as a task on the current runtime.
    pub fn connect() -> io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// Adds `nets` to interface `index`; an address already there is not an error.
    pub async fn add(&self, index: u32, nets: &[IpNet]) -> Result<(), Vec<AddressError>> {
        let mut errors = Vec::new();
        for net in nets {
            let mut req = self
                .handle
                .address()
                .add(index, net.addr(), net.prefix_len());
            if net.addr().is_ipv6() {
                let msg = req.message_mut();
                msg.header.flags |= AddressHeaderFlags::Nodad;
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            // Replace rather than fail when a previous run left the address behind.
            match req.replace().execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => errors.push(AddressError {
                    op: "add",
                    net: *net,
                    message: e.to_string(),
                }),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Removes `nets` from interface `index`; an address already gone is not an error.
    pub async fn remove(&self, index: u32, nets: &[IpNet]) -> Result<(), Vec<AddressError>> {
        let mut errors = Vec::new();
        for net in nets {
            let msg = match net.addr() {
                IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                    .index(index)
                    .address(a, net.prefix_len())
                    .build(),
                IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                    .index(index)
                    .address(a, net.prefix_len())
                    .build(),
            };
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENOENT)) => {}
                Err(e) => errors.push(AddressError {
                    op: "remove",
                    net: *net,
                    message: e.to_string(),
                }),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A failed address change.
#[derive(Debug)]
pub struct AddressError {
    /// "add" or "remove".
    pub op: &'static str,
    /// The address.
    pub net: IpNet,
    /// The kernel's answer.
    pub message: String,
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.op, self.net, self.message)
    }
}
