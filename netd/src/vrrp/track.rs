//! Tracking: tracked interfaces and health checks lower an instance's priority by
//! their weight while they are down. The arithmetic and the rise/fall hysteresis are
//! pure (`Tracker`, `Hysteresis`); the probes (interface flags, a command, a DNS
//! query) run as tasks that report each result.

use std::ffi::CString;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::config::{Check, Instance, Probe};

/// How often tracked interfaces are polled.
const INTERFACE_POLL: Duration = Duration::from_millis(100);

//------------ Pure parts ----------------------------------------------------

/// Effective priority = configured priority minus the weights of what is down,
/// never below 1 (0 is reserved for resignation, RFC 5798 section 5.2.4).
#[derive(Clone, Debug)]
pub struct Tracker {
    base: u8,
    weights: Vec<u8>,
    down: Vec<bool>,
}

impl Tracker {
    /// A tracker over items with `weights`, all up.
    pub fn new(base: u8, weights: Vec<u8>) -> Self {
        let down = vec![false; weights.len()];
        Self {
            base,
            weights,
            down,
        }
    }

    /// Records item `index` as up or down; returns the effective priority.
    pub fn set(&mut self, index: usize, up: bool) -> u8 {
        if let Some(d) = self.down.get_mut(index) {
            *d = !up;
        }
        self.priority()
    }

    /// The effective priority.
    pub fn priority(&self) -> u8 {
        let lost: u32 = self
            .weights
            .iter()
            .zip(&self.down)
            .filter(|(_, d)| **d)
            .map(|(w, _)| u32::from(*w))
            .sum();
        u32::from(self.base).saturating_sub(lost).max(1) as u8
    }
}

/// A check goes down after `fall` consecutive failures, up after `rise` successes.
#[derive(Clone, Debug)]
pub struct Hysteresis {
    fall: u32,
    rise: u32,
    streak: u32,
    up: bool,
}

impl Hysteresis {
    /// Starts up.
    pub fn new(fall: u32, rise: u32) -> Self {
        Self {
            fall,
            rise,
            streak: 0,
            up: true,
        }
    }

    /// Records one result; returns whether the check counts as up.
    pub fn record(&mut self, ok: bool) -> bool {
        if ok == self.up {
            self.streak = 0;
        } else {
            self.streak += 1;
            if self.streak >= if self.up { self.fall } else { self.rise } {
                self.up = ok;
                self.streak = 0;
            }
        }
        self.up
    }
}

//------------ Probes --------------------------------------------------------

