//! rtnetlink at the edge: reading the kernel's links and addresses, applying
//! [`LinkChange`]s, and netd's one address API: adding or removing an address by
//! interface name or index, IPv6 with or without duplicate address detection (the
//! bridges' addresses and VRRP's virtual addresses both go through it).

use std::fmt;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::AddressMessageBuilder;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};

use crate::links::plan::{Kernel, KernelLink, LinkChange};

/// A netlink operation that failed.
#[derive(Debug)]
pub struct LinkError {
    /// What was being done, e.g. `add address 198.51.100.1/24 on br-svc`.
    pub op: String,
    /// Why it failed.
    pub reason: String,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.reason)
    }
}

impl std::error::Error for LinkError {}

/// The errno of a netlink error reply, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A route netlink connection in the current network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the connection; its reader runs as a task on the current tokio runtime.
    pub fn connect() -> Result<Self, LinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| LinkError {
            op: "open route netlink socket".into(),
            reason: e.to_string(),
        })?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// Index of interface `name`, or `None` if there is none.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(Some(msg.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(LinkError {
                op: format!("look up interface {name}"),
                reason: e.to_string(),
            }),
        }
    }

    /// Index of interface `name`, which must exist.
    async fn require(&self, name: &str, op: &str) -> Result<u32, LinkError> {
        self.index(name).await?.ok_or_else(|| LinkError {
            op: op.to_string(),
            reason: format!("no interface {name}"),
        })
    }

    /// Every link with its addresses.
    pub async fn kernel(&self) -> Result<Kernel, LinkError> {
        let fail = |op: &str| {
            let op = op.to_string();
            move |e: rtnetlink::Error| LinkError {
                op,
                reason: e.to_string(),
            }
        };
        let mut kernel = Kernel::default();
        let mut names = std::collections::HashMap::new();
        let mut links = self.handle.link().get().execute();
        while let Some(msg) = links.try_next().await.map_err(fail("list links"))? {
            let mut link = KernelLink {
                index: msg.header.index,
                up: msg.header.flags.contains(LinkFlags::Up),
                ..KernelLink::default()
            };
            let mut name = None;
            for attr in msg.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n),
                    LinkAttribute::Mtu(m) => link.mtu = m,
                    LinkAttribute::Controller(c) => link.controller = Some(c),
                    LinkAttribute::LinkInfo(infos) => {
                        link.is_bridge = infos
                            .iter()
                            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge)));
                    }
                    _ => {}
                }
            }
            if let Some(name) = name {
                names.insert(link.index, name.clone());
                kernel.links.insert(name, link);
            }
        }
        let mut addrs = self.handle.address().get().execute();
        while let Some(msg) = addrs.try_next().await.map_err(fail("list addresses"))? {
            if let (Some(net), Some(name)) = (address_of(&msg), names.get(&msg.header.index))
                && let Some(link) = kernel.links.get_mut(name)
            {
                link.addresses.push(net);
            }
        }
        Ok(kernel)
    }

    /// Applies one change.
    pub async fn apply(&self, change: &LinkChange) -> Result<(), LinkError> {
        let op = change.to_string();
        let fail = |e: rtnetlink::Error| LinkError {
            op: op.clone(),
            reason: e.to_string(),
        };
        let link = self.handle.link();
        match change {
            LinkChange::CreateBridge { name } => {
                // Created down: it goes up after its ports and addresses are in place.
                let msg = LinkBridge::new(name).down().build();
                link.add(msg).execute().await.map_err(fail)
            }
            LinkChange::Enslave { member, bridge } => {
                let b = self.require(bridge, &op).await?;
                let m = self.require(member, &op).await?;
                let msg = LinkUnspec::new_with_index(m).controller(b).build();
                link.set(msg).execute().await.map_err(fail)
            }
            LinkChange::Release { member, .. } => {
                let m = self.require(member, &op).await?;
                let msg = LinkUnspec::new_with_index(m).nocontroller().build();
                link.set(msg).execute().await.map_err(fail)
            }
            LinkChange::SetMtu { name, mtu, .. } => {
                let i = self.require(name, &op).await?;
                let msg = LinkUnspec::new_with_index(i).mtu(*mtu).build();
                link.set(msg).execute().await.map_err(fail)
            }
            LinkChange::SetUp { name } => {
                let i = self.require(name, &op).await?;
                let msg = LinkUnspec::new_with_index(i).up().build();
                link.set(msg).execute().await.map_err(fail)
            }
            LinkChange::AddAddress { name, address } => self.add_address(name, *address).await,
            LinkChange::RemoveAddress { name, address } => {
                self.remove_address(name, *address).await
            }
            LinkChange::DeleteBridge { name } => match self.index(name).await? {
                Some(i) => link.del(i).execute().await.map_err(fail),
                None => Ok(()),
            },
        }
    }

    /// Adds `address` to interface `name`; an address already there is success.
    pub async fn add_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let op = format!("add address {address} on {name}");
        let index = self.require(name, &op).await?;
        self.add_address_at(index, name, address, Dad::Normal).await
    }

    /// Adds `address` to the interface with `index` (`name` is for messages); an
    /// address already there is success, and replaced (so a flag such as `nodad`
    /// holds even when a previous run left the address behind).
    pub async fn add_address_at(
        &self,
        index: u32,
        name: &str,
        address: IpNet,
        dad: Dad,
    ) -> Result<(), LinkError> {
        let mut req = self
            .handle
            .address()
            .add(index, address.addr(), address.prefix_len());
        if dad == Dad::Skip && address.addr().is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.replace().execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(LinkError {
                op: format!("add address {address} on {name}"),
                reason: e.to_string(),
            }),
        }
    }

    /// Removes `address` from interface `name`; an address not there is success.
    pub async fn remove_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let Some(index) = self.index(name).await? else {
            return Ok(());
        };
        self.remove_address_at(index, name, address).await
    }

    /// Removes `address` from the interface with `index` (`name` is for messages);
    /// an address not there is success.
    pub async fn remove_address_at(
        &self,
        index: u32,
        name: &str,
        address: IpNet,
    ) -> Result<(), LinkError> {
        let msg = match address.addr() {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, address.prefix_len())
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, address.prefix_len())
                .build(),
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    errno(&e),
                    Some(libc::EADDRNOTAVAIL | libc::ENOENT | libc::ENODEV)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(LinkError {
                op: format!("remove address {address} on {name}"),
                reason: e.to_string(),
            }),
        }
    }
}

/// Whether a new address goes through duplicate address detection (IPv6 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dad {
    /// As the kernel does by default: a bridge's own addresses.
    Normal,
    /// `nodad`: a VRRP virtual address, which moves between routers and would stay
    /// tentative (unusable) for a second or two after every failover.
    Skip,
}

/// The address and prefix length an address message carries (IFA_LOCAL for IPv4,
/// whose IFA_ADDRESS is the peer on point-to-point links; IFA_ADDRESS for IPv6).
fn address_of(msg: &AddressMessage) -> Option<IpNet> {
    let mut local = None;
    let mut addr = None;
    for a in &msg.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => addr = Some(*ip),
            _ => {}
        }
    }
    IpNet::new(local.or(addr)?, msg.header.prefix_len).ok()
}
