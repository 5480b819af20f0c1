//! The `[[vrrp]]` sections of netd.toml: the file format (`InstanceSpec`) and its
//! validation into runtime `Instance`s, every error naming its key.
//!
//! ```toml
//! [[vrrp]]
//! name = "svc4"                       # unique; logs, metrics and `netd status` use it
//! interface = "br-svc"
//! vrid = 51                           # 1-255
//! priority = 150                      # 1-255, 255 = address owner
//! addresses = ["198.51.100.1/24"]     # one family per instance; no prefix = /32 or /128
//! advert-interval = 100               # centiseconds, 1-4095 (RFC 5798 section 5.2.7)
//! preempt = true
//! preempt-delay = 0                   # centiseconds a backup waits before taking over
//! accept = true                       # false: RFC 5798's Accept_Mode off (nftables)
//! unicast-peers = ["198.51.100.3"]    # instead of multicast, for segments without it
//! notify = ["/usr/local/bin/vrrp-notify"]   # run with instance name and new state appended
//! [[vrrp.track-interface]]
//! name = "uplink0"
//! weight = 60
//! [[vrrp.check]]
//! name = "resolver"
//! dns = "198.51.100.1:53"             # or: command = ["/bin/true"]
//! weight = 60
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

//------------ InstanceSpec --------------------------------------------------

/// One VRRP instance as written in netd.toml.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstanceSpec {
    /// Name of the instance, unique in the file.
    pub name: Spanned<String>,
    /// Interface the virtual router lives on.
    pub interface: Spanned<String>,
    /// Virtual router id, 1-255.
    pub vrid: Spanned<i64>,
    /// Priority, 1-255 (255: the address owner).
    pub priority: Spanned<i64>,
    /// Virtual addresses, with or without a prefix length.
    pub addresses: Spanned<Vec<Spanned<String>>>,
    /// Advertisement interval in centiseconds.
    #[serde(default = "default_advert_interval")]
    pub advert_interval: Spanned<i64>,
    /// Whether a higher-priority backup preempts a lower-priority master.
    #[serde(default = "default_true")]
    pub preempt: bool,
    /// Centiseconds a higher-priority backup waits before it preempts.
    #[serde(default = "default_zero")]
    pub preempt_delay: Spanned<i64>,
    /// Accept_Mode of RFC 5798. On by default, unlike the RFC: the addresses are the
    /// gateway and resolver address that dnsd listens on, as keepalived (not strict)
    /// does too. Off: a non-owner master drops packets to them (`vrrp::accept`).
    #[serde(default = "default_true")]
    pub accept: bool,
    /// Unicast peers; empty means multicast (224.0.0.18 / ff02::12).
    #[serde(default)]
    pub unicast_peers: Vec<Spanned<String>>,
    /// Command run on each state change, with instance name and state appended.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Interfaces whose link state lowers the priority when down.
    #[serde(default)]
    pub track_interface: Vec<TrackInterfaceSpec>,
    /// Health checks that lower the priority when failing.
    #[serde(default)]
    pub check: Vec<CheckSpec>,
}

/// A tracked interface as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrackInterfaceSpec {
    /// Interface name.
    pub name: Spanned<String>,
    /// Priority subtracted while the interface is down.
    pub weight: Spanned<i64>,
}

/// A health check as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CheckSpec {
    /// Name, for logs and status.
    pub name: Spanned<String>,
    /// Priority subtracted while the check fails.
    pub weight: Spanned<i64>,
    /// A command (argv) that succeeds when healthy.
    #[serde(default)]
    pub command: Vec<String>,
    /// A DNS server (`addr` or `addr:port`) that must answer a query.
    #[serde(default)]
    pub dns: Option<Spanned<String>>,
    /// The name the DNS check asks for (type SOA).
    #[serde(default = "default_dns_name")]
    pub dns_name: String,
    /// Centiseconds between runs.
    #[serde(default = "default_check_interval")]
    pub interval: Spanned<i64>,
    /// Centiseconds a run may take before it counts as failed.
    #[serde(default = "default_check_timeout")]
    pub timeout: Spanned<i64>,
    /// Consecutive failures before the check counts as down.
    #[serde(default = "default_one")]
    pub fall: Spanned<i64>,
    /// Consecutive successes before the check counts as up again.
    #[serde(default = "default_one")]
    pub rise: Spanned<i64>,
}

/// A default value; its span is never reported (defaults are valid).
fn spanned(value: i64) -> Spanned<i64> {
    Spanned::new(0..0, value)
}
fn default_advert_interval() -> Spanned<i64> {
    spanned(100)
}
fn default_zero() -> Spanned<i64> {
    spanned(0)
}
fn default_true() -> bool {
    true
}
fn default_dns_name() -> String {
    ".".to_string()
}
fn default_check_interval() -> Spanned<i64> {
    spanned(100)
}
fn default_check_timeout() -> Spanned<i64> {
    spanned(100)
}
fn default_one() -> Spanned<i64> {
    spanned(1)
}

