//! Who may do what with a zone's transfers: the per-zone access lists for AXFR/IXFR
//! out and NOTIFY in, the zone's NOTIFY targets and, for a secondary zone, its
//! primaries; and the transfer settings of the whole server ([`XfrSettings`]).
//!
//! An access list is a list of entries; a request is admitted when one entry admits
//! it: its client address inside one of the entry's prefixes (any address when it
//! lists none) and, when the entry names a key, signed with that key (the signature
//! already verified, `tsig`). An empty list admits nobody: transfers and NOTIFY are
//! refused by default (REFUSED, logged, counted).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::tsig::KeyRing;
use crate::wire::name::Name;

/// One entry of an access list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// Client prefixes; empty: any address.
    pub prefixes: Vec<IpNet>,
    /// The key requests must be signed with (lowercased); None: signed or not.
    pub key: Option<Name>,
}

impl AclEntry {
    /// Whether a request from `client`, signed with `key` (verified), is admitted.
    pub fn admits(&self, client: IpAddr, key: Option<&Name>) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        let address_ok =
            self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.contains(&client));
        let key_ok = match &self.key {
            None => true,
            Some(wanted) => key.is_some_and(|k| k == wanted),
        };
        address_ok && key_ok
    }
}

/// An access list: nobody when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl(pub Vec<AclEntry>);

impl Acl {
    /// Whether one entry admits a request from `client` signed with `key`.
    pub fn admits(&self, client: IpAddr, key: Option<&Name>) -> bool {
        self.0.iter().any(|e| e.admits(client, key))
    }

    /// Whether it admits nobody.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A server to talk to: a primary we transfer from, or a secondary we notify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its address and port.
    pub address: SocketAddr,
    /// The key to sign with (lowercased), if any.
    pub key: Option<Name>,
    /// A primary reached over TLS (XoT, RFC 9103); None: TCP and UDP.
    pub tls: Option<super::xot::XotPeer>,
}

/// What the configuration says about one zone's transfers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneXfr {
    /// Who may transfer the zone from us (AXFR, IXFR).
    pub allow_transfer: Acl,
    /// Who may NOTIFY us of the zone (a secondary zone's primaries, mostly).
    pub allow_notify: Acl,
    /// Servers told of each new serial (RFC 1996), besides the zone's NS addresses
    /// when `notify_ns` is on.
    pub notify: Vec<Remote>,
    /// The primaries of a secondary zone, tried in turn; empty for other zones.
    pub primaries: Vec<Remote>,
    /// A secondary zone read as a catalog (RFC 9432): its members become secondary
    /// zones with these settings (`catalog_tasks`).
    pub catalog: bool,
    /// The group the catalog this server produces gives the zone (RFC 9432 §4.4.2),
    /// if any.
    pub catalog_group: Option<String>,
}

impl ZoneXfr {
    /// Whether the zone is a secondary (it has primaries).
    pub fn is_secondary(&self) -> bool {
        !self.primaries.is_empty()
    }

    /// Whether a NOTIFY from `client`, signed with `key` (verified), is admitted: by
    /// `allow-notify`, or because it comes from one of the zone's primaries (signed
    /// with that primary's key when it has one), as BIND admits its primaries.
    pub fn admits_notify(&self, client: IpAddr, key: Option<&Name>) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        self.allow_notify.admits(client, key)
            || self
                .primaries
                .iter()
                .any(|p| p.address.ip() == client && p.key.as_ref().is_none_or(|k| Some(k) == key))
    }
}

/// Bounds on a secondary zone's SOA timers (RFC 1035 §3.3.13), so that a bad SOA can
/// make us neither hammer the primary nor starve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerBounds {
    /// Least refresh and retry interval.
    pub min_refresh: Duration,
    /// Most refresh and retry interval.
    pub max_refresh: Duration,
    /// Least expire.
    pub min_expire: Duration,
}

impl Default for TimerBounds {
    fn default() -> Self {
        Self {
            min_refresh: Duration::from_secs(5),
            max_refresh: Duration::from_secs(86_400),
            min_expire: Duration::from_secs(3_600),
        }
    }
}

