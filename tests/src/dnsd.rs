//! The one way tests start dnsd: the real binary, with its zones, configuration file,
//! state and log in a temporary folder of its own, on a loopback address (or in a
//! network namespace the fixture creates), stopped by its guard.
//!
//! ```text
//! let dnsd = Dnsd::builder().zone("front.test", &front_zone()).config("[tcp]\n…").start();
//! dnsd.ask("www.front.test.", 1)   // over UDP, retried, from inside its namespace
//! dnsd.metric("dnsd_zones")        // scraped from its metrics endpoint
//! ```
//!
//! [`Builder::as_is`] runs `dnsd ARGS` from a given folder as a user would (an
//! `examples/*.toml` from the repository's root, or no argument at all), in a
//! namespace of its own where the example's fixed port is always free.
//!
//! `start` returns once dnsd answers the SOA of its first zone (NOERROR, with an
//! answer); it fails with dnsd's log when dnsd exits or stays silent. With
//! [`Builder::notify_socket`] it waits for `READY=1` instead, then asks once: READY
//! must mean that dnsd answers. A loopback
//! address and metrics port the fixture picked itself are picked again when dnsd
//! reports that another program holds them; an address the test chose is never
//! replaced, so a taken port fails the test.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dns::{Normalized, Query, normalize, udp_exchange};
use crate::netns::Netns;
use crate::process::ProcessGuard;

mod builder;
pub use builder::Builder;

/// Bound on a start and on every wait: generous for a loaded machine, and a failure
/// guard rather than a timing requirement.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A small zone for front and metrics tests: `front.test.`, 43 records, with `www`
/// (one A) and `big` (40 TXT records of about 100 octets: truncated over UDP without
/// EDNS, complete over TCP).
pub fn front_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN front.test.\n$TTL 300\n\
         @ IN SOA ns1 hostmaster 2024010101 3600 900 604800 300\n\
         @ NS ns1\n\
         ns1 A 127.0.0.1\n\
         www A 198.51.100.10\n",
    );
    for i in 0..40 {
        zone.push_str(&format!("big TXT \"{i:03} {}\"\n", "x".repeat(90)));
    }
    zone
}

//------------ Dnsd ----------------------------------------------------------

/// A running dnsd; dropping it kills the process (by its pid), then deletes its
/// folder and its namespace.
pub struct Dnsd {
    /// The first address it listens on (for a wildcard, the loopback address).
    pub addr: SocketAddr,
    /// Its metrics endpoint, when the builder asked for one.
    pub metrics: Option<SocketAddr>,
    /// Time from spawn to the first answer.
    pub load_time: Duration,
    // Dropped in this order: the process, its notify socket, folder, namespace.
    guard: ProcessGuard,
    notify: Option<UnixDatagram>,
    dir: tempfile::TempDir,
    netns: Option<Arc<Netns>>,
    relaunch: Option<Relaunch>,
}

/// How to start the same dnsd again in its folder (and namespace).
struct Relaunch {
    listen: Vec<SocketAddr>,
    metrics: Option<SocketAddr>,
    probe: Vec<u8>,
    builder: Builder,
}

impl Dnsd {
    /// What to start.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Its folder: `zones/`, `dnsd.toml`, `dnsd.log`, state.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The folder of its zone files.
    pub fn zones_dir(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    /// Its state folder as this process can reach it: through `/proc/PID/root` when it
    /// is a tmpfs in dnsd's own mount namespace ([`Builder::state_tmpfs`]).
    pub fn state_dir(&self) -> PathBuf {
        let state = self.dir.path().join(".dnsd-state");
        match &self.relaunch {
            Some(r) if r.builder.state_tmpfs.is_some() => {
                let relative = state.strip_prefix("/").unwrap_or(&state);
                PathBuf::from(format!("/proc/{}/root", self.pid())).join(relative)
            }
            _ => state,
        }
    }

    /// Its namespace, when it runs in one of its own.
    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_deref()
    }

