//! The VRRP fixture: a segment in namespaces, netd and keepalived running on it, a
//! capture of the VRRP packets on the wire, and the assertions the VRRP tests
//! (`tests/tests/vrrp_*.rs`) share; the failover benchmark (`benches/`) uses it too.
//!
//! ```text
//!   router0 (198.51.100.2, 2001:db8::2) ──┐
//!   router1 (198.51.100.3, 2001:db8::3) ──┼── br0 in namespace "sw"
//!   client  (198.51.100.10, 2001:db8::10) ┘
//! ```
//! Each host's interface is `eth0`. The virtual addresses are 198.51.100.1 and
//! 2001:db8::1.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netns::Netns;
use crate::process::ProcessGuard;

/// The IPv4 virtual address.
pub const VIP4: &str = "198.51.100.1";
/// The IPv6 virtual address.
pub const VIP6: &str = "2001:db8::1";

/// How long a test waits for something that must happen (a takeover, a state): far
/// beyond what it takes on an idle machine, so a loaded one does not fail the test.
pub const LONG: Duration = Duration::from_secs(20);

pub use crate::process::wait_until;

/// Two routers and a client on one bridge.
pub struct Segment {
    /// The routers.
    pub routers: [Netns; 2],
    /// The client.
    pub client: Netns,
    /// Holds the bridge (declared last: dropped after the hosts).
    pub switch: Netns,
}

