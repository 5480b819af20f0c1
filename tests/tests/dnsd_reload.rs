//! Reloads of the real dnsd binary: an operator edits, breaks, fixes, renames and
//! deletes zone files, checks out an older git commit, changes fifty zones at once, and
//! restarts dnsd; every change is seen over DNS with a serial that only goes up.
//!
//! Input: zone files in a temporary folder (a real git repository in one test).
//! Output: dnsd's answers on 127.0.0.1 (polled until they change, never a fixed sleep)
//! and its log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::dns::{Normalized, Query, normalize, udp_exchange};
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::servers::free_port;

const A: u16 = 1;
const SOA: u16 = 6;
const REFUSED: u16 = 5;
/// Bound on every wait (a failure guard, not a timing requirement).
const PATIENCE: Duration = Duration::from_secs(30);

/// A dnsd serving `DIR/zones` with its state in `DIR/state`, logging to `DIR/dnsd.log`.
struct Dnsd {
    addr: SocketAddr,
    dir: PathBuf,
    guard: ProcessGuard,
}

impl Dnsd {
    fn start(dir: &Path) -> Dnsd {
        Self::start_with(dir, "")
    }

    /// Starts dnsd with `extra` appended to its configuration file.
    fn start_with(dir: &Path, extra: &str) -> Dnsd {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.join("dnsd.toml");
        std::fs::write(
            &config,
            format!(
                "listen = [\"{addr}\"]\nzones-dir = \"{}\"\nstate-dir = \"{}\"\nlog-level = \"info\"\n{extra}",
                dir.join("zones").display(),
                dir.join("state").display()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dnsd.log"))
            .unwrap();
        let mut cmd = Command::new(netfabric_tests::bins::path("dnsd"));
        cmd.arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let guard = ProcessGuard::spawn("dnsd", &mut cmd);
        let mut dnsd = Dnsd {
            addr,
            dir: dir.to_path_buf(),
            guard,
        };
        dnsd.wait_for("dnsd to answer", |d| d.ask(".", SOA).is_some());
        dnsd
    }

    fn ask(&self, name: &str, qtype: u16) -> Option<Normalized> {
        let query = Query::new(name, qtype).to_bytes();
        udp_exchange(self.addr, &query, Duration::from_millis(500)).and_then(|r| normalize(&r).ok())
    }

    /// The addresses of `name`, or None if the answer is not NOERROR.
    fn addresses(&self, name: &str) -> Option<Vec<String>> {
        let r = self.ask(name, A)?;
        (r.rcode == 0).then(|| r.answer.values().flatten().cloned().collect())
    }

    fn serial(&self, zone: &str) -> Option<u32> {
        let r = self.ask(zone, SOA)?;
        let rdata = r.answer.values().flatten().next()?;
        rdata.split_whitespace().nth(2)?.parse().ok()
    }

    fn rcode(&self, name: &str) -> Option<u16> {
        self.ask(name, A).map(|r| r.rcode)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dnsd.log")).unwrap_or_default()
    }

    /// Polls `check` until it holds; fails with the log after [`PATIENCE`].
    fn wait_for(&mut self, what: &str, check: impl Fn(&Dnsd) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if check(self) {
                return start.elapsed();
            }
            if let Some(status) = self.guard.try_wait() {
                panic!("dnsd exited ({status}) waiting for {what}:\n{}", self.log());
            }
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) {
        self.guard.terminate(Duration::from_secs(10));
    }
}

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

fn setup() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nf-reload-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) {
    // As editors do: a temporary file renamed over the zone file.
    let tmp = dir.join("zones").join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("zones").join(file)).unwrap();
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
    let dir = setup();
    let d = dir.path();
    write(d, "shop.test.zone", &zone_text("198.51.100.1", 1));
    let mut dnsd = Dnsd::start(d);
    assert_eq!(
        dnsd.addresses("www.shop.test."),
        Some(vec!["198.51.100.1".into()])
    );
    let first = dnsd.serial("shop.test.").unwrap();

