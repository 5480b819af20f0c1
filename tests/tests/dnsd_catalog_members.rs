//! Catalog members beyond add and remove (RFC 9432), dnsd at "home" and dnsd on the
//! "vps" namespace:
//! - group properties (§4.4.2): the primary's catalog gives a.test the group of its
//!   `catalog-group`; the consumer takes that member's settings from its
//!   `[catalog-group."special"]` template (another primary port), and those of the
//!   member without a group from the catalog's.
//! - member reset and change of ownership (§5.5, §5.6), with catalogs written by hand
//!   (zone files the primary serves as any zone): a member whose ID changes is
//!   dropped and transferred again; listed by a second catalog, it stays with the
//!   first until that one names the second with `coo`, then moves, also when the
//!   second listed it first (and is read before the first: cat-a before cat-b); the
//!   first catalog dropping it then leaves it served.

use std::net::SocketAddr;

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{HOME, HomeVps, TsigKey, VPS};
use netfabric_tests::xfr_sighup::{PROBE_ZONE, key_table, wait};

fn zone(name: &str, serial: u32) -> String {
    format!(
        "$ORIGIN {name}.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
         @ NS ns1\nns1 A 198.18.0.1\nwww A 198.51.100.{serial}\n"
    )
}

fn write_zone(dnsd: &Dnsd, name: &str, text: &str) {
    let dir = dnsd.zones_dir();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, dir.join(format!("{name}.zone"))).expect("rename zone");
}

/// The lines of `log` that say `what` of zone `zone` (as `zone=NAME.` or
/// `member=NAME.`).
fn said(log: &str, what: &str, name: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(what) && l.contains(name))
        .count()
}

#[test]
fn a_member_group_picks_the_consumer_s_template() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .listen(SocketAddr::new(HOME, 5353))
        .probe("a.test")
        .zone("a.test", &zone("a.test", 1))
        .zone("b.test", &zone("b.test", 2))
        .config(&format!(
            "{}[xfr]\ncatalog = \"catalog.invalid\"\n\
             allow-transfer = [{{ key = \"{k}\" }}]\n\
             notify = [{{ address = \"198.18.0.2:53\", key = \"{k}\" }}]\n\
             [zone.\"a.test\"]\nserial = \"keep\"\ncatalog-group = \"special\"\n\
             [zone.\"b.test\"]\nserial = \"keep\"\n",
            key_table(&key),
            k = key.name
        ))
        .start();
    let secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&format!(
            "{}[zone.\"catalog.invalid\"]\ncatalog = true\n\
             primaries = [{{ address = \"198.18.0.1:53\", key = \"{k}\" }}]\n\
             [catalog-group.\"special\"]\n\
             primaries = [{{ address = \"198.18.0.1:5353\", key = \"{k}\" }}]\n",
            key_table(&key),
            k = key.name
        ))
        .start();
    let logs = || {
        format!(
            "--- primary:\n{}\n--- secondary:\n{}",
            primary.log(),
            secondary.log()
        )
    };
    wait(
        "both members served",
        || secondary.soa_serial("a.test.") == Some(1) && secondary.soa_serial("b.test.") == Some(2),
        &logs,
    );
    // (A transfer is logged once the version it brings is served.)
    wait(
        "a.test (group \"special\") from the template's primary, b.test from the catalog's",
        || {
            let log = secondary.log();
            said(&log, "transfer in", "zone=a.test. remote=198.18.0.1:5353") >= 1
                && said(&log, "transfer in", "zone=b.test. remote=198.18.0.1:53 ") >= 1
        },
        &logs,
    );
    assert_eq!(
        said(
            &secondary.log(),
            "transfer in",
            "zone=a.test. remote=198.18.0.1:53 "
        ),
        0,
        "{}",
        logs()
    );
}

/// A catalog written by hand: `members` are (zone, ID, coo target).
fn catalog(name: &str, serial: u32, members: &[(&str, &str, Option<&str>)]) -> String {
    let mut text = format!(
        "$ORIGIN {name}.\n$TTL 0\n@ SOA invalid. invalid. {serial} 3600 600 86400 0\n\
         @ NS invalid.\nversion TXT \"2\"\n"
    );
    for (zone, id, coo) in members {
        text.push_str(&format!("{id}.zones PTR {zone}.\n"));
        if let Some(to) = coo {
            text.push_str(&format!("coo.{id}.zones PTR {to}.\n"));
        }
    }
    text
}

