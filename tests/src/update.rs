//! Peers for the RFC 2136 UPDATE tests: BIND's named serving one zone on loopback,
//! with the zone options (`allow-update`, `update-policy`) and top-level statements
//! (keys) a test gives, Knot likewise with an update ACL, and the wait until a server
//! answers for a zone.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::dns::short;
use crate::process::ProcessGuard;
use crate::servers::free_port;

/// A peer server: its address, its process and its folder (both dropped with it).
pub struct Peer {
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    /// Its process.
    pub guard: ProcessGuard,
    /// Its folder (configuration, zone, log).
    pub dir: tempfile::TempDir,
}

/// Waits until `addr` answers the SOA of `zone` (30 s), or panics with `log`.
pub fn wait_serving(addr: SocketAddr, zone: &str, what: &str, log: &Path) {
    let end = Instant::now() + Duration::from_secs(30);
    while short(addr, zone, "SOA").is_empty() {
        assert!(
            Instant::now() < end,
            "{what} does not answer: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// BIND serving `zone` (no trailing dot) from `text` with `zone_options` in its zone
/// statement and `top` (keys, includes) before it.
pub fn bind_with(zone: &str, text: &str, zone_options: &str, top: &str) -> Peer {
    let dir = tempfile::Builder::new()
        .prefix("nf-bind-upd-")
        .tempdir()
        .expect("dir");
    let d = dir.path().display().to_string();
    let port = free_port();
    std::fs::write(dir.path().join(format!("{zone}.zone")), text).expect("zone");
    let conf = format!(
        "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port {port} {{ 127.0.0.1; }};\n\
         listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; }};\n\
         controls {{ }};\n{top}\n\
         zone \"{zone}\" {{ type primary; file \"{d}/{zone}.zone\"; {zone_options} }};\n"
    );
    std::fs::write(dir.path().join("named.conf"), conf).expect("conf");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut cmd = Command::new("/usr/sbin/named");
    cmd.args(["-g", "-c", &format!("{d}/named.conf")])
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    let guard = ProcessGuard::spawn("named", &mut cmd);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_serving(addr, &format!("{zone}."), "named", &dir.path().join("log"));
    Peer { addr, guard, dir }
}

/// Knot serving `zone` (no trailing dot) from `text`, updates allowed by the ACL
/// `acl` (the YAML of one `acl:` entry's keys after `id: upd`, e.g. `address:
/// 127.0.0.0/8` or `key: NAME`), with `top` (a `key:` section) before it.
pub fn knot_with(zone: &str, text: &str, acl: &str, top: &str) -> Peer {
    let dir = tempfile::Builder::new()
        .prefix("nf-knot-upd-")
        .tempdir()
        .expect("dir");
    let d = dir.path().display().to_string();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    std::fs::write(dir.path().join(format!("{zone}.zone")), text).expect("zone");
    // Knot's journal database: its folder must exist, or every update is SERVFAIL.
    std::fs::create_dir(dir.path().join("db")).expect("db");
    let conf = format!(
        "server:\n  listen: {}@{}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: info\n{top}\
         acl:\n  - id: upd\n    {acl}\n    action: update\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    semantic-checks: off\n\
         zone:\n  - domain: {zone}\n    file: {zone}.zone\n    acl: upd\n",
        addr.ip(),
        addr.port()
    );
    std::fs::write(dir.path().join("knot.conf"), conf).expect("conf");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut cmd = Command::new("/usr/sbin/knotd");
    cmd.args(["-c", &format!("{d}/knot.conf")])
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    let guard = ProcessGuard::spawn("knotd", &mut cmd);
    wait_serving(addr, &format!("{zone}."), "knotd", &dir.path().join("log"));
    Peer { addr, guard, dir }
}
