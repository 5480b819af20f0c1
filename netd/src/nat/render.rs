//! The configuration rendered as netd's nftables table: a pure function.
//!
//! Per family (4 and 6) the forwards fill six maps, each read by one rule, so a packet
//! costs the same few lookups whether there is one forward or a thousand:
//!
//! ```text
//!  prerouting (dstnat)  from @bridges -> fwdF_inside_sel, fwdF_inside   (hairpin)
//!                       any packet    -> fwdF_iif_sel, fwdF_sel, fwdF_iif, fwdF_port
//!  output (dstnat)      local clients -> fwdF_inside_sel, fwdF_inside, fwdF_sel, fwdF_port
//!  input (filter)       new connection to a guarded port, not translated (source
//!                       outside allow) -> drop
//!  forward (filter)     established, related, dnat -> accept;
//!                       new from an egress into its masqueraded prefixes -> drop
//!  postrouting (srcnat) dnat'd from a bridge network back into a bridge -> masquerade
//!                       (hairpin); sources of each [[nat]] leaving its egress -> masquerade
//! ```
//!
//! A forward with neither address nor allow-list is keyed `[iifname .] l4proto . dport`
//! in an exact map (`fwdF_iif`, `fwdF_port`); one with either is keyed
//! `[iifname .] daddr . l4proto . dport . saddr` in an interval map (`*_sel`), `daddr`
//! being its address or the whole family (with `fib daddr type local` keeping it to the
//! host's own addresses) and `saddr` each allowed prefix. The value is `address . port`
//! inside. Forwards bound to an interface get a copy without it in `fwdF_inside*`, for
//! the bridges and local clients. Ranges are expanded port by port so a range can
//! move (`8000-8010` to `9000-9010`).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::Config;
use crate::nat::forward::{Forward, Protocol};
use crate::nat::ruleset::{Chain, Element, NamedSet, Ruleset};

/// The names and nft words of one address family.
struct Family {
    /// `4` or `6`.
    v4: bool,
    /// `ip` or `ip6`.
    proto: &'static str,
    /// `ipv4_addr` or `ipv6_addr`.
    addr_type: &'static str,
    /// The whole family as a prefix.
    everything: &'static str,
}

const V4: Family = Family {
    v4: true,
    proto: "ip",
    addr_type: "ipv4_addr",
    everything: "0.0.0.0/0",
};
const V6: Family = Family {
    v4: false,
    proto: "ip6",
    addr_type: "ipv6_addr",
    everything: "::/0",
};

/// Renders `config` as netd's table.
pub fn render(config: &Config) -> Ruleset {
    let mut sets = vec![NamedSet {
        name: "bridges",
        datatype: "ifname".into(),
        is_map: false,
        interval: false,
        elements: config
            .bridges
            .iter()
            .map(|b| Element {
                key: quote(&b.name),
                data: None,
            })
            .collect(),
        doc: "bridges netd manages: their hosts reach forwards through fwd*_inside",
    }];
    for fam in [&V4, &V6] {
        sets.extend(family_sets(config, fam));
    }
    Ruleset {
        sets,
        chains: chains(config),
    }
}

/// `"name"`: interface names are quoted so no name can be read as a keyword.
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// One map of forwards: its name, key type, and whether its keys hold prefixes.
struct MapKind {
    /// Name suffix: the map is `fwd4_<suffix>` or `fwd6_<suffix>`.
    suffix: &'static str,
    /// Whether the key starts with the ingress interface.
    iif: bool,
    /// Whether the key holds daddr and saddr (interval map) or only protocol and port.
    selective: bool,
    /// Its comment.
    doc: &'static str,
}

/// The forward maps, in the order of their lookup rules. Keys are as short as the
/// forwards allow: most forwards name neither an address nor an allow-list, and a
/// two- or three-field exact map costs a third of a five-field interval map to load.
const MAPS: [MapKind; 6] = [
    MapKind {
        suffix: "inside_sel",
        iif: false,
        selective: true,
        doc: "forwards with an interface and an address or allow-list, for hosts on the bridges (hairpin) and local clients",
    },
    MapKind {
        suffix: "inside",
        iif: false,
        selective: false,
        doc: "forwards with an interface, for hosts on the bridges (hairpin) and local clients",
    },
    MapKind {
        suffix: "iif_sel",
        iif: true,
        selective: true,
        doc: "forwards with an interface and an address or allow-list",
    },
    MapKind {
        suffix: "sel",
        iif: false,
        selective: true,
        doc: "forwards on every interface with an address or allow-list",
    },
    MapKind {
        suffix: "iif",
        iif: true,
        selective: false,
        doc: "forwards with an interface",
    },
    MapKind {
        suffix: "port",
        iif: false,
        selective: false,
        doc: "forwards on every interface and address, from everyone",
    },
];

