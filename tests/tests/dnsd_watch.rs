//! dnsd's state folder and zone watcher as careless operators and real deployments
//! treat them (issue 12, points 1–3 and 8–11; issue 7 point 6 and issue 16 point 6):
//! an unwritable or full state folder, lost serials, two dnsd on one folder, files
//! written slowly, git checkouts, a log file beside the zones, symlink-swap deploys,
//! files outside the folder and a Kubernetes ConfigMap's `..data` swap.
//!
//! Input: zone files in the fixture's folder, changed as the tools named do it.
//! Output: what a user sees — dnsd's answers (polled until they change, never a fixed
//! deadline), its exit status and messages, its metrics. The pauses between writes
//! give a wrong watcher time to act; nothing asserts how long anything took.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::dns::Normalized;
use netfabric_tests::dnsd::{Dnsd, PATIENCE};
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::servers::free_port;

/// A pause long enough for the old 100 ms debounce to act on a half-written file.
const PAUSE: Duration = Duration::from_millis(300);

/// A zone `origin` whose `www` has `addr`, with `extra` lines.
fn zone(origin: &str, addr: &str, extra: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 198.51.100.1\nwww A {addr}\n{extra}"
    )
}

fn soa_serial(n: &Normalized) -> Option<u32> {
    n.answer
        .iter()
        .find(|(k, _)| k.1 == "SOA")
        .and_then(|(_, v)| v.iter().next())
        .and_then(|soa| soa.split_whitespace().nth(2)?.parse().ok())
}

/// The serial `zone` serves, None when it does not answer NOERROR with its SOA.
fn serial(dnsd: &Dnsd, zone: &str) -> Option<u32> {
    dnsd.ask(&format!("{zone}."), 6)
        .filter(|n| n.rcode == 0)
        .as_ref()
        .and_then(soa_serial)
}

/// The A records of `name`, None unless NOERROR.
fn addr(dnsd: &Dnsd, name: &str) -> Option<Vec<String>> {
    let n = dnsd.ask(name, 1)?;
    (n.rcode == 0).then(|| n.answer.values().flatten().cloned().collect())
}

fn is_addr(dnsd: &Dnsd, name: &str, want: &str) -> bool {
    addr(dnsd, name).is_some_and(|a| a == [want.to_string()])
}

/// A metric of one zone; 0 when absent.
fn zone_metric(dnsd: &Dnsd, series: &str, zone: &str) -> u64 {
    dnsd.metric(&format!("{series}{{zone=\"{zone}.\"}}"))
        .unwrap_or(0)
}

/// Waits for `guard` to exit, up to [`PATIENCE`]; its status, None when it still runs.
fn exit_within_patience(guard: &mut ProcessGuard) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Some(status) = guard.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// dnsd with `args`, its output to `log`, run in `cwd`.
fn spawn_dnsd(
    bin: &Path,
    cwd: &Path,
    args: &[String],
    log: &Path,
    prefix: &[&str],
) -> ProcessGuard {
    let file = std::fs::File::create(log).expect("log file");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file);
    ProcessGuard::spawn("dnsd", &mut cmd)
}

fn listen_args() -> Vec<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    vec!["--listen".into(), addr.to_string()]
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
    let bin = root.join("dnsd");
    std::fs::copy(netfabric_tests::bins::path("dnsd"), &bin).unwrap();
    // Readable to `nobody`, writable only by root (as `/` is).
    let cwd = root.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    for path in [root, zones.as_path(), cwd.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut args = listen_args();
    args.extend(["--zones".into(), zones.display().to_string()]);
    let log = root.join("dnsd.log");
    let mut guard = spawn_dnsd(
        &bin,
        &cwd,
        &args,
        &log,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
    );
    let status = exit_within_patience(&mut guard);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
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
    let mut args = listen_args();
    args.extend(["--zones".into(), first.zones_dir().display().to_string()]);
    let log = first.dir().join("second.log");
    let mut second = spawn_dnsd(
        &netfabric_tests::bins::path("dnsd"),
        first.dir(),
        &args,
        &log,
        &[],
    );
    let status = exit_within_patience(&mut second);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
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
