//! netd.toml: the file format (`Spec`) and its validation into the runtime `Config`.
//!
//! Parsing (serde, `deny_unknown_fields`) rejects unknown keys with toml's own line and
//! column; `validate` then checks every value and the cross-key rules (overlapping
//! forwards, duplicate bridges, families that do not match) and returns *all* errors at
//! once, each naming its key path and line: `netd.toml:14: forward[2].port: port 0 ...`.
//! A configuration with any error yields no `Config`, so nothing is applied.
//! Whether the interfaces it names exist is a question for the kernel, asked by the
//! caller through [`Config::check_interfaces`] before anything is applied.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::nat::forward::{self, Forward};

//------------ The file format ---------------------------------------------------------

/// The file as written. Sections belong to the modules that use them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Spec {
    /// Bridges netd creates and keeps (`[[bridge]]`).
    #[serde(default)]
    pub bridge: Vec<Spanned<BridgeSpec>>,
    /// Masquerade of source prefixes leaving through an egress interface (`[[nat]]`).
    #[serde(default)]
    pub nat: Vec<Spanned<NatSpec>>,
    /// Port forwards from the public side to services inside (`[[forward]]`).
    #[serde(default)]
    pub forward: Vec<Spanned<ForwardSpec>>,
    /// Which forwarding sysctls netd turns on (`[forwarding]`).
    #[serde(default)]
    pub forwarding: Option<Spanned<ForwardingSpec>>,
    /// VRRP instances (`[[vrrp]]`), see `crate::vrrp::config`.
    #[serde(default)]
    pub vrrp: Vec<crate::vrrp::config::InstanceSpec>,
    /// `ADDR:PORT` of the Prometheus endpoint of `netd run` (`/metrics`).
    #[serde(default)]
    pub metrics: Option<Spanned<String>>,
}

/// One `[[bridge]]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BridgeSpec {
    /// Interface name, at most 15 bytes.
    pub name: Spanned<String>,
    /// Addresses with prefix length, IPv4 or IPv6 (`198.51.100.1/24`).
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    /// MTU; the kernel's default when absent.
    pub mtu: Option<Spanned<i64>>,
    /// Interfaces enslaved to the bridge.
    #[serde(default)]
    pub members: Vec<Spanned<String>>,
}

/// One `[[nat]]`: masquerade `source` prefixes leaving through `egress`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatSpec {
    /// Source prefixes (`198.51.100.0/24`); an IPv6 prefix asks for NAT66.
    pub source: Vec<Spanned<String>>,
    /// The interface the traffic leaves through.
    pub egress: Spanned<String>,
}

/// A value that is written either as one item or as a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `protocol = "tcp"`
    One(String),
    /// `protocol = ["tcp", "udp"]`
    Many(Vec<String>),
}

/// A port written as a number (`80`) or a range (`"8000-8010"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PortSpec {
    /// `port = 80`
    Number(i64),
    /// `port = "8000-8010"`
    Text(String),
}

/// One `[[forward]]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForwardSpec {
    /// Optional name, shown in plans and logs.
    pub name: Option<Spanned<String>>,
    /// `"tcp"`, `"udp"` or both; tcp when absent.
    pub protocol: Option<Spanned<OneOrMany>>,
    /// The public port or range.
    pub port: Spanned<PortSpec>,
    /// Ingress interface; any interface when absent.
    pub interface: Option<Spanned<String>>,
    /// Ingress (public) address; any local address when absent.
    pub address: Option<Spanned<String>>,
    /// The address inside.
    pub to: Spanned<String>,
    /// The port inside (the first of the range); the public port when absent.
    pub to_port: Option<Spanned<i64>>,
    /// Source prefixes allowed to use the forward; everyone when absent.
    pub allow: Option<Vec<Spanned<String>>>,
}

/// `[forwarding]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForwardingSpec {
    /// Turn on `net.ipv4.ip_forward` (default: when there is NAT or an IPv4 forward).
    pub ipv4: Option<bool>,
    /// Turn on `net.ipv6.conf.all.forwarding` (default false): routed IPv6.
    pub ipv6: Option<bool>,
}

