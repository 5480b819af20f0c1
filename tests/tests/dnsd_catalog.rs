//! Catalog zones (RFC 9432, version 2) between a primary at "home" and a secondary on
//! the "vps" namespace, every transfer signed with one TSIG key:
//! - dnsd → dnsd: a zone file added on the primary is listed in its catalog, and the
//!   secondary, which is configured with the catalog only, serves it; the file
//!   removed, the secondary stops serving it; restarted with the primary down, the
//!   secondary serves the members it had from its state folder at once.
//! - dnsd → Knot (`catalog-role: interpret`): Knot serves what dnsd's catalog lists,
//!   each member with the template its group (RFC 9432 §4.4.2, `catalog-group`)
//!   names.
//! - Knot (`catalog-role: generate`) → dnsd: dnsd serves what Knot's catalog lists,
//!   reads the group Knot gives a member, and drops a member Knot's configuration no
//!   longer has.

use std::net::SocketAddr;

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{HOME, HomeVps, PeerServer, TsigKey, VPS};
use netfabric_tests::xfr_sighup::{PROBE_ZONE, key_table, sighup, wait};

const CATALOG: &str = "catalog.invalid";

fn zone(name: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {name}.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 198.18.0.1\nwww A 198.51.100.{serial}\n"
    )
}

/// dnsd at home: its zone files, a catalog of them, transfers for the key, NOTIFY to
/// the VPS.
fn primary_config(key: &TsigKey) -> String {
    format!(
        "{}[xfr]\ncatalog = \"{CATALOG}\"\n\
         allow-transfer = [{{ from = \"198.18.0.0/24\", key = \"{}\" }}]\n\
         notify = [{{ address = \"198.18.0.2:53\", key = \"{}\" }}]\n",
        key_table(key),
        key.name,
        key.name
    )
}

/// dnsd on the VPS: the catalog from home, nothing else about the members.
fn secondary_config(key: &TsigKey) -> String {
    format!(
        "{}[zone.\"{CATALOG}\"]\ncatalog = true\n\
         primaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
        key_table(key),
        key.name
    )
}

fn write_zone(dnsd: &Dnsd, name: &str, text: &str) {
    let dir = dnsd.zones_dir();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, dir.join(format!("{name}.zone"))).expect("rename zone");
}

#[test]
fn dnsd_secondary_follows_the_catalog_of_a_dnsd_primary() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let mut primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe("a.test")
        .zone("a.test", &zone("a.test", 1))
        .config(&primary_config(&key))
        .start();
    let mut secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&secondary_config(&key))
        .start();
    let logs =
        |p: &Dnsd, s: &Dnsd| format!("--- primary:\n{}\n--- secondary:\n{}", p.log(), s.log());
    wait(
        "the secondary serves a.test, learnt from the catalog",
        || secondary.soa_serial("a.test.") == Some(1),
        &|| logs(&primary, &secondary),
    );
    // A zone file added at home: listed, NOTIFY, transferred, served on the VPS.
    // (A file added later has the default serial policy, `date`: the serials are
    // the primary's, whatever they are.)
    write_zone(&primary, "b.test", &zone("b.test", 2));
    let same = |p: &Dnsd, s: &Dnsd| {
        let theirs = p.soa_serial("b.test.");
        theirs.is_some() && s.soa_serial("b.test.") == theirs
    };
    wait(
        "the secondary serves b.test, added on the primary",
        || same(&primary, &secondary),
        &|| logs(&primary, &secondary),
    );
    // An edit of a member reaches the secondary as for any secondary zone.
    let before = primary.soa_serial("b.test.");
    write_zone(&primary, "b.test", &zone("b.test", 3));
    wait(
        "the secondary serves b.test's edit",
        || primary.soa_serial("b.test.") != before && same(&primary, &secondary),
        &|| logs(&primary, &secondary),
    );
    let edited = secondary.soa_serial("b.test.");
    // The file of a.test removed at home: gone from the catalog and from the VPS.
    std::fs::remove_file(primary.zones_dir().join("a.test.zone")).expect("remove a.test");
    wait(
        "the secondary stops serving a.test",
        || {
            secondary
                .ask("a.test.", 6)
                .is_some_and(|a| a.rcode == 5 && a.answer.is_empty())
        },
        &|| logs(&primary, &secondary),
    );
    assert!(
        !secondary
            .state_dir()
            .read_dir()
            .expect("state folder")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("a.test")),
        "a.test's state is removed"
    );
    // The primary gone, the secondary restarted: b.test is served from its state.
    primary.kill();
    secondary.restart();
    wait(
        "b.test served after a restart without the primary",
        || secondary.soa_serial("b.test.") == edited,
        &|| secondary.log(),
    );
    assert_eq!(secondary.soa_serial("a.test."), None, "{}", secondary.log());
}

