//! Zone-transfer peers for tests and benchmarks: NSD, Knot and BIND as secondaries of
//! a primary, or as primaries of their own zone files, each in a namespace (or on
//! loopback) with its folder, log and control socket, stopped by its guard; a TSIG
//! key written for each in its own format; and the zone as each holds it, read with
//! its own tools (`knotc zone-read`, `nsd-control write`, `rndc sync`) and brought to
//! one canonical text by `named-compilezone`, so that a transferred zone can be
//! compared with its source line by line.
//!
//! ```text
//!   namespace "home" (198.18.0.1)            namespace "vps" (198.18.0.2)
//!   primary: dnsd | NSD | Knot | BIND  ◄──── AXFR/IXFR, TSIG ──── secondaries
//!                                      ────► NOTIFY
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dns::{Query, normalize, udp_exchange};
use crate::netns::{Netns, veth};
use crate::process::ProcessGuard;
use crate::xfr_peer_config as peer_config;

/// Bound on every wait here: generous for a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

//------------ Network -------------------------------------------------------

/// Two namespaces, "home" and "vps", joined by a veth pair: home is 198.18.0.1/24,
/// vps 198.18.0.2/24 (shared/TESTNET.md).
pub struct HomeVps {
    /// The home site (the primary).
    pub home: Arc<Netns>,
    /// The VPS (the secondaries).
    pub vps: Arc<Netns>,
}

/// Home's address.
pub const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 1));
/// The VPS's address.
pub const VPS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));

impl HomeVps {
    /// Creates both namespaces and the link between them.
    pub fn new() -> Self {
        let home = Arc::new(Netns::new("home"));
        let vps = Arc::new(Netns::new("vps"));
        veth(&home, "to-vps", &vps, "to-home");
        home.exec_ok(&["ip", "addr", "add", "198.18.0.1/24", "dev", "to-vps"]);
        vps.exec_ok(&["ip", "addr", "add", "198.18.0.2/24", "dev", "to-home"]);
        Self { home, vps }
    }
}

impl Default for HomeVps {
    fn default() -> Self {
        Self::new()
    }
}

//------------ Keys ----------------------------------------------------------

/// A TSIG key, written for each server in its own syntax.
#[derive(Clone, Debug)]
pub struct TsigKey {
    /// Its name (no trailing dot).
    pub name: String,
    /// `hmac-sha256`, ...
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

impl TsigKey {
    /// A fixed test key (the secret of 32 octets of 0x2a).
    pub fn test(name: &str) -> Self {
        Self {
            name: name.to_string(),
            algorithm: "hmac-sha256".into(),
            secret: "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".into(),
        }
    }

    /// The same key with another secret (a peer that has it wrong).
    pub fn with_wrong_secret(&self) -> Self {
        Self {
            secret: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
            ..self.clone()
        }
    }

    /// As `tsig-keygen` writes it (BIND's `key` statement; dnsd reads it).
    pub fn bind_text(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
            self.name, self.algorithm, self.secret
        )
    }

    /// As `keymgr -t` writes it (Knot's `key:` section).
    pub fn knot_text(&self) -> String {
        format!(
            "key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n",
            self.name, self.algorithm, self.secret
        )
    }

    /// NSD's `key:` clause.
    pub fn nsd_text(&self) -> String {
        format!(
            "key:\n  name: \"{}\"\n  algorithm: {}\n  secret: \"{}\"\n",
            self.name, self.algorithm, self.secret
        )
    }
}

