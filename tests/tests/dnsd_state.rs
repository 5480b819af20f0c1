//! dnsd's state folder as careless operators treat it (issue 12, points 1–3): a folder
//! dnsd cannot write, a disk that fills up while serving, journal, image or serials
//! lost while dnsd is stopped, and two dnsd started on one folder.
//!
//! Input: the real binary, its state folder damaged, filled (a tmpfs of its own) or
//! shared. Output: what a user sees — dnsd's answers (polled until they change, never
//! a fixed deadline), its exit status and messages, its metrics.

use std::io::Write;
use std::net::SocketAddr;

use netfabric_tests::dnsd::{Dnsd, PATIENCE, is_addr, www_zone as zone, zone_metric};
use netfabric_tests::servers::free_port;

/// The serial `zone` serves, None when it does not answer NOERROR with its SOA.
fn serial(dnsd: &Dnsd, zone: &str) -> Option<u32> {
    dnsd.soa_serial(zone)
}

//------------ The state folder (points 1–3) ----------------------------------------

/// Point 1: a service user whose working directory is `/`-like (not writable) gets
/// the default, relative state folder: dnsd used to serve REFUSED for every zone; it
/// now exits 1 with one message naming the folder, the user and the `state-dir` fix.
#[test]
fn an_unwritable_state_folder_stops_the_start_with_the_fix() {
    let dir = tempfile::Builder::new()
        .prefix("nf-watch-ro-")
        .tempdir()
        .expect("temporary folder");
    let root = dir.path();
    let zones = root.join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(
        zones.join("ro.test.zone"),
        zone("ro.test", "198.51.100.7", ""),
    )
    .unwrap();
    // Readable to `nobody`, writable only by root (as `/` is).
    let cwd = root.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    for path in [root, zones.as_path(), cwd.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // As `nobody` (setpriv, the fixture's copy of the binary), from that folder.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let zones = zones.display().to_string();
    let (status, text) = Dnsd::builder()
        .user(65534, 65534, &[])
        .as_is(
            &cwd,
            &["--listen", &addr.to_string(), "--zones", &zones],
            addr,
            "ro.test",
        )
        .run_to_exit();
    assert!(
        status.is_some_and(|s| s.code() == Some(1)),
        "dnsd must stop (status 1) with a state folder it cannot write; got {status:?}:\n{text}"
    );
    let state = cwd.join(".dnsd-state");
    for needed in [
        format!("cannot use the state folder {}", state.display()),
        "uid 65534".to_string(),
        "set `state-dir`".to_string(),
        "relative to the working directory".to_string(),
    ] {
        assert!(text.contains(&needed), "no {needed:?} in:\n{text}");
    }
}

/// Point 1: a full disk while serving. A change that cannot be made durable is not
/// served, is reported (log, `dnsd_zone_unsaved`) and is applied by itself once space
/// returns — no SIGHUP, no further edit. The old build waited for a SIGHUP.
#[test]
fn a_full_disk_is_retried_when_space_returns() {
    let mut dnsd = Dnsd::builder()
        .zone("full.test", &zone("full.test", "198.51.100.1", ""))
        .state_tmpfs(512)
        .metrics()
        .start();
    let before = serial(&dnsd, "full.test").expect("serial");
    // Fill the state folder (dnsd's tmpfs) to the last byte.
    let filler = dnsd.state_dir().join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler in dnsd's state folder");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
        let _ = f.sync_all();
    }
    // A change larger than a page: its journal entry needs new blocks.
    let many: String = (0..300)
        .map(|i| format!("t{i} TXT \"{}\"\n", "x".repeat(60)))
        .collect();
    std::fs::write(
        dnsd.zones_dir().join("full.test.zone"),
        zone("full.test", "198.51.100.2", &many),
    )
    .unwrap();
    dnsd.wait_for("the unsaved change to be reported", |d| {
        d.log().contains("cannot be saved in the state folder")
            || d.log().contains("No space left on device")
    });
    assert!(
        is_addr(&dnsd, "www.full.test.", "198.51.100.1"),
        "a change that is not durable must not be served\n{}",
        dnsd.log()
    );
    assert_eq!(serial(&dnsd, "full.test"), Some(before));
    dnsd.wait_for("dnsd_zone_unsaved = 1", |d| {
        zone_metric(d, "dnsd_zone_unsaved", "full.test") == 1
    });
    std::fs::remove_file(&filler).expect("free the space");
    dnsd.wait_for("the change, once space returns", |d| {
        is_addr(d, "www.full.test.", "198.51.100.2")
    });
    assert_eq!(serial(&dnsd, "full.test"), Some(before + 1));
    dnsd.wait_for("dnsd_zone_unsaved = 0", |d| {
        zone_metric(d, "dnsd_zone_unsaved", "full.test") == 0
    });
}

