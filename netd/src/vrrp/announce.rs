//! Announcing the virtual addresses on becoming master: gratuitous ARP for IPv4
//! (RFC 5227 section 3, an ARP request with sender = target = the address, sent to
//! broadcast through AF_PACKET) and unsolicited Neighbor Advertisements for IPv6
//! (RFC 4861 section 7.2.6, to ff02::1 through an ICMPv6 raw socket, Override set).
//! The frames are built by pure functions; `send_*` only moves the bytes.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet frame of a gratuitous ARP for `addr` from `mac`.
pub fn garp_frame(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]); // destination: broadcast
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0xff; 6]); // target hardware address, as keepalived sends it
    f.extend_from_slice(&addr.octets());
    f
}

/// The ICMPv6 body of an unsolicited Neighbor Advertisement for `target` (the kernel
/// fills in the checksum of ICMPv6 raw sockets).
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(&[136, 0, 0, 0]); // type, code, checksum
    m.extend_from_slice(&[0xa0, 0, 0, 0]); // Router and Override flags
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]); // option: target link-layer address, 8 bytes
    m.extend_from_slice(&mac);
    m
}

/// Sends a gratuitous ARP for each of `addrs` out of interface `ifindex`.
pub fn send_garps(ifindex: u32, mac: [u8; 6], addrs: &[Ipv4Addr]) -> io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain old data; zero is a valid value for every field.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    for addr in addrs {
        let frame = garp_frame(mac, *addr);
        // SAFETY: the buffer and address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const sll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends an unsolicited NA for each of `addrs` out of interface `ifindex`.
pub fn send_nas(ifindex: u32, mac: [u8; 6], addrs: &[Ipv6Addr]) -> io::Result<()> {
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    socket.set_multicast_if_v6(ifindex)?;
    // RFC 4861 section 7.1.2: neighbor discovery arrives with hop limit 255 or is dropped.
    socket.set_multicast_hops_v6(255)?;
    socket.set_multicast_loop_v6(false)?;
    let dst = SocketAddrV6::new(ALL_NODES, 0, 0, ifindex);
    for addr in addrs {
        socket.send_to(&unsolicited_na(mac, *addr), &dst.into())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    #[test]
    fn garp_bytes() {
        let f = garp_frame(MAC, Ipv4Addr::new(198, 51, 100, 1));
        let expected: Vec<u8> = [
            &[0xff; 6][..],
            &MAC,
            &[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1],
            &MAC,
            &[198, 51, 100, 1],
            &[0xff; 6],
            &[198, 51, 100, 1],
        ]
        .concat();
        assert_eq!(f, expected);
    }

    #[test]
    fn na_bytes() {
        let m = unsolicited_na(MAC, "2001:db8::1".parse().unwrap());
        assert_eq!(m.len(), 32);
        assert_eq!(&m[..8], &[136, 0, 0, 0, 0xa0, 0, 0, 0]);
        assert_eq!(&m[24..], &[2, 1, 2, 0, 0, 0, 0, 1]);
    }
}