impl Segment {
    /// Builds the segment; `tag` goes into the namespace names.
    pub fn new(tag: &str) -> Self {
        let switch = Netns::new(&format!("{tag}-sw"));
        // No multicast snooping: VRRP's groups must reach every port.
        switch.exec_ok(&[
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        switch.exec_ok(&["ip", "link", "set", "br0", "up"]);
        let routers = [
            Netns::new(&format!("{tag}-r0")),
            Netns::new(&format!("{tag}-r1")),
        ];
        let client = Netns::new(&format!("{tag}-c"));
        for (i, host) in [&routers[0], &routers[1], &client].into_iter().enumerate() {
            let port = format!("p{i}");
            crate::netns::veth(&switch, &port, host, "eth0");
            switch.exec_ok(&["ip", "link", "set", &port, "master", "br0"]);
            let last = [2, 3, 10][i];
            host.exec_ok(&[
                "ip",
                "addr",
                "add",
                &format!("198.51.100.{last}/24"),
                "dev",
                "eth0",
            ]);
            host.exec_ok(&[
                "ip",
                "addr",
                "add",
                &format!("2001:db8::{last}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        // The link-local addresses take a moment to leave DAD; VRRP over IPv6 needs them.
        for (i, host) in routers.iter().enumerate() {
            let ready = wait_until(LONG, || {
                let out = host.exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]);
                let text = String::from_utf8_lossy(&out.stdout);
                text.contains("fe80") && !text.contains("tentative")
            });
            assert!(
                ready,
                "router{i}: no usable IPv6 link-local address on eth0"
            );
        }
        Self {
            routers,
            client,
            switch,
        }
    }

    /// The primary IPv4 address of router `i`.
    pub fn router_addr(i: usize) -> &'static str {
        ["198.51.100.2", "198.51.100.3"][i]
    }

    /// Whether router `i` holds `addr` on eth0.
    pub fn holds(&self, i: usize, addr: &str) -> bool {
        let out = self.routers[i].exec(&["ip", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {addr}/"))
    }

    /// Which routers hold `addr`.
    pub fn holders(&self, addr: &str) -> Vec<usize> {
        (0..2).filter(|i| self.holds(*i, addr)).collect()
    }

    /// Whether the client gets an answer from `addr` within a second.
    pub fn ping(&self, addr: &str) -> bool {
        self.client
            .exec(&["ping", "-c", "1", "-W", "1", addr])
            .status
            .success()
    }

    /// Whether the client reaches `addr` within a few seconds (a failover is only done
    /// for the client once its neighbor entry follows the announcements).
    pub fn reachable(&self, addr: &str) -> bool {
        wait_until(Duration::from_secs(5), || self.ping(addr))
    }

    /// Sets router `i`'s link up or down.
    pub fn set_link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        self.routers[i].exec_ok(&["ip", "link", "set", "eth0", state]);
    }

    /// Pulls or plugs router `i`'s cable: its switch port goes down or up, so its
    /// eth0 loses or regains the carrier while it stays configured (NO-CARRIER).
    pub fn set_cable(&self, i: usize, plugged: bool) {
        let state = if plugged { "up" } else { "down" };
        self.switch
            .exec_ok(&["ip", "link", "set", &format!("p{i}"), state]);
    }

    /// Asserts, over a few advert intervals, that exactly router `i` holds `vip`.
    pub fn assert_only_holder(&self, vip: &str, i: usize) {
        assert!(
            wait_until(LONG, || self.holders(vip) == [i]),
            "{vip}: expected only router{i}, got {:?}",
            self.holders(vip)
        );
        for _ in 0..10 {
            assert_eq!(self.holders(vip), [i], "{vip}: two masters or none");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// netd on router 0 (priority 200, `master_extra` added to its instance) and
    /// router 1 (priority 100), one IPv4 instance `svc` (VRID 51, [`VIP4`], 0.1 s
    /// adverts); returns once router 0 alone holds the address: (master, backup).
    pub fn master_and_backup(&self, master_extra: &str) -> (Netd, Netd) {
        let master = Netd::start(
            &self.routers[0],
            &netd_instance("svc", 51, 200, VIP4, 10, master_extra),
        );
        let backup = Netd::start(
            &self.routers[1],
            &netd_instance("svc", 51, 100, VIP4, 10, ""),
        );
        self.assert_only_holder(VIP4, 0);
        (master, backup)
    }

    /// Router `i` alone holds both [`VIP4`] and [`VIP6`], and the client reaches both.
    pub fn assert_only_holder_of_both(&self, i: usize) {
        self.assert_only_holder(VIP4, i);
        self.assert_only_holder(VIP6, i);
        assert!(self.reachable(VIP4), "ping {VIP4}");
        assert!(self.reachable(VIP6), "ping {VIP6}");
    }
}

//------------ Capture -------------------------------------------------------

/// One VRRP packet seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Sender.
    pub src: IpAddr,
    /// VRRP version.
    pub version: u8,
    /// VRID.
    pub vrid: u8,
    /// Priority.
    pub priority: u8,
}

/// Records every IPv4 VRRP packet (to 224.0.0.18) the client receives, until dropped.
pub struct Capture {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    /// Starts capturing on the segment's client.
    pub fn start(seg: &Segment) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let (s, st, r) = (seen.clone(), stop.clone(), ready.clone());
        let thread = seg.client.spawn_thread(move || {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::RAW,
                Some(socket2::Protocol::from(112)),
            )
            .expect("raw socket for protocol 112");
            socket
                .join_multicast_v4(
                    &Ipv4Addr::new(224, 0, 0, 18),
                    &Ipv4Addr::new(198, 51, 100, 10),
                )
                .expect("join 224.0.0.18");
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("read timeout");
            r.store(true, Ordering::Relaxed);
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
            while !st.load(Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                // SAFETY: recv initialised the first n bytes.
                let bytes: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                if let Some(p) = parse_ipv4_vrrp(&bytes) {
                    s.lock().unwrap_or_else(|e| e.into_inner()).push(p);
                }
            }
        });
        assert!(
            wait_until(LONG, || ready.load(Ordering::Relaxed)),
            "capture did not start"
        );
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a packet from `src` with `priority` was seen.
    pub fn saw(&self, src: &str, priority: u8) -> bool {
        let src: IpAddr = src.parse().expect("an address");
        self.seen()
            .iter()
            .any(|p| p.src == src && p.priority == priority)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The VRRP header fields of an IPv4 packet, if it is one.
fn parse_ipv4_vrrp(p: &[u8]) -> Option<Seen> {
    let ihl = usize::from(*p.first()? & 0x0f) * 4;
    if *p.get(9)? != 112 {
        return None;
    }
    let v = p.get(ihl..ihl + 3)?;
    Some(Seen {
        src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
        version: v[0] >> 4,
        vrid: v[1],
        priority: v[2],
    })
}

//------------ netd ----------------------------------------------------------

/// A `[[vrrp]]` section with the test's defaults; `extra` lines are appended.
pub fn netd_instance(
    name: &str,
    vrid: u8,
    priority: u8,
    vip: &str,
    interval_cs: u16,
    extra: &str,
) -> String {
    format!(
        "[[vrrp]]\nname = \"{name}\"\ninterface = \"eth0\"\nvrid = {vrid}\npriority = {priority}\n\
         addresses = [\"{vip}\"]\nadvert-interval = {interval_cs}\n{extra}\n"
    )
}

/// A netd running in a namespace, with its own state directory and log file.
pub struct Netd {
    /// The process.
    pub guard: ProcessGuard,
    /// Config, state files and log live here.
    pub dir: tempfile::TempDir,
}

impl Netd {
    /// Writes `config` and starts `netd run` inside `ns`.
    pub fn start(ns: &Netns, config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("netd.toml");
        std::fs::write(&conf, config).expect("write netd.toml");
        let log = std::fs::File::create(dir.path().join("netd.log")).expect("log file");
        let mut cmd = ns.command(&[
            crate::bins::path("netd").to_str().expect("utf-8 path"),
            "run",
            "--config",
            conf.to_str().expect("utf-8 path"),
            "--state-dir",
            dir.path().join("state").to_str().expect("utf-8 path"),
        ]);
        cmd.stdout(Stdio::null())
            .stderr(log)
            .env("RUST_LOG", "info");
        let guard = ProcessGuard::spawn("netd", &mut cmd);
        Self { guard, dir }
    }

    /// `netd status --json` of this daemon, or "" before it wrote its state.
    pub fn status_json(&self) -> String {
        let out = Command::new(crate::bins::path("netd"))
            .args(["status", "--json", "--state-dir"])
            .arg(self.dir.path().join("state"))
            .output()
            .expect("run netd status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `netd status` (the table).
    pub fn status_table(&self) -> String {
        let out = Command::new(crate::bins::path("netd"))
            .args(["status", "--state-dir"])
            .arg(self.dir.path().join("state"))
            .output()
            .expect("run netd status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The state ("backup", "master", ...) of instance `name` in the status table.
    pub fn state(&self, name: &str) -> String {
        self.status_table()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&name))
            .and_then(|cols| cols.get(3).map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// What netd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("netd.log")).unwrap_or_default()
    }

    /// Stops netd cleanly (SIGTERM) and waits for it; panics unless it exits by
    /// itself with status 0 (a stop that needs SIGKILL is no clean shutdown).
    pub fn stop(&mut self) {
        let status = self.guard.terminate(LONG);
        assert!(
            status.is_some_and(|s| s.success()),
            "netd did not stop cleanly on SIGTERM: {status:?}\n{}",
            self.log()
        );
    }

    /// The state folder.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// Runs `netd <argv>` (with this daemon's files) in `ns`.
    pub fn command(&self, ns: &Netns, argv: &[&str]) -> std::process::Output {
        let bin = crate::bins::path("netd");
        let conf = self.dir.path().join("netd.toml");
        let state = self.state_dir();
        let mut all = vec![
            bin.to_str().expect("utf-8 path"),
            "--config",
            conf.to_str().expect("utf-8 path"),
            "--state-dir",
            state.to_str().expect("utf-8 path"),
        ];
        all.extend(argv);
        ns.exec(&all)
    }

    /// Replaces netd.toml (atomically) and asks the daemon to read it (SIGHUP).
    pub fn reconfigure(&self, config: &str) {
        let tmp = self.dir.path().join("netd.toml.tmp");
        std::fs::write(&tmp, config).expect("write netd.toml");
        std::fs::rename(&tmp, self.dir.path().join("netd.toml")).expect("rename netd.toml");
        self.guard.signal(libc::SIGHUP);
    }
}

/// Two `[[vrrp]]` sections, IPv4 (VRID 51, `name`) and IPv6 (VRID 52, `name-v6`),
/// 0.1 s adverts.
pub fn netd_both(name: &str, priority: u8, extra: &str) -> String {
    netd_instance(name, 51, priority, &format!("{VIP4}/24"), 10, extra)
        + &netd_instance(
            &format!("{name}-v6"),
            52,
            priority,
            &format!("{VIP6}/64"),
            10,
            extra,
        )
}

/// The keepalived instances that match [`netd_both`] (`svc`, `svc6`).
pub fn keepalived_both(priority: u8, extra: &str) -> String {
    keepalived_instance("svc", 51, priority, &format!("{VIP4}/24"), 10, extra)
        + &keepalived_instance("svc6", 52, priority, &format!("{VIP6}/64"), 10, extra)
}

//------------ keepalived ----------------------------------------------------

/// A keepalived `vrrp_instance` (VRRPv3) with the test's defaults.
pub fn keepalived_instance(
    name: &str,
    vrid: u8,
    priority: u8,
    vip: &str,
    interval_cs: u16,
    extra: &str,
) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int {}\n  accept\n  virtual_ipaddress {{\n    {vip}\n  }}\n{extra}\n}}\n",
        f64::from(interval_cs) / 100.0
    )
}

/// keepalived (Debian's) in a namespace, its files in a temp dir. It runs as a parent
/// and a VRRP child; both are stopped by pid.
pub struct Keepalived {
    guard: ProcessGuard,
    dir: tempfile::TempDir,
}

impl Keepalived {
    /// Starts keepalived (VRRPv3) in `ns` with the `vrrp_instance` blocks `instances`.
    pub fn start(ns: &Netns, instances: &str) -> Self {
        Self::start_version(ns, instances, 3)
    }

    /// Starts keepalived speaking VRRP `version` (2 or 3).
    pub fn start_version(ns: &Netns, instances: &str, version: u8) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  vrrp_version {version}\n  script_user root\n  enable_script_security\n}}\n{instances}"
            ),
        )
        .expect("write keepalived.conf");
        let log = std::fs::File::create(dir.path().join("keepalived.log")).expect("log");
        let path = |f: &str| dir.path().join(f).to_str().expect("utf-8").to_string();
        let mut cmd = ns.command(&[
            "keepalived",
            "--dont-fork",
            "--log-console",
            "--no-syslog",
            "--vrrp",
            "--use-file",
            &path("keepalived.conf"),
            "--pid",
            &path("keepalived.pid"),
            "--vrrp_pid",
            &path("vrrp.pid"),
        ]);
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        let guard = ProcessGuard::spawn("keepalived", &mut cmd);
        Self { guard, dir }
    }

