//! Container engines for tests (shared/TESTNET.md): Debian's podman (`Podman`, its
//! Docker-compatible service) and Debian's dockerd inside a network
//! namespace of its own (entered with nsenter, which keeps the cgroup mounts), its
//! data, exec root and socket in a temporary folder, no iptables, no default bridge;
//! images built locally from Debian's static busybox (nothing is pulled). Stopped,
//! containers first, when dropped.
//!
//! containerd runs as a process of its own (not dockerd's child) and dockerd with
//! `--live-restore`, so that dockerd can stop and start again while the containers
//! run on, as an engine restart on a real host does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::process::ProcessGuard;

/// Patience for an engine to start or stop.
pub const ENGINE_PATIENCE: Duration = Duration::from_secs(60);

/// The image every test container runs: busybox alone.
pub const IMAGE: &str = "nf-test-busybox";

/// What both engines are driven by: Debian's docker CLI on their Engine API socket.
pub trait Engine {
    /// The Engine API socket.
    fn socket(&self) -> PathBuf;

    /// The engine's log.
    fn log(&self) -> String;

    /// Runs the docker CLI (Debian's, /usr/bin/docker) against this engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .output()
            .expect("run the docker CLI")
    }

    /// Runs the docker CLI and returns its trimmed output; panics, with the CLI's
    /// error and the engine's log, on failure.
    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} ({}): {}\n{}",
            self.socket().display(),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts a container of [`IMAGE`] sleeping, with `args` before the image.
    fn run_container(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d", "--stop-timeout", "1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[IMAGE, "/bin/busybox", "sleep", "3600"]);
        self.docker_ok(&all)
    }

    /// A container's address on `network`.
    fn address(&self, container: &str, network: &str) -> String {
        self.docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            container,
        ])
    }
}