//------------ The validated configuration ---------------------------------------------

/// The configuration netd acts on: every value checked.
#[derive(Debug)]
pub struct Config {
    /// Bridges, in file order.
    pub bridges: Vec<Bridge>,
    /// Masquerade rules, in file order.
    pub nat: Vec<Masquerade>,
    /// Port forwards, in file order.
    pub forwards: Vec<Forward>,
    /// Forwarding sysctls to turn on.
    pub forwarding: Forwarding,
    /// VRRP instances, validated by `crate::vrrp::config`.
    pub vrrp: Vec<crate::vrrp::config::Instance>,
    /// Where `netd run` serves its metrics, if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
    /// Every interface the file names outside `[[bridge]].name`, to check against the
    /// kernel before applying.
    pub interface_refs: Vec<InterfaceRef>,
}

/// A bridge netd manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Interface name.
    pub name: String,
    /// Addresses with their prefix length.
    pub addresses: Vec<IpNet>,
    /// MTU, if the file sets one.
    pub mtu: Option<u32>,
    /// Member ports.
    pub members: Vec<String>,
}

/// Masquerade of `sources` leaving through `egress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masquerade {
    /// Source prefixes (host bits clear).
    pub sources: Vec<IpNet>,
    /// Egress interface.
    pub egress: String,
}

/// The forwarding sysctls netd turns on (it never turns one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding {
    /// `net.ipv4.ip_forward = 1`
    pub ipv4: bool,
    /// `net.ipv6.conf.all.forwarding = 1`
    pub ipv6: bool,
}

/// An interface named by the file, with where it was named.
#[derive(Debug, Clone)]
pub struct InterfaceRef {
    /// The interface name.
    pub name: String,
    /// Key path, e.g. `forward[2].interface`.
    pub key: String,
    /// 1-based line in the file.
    pub line: usize,
}

//------------ Errors ------------------------------------------------------------------

/// One thing wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Key path, e.g. `forward[2].port`; empty for syntax errors.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "{line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in one configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The file.
    pub file: PathBuf,
    /// The errors, in file order.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{e}", self.file.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

//------------ Loading -----------------------------------------------------------------

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: path.to_path_buf(),
        errors,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![ConfigError {
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(&text).map_err(fail)
}

/// Parses and validates the text of a netd.toml.
pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    let spec: Spec = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        // toml's message repeats the source excerpt; keep its last line, the reason.
        let message = e.message().trim().to_string();
        vec![ConfigError {
            line,
            key: String::new(),
            message,
        }]
    })?;
    validate(spec, text)
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Collects errors with their line while validating one file.
pub(crate) struct Checker {
    /// Byte offsets where lines 2, 3, ... start: a line number is a binary search, so
    /// a file of thousands of forwards is checked in linear time.
    line_starts: Vec<usize>,
    pub(crate) errors: Vec<ConfigError>,
}

impl Checker {
    /// A checker for `text`.
    fn new(text: &str) -> Self {
        let line_starts = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Self {
            line_starts,
            errors: Vec::new(),
        }
    }

