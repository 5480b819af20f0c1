//! The fixture's [`Builder`]: what a test asks of the dnsd it starts, the folder,
//! configuration and command line made of it, and the start that waits for answers.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Dnsd, PATIENCE, Relaunch, exchange_in, reachable};
use crate::dns::{Query, normalize};
use crate::netns::Netns;
use crate::process::ProcessGuard;
use crate::servers::ZoneFile;

//------------ Builder -------------------------------------------------------

/// How to start a dnsd: zones, configuration, addresses, where it runs.
#[derive(Default)]
pub struct Builder {
    zones: Vec<(String, Vec<u8>)>,
    config: String,
    listen: Vec<SocketAddr>,
    metrics: bool,
    keep_serials: bool,
    netns: bool,
    shared_netns: Option<Arc<Netns>>,
    as_is: Option<AsIs>,
    cpus: Option<String>,
    log_filter: Option<String>,
    ready_timeout: Option<Duration>,
    probe: Option<String>,
    recursive_probe: bool,
    open_files: Option<(u64, u64)>,
    user: Option<User>,
    notify_socket: bool,
    zones_link: bool,
    pub(super) state_tmpfs: Option<u64>,
    binary: Option<PathBuf>,
}

/// A dnsd run as a user runs it ([`Builder::as_is`]): its arguments, its working
/// folder, and the address its configuration makes it answer on.
struct AsIs {
    cwd: PathBuf,
    args: Vec<String>,
    addr: SocketAddr,
}

/// Who dnsd runs as ([`Builder::user`]).
struct User {
    uid: u32,
    gid: u32,
    setpriv: Vec<String>,
}

impl Builder {
    /// Serves `text` as the zone `name` (no trailing dot), in `zones/NAME.zone`.
    pub fn zone(mut self, name: &str, text: &str) -> Self {
        self.zones
            .push((name.to_string(), text.as_bytes().to_vec()));
        self
    }

