//! dnsd → dnsd → dnsd: a primary at "home", its secondary on the "vps" namespace,
//! and a further secondary of that secondary beside it (VPS port 5354). The first
//! transfer is an AXFR at each hop; then each of many edits of the primary's file
//! reaches both by NOTIFY (the SOA's refresh is an hour away) and IXFR: the
//! secondary NOTIFYs onward and serves the IXFR out of the transfers it received.
//! After each edit, and after a burst of edits that come faster than the transfers,
//! the three answer every name of the zone (those of the version before too, gone
//! since) exactly alike (a differential over UDP from the VPS).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use netfabric_tests::dns::Normalized;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::xfr::{HOME, HomeVps, TsigKey, VPS, dig_axfr, zone_text};

const ZONE: &str = "example.net";
const HOSTS: usize = 1000;
/// The further secondary's port on the VPS.
const TERTIARY_PORT: u16 = 5354;

fn key_table(key: &TsigKey) -> String {
    format!(
        "[key.\"{}\"]\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
        key.name, key.algorithm, key.secret
    )
}

/// Writes `text` as the primary's zone file (whole, renamed into place).
fn write_zone(dnsd: &Dnsd, text: &str) {
    let path = dnsd.zones_dir().join(format!("{ZONE}.zone"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write zone");
    std::fs::rename(&tmp, &path).expect("rename zone");
}

/// The questions a version of the zone answers: each (owner, type) of the primary's
/// AXFR as dig prints it (unsigned, from the VPS, which the primary allows).
fn questions(net: &HomeVps) -> BTreeSet<(String, u16)> {
    let text = dig_axfr(&net.vps, SocketAddr::new(HOME, 53), ZONE);
    let set = netfabric_tests::dns::axfr_questions(&text);
    assert!(set.len() > HOSTS, "the primary's AXFR:\n{text}");
    set
}

/// Every question asked of the three servers (each from inside its namespace):
/// fails on the first answer that differs, naming it.
fn same_answers(servers: &[(&str, &Dnsd); 3], questions: &BTreeSet<(String, u16)>, what: &str) {
    for (name, qtype) in questions {
        let answers: Vec<Option<Normalized>> =
            servers.iter().map(|(_, d)| d.ask(name, *qtype)).collect();
        if answers[0].is_none() || answers[1] != answers[0] || answers[2] != answers[0] {
            panic!(
                "{what}: the answers differ at {name} {qtype}:\n{}",
                servers
                    .iter()
                    .zip(&answers)
                    .map(|((who, _), a)| format!("  {who}: {a:?}\n"))
                    .collect::<String>()
            );
        }
    }
}

/// The three servers, named.
fn trio<'a>(p: &'a Dnsd, s: &'a Dnsd, t: &'a Dnsd) -> [(&'static str, &'a Dnsd); 3] {
    [("primary", p), ("secondary", s), ("further", t)]
}

fn counter(dnsd: &Dnsd, prefix: &str, needle: &str) -> u64 {
    dnsd.scrape()
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_secondary_is_the_primary_of_a_further_secondary_through_many_edits() {
    let net = HomeVps::new();
    let key = TsigKey::test("home-vps");
    let home = SocketAddr::new(HOME, 53);
    let vps = SocketAddr::new(VPS, 53);
    let further = SocketAddr::new(VPS, TERTIARY_PORT);
    let mut primary = Dnsd::builder()
        .in_netns(net.home.clone())
        .listen(home)
        .keep_serials()
        .metrics()
        .zone(ZONE, &zone_text(1, HOSTS, 0))
        .config(&format!(
            "{}[xfr]\nallow-transfer = [{{ key = \"home-vps\" }}, {{ from = \"{VPS}\" }}]\n\
             notify = [{{ address = \"{vps}\", key = \"home-vps\" }}]\n",
            key_table(&key)
        ))
        .start();
    let mut secondary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(vps)
        .metrics()
        .probe(ZONE)
        .config(&format!(
            "{}[xfr]\nallow-transfer = [{{ key = \"home-vps\" }}]\n\
             [zone.\"{ZONE}\"]\nprimaries = [{{ address = \"{home}\", key = \"home-vps\" }}]\n\
             notify = [{{ address = \"{further}\", key = \"home-vps\" }}]\n",
            key_table(&key)
        ))
        .start();
    let mut tertiary = Dnsd::builder()
        .in_netns(net.vps.clone())
        .listen(further)
        .metrics()
        .probe(ZONE)
        .config(&format!(
            "{}[zone.\"{ZONE}\"]\nprimaries = [{{ address = \"{vps}\", key = \"home-vps\" }}]\n",
            key_table(&key)
        ))
        .start();
    let logs = |p: &Dnsd, s: &Dnsd, t: &Dnsd| {
        format!(
            "--- primary:\n{}\n--- secondary:\n{}\n--- further:\n{}",
            p.log(),
            s.log(),
            t.log()
        )
    };
    let mut asked = questions(&net);
    same_answers(
        &trio(&primary, &secondary, &tertiary),
        &asked,
        "after the AXFRs",
    );

    // Edits, one at a time: each reaches the further secondary through the first.
    const EDITS: u32 = 10;
    for step in 1..=EDITS {
        let serial = 1 + step;
        write_zone(&primary, &zone_text(serial, HOSTS, step as usize));
        primary.wait_for(&format!("the primary at {serial}"), |d| {
            d.soa_serial(ZONE) == Some(serial)
        });
        tertiary.wait_for(&format!("the further secondary at {serial}"), |d| {
            d.soa_serial(ZONE) == Some(serial)
        });
        // The names of this version and of the one before (now NXDOMAIN or changed).
        let now = questions(&net);
        asked.extend(now.iter().cloned());
        same_answers(
            &trio(&primary, &secondary, &tertiary),
            &asked,
            &format!("after edit {step}"),
        );
        asked = now;
    }
    // A burst: three edits written faster than they travel; the last one wins.
    let last = 1 + EDITS + 3;
    for serial in 2 + EDITS..=last {
        write_zone(&primary, &zone_text(serial, HOSTS, serial as usize));
    }
    tertiary.wait_for(&format!("the further secondary at {last}"), |d| {
        d.soa_serial(ZONE) == Some(last)
    });
    secondary.wait_for("the secondary at the last serial", |d| {
        d.soa_serial(ZONE) == Some(last)
    });
    let now = questions(&net);
    asked.extend(now.iter().cloned());
    same_answers(
        &trio(&primary, &secondary, &tertiary),
        &asked,
        "after the burst",
    );

    // Every hop after the first was an IXFR, announced by NOTIFY: none fell back to
    // AXFR, and the secondary served the further one's IXFRs from what it received.
    let all = logs(&primary, &secondary, &tertiary);
    for (who, dnsd) in [("secondary", &secondary), ("further", &tertiary)] {
        assert_eq!(
            counter(dnsd, "dnsd_xfr_in_total{", "type=\"axfr\",result=\"ok\""),
            1,
            "{who}: one AXFR in\n{all}"
        );
        let ixfrs = counter(dnsd, "dnsd_xfr_in_total{", "type=\"ixfr\",result=\"ok\"");
        assert!(ixfrs > u64::from(EDITS), "{who}: {ixfrs} IXFRs in\n{all}");
        let notified = counter(dnsd, "dnsd_notify_in_total{", "result=\"accepted\"");
        assert!(
            notified > u64::from(EDITS),
            "{who}: {notified} NOTIFY in\n{all}"
        );
    }
    let served = counter(
        &secondary,
        "dnsd_xfr_out_total{",
        "type=\"ixfr\",result=\"ok\"",
    );
    assert!(
        served > u64::from(EDITS),
        "the secondary served {served} IXFRs\n{all}"
    );
    let acknowledged = counter(
        &secondary,
        "dnsd_notify_out_total{",
        "result=\"acknowledged\"",
    );
    assert!(
        acknowledged > u64::from(EDITS),
        "the secondary's NOTIFY onward: {acknowledged} acknowledged\n{all}"
    );
    assert!(tertiary.log().contains("op=\"ixfr\""), "{}", tertiary.log());
}
