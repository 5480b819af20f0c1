//! The zone files in `zones/`: the examples load cleanly, every file in `zones/bad/`
//! fails (or warns) with the message its header announces, and every file in
//! `zones/tricky/` (valid zones that trip checkers up) loads, with the warnings its
//! header announces. NSD's `nsd-checkzone`, Knot's `kzonecheck` and BIND's
//! `named-checkzone -i local` judge the same files as each header says (a differential
//! test of the checker), and NSD turns the examples into the same RDATA as dnsd, byte
//! for byte.
//!
//! Header of such a file: a description, then `; nsd-checkzone: accepts|rejects`,
//! `; kzonecheck: accepts|rejects`, `; named-checkzone -i local: accepts|rejects`, and
//! for a bad file `; dnsd error: MESSAGE` (or one `dnsd warning:`); a tricky file has
//! `; dnsd: loads` and one `; dnsd warning: MESSAGE` line per warning.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use dnsd::wire::name::Name;
use dnsd::zone::{Zone, load_zone};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `*.zone` files of `dir`, sorted.
fn zone_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    files
}

/// The good zones: the examples and the every-type fixture. Each is `NAME.zone`.
fn good_zones() -> Vec<PathBuf> {
    let mut files = zone_files(&repo_root().join("zones"));
    files.extend(zone_files(&repo_root().join("dnsd/tests/zones")));
    assert!(files.len() >= 3);
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_string()
}

fn apex(zone: &str) -> Name {
    Name::from_text(&format!("{zone}."), None).unwrap()
}

/// The peers' checkers, as the headers name them.
const CHECKERS: [&str; 3] = ["nsd-checkzone", "kzonecheck", "named-checkzone -i local"];

/// Runs a peer's checker; `true` when it accepts the file. Fails the test when the
/// peer is not installed (test.sh installs nsd, knot-dnssecutils and bind9).
fn peer_accepts(checker: &str, zone: &str, path: &Path) -> bool {
    let mut cmd = Command::new(checker.split(' ').next().unwrap_or(checker));
    // NSD and BIND read a relative `$INCLUDE` from the working folder, Knot and dnsd
    // from the including file's: run them in the file's folder.
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        cmd.current_dir(dir);
        let path = Path::new(name);
        match checker {
            "nsd-checkzone" => cmd.arg(zone).arg(path),
            // Local checks only: never a lookup through the machine's resolver
            // (TESTNET.md).
            "named-checkzone -i local" => cmd.args(["-i", "local", zone]).arg(path),
            _ => cmd.arg("-o").arg(zone).arg(path),
        };
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{checker} not runnable ({e}); run ./test.sh to install it"));
    out.status.success()
}

#[test]
fn example_zones_load_without_warnings() {
    for path in good_zones() {
        let loaded = load_zone(&path, &apex(&stem(&path)))
            .unwrap_or_else(|errors| panic!("{}: {errors:#?}", path.display()));
        assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
        assert!(loaded.zone.record_count() > 5);
    }
}

#[test]
fn peers_accept_the_example_zones() {
    for path in good_zones() {
        let zone = stem(&path);
        assert!(
            peer_accepts("nsd-checkzone", &zone, &path),
            "NSD: {}",
            path.display()
        );
        assert!(
            peer_accepts("kzonecheck", &zone, &path),
            "Knot: {}",
            path.display()
        );
        assert!(
            peer_accepts("named-checkzone -i local", &zone, &path),
            "BIND: {}",
            path.display()
        );
    }
}

/// The header line `; KEY: value` of a bad zone file.
fn header<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines()
        .take_while(|l| l.starts_with(';'))
        .find_map(|l| l.strip_prefix(&format!("; {key}: ")))
}

#[test]
fn bad_zones_fail_with_the_message_they_announce() {
    let root = repo_root();
    let files = zone_files(&root.join("zones/bad"));
    assert!(files.len() >= 20);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let relative =
            |e: &dyn std::fmt::Display| e.to_string().replace(&format!("{}/", root.display()), "");
        let result = load_zone(&path, &apex("example.org"));
        match (
            header(&text, "dnsd error"),
            header(&text, "dnsd warning"),
            result,
        ) {
            (Some(want), None, Err(errors)) => {
                let got: Vec<String> = errors.iter().map(|e| relative(e)).collect();
                assert_eq!(got, [want], "{}", path.display());
            }
            (None, Some(want), Ok(loaded)) => {
                let got: Vec<String> = loaded.warnings.iter().map(|e| relative(e)).collect();
                assert_eq!(got, [want], "{}", path.display());
            }
            (_, _, Ok(_)) => panic!("{} loaded", path.display()),
            (_, _, Err(errors)) => panic!("{}: {errors:#?}", path.display()),
        }
    }
}

#[test]
fn tricky_zones_load_with_the_warnings_they_announce() {
    let root = repo_root();
    let files = zone_files(&root.join("zones/tricky"));
    assert!(files.len() >= 5);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(header(&text, "dnsd"), Some("loads"), "{}", path.display());
        let want: Vec<&str> = text
            .lines()
            .take_while(|l| l.starts_with(';'))
            .filter_map(|l| l.strip_prefix("; dnsd warning: "))
            .collect();
        let loaded = load_zone(&path, &apex("example.org"))
            .unwrap_or_else(|errors| panic!("{}: {errors:#?}", path.display()));
        let got: Vec<String> = loaded
            .warnings
            .iter()
            .map(|e| e.to_string().replace(&format!("{}/", root.display()), ""))
            .collect();
        assert_eq!(got, want, "{}", path.display());
    }
}

