//! Authoritative servers for tests and benchmarks, each serving a set of zone files on
//! a loopback address: dnsd (the binary under test), and the peers it is compared with,
//! NSD and Knot from Debian. Each runs in the foreground under a [`ProcessGuard`], with
//! its configuration and state in its own temporary folder, and is ready once it
//! answers a query for the first zone's SOA.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dns::{Query, normalize, udp_exchange};
use crate::dnsd::Dnsd;
use crate::process::ProcessGuard;

/// A zone to serve: its name (no trailing dot) and its file.
#[derive(Clone, Debug)]
pub struct ZoneFile {
    /// The zone's apex, e.g. "example.com".
    pub name: String,
    /// The master file, absolute.
    pub path: PathBuf,
}

impl ZoneFile {
    /// Every `NAME.zone` in `dir` (Knot's and dnsd's convention), sorted by name.
    pub fn all_in(dir: &Path) -> Vec<ZoneFile> {
        let mut zones: Vec<ZoneFile> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let path = entry.path();
                let name = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".zone")?
                    .to_string();
                path.is_file().then(|| ZoneFile {
                    name,
                    path: std::path::absolute(&path).unwrap_or(path),
                })
            })
            .collect();
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        zones
    }
}

/// Which server a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// netfabric's dnsd.
    Dnsd,
    /// NLnet Labs' NSD.
    Nsd,
    /// CZ.NIC's Knot DNS.
    Knot,
}

impl Kind {
    /// Lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dnsd => "dnsd",
            Kind::Nsd => "nsd",
            Kind::Knot => "knot",
        }
    }
}

/// Tuning of a server start.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker processes (NSD `server-count`) or UDP threads (Knot `udp-workers`, dnsd
    /// `[udp] workers`); None = the server's own default.
    pub workers: Option<usize>,
    /// How long loading may take before the start counts as failed.
    pub ready_timeout: Duration,
    /// Run the server under `taskset -c CPUS`.
    pub cpus: Option<String>,
    /// NSD's `minimal-responses`.
    pub minimal_responses: bool,
    /// Extra TOML for dnsd's configuration file (given with `--config`).
    pub dnsd_config: Option<String>,
    /// Response rate limiting, configured alike in each server (off when None; NSD's
    /// own default of 200 a second is switched off then too).
    pub rate_limit: Option<RateLimit>,
    /// A DNS cookie secret (32 hexadecimal digits) for the servers that take one:
    /// dnsd's `[cookies] secrets`, Knot's `mod-cookies` (NSD 4.6 has no cookies).
    pub cookie_secret: Option<String>,
    /// Zones will be changed while serving: Knot keeps a journal of the changes, as
    /// dnsd always does (`journal-content: changes`), and NSD reads zone files that
    /// changed when it gets SIGHUP (`zonefiles-check: yes`).
    pub changes: bool,
    /// Another dnsd binary than the workspace's (a benchmark comparing two builds).
    pub dnsd_binary: Option<std::path::PathBuf>,
}

/// Response rate limiting settings that mean the same in dnsd, NSD and Knot: one rate
/// for every kind of response, per IPv4 /24 and IPv6 /56, and the slip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Responses a second per bucket.
    pub rate: u32,
    /// Every `slip`th limited response truncated (NSD and Knot: at random, with
    /// probability 1/slip; dnsd: every slip-th).
    pub slip: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: Some(1),
            ready_timeout: Duration::from_secs(30),
            cpus: None,
            minimal_responses: false,
            dnsd_config: None,
            rate_limit: None,
            cookie_secret: None,
            changes: false,
            dnsd_binary: None,
        }
    }
}

/// A running server; dropping it stops the process and removes its folder.
pub struct Server {
    /// What runs.
    pub kind: Kind,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// Time from spawn to the first answer.
    pub load_time: Duration,
    running: Running,
}

/// A peer started here, or dnsd started by its fixture ([`crate::dnsd`]).
enum Running {
    Peer {
        guard: ProcessGuard,
        dir: tempfile::TempDir,
    },
    Dnsd(Box<Dnsd>),
}