/// Waits until `engine` answers `docker version`; panics, with its log, after
/// [`ENGINE_PATIENCE`].
fn wait_up(engine: &impl Engine, name: &str) {
    let end = Instant::now() + ENGINE_PATIENCE;
    while !engine.docker(&["version"]).status.success() {
        assert!(
            Instant::now() < end,
            "{name} did not start: {}",
            engine.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes every container of `engine` (on drop, before the engine stops).
fn remove_containers(engine: &impl Engine) {
    let ids = engine.docker(&["ps", "-aq"]);
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        let _ = engine.docker(&args);
    }
}

/// Unmounts what an engine left mounted below `dir`'s `subdirs`, before the folder goes.
fn unmount(dir: &Path, subdirs: &[&str]) {
    for sub in subdirs {
        let _ = Command::new("umount")
            .args(["-R", "-l"])
            .arg(dir.join(sub))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The namespace an engine runs in: its own, or one the test made.
enum Ns<'a> {
    Own(Netns),
    In(&'a Netns),
}

impl Ns<'_> {
    fn get(&self) -> &Netns {
        match self {
            Ns::Own(ns) => ns,
            Ns::In(ns) => ns,
        }
    }
}

/// dockerd in a namespace.
pub struct Dockerd<'a> {
    guard: Option<ProcessGuard>,
    containerd: Option<ProcessGuard>,
    dir: tempfile::TempDir,
    ns: Ns<'a>,
    iptables: bool,
}

impl Dockerd<'static> {
    /// Starts dockerd in a new namespace (no iptables, no bridge) and imports the
    /// busybox image.
    pub fn start() -> Self {
        Dockerd::launch(Ns::Own(Netns::new("nf-docker")), false)
    }
}

impl<'a> Dockerd<'a> {
    /// Starts dockerd in `ns`, a namespace the test made, with its iptables rules on
    /// (as on a real host: its FORWARD policy drop, its DOCKER chains), and imports
    /// the busybox image.
    pub fn start_in(ns: &'a Netns) -> Self {
        Dockerd::launch(Ns::In(ns), true)
    }

    fn launch(ns: Ns<'a>, iptables: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nf-dockerd-")
            .tempdir()
            .expect("temp dir");
        let mut d = Self {
            guard: None,
            containerd: None,
            dir,
            ns,
            iptables,
        };
        d.start_containerd();
        d.run();
        import_busybox(d.dir.path(), |args| d.docker_ok(args));
        d
    }

    fn start_containerd(&mut self) {
        let p = |f: &str| self.dir.path().join(f).display().to_string();
        let log = std::fs::File::create(self.dir.path().join("containerd.log")).expect("log");
        std::fs::write(self.dir.path().join("containerd.toml"), "version = 2\n").expect("config");
        let mut cmd = self.ns.get().command(&[
            "/usr/bin/containerd",
            "--config",
            &p("containerd.toml"),
            "--address",
            &p("containerd.sock"),
            "--root",
            &p("containerd-root"),
            "--state",
            &p("containerd-state"),
        ]);
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        self.containerd = Some(ProcessGuard::spawn("containerd", &mut cmd));
        let end = Instant::now() + ENGINE_PATIENCE;
        while !self.dir.path().join("containerd.sock").exists() {
            assert!(Instant::now() < end, "containerd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (Re)starts the daemon on the same folders.
    pub fn run(&mut self) {
        let p = |f: &str| self.dir.path().join(f).display().to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dockerd.log"))
            .expect("log");
        let iptables = format!("--iptables={}", self.iptables);
        let mut cmd = self.ns.get().command(&[
            "/usr/sbin/dockerd",
            "--data-root",
            &p("data"),
            "--exec-root",
            &p("exec"),
            "--pidfile",
            &p("dockerd.pid"),
            "--host",
            &format!("unix://{}", p("docker.sock")),
            "--containerd",
            &p("containerd.sock"),
            "--live-restore",
            &iptables,
            "--ip6tables=false",
            "--bridge=none",
        ]);
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        self.guard = Some(ProcessGuard::spawn("dockerd", &mut cmd));
        wait_up(self, "dockerd");
    }

    /// Stops the daemon (SIGTERM), leaving its folders; containers run on (live restore).
    pub fn stop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            guard.terminate(ENGINE_PATIENCE);
        }
    }
}

impl Engine for Dockerd<'_> {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd<'_> {
    fn drop(&mut self) {
        if self.guard.is_some() {
            remove_containers(self);
        }
        self.stop();
        if let Some(mut containerd) = self.containerd.take() {
            containerd.terminate(ENGINE_PATIENCE);
        }
        unmount(
            self.dir.path(),
            &["exec", "data", "containerd-state", "containerd-root"],
        );
    }
}

/// dnsd's configuration that follows container engines: its state folder, then the
/// `[containers]` table with `extra` keys in it, an `[[containers.engine]]` per
/// (name, socket) of `engines`, a `[[containers.network]]` per (key, value, zone) of
/// `networks` (key `name` or `subnet`).
pub fn containers_config(
    state: &Path,
    extra: &str,
    engines: &[(&str, &Path)],
    networks: &[(&str, &str, &str)],
) -> String {
    let mut config = format!(
        "state-dir = \"{}\"\n[containers]\n{extra}\n",
        state.display()
    );
    for (name, socket) in engines {
        config.push_str(&format!(
            "[[containers.engine]]\nname = \"{name}\"\nsocket = \"{}\"\n",
            socket.display()
        ));
    }
    for (key, value, zone) in networks {
        config.push_str(&format!(
            "[[containers.network]]\n{key} = \"{value}\"\nzone = \"{zone}\"\n"
        ));
    }
    config
}

/// Waits until `dnsd` has connected to engine `name` and listed it.
pub fn wait_engine_up(dnsd: &mut crate::dnsd::Dnsd, name: &str) {
    let metric = format!("dnsd_containers_engine_up{{engine=\"{name}\"}}");
    dnsd.wait_for(&format!("{name} engine up"), |d| {
        d.metric(&metric) == Some(1)
    });
}

/// Polls `check` until it holds; panics with `what` after `limit`.
pub fn wait(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    assert!(
        crate::process::wait_until(limit, check),
        "{what}: not within {limit:?}"
    );
}

/// Podman's Docker-compatible service (`podman system service`, Debian's podman 4.3)
/// in a network namespace of its own: root, run root, CNI configuration and events log
/// in a temporary folder, the vfs storage driver, cgroupfs; the images come from
/// Debian's busybox as for [`Dockerd`]. Driven with the docker CLI, as the service
/// speaks the Docker Engine API. Podman 4.3 needs `default_ulimits` for nofile and
/// nproc, or every container fails its rlimit setup.
pub struct Podman {
    guard: Option<ProcessGuard>,
    dir: tempfile::TempDir,
    _ns: Netns,
}

impl Podman {
    /// Starts the service in a new namespace and imports the busybox image.
    pub fn start() -> Self {
        Podman::launch("cni")
    }

    /// As [`Podman::start`], with netavark as the network backend (Debian's netavark
    /// and aardvark-dns packages, which podman 4.3 does not pull in: without them it
    /// uses CNI, and its networks have no DNS): a network made with `docker network
    /// create` then has aardvark-dns answering its containers' names on its gateway.
    pub fn start_netavark() -> Self {
        Podman::launch("netavark")
    }

    fn launch(backend: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nf-podman-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("cni")).expect("cni folder");
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                 [network]\nnetwork_backend = \"{backend}\"\nnetwork_config_dir = \"{d}/cni\"\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{d}/events.log\"\nruntime = \"runc\"\ntmp_dir = \"{d}/tmp\"\n"
            ),
        )
        .expect("containers.conf");
        let ns = Netns::new("nf-podman");
        let log = std::fs::File::create(dir.path().join("podman.log")).expect("log");
        let root = format!("{d}/root");
        let runroot = format!("{d}/runroot");
        let socket = format!("unix://{d}/podman.sock");
        let mut cmd = ns.command(&[
            "/usr/bin/podman",
            "--root",
            &root,
            "--runroot",
            &runroot,
            "--storage-driver",
            "vfs",
            "system",
            "service",
            "--time=0",
            &socket,
        ]);
        cmd.env("CONTAINERS_CONF", dir.path().join("containers.conf"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let guard = ProcessGuard::spawn("podman", &mut cmd);
        let podman = Self {
            guard: Some(guard),
            dir,
            _ns: ns,
        };
        wait_up(&podman, "podman");
        import_busybox(podman.dir.path(), |args| podman.docker_ok(args));
        podman
    }
}

impl Engine for Podman {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("podman.log")).unwrap_or_default()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        remove_containers(self);
        if let Some(mut guard) = self.guard.take() {
            guard.terminate(ENGINE_PATIENCE);
        }
        unmount(self.dir.path(), &["runroot", "root"]);
    }
}

/// Builds the busybox image in `dir` and imports it as [`IMAGE`] with `docker`.
fn import_busybox(dir: &Path, docker: impl Fn(&[&str]) -> String) {
    let root = dir.join("image");
    std::fs::create_dir_all(root.join("bin")).expect("image folder");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    let tarball = dir.join("image.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(tar.success(), "tar failed");
    docker(&["import", &tarball.display().to_string(), IMAGE]);
}