//------------ Instance ------------------------------------------------------

/// A validated VRRP instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Unique name.
    pub name: String,
    /// Interface name.
    pub interface: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Configured priority (before tracking).
    pub priority: u8,
    /// Virtual addresses, all of one family.
    pub addresses: Vec<IpNet>,
    /// Advertisement_Interval in centiseconds.
    pub advert_interval: u16,
    /// Preempt_Mode.
    pub preempt: bool,
    /// How long a higher-priority backup waits before preempting.
    pub preempt_delay: Duration,
    /// Accept_Mode.
    pub accept: bool,
    /// Unicast peers (empty: multicast).
    pub unicast_peers: Vec<IpAddr>,
    /// Notify command argv (empty: none).
    pub notify: Vec<String>,
    /// Tracked interfaces.
    pub track_interfaces: Vec<TrackInterface>,
    /// Health checks.
    pub checks: Vec<Check>,
}

impl Instance {
    /// Whether this instance carries IPv6 addresses.
    pub fn is_ipv6(&self) -> bool {
        matches!(self.addresses.first(), Some(IpNet::V6(_)))
    }
}

/// A validated tracked interface.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInterface {
    /// Interface name.
    pub name: String,
    /// Priority subtracted while down.
    pub weight: u8,
}

/// A validated health check.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Name.
    pub name: String,
    /// Priority subtracted while failing.
    pub weight: u8,
    /// What is probed.
    pub probe: Probe,
    /// Time between runs.
    pub interval: Duration,
    /// Time a run may take.
    pub timeout: Duration,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// Consecutive successes to come back.
    pub rise: u32,
}

/// What a health check probes.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// Run a command; exit status 0 is healthy.
    Command(Vec<String>),
    /// Send a DNS query for `name` (type SOA) to `server`; any answer that is not
    /// SERVFAIL or REFUSED is healthy.
    Dns {
        /// The server.
        server: SocketAddr,
        /// The name asked for.
        name: String,
    },
}

//------------ ConfigError ---------------------------------------------------

/// A bad value in a `[[vrrp]]` section, with its key path (`vrrp[0].priority`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `vrrp[1].addresses[0]`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
    /// Byte offset of the value in the file, when known (for its line).
    pub offset: Option<usize>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

//------------ validate ------------------------------------------------------

