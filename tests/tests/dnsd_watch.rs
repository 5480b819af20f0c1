//! dnsd's zone watcher as real deployments change zone files (issue 12, points 8–11;
//! issue 7 point 6 and issue 16 point 6): files written slowly, git checkouts, a log
//! file beside the zones, symlink-swap deploys, files outside the folder and a
//! Kubernetes ConfigMap's `..data` swap. The state folder: `dnsd_state.rs`.
//!
//! Input: zone files in the fixture's folder, changed as the tools named do it.
//! Output: what a user sees — dnsd's answers (polled until they change, never a fixed
//! deadline), its log and its metrics. The pauses between writes
//! give a wrong watcher time to act; nothing asserts how long anything took.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::{Dnsd, is_addr, www_zone as zone, zone_metric};

/// A pause long enough for the old 100 ms debounce to act on a half-written file.
const PAUSE: Duration = Duration::from_millis(300);

/// The serial `zone` serves, None when it does not answer NOERROR with its SOA.
fn serial(dnsd: &Dnsd, zone: &str) -> Option<u32> {
    dnsd.soa_serial(zone)
}

//------------ Watching (points 8–11; issue 7 point 6, issue 16 point 6) ------------

/// Point 8, and "one version per burst": a zone file written in four parts with pauses
/// (`generator > zone`, scp, `rsync --inplace`) is served once, whole, with one new
/// serial; names near its end never vanish meanwhile. A file renamed into place is
/// served at once. The old build published each part as a zone with its own serial.
#[test]
fn a_file_still_being_written_is_not_served() {
    let names: String = (0..400).map(|i| format!("n{i} A 198.51.100.9\n")).collect();
    let mut dnsd = Dnsd::builder()
        .zone("slow.test", &zone("slow.test", "198.51.100.1", &names))
        .metrics()
        .start();
    let before = serial(&dnsd, "slow.test").expect("serial");
    let changes = zone_metric(&dnsd, "dnsd_zone_changes_total", "slow.test");
    let text = zone("slow.test", "198.51.100.2", &names);
    let path = dnsd.zones_dir().join("slow.test.zone");
    {
        let mut f = std::fs::File::create(&path).unwrap(); // truncates, as `>` does
        // Four parts that end at line ends, as a generator writes: each part alone
        // is a valid zone, without the names that follow.
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for part in lines.chunks(lines.len() / 4 + 1) {
            f.write_all(part.concat().as_bytes()).unwrap();
            f.flush().unwrap();
            let until = Instant::now() + PAUSE;
            while Instant::now() < until {
                // The last name is in both versions: never NXDOMAIN, never REFUSED.
                assert!(
                    is_addr(&dnsd, "n399.slow.test.", "198.51.100.9"),
                    "a name near the end vanished while the file was written\n{}",
                    dnsd.log()
                );
                assert_eq!(serial(&dnsd, "slow.test"), Some(before), "served mid-write");
            }
        }
    } // closed: now complete
    dnsd.wait_for("the whole file", |d| {
        is_addr(d, "www.slow.test.", "198.51.100.2")
    });
    assert_eq!(
        serial(&dnsd, "slow.test"),
        Some(before + 1),
        "one version per burst"
    );
    assert_eq!(
        zone_metric(&dnsd, "dnsd_zone_changes_total", "slow.test"),
        changes + 1
    );

    // Renamed into place (what editors, git and `rsync` without --inplace do).
    let tmp = dnsd.zones_dir().join(".slow.test.zone.tmp");
    std::fs::write(&tmp, zone("slow.test", "198.51.100.3", &names)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    dnsd.wait_for("the renamed file", |d| {
        is_addr(d, "www.slow.test.", "198.51.100.3")
    });
    assert_eq!(serial(&dnsd, "slow.test"), Some(before + 2));
}

/// Point 9: while git holds `.git/index.lock` the burst waits, and a zone file that
/// git deletes and writes again within it is a change, not a removal. First as git
/// does it, slowly (the lock held by hand across pauses), then a real `git checkout`
/// of 500 zone files: every zone one new version, no zone removed, no error.
#[test]
fn a_git_checkout_is_one_burst_and_rewritten_zones_are_not_removed() {
    const ZONES: usize = 500;
    let mut builder = Dnsd::builder().metrics();
    for i in 0..ZONES {
        builder = builder.zone(
            &format!("g{i}.test"),
            &zone(&format!("g{i}.test"), "198.51.100.1", ""),
        );
    }
    let mut dnsd = builder.start();
    let zones = dnsd.zones_dir();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&zones)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "one"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
    for i in 0..ZONES {
        dnsd.wait_for("every zone served", |d| {
            serial(d, &format!("g{i}.test")).is_some()
        });
    }
    let before: Vec<u32> = (0..ZONES)
        .map(|i| serial(&dnsd, &format!("g{i}.test")).expect("serial"))
        .collect();

    // By hand: lock, delete g0, pause, write it back changed, change g1, unlock.
    let lock = zones.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::remove_file(zones.join("g0.test.zone")).unwrap();
    let until = Instant::now() + PAUSE;
    while Instant::now() < until {
        assert_eq!(
            serial(&dnsd, "g0.test"),
            Some(before[0]),
            "g0.test removed while git held its lock\n{}",
            dnsd.log()
        );
    }
    std::fs::write(
        zones.join("g0.test.zone"),
        zone("g0.test", "198.51.100.2", ""),
    )
    .unwrap();
    std::thread::sleep(PAUSE);
    std::fs::write(
        zones.join("g1.test.zone"),
        zone("g1.test", "198.51.100.2", ""),
    )
    .unwrap();
    std::thread::sleep(PAUSE);
    assert!(
        is_addr(&dnsd, "www.g1.test.", "198.51.100.1"),
        "a change served while git held its lock"
    );
    std::fs::remove_file(&lock).unwrap();
    dnsd.wait_for("the burst after the lock", |d| {
        is_addr(d, "www.g0.test.", "198.51.100.2") && is_addr(d, "www.g1.test.", "198.51.100.2")
    });
    assert_eq!(
        serial(&dnsd, "g0.test"),
        Some(before[0] + 1),
        "g0 changed once"
    );
    assert_eq!(
        serial(&dnsd, "g1.test"),
        Some(before[1] + 1),
        "g1 changed once"
    );
    assert!(!dnsd.log().contains("zone file gone"), "{}", dnsd.log());
    git(&["checkout", "-q", "--", "."]);

    // A real checkout: branch `two` changes every zone.
    git(&["checkout", "-q", "-b", "two"]);
    for i in 0..ZONES {
        std::fs::write(
            zones.join(format!("g{i}.test.zone")),
            zone(&format!("g{i}.test"), "198.51.100.3", ""),
        )
        .unwrap();
    }
    git(&["commit", "-q", "-a", "-m", "two"]);
    git(&["checkout", "-q", "one"]);
    dnsd.wait_for("branch one again", |d| {
        (0..ZONES).all(|i| is_addr(d, &format!("www.g{i}.test."), "198.51.100.1"))
    });
    let mid: Vec<u32> = (0..ZONES)
        .map(|i| serial(&dnsd, &format!("g{i}.test")).expect("serial"))
        .collect();
    let swaps = dnsd.metric("dnsd_zone_set_swaps_total").unwrap_or(0);
    let log_before = dnsd.log().len();
    git(&["checkout", "-q", "two"]);
    dnsd.wait_for("branch two", |d| {
        (0..ZONES).all(|i| is_addr(d, &format!("www.g{i}.test."), "198.51.100.3"))
    });
    for (i, mid) in mid.iter().enumerate() {
        assert_eq!(
            serial(&dnsd, &format!("g{i}.test")),
            Some(mid + 1),
            "g{i}.test: one version for the checkout"
        );
    }
    assert_eq!(
        dnsd.metric("dnsd_zone_set_swaps_total"),
        Some(swaps + 1),
        "a checkout of {ZONES} files is one swap of the zone set"
    );
    let log = dnsd.log()[log_before..].to_string();
    for bad in ["zone file gone", "ERROR", "changed while stopped"] {
        assert!(!log.contains(bad), "{bad:?} during the checkout:\n{log}");
    }
}