    // Edit, serial untouched in the file: new answer, higher serial.
    write(d, "shop.test.zone", &zone_text("198.51.100.2", 1));
    let latency = dnsd.wait_for("the edit", |d| {
        d.addresses("www.shop.test.") == Some(vec!["198.51.100.2".into()])
    });
    eprintln!("edit served after {latency:?}");
    let edited = dnsd.serial("shop.test.").unwrap();
    assert!(edited > first, "serial {first} -> {edited}");
    dnsd.wait_for("the change summary", |d| {
        d.log()
            .contains(&format!("serial={first}→{edited} removed=2 added=2"))
    });

    // Break it: the old data keeps being served, the error names file and line.
    let broken = zone_text("198.51.100.3", 1) + "mail IN A 300.1.2.3\n";
    write(d, "shop.test.zone", &broken);
    dnsd.wait_for("the error with file:line", |d| {
        d.log().contains("shop.test.zone:6:")
    });
    assert_eq!(
        dnsd.addresses("www.shop.test."),
        Some(vec!["198.51.100.2".into()])
    );
    assert_eq!(dnsd.serial("shop.test."), Some(edited));

    // Fix it.
    write(d, "shop.test.zone", &zone_text("198.51.100.4", 1));
    dnsd.wait_for("the fix", |d| {
        d.addresses("www.shop.test.") == Some(vec!["198.51.100.4".into()])
    });
    assert!(dnsd.serial("shop.test.").unwrap() > edited);

    // Rename: the zone follows the file name.
    std::fs::rename(
        d.join("zones/shop.test.zone"),
        d.join("zones/store.test.zone"),
    )
    .unwrap();
    dnsd.wait_for("the rename", |d| {
        d.addresses("www.store.test.") == Some(vec!["198.51.100.4".into()])
            && d.rcode("www.shop.test.") == Some(REFUSED)
    });
    assert!(dnsd.log().contains("zone removed"));

    // Delete: the zone is gone.
    std::fs::remove_file(d.join("zones/store.test.zone")).unwrap();
    dnsd.wait_for("the deletion", |d| {
        d.rcode("www.store.test.") == Some(REFUSED)
    });
    dnsd.stop();
}

#[test]
fn git_checkout_of_an_older_commit_changes_fifty_zones_with_higher_serials() {
    let dir = setup();
    let d = dir.path();
    let zones = d.join("zones");
    let names: Vec<String> = (0..50).map(|i| format!("z{i}.test")).collect();
    git(&zones, &["init", "-q"]);
    for name in &names {
        write(d, &format!("{name}.zone"), &zone_text("198.51.100.1", 1));
    }
    git(&zones, &["add", "-A"]);
    git(&zones, &["commit", "-q", "-m", "one"]);
    let older = git(&zones, &["rev-parse", "HEAD"]);
    for name in &names {
        // The serial in the file goes up in the newer commit.
        write(d, &format!("{name}.zone"), &zone_text("198.51.100.2", 2));
    }
    git(&zones, &["commit", "-q", "-a", "-m", "two"]);

    let mut dnsd = Dnsd::start(d);
    let before: Vec<u32> = names
        .iter()
        .map(|n| dnsd.serial(&format!("{n}.")).unwrap())
        .collect();
    assert_eq!(
        dnsd.addresses("www.z7.test."),
        Some(vec!["198.51.100.2".into()])
    );

    git(&zones, &["checkout", "-q", &older]);
    let latency = dnsd.wait_for("all fifty zones", |d| {
        names
            .iter()
            .all(|n| d.addresses(&format!("www.{n}.")) == Some(vec!["198.51.100.1".into()]))
    });
    eprintln!("checkout of 50 zones served after {latency:?}");
    for (name, before) in names.iter().zip(before) {
        let after = dnsd.serial(&format!("{name}.")).unwrap();
        assert!(
            after > before,
            "{name}: serial {before} -> {after} after checking out the older commit"
        );
    }
    dnsd.stop();
}

