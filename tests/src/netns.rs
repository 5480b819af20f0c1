//! Network namespaces created by a test, deleted by their guard (shared/TESTNET.md:
//! unique names with the test's pid, deleted also when the test fails).

use std::process::{Command, Output};

/// A network namespace that exists as long as the guard does.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `<prefix>-<pid>-<n>` with its loopback up.
    pub fn new(prefix: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Self { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `argv` inside the namespace (through nsenter, which keeps
    /// /sys as it is, unlike `ip netns exec`).
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name))
            .arg("--")
            .args(argv);
        cmd
    }

    /// Runs `f` on a new thread that has entered the namespace (setns affects only
    /// the calling thread), for sockets a test opens itself.
    pub fn spawn_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns(2) on a namespace fd we hold open; it changes this thread only.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// Runs `argv` in the namespace and panics, with its output, unless it succeeds.
    pub fn exec_ok(&self, argv: &[&str]) -> Output {
        run_ok(&mut self.command(argv))
    }

    /// Runs `f` on a thread that has entered the namespace (setns changes only the
    /// calling thread). Sockets opened by `f` stay in the namespace wherever they are
    /// used afterwards, so a test can serve and connect from its own threads.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                // SAFETY: setns(2) on an fd we own; it affects only this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Runs `argv` in the namespace and returns its output, whatever the exit status.
    pub fn exec(&self, argv: &[&str]) -> Output {
        self.command(argv)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Creates a veth pair `a` (in namespace `ns_a`) <-> `b` (in `ns_b`).
pub fn veth(ns_a: &Netns, a: &str, ns_b: &Netns, b: &str) {
    ns_a.exec_ok(&[
        "ip",
        "link",
        "add",
        a,
        "type",
        "veth",
        "peer",
        "name",
        b,
        "netns",
        ns_b.name(),
    ]);
    ns_a.exec_ok(&["ip", "link", "set", a, "up"]);
    ns_b.exec_ok(&["ip", "link", "set", b, "up"]);
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
