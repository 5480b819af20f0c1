//! What a bind refused for want of privilege needs: the hint that follows the error.
//!
//! Ports below `net.ipv4.ip_unprivileged_port_start` (1024 unless changed) may be
//! bound only with the capability CAP_NET_BIND_SERVICE, which root has. dnsd needs no
//! other privilege: its systemd unit (`dnsd/dnsd.service`) runs it as its own user
//! with `AmbientCapabilities=CAP_NET_BIND_SERVICE`; without systemd, `setcap` gives
//! the capability to the binary (README.md, "dnsd as a service").

use std::io;
use std::net::SocketAddr;

/// The first port bound without privilege when the sysctl cannot be read.
const UNPRIVILEGED_PORT_START: u16 = 1024;

/// What to add to the error of a bind of `addr` that failed with `error`: a hint
/// naming the capability and the unit when the port needs privilege, else nothing.
pub fn bind_hint(addr: &SocketAddr, error: &io::Error) -> String {
    let exe = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "/usr/local/sbin/dnsd".into());
    hint(addr.port(), error.kind(), unprivileged_port_start(), &exe).unwrap_or_default()
}

/// The hint for a bind of `port` that failed with `kind`, when ports below `start`
/// need privilege; `exe` is the binary to name in the `setcap` command.
fn hint(port: u16, kind: io::ErrorKind, start: u16, exe: &str) -> Option<String> {
    if kind != io::ErrorKind::PermissionDenied || port >= start {
        return None;
    }
    Some(format!(
        ": ports below {start} need the capability CAP_NET_BIND_SERVICE (or root). \
         Run dnsd from its systemd unit, dnsd.service, which grants it with \
         AmbientCapabilities=CAP_NET_BIND_SERVICE; or give it to the binary with \
         `setcap cap_net_bind_service=+ep {exe}`; or listen on a port from {start} up"
    ))
}

/// `net.ipv4.ip_unprivileged_port_start` (it applies to IPv6 too).
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(UNPRIVILEGED_PORT_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_privileged_port_refused_names_the_capability_and_the_unit() {
        let text =
            hint(53, io::ErrorKind::PermissionDenied, 1024, "/usr/sbin/dnsd").expect("a hint");
        assert!(text.contains("CAP_NET_BIND_SERVICE"), "{text}");
        assert!(text.contains("dnsd.service"), "{text}");
        assert!(
            text.contains("setcap cap_net_bind_service=+ep /usr/sbin/dnsd"),
            "{text}"
        );
    }

    #[test]
    fn other_failures_get_no_hint() {
        // A port anyone may bind: EACCES comes from elsewhere (an LSM), not from us.
        assert_eq!(
            hint(5353, io::ErrorKind::PermissionDenied, 1024, "dnsd"),
            None
        );
        // The sysctl lowered: port 53 needs nothing.
        assert_eq!(hint(53, io::ErrorKind::PermissionDenied, 0, "dnsd"), None);
        assert_eq!(hint(53, io::ErrorKind::AddrInUse, 1024, "dnsd"), None);
    }

    #[test]
    fn the_error_of_a_bind_carries_the_hint() {
        let refused = io::Error::from_raw_os_error(libc::EACCES);
        let text = bind_hint(&"127.0.0.1:53".parse().expect("address"), &refused);
        // Empty where the sysctl lets anyone bind port 53.
        assert!(
            text.is_empty() || text.contains("CAP_NET_BIND_SERVICE"),
            "{text}"
        );
    }
}
