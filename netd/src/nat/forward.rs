//! A port forward as netd acts on it, and the checks of `[[forward]]` sections: values,
//! families that must match, forwards that would catch the same packet.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use toml::Spanned;

use crate::config::{Checker, ForwardSpec, OneOrMany, PortSpec};

/// Map elements netd accepts in one table: a bound on the kernel memory a file can ask
/// for (each port of a range, times each allowed prefix, times each protocol).
pub const MAX_ELEMENTS: usize = 262_144;

/// A transport protocol a forward carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP
    Tcp,
    /// UDP
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// An inclusive range of ports, `first <= last`, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (equal to `first` for a single port).
    pub last: u16,
}

impl PortRange {
    /// Number of ports.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Whether the range is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether two ranges share a port.
    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A validated port forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Where it was written, e.g. `forward[3]`.
    pub key: String,
    /// The line its section starts on.
    pub line: usize,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Protocols, sorted, without duplicates.
    pub protocols: Vec<Protocol>,
    /// Public ports.
    pub ports: PortRange,
    /// Ingress interface; any when `None`.
    pub interface: Option<String>,
    /// Public address; any local address when `None`.
    pub address: Option<IpAddr>,
    /// Address inside.
    pub to: IpAddr,
    /// First port inside; port `p` of `ports` goes to `to_port + (p - ports.first)`.
    pub to_port: u16,
    /// Sources allowed; everyone when empty.
    pub allow: Vec<IpNet>,
}

impl Forward {
    /// `forward[3] "web"`, for messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n:?})", self.key),
            None => self.key.clone(),
        }
    }

    /// Map elements this forward costs.
    pub fn element_count(&self) -> usize {
        self.ports.len() * self.protocols.len() * self.allow.len().max(1)
    }
}

/// A port number from the file: 1-65535.
fn port_number(value: i64) -> Result<u16, String> {
    match u16::try_from(value) {
        Ok(0) => Err("port 0 is not a port (1-65535)".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{value} is not a port (1-65535)")),
    }
}

/// Parses `port`.
fn port_range(spec: &PortSpec) -> Result<PortRange, String> {
    match spec {
        PortSpec::Number(n) => port_number(*n).map(|p| PortRange { first: p, last: p }),
        PortSpec::Text(t) => {
            let (a, b) = t.split_once('-').unwrap_or((t, t));
            let parse = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{t:?} is not a port or a range like \"8000-8010\""))
                    .and_then(port_number)
            };
            let (first, last) = (parse(a)?, parse(b)?);
            if first > last {
                return Err(format!("range {t:?} runs backwards"));
            }
            Ok(PortRange { first, last })
        }
    }
}

/// Checks the `index`th `[[forward]]`; errors go to `c`.
pub(crate) fn validate(
    c: &mut Checker,
    index: usize,
    spec: &Spanned<ForwardSpec>,
) -> Option<Forward> {
    let key = format!("forward[{index}]");
    let f = spec.get_ref();
    let before = c.errors.len();

    let name = f.name.as_ref().and_then(|n| {
        let ok = !n.get_ref().is_empty()
            && n.get_ref().len() <= 64
            && n.get_ref()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            c.error(
                n,
                format!("{key}.name"),
                format!(
                    "{:?} is not a name (1-64 of A-Z a-z 0-9 - _ .)",
                    n.get_ref()
                ),
            );
        }
        ok.then(|| n.get_ref().clone())
    });

    let mut protocols = Vec::new();
    match &f.protocol {
        None => protocols.push(Protocol::Tcp),
        Some(p) => {
            let words: Vec<&str> = match p.get_ref() {
                OneOrMany::One(s) => vec![s.as_str()],
                OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
            };
            if words.is_empty() {
                c.error(p, format!("{key}.protocol"), "is empty".into());
            }
            for w in words {
                match w {
                    "tcp" => protocols.push(Protocol::Tcp),
                    "udp" => protocols.push(Protocol::Udp),
                    other => c.error(
                        p,
                        format!("{key}.protocol"),
                        format!("{other:?} is not \"tcp\" or \"udp\""),
                    ),
                }
            }
            protocols.sort();
            protocols.dedup();
        }
    }

    let ports = match port_range(f.port.get_ref()) {
        Ok(r) => Some(r),
        Err(m) => {
            c.error(&f.port, format!("{key}.port"), m);
            None
        }
    };

    let to = c.address(&f.to, format!("{key}.to"));
    let address = f
        .address
        .as_ref()
        .and_then(|a| c.address(a, format!("{key}.address")));
    if let (Some(a), Some(to), Some(at)) = (address, to, &f.address)
        && a.is_ipv4() != to.is_ipv4()
    {
        c.error(
            at,
            format!("{key}.address"),
            format!("{a} and to = {to} are of different families"),
        );
    }

    let to_port = match (&f.to_port, ports) {
        (None, Some(r)) => Some(r.first),
        (Some(tp), Some(r)) => match port_number(*tp.get_ref()) {
            Ok(p) if usize::from(p) + r.len() - 1 > 65535 => {
                c.error(
                    tp,
                    format!("{key}.to-port"),
                    format!("{p} plus the {} ports of the range passes 65535", r.len()),
                );
                None
            }
            Ok(p) => Some(p),
            Err(m) => {
                c.error(tp, format!("{key}.to-port"), m);
                None
            }
        },
        (_, None) => None,
    };

    let mut allow = Vec::new();
    if let Some(list) = &f.allow {
        if list.is_empty() {
            c.error(
                &f.to,
                format!("{key}.allow"),
                "is empty: nobody could use the forward (leave it out to allow everyone)".into(),
            );
        }
        for (j, a) in list.iter().enumerate() {
            if let Some(net) = c.prefix(a, format!("{key}.allow[{j}]")) {
                if let Some(to) = to
                    && net.addr().is_ipv4() != to.is_ipv4()
                {
                    c.error(
                        a,
                        format!("{key}.allow[{j}]"),
                        format!("{net} and to = {to} are of different families"),
                    );
                }
                allow.push(net);
            }
        }
    }

    if c.errors.len() != before {
        return None;
    }
    Some(Forward {
        key,
        line: c.line(spec),
        name,
        protocols,
        ports: ports?,
        interface: f.interface.as_ref().map(|i| i.get_ref().clone()),
        address,
        to: to?,
        to_port: to_port?,
        allow,
    })
}