/// The test zone example.net: `hosts` names and many types, at `serial`, with edit `edit` applied
/// (each edit changes, adds and removes a few records).
pub fn zone_text(serial: u32, hosts: usize, edit: usize) -> String {
    let mut z = format!(
        "$ORIGIN example.net.\n$TTL 300\n\
         @ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\n@ NS ns2.elsewhere.org.\n@ MX 10 mail\n\
         ns1 A 198.51.100.1\nmail A 198.51.100.25\nmail AAAA 2001:db8::25\n\
         _imap._tcp SRV 0 1 143 mail\nwww CNAME web\nweb A 198.51.100.80\n\
         sub NS ns.sub\nns.sub A 198.51.100.53\n\
         txt TXT \"edit {edit}\"\n"
    );
    for i in 0..hosts {
        if (i + edit).is_multiple_of(97) && edit > 0 {
            continue;
        }
        let last = (i + edit * 7) % 250;
        z.push_str(&format!("host{i:05}.lan{} A 198.51.100.{last}\n", i % 13));
        if i.is_multiple_of(5) {
            z.push_str(&format!(
                "host{i:05}.lan{} TXT \"host {i} of {hosts}\"\n",
                i % 13
            ));
        }
    }
    for e in 0..edit {
        z.push_str(&format!("added{e} AAAA 2001:db8::{e:x}\n"));
    }
    z
}

//------------ Peers ---------------------------------------------------------

/// Which peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// NSD 4.6.
    Nsd,
    /// Knot 3.2.
    Knot,
    /// BIND 9.18.
    Bind,
}

impl Peer {
    /// Every peer.
    pub const ALL: [Peer; 3] = [Peer::Nsd, Peer::Knot, Peer::Bind];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Nsd => "nsd",
            Peer::Knot => "knot",
            Peer::Bind => "bind",
        }
    }
}

/// What a peer serves: its own zone files (primary) or zones from a primary.
pub enum Role<'a> {
    /// Primary of `zones` (name, text), allowing transfers (signed with `key`, when
    /// given) and notifying `notify`.
    Primary {
        /// The zones: name (no trailing dot) and file text.
        zones: &'a [(String, String)],
        /// Where NOTIFY goes.
        notify: Option<SocketAddr>,
    },
    /// Secondary of `zones` from `primary`, accepting its NOTIFY.
    Secondary {
        /// The zone names.
        zones: &'a [String],
        /// The primary.
        primary: SocketAddr,
    },
}

/// A running peer; dropping it kills it and removes its folder.
pub struct PeerServer {
    /// Which peer.
    pub kind: Peer,
    /// Where it listens.
    pub addr: SocketAddr,
    netns: Option<Arc<Netns>>,
    guard: ProcessGuard,
    dir: tempfile::TempDir,
}

