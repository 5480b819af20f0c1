//! Golden-text tests of the renderer and tests of element-only changes.
//! `NETD_UPDATE_GOLDEN=1 cargo test -p netd` rewrites the golden file when it differs,
//! and the test fails while it does; run it again without the variable.

use super::*;
use crate::config::parse;

const CONFIG: &str = r#"
[[bridge]]
name = "br-svc"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]

[[nat]]
source = ["198.51.100.0/24"]
egress = "eth0"

[forwarding]
ipv6 = true

[[forward]]
name = "web"
protocol = ["tcp", "udp"]
port = 80
interface = "eth0"
to = "198.51.100.10"
to-port = 8080

[[forward]]
name = "dns"
protocol = "udp"
port = "5300-5301"
address = "203.0.113.1"
to = "198.51.100.11"
to-port = 53
allow = ["203.0.113.0/24", "198.18.0.0/15"]

[[forward]]
name = "web6"
port = 443
to = "2001:db8:1::10"
"#;

#[test]
fn ruleset_matches_golden_text() {
    let text = render(&parse(CONFIG).unwrap()).replace_batch();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/nat/render_golden.nft");
    let golden = std::fs::read_to_string(path).unwrap_or_default();
    // Regenerating is a failing run: the file is written and the test fails until it
    // runs again without the variable (an environment cannot turn it into a pass).
    if text != golden && std::env::var_os("NETD_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &text).unwrap();
        panic!("rewrote {path}: review the diff, then run again without NETD_UPDATE_GOLDEN");
    }
    assert_eq!(
        text, golden,
        "rendered ruleset differs from {path} (NETD_UPDATE_GOLDEN=1 rewrites it)"
    );
}

#[test]
fn n_forwards_cost_the_same_rules_as_one() {
    let one = render(&parse("[[forward]]\nport = 1000\nto = \"198.51.100.10\"\n").unwrap());
    let mut many = String::new();
    for i in 0..1000 {
        many.push_str(&format!(
            "[[forward]]\nport = {}\nto = \"198.51.100.{}\"\n",
            1000 + i,
            10 + i % 200
        ));
    }
    let many = render(&parse(&many).unwrap());
    assert_eq!(one.chains, many.chains);
    assert_eq!(many.element_count(), 1000); // fwd4_port only
}

#[test]
fn changing_one_forward_is_an_element_change() {
    let old = render(&parse(CONFIG).unwrap());
    let new = render(&parse(&CONFIG.replace("to-port = 8080", "to-port = 8081")).unwrap());
    let batch = new.delta_batch(&old).unwrap();
    assert_eq!(
        batch,
        "delete element inet netd fwd4_inside { tcp . 80, udp . 80 }\n\
         delete element inet netd fwd4_iif { \"eth0\" . tcp . 80, \"eth0\" . udp . 80 }\n\
         add element inet netd fwd4_inside { tcp . 80 : 198.51.100.10 . 8081, \
         udp . 80 : 198.51.100.10 . 8081 }\n\
         add element inet netd fwd4_iif { \"eth0\" . tcp . 80 : 198.51.100.10 . 8081, \
         \"eth0\" . udp . 80 : 198.51.100.10 . 8081 }\n"
    );
    assert_eq!(old.delta_batch(&old).unwrap(), "");
}

#[test]
fn changing_nat_needs_the_whole_table() {
    let old = render(&parse(CONFIG).unwrap());
    let new = render(&parse(&CONFIG.replace("egress = \"eth0\"", "egress = \"eth1\"")).unwrap());
    assert!(new.delta_batch(&old).is_none());
}

#[test]
fn inside_map_keeps_the_first_of_two_interfaces() {
    let c = parse(
        "[[forward]]\nport = 80\ninterface = \"eth0\"\nto = \"198.51.100.10\"\n\
         [[forward]]\nport = 80\ninterface = \"eth1\"\nto = \"198.51.100.11\"\n",
    )
    .unwrap();
    let r = render(&c);
    let inside = r.sets.iter().find(|s| s.name == "fwd4_inside").unwrap();
    assert_eq!(inside.elements.len(), 1);
    assert_eq!(
        inside.elements[0].data.as_deref(),
        Some("198.51.100.10 . 80")
    );
    let iif = r.sets.iter().find(|s| s.name == "fwd4_iif").unwrap();
    assert_eq!(iif.elements.len(), 2);
}

#[test]
fn guard_on_every_address_covers_single_addresses() {
    let c = parse(
        "[[forward]]\nport = 80\nto = \"198.51.100.10\"\nallow = [\"203.0.113.0/25\"]\n\
         [[forward]]\nport = 80\naddress = \"203.0.113.1\"\nto = \"198.51.100.11\"\nallow = [\"203.0.113.128/25\"]\n",
    )
    .unwrap();
    let r = render(&c);
    let guard = r.sets.iter().find(|s| s.name == "guard4").unwrap();
    assert_eq!(guard.elements.len(), 1);
    assert_eq!(guard.elements[0].key, "0.0.0.0/0 . tcp . 80");
}

#[test]
fn a_listing_is_checked_for_every_element() {
    let ruleset = render(&parse(CONFIG).unwrap());
    // nft lists the elements as netd renders them (checked against nft 1.0.6 by the
    // integration tests, whose drift checks rely on it).
    let listing = ruleset.table_text();
    assert!(crate::nat::apply::holds_every_element(&listing, &ruleset));
    let gone = listing.replace("\"eth0\" . tcp . 80 : 198.51.100.10 . 8080,", "");
    assert!(!crate::nat::apply::holds_every_element(&gone, &ruleset));
}
