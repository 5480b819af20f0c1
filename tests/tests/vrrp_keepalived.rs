//! VRRPv3 interop between netd and keepalived (Debian's 2.2.7, `vrrp_version 3`) in
//! one VRID, both ways round, IPv4 and IPv6, multicast and unicast, 0.1 s adverts.
//! Topology: `netfabric_tests::vrrp::Segment` (two routers and a client on a bridge).

use std::time::Duration;

use netfabric_tests::vrrp::{
    Keepalived, Netd, Segment, VIP4, VIP6, keepalived_instance, netd_instance, wait_until,
};

const LONG: Duration = Duration::from_secs(10);

fn netd_both(priority: u8, extra: &str) -> String {
    netd_instance("svc", 51, priority, &format!("{VIP4}/24"), 10, extra)
        + &netd_instance("svc-v6", 52, priority, &format!("{VIP6}/64"), 10, extra)
}

fn keepalived_both(priority: u8, extra: &str) -> String {
    keepalived_instance("svc", 51, priority, &format!("{VIP4}/24"), 10, extra)
        + &keepalived_instance("svc6", 52, priority, &format!("{VIP6}/64"), 10, extra)
}

/// Asserts, over a few advert intervals, that exactly router `i` holds `vip`.
fn assert_only_holder(seg: &Segment, vip: &str, i: usize) {
    assert!(
        wait_until(LONG, || seg.holders(vip) == [i]),
        "{vip}: expected only router{i}, got {:?}",
        seg.holders(vip)
    );
    for _ in 0..10 {
        assert_eq!(seg.holders(vip), [i], "{vip}: two masters or none");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_only(seg: &Segment, i: usize) {
    assert_only_holder(seg, VIP4, i);
    assert_only_holder(seg, VIP6, i);
    assert!(seg.reachable(VIP4), "ping {VIP4}");
    assert!(seg.reachable(VIP6), "ping {VIP6}");
}

#[test]
fn netd_master_keepalived_backup() {
    let seg = Segment::new("vrkb");
    let mut netd = Netd::start(&seg.routers[0], &netd_both(200, ""));
    let mut ka = Keepalived::start(&seg.routers[1], &keepalived_both(100, ""));
    assert!(wait_until(LONG, || ka.started()));
    assert_only(&seg, 0);
    assert!(
        wait_until(LONG, || ka.log().contains("(svc) Entering BACKUP STATE")),
        "{}",
        ka.log()
    );

    // netd stops cleanly: keepalived takes over.
    netd.stop();
    assert_only(&seg, 1);

    // netd returns with the higher priority: it preempts keepalived.
    netd = Netd::start(&seg.routers[0], &netd_both(200, ""));
    assert_only(&seg, 0);
    assert!(wait_until(LONG, || netd.state("svc") == "master"));

    // netd crashes and its link goes down: keepalived takes over.
    netd.guard.kill();
    seg.set_link(0, false);
    assert!(wait_until(LONG, || seg.holds(1, VIP4) && seg.holds(1, VIP6)));
    assert!(seg.reachable(VIP4) && seg.reachable(VIP6));
    seg.set_link(0, true);
    ka.stop();
    assert!(!ka.log().contains("bad checksum"), "{}", ka.log());
}

#[test]
fn keepalived_master_netd_backup() {
    let seg = Segment::new("vrkm");
    let mut ka = Keepalived::start(&seg.routers[0], &keepalived_both(200, ""));
    let netd = Netd::start(&seg.routers[1], &netd_both(100, ""));
    assert!(wait_until(LONG, || ka.started()));
    assert_only(&seg, 0);
    assert!(wait_until(LONG, || netd.state("svc") == "backup"
        && netd.state("svc-v6") == "backup"));
    assert!(wait_until(LONG, || netd
        .status_table()
        .contains("198.51.100.2 (200)")));
    // No packet of keepalived's was dropped by netd's checks.
    let json = netd.status_json();
    assert_eq!(json.matches("\"dropped\": {}").count(), 2, "{json}");

    // keepalived stops cleanly (priority 0): netd takes over.
    ka.stop();
    assert_only(&seg, 1);

    // keepalived returns and preempts.
    ka = Keepalived::start(&seg.routers[0], &keepalived_both(200, ""));
    assert_only(&seg, 0);
    assert!(wait_until(LONG, || netd.state("svc") == "backup"));

    // keepalived crashes: netd takes over.
    ka.kill();
    seg.set_link(0, false);
    assert!(wait_until(LONG, || seg.holds(1, VIP4) && seg.holds(1, VIP6)));
    assert!(seg.reachable(VIP4) && seg.reachable(VIP6));
    seg.set_link(0, true);
}

#[test]
fn keepalived_nopreempt_and_netd_preempt_delay() {
    let seg = Segment::new("vrkp");
    // keepalived with nopreempt and the higher priority defers to netd, already master.
    let mut netd = Netd::start(&seg.routers[1], &netd_both(100, ""));
    assert_only_holder(&seg, VIP4, 1);
    let mut ka = Keepalived::start(&seg.routers[0], &keepalived_both(200, "  nopreempt"));
    assert!(wait_until(LONG, || ka
        .log()
        .contains("(svc) Entering BACKUP STATE")));
    for _ in 0..30 {
        assert_eq!(seg.holders(VIP4), [1]);
        std::thread::sleep(Duration::from_millis(50));
    }
    ka.stop();
    netd.stop();

    // netd with a preempt delay follows keepalived (lower priority) first, then takes over.
    let _ka = Keepalived::start(&seg.routers[0], &keepalived_both(100, ""));
    assert_only_holder(&seg, VIP4, 0);
    let netd = Netd::start(&seg.routers[1], &netd_both(200, "preempt-delay = 100"));
    assert!(wait_until(LONG, || netd
        .status_table()
        .contains("backup  200       198.51.100.2 (100)")));
    assert_eq!(seg.holders(VIP4), [0]);
    assert_only_holder(&seg, VIP4, 1);
}

#[test]
fn unicast_peers_with_keepalived() {
    let seg = Segment::new("vrku");
    seg.switch.exec_ok(&[
        "nft",
        "add table bridge nomc; add chain bridge nomc f { type filter hook forward priority 0; }; \
         add rule bridge nomc f ip daddr 224.0.0.18 counter drop",
    ]);
    let ka_conf = keepalived_instance(
        "svc",
        51,
        200,
        &format!("{VIP4}/24"),
        10,
        "  unicast_peer {\n    198.51.100.3\n  }",
    );
    let mut ka = Keepalived::start(&seg.routers[0], &ka_conf);
    let netd = Netd::start(
        &seg.routers[1],
        &netd_instance(
            "svc",
            51,
            100,
            &format!("{VIP4}/24"),
            10,
            "unicast-peers = [\"198.51.100.2\"]",
        ),
    );
    assert_only_holder(&seg, VIP4, 0);
    assert!(wait_until(LONG, || netd.state("svc") == "backup"));
    let json = netd.status_json();
    assert!(json.contains("\"dropped\": {}"), "{json}");
    ka.stop();
    assert_only_holder(&seg, VIP4, 1);
    assert!(seg.reachable(VIP4));
}