impl PeerServer {
    /// Starts `kind` as `role` on `addr`, inside `netns` when given, with `key` for
    /// transfers and NOTIFY (None: unsigned). Returns once it answers on `addr`.
    pub fn start(
        kind: Peer,
        netns: Option<Arc<Netns>>,
        addr: SocketAddr,
        role: &Role<'_>,
        key: Option<&TsigKey>,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("nf-xfr-{}-", kind.name()))
            .tempdir()
            .expect("temporary folder");
        let argv = match kind {
            Peer::Nsd => peer_config::nsd(dir.path(), addr, role, key),
            Peer::Knot => peer_config::knot(dir.path(), addr, role, key),
            Peer::Bind => peer_config::bind(dir.path(), addr, role, key),
        };
        Self::launch(kind, netns, addr, dir, &argv)
    }

    /// Starts Knot on `addr` with the configuration `conf` writes (given Knot's
    /// folder; the `server`, `control`, `database` and `log` sections are written
    /// before it), for what `Role` does not cover (catalog zones).
    pub fn start_knot(
        netns: Option<Arc<Netns>>,
        addr: SocketAddr,
        conf: impl FnOnce(&Path) -> String,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nf-xfr-knot-")
            .tempdir()
            .expect("temporary folder");
        let text = format!(
            "{}{}",
            peer_config::knot_base(dir.path(), addr),
            conf(dir.path())
        );
        std::fs::create_dir_all(dir.path().join("db")).expect("knot's database folder");
        let path = write(dir.path(), "knot.conf", &text);
        let argv = vec!["knotd".into(), "-c".into(), path.display().to_string()];
        Self::launch(Peer::Knot, netns, addr, dir, &argv)
    }

    /// Starts `argv` as `kind` in `dir` (its folder, removed with it), inside `netns`
    /// when given; returns once it answers on `addr`.
    pub fn launch(
        kind: Peer,
        netns: Option<Arc<Netns>>,
        addr: SocketAddr,
        dir: tempfile::TempDir,
        argv: &[String],
    ) -> Self {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = command(netns.as_deref(), &argv);
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let guard = ProcessGuard::spawn(kind.name(), &mut cmd);
        let mut peer = Self {
            kind,
            addr,
            netns,
            guard,
            dir,
        };
        // Ready once it answers anything (a secondary may have no zone yet).
        let probe = Query::new("ready.invalid.", 6).to_bytes();
        let start = Instant::now();
        loop {
            if let Some(status) = peer.guard.try_wait() {
                panic!("{} exited ({status}):\n{}", kind.name(), peer.log());
            }
            if peer.exchange(&probe).is_some() {
                return peer;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{} did not answer on {addr}:\n{}",
                kind.name(),
                peer.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What it logged.
    pub fn log(&self) -> String {
        let mut log =
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        if let Ok(more) = std::fs::read_to_string(self.dir.path().join("nsd.log")) {
            log.push_str(&more);
        }
        log
    }

    /// One UDP exchange with it, from where it runs.
    pub fn exchange(&self, request: &[u8]) -> Option<Vec<u8>> {
        let addr = self.addr;
        let ask = || udp_exchange(addr, request, Duration::from_millis(300));
        match &self.netns {
            Some(ns) => ns.run_in(ask),
            None => ask(),
        }
    }

    /// The SOA serial it serves for `zone`, if it answers with one.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let query = Query::new(&format!("{zone}."), 6).to_bytes();
        let answer = normalize(&self.exchange(&query)?).ok()?;
        if answer.rcode != 0 {
            return None;
        }
        let (_, rdatas) = answer.answer.iter().find(|(k, _)| k.1 == "SOA")?;
        let text = rdatas.iter().next()?;
        text.split_whitespace().nth(2)?.parse().ok()
    }

    /// Waits until it serves `zone` at `serial`; fails with its log otherwise.
    pub fn wait_serial(&mut self, zone: &str, serial: u32) {
        let start = Instant::now();
        while self.serial(zone) != Some(serial) {
            if let Some(status) = self.guard.try_wait() {
                panic!("{} exited ({status}):\n{}", self.kind.name(), self.log());
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{} does not serve {zone} at serial {serial} (it serves {:?}):\n{}",
                self.kind.name(),
                self.serial(zone),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs one of its control commands (`knotc`, `nsd-control`, `rndc`) with `args`.
    pub fn control(&self, args: &[&str]) -> String {
        let d = self.dir.path().display().to_string();
        let mut argv: Vec<String> = match self.kind {
            Peer::Knot => vec!["knotc".into(), "-s".into(), format!("{d}/knot.sock")],
            Peer::Nsd => vec!["nsd-control".into(), "-c".into(), format!("{d}/nsd.conf")],
            Peer::Bind => vec!["rndc".into(), "-c".into(), format!("{d}/rndc.conf")],
        };
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = command(self.netns.as_deref(), &argv)
            .output()
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Replaces `zone`'s file with `text` and has it load it (a primary), which
    /// makes it NOTIFY its secondaries.
    pub fn edit(&self, zone: &str, text: &str) {
        let path = self.dir.path().join(format!("{zone}.zone"));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write zone");
        std::fs::rename(&tmp, &path).expect("rename zone");
        let out = match self.kind {
            Peer::Knot => self.control(&["zone-reload", zone]),
            Peer::Nsd => self.control(&["reload", zone]),
            Peer::Bind => self.control(&["reload", zone]),
        };
        assert!(
            !out.to_lowercase().contains("error"),
            "{} reload {zone}: {out}",
            self.kind.name()
        );
    }

    /// Makes it check `zone` with its primary now (a secondary).
    pub fn refresh(&self, zone: &str) {
        match self.kind {
            Peer::Knot => self.control(&["zone-refresh", zone]),
            // `force_transfer` would be an AXFR; `transfer` checks the SOA, then IXFR.
            Peer::Nsd => self.control(&["transfer", zone]),
            Peer::Bind => self.control(&["refresh", zone]),
        };
    }

    /// The zone as it holds it, read with its own tools, as canonical record lines
    /// (`named-compilezone -s full`), sorted; empty while NSD or BIND has not written
    /// the zone's file yet.
    ///
    /// `nsd-control write` and `rndc sync` return before the file is written (NSD's
    /// server process writes it when it gets the task; BIND dumps in the
    /// background), and NSD writes a secondary zone's file for the first time only
    /// then: the file read just after the command may not exist yet, which made
    /// `named-compilezone` fail on the first dump after the AXFR. Both write the
    /// file whole under another name and rename it (NSD: `FILE~`; BIND: a temporary
    /// file), so the file, once there, is a complete version: an older one until the
    /// write lands, which the caller compares again.
    pub fn dump(&self, zone: &str) -> Vec<String> {
        let d = self.dir.path();
        let file = match self.kind {
            Peer::Knot => {
                let text = self.control(&["zone-read", zone]);
                // "[zone.] owner ttl TYPE rdata" per line.
                let body: String = text
                    .lines()
                    .filter_map(|l| l.split_once("] ").map(|(_, r)| format!("{r}\n")))
                    .collect();
                let path = d.join(format!("{zone}.read"));
                std::fs::write(&path, body).expect("write dump");
                path
            }
            Peer::Nsd => {
                self.control(&["write", zone]);
                d.join(format!("{zone}.zone"))
            }
            Peer::Bind => {
                self.control(&["sync", zone]);
                d.join(format!("{zone}.db"))
            }
        };
        if !file.exists() {
            return Vec::new();
        }
        canonical(zone, &file)
    }

    /// Stops it (SIGTERM, then SIGKILL).
    pub fn stop(mut self) {
        self.guard.terminate(Duration::from_secs(5));
    }
}

/// dig's output for an AXFR of `zone` (no trailing dot) from `server`, over TCP, run
/// inside `ns`: the records only (`+nocmd +nostats +nocomments`).
pub fn dig_axfr(ns: &Netns, server: SocketAddr, zone: &str) -> String {
    let at = format!("@{}", server.ip());
    let port = server.port().to_string();
    let qname = format!("{zone}.");
    let argv = [
        "dig",
        &at,
        "-p",
        &port,
        "+tcp",
        "+nocmd",
        "+nostats",
        "+nocomments",
        "AXFR",
        &qname,
    ];
    String::from_utf8_lossy(&ns.exec(&argv).stdout).to_string()
}

/// The records of an AXFR as dig prints it (`+nocmd +nostats +nocomments`), canonical
/// as [`canonical`] writes them: one of its two SOAs kept, a TSIG record left out.
pub fn canonical_axfr(zone: &str, dig_output: &str) -> Vec<String> {
    let mut seen_soa = false;
    let body: String = dig_output
        .lines()
        .filter(|l| {
            let rtype = l.split_whitespace().nth(3);
            let soa = rtype == Some("SOA");
            let keep = !(soa && seen_soa) && rtype != Some("TSIG");
            seen_soa |= soa;
            keep
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("axfr.zone");
    std::fs::write(&path, body).expect("write the AXFR");
    canonical(zone, &path)
}

/// The records of the zone file `file` as `named-compilezone -s full` writes them,
/// sorted: one canonical line per record.
pub fn canonical(zone: &str, file: &Path) -> Vec<String> {
    let out = Command::new("named-compilezone")
        .args([
            "-q", "-i", "none", "-k", "ignore", "-n", "ignore", "-s", "full", "-o", "-", zone,
        ])
        .arg(file)
        .output()
        .expect("named-compilezone");
    assert!(
        out.status.success(),
        "named-compilezone {zone} {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

fn command(netns: Option<&Netns>, argv: &[&str]) -> Command {
    match netns {
        Some(ns) => ns.command(argv),
        None => {
            let mut cmd = Command::new(argv[0]);
            cmd.args(&argv[1..]);
            cmd
        }
    }
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}
