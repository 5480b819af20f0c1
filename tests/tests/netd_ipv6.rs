//! netd and IPv6 in namespaces: routed (not translated) by default, a forward to an
//! IPv6 address when asked, and the IPv6 forwarding sysctl.
//!
//! ```text
//!   inet6 wan0 2001:db8:f::2/64 <-veth-> router up0 2001:db8:f::1/64
//!         route 2001:db8:1::/64 via ::1      br-svc 2001:db8:1::1/64 ── svc1 <-veth-> svc eth0 2001:db8:1::10
//! ```

use std::time::Duration;

use netfabric_tests::netd::{Lab, serve_on, tcp_ask, udp_ask, wait_for};
use netfabric_tests::netns::{Netns, veth};

const CONFIG: &str = r#"
[[bridge]]
name = "br-svc"
addresses = ["2001:db8:1::1/64"]
members = ["svc1"]

[forwarding]
ipv6 = true

[[forward]]
name = "web6"
protocol = ["tcp", "udp"]
port = 80
address = "2001:db8:f::1"
to = "2001:db8:1::10"
to-port = 8080
"#;

#[test]
fn ipv6_is_routed_and_forwarded_when_asked() {
    // The shared lab's files and runner, with namespaces of this test's own.
    let lab = Lab::empty();
    let inet = Netns::new("nd6-inet");
    let svc = Netns::new("nd6-svc");
    veth(&lab.router, "up0", &inet, "wan0");
    veth(&lab.router, "svc1", &svc, "eth0");
    lab.router.exec_ok(&[
        "ip",
        "addr",
        "add",
        "2001:db8:f::1/64",
        "dev",
        "up0",
        "nodad",
    ]);
    inet.exec_ok(&[
        "ip",
        "addr",
        "add",
        "2001:db8:f::2/64",
        "dev",
        "wan0",
        "nodad",
    ]);
    inet.exec_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:1::/64",
        "via",
        "2001:db8:f::1",
    ]);
    svc.exec_ok(&[
        "ip",
        "addr",
        "add",
        "2001:db8:1::10/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    svc.exec_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:1::1",
    ]);
    serve_on(&svc, "svc", "[2001:db8:1::10]:8080".parse().unwrap());
    lab.write_config(CONFIG);

    let forwarding = || {
        let out = lab
            .router
            .exec(&["sysctl", "-n", "net.ipv6.conf.all.forwarding"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(forwarding(), "0");
    let out = lab.netd_ok("apply");
    assert!(out.contains("net.ipv6.conf.all.forwarding 0 -> 1"), "{out}");
    assert_eq!(forwarding(), "1");

    // Routed: the service sees the client's own address, no translation. The bridge
    // address is new (duplicate address detection), so wait for the path.
    let routed = wait_for(Duration::from_secs(10), || {
        tcp_ask(&inet, None, "[2001:db8:1::10]:8080", "r").is_ok()
    });
    assert!(routed, "no routed IPv6 path");
    let out = tcp_ask(&inet, None, "[2001:db8:1::10]:8080", "a").unwrap();
    assert_eq!(out, "svc 2001:db8:f::2 a");

    // The forward to an IPv6 address, TCP and UDP.
    let out = tcp_ask(&inet, None, "[2001:db8:f::1]:80", "b").unwrap();
    assert_eq!(out, "svc 2001:db8:f::2 b");
    let out = udp_ask(&inet, None, "[2001:db8:f::1]:80", "c").unwrap();
    assert_eq!(out, "svc 2001:db8:f::2 c");

    lab.netd_ok("down");
    assert_eq!(forwarding(), "0");
}