/// Validates every instance, returning all errors at once.
pub fn validate(specs: &[InstanceSpec]) -> Result<Vec<Instance>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut instances = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let mut v = Validator {
            prefix: format!("vrrp[{i}]"),
            errors: &mut errors,
        };
        if let Some(instance) = v.instance(spec) {
            instances.push((i, instance));
        }
    }
    // Cross-instance checks: names unique, (interface, vrid, family) unique. Keys use
    // the index in the file, which skips the instances that failed on their own.
    for (n, (i, a)) in instances.iter().enumerate() {
        for (_, b) in &instances[..n] {
            if a.name == b.name {
                errors.push(err(
                    &format!("vrrp[{i}].name"),
                    at(&specs[*i].name),
                    "duplicate instance name",
                ));
            }
            if a.interface == b.interface && a.vrid == b.vrid && a.is_ipv6() == b.is_ipv6() {
                errors.push(err(
                    &format!("vrrp[{i}].vrid"),
                    at(&specs[*i].vrid),
                    &format!(
                        "vrid {} already used on {} by {}",
                        a.vrid, a.interface, b.name
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(instances
            .into_iter()
            .map(|(_, instance)| instance)
            .collect())
    } else {
        Err(errors)
    }
}

fn err(key: &str, offset: Option<usize>, message: &str) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.to_string(),
        offset,
    }
}

/// Where a value starts in the file, unless it is a default.
fn at<T>(value: &Spanned<T>) -> Option<usize> {
    let span = value.span();
    (span.end > span.start).then_some(span.start)
}

/// Collects errors for one instance under its key prefix.
struct Validator<'a> {
    prefix: String,
    errors: &'a mut Vec<ConfigError>,
}

impl Validator<'_> {
    fn fail(&mut self, key: &str, offset: Option<usize>, message: &str) {
        self.errors
            .push(err(&format!("{}.{key}", self.prefix), offset, message));
    }

    /// An integer within `lo..=hi`, or an error naming `key`.
    fn range(&mut self, key: &str, value: &Spanned<i64>, lo: i64, hi: i64) -> Option<i64> {
        let v = *value.get_ref();
        if (lo..=hi).contains(&v) {
            Some(v)
        } else {
            self.fail(key, at(value), &format!("{v} is out of range {lo}-{hi}"));
            None
        }
    }

    fn instance(&mut self, spec: &InstanceSpec) -> Option<Instance> {
        let before = self.errors.len();
        let (name, interface) = (spec.name.get_ref(), spec.interface.get_ref());
        if name.is_empty() || name.contains(char::is_whitespace) {
            self.fail("name", at(&spec.name), "must be a non-empty word");
        }
        if interface.is_empty() || interface.len() > 15 || interface.contains('/') {
            self.fail("interface", at(&spec.interface), "not an interface name");
        }
        let vrid = self.range("vrid", &spec.vrid, 1, 255);
        let priority = self.range("priority", &spec.priority, 1, 255);
        let advert_interval = self.range("advert-interval", &spec.advert_interval, 1, 4095);
        let preempt_delay = self.range("preempt-delay", &spec.preempt_delay, 0, 360_000);
        let addresses = self.addresses(&spec.addresses);
        let ipv6 = matches!(addresses.first(), Some(IpNet::V6(_)));
        let mut unicast_peers = Vec::new();
        for (i, peer) in spec.unicast_peers.iter().enumerate() {
            let (key, offset) = (format!("unicast-peers[{i}]"), at(peer));
            match peer.get_ref().parse::<IpAddr>() {
                Ok(addr) if addr.is_ipv6() != ipv6 => {
                    self.fail(&key, offset, "not the family of addresses")
                }
                Ok(addr) if addr.is_multicast() || addr.is_unspecified() => {
                    self.fail(&key, offset, "not a unicast address")
                }
                Ok(addr) => unicast_peers.push(addr),
                Err(_) => self.fail(
                    &key,
                    offset,
                    &format!("{:?} is not an address", peer.get_ref()),
                ),
            }
        }
        if spec.notify.first().is_some_and(String::is_empty) {
            self.fail("notify", at(&spec.name), "empty command");
        }
        let mut track_interfaces = Vec::new();
        for (i, t) in spec.track_interface.iter().enumerate() {
            let key = format!("track-interface[{i}]");
            if t.name.get_ref().is_empty() || t.name.get_ref().len() > 15 {
                self.fail(&format!("{key}.name"), at(&t.name), "not an interface name");
            }
            if let Some(weight) = self.range(&format!("{key}.weight"), &t.weight, 1, 254) {
                track_interfaces.push(TrackInterface {
                    name: t.name.get_ref().clone(),
                    weight: weight as u8,
                });
            }
        }
        let mut checks = Vec::new();
        for (i, c) in spec.check.iter().enumerate() {
            if let Some(check) = self.check(&format!("check[{i}]"), c) {
                checks.push(check);
            }
        }
        if priority == Some(255) && !(track_interfaces.is_empty() && checks.is_empty()) {
            // RFC 5798 section 5.2.4: 255 is reserved for the owner, who always wins.
            self.fail(
                "priority",
                at(&spec.priority),
                "255 (address owner) cannot be lowered by tracking",
            );
        }
        if self.errors.len() > before {
            return None;
        }
        Some(Instance {
            name: name.clone(),
            interface: interface.clone(),
            vrid: vrid? as u8,
            priority: priority? as u8,
            addresses,
            advert_interval: advert_interval? as u16,
            preempt: spec.preempt,
            preempt_delay: Duration::from_millis(preempt_delay? as u64 * 10),
            accept: spec.accept,
            unicast_peers,
            notify: spec.notify.clone(),
            track_interfaces,
            checks,
        })
    }

    fn addresses(&mut self, specs: &Spanned<Vec<Spanned<String>>>) -> Vec<IpNet> {
        if specs.get_ref().is_empty() {
            self.fail("addresses", at(specs), "at least one address is needed");
        }
        let mut out: Vec<IpNet> = Vec::new();
        for (i, spanned) in specs.get_ref().iter().enumerate() {
            let (key, offset, text) = (format!("addresses[{i}]"), at(spanned), spanned.get_ref());
            let net = match (text.parse::<IpNet>(), text.parse::<IpAddr>()) {
                (Ok(net), _) => net,
                (_, Ok(addr)) => IpNet::from(addr),
                _ => {
                    self.fail(&key, offset, &format!("{text:?} is not an address"));
                    continue;
                }
            };
            let addr = net.addr();
            if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
                self.fail(&key, offset, &format!("{addr} cannot be a virtual address"));
            } else if out
                .first()
                .is_some_and(|f| f.addr().is_ipv6() != addr.is_ipv6())
            {
                self.fail(&key, offset, "IPv4 and IPv6 need separate instances");
            } else if out.iter().any(|o| o.addr() == addr) {
                self.fail(&key, offset, &format!("{addr} listed twice"));
            } else {
                out.push(net);
            }
        }
        if out.len() > 255 {
            self.fail(
                "addresses",
                at(specs),
                "at most 255 addresses fit an advertisement",
            );
        }
        out
    }

    fn check(&mut self, key: &str, c: &CheckSpec) -> Option<Check> {
        let before = self.errors.len();
        let weight = self.range(&format!("{key}.weight"), &c.weight, 1, 254);
        let interval = self.range(&format!("{key}.interval"), &c.interval, 1, 360_000);
        let timeout = self.range(&format!("{key}.timeout"), &c.timeout, 1, 360_000);
        let fall = self.range(&format!("{key}.fall"), &c.fall, 1, 1000);
        let rise = self.range(&format!("{key}.rise"), &c.rise, 1, 1000);
        let probe = match (&c.dns, c.command.is_empty()) {
            (None, false) => Some(Probe::Command(c.command.clone())),
            (Some(server), true) => {
                let text = server.get_ref();
                let parsed = text
                    .parse::<SocketAddr>()
                    .or_else(|_| text.parse::<IpAddr>().map(|a| SocketAddr::new(a, 53)));
                match parsed {
                    Ok(server) => Some(Probe::Dns {
                        server,
                        name: c.dns_name.clone(),
                    }),
                    Err(_) => {
                        self.fail(
                            &format!("{key}.dns"),
                            at(server),
                            "not an address or address:port",
                        );
                        None
                    }
                }
            }
            _ => {
                self.fail(key, at(&c.name), "needs exactly one of `command` and `dns`");
                None
            }
        };
        if self.errors.len() > before {
            return None;
        }
        Some(Check {
            name: c.name.get_ref().clone(),
            weight: weight? as u8,
            probe: probe?,
            interval: Duration::from_millis(interval? as u64 * 10),
            timeout: Duration::from_millis(timeout? as u64 * 10),
            fall: fall? as u32,
            rise: rise? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Instance>, Vec<ConfigError>> {
        #[derive(Deserialize)]
        struct File {
            vrrp: Vec<InstanceSpec>,
        }
        let file: File = toml::from_str(text).unwrap();
        validate(&file.vrrp)
    }

    #[test]
    fn full_instance() {
        let i = parse(
            r#"
            [[vrrp]]
            name = "svc4"
            interface = "br-svc"
            vrid = 51
            priority = 150
            addresses = ["198.51.100.1/24", "198.51.100.53"]
            advert-interval = 10
            preempt-delay = 200
            unicast-peers = ["198.51.100.3"]
            notify = ["/bin/echo"]
            [[vrrp.track-interface]]
            name = "up0"
            weight = 60
            [[vrrp.check]]
            name = "dns"
            dns = "198.51.100.1"
            weight = 100
            "#,
        )
        .unwrap();
        let i = &i[0];
        assert_eq!(i.vrid, 51);
        assert_eq!(i.addresses[1].to_string(), "198.51.100.53/32");
        assert_eq!(i.preempt_delay, Duration::from_secs(2));
        assert!(i.preempt && i.accept);
        assert_eq!(
            i.checks[0].probe,
            Probe::Dns {
                server: "198.51.100.1:53".parse().unwrap(),
                name: ".".into()
            }
        );
    }

    const TEXT_WITH_ERRORS: &str = r#"
            [[vrrp]]
            name = "a"
            interface = "eth0"
            vrid = 0
            priority = 256
            addresses = ["198.51.100.1", "2001:db8::1", "nope"]
            advert-interval = 5000
            unicast-peers = ["ff02::1"]
            [[vrrp.check]]
            name = "c"
            weight = 10
            "#;

    #[test]
    fn errors_name_their_keys() {
        let errors = parse(TEXT_WITH_ERRORS).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "vrrp[0].vrid",
                "vrrp[0].priority",
                "vrrp[0].advert-interval",
                "vrrp[0].addresses[1]",
                "vrrp[0].addresses[2]",
                "vrrp[0].unicast-peers[0]",
                "vrrp[0].check[0]",
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "vrrp[0].vrid: 0 is out of range 1-255"
        );
    }

    #[test]
    fn duplicate_vrid_on_one_interface() {
        let errors = parse(
            r#"
            [[vrrp]]
            name = "a"
            interface = "eth0"
            vrid = 1
            priority = 100
            addresses = ["198.51.100.1"]
            [[vrrp]]
            name = "b"
            interface = "eth0"
            vrid = 1
            priority = 100
            addresses = ["198.51.100.2"]
            [[vrrp]]
            name = "c"
            interface = "eth0"
            vrid = 1
            priority = 100
            addresses = ["2001:db8::1"]
            "#,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "vrrp[1].vrid");
    }
}
