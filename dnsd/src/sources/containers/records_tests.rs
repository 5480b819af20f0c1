use std::net::IpAddr;

use super::*;

fn name(text: &str) -> Name {
    Name::from_text(text, None).expect("name")
}

fn container(id: &str, name: &str, created: &str, net: &str, addrs: &[&str]) -> Container {
    Container {
        id: id.into(),
        name: name.into(),
        created: created.into(),
        labels: BTreeMap::new(),
        networks: vec![Attachment {
            network: net.into(),
            addresses: addrs
                .iter()
                .map(|a| a.parse::<IpAddr>().expect("ip"))
                .collect(),
            aliases: Vec::new(),
        }],
    }
}

fn settings(duplicates: Duplicates) -> RecordSettings {
    RecordSettings {
        networks: vec![
            NetworkMap {
                matches: NetworkMatch::Name("svcnet".into()),
                zone: name("svc.test."),
            },
            NetworkMap {
                matches: NetworkMatch::Subnet("2001:db8::/64".parse().expect("net")),
                zone: name("v6.test."),
            },
        ],
        ttl: 30,
        duplicates,
    }
}

/// The RRsets wanted in `zone`, as text, sorted (the map's order is the names' wire
/// order).
fn owners(w: &Wanted, zone: &str) -> Vec<String> {
    let mut out: Vec<String> = w
        .zones
        .get(&name(zone))
        .map(|d| {
            d.iter()
                .map(|((o, t), r)| format!("{o} {t} {}", r.rdatas.len()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn names_come_from_the_container_compose_aliases_and_labels() {
    let mut c = container(
        "abcdef1234567890",
        "Proj_Web_1",
        "2024",
        "svcnet",
        &["198.18.0.2"],
    );
    c.labels
        .insert("com.docker.compose.service".into(), "web".into());
    c.labels
        .insert("com.docker.compose.project".into(), "proj".into());
    c.labels
        .insert(LABEL_NAME.into(), "www, api.svc.test.".into());
    c.networks[0].aliases = vec!["abcdef123456".into(), "front".into()];
    let served = [name("svc.test."), name("18.198.in-addr.arpa.")];
    let w = wanted(&[&c], &settings(Duplicates::RoundRobin), &served);
    assert_eq!(
        owners(&w, "svc.test."),
        [
            "api.svc.test. A 1",
            "front.svc.test. A 1",
            "proj-web-1.svc.test. A 1",
            "web.proj.svc.test. A 1",
            "www.svc.test. A 1"
        ]
    );
    // The PTR names the first name: dns.name's.
    let rev = &w.zones[&name("18.198.in-addr.arpa.")];
    let ptr = &rev[&(name("2.0.18.198.in-addr.arpa."), Rtype::PTR)];
    assert_eq!(&*ptr.rdatas[0], name("www.svc.test.").as_wire());
}

#[test]
fn unmapped_networks_and_disabled_containers_give_nothing() {
    let a = container("a", "a", "1", "other", &["198.18.1.2"]);
    let mut b = container("b", "b", "1", "svcnet", &["198.18.0.3"]);
    b.labels.insert(LABEL_DISABLE.into(), "true".into());
    let c = container("c", "c", "1", "other", &["2001:db8::5"]);
    let w = wanted(&[&a, &b, &c], &settings(Duplicates::RoundRobin), &[]);
    assert!(owners(&w, "svc.test.").is_empty());
    assert_eq!(owners(&w, "v6.test."), ["c.v6.test. AAAA 1"]);
}

#[test]
fn two_containers_one_name_round_robin_or_first_wins() {
    let mut a = container("a", "x", "2024-02", "svcnet", &["198.18.0.2"]);
    let mut b = container("b", "y", "2024-01", "svcnet", &["198.18.0.3"]);
    a.labels.insert(LABEL_NAME.into(), "shared".into());
    b.labels.insert(LABEL_NAME.into(), "shared".into());
    let w = wanted(&[&a, &b], &settings(Duplicates::RoundRobin), &[]);
    assert!(owners(&w, "svc.test.").contains(&"shared.svc.test. A 2".to_string()));
    assert_eq!(w.duplicates.len(), 1);
    let w = wanted(&[&a, &b], &settings(Duplicates::FirstWins), &[]);
    let shared = &w.zones[&name("svc.test.")][&(name("shared.svc.test."), Rtype::A)];
    assert_eq!(shared.rdatas, vec![Box::from(&[198u8, 18, 0, 3][..])]);
}

#[test]
fn dns_zone_moves_a_container_and_must_be_served() {
    let mut a = container("a", "a", "1", "svcnet", &["198.18.0.2"]);
    a.labels.insert(LABEL_ZONE.into(), "other.test".into());
    let w = wanted(
        &[&a],
        &settings(Duplicates::RoundRobin),
        &[name("other.test.")],
    );
    assert_eq!(owners(&w, "other.test."), ["a.other.test. A 1"]);
    let w = wanted(&[&a], &settings(Duplicates::RoundRobin), &[]);
    assert!(w.zones.is_empty());
    assert_eq!(w.skipped.len(), 1);
}

#[test]
fn reverse_names() {
    assert_eq!(
        reverse_name("198.51.100.7".parse().expect("ip")),
        name("7.100.51.198.in-addr.arpa.")
    );
    let v6 = reverse_name("2001:db8::1".parse().expect("ip")).to_string();
    assert!(
        v6.starts_with("1.0.0.0.") && v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa."),
        "{v6}"
    );
}