/// Point 10: a log file inside the zones folder (`nohup dnsd --zones .`), written
/// again and again, reloads nothing; only the zone edit that follows reloads (once).
/// The old build reloaded every zone for each write.
#[test]
fn a_log_file_beside_the_zones_reloads_nothing() {
    let mut dnsd = Dnsd::builder()
        .zone("log.test", &zone("log.test", "198.51.100.1", ""))
        .metrics()
        .start();
    let reloads = zone_metric(&dnsd, "dnsd_zone_reloads_total", "log.test");
    let log_path = dnsd.zones_dir().join("nohup.out");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    for i in 0..6 {
        writeln!(f, "warning {i}").unwrap();
        std::thread::sleep(PAUSE / 2);
    }
    drop(f);
    std::fs::write(dnsd.dir().join("zones/notes.txt"), "x").unwrap();
    std::fs::create_dir_all(dnsd.zones_dir().join("sub")).unwrap();
    std::fs::write(dnsd.zones_dir().join("sub/other.zone"), "x").unwrap();
    std::fs::write(
        dnsd.zones_dir().join("log.test.zone"),
        zone("log.test", "198.51.100.2", ""),
    )
    .unwrap();
    dnsd.wait_for("the edit", |d| is_addr(d, "www.log.test.", "198.51.100.2"));
    assert_eq!(
        zone_metric(&dnsd, "dnsd_zone_reloads_total", "log.test"),
        reloads + 1,
        "only the zone edit may reload the zone\n{}",
        dnsd.log()
    );
}

