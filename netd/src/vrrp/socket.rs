//! The sockets of one instance: finding the interface (index, MAC, primary address),
//! opening the raw sockets for IP protocol 112, receiving one datagram with what the
//! section 7.1 checks need (TTL / hop limit, source, destination), and those checks.
//!
//! IPv4 raw sockets deliver the IP header; IPv6 ones deliver the hop limit and the
//! destination as control messages (IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO). Adverts go
//! out of a separate socket bound to the primary address, so the source is the one
//! the tie-break compares, with TTL / hop limit 255 and multicast loop off.

use std::io::{self, IoSliceMut, Read};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::config::Instance;
use super::packet::{self, Advertisement, DecodeError, Ipv4Header};

//------------ Receive checks (pure) -----------------------------------------

/// Why a packet that reached the socket is not given to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Failed a section 7.1 check.
    Bad(DecodeError),
    /// Our own packet, looped back.
    Own,
    /// From an address that is not a configured unicast peer.
    NotPeer,
}

impl Rejected {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Bad(e) => e.label(),
            Self::Own => "own",
            Self::NotPeer => "not-peer",
        }
    }
}

/// Section 7.1 checks on one received VRRP message (the IP header already parsed).
pub fn check_received(
    bytes: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    primary: IpAddr,
    peers: &[IpAddr],
) -> Result<Advertisement, Rejected> {
    if src == primary {
        return Err(Rejected::Own);
    }
    if ttl != packet::TTL {
        return Err(Rejected::Bad(DecodeError::Ttl(ttl)));
    }
    if !peers.is_empty() && !peers.contains(&src) {
        return Err(Rejected::NotPeer);
    }
    Advertisement::decode(bytes, src, dst).map_err(Rejected::Bad)
}

//------------ The interface -------------------------------------------------

/// What the shell needs to know about the interface.
#[derive(Clone, Copy, Debug)]
pub(super) struct Link {
    pub(super) index: u32,
    pub(super) mac: [u8; 6],
    pub(super) primary: IpAddr,
}

/// Looks up the interface's index, MAC and primary address: its first IPv4 address,
/// or for IPv6 its link-local one (section 5.1.2.1), or its first global one when
/// the peers are global unicast addresses.
pub(super) fn discover(instance: &Instance) -> io::Result<Link> {
    let name = instance.interface.as_str();
    let index = nix::net::if_::if_nametoindex(name)
        .map_err(|e| io::Error::other(format!("interface {name}: {e}")))?;
    let mut mac = None;
    let mut candidates = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        if ifa.interface_name != name {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        if let Some(link) = addr.as_link_addr() {
            mac = link.addr();
        } else if let Some(v4) = addr.as_sockaddr_in() {
            candidates.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            candidates.push(IpAddr::V6(v6.ip()));
        }
    }
    let vips: Vec<IpAddr> = instance.addresses.iter().map(IpNet::addr).collect();
    let global_peers = instance
        .unicast_peers
        .iter()
        .any(|p| matches!(p, IpAddr::V6(a) if !a.is_unicast_link_local()));
    let primary = candidates
        .into_iter()
        .filter(|a| !vips.contains(a))
        .find(|a| match a {
            IpAddr::V4(_) => !instance.is_ipv6(),
            IpAddr::V6(a) if instance.is_ipv6() => a.is_unicast_link_local() != global_peers,
            IpAddr::V6(_) => false,
        })
        .ok_or_else(|| io::Error::other(format!("interface {name} has no usable address")))?;
    let mac = mac.ok_or_else(|| io::Error::other(format!("interface {name} has no MAC")))?;
    Ok(Link {
        index,
        mac,
        primary,
    })
}

//------------ Sockets -------------------------------------------------------

pub(super) struct Sockets {
    pub(super) rx: AsyncFd<Socket>,
    pub(super) tx: Socket,
    /// Where adverts go: the multicast group or each unicast peer.
    pub(super) dsts: Vec<IpAddr>,
}

