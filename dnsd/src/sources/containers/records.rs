//! Which records the running containers give (issue 10, point 2), as a pure function
//! of the containers and the settings: per container, A and AAAA for each address on
//! a network that the configuration maps to a zone (by network name or subnet), under
//!
//! - the container's name (`web_1` → `web-1.ZONE`, `names::label`);
//! - the compose service, `SERVICE.PROJECT.ZONE` (labels `com.docker.compose.service`
//!   and `com.docker.compose.project`, as compose sets them);
//! - its aliases on that network (not the short container ID Docker adds);
//! - the names of its `dns.name` label (comma-separated, relative to the zone or
//!   absolute); `dns.zone` puts all its names in that zone instead; `dns.disable=true`
//!   gives it no record at all;
//!
//! and a PTR for each address in the reverse zone served for it (the longest served
//! zone that holds `x.x.x.x.in-addr.arpa.` or the `ip6.arpa.` name, RFC 1035 §3.5,
//! RFC 3596 §2.5), naming the container's first name. Two containers with one name:
//! both addresses (round robin) or the one created first (`duplicates`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::names;
use crate::sources::desired::{Desired, want};
use crate::wire::name::Name;
use crate::zone::Rtype;

/// The label that names a container (`dns.name`).
pub const LABEL_NAME: &str = "dns.name";
/// The label that chooses a container's zone (`dns.zone`).
pub const LABEL_ZONE: &str = "dns.zone";
/// The label that keeps a container out of the DNS (`dns.disable=true`).
pub const LABEL_DISABLE: &str = "dns.disable";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_PROJECT: &str = "com.docker.compose.project";

/// A running container, as an engine's inspect shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Container {
    /// The engine's ID.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// When it was created (RFC 3339, as the engine says): "first" for `first-wins`.
    pub created: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The networks it is attached to.
    pub networks: Vec<Attachment>,
}

/// A container's attachment to one network.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// Its addresses there.
    pub addresses: Vec<IpAddr>,
    /// Its aliases there.
    pub aliases: Vec<String>,
}

/// Which network's addresses go into which zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkMatch {
    /// A network by its name in the engine.
    Name(String),
    /// Addresses within a prefix, on whatever network.
    Subnet(IpNet),
}

/// One `[[containers.network]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkMap {
    /// The network(s).
    pub matches: NetworkMatch,
    /// The zone its names go into (lowercased).
    pub zone: Name,
}

/// What to do when two containers claim one name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Duplicates {
    /// Every address (round robin).
    #[default]
    RoundRobin,
    /// The addresses of the container created first.
    FirstWins,
}

/// How the records are made (the `[containers]` table, engines aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSettings {
    /// The network → zone maps, in order (the first that matches an address wins).
    pub networks: Vec<NetworkMap>,
    /// TTL of every record.
    pub ttl: u32,
    /// Two containers, one name.
    pub duplicates: Duplicates,
}

/// What the containers give: records per zone, and remarks to log.
#[derive(Debug, Default)]
pub struct Wanted {
    /// Desired RRsets per zone apex.
    pub zones: BTreeMap<Name, Desired>,
    /// Names claimed by more than one container (name, container names).
    pub duplicates: Vec<(Name, Vec<String>)>,
    /// Things left out, one line each (a name with no valid label, a `dns.zone` or an
    /// absolute name outside the zones served).
    pub skipped: Vec<String>,
}