impl Server {
    /// Starts `kind` serving `zones` on 127.0.0.1 and a free port, and waits until it
    /// answers the first zone's SOA.
    pub fn start(kind: Kind, zones: &[ZoneFile], opts: &Options) -> Server {
        if kind == Kind::Dnsd {
            let dnsd = start_dnsd(zones, opts);
            return Server {
                kind,
                addr: dnsd.addr,
                load_time: dnsd.load_time,
                running: Running::Dnsd(Box::new(dnsd)),
            };
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let dir = tempfile::Builder::new()
            .prefix(&format!("nf-{}-", kind.name()))
            .tempdir()
            .expect("temporary folder");
        let mut cmd = match kind {
            Kind::Nsd => nsd_command(dir.path(), addr, zones, opts),
            Kind::Knot => knot_command(dir.path(), addr, zones, opts),
            Kind::Dnsd => unreachable!("dnsd starts through its fixture"),
        };
        if let Some(cpus) = &opts.cpus {
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            let cwd = cmd.get_current_dir().map(Path::to_path_buf);
            cmd = Command::new("taskset");
            cmd.arg("-c").arg(cpus).arg(program).args(args);
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
        }
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let started = Instant::now();
        let mut guard = ProcessGuard::spawn(kind.name(), &mut cmd);
        let probe = Query::new(&format!("{}.", zones[0].name), 6);
        loop {
            if let Some(status) = guard.try_wait() {
                panic!(
                    "{} exited ({status}) before answering:\n{}",
                    kind.name(),
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                );
            }
            let answered = udp_exchange(addr, &probe.to_bytes(), Duration::from_millis(100))
                .and_then(|r| normalize(&r).ok())
                .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty());
            if answered {
                break;
            }
            assert!(
                started.elapsed() < opts.ready_timeout,
                "{} did not answer within {:?}:\n{}",
                kind.name(),
                opts.ready_timeout,
                std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server {
            kind,
            addr,
            load_time: started.elapsed(),
            running: Running::Peer { guard, dir },
        }
    }

    /// The main process id (NSD forks workers below it).
    pub fn pid(&self) -> u32 {
        match &self.running {
            Running::Peer { guard, .. } => guard.pid(),
            Running::Dnsd(dnsd) => dnsd.pid(),
        }
    }

    /// The server's folder (configuration, state, log).
    pub fn dir(&self) -> &Path {
        match &self.running {
            Running::Peer { dir, .. } => dir.path(),
            Running::Dnsd(dnsd) => dnsd.dir(),
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        match &self.running {
            Running::Peer { dir, .. } => {
                std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
            }
            Running::Dnsd(dnsd) => dnsd.log(),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Running::Peer { guard, .. } => guard.try_wait().is_none(),
            Running::Dnsd(dnsd) => dnsd.is_running(),
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL).
    pub fn stop(mut self) {
        match &mut self.running {
            Running::Peer { guard, .. } => guard.terminate(Duration::from_secs(5)),
            Running::Dnsd(dnsd) => dnsd.terminate(Duration::from_secs(5)),
        };
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

fn nsd_command(dir: &Path, addr: SocketAddr, zones: &[ZoneFile], opts: &Options) -> Command {
    let d = dir.display();
    let mut conf = format!(
        "server:\n  ip-address: {ip}@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
         zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  \
         logfile: \"{d}/nsd.log\"\n  verbosity: 1\n  hide-version: yes\n  hide-identity: yes\n  \
         refuse-any: no\n  \
         minimal-responses: {minimal}\n  zonefiles-check: {check}\n  tcp-count: 100\n",
        ip = addr.ip(),
        port = addr.port(),
        minimal = if opts.minimal_responses { "yes" } else { "no" },
        check = if opts.changes { "yes" } else { "no" },
    );
    match opts.rate_limit {
        Some(RateLimit { rate, slip }) => conf.push_str(&format!(
            "  rrl-ratelimit: {rate}\n  rrl-whitelist-ratelimit: {rate}\n  rrl-slip: {slip}\n  \
             rrl-ipv4-prefix-length: 24\n  rrl-ipv6-prefix-length: 56\n"
        )),
        None => conf.push_str("  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n"),
    }
    if let Some(n) = opts.workers {
        conf.push_str(&format!("  server-count: {n}\n"));
        if n > 1 {
            conf.push_str("  reuseport: yes\n");
        }
    }
    conf.push_str("remote-control:\n  control-enable: no\n");
    for z in zones {
        conf.push_str(&format!(
            "zone:\n  name: \"{}\"\n  zonefile: \"{}\"\n  provide-xfr: 127.0.0.0/8 NOKEY\n",
            z.name,
            z.path.display()
        ));
    }
    let path = dir.join("nsd.conf");
    std::fs::write(&path, conf).expect("write nsd.conf");
    let mut cmd = Command::new("/usr/sbin/nsd");
    cmd.arg("-d").arg("-c").arg(&path).current_dir(dir);
    cmd
}

fn knot_command(dir: &Path, addr: SocketAddr, zones: &[ZoneFile], opts: &Options) -> Command {
    let d = dir.display();
    let mut conf = format!(
        "server:\n  listen: {ip}@{port}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         background-workers: 1\n  tcp-workers: 1\n",
        ip = addr.ip(),
        port = addr.port(),
    );
    if let Some(n) = opts.workers {
        conf.push_str(&format!("  udp-workers: {n}\n"));
    }
    conf.push_str(&format!(
        "control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: warning\n"
    ));
    // Modules run in the order listed: cookies first, so that RRL sees a good cookie.
    let mut modules = Vec::new();
    if let Some(secret) = &opts.cookie_secret {
        conf.push_str(&format!(
            "mod-cookies:\n  - id: default\n    secret: 0x{secret}\n"
        ));
        modules.push("mod-cookies/default");
    }
    if let Some(RateLimit { rate, slip }) = opts.rate_limit {
        conf.push_str(&format!(
            "mod-rrl:\n  - id: default\n    rate-limit: {rate}\n    slip: {slip}\n"
        ));
        modules.push("mod-rrl/default");
    }
    let journal = if opts.changes {
        std::fs::create_dir_all(dir.join("db")).expect("Knot's database folder");
        "changes"
    } else {
        "none"
    };
    conf.push_str(&format!(
        "template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: {journal}\n    semantic-checks: off\n"
    ));
    if !modules.is_empty() {
        conf.push_str(&format!("    global-module: [{}]\n", modules.join(", ")));
    }
    conf.push_str("zone:\n");
    for z in zones {
        conf.push_str(&format!(
            "  - domain: \"{}\"\n    file: \"{}\"\n",
            z.name,
            z.path.display()
        ));
    }
    let path = dir.join("knot.conf");
    std::fs::write(&path, conf).expect("write knot.conf");
    let mut cmd = Command::new("/usr/sbin/knotd");
    cmd.arg("-c").arg(&path).current_dir(dir);
    cmd
}

/// dnsd through its fixture, serving each file's own serial as the peers do.
fn start_dnsd(zones: &[ZoneFile], opts: &Options) -> Dnsd {
    let mut builder = Dnsd::builder()
        .keep_serials()
        .log_filter("warn")
        .ready_timeout(opts.ready_timeout);
    for z in zones {
        builder = builder.zone_file(z);
    }
    let toml = opts.dnsd_config.clone().unwrap_or_default();
    builder = builder.config(&toml);
    if let Some(n) = opts.workers.filter(|_| !toml.contains("[udp]")) {
        builder = builder.config(&format!("[udp]\nworkers = {n}"));
    }
    if let Some(cpus) = &opts.cpus {
        builder = builder.cpus(cpus);
    }
    if let Some(binary) = &opts.dnsd_binary {
        builder = builder.binary(binary);
    }
    if let Some(RateLimit { rate, slip }) = opts.rate_limit {
        builder = builder.config(&format!(
            "[rrl]\nenabled = true\nresponses-per-second = {rate}\nslip = {slip}"
        ));
    }
    if let Some(secret) = &opts.cookie_secret {
        builder = builder.config(&format!("[cookies]\nsecrets = [\"{secret}\"]"));
    }
    builder.start()
}
