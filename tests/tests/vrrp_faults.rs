//! VRRP faults and operations between two netd daemons in namespaces (0.1 s adverts):
//! a cable pulled on the backup and on the master (Fault: nothing held, nothing
//! sent), cleanup after kill -9 (`netd down`, `netd status`), a `[[vrrp]]` block
//! changed on reload while the other instance runs on, and the metrics endpoint.
//! Topology: `netfabric_tests::vrrp::Segment` (two routers and a client on a bridge).

use std::time::{Duration, Instant};

use netfabric_tests::netns::Netns;
use netfabric_tests::vrrp::{
    LONG, Netd, Segment, VIP4, VIP6, netd_both, netd_instance, wait_until,
};

/// How long a cable stays pulled: longer than any Master_Down_Interval here (0.36 s),
/// as the 5 s flap.
const FLAP: Duration = Duration::from_secs(5);

/// Watches `vip` on both routers for `d`; returns every distinct holder set seen.
fn holders_during(seg: &Segment, vip: &str, d: Duration) -> Vec<Vec<usize>> {
    let end = Instant::now() + d;
    let mut seen: Vec<Vec<usize>> = Vec::new();
    while Instant::now() < end {
        let h = seg.holders(vip);
        if !seen.contains(&h) {
            seen.push(h);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn cable_pulled_on_the_backup_never_moves_the_address() {
    let seg = Segment::new("vrfb");
    let (_a, b) = seg.master_and_backup("");
    assert!(wait_until(LONG, || b.state("svc") == "backup"));

    seg.set_cable(1, false);
    assert!(
        wait_until(LONG, || b.state("svc") == "fault"),
        "{}",
        b.log()
    );
    // While pulled, b holds nothing (it would have claimed the address after 0.36 s).
    let seen = holders_during(&seg, VIP4, FLAP);
    assert_eq!(seen, [vec![0]], "holders while b's cable was out");

    seg.set_cable(1, true);
    assert!(
        wait_until(LONG, || b.state("svc") == "backup"),
        "{}",
        b.log()
    );
    let seen = holders_during(&seg, VIP4, Duration::from_secs(2));
    assert_eq!(seen, [vec![0]], "holders after b's cable came back");
    assert!(seg.reachable(VIP4));
    assert!(b.log().contains("vrrp: link down"), "{}", b.log());
}

#[test]
fn cable_pulled_on_the_master_hands_over_and_back() {
    let seg = Segment::new("vrfm");
    let (a, _b) = seg.master_and_backup("");

    seg.set_cable(0, false);
    assert!(
        wait_until(LONG, || a.state("svc") == "fault"),
        "{}",
        a.log()
    );
    // a dropped the address at once: only b holds it, and clients reach it there.
    seg.assert_only_holder(VIP4, 1);
    assert!(seg.reachable(VIP4));
    std::thread::sleep(FLAP);
    seg.assert_only_holder(VIP4, 1);

    // Back, a listens as a backup first, then preempts b (200 > 100).
    seg.set_cable(0, true);
    seg.assert_only_holder(VIP4, 0);
    assert!(seg.reachable(VIP4));
    assert_eq!(a.state("svc"), "master");
}

#[test]
fn a_killed_master_is_cleaned_up_by_down_and_status_tells_it_is_dead() {
    let seg = Segment::new("vrkd");
    let mut a = Netd::start(
        &seg.routers[0],
        &netd_instance("svc", 51, 200, VIP4, 10, "accept = false"),
    );
    seg.assert_only_holder(VIP4, 0);
    let table = || {
        seg.routers[0]
            .exec(&["nft", "list", "table", "inet", "netd_vrrp_svc"])
            .status
            .success()
    };
    assert!(table());
    let status = a.command(&seg.routers[0], &["status"]);
    assert_eq!(status.status.code(), Some(0));

    a.guard.kill();
    // Left behind by the crash...
    assert_eq!(seg.holders(VIP4), [0]);
    assert!(table());
    // ... and status says the daemon is gone rather than "master".
    let status = a.command(&seg.routers[0], &["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(3), "{text}");
    assert!(text.contains("netd is not running"), "{text}");
    assert_ne!(a.state("svc"), "master", "{text}");

    let down = a.command(&seg.routers[0], &["down"]);
    let out = String::from_utf8_lossy(&down.stdout);
    assert!(
        down.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        out.contains("- vrrp svc: address 198.51.100.1/32 on eth0"),
        "{out}"
    );
    assert_eq!(seg.holders(VIP4), Vec::<usize>::new());
    assert!(!table());
    assert!(!a.state_dir().join("owned.json").exists());
}

/// `GET /metrics` on `addr`, from inside `ns` (waits for the endpoint to open).
fn scrape(ns: &Netns, addr: &'static str) -> String {
    netfabric_tests::metrics::scrape(Some(ns), addr.parse().unwrap())
}

#[test]
fn a_changed_block_reloads_alone_and_metrics_are_served() {
    let seg = Segment::new("vrrl");
    let metrics = "metrics = \"127.0.0.1:9102\"\n";
    let mut a = Netd::start(
        &seg.routers[0],
        &format!("{metrics}{}", netd_both("svc", 200, "")),
    );
    let _b = Netd::start(&seg.routers[1], &netd_both("svc", 100, ""));
    seg.assert_only_holder(VIP4, 0);
    seg.assert_only_holder(VIP6, 0);
    let text = scrape(&seg.routers[0], "127.0.0.1:9102");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for line in [
        "netd_vrrp_state{instance=\"svc\",state=\"master\"} 1",
        "netd_vrrp_state{instance=\"svc-v6\",state=\"master\"} 1",
        "netd_passes_total{result=\"ok\"}",
        "netd_vrrp_adverts_sent_total{instance=\"svc\"}",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    let transitions_v6 = |a: &Netd| {
        let json = a.status_json();
        let v6 = json
            .split("\"name\": \"svc-v6\"")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        v6.split("\"transitions\": ")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let before = transitions_v6(&a);
    assert!(before.is_some(), "{}", a.status_json());

    // Only the IPv4 block changes: its priority drops below b's.
    let changed = netd_instance("svc", 51, 50, &format!("{VIP4}/24"), 10, "")
        + &netd_instance("svc-v6", 52, 200, &format!("{VIP6}/64"), 10, "");
    a.reconfigure(&format!("{metrics}{changed}"));
    seg.assert_only_holder(VIP4, 1);
    // The IPv6 instance ran on: still master, no state change, never left router0.
    seg.assert_only_holder(VIP6, 0);
    assert_eq!(transitions_v6(&a), before, "{}", a.status_json());
    assert!(
        a.log().contains("configuration changed: restarting"),
        "{}",
        a.log()
    );
    let text = scrape(&seg.routers[0], "127.0.0.1:9102");
    assert!(
        text.contains("netd_vrrp_state{instance=\"svc\",state=\"backup\"} 1"),
        "{text}"
    );
    a.stop();
}
