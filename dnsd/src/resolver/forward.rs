//! Forwarding (`[resolver.forward]`): names at or below a configured domain are not
//! iterated from the root but asked of that domain's forwarders, e.g. `corp.example`
//! of a VPN's resolver; the root's entry (`"."`) is the global forwarder, for every
//! name no closer entry holds.
//!
//! ```text
//!  iterate(name, type)
//!    forward zone holding the name (DS: its parent, RFC 4035 §3.1.4.1)?
//!      yes ─► ask its forwarders, RD and CD set, the whole question ── classify ──►
//!               Answer / NxDomain / NoData / Alias  → cache, return (then validated)
//!               Referral (a stub zone's server)      → iterate from the child down
//!               every forwarder lame or silent       → SERVFAIL, EDE 22
//!      no  ─► the closest cut in the cache, as without forwarding
//! ```
//!
//! A forwarder is a resolver (RD asks it to recurse) or the authoritative server of a
//! zone not delegated from the public tree (a stub zone, which ignores RD and answers
//! from its zone). Validation stays on: CD asks the forwarder for the data even where
//! it finds it bogus (RFC 4035 §3.2.2), and the verdict is ours, from our own trust
//! anchor; a forwarded private zone that no DS vouches for needs an
//! `insecure-domains` entry (RFC 7646), as in Unbound. The bailiwick rule holds with
//! the forward zone as the zone: a forwarder of `corp.example` is believed about
//! names below `corp.example` only; the global forwarder about every name.
//! The zones dnsd serves itself are answered before the resolver is asked at all.
//!
//! A forwarder may be reached over DNS over TLS (RFC 7858, `tls://` in the
//! configuration; `tls_upstream.rs`): its certificate is checked against the CA file
//! and the authentication name (RFC 8310 §8.1, strict profile), and a forwarder whose
//! TLS fails is never asked in clear instead: the next forwarder is tried, and when
//! none is left the answer is SERVFAIL with EDE 22.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::{Name, RecordType};

use super::classify::{Classified, Outcome, classify_asked};
use super::iterator::{Failure, Iterator, MAX_QUERIES, Work};
use super::upstream::Upstream;

/// One forwarder: an address, and whether it is asked over TLS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Forwarder {
    /// Address and port (53, or 853 for TLS, unless given).
    pub addr: SocketAddr,
    /// DNS over TLS (RFC 7858) instead of UDP and TCP.
    pub tls: bool,
    /// The name its certificate must carry (RFC 8310 §8.1); None: its IP address.
    pub auth_name: Option<String>,
}

impl Forwarder {
    /// A forwarder asked over UDP (TCP when truncated).
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            tls: false,
            auth_name: None,
        }
    }
}

impl std::fmt::Display for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tls, &self.auth_name) {
            (false, _) => write!(f, "{}", self.addr),
            (true, None) => write!(f, "tls://{}", self.addr),
            (true, Some(name)) => write!(f, "tls://{}#{name}", self.addr),
        }
    }
}

/// The forward zones, the longest domain first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwards {
    zones: Vec<(Name, Vec<Forwarder>)>,
}

impl Forwards {
    /// Forward zones from (domain, forwarders) pairs.
    pub fn new(zones: &[(Name, Vec<Forwarder>)]) -> Self {
        let mut zones: Vec<(Name, Vec<Forwarder>)> = zones
            .iter()
            .map(|(name, servers)| (name.to_lowercase(), servers.clone()))
            .filter(|(_, servers)| !servers.is_empty())
            .collect();
        zones.sort_by_key(|(name, _)| std::cmp::Reverse(name.num_labels()));
        Self { zones }
    }

    /// The closest forward zone holding `name`, and its forwarders.
    pub fn find(&self, name: &Name) -> Option<(&Name, &[Forwarder])> {
        self.zones
            .iter()
            .find(|(zone, _)| zone.zone_of(name))
            .map(|(zone, servers)| (zone, servers.as_slice()))
    }

    /// Whether nothing is forwarded.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Whether some forwarder is asked over TLS.
    pub fn any_tls(&self) -> bool {
        self.zones.iter().flat_map(|(_, s)| s).any(|s| s.tls)
    }
}

impl<U: Upstream> Iterator<U> {
    /// Asks the forwarders `servers` of `zone` about (`name`, `rtype`), the fastest
    /// first, until one gives a usable response; None when every one failed or was
    /// lame (a SERVFAIL from a forwarder is lame: the next one is tried).
    pub(super) async fn ask_forwarders(
        &self,
        zone: &Name,
        servers: &[Forwarder],
        name: &Name,
        rtype: RecordType,
        work: &mut Work,
    ) -> Result<Option<Classified>, Failure> {
        let mut order: Vec<IpAddr> = Vec::with_capacity(servers.len());
        for server in servers {
            if !order.contains(&server.addr.ip()) {
                order.push(server.addr.ip());
            }
        }
        self.upstream.order(&mut order);
        let mut ordered: Vec<&Forwarder> = Vec::with_capacity(servers.len());
        for ip in order {
            ordered.extend(servers.iter().filter(|s| s.addr.ip() == ip));
        }
        for server in ordered {
            work.queries += 1;
            if work.queries > MAX_QUERIES {
                return Err(Failure::Limit);
            }
            let Ok(response) = self.upstream.forward(server, name, rtype).await else {
                continue;
            };
            let classified = classify_asked(zone, name, rtype, &response, true);
            if let Outcome::Lame(why) = classified.outcome {
                tracing::debug!(%server, %zone, %name, why, "forwarder gave no usable answer");
                continue;
            }
            return Ok(Some(classified));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_forward_zone_holds_a_name() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let at = |s: &str| Forwarder::plain(at(s));
        let forwards = Forwards::new(&[
            (n("."), vec![at("198.51.100.1:53")]),
            (n("Corp.Example."), vec![at("198.51.100.2:5353")]),
            (n("empty.example."), vec![]),
        ]);
        let servers = |name: &str| forwards.find(&n(name)).map(|(z, s)| (z.to_string(), s));
        assert_eq!(
            servers("www.corp.example."),
            Some(("corp.example.".into(), &[at("198.51.100.2:5353")][..]))
        );
        assert_eq!(
            servers("corp.example."),
            Some(("corp.example.".into(), &[at("198.51.100.2:5353")][..]))
        );
        assert_eq!(
            servers("www.empty.example."),
            Some((".".into(), &[at("198.51.100.1:53")][..]))
        );
        assert!(Forwards::new(&[]).find(&n("www.example.")).is_none());
    }
}