#[test]
fn a_member_is_reset_by_a_new_id_and_moves_between_catalogs_with_coo() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(SocketAddr::new(HOME, 53))
        .keep_serials()
        .probe("m.test")
        .zone("m.test", &zone("m.test", 1))
        .zone("n.test", &zone("n.test", 2))
        .zone(
            "cat-b.invalid",
            &catalog("cat-b.invalid", 1, &[("m.test", "one", None)]),
        )
        .zone("cat-a.invalid", &catalog("cat-a.invalid", 1, &[]))
        .config(&format!(
            "{}[xfr]\nallow-transfer = [{{ key = \"{k}\" }}]\n\
             notify = [{{ address = \"198.18.0.2:53\", key = \"{k}\" }}]\n",
            key_table(&key),
            k = key.name
        ))
        .start();
    let mut consumed = String::new();
    for cat in ["cat-b.invalid", "cat-a.invalid"] {
        consumed.push_str(&format!(
            "[zone.\"{cat}\"]\ncatalog = true\n\
             primaries = [{{ address = \"198.18.0.1:53\", key = \"{}\" }}]\n",
            key.name
        ));
    }
    let secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(SocketAddr::new(VPS, 53))
        .probe("probe.test")
        .zone("probe.test", PROBE_ZONE)
        .config(&format!("{}{consumed}", key_table(&key)))
        .start();
    let logs = || {
        format!(
            "--- primary:\n{}\n--- secondary:\n{}",
            primary.log(),
            secondary.log()
        )
    };
    let transfers = || said(&secondary.log(), "transfer in", "zone=m.test.");
    let resets = |cat: &str| {
        said(
            &secondary.log(),
            "member zone reset (RFC 9432 §5.6)",
            &format!("zone={cat}. member=m.test."),
        )
    };
    wait(
        "m.test served from cat-b",
        || secondary.soa_serial("m.test.") == Some(1),
        &logs,
    );
    wait("m.test's transfer logged", || transfers() == 1, &logs);

    // §5.6: a new ID resets the member: dropped, transferred again.
    write_zone(
        &primary,
        "cat-b.invalid",
        &catalog("cat-b.invalid", 2, &[("m.test", "two", None)]),
    );
    wait("m.test reset", || resets("cat-b.invalid") == 1, &logs);
    wait(
        "m.test transferred again and served",
        || transfers() == 2 && secondary.soa_serial("m.test.") == Some(1),
        &logs,
    );

    // §5.5: cat-a lists it too, but cat-b does not hand it over: it stays cat-b's.
    write_zone(
        &primary,
        "cat-a.invalid",
        &catalog("cat-a.invalid", 2, &[("m.test", "x", None)]),
    );
    wait(
        "cat-a's claim ignored",
        || {
            said(
                &secondary.log(),
                "member belongs to another catalog",
                "zone=cat-a.invalid. member=m.test.",
            ) == 1
        },
        &logs,
    );
    assert_eq!(resets("cat-a.invalid"), 0, "{}", logs());
    // cat-b names cat-a with coo: m.test moves (cat-a listed it first).
    write_zone(
        &primary,
        "cat-b.invalid",
        &catalog(
            "cat-b.invalid",
            3,
            &[("m.test", "two", Some("cat-a.invalid"))],
        ),
    );
    wait(
        "m.test taken over by cat-a",
        || resets("cat-a.invalid") == 1,
        &logs,
    );
    wait(
        "m.test served from cat-a",
        || transfers() == 3 && secondary.soa_serial("m.test.") == Some(1),
        &logs,
    );
    // cat-b drops it: still served, cat-a's. (cat-a then lists n.test too: once
    // n.test is served, the consumer has read cat-b's serial 4, served before.)
    write_zone(&primary, "cat-b.invalid", &catalog("cat-b.invalid", 4, &[]));
    wait(
        "cat-b at serial 4 on the VPS",
        || secondary.soa_serial("cat-b.invalid.") == Some(4),
        &logs,
    );
    write_zone(
        &primary,
        "cat-a.invalid",
        &catalog(
            "cat-a.invalid",
            3,
            &[("m.test", "x", None), ("n.test", "y", None)],
        ),
    );
    wait(
        "n.test served from cat-a",
        || secondary.soa_serial("n.test.") == Some(2),
        &logs,
    );
    assert_eq!(secondary.soa_serial("m.test."), Some(1), "{}", logs());
    assert_eq!(
        said(&secondary.log(), "left the catalog", "member=m.test."),
        0,
        "{}",
        logs()
    );
}