#[test]
fn restarts_never_lower_a_serial_and_keep_the_journal() {
    let dir = setup();
    let d = dir.path();
    write(d, "home.test.zone", &zone_text("198.51.100.1", 1));
    let mut dnsd = Dnsd::start(d);
    write(d, "home.test.zone", &zone_text("198.51.100.2", 1));
    dnsd.wait_for("the edit", |d| {
        d.addresses("www.home.test.") == Some(vec!["198.51.100.2".into()])
    });
    let served = dnsd.serial("home.test.").unwrap();
    dnsd.stop();

    let mut dnsd = Dnsd::start(d);
    dnsd.wait_for("the zone", |d| d.serial("home.test.").is_some());
    assert_eq!(
        dnsd.serial("home.test."),
        Some(served),
        "unchanged zone, same serial"
    );
    dnsd.wait_for("the zone restored from its image and journal", |d| {
        d.log().contains("zone restored from the state folder")
            && d.log().contains(&format!("serial={served} replayed=1"))
    });
    dnsd.stop();

    // Back to the first version while dnsd is stopped: same content as a served
    // version, lower file serial; the serial still goes up.
    write(d, "home.test.zone", &zone_text("198.51.100.1", 0));
    let mut dnsd = Dnsd::start(d);
    dnsd.wait_for("the zone", |d| d.serial("home.test.").is_some());
    assert_eq!(
        dnsd.addresses("www.home.test."),
        Some(vec!["198.51.100.1".into()])
    );
    let restarted = dnsd.serial("home.test.").unwrap();
    assert!(
        restarted > served,
        "serial {served} -> {restarted} across the restart"
    );
    dnsd.stop();
}

/// The metrics endpoint's text, or "" when it does not answer.
fn scrape(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = conn.read_to_string(&mut response);
    response
}

fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn sighup_reloads_and_metrics_count_reloads_and_errors() {
    let dir = setup();
    let d = dir.path();
    write(d, "hup.test.zone", &zone_text("198.51.100.1", 1));
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut dnsd = Dnsd::start_with(d, &format!("metrics = \"{metrics}\"\n"));
    let serial = dnsd.serial("hup.test.").unwrap();
    let reloads = "dnsd_zone_reloads_total{zone=\"hup.test.\"}";
    let errors = "dnsd_zone_reload_errors_total{zone=\"hup.test.\"}";
    let served = "dnsd_zone_served_serial{zone=\"hup.test.\"}";
    dnsd.wait_for("the first load counted", |_| {
        metric(&scrape(metrics), reloads) == Some(1)
    });
    assert_eq!(metric(&scrape(metrics), served), Some(u64::from(serial)));

    dnsd.guard.signal(libc::SIGHUP);
    dnsd.wait_for("SIGHUP's reload", |_| {
        metric(&scrape(metrics), reloads) == Some(2)
    });
    assert_eq!(
        dnsd.serial("hup.test."),
        Some(serial),
        "nothing changed, same serial"
    );

    write(
        d,
        "hup.test.zone",
        &(zone_text("198.51.100.2", 1) + "bad IN A 1.2.3\n"),
    );
    dnsd.wait_for("the error counted", |_| {
        metric(&scrape(metrics), errors) == Some(1)
    });
    assert_eq!(
        dnsd.addresses("www.hup.test."),
        Some(vec!["198.51.100.1".into()])
    );
    let changes = "dnsd_zone_changes_total{zone=\"hup.test.\"}";
    assert_eq!(metric(&scrape(metrics), changes), Some(0));
    write(d, "hup.test.zone", &zone_text("198.51.100.2", 1));
    dnsd.wait_for("the change counted", |_| {
        metric(&scrape(metrics), changes) == Some(1)
    });
    dnsd.stop();
}