/// Secondary zones and consumed catalogs added to and removed from the
/// configuration take effect on SIGHUP, without a restart: a secondary zone declared
/// is transferred and served, removed it is no longer served (its state deleted); a
/// catalog added brings its members, removed it takes them away.
#[test]
fn secondary_zones_and_catalogs_follow_the_configuration_on_sighup() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe("a.test")
        .zone("a.test", &zone("a.test", 7))
        .config(&primary_config(&key))
        .start();
    let secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&key_table(&key))
        .start();
    let logs = || {
        format!(
            "--- primary:\n{}\n--- secondary:\n{}",
            primary.log(),
            secondary.log()
        )
    };
    let refused = |zone: &str| {
        secondary
            .ask(zone, 6)
            .is_some_and(|a| a.rcode == 5 && a.answer.is_empty())
    };
    assert!(refused("a.test."), "{}", logs());
    // A secondary zone declared.
    let declared = format!(
        "[zone.\"a.test\"]\nprimaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
        key.name
    );
    sighup(&secondary, |t| t + &declared, &logs);
    wait(
        "the declared secondary zone served",
        || secondary.soa_serial("a.test.") == Some(7),
        &logs,
    );
    // Removed.
    sighup(&secondary, |t| t.replace(&declared, ""), &logs);
    wait("a.test no longer served", || refused("a.test."), &logs);
    let state_of = |zone: &str| {
        secondary
            .state_dir()
            .read_dir()
            .expect("state folder")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(zone))
    };
    wait("a.test's state removed", || !state_of("a.test"), &logs);
    // The catalog added: its member a.test served.
    let consumed = format!(
        "[zone.\"{CATALOG}\"]\ncatalog = true\n\
         primaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
        key.name
    );
    sighup(&secondary, |t| t + &consumed, &logs);
    wait(
        "a.test served as a member of the catalog",
        || secondary.soa_serial("a.test.") == Some(7),
        &logs,
    );
    // The catalog removed: neither it nor its member is served.
    sighup(&secondary, |t| t.replace(&consumed, ""), &logs);
    wait(
        "a.test and the catalog no longer served",
        || refused("a.test.") && refused(&format!("{CATALOG}.")),
        &logs,
    );
    wait("a.test's state removed", || !state_of("a.test"), &logs);
    assert!(secondary.soa_serial("probe.test.").is_some(), "{}", logs());
}

#[test]
fn knot_interprets_the_catalog_dnsd_produces() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .probe("a.test")
        .zone("a.test", &zone("a.test", 1))
        .config(&format!(
            "{}[zone.\"a.test\"]\nserial = \"keep\"\ncatalog-group = \"special\"\n",
            primary_config(&key)
        ))
        .start();
    // Members of group "special" get Knot's template of that name, which writes their
    // zone file into special/ at once; the others, the default template's (no file).
    let knot = PeerServer::start_knot(Some(net.vps.clone()), SocketAddr::new(VPS, 53), |d| {
        std::fs::create_dir(d.join("special")).expect("special/");
        let d = d.display();
        format!(
            "{}remote:\n  - id: primary\n    address: 198.18.0.1@53\n    key: {k}\n\
             acl:\n  - id: notify\n    address: 198.18.0.1\n    action: notify\n    key: {k}\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
             journal-content: changes\n    semantic-checks: off\n    master: primary\n    \
             acl: notify\n\
             \x20 - id: special\n    storage: \"{d}/special\"\n    zonefile-sync: 0\n    \
             journal-content: changes\n    semantic-checks: off\n    master: primary\n    \
             acl: notify\n\
             zone:\n  - domain: {CATALOG}.\n    catalog-role: interpret\n    \
             catalog-template: [ default, special ]\n",
            key.knot_text(),
            k = key.name
        )
    });
    wait(
        "Knot serves a.test from dnsd's catalog",
        || knot.serial("a.test") == Some(1),
        &|| format!("--- dnsd:\n{}\n--- knot:\n{}", primary.log(), knot.log()),
    );
    write_zone(&primary, "b.test", &zone("b.test", 2));
    wait(
        "Knot serves b.test, added on dnsd",
        || {
            knot.serial("b.test").is_some()
                && knot.serial("b.test") == primary.soa_serial("b.test.")
        },
        &|| format!("--- dnsd:\n{}\n--- knot:\n{}", primary.log(), knot.log()),
    );
    // a.test's group picked Knot's "special" template; b.test has none.
    let special = knot.dir().join("special");
    wait(
        "Knot writes a.test (group \"special\") into special/",
        || special.join("a.test.zone").exists(),
        &|| format!("--- dnsd:\n{}\n--- knot:\n{}", primary.log(), knot.log()),
    );
    assert!(!special.join("b.test.zone").exists(), "b.test has no group");
    std::fs::remove_file(primary.zones_dir().join("a.test.zone")).expect("remove a.test");
    wait(
        "Knot stops serving a.test",
        || knot.serial("a.test").is_none(),
        &|| format!("--- dnsd:\n{}\n--- knot:\n{}", primary.log(), knot.log()),
    );
}