#[test]
fn peers_judge_the_bad_and_tricky_zones_as_announced() {
    let root = repo_root();
    let mut files = zone_files(&root.join("zones/bad"));
    files.extend(zone_files(&root.join("zones/tricky")));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for checker in CHECKERS {
            let want = header(&text, checker)
                .unwrap_or_else(|| panic!("{}: no '; {checker}:' line", path.display()));
            let got = if peer_accepts(checker, "example.org", &path) {
                "accepts"
            } else {
                "rejects"
            };
            assert_eq!(got, want, "{checker} on {}", path.display());
        }
    }
}

/// The zone as RFC 3597 text: every record `owner TTL IN TYPEnnn \# len hex`.
fn generic_text(zone: &Zone) -> String {
    let mut out = String::new();
    for r in zone.records() {
        write!(
            out,
            "{} {} IN TYPE{} \\# {} ",
            r.owner,
            r.ttl,
            r.rtype.0,
            r.rdata.len()
        )
        .unwrap();
        for b in r.rdata.iter() {
            write!(out, "{b:02x}").unwrap();
        }
        out.push('\n');
    }
    out
}

/// `nsd-checkzone -p` output as sorted lines `owner ttl class type rdata`, owners
/// absolute, whitespace squeezed, multi-line records joined.
fn nsd_print(zone: &str, path: &Path) -> Vec<String> {
    let out = Command::new("nsd-checkzone")
        .args(["-p", zone])
        .arg(path)
        .output()
        .expect("nsd-checkzone not runnable; run ./test.sh to install it");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = Vec::new();
    let (mut origin, mut owner) = (String::new(), String::new());
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(o) = line.strip_prefix("$ORIGIN ") {
            origin = o.trim().to_string();
            continue;
        }
        pending.push_str(line);
        pending.push(' ');
        if pending.contains('(') && !pending.contains(')') {
            continue;
        }
        let entry = std::mem::take(&mut pending).replace(['(', ')'], " ");
        if !entry.starts_with(char::is_whitespace) {
            let first = entry.split_whitespace().next().unwrap();
            owner = if first.ends_with('.') {
                first.to_string()
            } else if origin == "." {
                format!("{first}.")
            } else {
                format!("{first}.{origin}")
            };
        }
        let mut fields = entry.split_whitespace();
        if !entry.starts_with(char::is_whitespace) {
            fields.next();
        }
        let rest: Vec<&str> = fields.collect();
        lines.push(format!("{owner} {}", rest.join(" ")).to_lowercase());
    }
    lines.sort();
    lines
}

/// `named-checkzone -D` output as sorted lines `owner ttl class type rdata`,
/// whitespace squeezed, lowercased. Run in the file's folder, checks local only.
fn bind_print(zone: &str, path: &Path) -> Vec<String> {
    let out = Command::new("named-checkzone")
        .args(["-i", "local", "-D", "-o", "-", zone])
        .arg(path)
        .output()
        .expect("named-checkzone not runnable; run ./test.sh to install it");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter(|l| !l.starts_with("zone ") && *l != "OK")
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .collect();
    lines.sort();
    lines
}

/// The fixtures of record types NSD and BIND read but Knot does not.
fn nsd_type_zones() -> Vec<PathBuf> {
    zone_files(&repo_root().join("dnsd/tests/zones-nsd"))
}

/// Zones dnsd turns into `generic`: each as dnsd's RDATA in RFC 3597 form, beside it
/// in a temporary folder.
fn as_generic(path: &Path, dir: &Path) -> PathBuf {
    let zone = stem(path);
    let loaded = load_zone(path, &apex(&zone))
        .unwrap_or_else(|errors| panic!("{}: {errors:#?}", path.display()));
    let generic = dir.join(format!("{zone}.zone"));
    std::fs::write(&generic, generic_text(&loaded.zone)).unwrap();
    generic
}

#[test]
fn rdata_is_what_bind_makes_of_the_same_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = good_zones();
    files.extend(nsd_type_zones());
    files.extend(zone_files(&repo_root().join("dnsd/tests/zones-bind")));
    for path in files {
        let zone = stem(&path);
        let generic = as_generic(&path, dir.path());
        assert_eq!(
            bind_print(&zone, &generic),
            bind_print(&zone, &path),
            "{}: dnsd's RDATA (left) differs from BIND's (right)",
            path.display()
        );
    }
}

#[test]
fn rdata_is_what_nsd_makes_of_the_same_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = good_zones();
    files.extend(nsd_type_zones());
    for path in files {
        let zone = stem(&path);
        let generic = as_generic(&path, dir.path());
        assert_eq!(
            nsd_print(&zone, &generic),
            nsd_print(&zone, &path),
            "{}: dnsd's RDATA (left) differs from NSD's (right)",
            path.display()
        );
    }
}
