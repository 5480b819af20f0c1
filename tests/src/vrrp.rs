//! A VRRP segment in namespaces, and netd and keepalived running on it, for the VRRP
//! tests (`tests/tests/vrrp_*.rs`) and the failover benchmark (`benches/`).
//!
//! ```text
//!   router0 (198.51.100.2, 2001:db8::2) ──┐
//!   router1 (198.51.100.3, 2001:db8::3) ──┼── br0 in namespace "sw"
//!   client  (198.51.100.10, 2001:db8::10) ┘
//! ```
//! Each host's interface is `eth0`. The virtual addresses are 198.51.100.1 and
//! 2001:db8::1.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::process::ProcessGuard;

/// The IPv4 virtual address.
pub const VIP4: &str = "198.51.100.1";
/// The IPv6 virtual address.
pub const VIP6: &str = "2001:db8::1";

/// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

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
        for host in &routers {
            wait_until(Duration::from_secs(5), || {
                let out = host.exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]);
                let text = String::from_utf8_lossy(&out.stdout);
                text.contains("fe80") && !text.contains("tentative")
            });
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

    /// Stops netd cleanly (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        self.guard.terminate(Duration::from_secs(5));
    }
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
    /// Starts keepalived in `ns` with the `vrrp_instance` blocks `instances`.
    pub fn start(ns: &Netns, instances: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  vrrp_version 3\n  script_user root\n  enable_script_security\n}}\n{instances}"
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

    /// Stops keepalived cleanly: SIGTERM to the parent, which stops its child.
    pub fn stop(&mut self) {
        let child = self.child_pid();
        self.guard.terminate(Duration::from_secs(5));
        if let Some(pid) = child {
            wait_until(Duration::from_secs(5), || !alive(pid));
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