    /// The VRRP child's pid, once it has written its pid file.
    fn child_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("vrrp.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Stops keepalived cleanly: SIGTERM to the parent, which stops its child;
    /// panics unless both end by themselves.
    pub fn stop(&mut self) {
        let child = self.child_pid();
        let status: Option<ExitStatus> = self.guard.terminate(LONG);
        assert!(
            status.is_some_and(|s| s.success()),
            "keepalived did not stop cleanly: {status:?}\n{}",
            self.log()
        );
        if let Some(pid) = child {
            assert!(
                wait_until(LONG, || !alive(pid)),
                "keepalived's VRRP child lingers"
            );
        }
    }

    /// Kills parent and child at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let child = self.child_pid();
        if let Some(pid) = child {
            // SAFETY: kill(2) on the pid keepalived's own pid file names.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        self.guard.kill();
    }

    /// What keepalived logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keepalived.log")).unwrap_or_default()
    }

    /// Whether the VRRP child is running (it writes its pid file when it starts).
    pub fn started(&self) -> bool {
        self.child_pid().is_some_and(alive)
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let child = self.child_pid();
        self.guard.terminate(Duration::from_secs(3));
        if let Some(pid) = child.filter(|p| alive(*p)) {
            // SAFETY: as in `kill`.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie child of ours would still answer kill(0); keepalived's VRRP child is
    // not our child, so it is reaped by init once dead.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}