/// The transfer settings of the whole server (`[xfr]`, `[key]`, and each zone's
/// transfer keys).
#[derive(Clone, Debug, PartialEq)]
pub struct XfrSettings {
    /// Every TSIG key, from the configuration and key files.
    pub keys: KeyRing,
    /// The settings of a zone without its own (`[xfr]`'s lists).
    pub defaults: ZoneXfr,
    /// Zones with their own settings, by lowercased apex.
    pub zones: BTreeMap<Name, ZoneXfr>,
    /// Each write of a transfer out must finish within this (a slow secondary is not
    /// cut off by the idle timeout, but one that stops reading is).
    pub write_timeout: Duration,
    /// Transfers out served at once; more are refused.
    pub max_transfers_out: usize,
    /// Transfers in run at once; more wait.
    pub max_transfers_in: usize,
    /// Whether the zone's NS addresses (from its own A/AAAA records) are notified.
    pub notify_ns: bool,
    /// Bounds of secondary zones' timers.
    pub timers: TimerBounds,
    /// The catalog zone this server produces (RFC 9432), listing the zones it serves.
    pub produce_catalog: Option<Name>,
    /// The member zones of consumed catalogs, each with its catalog and groups:
    /// not configured, but learnt at run time (kept across a SIGHUP).
    pub members: BTreeMap<Name, Membership>,
    /// The settings of catalog members by group (`[catalog-group."NAME"]`).
    pub groups: BTreeMap<String, ZoneXfr>,
}

/// What a consumed catalog says of one of its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The catalog (lowercased apex).
    pub catalog: Name,
    /// Its `group` properties (RFC 9432 §4.4.2): the first with a
    /// `[catalog-group]` table gives the member its settings, else the catalog does.
    pub groups: Vec<String>,
}

impl XfrSettings {
    /// The transfer peers response rate limiting exempts (`[rrl]
    /// exempt-transfer-peers`): every zone's primaries and NOTIFY targets, and the
    /// prefixes of allow-transfer and allow-notify at least as narrow as a rate
    /// limiting bucket (`v4`, `v6`: its prefix lengths), so that a wide list (a key
    /// from anywhere) exempts nobody by accident.
    pub fn rrl_peers(&self, v4: u8, v6: u8) -> Vec<IpNet> {
        let mut peers = Vec::new();
        let zones = std::iter::once(&self.defaults)
            .chain(self.zones.values())
            .chain(self.groups.values());
        for zone in zones {
            for remote in zone.primaries.iter().chain(&zone.notify) {
                peers.push(IpNet::from(remote.address.ip()));
            }
            for entry in zone.allow_transfer.0.iter().chain(&zone.allow_notify.0) {
                peers.extend(entry.prefixes.iter().filter(|p| match p {
                    IpNet::V4(p) => p.prefix_len() >= v4,
                    IpNet::V6(p) => p.prefix_len() >= v6,
                }));
            }
        }
        peers.sort();
        peers.dedup();
        peers
    }
}

/// Default write timeout of a transfer out.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit of transfers out at once.
pub const DEFAULT_MAX_TRANSFERS_OUT: usize = 16;
/// Default limit of transfers in at once.
pub const DEFAULT_MAX_TRANSFERS_IN: usize = 4;

impl Default for XfrSettings {
    fn default() -> Self {
        Self {
            keys: KeyRing::new(),
            defaults: ZoneXfr::default(),
            zones: BTreeMap::new(),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_transfers_out: DEFAULT_MAX_TRANSFERS_OUT,
            max_transfers_in: DEFAULT_MAX_TRANSFERS_IN,
            notify_ns: true,
            timers: TimerBounds::default(),
            produce_catalog: None,
            members: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }
}

impl XfrSettings {
    /// The settings of the zone at `apex` (lowercased): its own; a catalog member's
    /// group's, else its catalog's; else `[xfr]`'s.
    pub fn zone(&self, apex: &Name) -> &ZoneXfr {
        self.zones
            .get(apex)
            .or_else(|| {
                let member = self.members.get(apex)?;
                member
                    .groups
                    .iter()
                    .find_map(|g| self.groups.get(g))
                    .or_else(|| self.zones.get(&member.catalog))
            })
            .unwrap_or(&self.defaults)
    }

    /// The consumed catalog zones, by apex.
    pub fn catalogs(&self) -> impl Iterator<Item = &Name> {
        self.zones
            .iter()
            .filter(|(_, z)| z.catalog && z.is_secondary())
            .map(|(apex, _)| apex)
    }

