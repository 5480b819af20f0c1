//! Tests of netd.toml parsing and validation: every error names its key and line.

use super::*;

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// netd's base configuration, the one the integration tests run
/// (`netfabric_tests::netd::CONFIG`): a bridge, masquerade, three forwards.
const GOOD: &str = include_str!("../tests/fixtures/lab.toml");

#[test]
fn good_file_is_accepted() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.bridges.len(), 1);
    assert_eq!(c.bridges[0].members, ["svc1", "svc2"]);
    assert_eq!(c.forwards.len(), 3);
    assert_eq!(c.forwards[1].ports.len(), 2);
    assert_eq!(
        c.forwards[2].protocols,
        vec![forward::Protocol::Tcp, forward::Protocol::Udp]
    );
    assert_eq!(c.forwards[2].allow.len(), 1);
    assert!(c.forwarding.ipv4 && !c.forwarding.ipv6);
    assert!(c.metrics.is_none());
}

#[test]
fn unknown_key_names_key_and_line() {
    let e = errors("[[forward]]\nport = 80\nto = \"198.51.100.10\"\ntoport = 1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("4: "), "{e:?}");
    assert!(e[0].contains("toport"), "{e:?}");
}

#[test]
fn port_zero_is_refused() {
    let e = errors("[[forward]]\nport = 0\nto = \"198.51.100.10\"\n");
    assert_eq!(
        e,
        vec!["2: forward[0].port: port 0 is not a port (1-65535)"]
    );
}

#[test]
fn bad_values_are_all_reported() {
    let e = errors(
        "[[nat]]\nsource = [\"198.51.100.1/24\", \"nonsense\"]\negress = \"eth0\"\n\
         [[forward]]\nport = \"90-80\"\nto = \"198.51.100.300\"\nallow = [\"2001:db8::/32\"]\n",
    );
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(e[0].contains("nat[0].source[0]") && e[0].contains("did you mean 198.51.100.0/24"));
    assert!(e[1].contains("nat[0].source[1]"));
    assert!(e[2].contains("forward[0].port") && e[2].contains("backwards"));
    assert!(e[3].contains("forward[0].to"));
}

#[test]
fn overlapping_forwards_are_refused() {
    let e = errors(
        "[[forward]]\nport = \"8000-8010\"\nto = \"198.51.100.10\"\n\
         [[forward]]\nname = \"b\"\nport = 8005\ninterface = \"eth0\"\nto = \"198.51.100.11\"\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("4: forward[1]: overlaps forward[0]"),
        "{e:?}"
    );
}

#[test]
fn disjoint_forwards_are_accepted() {
    // Same port, different public addresses, or disjoint allow-lists.
    parse(
        "[[forward]]\nport = 80\naddress = \"203.0.113.1\"\nto = \"198.51.100.10\"\n\
         [[forward]]\nport = 80\naddress = \"203.0.113.2\"\nto = \"198.51.100.11\"\n\
         [[forward]]\nport = 81\nto = \"198.51.100.11\"\nallow = [\"203.0.113.0/25\"]\n\
         [[forward]]\nport = 81\nto = \"198.51.100.12\"\nallow = [\"203.0.113.128/25\"]\n\
         [[forward]]\nport = 80\nprotocol = \"udp\"\nto = \"198.51.100.12\"\n",
    )
    .unwrap();
}

#[test]
fn ipv6_forward_needs_ipv6_forwarding() {
    let e = errors("[[forward]]\nport = 80\nto = \"2001:db8:1::10\"\n");
    assert!(e[0].contains("forward[0].to: an IPv6 forward needs forwarding.ipv6"));
    parse("[forwarding]\nipv6 = true\n[[forward]]\nport = 80\nto = \"2001:db8:1::10\"\n").unwrap();
}

#[test]
fn unknown_interfaces_are_named() {
    let c = parse(GOOD).unwrap();
    let e: Vec<String> = c
        .check_interfaces(|n| n == "up0" || n == "svc2")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        vec!["5: bridge[0].members[0]: unknown interface \"svc1\""]
    );
    assert!(c.check_interfaces(|_| true).is_empty());
}

#[test]
fn bridge_errors() {
    let e = errors(
        "[[bridge]]\nname = \"br0\"\naddresses = [\"198.51.100.1\"]\nmtu = 10\n\
         [[bridge]]\nname = \"br0\"\nmembers = [\"br0\"]\n\
         [[bridge]]\nname = \"a-name-longer-than-15\"\n",
    );
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(e.iter().any(|m| m.contains("bridge[0].addresses[0]")));
    assert!(e.iter().any(|m| m.contains("bridge[0].mtu")));
    assert!(
        e.iter()
            .any(|m| m.contains("bridge[1].name") && m.contains("twice"))
    );
    assert!(e.iter().any(|m| m.contains("bridge[1].members[0]")));
    assert!(e.iter().any(|m| m.contains("bridge[2].name")));
}

#[test]
fn range_moves_ports() {
    let c = parse("[[forward]]\nport = \"65530-65535\"\nto = \"198.51.100.10\"\nto-port = 65531\n");
    assert!(c.is_err());
    let c = parse("[[forward]]\nport = \"8000-8001\"\nto = \"198.51.100.10\"\nto-port = 9000\n")
        .unwrap();
    assert_eq!(c.forwards[0].to_port, 9000);
}

#[test]
fn example_file_is_valid() {
    let text = include_str!("../netd.toml");
    match parse(text) {
        Ok(c) => assert_eq!(c.forwards.len(), 3),
        Err(e) => panic!("netd/netd.toml: {e:?}"),
    }
}

#[test]
fn metrics_address_is_checked() {
    let e = errors("metrics = \"localhost\"\n");
    assert_eq!(
        e,
        ["1: metrics: \"localhost\" is not ADDR:PORT (like \"127.0.0.1:9102\")"]
    );
    let c = parse("metrics = \"127.0.0.1:9102\"\n").unwrap();
    assert_eq!(c.metrics, Some("127.0.0.1:9102".parse().unwrap()));
}