/// Starts the probes of `instance` in `tasks` (they end when it is dropped, with the
/// instance); the receiver holds the effective priority.
pub fn spawn(instance: &Instance, tasks: &mut JoinSet<()>) -> watch::Receiver<u8> {
    let weights: Vec<u8> = instance
        .track_interfaces
        .iter()
        .map(|t| t.weight)
        .chain(instance.checks.iter().map(|c| c.weight))
        .collect();
    let mut tracker = Tracker::new(instance.priority, weights);
    let (priority_tx, priority_rx) = watch::channel(instance.priority);
    if instance.track_interfaces.is_empty() && instance.checks.is_empty() {
        // Keep the sender alive so the receiver never reports a closed channel.
        tasks.spawn(async move { priority_tx.closed().await });
        return priority_rx;
    }
    let (tx, mut rx) = mpsc::channel::<(usize, bool)>(16);
    for (i, t) in instance.track_interfaces.iter().enumerate() {
        let (tx, name, inst) = (tx.clone(), t.name.clone(), instance.name.clone());
        tasks.spawn(async move {
            let mut last = None;
            loop {
                let up = interface_up(&name);
                if last != Some(up) {
                    tracing::info!(instance = %inst, interface = %name, up, "vrrp: tracked interface");
                    last = Some(up);
                    if tx.send((i, up)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(INTERFACE_POLL).await;
            }
        });
    }
    let offset = instance.track_interfaces.len();
    for (i, check) in instance.checks.iter().enumerate() {
        let (tx, check, inst) = (tx.clone(), check.clone(), instance.name.clone());
        tasks.spawn(async move { run_check(offset + i, check, inst, tx).await });
    }
    let name = instance.name.clone();
    tasks.spawn(async move {
        while let Some((i, up)) = rx.recv().await {
            let p = tracker.set(i, up);
            if *priority_tx.borrow() != p {
                tracing::info!(instance = %name, priority = p, "vrrp: effective priority");
                let _ = priority_tx.send(p);
            }
        }
    });
    priority_rx
}

async fn run_check(index: usize, check: Check, instance: String, tx: mpsc::Sender<(usize, bool)>) {
    let mut state = Hysteresis::new(check.fall, check.rise);
    let mut last = true;
    loop {
        let ok = match tokio::time::timeout(check.timeout, probe(&check.probe)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!(instance = %instance, check = %check.name, error = %e, "vrrp: check failed");
                false
            }
            Err(_) => false,
        };
        let up = state.record(ok);
        if up != last {
            tracing::warn!(instance = %instance, check = %check.name, up, "vrrp: health check");
            last = up;
            if tx.send((index, up)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(check.interval).await;
    }
}

async fn probe(probe: &Probe) -> io::Result<()> {
    match probe {
        Probe::Command(argv) => {
            let Some((program, args)) = argv.split_first() else {
                return Err(io::Error::other("empty command"));
            };
            let status = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("{program}: {status}")))
            }
        }
        Probe::Dns { server, name } => dns_probe(*server, name).await,
    }
}

/// A DNS query (SOA for `name`, recursion desired); healthy is any response with our
/// id that is neither SERVFAIL nor REFUSED.
async fn dns_probe(server: SocketAddr, name: &str) -> io::Result<()> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().map_err(io::Error::other)?
    } else {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(server).await?;
    let id = (std::process::id() as u16) ^ (nanos() as u16);
    socket.send(&dns_query(id, name)).await?;
    let mut buf = [0u8; 512];
    loop {
        let n = socket.recv(&mut buf).await?;
        if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            return match buf[3] & 0x0f {
                2 | 5 => Err(io::Error::other(format!("rcode {}", buf[3] & 0x0f))),
                _ => Ok(()),
            };
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// The bytes of a query for `name` type SOA class IN.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let label = &label.as_bytes()[..label.len().min(63)];
        q.push(label.len() as u8);
        q.extend_from_slice(label);
    }
    q.push(0);
    q.extend_from_slice(&[0, 6, 0, 1]);
    q
}

/// Whether interface `name` is up and running (in this process's namespace).
pub fn interface_up(name: &str) -> bool {
    let Ok(cname) = CString::new(name) else {
        return false;
    };
    if cname.as_bytes().len() >= libc::IFNAMSIZ {
        return false;
    }
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: ifreq is plain old data; zero is valid. The name fits (checked above).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(cname.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own; fd is closed right after.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return false;
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_minus_weights_never_below_one() {
        let mut t = Tracker::new(100, vec![30, 80]);
        assert_eq!(t.set(0, false), 70);
        assert_eq!(t.set(1, false), 1);
        assert_eq!(t.set(0, true), 20);
        assert_eq!(t.set(1, true), 100);
    }

    #[test]
    fn hysteresis() {
        let mut h = Hysteresis::new(2, 3);
        assert!(h.record(false));
        assert!(!h.record(false));
        assert!(!h.record(true));
        assert!(!h.record(true));
        assert!(h.record(true));
    }

    #[test]
    fn query_bytes() {
        assert_eq!(
            dns_query(0x1234, "example."),
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
                b'e', 0, 0, 6, 0, 1
            ]
        );
        assert_eq!(dns_query(1, ".").len(), 17);
    }

    #[test]
    fn loopback_is_up_and_missing_is_down() {
        assert!(interface_up("lo"));
        assert!(!interface_up("no-such-if0"));
    }
}