/// Knot at home generating a catalog of its zones (`zones`: name, serial); a.test in
/// group "grp".
fn knot_producer(key: &TsigKey, zones: &[(&str, u32)]) -> String {
    let mut conf = format!(
        "{}acl:\n  - id: xfr\n    action: transfer\n    key: {k}\n\
         remote:\n  - id: vps\n    address: 198.18.0.2@53\n    key: {k}\n",
        key.knot_text(),
        k = key.name
    );
    conf.push_str(&format!(
        "zone:\n  - domain: {CATALOG}.\n    catalog-role: generate\n    acl: xfr\n    notify: vps\n"
    ));
    for (name, _) in zones {
        conf.push_str(&format!(
            "  - domain: {name}.\n    file: \"{name}.zone\"\n    acl: xfr\n    notify: vps\n    \
             catalog-role: member\n    catalog-zone: {CATALOG}.\n"
        ));
        if *name == "a.test" {
            conf.push_str("    catalog-group: grp\n");
        }
    }
    conf
}

#[test]
fn dnsd_interprets_the_catalog_knot_generates() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let zones = [("a.test", 1), ("b.test", 2)];
    let knot = PeerServer::start_knot(Some(net.home.clone()), SocketAddr::new(HOME, 53), |d| {
        for (name, serial) in zones {
            std::fs::write(d.join(format!("{name}.zone")), zone(name, serial)).expect("zone");
        }
        format!(
            "template:\n  - id: default\n    storage: \"{}\"\n    zonefile-sync: -1\n    \
             journal-content: changes\n    semantic-checks: off\n{}",
            d.display(),
            knot_producer(&key, &zones)
        )
    });
    let secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&secondary_config(&key))
        .start();
    let logs = || format!("--- knot:\n{}\n--- dnsd:\n{}", knot.log(), secondary.log());
    wait(
        "dnsd serves both members of Knot's catalog",
        || secondary.soa_serial("a.test.") == Some(1) && secondary.soa_serial("b.test.") == Some(2),
        &logs,
    );
    // The group Knot gave a.test, as dnsd read it (RFC 9432 §4.4.2).
    assert!(
        secondary
            .log()
            .lines()
            .any(|l| l.contains("member zone added from the catalog")
                && l.contains("member=a.test.")
                && l.contains("groups=[\"grp\"]")),
        "{}",
        logs()
    );
    // b.test leaves Knot's configuration (and so its catalog): dnsd drops it.
    let conf_path = knot.dir().join("knot.conf");
    let conf = std::fs::read_to_string(&conf_path).expect("knot.conf");
    let member_b = format!(
        "  - domain: b.test.\n    file: \"b.test.zone\"\n    acl: xfr\n    notify: vps\n    \
         catalog-role: member\n    catalog-zone: {CATALOG}.\n"
    );
    assert!(conf.contains(&member_b), "{conf}");
    std::fs::write(&conf_path, conf.replace(&member_b, "")).expect("rewrite knot.conf");
    let out = knot.control(&["reload"]);
    assert!(!out.to_lowercase().contains("error"), "knotc reload: {out}");
    wait(
        "dnsd stops serving b.test",
        || secondary.soa_serial("b.test.").is_none(),
        &logs,
    );
    assert_eq!(secondary.soa_serial("a.test."), Some(1), "{}", logs());
}