    /// What it logged so far (standard output and error).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsd.log")).unwrap_or_default()
    }

    /// Runs `f` where dnsd's addresses are reachable: on a thread inside its namespace,
    /// or here.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.netns {
            Some(ns) => ns.run_in(f),
            None => f(),
        }
    }

    /// Sends `request` over UDP and returns the response; a datagram lost is sent
    /// again, up to 5 times, each waiting up to `timeout`.
    pub fn exchange(&self, request: &[u8], timeout: Duration) -> Option<Vec<u8>> {
        (0..5).find_map(|_| exchange_in(self.netns.as_deref(), self.addr, request, timeout))
    }

    /// Asks `name` `qtype` over UDP (retried as [`Dnsd::exchange`]); None when no
    /// response came or it does not parse.
    pub fn ask(&self, name: &str, qtype: u16) -> Option<Normalized> {
        let query = Query::new(name, qtype).to_bytes();
        normalize(&self.exchange(&query, Duration::from_secs(1))?).ok()
    }

    /// A new TCP connection to dnsd (opened inside its namespace when it has one),
    /// with read and write timeouts of `timeout`; panics, with the log, when it cannot
    /// connect.
    pub fn tcp_connect(&self, timeout: Duration) -> TcpStream {
        let addr = self.addr;
        self.run_in(|| -> std::io::Result<TcpStream> {
            let conn = TcpStream::connect_timeout(&addr, timeout)?;
            conn.set_read_timeout(Some(timeout))?;
            conn.set_write_timeout(Some(timeout))?;
            Ok(conn)
        })
        .unwrap_or_else(|e| panic!("cannot connect to {addr} over TCP: {e}\n{}", self.log()))
    }

    /// The metrics endpoint's text; panics, saying why, when it cannot be read.
    pub fn scrape(&self) -> String {
        let addr = self.metrics.expect("dnsd started without .metrics()");
        crate::metrics::try_scrape(self.netns.as_deref(), addr)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }

    /// The value of `series` (name and labels, exactly as rendered) in a new scrape,
    /// None when the series is absent.
    pub fn metric(&self, series: &str) -> Option<u64> {
        metric(&self.scrape(), series)
    }

    /// Polls `check` every 10 ms until it holds, for at most [`PATIENCE`]; fails with
    /// `what` and the log when it does not, or when dnsd exits meanwhile.
    pub fn wait_for(&mut self, what: &str, mut check: impl FnMut(&Dnsd) -> bool) {
        let start = Instant::now();
        loop {
            if check(self) {
                return;
            }
            if let Some(status) = self.guard.try_wait() {
                panic!("dnsd exited ({status}) waiting for {what}:\n{}", self.log());
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{what}: not within {PATIENCE:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.guard.try_wait().is_none()
    }

    /// The SOA serial `zone` serves; None unless it answers NOERROR with its SOA.
    pub fn soa_serial(&self, zone: &str) -> Option<u32> {
        let n = self.ask(&format!("{}.", zone.trim_end_matches('.')), 6)?;
        if n.rcode != 0 {
            return None;
        }
        n.answer
            .iter()
            .find(|(k, _)| k.1 == "SOA")
            .and_then(|(_, v)| v.iter().next())
            .and_then(|soa| soa.split_whitespace().nth(2)?.parse().ok())
    }

    /// The A records of `name`; None unless it answers NOERROR.
    pub fn addresses(&self, name: &str) -> Option<Vec<String>> {
        let n = self.ask(name, 1)?;
        (n.rcode == 0).then(|| n.answer.values().flatten().cloned().collect())
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        self.guard.signal(signal);
    }

    /// Kills dnsd at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// Starts dnsd again in its folder (killing it first if it runs), with the same
    /// addresses and configuration, and waits until it answers the probe.
    pub fn restart(&mut self) {
        self.guard.kill();
        let relaunch = self
            .relaunch
            .as_ref()
            .expect("a dnsd started as_is (or with no arguments) does not restart");
        let mut cmd = relaunch.builder.command(
            self.dir.path(),
            &relaunch.listen,
            relaunch.metrics,
            self.netns.as_deref(),
        );
        self.guard = ProcessGuard::spawn("dnsd", &mut cmd);
        let probe = relaunch.probe.clone();
        self.wait_for("the restart", |d| {
            exchange_in(
                d.netns.as_deref(),
                d.addr,
                &probe,
                Duration::from_millis(200),
            )
            .and_then(|r| normalize(&r).ok())
            .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
        });
    }

    /// Sends `lines` to dnsd's control socket (`dnsd ctl`'s protocol) and returns the
    /// replies; panics, with the log, when the socket cannot be reached.
    pub fn ctl(&self, lines: &[&str]) -> Vec<String> {
        let socket = dnsd::front::control::socket_path(&self.dir.path().join(".dnsd-state"));
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        dnsd::front::control::client(&socket, &lines).unwrap_or_else(|e| {
            panic!(
                "control socket {}: {e}
{}",
                socket.display(),
                self.log()
            )
        })
    }

    /// Runs `dnsd ctl --config DIR/dnsd.toml LINE...` (the binary, as an operator
    /// would, from dnsd's folder): whether it succeeded, and what it printed.
    pub fn ctl_binary(&self, lines: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(crate::bins::path("dnsd"))
            .current_dir(self.dir.path())
            .arg("ctl")
            .arg("--config")
            .arg(self.dir.path().join("dnsd.toml"))
            .args(lines)
            .output()
            .expect("run dnsd ctl");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The next notification dnsd sent to its `NOTIFY_SOCKET`
    /// ([`Builder::notify_socket`]), waiting up to `timeout`; None when none came.
    pub fn notification(&self, timeout: Duration) -> Option<String> {
        let socket = self.notify.as_ref()?;
        socket.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Stops dnsd with SIGTERM, killing it after `timeout`; its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.guard.terminate(timeout)
    }
}

pub use crate::metrics::metric;

/// One UDP exchange with `addr`, from inside `netns` when there is one.
fn exchange_in(
    netns: Option<&Netns>,
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> Option<Vec<u8>> {
    match netns {
        Some(ns) => ns.run_in(|| udp_exchange(addr, request, timeout)),
        None => udp_exchange(addr, request, timeout),
    }
}

/// `addr`, or the loopback address of its family when it is a wildcard.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// A zone `origin` whose `www` has `addr`, with `extra` lines.
pub fn www_zone(origin: &str, addr: &str, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nwww A {addr}\n{extra}"
    )
}

/// Whether `name` answers exactly the one address `want`.
pub fn is_addr(dnsd: &Dnsd, name: &str, want: &str) -> bool {
    dnsd.addresses(name)
        .is_some_and(|a| a == [want.to_string()])
}

/// A metric of one zone (`series{zone="ZONE."}`); 0 when absent.
pub fn zone_metric(dnsd: &Dnsd, series: &str, zone: &str) -> u64 {
    dnsd.metric(&format!("{series}{{zone=\"{zone}.\"}}"))
        .unwrap_or(0)
}
