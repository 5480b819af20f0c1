//! Readiness for the service manager (systemd's `Type=notify`, sd_notify(3)): one
//! datagram of `KEY=VALUE` lines to the unix socket that `$NOTIFY_SOCKET` names,
//! written here without libsystemd.
//!
//! dnsd sends `READY=1` once its zones are loaded and every listener (UDP, TCP,
//! metrics) is bound, so that what is ordered after `dnsd.service` (a resolver that
//! forwards to it, a health check) starts when queries get answers, and `STOPPING=1`
//! when it begins to stop. Without `$NOTIFY_SOCKET` (not started by a service manager
//! that asks for it) nothing is sent. A notification that cannot be sent is logged;
//! serving goes on (systemd then fails the start at its own timeout, which says why).
//!
//! The socket is a path (`/run/systemd/notify`) or, when it starts with `@`, a name in
//! Linux's abstract namespace.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable that names the socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

//------------ NotifyError ---------------------------------------------------

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` names no socket dnsd can write to.
    #[error("{NOTIFY_SOCKET}={socket:?} is not a socket path or @abstract name")]
    Address {
        /// The variable's value.
        socket: OsString,
    },
    /// The datagram could not be sent.
    #[error("cannot notify {NOTIFY_SOCKET}={socket:?}: {source}")]
    Send {
        /// The variable's value.
        socket: OsString,
        /// Why.
        source: io::Error,
    },
}

//------------ Notifications -------------------------------------------------

/// Tells the service manager that dnsd serves: `READY=1`, with `status` as the
/// `STATUS=` line that `systemctl status` shows.
pub fn ready(status: &str) {
    log_failure(notify(&format!("READY=1\nSTATUS={}\n", one_line(status))));
}

/// Tells the service manager that dnsd is stopping.
pub fn stopping() {
    log_failure(notify("STOPPING=1\nSTATUS=stopping\n"));
}

fn log_failure(result: Result<bool, NotifyError>) {
    match result {
        Ok(true) => tracing::debug!("service manager notified"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot notify the service manager"),
    }
}

/// Sends `state` to the socket of `$NOTIFY_SOCKET`: Ok(false) when it is not set.
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => send(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` as one datagram to `socket` (a path, or `@name` in the abstract
/// namespace).
pub fn send(socket: &OsStr, state: &str) -> Result<(), NotifyError> {
    let address = address(socket).ok_or_else(|| NotifyError::Address {
        socket: socket.to_os_string(),
    })?;
    let sent = UnixDatagram::unbound().and_then(|sender| {
        let n = sender.send_to_addr(state.as_bytes(), &address)?;
        if n == state.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "sent {n} of {} octets",
                state.len()
            )))
        }
    });
    sent.map_err(|source| NotifyError::Send {
        socket: socket.to_os_string(),
        source,
    })
}

/// The socket address `socket` names: an absolute path, or `@name` (abstract).
fn address(socket: &OsStr) -> Option<SocketAddr> {
    let bytes = socket.as_bytes();
    match bytes.first()? {
        b'@' if bytes.len() > 1 => SocketAddr::from_abstract_name(&bytes[1..]).ok(),
        b'/' => SocketAddr::from_pathname(socket).ok(),
        _ => None,
    }
}

/// `text` with its line breaks replaced, so that it stays one `STATUS=` line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn received(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_path_socket_receives_the_state() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind");
        send(path.as_os_str(), "READY=1\nSTATUS=serving 2 zones\n").expect("sent");
        assert_eq!(received(&socket), "READY=1\nSTATUS=serving 2 zones\n");
    }

    #[test]
    fn an_abstract_socket_receives_the_state() {
        let name = format!("dnsd-notify-test-{}", std::process::id());
        let bound = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let socket = UnixDatagram::bind_addr(&bound).expect("bind");
        send(OsStr::new(&format!("@{name}")), "STOPPING=1\n").expect("sent");
        assert_eq!(received(&socket), "STOPPING=1\n");
    }

    #[test]
    fn a_relative_or_empty_address_and_a_missing_socket_are_errors() {
        for bad in ["notify", "", "@"] {
            let result = send(OsStr::new(bad), "READY=1\n");
            assert!(
                matches!(result, Err(NotifyError::Address { .. })),
                "{bad:?}: {result:?}"
            );
        }
        let dir = tempfile::tempdir().expect("temporary folder");
        let missing = dir.path().join("nobody-listens");
        let error = send(missing.as_os_str(), "READY=1\n").expect_err("no socket");
        assert!(error.to_string().contains("nobody-listens"), "{error}");
    }

    #[test]
    fn a_status_stays_on_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
    }
}
