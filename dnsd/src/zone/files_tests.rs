//! `$INCLUDE` of what is not a zone file, from a zone that cannot be trusted: FIFOs,
//! devices, files outside the allowed folders, include bombs and oversized files. Each
//! fails the zone alone, at the directive's file and line, and never blocks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::name::Name;
use crate::zone::load::{LoadError, load_zone_with};

const HEAD: &str =
    "$TTL 1h\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n  NS ns1\nns1 A 198.51.100.1\n";

fn apex() -> Name {
    Name::from_text("example.org.", None).unwrap()
}

/// A zones folder with `example.org.zone` holding `HEAD` and `tail`.
fn zone_dir(tail: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.org.zone");
    std::fs::write(&path, format!("{HEAD}{tail}")).unwrap();
    (dir, path)
}

/// The errors of loading `path` with `options`, as lines, relative to `dir`.
fn errors(dir: &Path, path: &Path, options: &LoadOptions) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    match load_zone_with(path, &apex(), options) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(errors) => errors
            .iter()
            .map(|e: &LoadError| e.to_string().replace(&prefix, ""))
            .collect(),
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let (dir, path) = zone_dir("$INCLUDE pipe\n");
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let got = errors(dir.path(), &path, &LoadOptions::default());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        got,
        ["example.org.zone:5: $INCLUDE file pipe is a FIFO, not a regular file"]
    );
}

#[test]
fn devices_are_refused_even_in_an_allowed_folder() {
    let (dir, path) = zone_dir("$INCLUDE /dev/zero\n$INCLUDE /dev/null\n");
    let options = LoadOptions {
        include_dirs: vec!["/dev".into()],
        ..LoadOptions::default()
    };
    assert_eq!(
        errors(dir.path(), &path, &options),
        [
            "example.org.zone:5: $INCLUDE file /dev/zero is a character device, not a regular file",
            "example.org.zone:6: $INCLUDE file /dev/null is a character device, not a regular file",
        ]
    );
}

#[test]
fn files_outside_the_allowed_folders_are_refused() {
    let (dir, path) = zone_dir("$INCLUDE /proc/self/environ\n$INCLUDE link\n");
    // A symbolic link inside the folder that leads out of it is refused too.
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
    let refused = "is refused: it is outside the zones folder and every folder of [include] dirs";
    assert_eq!(
        errors(dir.path(), &path, &LoadOptions::default()),
        [
            format!("example.org.zone:5: $INCLUDE of /proc/self/environ {refused}"),
            format!("example.org.zone:6: $INCLUDE of link {refused}"),
        ]
    );
    // A folder the configuration allows is read, sub-folders included.
    let shared = tempfile::tempdir().unwrap();
    std::fs::create_dir(shared.path().join("hosts")).unwrap();
    std::fs::write(shared.path().join("hosts/web"), "web A 198.51.100.8\n").unwrap();
    std::fs::write(
        &path,
        format!("{HEAD}$INCLUDE {}/hosts/web\n", shared.path().display()),
    )
    .unwrap();
    let options = LoadOptions {
        include_dirs: vec![shared.path().to_path_buf()],
        ..LoadOptions::default()
    };
    assert!(load_zone_with(&path, &apex(), &options).is_ok());
}

#[test]
fn an_include_bomb_stops_at_the_file_limit() {
    // 15 files, each including the next four times: 4^14 reads unless bounded.
    let (dir, path) = zone_dir("$INCLUDE f0\n");
    for i in 0..15 {
        let next = format!("$INCLUDE f{}\n", i + 1).repeat(4);
        let body = if i == 14 {
            "x A 198.51.100.9\n".to_string()
        } else {
            next
        };
        std::fs::write(dir.path().join(format!("f{i}")), body).unwrap();
    }
    let started = Instant::now();
    let got = errors(dir.path(), &path, &LoadOptions::default());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].ends_with(": the zone reads more than 1024 files (the zone file and its $INCLUDEs; [include] max-files)"),
        "{got:?}"
    );
    assert!(
        got[0].starts_with("f"),
        "at the directive's file and line: {got:?}"
    );
}

#[test]
fn depth_files_and_bytes_are_configurable() {
    let (dir, path) = zone_dir("$INCLUDE a\n");
    std::fs::write(dir.path().join("a"), "$INCLUDE b\n").unwrap();
    std::fs::write(dir.path().join("b"), "b A 198.51.100.9\n").unwrap();
    let depth = LoadOptions {
        max_depth: 1,
        ..LoadOptions::default()
    };
    assert_eq!(
        errors(dir.path(), &path, &depth),
        ["a:1: $INCLUDE nested more than 1 deep ([include] max-depth)"]
    );
    let files = LoadOptions {
        max_files: 2,
        ..LoadOptions::default()
    };
    assert_eq!(
        errors(dir.path(), &path, &files),
        [
            "a:1: the zone reads more than 2 files (the zone file and its $INCLUDEs; [include] max-files)"
        ]
    );
    // The zone file fits, `a` does not: the error is at the directive that reads it.
    let max = HEAD.len() + "$INCLUDE a\n".len() + 5;
    let bytes = LoadOptions {
        max_bytes: max as u64,
        ..LoadOptions::default()
    };
    assert_eq!(
        errors(dir.path(), &path, &bytes),
        [format!(
            "example.org.zone:5: the zone's files hold more than {max} octets (with $INCLUDEs and $GENERATE; [include] max-bytes)"
        )]
    );
    // The zone file alone counts too.
    let tiny = LoadOptions {
        max_bytes: 10,
        ..LoadOptions::default()
    };
    assert_eq!(
        errors(dir.path(), &path, &tiny),
        [
            "example.org.zone: the zone's files hold more than 10 octets (with $INCLUDEs and $GENERATE; [include] max-bytes)"
        ]
    );
}

#[test]
fn messages_quote_short_escaped_tokens_only() {
    // A file that is not a zone: every error quotes at most a short token of it, with
    // control characters escaped, so that no line of it reaches a log whole.
    let secret = "PASSWORD=hunter2-very-long-secret-value-that-must-not-leak-whole";
    let (dir, path) = zone_dir("$INCLUDE env\n");
    std::fs::write(
        dir.path().join("env"),
        format!("x {secret}\nforged\ny A\0B 1\nz \x1b[2J\r 1\n"),
    )
    .unwrap();
    let got = errors(dir.path(), &path, &LoadOptions::default());
    for line in &got {
        assert!(!line.contains(secret), "{line}");
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    }
    assert_eq!(
        got,
        [
            "env:1: unknown record type 'PASSWORD=hunter2-very-long-secret-value-...' (write TYPEnnn for others, RFC 3597)",
            "env:2: missing record type",
            "env:3: unknown record type 'A\\000B' (write TYPEnnn for others, RFC 3597)",
            "env:4: unknown record type '\\027[2J' (write TYPEnnn for others, RFC 3597)",
        ]
    );
}