/// Point 2: the state folder damaged while dnsd is stopped — the zone's journal and
/// image deleted (only `serials` left), then `serials` deleted (journal and image
/// left). The served serial never goes below the highest served before, and the log
/// says where it was recovered from. The old build never wrote `serials` and
/// restarted at the zone file's first serial.
#[test]
fn lost_state_files_never_lower_the_serial() {
    let mut dnsd = Dnsd::builder()
        .zone("floor.test", &zone("floor.test", "198.51.100.0", ""))
        .start();
    let file = dnsd.zones_dir().join("floor.test.zone");
    for i in 1..=5 {
        let want = format!("198.51.100.{i}");
        std::fs::write(&file, zone("floor.test", &want, "")).unwrap();
        dnsd.wait_for("the edit", |d| is_addr(d, "www.floor.test.", &want));
    }
    let highest = serial(&dnsd, "floor.test").expect("serial");
    let state = dnsd.state_dir();
    let status = dnsd.terminate(PATIENCE);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    for ext in ["journal", "image"] {
        std::fs::remove_file(state.join(format!("floor.test.{ext}")))
            .unwrap_or_else(|e| panic!("floor.test.{ext}: {e}"));
    }
    dnsd.restart();
    let after = serial(&dnsd, "floor.test").expect("serial after the restart");
    assert!(
        after > highest,
        "journal and image lost: served {after}, but {highest} was served before\n{}",
        dnsd.log()
    );
    assert!(
        dnsd.log().contains("is in the serials file"),
        "the log must say where the serial was recovered from\n{}",
        dnsd.log()
    );
    assert!(is_addr(&dnsd, "www.floor.test.", "198.51.100.5"));

    // Now the serials file alone.
    let highest = after;
    let status = dnsd.terminate(PATIENCE);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    std::fs::remove_file(state.join("serials")).expect("serials file");
    dnsd.restart();
    let after = serial(&dnsd, "floor.test").expect("serial after the restart");
    assert!(
        after >= highest,
        "serials lost: {after} < {highest}\n{}",
        dnsd.log()
    );
    assert!(is_addr(&dnsd, "www.floor.test.", "198.51.100.5"));
}

/// Point 3: a second dnsd on the same state folder (another port) used to run and
/// overwrite the first's journals; it now stops at once and names the first's PID,
/// and the first keeps serving.
#[test]
fn a_second_dnsd_on_one_state_folder_is_refused_and_names_the_first() {
    let mut first = Dnsd::builder()
        .zone("lock.test", &zone("lock.test", "198.51.100.1", ""))
        .start();
    // The second, as a user would start it in the first's folder (the default state
    // folder, .dnsd-state, is relative to it), on another address.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let zones = first.zones_dir().display().to_string();
    let (status, text) = Dnsd::builder()
        .as_is(
            first.dir(),
            &["--listen", &addr.to_string(), "--zones", &zones],
            addr,
            "lock.test",
        )
        .run_to_exit();
    assert!(
        status.is_some_and(|s| s.code() == Some(1)),
        "the second dnsd must stop; got {status:?}:\n{text}"
    );
    assert!(
        text.contains(&format!("in use by another dnsd (pid {})", first.pid())),
        "the message must name the first dnsd's pid {}:\n{text}",
        first.pid()
    );
    assert!(first.is_running());
    assert!(is_addr(&first, "www.lock.test.", "198.51.100.1"));
}
