//! Client access lists of the listeners: which client addresses a listener serves
//! (authoritative and resolver listeners) or recurses for (`both` listeners).
//!
//! An access list is a short list of prefixes, checked in order on every request of
//! a listener that has one: a linear scan of a handful of prefixes, no lock, no
//! allocation. An IPv4 client reached over an IPv6 socket (`::ffff:a.b.c.d`) is
//! matched as the IPv4 address it is. The default list of a resolver listener admits
//! loopback clients only (DESIGN.md principle 6: recursion is for the networks the
//! configuration names, never for the world).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::answer::Role;

/// The clients a listener admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// None: every client; Some: the clients inside one of the prefixes.
    prefixes: Option<Arc<[IpNet]>>,
}

impl Acl {
    /// Every client.
    pub fn any() -> Self {
        Self { prefixes: None }
    }

    /// The clients inside one of `prefixes` (none when the list is empty).
    pub fn prefixes(prefixes: Vec<IpNet>) -> Self {
        Self {
            prefixes: Some(prefixes.into()),
        }
    }

    /// Loopback clients only: 127.0.0.0/8 and ::1 (a resolver listener's default).
    pub fn loopback() -> Self {
        Self::prefixes(vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ])
    }

    /// Whether the list admits every client, so that the front need not check it.
    pub fn is_any(&self) -> bool {
        self.prefixes.is_none()
    }

    /// Whether some prefix of the list covers the whole address space of a family
    /// (`0.0.0.0/0`, `::/0`): the list opens the listener to the world.
    pub fn is_open(&self) -> bool {
        match &self.prefixes {
            None => true,
            Some(prefixes) => prefixes.iter().any(|p| p.prefix_len() == 0),
        }
    }

    /// Whether `client` is admitted.
    pub fn allows(&self, client: IpAddr) -> bool {
        let Some(prefixes) = &self.prefixes else {
            return true;
        };
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        prefixes.iter().any(|p| p.contains(&client))
    }
}

/// The role a request from `client` to a listener of `role` and access list `allow`
/// gets, or None when it is refused (RFC 8914 §4.19, Prohibited): a `both` listener
/// still answers its zones to a client outside its list, as an authoritative server.
pub fn role_for(role: Role, allow: &Acl, client: IpAddr) -> Option<Role> {
    if allow.is_any() || allow.allows(client) {
        return Some(role);
    }
    (role == Role::Both).then_some(Role::Authoritative)
}

/// Whether `addr` is reachable from the Internet at large, for the check that refuses
/// an open resolver: anything but loopback, private (RFC 1918, RFC 4193), shared
/// (RFC 6598) and link-local addresses. The wildcard addresses (0.0.0.0, ::) count as
/// public, since they bind the public addresses of the host too.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || shared)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback() || unique_local || link_local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_admits_loopback_clients_of_both_families_only() {
        let acl = Acl::loopback();
        assert!(acl.allows(ip("127.0.0.1")));
        assert!(acl.allows(ip("127.3.4.5")));
        assert!(acl.allows(ip("::1")));
        assert!(acl.allows(ip("::ffff:127.0.0.1")));
        assert!(!acl.allows(ip("198.51.100.7")));
        assert!(!acl.allows(ip("::ffff:198.51.100.7")));
        assert!(!acl.allows(ip("2001:db8::1")));
        assert!(!acl.is_open());
        assert!(!acl.is_any());
    }

    #[test]
    fn prefixes_and_open_lists() {
        let acl = Acl::prefixes(vec!["198.18.0.0/15".parse().unwrap()]);
        assert!(acl.allows(ip("198.19.255.1")));
        assert!(!acl.allows(ip("198.20.0.1")));
        assert!(!Acl::prefixes(vec![]).allows(ip("127.0.0.1")));
        assert!(Acl::prefixes(vec!["0.0.0.0/0".parse().unwrap()]).is_open());
        assert!(Acl::prefixes(vec!["::/0".parse().unwrap()]).is_open());
        assert!(Acl::any().is_open() && Acl::any().is_any());
    }

    #[test]
    fn public_addresses() {
        for public in ["0.0.0.0", "::", "203.0.113.5", "8.8.8.8", "2001:db8::53"] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::53",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
    }
}
