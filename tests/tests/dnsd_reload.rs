//! Reloads of the real dnsd binary: an operator edits, breaks, fixes, renames and
//! deletes zone files, checks out an older git commit of fifty zones, and restarts
//! dnsd; every change is seen over DNS with a serial that only goes up.
//!
//! Input: zone files in dnsd's folder (a real git repository in one test), through the
//! shared fixture (`netfabric_tests::dnsd`).
//! Output: dnsd's answers (polled until they change, never a fixed sleep), its log and
//! its metrics.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;

const A: u16 = 1;
const REFUSED: u16 = 5;

/// A zone without $ORIGIN: its names are relative to the zone its file name says, so a
/// renamed file is a renamed zone.
fn zone_text(address: &str, serial: u32) -> String {
    format!(
        "$TTL 300\n\
         @ IN SOA ns1 hostmaster {serial} 3600 900 604800 300\n\
         @ IN NS ns1\n\
         ns1 IN A 198.51.100.53\n\
         www IN A {address}\n"
    )
}

/// Writes `text` to `zones/file` as editors do: a temporary file renamed over it.
fn write(zones: &Path, file: &str, text: &str) {
    let tmp = zones.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).expect("write the zone");
    std::fs::rename(&tmp, zones.join(file)).expect("rename the zone into place");
}

fn rcode(dnsd: &Dnsd, name: &str) -> Option<u16> {
    dnsd.ask(name, A).map(|r| r.rcode)
}

fn serial(dnsd: &Dnsd, zone: &str) -> u32 {
    dnsd.soa_serial(zone)
        .unwrap_or_else(|| panic!("no SOA for {zone}\n{}", dnsd.log()))
}

/// `wait_for`, and how long it took (printed by the tests; measured in benches/).
fn timed(dnsd: &mut Dnsd, what: &str, check: impl FnMut(&Dnsd) -> bool) -> Duration {
    let start = Instant::now();
    dnsd.wait_for(what, check);
    start.elapsed()
}