/// `fwd4_<suffix>` or `fwd6_<suffix>`, as a static name.
fn map_name(v4: bool, suffix: &str) -> &'static str {
    const NAMES: [[&str; 6]; 2] = [
        [
            "fwd4_inside_sel",
            "fwd4_inside",
            "fwd4_iif_sel",
            "fwd4_sel",
            "fwd4_iif",
            "fwd4_port",
        ],
        [
            "fwd6_inside_sel",
            "fwd6_inside",
            "fwd6_iif_sel",
            "fwd6_sel",
            "fwd6_iif",
            "fwd6_port",
        ],
    ];
    let i = MAPS.iter().position(|m| m.suffix == suffix).unwrap_or(0);
    NAMES[usize::from(!v4)][i]
}

/// The sets and maps of one family.
fn family_sets(config: &Config, fam: &Family) -> Vec<NamedSet> {
    let forwards: Vec<&Forward> = config
        .forwards
        .iter()
        .filter(|f| f.to.is_ipv4() == fam.v4)
        .collect();
    // Elements per map, indexed like MAPS.
    let mut elements: [Vec<Element>; 6] = Default::default();
    let mut inside_seen = InsideIndex::default();
    let mut guard = BTreeSet::new();
    for f in &forwards {
        let selective = f.address.is_some() || !f.allow.is_empty();
        let daddr = f
            .address
            .map_or_else(|| fam.everything.to_string(), |a| a.to_string());
        let sources: Vec<String> = if f.allow.is_empty() {
            vec![fam.everything.to_string()]
        } else {
            f.allow.iter().map(IpNet::to_string).collect()
        };
        for &proto in &f.protocols {
            for port in f.ports.first..=f.ports.last {
                let to_port = u32::from(f.to_port) + u32::from(port - f.ports.first);
                let data = Some(format!("{} . {to_port}", f.to));
                let keys: Vec<String> = if selective {
                    sources
                        .iter()
                        .map(|saddr| format!("{daddr} . {proto} . {port} . {saddr}"))
                        .collect()
                } else {
                    vec![format!("{proto} . {port}")]
                };
                for (s, key) in keys.into_iter().enumerate() {
                    let main = match (&f.interface, selective) {
                        (Some(_), true) => 2,
                        (None, true) => 3,
                        (Some(_), false) => 4,
                        (None, false) => 5,
                    };
                    // Forwards without an interface match packets from the bridges
                    // and local clients as they are; the others need an inside copy.
                    if f.interface.is_some() && inside_seen.claim(f, s, proto, port) {
                        elements[if selective { 0 } else { 1 }].push(Element {
                            key: key.clone(),
                            data: data.clone(),
                        });
                    }
                    let key = match &f.interface {
                        Some(i) => format!("{} . {key}", quote(i)),
                        None => key,
                    };
                    elements[main].push(Element {
                        key,
                        data: data.clone(),
                    });
                }
                if !f.allow.is_empty() {
                    guard.insert((f.address, proto, port));
                }
            }
        }
    }
    // A guard on every address of a port makes guards on single addresses redundant
    // (and an interval set refuses overlapping elements).
    let guard: Vec<Element> = guard
        .iter()
        .filter(|(addr, proto, port)| addr.is_none() || !guard.contains(&(None, *proto, *port)))
        .map(|(addr, proto, port)| Element {
            key: format!(
                "{} . {proto} . {port}",
                addr.map_or_else(|| fam.everything.to_string(), |a| a.to_string())
            ),
            data: None,
        })
        .collect();
    let nets: Vec<IpNet> = config
        .bridges
        .iter()
        .flat_map(|b| b.addresses.iter().map(IpNet::trunc))
        .filter(|net| net.addr().is_ipv4() == fam.v4)
        .collect();
    let bridge_nets = outermost(nets)
        .into_iter()
        .map(|net| Element {
            key: net.to_string(),
            data: None,
        })
        .collect();

    let a = fam.addr_type;
    let mut sets: Vec<NamedSet> = MAPS
        .iter()
        .zip(elements)
        .map(|(m, elements)| {
            let key = if m.selective {
                format!("{a} . inet_proto . inet_service . {a}")
            } else {
                "inet_proto . inet_service".to_string()
            };
            let iif = if m.iif { "ifname . " } else { "" };
            NamedSet {
                name: map_name(fam.v4, m.suffix),
                datatype: format!("{iif}{key} : {a} . inet_service"),
                is_map: true,
                interval: m.selective,
                elements,
                doc: m.doc,
            }
        })
        .collect();
    sets.push(NamedSet {
        name: if fam.v4 { "guard4" } else { "guard6" },
        datatype: format!("{a} . inet_proto . inet_service"),
        is_map: false,
        interval: true,
        elements: guard,
        doc: "ports of forwards with an allow-list: closed to other sources",
    });
    sets.push(NamedSet {
        name: if fam.v4 {
            "bridge_nets4"
        } else {
            "bridge_nets6"
        },
        datatype: a.into(),
        is_map: false,
        interval: true,
        elements: bridge_nets,
        doc: "networks of the bridges, masqueraded when they hairpin",
    });
    sets
}

