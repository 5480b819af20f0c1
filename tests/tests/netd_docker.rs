//! netd beside Debian's docker.io in the router namespace: Docker's FORWARD policy
//! drop and a port Docker publishes too are reported by `netd apply` with the exact
//! fix, and the fix it prints makes netd's forwards and masquerade work.
//!
//! dockerd runs inside the router namespace (`engines::Dockerd::start_in`: entered
//! with nsenter, TESTNET.md), its files in a temporary folder, iptables on (that is
//! what it does on a real host); the container image is Debian's static busybox
//! imported from a folder (no pull).
//! Topology: `netfabric_tests::netd::Lab`.

use netfabric_tests::engines::{Dockerd, Engine, IMAGE};
use netfabric_tests::netd::{CONFIG, Lab, tcp_ask, wait_for};
use netfabric_tests::vrrp::LONG;

#[test]
fn docker_beside_netd_is_reported_with_a_fix_that_works() {
    let lab = Lab::new();
    // dockerd in the router namespace, iptables on, as on a real host.
    let docker = Dockerd::start_in(&lab.router);
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
        IMAGE,
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