fn git(zones: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(zones)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn edit_break_fix_rename_and_delete() {
    let mut dnsd = Dnsd::builder()
        .zone("shop.test", &zone_text("198.51.100.1", 1))
        .start();
    let zones = dnsd.zones_dir();
    assert_eq!(
        dnsd.addresses("www.shop.test."),
        Some(vec!["198.51.100.1".into()])
    );
    let first = serial(&dnsd, "shop.test");

    // Edit, serial untouched in the file: new answer, higher serial.
    write(&zones, "shop.test.zone", &zone_text("198.51.100.2", 1));
    let latency = timed(&mut dnsd, "the edit", |d| {
        d.addresses("www.shop.test.") == Some(vec!["198.51.100.2".into()])
    });
    eprintln!("edit served after {latency:?}");
    let edited = serial(&dnsd, "shop.test");
    assert!(edited > first, "serial {first} -> {edited}");
    dnsd.wait_for("the change summary", |d| {
        d.log()
            .contains(&format!("serial={first}→{edited} removed=2 added=2"))
    });

    // Break it: the old data keeps being served, the error names file and line.
    let broken = zone_text("198.51.100.3", 1) + "mail IN A 300.1.2.3\n";
    write(&zones, "shop.test.zone", &broken);
    dnsd.wait_for("the error with file:line", |d| {
        d.log().contains("shop.test.zone:6:")
    });
    assert_eq!(
        dnsd.addresses("www.shop.test."),
        Some(vec!["198.51.100.2".into()])
    );
    assert_eq!(dnsd.soa_serial("shop.test"), Some(edited));

    // Fix it.
    write(&zones, "shop.test.zone", &zone_text("198.51.100.4", 1));
    dnsd.wait_for("the fix", |d| {
        d.addresses("www.shop.test.") == Some(vec!["198.51.100.4".into()])
    });
    assert!(serial(&dnsd, "shop.test") > edited);

    // Rename: the zone follows the file name.
    std::fs::rename(zones.join("shop.test.zone"), zones.join("store.test.zone")).expect("rename");
    dnsd.wait_for("the rename", |d| {
        d.addresses("www.store.test.") == Some(vec!["198.51.100.4".into()])
            && rcode(d, "www.shop.test.") == Some(REFUSED)
    });
    assert!(dnsd.log().contains("zone removed"));

    // Delete: the zone is gone.
    std::fs::remove_file(zones.join("store.test.zone")).expect("delete");
    dnsd.wait_for("the deletion", |d| {
        rcode(d, "www.store.test.") == Some(REFUSED)
    });
}

/// Input: fifty zones in git at two commits (the newer raises the file serials), then
/// a checkout of the older one. Output: every zone serves the older content with a
/// serial above the one it served.
#[test]
fn git_checkout_of_an_older_commit_changes_fifty_zones_with_higher_serials() {
    let names: Vec<String> = (0..50).map(|i| format!("z{i}.test")).collect();
    let mut builder = Dnsd::builder();
    for name in &names {
        builder = builder.zone(name, &zone_text("198.51.100.1", 1));
    }
    let mut dnsd = builder.start();
    let zones = dnsd.zones_dir();
    git(&zones, &["init", "-q"]);
    git(&zones, &["add", "-A"]);
    git(&zones, &["commit", "-q", "-m", "one"]);
    let older = git(&zones, &["rev-parse", "HEAD"]);
    for name in &names {
        // The serial in the file goes up in the newer commit.
        write(
            &zones,
            &format!("{name}.zone"),
            &zone_text("198.51.100.2", 2),
        );
    }
    git(&zones, &["commit", "-q", "-a", "-m", "two"]);
    dnsd.wait_for("the newer commit", |d| {
        names
            .iter()
            .all(|n| d.addresses(&format!("www.{n}.")) == Some(vec!["198.51.100.2".into()]))
    });
    let before: Vec<u32> = names.iter().map(|n| serial(&dnsd, n)).collect();

    git(&zones, &["checkout", "-q", &older]);
    let latency = timed(&mut dnsd, "all fifty zones", |d| {
        names
            .iter()
            .all(|n| d.addresses(&format!("www.{n}.")) == Some(vec!["198.51.100.1".into()]))
    });
    eprintln!("checkout of 50 zones served after {latency:?}");
    for (name, before) in names.iter().zip(before) {
        let after = serial(&dnsd, name);
        assert!(
            after > before,
            "{name}: serial {before} -> {after} after checking out the older commit"
        );
    }
}

#[test]
fn restarts_never_lower_a_serial_and_keep_the_journal() {
    let mut dnsd = Dnsd::builder()
        .zone("home.test", &zone_text("198.51.100.1", 1))
        .start();
    let zones = dnsd.zones_dir();
    write(&zones, "home.test.zone", &zone_text("198.51.100.2", 1));
    dnsd.wait_for("the edit", |d| {
        d.addresses("www.home.test.") == Some(vec!["198.51.100.2".into()])
    });
    let served = serial(&dnsd, "home.test");
    dnsd.terminate(Duration::from_secs(10));

    dnsd.restart();
    assert_eq!(
        dnsd.soa_serial("home.test"),
        Some(served),
        "unchanged zone, same serial"
    );
    dnsd.wait_for("the zone restored from its image and journal", |d| {
        d.log().contains("zone restored from the state folder")
            && d.log().contains(&format!("serial={served} replayed=1"))
    });
    dnsd.terminate(Duration::from_secs(10));

    // Back to the first version while dnsd is stopped: same content as a served
    // version, lower file serial; the serial still goes up.
    write(&zones, "home.test.zone", &zone_text("198.51.100.1", 0));
    dnsd.restart();
    dnsd.wait_for("the older content", |d| {
        d.addresses("www.home.test.") == Some(vec!["198.51.100.1".into()])
    });
    let restarted = serial(&dnsd, "home.test");
    assert!(
        restarted > served,
        "serial {served} -> {restarted} across the restart"
    );
}

#[test]
fn sighup_reloads_and_metrics_count_reloads_and_errors() {
    let mut dnsd = Dnsd::builder()
        .zone("hup.test", &zone_text("198.51.100.1", 1))
        .metrics()
        .start();
    let zones = dnsd.zones_dir();
    let serial_before = serial(&dnsd, "hup.test");
    let reloads = "dnsd_zone_reloads_total{zone=\"hup.test.\"}";
    let errors = "dnsd_zone_reload_errors_total{zone=\"hup.test.\"}";
    let served = "dnsd_zone_served_serial{zone=\"hup.test.\"}";
    dnsd.wait_for("the first load counted", |d| d.metric(reloads) == Some(1));
    assert_eq!(dnsd.metric(served), Some(u64::from(serial_before)));

    dnsd.signal(libc::SIGHUP);
    dnsd.wait_for("SIGHUP's reload", |d| d.metric(reloads) == Some(2));
    assert_eq!(
        dnsd.soa_serial("hup.test"),
        Some(serial_before),
        "nothing changed, same serial"
    );

    write(
        &zones,
        "hup.test.zone",
        &(zone_text("198.51.100.2", 1) + "bad IN A 1.2.3\n"),
    );
    dnsd.wait_for("the error counted", |d| d.metric(errors) == Some(1));
    assert_eq!(
        dnsd.addresses("www.hup.test."),
        Some(vec!["198.51.100.1".into()])
    );
    let changes = "dnsd_zone_changes_total{zone=\"hup.test.\"}";
    assert_eq!(dnsd.metric(changes), Some(0));
    write(&zones, "hup.test.zone", &zone_text("198.51.100.2", 1));
    dnsd.wait_for("the change counted", |d| d.metric(changes) == Some(1));
}
