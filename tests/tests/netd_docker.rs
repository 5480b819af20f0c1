//! netd beside Debian's docker.io in the router namespace: Docker's FORWARD policy
//! drop and a port Docker publishes too are reported by `netd apply` with the exact
//! fix, and the fix it prints makes netd's forwards and masquerade work.
//!
//! dockerd runs inside the router namespace (entered with nsenter, TESTNET.md), its
//! files in a temporary folder, iptables on (that is what it does on a real host);
//! the container image is Debian's static busybox imported from a folder (no pull).
//! Topology: `netfabric_tests::netd::Lab`.

use std::path::Path;
use std::process::{Command, Output};

use netfabric_tests::netd::{CONFIG, Lab, tcp_ask, wait_for};
use netfabric_tests::netns::Netns;
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::vrrp::LONG;

/// dockerd in a namespace; stopped (containers first) when dropped.
struct Dockerd {
    guard: ProcessGuard,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start(ns: &Netns) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |f: &str| dir.path().join(f).display().to_string();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log");
        let mut cmd = ns.command(&[
            "dockerd",
            "--data-root",
            &p("data"),
            "--exec-root",
            &p("exec"),
            "--pidfile",
            &p("dockerd.pid"),
            "--host",
            &format!("unix://{}", p("docker.sock")),
            "--iptables=true",
            "--ip6tables=false",
            "--bridge=none",
        ]);
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        let d = Self {
            guard: ProcessGuard::spawn("dockerd", &mut cmd),
            dir,
        };
        let up = wait_for(LONG, || d.docker(&["version"]).status.success());
        assert!(up, "dockerd did not start: {}", d.log());
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .output()
            .expect("run the docker CLI")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An image holding only Debian's static busybox.
    fn import_busybox(&self, name: &str) {
        let root = self.dir.path().join("image");
        std::fs::create_dir_all(root.join("bin")).expect("image folder");
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
        let tarball = self.dir.path().join("image.tar");
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .expect("tar");
        assert!(tar.success(), "tar failed");
        self.docker_ok(&["import", tarball.to_str().expect("utf-8 path"), name]);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        self.guard.terminate(LONG);
        // Unmount whatever the daemon left in its folder before the folder goes.
        for dir in ["exec", "data"] {
            let _ = Command::new("umount")
                .args(["-R", "-l"])
                .arg(Path::new(self.dir.path()).join(dir))
                .status();
        }
    }
}

#[test]
fn docker_beside_netd_is_reported_with_a_fix_that_works() {
    let lab = Lab::new();
    let docker = Dockerd::start(&lab.router);
    docker.import_busybox("netd-test-busybox");
    docker.docker_ok(&["network", "create", "--subnet", "198.18.0.0/24", "svcnet"]);
    docker.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "svcnet",
        "-p",
        "8080:80",
        "netd-test-busybox",
        "/bin/busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    // netd's forwards, and one more on the port Docker publishes.
    lab.write_config(&format!(
        "{CONFIG}\n[[forward]]\nname = \"clash\"\nport = 8080\nto = \"198.51.100.10\"\n"
    ));
    let out = lab.netd("apply");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: Docker's chain FORWARD in table ip filter drops forwarded traffic"),
        "{err}"
    );
    assert!(
        err.contains("warning: Docker publishes tcp port 8080 too (table ip nat, chain DOCKER)"),
        "{err}"
    );
    // The warning is right: Docker's FORWARD drops what netd translates.
    assert!(tcp_ask(&lab.inet, None, "203.0.113.1:80", "before").is_err());

    // The fix netd printed, as printed, in the router namespace.
    let fixes: Vec<&str> = err
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fix: iptables "))
        .collect();
    assert_eq!(fixes.len(), 3, "{err}");
    for f in &fixes {
        let mut argv = vec!["iptables"];
        argv.extend(f.split_whitespace());
        lab.router.exec_ok(&argv);
    }
    let works = wait_for(LONG, || {
        tcp_ask(&lab.inet, None, "203.0.113.1:80", "after").is_ok()
    });
    assert!(
        works,
        "forward still dropped after the fix:\n{}",
        lab.ruleset()
    );
    let out = tcp_ask(&lab.svc1, None, "203.0.113.2:9999", "out").unwrap();
    assert_eq!(out, "inet 203.0.113.1 out");

    // And netd says no more about the FORWARD chain (the shared port remains).
    let out = lab.netd("apply");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("chain FORWARD"), "{err}");
    assert!(err.contains("Docker publishes tcp port 8080 too"), "{err}");
}