pub(super) fn open(instance: &Instance, link: &Link) -> io::Result<Sockets> {
    let proto = Some(Protocol::from(i32::from(packet::PROTOCOL)));
    let device = Some(instance.interface.as_bytes());
    let multicast = instance.unicast_peers.is_empty();
    let (rx, tx, group) = if instance.is_ipv6() {
        let rx = Socket::new(Domain::IPV6, Type::RAW, proto)?;
        rx.bind_device(device)?;
        if multicast {
            rx.join_multicast_v6(&packet::MULTICAST_V6, link.index)?;
        }
        set_int(&rx, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        set_int(&rx, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        let tx = Socket::new(Domain::IPV6, Type::RAW, proto)?;
        tx.bind_device(device)?;
        let scope = if matches!(link.primary, IpAddr::V6(a) if a.is_unicast_link_local()) {
            link.index
        } else {
            0
        };
        if let IpAddr::V6(a) = link.primary {
            tx.bind(&SocketAddrV6::new(a, 0, 0, scope).into())?;
        }
        tx.set_multicast_if_v6(link.index)?;
        tx.set_multicast_hops_v6(u32::from(packet::TTL))?;
        tx.set_unicast_hops_v6(u32::from(packet::TTL))?;
        tx.set_multicast_loop_v6(false)?;
        (rx, tx, IpAddr::V6(packet::MULTICAST_V6))
    } else {
        let rx = Socket::new(Domain::IPV4, Type::RAW, proto)?;
        rx.bind_device(device)?;
        if multicast {
            let index = InterfaceIndexOrAddress::Index(link.index);
            rx.join_multicast_v4_n(&packet::MULTICAST_V4, &index)?;
        }
        let tx = Socket::new(Domain::IPV4, Type::RAW, proto)?;
        tx.bind_device(device)?;
        tx.bind(&SocketAddr::new(link.primary, 0).into())?;
        tx.set_multicast_ttl_v4(u32::from(packet::TTL))?;
        tx.set_ttl_v4(u32::from(packet::TTL))?;
        tx.set_multicast_loop_v4(false)?;
        // Internetwork control, as routing protocols (and keepalived) send.
        tx.set_tos_v4(0xc0)?;
        (rx, tx, IpAddr::V4(packet::MULTICAST_V4))
    };
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    let dsts = if multicast {
        vec![group]
    } else {
        instance.unicast_peers.clone()
    };
    Ok(Sockets {
        // SAFETY: the Socket is moved into the AsyncFd, which owns its fd until dropped.
        rx: unsafe { AsyncFd::register(rx) }?,
        tx,
        dsts,
    })
}

fn set_int(socket: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt(2) with a pointer to an int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram: (bytes, src, dst, ttl), or a malformed IP header.
pub(super) type Received = Result<(usize, IpAddr, IpAddr, u8), DecodeError>;

/// Reads one datagram without blocking; `WouldBlock` when there is none.
pub(super) fn receive(
    socket: &Socket,
    ipv6: bool,
    buf: &mut [u8],
) -> io::Result<(usize, Received)> {
    if !ipv6 {
        let n = (&*socket).read(buf)?;
        let parsed = Ipv4Header::parse(&buf[..n]).map(|h| {
            buf.copy_within(h.header_len..n, 0);
            (n - h.header_len, h.src.into(), h.dst.into(), h.ttl)
        });
        return Ok((n, parsed));
    }
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let n = msg.bytes;
    let src = msg.address.map(|a| IpAddr::V6(a.ip()));
    let (mut dst, mut hops) = (None, None);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                ControlMessageOwned::Ipv6HopLimit(h) => hops = u8::try_from(h).ok(),
                _ => {}
            }
        }
    }
    Ok((
        n,
        match (src, dst, hops) {
            (Some(s), Some(d), Some(h)) => Ok((n, s, d, h)),
            _ => Err(DecodeError::Ip),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_checks() {
        let src: IpAddr = "198.51.100.3".parse().unwrap();
        let dst: IpAddr = "224.0.0.18".parse().unwrap();
        let me: IpAddr = "198.51.100.2".parse().unwrap();
        let advert = Advertisement {
            vrid: 1,
            priority: 100,
            max_advert_int: 100,
            addresses: vec!["198.51.100.1".parse().unwrap()],
        };
        let bytes = advert.encode(src, dst);
        assert_eq!(check_received(&bytes, src, dst, 255, me, &[]), Ok(advert));
        assert_eq!(
            check_received(&bytes, src, dst, 64, me, &[]),
            Err(Rejected::Bad(DecodeError::Ttl(64)))
        );
        assert_eq!(
            check_received(&bytes, me, dst, 255, me, &[]),
            Err(Rejected::Own)
        );
        assert_eq!(
            check_received(&bytes, src, dst, 255, me, &[me]),
            Err(Rejected::NotPeer)
        );
    }
}
