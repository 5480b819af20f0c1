//! netd's test fixture: the namespaces of its integration tests, its base
//! configuration, running it (one shot or as a daemon), and the traffic that crosses.
//!
//! ```text
//!   inet (the internet)            router (runs netd)                 services
//!   wan0 203.0.113.2/24  <-veth->  up0 203.0.113.1/24
//!        203.0.113.200/24          br-svc 198.51.100.1/24 ── svc1 <-veth-> svc1: eth0 198.51.100.10
//!                                                        └── svc2 <-veth-> svc2: eth0 198.51.100.11
//! ```
//! inet has no route to 198.51.100.0/24: only netd's forwards reach the services, and
//! only netd's masquerade lets them reach inet. Servers are threads of the test whose
//! sockets were opened inside a namespace; each answers `<name> <peer address> <msg>`,
//! so a test sees both who answered and whom they saw.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::bins;
use crate::netns::{Netns, veth};
use socket2::{Domain, Socket, Type};

/// The base configuration: a bridge, masquerade, and three forwards. The same file
/// is netd's own parse test (`netd/src/config_tests.rs`), so the two cannot drift.
pub const CONFIG: &str = include_str!("../../netd/tests/fixtures/lab.toml");

/// The public address of the router.
pub const PUBLIC: &str = "203.0.113.1";

