//! Tests of the link plan: it creates what is missing and removes only what netd owns.

use super::*;

fn bridge(addresses: &[&str], members: &[&str]) -> Bridge {
    Bridge {
        name: "br-svc".into(),
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        mtu: Some(1400),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn link(index: u32, is_bridge: bool, addresses: &[&str]) -> KernelLink {
    KernelLink {
        index,
        is_bridge,
        mtu: 1400,
        up: true,
        controller: None,
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
    }
}

#[test]
fn empty_host_gets_everything_in_order() {
    let mut kernel = Kernel::default();
    kernel.links.insert("vm1".into(), link(2, false, &[]));
    let changes = plan(
        &[bridge(&["198.51.100.1/24"], &["vm1"])],
        &kernel,
        &BTreeMap::new(),
    );
    let text: Vec<String> = changes.unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "+ bridge br-svc",
            "+ port vm1 -> br-svc",
            "~ mtu br-svc 1400",
            "+ address 198.51.100.1/24 on br-svc",
            "~ up br-svc"
        ]
    );
}

#[test]
fn converged_host_needs_nothing() {
    let mut kernel = Kernel::default();
    kernel.links.insert(
        "br-svc".into(),
        link(3, true, &["198.51.100.1/24", "198.51.100.99/24"]),
    );
    let mut port = link(2, false, &[]);
    port.controller = Some(3);
    kernel.links.insert("vm1".into(), port);
    let changes = plan(
        &[bridge(&["198.51.100.1/24"], &["vm1"])],
        &kernel,
        &BTreeMap::new(),
    );
    // 198.51.100.99 is not netd's: it stays.
    assert_eq!(changes.unwrap(), vec![]);
}

#[test]
fn only_owned_addresses_and_bridges_are_removed() {
    let mut kernel = Kernel::default();
    kernel.links.insert(
        "br-svc".into(),
        link(3, true, &["198.51.100.1/24", "198.51.100.2/24"]),
    );
    kernel.links.insert("br-old".into(), link(4, true, &[]));
    kernel.links.insert("br-theirs".into(), link(5, true, &[]));
    let mut owned = BTreeMap::new();
    owned.insert(
        "br-svc".to_string(),
        OwnedBridge {
            created: true,
            addresses: ["198.51.100.2/24".parse().unwrap()].into(),
            members: Default::default(),
        },
    );
    owned.insert(
        "br-old".to_string(),
        OwnedBridge {
            created: true,
            ..Default::default()
        },
    );
    let changes = plan(&[bridge(&["198.51.100.1/24"], &[])], &kernel, &owned).unwrap();
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["- address 198.51.100.2/24 on br-svc", "- bridge br-old"]
    );
}

#[test]
fn a_name_taken_by_another_link_is_an_error() {
    let mut kernel = Kernel::default();
    kernel.links.insert("br-svc".into(), link(3, false, &[]));
    let e = plan(&[bridge(&[], &[])], &kernel, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "bridge[0].name: \"br-svc\" exists and is not a bridge"
    );
}

#[test]
fn undo_of_an_adopted_bridge_keeps_the_bridge() {
    let mut kernel = Kernel::default();
    kernel
        .links
        .insert("br-svc".into(), link(3, true, &["198.51.100.1/24"]));
    let mut port = link(2, false, &[]);
    port.controller = Some(3);
    kernel.links.insert("vm1".into(), port);
    let mine = OwnedBridge {
        created: false,
        addresses: ["198.51.100.1/24".parse().unwrap()].into(),
        members: ["vm1".to_string()].into(),
    };
    let text: Vec<String> = undo("br-svc", &mine, &kernel)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        [
            "- address 198.51.100.1/24 on br-svc",
            "- port vm1 -> br-svc"
        ]
    );
}