/// Records for `containers` under `settings`; `served` says which zones are served
/// (PTRs go to the longest one that holds the reverse name).
pub fn wanted(containers: &[&Container], settings: &RecordSettings, served: &[Name]) -> Wanted {
    let mut out = Wanted::default();
    // Address records by (zone, owner, type): the claimants, (created, id, name, rdata).
    type Claim = (String, String, String, Box<[u8]>);
    let mut claims: BTreeMap<(Name, Name, Rtype), Vec<Claim>> = BTreeMap::new();
    let mut ptrs: BTreeMap<IpAddr, BTreeSet<Name>> = BTreeMap::new();
    for c in containers {
        if c.labels
            .get(LABEL_DISABLE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
        {
            continue;
        }
        let zone_label = match c.labels.get(LABEL_ZONE) {
            Some(z) => match zone_of(z, served) {
                Some(z) => Some(z),
                None => {
                    out.skipped.push(format!(
                        "container {}: {LABEL_ZONE}={z:?} is not a zone served",
                        c.name
                    ));
                    continue;
                }
            },
            None => None,
        };
        for attachment in &c.networks {
            for &address in &attachment.addresses {
                let Some(map) = settings.networks.iter().find(|m| match &m.matches {
                    NetworkMatch::Name(n) => *n == attachment.network,
                    NetworkMatch::Subnet(net) => net.contains(&address),
                }) else {
                    continue;
                };
                let zone = zone_label.clone().unwrap_or_else(|| map.zone.clone());
                let owners = owners(c, attachment, &zone, &mut out.skipped);
                let (rtype, rdata): (Rtype, Box<[u8]>) = match address {
                    IpAddr::V4(a) => (Rtype::A, a.octets().into()),
                    IpAddr::V6(a) => (Rtype::AAAA, a.octets().into()),
                };
                if let Some(first) = owners.first() {
                    ptrs.entry(address).or_default().insert(first.clone());
                }
                for owner in owners {
                    claims
                        .entry((zone.clone(), owner, rtype))
                        .or_default()
                        .push((
                            c.created.clone(),
                            c.id.clone(),
                            c.name.clone(),
                            rdata.clone(),
                        ));
                }
            }
        }
    }
    for ((zone, owner, rtype), mut claimants) in claims {
        claimants.sort();
        let mut containers: Vec<&str> = claimants.iter().map(|c| c.1.as_str()).collect();
        containers.dedup();
        if containers.len() > 1 {
            let mut names: Vec<String> = claimants.iter().map(|c| c.2.clone()).collect();
            names.dedup();
            if !out.duplicates.iter().any(|(n, _)| *n == owner) {
                out.duplicates.push((owner.clone(), names));
            }
        }
        let first = claimants.first().map(|c| c.1.clone());
        let desired = out.zones.entry(zone).or_default();
        for (_, id, _, rdata) in claimants {
            if settings.duplicates == Duplicates::FirstWins && Some(&id) != first.as_ref() {
                continue;
            }
            want(desired, owner.clone(), rtype, settings.ttl, rdata);
        }
    }
    for (address, targets) in ptrs {
        let reverse = reverse_name(address);
        let Some(zone) = zone_of_name(&reverse, served) else {
            continue;
        };
        let desired = out.zones.entry(zone).or_default();
        for target in targets {
            want(
                desired,
                reverse.clone(),
                Rtype::PTR,
                settings.ttl,
                target.as_wire().into(),
            );
        }
    }
    out
}

/// A container's names on one attachment, in `zone`: its own name first.
fn owners(c: &Container, a: &Attachment, zone: &Name, skipped: &mut Vec<String>) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    let push = |out: &mut Vec<Name>, labels: &[String]| {
        let mut name = zone.clone();
        for label in labels.iter().rev() {
            match name.prepend_label(label.as_bytes()) {
                Ok(n) => name = n,
                Err(_) => return,
            }
        }
        if !out.contains(&name) {
            out.push(name);
        }
    };
    // dns.name first: it names the container where it is set (and its PTR).
    if let Some(value) = c.labels.get(LABEL_NAME) {
        for (labels, absolute) in names::label_names(value) {
            if absolute {
                let text = format!("{}.", labels.join("."));
                match Name::from_text(&text, None) {
                    Ok(n) if n.is_subdomain_of(zone) && n != *zone => {
                        if !out.contains(&n) {
                            out.push(n);
                        }
                    }
                    _ => skipped.push(format!(
                        "container {}: {LABEL_NAME} {text} is not inside the zone {zone}",
                        c.name
                    )),
                }
            } else {
                push(&mut out, &labels);
            }
        }
    }
    match names::label(&c.name) {
        Some(l) => push(&mut out, &[l]),
        None => skipped.push(format!(
            "container {:?}: its name gives no valid DNS label",
            c.name
        )),
    }
    if let (Some(service), Some(project)) = (
        c.labels.get(COMPOSE_SERVICE).and_then(|s| names::label(s)),
        c.labels.get(COMPOSE_PROJECT).and_then(|s| names::label(s)),
    ) {
        push(&mut out, &[service, project]);
    }
    for alias in &a.aliases {
        // Docker adds the short container ID as an alias on user networks.
        if alias.len() >= 12 && c.id.starts_with(alias.as_str()) {
            continue;
        }
        if let Some(l) = names::label(alias) {
            push(&mut out, &[l]);
        }
    }
    out
}

/// The served zone that a `dns.zone` label names.
fn zone_of(text: &str, served: &[Name]) -> Option<Name> {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    let name = Name::from_text(&text, None).ok()?.to_lowercase();
    served.contains(&name).then_some(name)
}

/// The longest served zone that holds `name`.
pub fn zone_of_name(name: &Name, served: &[Name]) -> Option<Name> {
    served
        .iter()
        .filter(|z| name.is_subdomain_of(z))
        .max_by_key(|z| z.label_count())
        .cloned()
}

/// The reverse-mapping name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
pub fn reverse_name(address: IpAddr) -> Name {
    let text = match address {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut t = String::with_capacity(73);
            for byte in a.octets().iter().rev() {
                t.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            t.push_str("ip6.arpa.");
            t
        }
    };
    Name::from_text(&text, None).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
