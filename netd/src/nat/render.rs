//! The configuration rendered as netd's nftables table: a pure function.
//!
//! Per family (4 and 6) the forwards fill three maps, looked up by one rule each, so a
//! packet costs the same three lookups whether there is one forward or a thousand:
//!
//! ```text
//!  prerouting (dstnat)  iifname @bridges  -> fwdF_inside   (hairpin: from the bridges)
//!                       any packet        -> fwdF_iif      (forwards with an interface)
//!                       any packet        -> fwdF_any      (forwards on every interface)
//!  output (dstnat)      local clients     -> fwdF_inside
//!  input (filter)       guarded port, not translated (source outside allow) -> drop
//!  forward (filter)     established, related, dnat -> accept;
//!                       new from an egress into its masqueraded prefixes -> drop
//!  postrouting (srcnat) dnat'd from a bridge network back into a bridge -> masquerade
//!                       (hairpin); sources of each [[nat]] leaving its egress -> masquerade
//! ```
//!
//! A map key is `[iifname .] daddr . l4proto . dport . saddr`, `daddr` being the
//! forward's address or the whole family (`0.0.0.0/0`, with `fib daddr type local`
//! keeping it to the host's own addresses), `saddr` each allowed prefix; the value is
//! `address . port` inside. Ranges are expanded port by port so a range can move
//! (`8000-8010` to `9000-9010`).

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

/// The sets and maps of one family.
fn family_sets(config: &Config, fam: &Family) -> Vec<NamedSet> {
    let forwards: Vec<&Forward> = config
        .forwards
        .iter()
        .filter(|f| f.to.is_ipv4() == fam.v4)
        .collect();
    let key_any = format!(
        "{a} . inet_proto . inet_service . {a} : {a} . inet_service",
        a = fam.addr_type
    );
    let mut iif = Vec::new();
    let mut any = Vec::new();
    let mut inside = Vec::new();
    let mut inside_seen = InsideIndex::default();
    let mut guard = BTreeSet::new();
    for f in &forwards {
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
                let data = format!("{} . {to_port}", f.to);
                for (s, saddr) in sources.iter().enumerate() {
                    let key = format!("{daddr} . {proto} . {port} . {saddr}");
                    if inside_seen.claim(f, s, proto, port) {
                        inside.push(Element {
                            key: key.clone(),
                            data: Some(data.clone()),
                        });
                    }
                    match &f.interface {
                        Some(i) => iif.push(Element {
                            key: format!("{} . {key}", quote(i)),
                            data: Some(data.clone()),
                        }),
                        None => any.push(Element {
                            key,
                            data: Some(data.clone()),
                        }),
                    }
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
    vec![
        NamedSet {
            name: if fam.v4 { "fwd4_iif" } else { "fwd6_iif" },
            datatype: format!("ifname . {key_any}"),
            is_map: true,
            interval: true,
            elements: iif,
            doc: "forwards with an ingress interface",
        },
        NamedSet {
            name: if fam.v4 { "fwd4_any" } else { "fwd6_any" },
            datatype: key_any.clone(),
            is_map: true,
            interval: true,
            elements: any,
            doc: "forwards on every ingress interface",
        },
        NamedSet {
            name: if fam.v4 { "fwd4_inside" } else { "fwd6_inside" },
            datatype: key_any,
            is_map: true,
            interval: true,
            elements: inside,
            doc: "every forward, for hosts on the bridges (hairpin) and local clients",
        },
        NamedSet {
            name: if fam.v4 { "guard4" } else { "guard6" },
            datatype: format!("{} . inet_proto . inet_service", fam.addr_type),
            is_map: false,
            interval: true,
            elements: guard,
            doc: "ports of forwards with an allow-list: closed to other sources",
        },
        NamedSet {
            name: if fam.v4 {
                "bridge_nets4"
            } else {
                "bridge_nets6"
            },
            datatype: fam.addr_type.into(),
            is_map: false,
            interval: true,
            elements: bridge_nets,
            doc: "networks of the bridges, masqueraded when they hairpin",
        },
    ]
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
        let lookup = format!("{p} daddr . meta l4proto . th dport . {p} saddr");
        prerouting.push(format!(
            "iifname @bridges {l4} fib daddr type local dnat {p} to {lookup} map @fwd{n}_inside"
        ));
        prerouting.push(format!(
            "{l4} fib daddr type local dnat {p} to iifname . {lookup} map @fwd{n}_iif"
        ));
        prerouting.push(format!(
            "{l4} fib daddr type local dnat {p} to {lookup} map @fwd{n}_any"
        ));
        let loopback = if fam.v4 { "127.0.0.0/8" } else { "::1" };
        output.push(format!(
            "{p} daddr != {loopback} {l4} fib daddr type local dnat {p} to {lookup} map @fwd{n}_inside"
        ));
        input.push(format!(
            "{l4} {p} daddr . meta l4proto . th dport @guard{n} drop"
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