    /// Serves a copy of `file` (a copy, so that the zone's folder is dnsd's own).
    pub fn zone_file(mut self, file: &ZoneFile) -> Self {
        let text = std::fs::read(&file.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.path.display()));
        self.zones.push((file.name.clone(), text));
        self
    }

    /// Appends `toml` to the configuration file (which never sets `listen` or
    /// `zones-dir`: the fixture passes them on the command line).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    /// Listens on `addr` (repeatable). Without it, dnsd listens on a loopback address
    /// and port the fixture picks.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Serves metrics on a loopback port the fixture picks ([`Dnsd::scrape`]).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Serves each zone's own serial (`serial = "keep"`), as NSD and Knot do.
    pub fn keep_serials(mut self) -> Self {
        self.keep_serials = true;
        self
    }

    /// Runs dnsd in a network namespace of its own, created for it and deleted with
    /// it; [`Dnsd::ask`] and [`Dnsd::run_in`] reach it from inside.
    pub fn private_netns(mut self) -> Self {
        self.netns = true;
        self
    }

    /// Waits for an answer to `zone`'s SOA before calling dnsd started (the first zone
    /// given with [`Builder::zone`] otherwise): a secondary zone, say.
    pub fn probe(mut self, zone: &str) -> Self {
        self.probe = Some(zone.to_string());
        self
    }

    /// Runs dnsd in `netns`, a namespace the test made (and deletes when its last
    /// holder goes), on the addresses given with [`Builder::listen`].
    pub fn in_netns(mut self, netns: Arc<Netns>) -> Self {
        self.shared_netns = Some(netns);
        self
    }

    /// Runs `dnsd ARGS` from `cwd`, exactly as a user types it (an
    /// `examples/*.toml` from the repository's root, say): the fixture writes no
    /// configuration and passes no argument of its own, so zones, config, listen
    /// addresses and metrics given to the builder are ignored. `addr` is where the
    /// configuration makes dnsd answer; `start` waits until the SOA of `probe` is
    /// answered there. It runs in a network namespace the fixture creates (or the one
    /// given with [`Builder::in_netns`]), so that the fixed port of an example can
    /// never meet another program's: a port taken on this machine cannot turn the test
    /// into a pass, a skip or a failure. State the configuration puts beside `cwd` is
    /// the test's to clear.
    pub fn as_is(mut self, cwd: &Path, args: &[&str], addr: SocketAddr, probe: &str) -> Self {
        self.as_is = Some(AsIs {
            cwd: cwd.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            addr,
        });
        self.probe = Some(probe.to_string());
        self
    }

    /// Sends the readiness probe with recursion desired: a resolver listener answers
    /// the probe's SOA by resolving it.
    pub fn recursive_probe(mut self) -> Self {
        self.recursive_probe = true;
        self
    }

    /// Runs `dnsd` with no argument at all from `cwd`, as a newcomer does: the zones,
    /// configuration and addresses are the defaults (127.0.0.1:5353), in a namespace of
    /// its own ([`Builder::as_is`]); `probe` names the zone whose SOA tells that dnsd
    /// is ready.
    pub fn no_arguments(self, cwd: &Path, probe: &str) -> Self {
        self.as_is(cwd, &[], SocketAddr::from(([127, 0, 0, 1], 5353)), probe)
    }

    /// Runs the dnsd binary at `path` instead of the workspace's (a benchmark
    /// comparing two builds in one run).
    pub fn binary(mut self, path: &Path) -> Self {
        self.binary = Some(path.to_path_buf());
        self
    }

    fn dnsd_path(&self) -> PathBuf {
        self.binary
            .clone()
            .unwrap_or_else(|| crate::bins::path("dnsd"))
    }

    /// Runs dnsd under `taskset -c CPUS`.
    pub fn cpus(mut self, cpus: &str) -> Self {
        self.cpus = Some(cpus.to_string());
        self
    }

    /// dnsd's log filter (`RUST_LOG`); "info" by default.
    pub fn log_filter(mut self, filter: &str) -> Self {
        self.log_filter = Some(filter.to_string());
        self
    }

    /// How long loading may take before the start fails ([`PATIENCE`] by default).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = Some(timeout);
        self
    }

    /// Starts dnsd with the open-files limit (RLIMIT_NOFILE) `soft`:`hard`, as a shell
    /// with `ulimit -n` or `prlimit --nofile` would (set between fork and exec).
    pub fn open_files(mut self, soft: u64, hard: u64) -> Self {
        self.open_files = Some((soft, hard));
        self
    }

    /// Runs dnsd as `uid`:`gid` with no supplementary group, through `setpriv
    /// --reuid --regid --clear-groups SETPRIV... --` (capabilities, no_new_privs).
    /// Its folder is made readable to that user, and its state goes to `state/`,
    /// owned by it (as a systemd `StateDirectory=`).
    pub fn user(mut self, uid: u32, gid: u32, setpriv: &[&str]) -> Self {
        self.user = Some(User {
            uid,
            gid,
            setpriv: setpriv.iter().map(|a| a.to_string()).collect(),
        });
        self
    }

    /// Gives dnsd a `NOTIFY_SOCKET` (a unix datagram socket in its folder, as systemd
    /// does for `Type=notify`); `start` waits for `READY=1` on it, then sends one
    /// query, which must be answered at once. [`Dnsd::notification`] reads more.
    pub fn notify_socket(mut self) -> Self {
        self.notify_socket = true;
        self
    }

    /// Makes `zones` a symbolic link to `releases/1`, which holds the zone files (a
    /// symlink-swap deploy).
    pub fn zones_link(mut self) -> Self {
        self.zones_link = true;
        self
    }

    /// Runs dnsd in a private mount namespace with a tmpfs of `kib` KiB as its state
    /// folder (`.dnsd-state`), so that a test can fill it ([`Dnsd::state_dir`]).
    pub fn state_tmpfs(mut self, kib: u64) -> Self {
        self.state_tmpfs = Some(kib);
        self
    }

    /// dnsd's folder (zones, and what [`Builder::user`] needs) and its namespace.
    fn prepare(&self) -> (tempfile::TempDir, Option<Arc<Netns>>) {
        let dir = tempfile::Builder::new()
            .prefix("nf-dnsd-")
            .tempdir()
            .expect("temporary folder");
        let netns = match &self.shared_netns {
            Some(ns) => Some(ns.clone()),
            None => (self.netns || self.as_is.is_some()).then(|| Arc::new(Netns::new("nf-dnsd"))),
        };
        let zones = if self.zones_link {
            let release = dir.path().join("releases/1");
            std::fs::create_dir_all(&release).expect("release folder");
            std::os::unix::fs::symlink("releases/1", dir.path().join("zones")).expect("zones link");
            release
        } else {
            dir.path().join("zones")
        };
        std::fs::create_dir_all(&zones).expect("zones folder");
        for (name, text) in &self.zones {
            std::fs::write(zones.join(format!("{name}.zone")), text).expect("write zone file");
        }
        if let Some(user) = &self.user {
            // Readable to the user (as /etc/dnsd is); writable only where the state is.
            // The binary is copied beside them (as to /usr/local/sbin): the
            // workspace's target folder may lie where the user cannot reach.
            std::fs::copy(self.dnsd_path(), dir.path().join("dnsd")).expect("copy dnsd");
            for path in [dir.path(), zones.as_path()] {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .expect("make the folder readable");
            }
            let state = dir.path().join("state");
            std::fs::create_dir(&state).expect("state folder");
            std::os::unix::fs::chown(&state, Some(user.uid), Some(user.gid))
                .expect("chown the state folder");
            std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o750))
                .expect("state folder mode");
        }
        (dir, netns)
    }

    /// Starts dnsd as configured and waits up to [`PATIENCE`] for it to exit, as a
    /// start that must fail does (a second dnsd on a state folder in use, say): its
    /// exit status (None when it still ran after that: it is then killed) and what it
    /// logged.
    pub fn run_to_exit(self) -> (Option<std::process::ExitStatus>, String) {
        let (dir, netns) = self.prepare();
        let listen = match (&self.as_is, self.listen.is_empty()) {
            (Some(as_is), _) => vec![as_is.addr],
            (None, false) => self.listen.clone(),
            (None, true) => vec![random_loopback(0)],
        };
        let mut cmd = self.command(dir.path(), &listen, None, netns.as_deref());
        let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
        let status = if crate::process::wait_until(PATIENCE, || guard.try_wait().is_some()) {
            guard.try_wait()
        } else {
            guard.kill();
            None
        };
        let log = std::fs::read_to_string(dir.path().join("dnsd.log")).unwrap_or_default();
        (status, log)
    }

    /// Starts dnsd and waits until it answers.
    pub fn start(self) -> Dnsd {
        let (dir, netns) = self.prepare();
        let notify = self.notify_socket.then(|| {
            let path = dir.path().join("notify");
            let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
            // systemd's socket is writable to every service's user.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                .expect("notify socket mode");
            (path, socket)
        });
        let mut names: Vec<&str> = self.zones.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        let probe = match (&self.probe, names.first()) {
            (Some(probe), _) => probe.clone(),
            (None, Some(first)) => first.to_string(),
            (None, None) => panic!("the builder names no zone to serve"),
        };
        let mut probe = Query::new(&format!("{}.", probe.trim_end_matches('.')), 6);
        probe.rd = self.recursive_probe;
        let probe = probe.to_bytes();
        // Addresses the fixture picks are picked again when another program holds
        // them; in a namespace of its own nothing else does.
        let repick = self.listen.is_empty() && self.as_is.is_none() && netns.is_none();
        for attempt in 0..20 {
            let listen = match (&self.as_is, self.listen.is_empty(), &netns) {
                (Some(as_is), _, _) => vec![as_is.addr],
                (None, true, None) => vec![random_loopback(attempt)],
                (None, true, Some(_)) => vec![SocketAddr::from(([127, 0, 0, 1], 53))],
                (None, false, _) => self.listen.clone(),
            };
            let metrics = (self.metrics && self.as_is.is_none())
                .then(|| SocketAddr::from(([127, 0, 0, 1], random_loopback(attempt).port() + 1)));
            let mut cmd = self.command(dir.path(), &listen, metrics, netns.as_deref());
            if let Some((path, _)) = &notify {
                cmd.env("NOTIFY_SOCKET", path);
            }
            let started = Instant::now();
            let mut guard = ProcessGuard::spawn("dnsd", &mut cmd);
            let relaunch = self.as_is.is_none().then(|| Relaunch {
                listen: listen.clone(),
                metrics,
                probe: probe.clone(),
                builder: self.relaunch_parts(),
            });
            let timeout = self.ready_timeout.unwrap_or(PATIENCE);
            let log = || std::fs::read_to_string(dir.path().join("dnsd.log")).unwrap_or_default();
            if let Some((_, socket)) = &notify {
                let Some(ready) = wait_ready(socket, &mut guard, started + timeout, log) else {
                    let log = log();
                    assert!(
                        repick && log.contains("cannot listen on 127."),
                        "dnsd exited before READY=1:\n{log}"
                    );
                    eprintln!("dnsd: {} or {metrics:?} taken, picking others", listen[0]);
                    continue;
                };
                // READY=1 promises answers: one query, no second chance.
                let response =
                    exchange_in(netns.as_deref(), reachable(listen[0]), &probe, PATIENCE)
                        .and_then(|r| normalize(&r).ok());
                assert!(
                    response
                        .as_ref()
                        .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
                    "the query sent after {ready:?} got {response:?}:\n{}",
                    log()
                );
                return Dnsd {
                    addr: reachable(listen[0]),
                    metrics,
                    load_time: started.elapsed(),
                    guard,
                    notify: notify.map(|(_, socket)| socket),
                    dir,
                    netns,
                    relaunch,
                };
            }
            let ready = loop {
                if let Some(status) = guard.try_wait() {
                    let log = log();
                    assert!(
                        repick && log.contains("cannot listen on 127."),
                        "dnsd exited ({status}) before answering:\n{log}"
                    );
                    break false;
                }
                let answered = exchange_in(
                    netns.as_deref(),
                    reachable(listen[0]),
                    &probe,
                    Duration::from_millis(200),
                )
                .and_then(|r| normalize(&r).ok())
                .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty());
                if answered {
                    break true;
                }
                assert!(
                    started.elapsed() < timeout,
                    "dnsd did not answer on {} within {timeout:?}:\n{}",
                    listen[0],
                    log()
                );
                std::thread::sleep(Duration::from_millis(10));
            };
            if ready {
                return Dnsd {
                    addr: reachable(listen[0]),
                    metrics,
                    load_time: started.elapsed(),
                    guard,
                    notify: None,
                    dir,
                    netns,
                    relaunch,
                };
            }
            // Another program holds the address or the metrics port: pick again.
            eprintln!("dnsd: {} or {metrics:?} taken, picking others", listen[0]);
        }
        panic!("no free loopback address and port after 20 attempts");
    }

    /// What a restart needs of the builder (its configuration, not its zones).
    fn relaunch_parts(&self) -> Builder {
        Builder {
            config: self.config.clone(),
            keep_serials: self.keep_serials,
            zones: self
                .zones
                .iter()
                .map(|(n, _)| (n.clone(), Vec::new()))
                .collect(),
            cpus: self.cpus.clone(),
            log_filter: self.log_filter.clone(),
            state_tmpfs: self.state_tmpfs,
            ..Builder::default()
        }
    }

    /// The command that runs dnsd in `dir` (configuration file written there).
    pub(super) fn command(
        &self,
        dir: &Path,
        listen: &[SocketAddr],
        metrics: Option<SocketAddr>,
        netns: Option<&Netns>,
    ) -> Command {
        let mut argv: Vec<String> = Vec::new();
        if let Some(kib) = self.state_tmpfs {
            // A tmpfs only this dnsd sees (gone with it): `sh` mounts it, then runs dnsd.
            let state = dir.join(".dnsd-state");
            std::fs::create_dir_all(&state).expect("state mount point");
            argv.extend([
                "unshare".to_string(),
                "--mount".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                format!(
                    "mount -t tmpfs -o size={kib}k nf-dnsd-state '{}' && exec \"$0\" \"$@\"",
                    state.display()
                ),
            ]);
        }
        if let Some(cpus) = &self.cpus {
            argv.extend(["taskset".to_string(), "-c".into(), cpus.clone()]);
        }
        if let Some(user) = &self.user {
            argv.extend([
                "setpriv".to_string(),
                format!("--reuid={}", user.uid),
                format!("--regid={}", user.gid),
                "--clear-groups".into(),
            ]);
            argv.extend(user.setpriv.iter().cloned());
            argv.push("--".into());
            argv.push(dir.join("dnsd").display().to_string());
        } else {
            argv.push(self.dnsd_path().display().to_string());
        }
        if let Some(as_is) = &self.as_is {
            argv.extend(as_is.args.iter().cloned());
        } else {
            // Top-level keys first: the builder's TOML may open tables.
            let mut file = String::new();
            if let Some(metrics) = metrics {
                file.push_str(&format!("metrics = \"{metrics}\"\n"));
            }
            if self.user.is_some() {
                file.push_str("state-dir = \"state\"\n");
            }
            file.push_str(&self.config);
            if self.keep_serials {
                for (name, _) in &self.zones {
                    file.push_str(&format!("\n[zone.\"{name}\"]\nserial = \"keep\"\n"));
                }
            }
            let path = dir.join("dnsd.toml");
            std::fs::write(&path, file).expect("write dnsd.toml");
            argv.extend(["--config".to_string(), path.display().to_string()]);
            for addr in listen {
                argv.extend(["--listen".to_string(), addr.to_string()]);
            }
            argv.extend([
                "--zones".to_string(),
                dir.join("zones").display().to_string(),
            ]);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = match netns {
            Some(ns) => ns.command(&argv),
            None => {
                let mut cmd = Command::new(argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dnsd.log"))
            .expect("log file");
        cmd.current_dir(self.as_is.as_ref().map_or(dir, |a| a.cwd.as_path()))
            .env("RUST_LOG", self.log_filter.as_deref().unwrap_or("info"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        if let Some((soft, hard)) = self.open_files {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit(2) is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        cmd
    }
}

/// Waits until `socket` receives a notification with the line `READY=1`, and returns
/// the notifications received; None when dnsd exits first. Panics at `deadline`,
/// with what `log` returns.
fn wait_ready(
    socket: &UnixDatagram,
    guard: &mut ProcessGuard,
    deadline: Instant,
    log: impl Fn() -> String,
) -> Option<Vec<String>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("notify socket timeout");
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let ready = text.lines().any(|l| l == "READY=1");
            received.push(text);
            if ready {
                return Some(received);
            }
            continue;
        }
        if guard.try_wait().is_some() {
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "no READY=1 on NOTIFY_SOCKET (received {received:?}):\n{}",
            log()
        );
    }
}

/// 127.0.0.x:port, both picked from the clock, the pid and `attempt`.
fn random_loopback(attempt: u32) -> SocketAddr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = nanos ^ std::process::id().rotate_left(16) ^ attempt.wrapping_mul(0x9e37_79b9);
    let host = 2 + (seed % 250) as u8;
    let port = 20_000 + ((seed >> 8) % 40_000) as u16;
    SocketAddr::from(([127, 0, 0, host], port))
}