    /// 1-based line of byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) + 1
    }

    /// Records an error at the span of `at`.
    pub(crate) fn error<T>(&mut self, at: &Spanned<T>, key: String, message: String) {
        let line = self.line_at(at.span().start);
        self.errors.push(ConfigError {
            line: Some(line),
            key,
            message,
        });
    }

    /// The line of `at`.
    pub(crate) fn line<T>(&self, at: &Spanned<T>) -> usize {
        self.line_at(at.span().start)
    }

    /// An interface name, or an error.
    fn ifname(&mut self, value: &Spanned<String>, key: String) -> Option<String> {
        let name = value.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 15
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'"' && b != b'\\');
        if ok {
            Some(name.clone())
        } else {
            self.error(
                value,
                key,
                format!(
                    "{name:?} is not an interface name (1-15 printable characters, no / or quotes)"
                ),
            );
            None
        }
    }

    /// A prefix with host bits clear (`198.51.100.0/24`), or an error.
    pub(crate) fn prefix(&mut self, value: &Spanned<String>, key: String) -> Option<IpNet> {
        match value.get_ref().parse::<IpNet>() {
            Ok(net) if net.trunc() == net => Some(net),
            Ok(net) => {
                self.error(
                    value,
                    key,
                    format!("{net} has host bits set: did you mean {}?", net.trunc()),
                );
                None
            }
            Err(_) => {
                // A bare address is a /32 or /128 prefix.
                if let Ok(addr) = value.get_ref().parse::<IpAddr>() {
                    return Some(IpNet::from(addr));
                }
                self.error(
                    value,
                    key,
                    format!(
                        "{:?} is not a prefix (like 198.51.100.0/24)",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// An address (no prefix length), or an error.
    pub(crate) fn address(&mut self, value: &Spanned<String>, key: String) -> Option<IpAddr> {
        match value.get_ref().parse::<IpAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    value,
                    key,
                    format!("{:?} is not an IP address", value.get_ref()),
                );
                None
            }
        }
    }
}

/// Checks every value of `spec` (read from `text`) and the rules between them.
pub fn validate(spec: Spec, text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut c = Checker::new(text);
    let mut refs = Vec::new();

    let bridges = validate_bridges(&mut c, &spec.bridge, &mut refs);

    let mut nat = Vec::new();
    for (i, n) in spec.nat.iter().enumerate() {
        let n = n.get_ref();
        let sources: Vec<IpNet> = n
            .source
            .iter()
            .enumerate()
            .filter_map(|(j, s)| c.prefix(s, format!("nat[{i}].source[{j}]")))
            .collect();
        if n.source.is_empty() {
            c.error(&n.egress, format!("nat[{i}].source"), "is empty".into());
        }
        if let Some(egress) = c.ifname(&n.egress, format!("nat[{i}].egress")) {
            refs.push(InterfaceRef {
                name: egress.clone(),
                key: format!("nat[{i}].egress"),
                line: c.line(&n.egress),
            });
            nat.push(Masquerade { sources, egress });
        }
    }

    let mut forwards = Vec::new();
    for (i, f) in spec.forward.iter().enumerate() {
        if let Some(iface) = &f.get_ref().interface
            && let Some(name) = c.ifname(iface, format!("forward[{i}].interface"))
        {
            refs.push(InterfaceRef {
                name,
                key: format!("forward[{i}].interface"),
                line: c.line(iface),
            });
        }
        if let Some(fwd) = forward::validate(&mut c, i, f) {
            forwards.push(fwd);
        }
    }
    forward::check_overlaps(&mut c, &forwards);

    // IPv4 forwarding by default when something is to be forwarded (a VRRP-only
    // host needs none); IPv6 only when asked.
    let needs_v4 = !nat.is_empty() || forwards.iter().any(|f| f.to.is_ipv4());
    let forwarding = Forwarding {
        ipv4: spec
            .forwarding
            .as_ref()
            .and_then(|f| f.get_ref().ipv4)
            .unwrap_or(needs_v4),
        ipv6: spec
            .forwarding
            .as_ref()
            .and_then(|f| f.get_ref().ipv6)
            .unwrap_or(false),
    };
    if !forwarding.ipv6 {
        for (i, f) in forwards.iter().enumerate() {
            if f.to.is_ipv6() {
                let at = &spec.forward[i].get_ref().to;
                c.error(
                    at,
                    format!("forward[{i}].to"),
                    "an IPv6 forward needs forwarding.ipv6 = true".into(),
                );
            }
        }
    }

    let vrrp = match crate::vrrp::config::validate(&spec.vrrp) {
        Ok(v) => v,
        Err(errors) => {
            let errors: Vec<ConfigError> = errors
                .into_iter()
                .map(|e| ConfigError {
                    line: e.offset.map(|o| c.line_at(o)),
                    key: e.key,
                    message: e.message,
                })
                .collect();
            c.errors.extend(errors);
            Vec::new()
        }
    };

    let metrics = spec.metrics.as_ref().and_then(|m| {
        let parsed = m.get_ref().parse::<std::net::SocketAddr>();
        if parsed.is_err() {
            c.error(
                m,
                "metrics".into(),
                format!(
                    "{:?} is not ADDR:PORT (like \"127.0.0.1:9102\")",
                    m.get_ref()
                ),
            );
        }
        parsed.ok()
    });

    if c.errors.is_empty() {
        Ok(Config {
            bridges,
            nat,
            forwards,
            forwarding,
            vrrp,
            metrics,
            interface_refs: refs,
        })
    } else {
        c.errors.sort_by_key(|e| e.line);
        Err(c.errors)
    }
}

/// Checks the `[[bridge]]` sections.
fn validate_bridges(
    c: &mut Checker,
    specs: &[Spanned<BridgeSpec>],
    refs: &mut Vec<InterfaceRef>,
) -> Vec<Bridge> {
    let mut bridges = Vec::new();
    let mut names = BTreeSet::new();
    let mut members_seen = BTreeSet::new();
    for (i, b) in specs.iter().enumerate() {
        let b = b.get_ref();
        let name = c.ifname(&b.name, format!("bridge[{i}].name"));
        if let Some(n) = &name
            && !names.insert(n.clone())
        {
            c.error(
                &b.name,
                format!("bridge[{i}].name"),
                format!("bridge {n:?} is configured twice"),
            );
        }
        let mut addresses = Vec::new();
        for (j, a) in b.addresses.iter().enumerate() {
            match a.get_ref().parse::<IpNet>() {
                Ok(net) if addresses.contains(&net) => c.error(
                    a,
                    format!("bridge[{i}].addresses[{j}]"),
                    format!("{net} is listed twice"),
                ),
                Ok(net) => addresses.push(net),
                Err(_) => c.error(
                    a,
                    format!("bridge[{i}].addresses[{j}]"),
                    format!(
                        "{:?} is not an address with a prefix length (like 198.51.100.1/24)",
                        a.get_ref()
                    ),
                ),
            }
        }
        let mtu = b.mtu.as_ref().and_then(|m| {
            let min = if addresses.iter().any(|a: &IpNet| a.addr().is_ipv6()) {
                1280
            } else {
                68
            };
            match u32::try_from(*m.get_ref()) {
                Ok(v) if (min..=65535).contains(&v) => Some(v),
                _ => {
                    c.error(
                        m,
                        format!("bridge[{i}].mtu"),
                        format!("{} is out of range {min}-65535", m.get_ref()),
                    );
                    None
                }
            }
        });
        let mut members = Vec::new();
        for (j, m) in b.members.iter().enumerate() {
            let key = format!("bridge[{i}].members[{j}]");
            if let Some(member) = c.ifname(m, key.clone()) {
                if !members_seen.insert(member.clone()) {
                    c.error(m, key, format!("{member:?} is a member of two bridges"));
                    continue;
                }
                refs.push(InterfaceRef {
                    name: member.clone(),
                    key,
                    line: c.line(m),
                });
                members.push(member);
            }
        }
        if let Some(name) = name {
            bridges.push(Bridge {
                name,
                addresses,
                mtu,
                members,
            });
        }
    }
    // A bridge cannot be a member of a bridge, nor of itself.
    for r in refs.iter() {
        if r.key.contains(".members[") && names.contains(&r.name) {
            c.errors.push(ConfigError {
                line: Some(r.line),
                key: r.key.clone(),
                message: format!("{:?} is a bridge netd manages", r.name),
            });
        }
    }
    bridges
}

impl Config {
    /// Errors for every interface the file names that is neither a configured bridge
    /// nor known to `exists` (the kernel, asked by the caller).
    pub fn check_interfaces(&self, exists: impl Fn(&str) -> bool) -> Vec<ConfigError> {
        self.interface_refs
            .iter()
            .filter(|r| !self.bridges.iter().any(|b| b.name == r.name) && !exists(&r.name))
            .map(|r| ConfigError {
                line: Some(r.line),
                key: r.key.clone(),
                message: format!("unknown interface {:?}", r.name),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