    /// The secondary zones, by apex.
    pub fn secondaries(&self) -> impl Iterator<Item = (&Name, &ZoneXfr)> {
        self.zones.iter().filter(|(_, z)| z.is_secondary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_need_both_the_address_and_the_key_they_name() {
        let key = Name::from_text("home-vps.", None).unwrap();
        let other = Name::from_text("other.", None).unwrap();
        let acl = Acl(vec![
            AclEntry {
                prefixes: vec!["203.0.113.0/24".parse().unwrap()],
                key: Some(key.clone()),
            },
            AclEntry {
                prefixes: vec!["127.0.0.1/32".parse().unwrap()],
                key: None,
            },
        ]);
        assert!(acl.admits(ip("203.0.113.7"), Some(&key)));
        assert!(!acl.admits(ip("203.0.113.7"), None));
        assert!(!acl.admits(ip("203.0.113.7"), Some(&other)));
        assert!(!acl.admits(ip("198.51.100.7"), Some(&key)));
        assert!(acl.admits(ip("127.0.0.1"), None));
        assert!(acl.admits(ip("::ffff:127.0.0.1"), Some(&other)));
        assert!(!Acl::default().admits(ip("127.0.0.1"), None));
        let any_signed = Acl(vec![AclEntry {
            prefixes: vec![],
            key: Some(key.clone()),
        }]);
        assert!(any_signed.admits(ip("2001:db8::1"), Some(&key)));
        assert!(!any_signed.admits(ip("2001:db8::1"), None));
    }

    #[test]
    fn rrl_peers_are_primaries_notify_targets_and_narrow_acl_prefixes() {
        let remote = |a: &str| Remote {
            address: a.parse().unwrap(),
            key: None,
            tls: None,
        };
        let entry = |p: &str| AclEntry {
            prefixes: vec![p.parse().unwrap()],
            key: None,
        };
        let mut settings = XfrSettings::default();
        settings.defaults.notify = vec![remote("203.0.113.7:53")];
        settings.defaults.allow_transfer = Acl(vec![
            entry("203.0.113.0/24"),
            entry("0.0.0.0/0"),
            entry("2001:db8::/32"),
            entry("2001:db8:1::/64"),
            AclEntry {
                prefixes: Vec::new(),
                key: None,
            },
        ]);
        let zone = ZoneXfr {
            primaries: vec![remote("198.51.100.1:853")],
            allow_notify: Acl(vec![entry("198.51.100.9/32")]),
            ..ZoneXfr::default()
        };
        settings
            .zones
            .insert(Name::from_text("example.net.", None).unwrap(), zone);
        let peers: Vec<String> = settings
            .rrl_peers(24, 56)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            peers,
            [
                "198.51.100.1/32",
                "198.51.100.9/32",
                "203.0.113.0/24",
                "203.0.113.7/32",
                "2001:db8:1::/64"
            ]
        );
    }

    /// A catalog member takes the settings of the first of its groups that has a
    /// `[catalog-group]` table, else its catalog's; a zone of its own configuration
    /// keeps its own.
    #[test]
    fn a_member_takes_its_group_s_settings_else_its_catalog_s() {
        let n = |t: &str| Name::from_text(t, None).unwrap();
        let with_primary = |a: &str| ZoneXfr {
            primaries: vec![Remote {
                address: a.parse().unwrap(),
                key: None,
                tls: None,
            }],
            ..ZoneXfr::default()
        };
        let mut settings = XfrSettings::default();
        settings
            .zones
            .insert(n("catalog.invalid."), with_primary("198.51.100.1:53"));
        settings
            .groups
            .insert("special".into(), with_primary("198.51.100.2:53"));
        let member = |groups: &[&str]| Membership {
            catalog: n("catalog.invalid."),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        settings.members.insert(n("a.test."), member(&[]));
        settings
            .members
            .insert(n("b.test."), member(&["unknown", "special"]));
        settings.members.insert(n("c.test."), member(&["unknown"]));
        let primary = |zone: &str| {
            settings
                .zone(&n(zone))
                .primaries
                .first()
                .map(|p| p.address.to_string())
        };
        assert_eq!(primary("a.test.").as_deref(), Some("198.51.100.1:53"));
        assert_eq!(primary("b.test.").as_deref(), Some("198.51.100.2:53"));
        assert_eq!(primary("c.test.").as_deref(), Some("198.51.100.1:53"));
        assert_eq!(primary("other.test."), None);
    }
}