/// Whether two prefix lists (empty = everything) share an address.
fn prefixes_overlap(a: &[IpNet], b: &[IpNet]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.contains(&y.network()) || y.contains(&x.network()))
    })
}

/// Whether one packet could match both forwards.
pub fn overlap(a: &Forward, b: &Forward) -> bool {
    a.to.is_ipv4() == b.to.is_ipv4()
        && a.protocols.iter().any(|p| b.protocols.contains(p))
        && a.ports.overlaps(&b.ports)
        && (a.interface.is_none() || b.interface.is_none() || a.interface == b.interface)
        && (a.address.is_none() || b.address.is_none() || a.address == b.address)
        && prefixes_overlap(&a.allow, &b.allow)
}

/// Errors for forwards that would catch the same packet, and for a file that asks for
/// more map elements than [`MAX_ELEMENTS`]; names (`name`, `n`) are checked unique.
pub(crate) fn check_overlaps(c: &mut Checker, forwards: &[Forward]) {
    let mut errors = Vec::new();
    // Bucket by (family, protocol) and sort by first port so that only neighbours
    // whose ranges can overlap are compared: 1,000 forwards cost about n log n.
    let mut order: Vec<usize> = (0..forwards.len()).collect();
    order.sort_by_key(|&i| (forwards[i].to.is_ipv4(), forwards[i].ports.first));
    for (pos, &i) in order.iter().enumerate() {
        let a = &forwards[i];
        for &j in &order[pos + 1..] {
            let b = &forwards[j];
            // Sorted by family, then first port: no later forward can overlap `a`.
            if b.to.is_ipv4() != a.to.is_ipv4() || b.ports.first > a.ports.last {
                break;
            }
            if overlap(a, b) {
                let (first, second) = if i < j { (a, b) } else { (b, a) };
                errors.push((second.key.clone(), second.line, first.label(), second.ports));
            }
        }
    }
    for (key, line, other, ports) in errors {
        c.errors.push(crate::config::ConfigError {
            line: Some(line),
            key,
            message: format!("overlaps {other}: both catch port {ports} for the same sources"),
        });
    }
    let mut names = std::collections::BTreeMap::new();
    for f in forwards {
        if let Some(n) = &f.name
            && let Some(first) = names.insert(n.clone(), f.key.clone())
        {
            c.errors.push(crate::config::ConfigError {
                line: Some(f.line),
                key: format!("{}.name", f.key),
                message: format!("name {n:?} is already used by {first}"),
            });
        }
    }
    let total: usize = forwards.iter().map(Forward::element_count).sum();
    if total > MAX_ELEMENTS {
        c.errors.push(crate::config::ConfigError {
            line: None,
            key: "forward".into(),
            message: format!(
                "the forwards need {total} map elements (ports x protocols x allowed \
                 prefixes), more than the {MAX_ELEMENTS} netd accepts"
            ),
        });
    }
}