/// The four namespaces, their servers, and netd's files.
pub struct Lab {
    pub inet: Netns,
    pub router: Netns,
    pub svc1: Netns,
    pub svc2: Netns,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// A router namespace and netd's files only, for tests that build their own peers
    /// (the other namespaces are created empty and unused).
    pub fn empty() -> Self {
        Self {
            inet: Netns::new("nd-inet"),
            router: Netns::new("nd-rtr"),
            svc1: Netns::new("nd-svc1"),
            svc2: Netns::new("nd-svc2"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Builds the namespaces and starts the servers; netd is not run yet.
    #[allow(clippy::new_without_default)] // creates namespaces: not a default value
    pub fn new() -> Self {
        let lab = Self {
            inet: Netns::new("nd-inet"),
            router: Netns::new("nd-rtr"),
            svc1: Netns::new("nd-svc1"),
            svc2: Netns::new("nd-svc2"),
            dir: tempfile::tempdir().unwrap(),
        };
        veth(&lab.router, "up0", &lab.inet, "wan0");
        lab.router
            .exec_ok(&["ip", "addr", "add", "203.0.113.1/24", "dev", "up0"]);
        lab.inet
            .exec_ok(&["ip", "addr", "add", "203.0.113.2/24", "dev", "wan0"]);
        lab.inet
            .exec_ok(&["ip", "addr", "add", "203.0.113.200/24", "dev", "wan0"]);
        for (ns, port, addr) in [
            (&lab.svc1, "svc1", "198.51.100.10/24"),
            (&lab.svc2, "svc2", "198.51.100.11/24"),
        ] {
            veth(&lab.router, port, ns, "eth0");
            ns.exec_ok(&["ip", "addr", "add", addr, "dev", "eth0"]);
            ns.exec_ok(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
        }
        serve(&lab.svc1, "svc1", &[8080]);
        serve(&lab.svc2, "svc2", &[9000, 9001, 22]);
        serve(&lab.inet, "inet", &[9999]);
        lab.write_config(CONFIG);
        lab
    }

    /// netd.toml's path.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("netd.toml")
    }

    /// netd's state folder.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Replaces netd.toml (atomically, as an editor or a deploy tool would).
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join("netd.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.config()).unwrap();
    }

    /// The argv of `netd <cmd>` with this lab's files.
    pub fn netd_argv(&self, cmd: &str) -> Vec<String> {
        vec![
            bins::path("netd").display().to_string(),
            "--config".into(),
            self.config().display().to_string(),
            "--state-dir".into(),
            self.state().display().to_string(),
            cmd.into(),
        ]
    }

    /// Runs `netd <cmd>` in the router namespace.
    pub fn netd(&self, cmd: &str) -> Output {
        let argv = self.netd_argv(cmd);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.router.exec(&argv)
    }

    /// Runs `netd <cmd>` and panics unless it succeeds; returns its stdout.
    pub fn netd_ok(&self, cmd: &str) -> String {
        let out = self.netd(cmd);
        assert!(
            out.status.success(),
            "netd {cmd} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `nft list ruleset` in the router.
    pub fn ruleset(&self) -> String {
        let out = self.router.exec(&["nft", "list", "ruleset"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -o addr` and `ip -o link` in the router, without volatile fields.
    pub fn links(&self) -> String {
        let out = self.router.exec(&["ip", "-o", "addr", "show"]);
        // IPv6 link-local addresses come and go with the kernel's own timing (DAD).
        let addrs: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.contains("scope link"))
            .map(|l| l.split("valid_lft").next().unwrap_or(l).to_string() + "\n")
            .collect();
        let out = self.router.exec(&["ip", "-o", "link", "show"]);
        addrs + &String::from_utf8_lossy(&out.stdout)
    }
}

/// Starts TCP and UDP servers on `ports` (IPv4, every address) in `ns`, answering
/// `<name> <peer> <msg>`.
pub fn serve(ns: &Netns, name: &'static str, ports: &[u16]) {
    for &port in ports {
        serve_on(ns, name, SocketAddr::from(([0, 0, 0, 0], port)));
    }
}

/// Starts a TCP and a UDP server on `addr` in `ns`, answering `<name> <peer> <msg>`.
pub fn serve_on(ns: &Netns, name: &'static str, addr: SocketAddr) {
    let (tcp, udp) = ns.run_in(|| {
        (
            TcpListener::bind(addr).unwrap(),
            UdpSocket::bind(addr).unwrap(),
        )
    });
    std::thread::spawn(move || {
        for conn in tcp.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let peer = conn
                    .peer_addr()
                    .map(|p| p.ip().to_string())
                    .unwrap_or_default();
                let mut writer = conn.try_clone().unwrap();
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if writeln!(writer, "{name} {peer} {line}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).trim().to_string();
            let _ = udp.send_to(format!("{name} {} {msg}\n", peer.ip()).as_bytes(), peer);
        }
    });
}

/// How long a client waits for a connection or an answer: generous, so a loaded
/// machine does not fail a test (a test that expects a drop waits this long).
const WAIT: Duration = Duration::from_secs(4);

/// A TCP connection opened from `ns` (from `source`, if given) to `to`.
pub fn tcp_connect(ns: &Netns, source: Option<&str>, to: &str) -> std::io::Result<TcpStream> {
    let to: SocketAddr = to.parse().unwrap();
    let source: Option<IpAddr> = source.map(|s| s.parse().unwrap());
    ns.run_in(move || {
        let s = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
        if let Some(src) = source {
            s.bind(&SocketAddr::new(src, 0).into())?;
        }
        s.connect_timeout(&to.into(), WAIT)?;
        let stream: TcpStream = s.into();
        stream.set_read_timeout(Some(WAIT))?;
        Ok(stream)
    })
}

/// Sends one line on `stream` and reads the answer line.
pub fn tcp_say(stream: &mut TcpStream, msg: &str) -> std::io::Result<String> {
    writeln!(stream, "{msg}")?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim().to_string())
}

/// One TCP exchange: connect, say `msg`, return the answer.
pub fn tcp_ask(ns: &Netns, source: Option<&str>, to: &str, msg: &str) -> std::io::Result<String> {
    let mut s = tcp_connect(ns, source, to)?;
    tcp_say(&mut s, msg)
}

/// One UDP exchange from `ns` (from `source`, if given) to `to`.
pub fn udp_ask(ns: &Netns, source: Option<&str>, to: &str, msg: &str) -> std::io::Result<String> {
    let to: SocketAddr = to.parse().unwrap();
    let any = if to.is_ipv4() { "0.0.0.0" } else { "::" };
    let bind: SocketAddr = SocketAddr::new(source.unwrap_or(any).parse().unwrap(), 0);
    let sock = ns.run_in(move || UdpSocket::bind(bind))?;
    sock.set_read_timeout(Some(WAIT))?;
    sock.send_to(msg.as_bytes(), to)?;
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

pub use crate::process::wait_until as wait_for;