/// Point 11: an `$INCLUDE` outside the zones folder, and a zone file that is a link
/// to a file outside it: edits to their targets are served. The old build watched the
/// zones folder only.
#[test]
fn edits_to_files_outside_the_folder_are_followed() {
    let outside = tempfile::Builder::new()
        .prefix("nf-watch-out-")
        .tempdir()
        .unwrap();
    let out = std::fs::canonicalize(outside.path()).unwrap();
    std::fs::write(out.join("hosts.inc"), "inc A 198.51.100.1\n").unwrap();
    let inc = format!("$INCLUDE {}/hosts.inc\n", out.display());
    let mut dnsd = Dnsd::builder()
        .zone("inc.test", &zone("inc.test", "198.51.100.1", &inc))
        .config(&format!("[include]\ndirs = [\"{}\"]\n", out.display()))
        .start();
    assert!(is_addr(&dnsd, "inc.inc.test.", "198.51.100.1"));
    std::fs::write(out.join("hosts.inc"), "inc A 198.51.100.2\n").unwrap();
    dnsd.wait_for("the include's edit", |d| {
        is_addr(d, "inc.inc.test.", "198.51.100.2")
    });

    std::fs::write(
        out.join("ext.test.zone"),
        zone("ext.test", "198.51.100.1", ""),
    )
    .unwrap();
    symlink(
        out.join("ext.test.zone"),
        dnsd.zones_dir().join("ext.test.zone"),
    )
    .unwrap();
    dnsd.wait_for("the linked zone", |d| {
        is_addr(d, "www.ext.test.", "198.51.100.1")
    });
    std::fs::write(
        out.join("ext.test.zone"),
        zone("ext.test", "198.51.100.2", ""),
    )
    .unwrap();
    dnsd.wait_for("the link target's edit", |d| {
        is_addr(d, "www.ext.test.", "198.51.100.2")
    });
}

/// Point 11: a symlink-swap deploy of the zones folder (`zones -> releases/1`, then
/// `releases/2` swapped in by rename): the new release is served, and later edits in
/// it are seen. The old build kept watching the first release.
#[test]
fn a_symlink_swap_of_the_zones_folder_is_followed() {
    let mut dnsd = Dnsd::builder()
        .zone("swap.test", &zone("swap.test", "198.51.100.1", ""))
        .zones_link()
        .start();
    let root = dnsd.dir().to_path_buf();
    let r2 = root.join("releases/2");
    std::fs::create_dir(&r2).unwrap();
    std::fs::write(
        r2.join("swap.test.zone"),
        zone("swap.test", "198.51.100.2", ""),
    )
    .unwrap();
    symlink("releases/2", root.join("zones.new")).unwrap();
    std::fs::rename(root.join("zones.new"), root.join("zones")).unwrap();
    dnsd.wait_for("the new release", |d| {
        is_addr(d, "www.swap.test.", "198.51.100.2")
    });
    std::fs::remove_dir_all(root.join("releases/1")).unwrap();
    std::fs::write(
        r2.join("swap.test.zone"),
        zone("swap.test", "198.51.100.3", ""),
    )
    .unwrap();
    dnsd.wait_for("an edit in the new release", |d| {
        is_addr(d, "www.swap.test.", "198.51.100.3")
    });
}

/// Point 11: a Kubernetes ConfigMap mounted as the zones folder, as kubelet writes it
/// (`NAME -> ..data/NAME`, `..data -> ..TIMESTAMP`, an update swaps `..data` by rename
/// and deletes the old folder): each update is served. The old build ignored it
/// (every name there starts with a dot).
#[test]
fn a_configmap_data_swap_is_followed() {
    let mut dnsd = Dnsd::builder()
        .zone("first.test", &zone("first.test", "198.51.100.1", ""))
        .start();
    let dir = dnsd.zones_dir();
    let update = |stamp: &str, address: &str| {
        let data = dir.join(stamp);
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("cm.test.zone"), zone("cm.test", address, "")).unwrap();
        symlink(stamp, dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    };
    update("..2026_12_06_1", "198.51.100.1");
    symlink("..data/cm.test.zone", dir.join("cm.test.zone")).unwrap();
    dnsd.wait_for("the ConfigMap zone", |d| {
        is_addr(d, "www.cm.test.", "198.51.100.1")
    });
    update("..2026_12_06_2", "198.51.100.2");
    std::fs::remove_dir_all(dir.join("..2026_12_06_1")).unwrap();
    dnsd.wait_for("the ConfigMap update", |d| {
        is_addr(d, "www.cm.test.", "198.51.100.2")
    });
    update("..2026_12_06_3", "198.51.100.3");
    std::fs::remove_dir_all(dir.join("..2026_12_06_2")).unwrap();
    dnsd.wait_for("a second update", |d| {
        is_addr(d, "www.cm.test.", "198.51.100.3")
    });
}
