//! Zone content from a repository is not trusted (issue 12 points 4–7): the real dnsd
//! binary, as `dnsd check` and as the daemon, given `$INCLUDE`s of a FIFO, of
//! `/dev/zero`, of `/proc/self/environ`, an include bomb, control characters and an
//! RRset too large. Each zone fails alone with `file:line`, nothing blocks or grows
//! without bound, and no file content reaches the output but short escaped tokens.
//!
//! Input: zone files written in a temporary folder. Output: `dnsd check`'s exit status
//! and lines, the daemon's answers on 127.0.0.1 and its log.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::bins;
use netfabric_tests::dnsd::{Dnsd, PATIENCE};
use netfabric_tests::process::ProcessGuard;

const HEAD: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 198.51.100.1\n";

/// A zones folder in a temporary folder, with `NAME.zone` files.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        Site { dir }
    }

    fn zones(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    /// Writes zone `name` with the common head and `tail`.
    fn zone(&self, name: &str, tail: &str) -> PathBuf {
        let path = self.zones().join(format!("{name}.zone"));
        std::fs::write(&path, format!("{HEAD}{tail}")).unwrap();
        path
    }

    /// Runs `dnsd check ARGS` in the site's folder with `env` added, waits up to
    /// PATIENCE: (exit status if it exited, stdout and stderr, time taken).
    fn check(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<ExitStatus>, String, Duration) {
        let out_path = self.dir.path().join("check.out");
        let out = std::fs::File::create(&out_path).unwrap();
        let mut cmd = Command::new(bins::path("dnsd"));
        cmd.arg("check")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut guard = ProcessGuard::spawn("dnsd check", &mut cmd);
        let status = loop {
            if let Some(status) = guard.try_wait() {
                break Some(status);
            }
            if started.elapsed() > PATIENCE {
                guard.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let text = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned();
        (status, text, elapsed)
    }
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn check_refuses_a_fifo_include_without_hanging() {
    let site = Site::new();
    mkfifo(&site.zones().join("pipe"));
    site.zone("fifo.test", "$INCLUDE pipe\n");
    site.zone("good.test", "www A 198.51.100.2\n");
    let (status, out, _) = site.check(&["zones"], &[]);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "dnsd check hung or passed:\n{out}"
    );
    assert!(
        out.contains(
            "zones/fifo.test.zone:5: $INCLUDE file zones/pipe is a FIFO, not a regular file"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "only the bad zone fails: {out}");
    // A FIFO named as the zone file itself.
    mkfifo(&site.zones().join("named.test.zone"));
    let (status, out, _) = site.check(&["zones/named.test.zone"], &[]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert_eq!(out.trim(), "zones/named.test.zone: not a regular file");
}

#[test]
fn check_refuses_dev_zero_and_proc_files_without_reading_them() {
    let site = Site::new();
    site.zone("zero.test", "$INCLUDE /dev/zero\n");
    site.zone("environ.test", "$INCLUDE /proc/self/environ\n");
    let secret = "hunter2-do-not-print-me";
    let (status, out, _) = site.check(&["zones"], &[("DNSD_TEST_SECRET", secret)]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert!(!out.contains(secret), "the environment leaked:\n{out}");
    let outside = "is refused: it is outside the zones folder and every folder of [include] dirs";
    assert!(
        out.contains(&format!(
            "zones/zero.test.zone:5: $INCLUDE of /dev/zero {outside}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "zones/environ.test.zone:5: $INCLUDE of /proc/self/environ {outside}"
        )),
        "{out}"
    );

    // A folder the configuration allows is read, but a device there still is not.
    std::fs::write(
        site.dir.path().join("dnsd.toml"),
        "zones-dir = \"zones\"\n[include]\ndirs = [\"/dev\"]\n",
    )
    .unwrap();
    let (status, out, _) = site.check(&["--config", "dnsd.toml", "zones/zero.test.zone"], &[]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert!(
        out.contains("zones/zero.test.zone:5: $INCLUDE file /dev/zero is a character device, not a regular file"),
        "{out}"
    );
}

#[test]
fn check_stops_an_include_bomb_at_the_file_limit() {
    // 15 small files, each including the next four times: 4^14 reads unless bounded.
    let site = Site::new();
    std::fs::create_dir(site.zones().join("bomb")).unwrap();
    for i in 0..15 {
        let body = if i == 14 {
            "x A 198.51.100.9\n".to_string()
        } else {
            format!("$INCLUDE f{}\n", i + 1).repeat(4)
        };
        std::fs::write(site.zones().join(format!("bomb/f{i}")), body).unwrap();
    }
    site.zone("bomb.test", "$INCLUDE bomb/f0\n");
    let (status, out, elapsed) = site.check(&["zones"], &[]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert!(elapsed < PATIENCE);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(": the zone reads more than 1024 files (the zone file and its $INCLUDEs; [include] max-files)"),
        "{out}"
    );
    // The limit is the configuration's.
    std::fs::write(
        site.dir.path().join("dnsd.toml"),
        "zones-dir = \"zones\"\n[include]\nmax-files = 10\n",
    )
    .unwrap();
    let (_, out, _) = site.check(&["--config", "dnsd.toml"], &[]);
    assert!(out.contains("more than 10 files"), "{out}");
}

#[test]
fn check_escapes_control_characters_and_cuts_long_tokens() {
    let site = Site::new();
    let path = site.zones().join("ctl.test.zone");
    let mut text = HEAD.as_bytes().to_vec();
    text.extend_from_slice(b"www A \"198.51.100.1\r\x1b[31m\x00forged\"\n");
    text.extend_from_slice(format!("long BOGUS{} x\n", "Q".repeat(200)).as_bytes());
    std::fs::write(&path, text).unwrap();
    let (status, out, _) = site.check(&["zones"], &[]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    assert_eq!(out.lines().count(), 2, "no forged line: {out:?}");
    assert!(
        out.contains("zones/ctl.test.zone:5: bad A record: bad IPv4 address '198.51.100.1\\013\\027[31m\\000forged'"),
        "{out}"
    );
    assert!(out.contains("unknown record type 'BOGUSQQQ"), "{out}");
    assert!(!out.contains(&"Q".repeat(60)), "long tokens are cut: {out}");
}

#[test]
fn check_names_an_rrset_too_large() {
    let site = Site::new();
    let mut tail = String::new();
    for i in 0..65_536u32 {
        tail.push_str(&format!("big AAAA 2001:db8::{i:x}\n"));
    }
    site.zone("big.test", &tail);
    let (status, out, _) = site.check(&["zones"], &[]);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{out}");
    assert_eq!(
        out.trim(),
        "zones/big.test.zone:65540: the RRset big.big.test. AAAA has 65536 records; an RRset holds at most 65535 (its count is 16 bits on the wire)"
    );
}

#[test]
fn the_daemon_serves_the_other_zones_and_reloads_past_a_fifo() {
    let mut dnsd = Dnsd::builder()
        .zone(
            "a-good.test",
            &format!("$ORIGIN a-good.test.\n{HEAD}www A 198.51.100.2\n"),
        )
        .zone(
            "fifo.test",
            &format!("$ORIGIN fifo.test.\n{HEAD}$INCLUDE pipe\n"),
        )
        .zone(
            "zero.test",
            &format!("$ORIGIN zero.test.\n{HEAD}$INCLUDE /dev/zero\n"),
        )
        .start();
    let zones = dnsd.zones_dir();
    dnsd.wait_for("the /dev/zero include refused", |d| {
        d.log()
            .contains("zero.test.zone:6: $INCLUDE of /dev/zero is refused")
    });
    // The FIFO appears and the zone is reloaded: refused, and the reload thread is free.
    mkfifo(&zones.join("pipe"));
    let fifo_zone = zones.join("fifo.test.zone");
    let text = std::fs::read_to_string(&fifo_zone).unwrap();
    std::fs::write(&fifo_zone, format!("{text}; touched\n")).unwrap();
    dnsd.wait_for("the FIFO refused", |d| {
        d.log().contains("is a FIFO, not a regular file")
    });
    let good = zones.join("a-good.test.zone");
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&good, text.replace("198.51.100.2", "198.51.100.3")).unwrap();
    dnsd.wait_for("the good zone reloaded after it", |d| {
        d.ask("www.a-good.test.", 1)
            .is_some_and(|n| n.answer.values().flatten().any(|a| a == "198.51.100.3"))
    });
    let status = dnsd.terminate(PATIENCE).expect("dnsd exited");
    assert!(status.success(), "{status:?}\n{}", dnsd.log());
}
