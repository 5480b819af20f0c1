//! netd's ownership record under failure and concurrency, in namespaces: a later
//! step of an apply that fails, `netd apply` killed (-9) at random points, two
//! `netd apply` at once. Each time `netd down` must remove the bridge netd created
//! (and its table, and restore the sysctl): netd never forgets what it made.
//! Topology: `netfabric_tests::netd::Lab`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use netfabric_tests::netd::{CONFIG, Lab};
use netfabric_tests::process::ProcessGuard;

/// Asserts that nothing of netd's is left on the router.
fn assert_nothing_left(lab: &Lab, context: &str) {
    let links = lab.links();
    assert!(
        !links.contains("br-svc"),
        "{context}: bridge left:\n{links}"
    );
    let ruleset = lab.ruleset();
    assert!(
        !ruleset.contains("table inet netd"),
        "{context}: table left"
    );
    let out = lab.router.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{context}: ip_forward"
    );
}

/// `netd down`, which must succeed, then nothing of netd's is left.
fn down_removes_everything(lab: &Lab, context: &str) {
    let out = lab.netd("down");
    assert!(
        out.status.success(),
        "{context}: down failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left(lab, context);
}

#[test]
fn a_later_step_that_fails_does_not_make_netd_forget_its_bridge() {
    let lab = Lab::new();
    // New links get no IPv6: the bridge is created, then its IPv6 address fails.
    lab.router
        .exec_ok(&["sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
    lab.write_config(&CONFIG.replace(
        "addresses = [\"198.51.100.1/24\"]",
        "addresses = [\"198.51.100.1/24\", \"2001:db8:1::1/64\"]",
    ));
    let out = lab.netd("apply");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("add address 2001:db8:1::1/64 on br-svc"),
        "{err}"
    );
    assert!(lab.links().contains("br-svc"));
    lab.router
        .exec_ok(&["sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=0"]);
    down_removes_everything(&lab, "after a failed apply");
}

/// A small deterministic generator: the delays are reproducible from the seed the
/// test prints.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn apply_killed_at_random_points_is_undone_by_down() {
    let lab = Lab::new();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("seed {seed}");
    let mut rng = Lcg(seed);
    // How long a whole apply takes here, to spread the kills over it.
    let t = Instant::now();
    lab.netd_ok("apply");
    let whole = t.elapsed().as_micros() as u64;
    down_removes_everything(&lab, "first apply");
    for trial in 0..15 {
        let argv = lab.netd_argv("apply");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = lab.router.command(&argv);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut apply = ProcessGuard::spawn("netd apply", &mut cmd);
        let delay = Duration::from_micros(rng.below(whole.max(1)));
        std::thread::sleep(delay);
        apply.kill();
        let context = format!("trial {trial} (seed {seed}), killed after {delay:?}");
        // The next run recovers: every other time an apply first, then down.
        if trial % 2 == 1 {
            let out = lab.netd("apply");
            assert!(
                out.status.success(),
                "{context}: apply after the kill: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        down_removes_everything(&lab, &context);
    }
}

#[test]
fn two_applies_at_once_take_turns() {
    let lab = Lab::new();
    for round in 0..8 {
        let start = || {
            let argv = lab.netd_argv("apply");
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut cmd = lab.router.command(&argv);
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            cmd.spawn().expect("start netd apply")
        };
        let (a, b) = (start(), start());
        for child in [a, b] {
            let out = child.wait_with_output().expect("netd apply ends");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let record = std::fs::read_to_string(lab.state().join("owned.json")).unwrap_or_default();
        assert!(
            record.contains("\"created\": true"),
            "round {round}: {record}"
        );
        down_removes_everything(&lab, &format!("round {round}"));
    }
    // No temporary file of either writer is left in the state folder.
    let names: Vec<String> = std::fs::read_dir(lab.state())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}