/// Remembers which (protocol, port) the inside map already serves, so that two
/// forwards on different interfaces with the same port give hosts inside the first one
/// (the iif map may hold both; the inside map has no interface to tell them apart).
/// A claimed (public address, allowed prefix) pair; `None` stands for every one.
type Claim = (Option<IpAddr>, Option<IpNet>);

#[derive(Default)]
struct InsideIndex {
    /// (protocol, port) -> (daddr, allowed prefix) already present.
    taken: HashMap<(Protocol, u16), Vec<Claim>>,
}

impl InsideIndex {
    /// Whether source prefix `s` of `f` on `proto`/`port` may go in the inside map.
    fn claim(&mut self, f: &Forward, s: usize, proto: Protocol, port: u16) -> bool {
        let saddr = f.allow.get(s).copied();
        let entry = self.taken.entry((proto, port)).or_default();
        let clash = entry.iter().any(|(d, a)| {
            (d.is_none() || f.address.is_none() || *d == f.address)
                && match (a, saddr) {
                    (Some(x), Some(y)) => x.contains(&y.network()) || y.contains(&x.network()),
                    _ => true,
                }
        });
        if !clash {
            entry.push((f.address, saddr));
        }
        !clash
    }
}

/// The prefixes of `nets` not contained in another one, sorted.
fn outermost(nets: Vec<IpNet>) -> Vec<IpNet> {
    let set: BTreeSet<IpNet> = nets.into_iter().collect();
    set.iter()
        .filter(|n| !set.iter().any(|o| o != *n && o.contains(*n)))
        .copied()
        .collect()
}

/// The base chains.
fn chains(config: &Config) -> Vec<Chain> {
    let l4 = "meta l4proto { tcp, udp }";
    let mut prerouting = Vec::new();
    let mut output = Vec::new();
    let mut input = Vec::new();
    let mut forward = vec![
        "ct state established,related accept".to_string(),
        "ct status dnat accept".to_string(),
    ];
    let mut postrouting = Vec::new();
    for fam in [&V4, &V6] {
        let (p, n) = (fam.proto, if fam.v4 { 4 } else { 6 });
        let sel = format!("{p} daddr . meta l4proto . th dport . {p} saddr");
        let port = "meta l4proto . th dport".to_string();
        let lookup = |m: &MapKind| {
            let key = if m.selective { &sel } else { &port };
            let iif = if m.iif { "iifname . " } else { "" };
            format!("dnat {p} to {iif}{key} map @{}", map_name(fam.v4, m.suffix))
        };
        let loopback = if fam.v4 { "127.0.0.0/8" } else { "::1" };
        for m in &MAPS {
            let local = format!("{l4} fib daddr type local {}", lookup(m));
            if m.suffix.starts_with("inside") {
                prerouting.push(format!("iifname @bridges {local}"));
            } else {
                prerouting.push(local.clone());
            }
            if !m.iif {
                output.push(format!("{p} daddr != {loopback} {local}"));
            }
        }
        // New inbound connections only: replies to the router's own outbound
        // connections that happen to use a guarded local port must pass.
        input.push(format!(
            "ct state new {l4} {p} daddr . meta l4proto . th dport @guard{n} drop"
        ));
        postrouting.push(format!(
            "ct status dnat oifname @bridges {p} saddr @bridge_nets{n} masquerade"
        ));
    }
    for m in &config.nat {
        for fam in [&V4, &V6] {
            let sources: Vec<String> = m
                .sources
                .iter()
                .filter(|s| s.addr().is_ipv4() == fam.v4)
                .map(IpNet::to_string)
                .collect();
            if sources.is_empty() {
                continue;
            }
            let (p, egress, list) = (fam.proto, quote(&m.egress), sources.join(", "));
            forward.push(format!("iifname {egress} {p} daddr {{ {list} }} drop"));
            postrouting.push(format!(
                "oifname {egress} {p} saddr {{ {list} }} masquerade"
            ));
        }
    }
    vec![
        Chain {
            name: "prerouting",
            head: "type nat hook prerouting priority dstnat; policy accept;",
            rules: prerouting,
        },
        Chain {
            name: "output",
            head: "type nat hook output priority -100; policy accept;",
            rules: output,
        },
        Chain {
            name: "input",
            head: "type filter hook input priority filter; policy accept;",
            rules: input,
        },
        Chain {
            name: "forward",
            head: "type filter hook forward priority filter; policy accept;",
            rules: forward,
        },
        Chain {
            name: "postrouting",
            head: "type nat hook postrouting priority srcnat; policy accept;",
            rules: postrouting,
        },
    ]
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
