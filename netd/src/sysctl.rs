//! The forwarding sysctls, read and written through /proc/sys/net, which shows the
//! network namespace of the process that opens it: netd sets them for the namespace it
//! runs in, never another.

use std::fmt;
use std::io;

use crate::config::Forwarding;

/// IPv4 forwarding.
pub const IPV4_FORWARD: &str = "net.ipv4.ip_forward";
/// IPv6 forwarding (all interfaces).
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

/// A sysctl to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlChange {
    /// Its name.
    pub name: &'static str,
    /// Its value now.
    pub was: String,
    /// The value netd wants.
    pub value: &'static str,
}

impl fmt::Display for SysctlChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "~ sysctl {} {} -> {}", self.name, self.was, self.value)
    }
}

fn path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Reads sysctl `name`.
pub fn read(name: &str) -> io::Result<String> {
    std::fs::read_to_string(path(name))
        .map(|v| v.trim().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("read {name}: {e}")))
}

/// Writes sysctl `name`.
pub fn write(name: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(name), value)
        .map_err(|e| io::Error::new(e.kind(), format!("write {name}: {e}")))
}

/// The sysctls that `forwarding` asks for and that do not hold yet. netd turns
/// forwarding on and never off: something else on the host may need it.
pub fn plan(forwarding: Forwarding) -> io::Result<Vec<SysctlChange>> {
    let mut changes = Vec::new();
    for (on, name) in [
        (forwarding.ipv4, IPV4_FORWARD),
        (forwarding.ipv6, IPV6_FORWARD),
    ] {
        if on {
            let was = read(name)?;
            if was != "1" {
                changes.push(SysctlChange {
                    name,
                    was,
                    value: "1",
                });
            }
        }
    }
    Ok(changes)
}
