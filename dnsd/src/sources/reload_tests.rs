//! Tests of the reloader against real files in a temporary folder, with a tiny zone
//! format of its own (`soa SERIAL`, `LABEL IPV4`, anything else an error at its line) so
//! that they test reloading, not parsing.

use std::net::Ipv4Addr;

use std::fs;

use super::*;
use crate::zone::serial::SerialPolicy;
use crate::zone::{Record, Rtype, Zone};

/// 2026-11-22 15:30:00 UTC.
fn clock() -> u64 {
    1_795_361_400
}

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

fn tiny_load(path: &Path, apex: &Name) -> Result<Loaded, Vec<String>> {
    let text = fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || vec![format!("{}:{}: bad line {line:?}", path.display(), i + 1)];
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("soa"), Some(serial)) => {
                let serial: u32 = serial.parse().map_err(|_| bad())?;
                let mut rdata = apex.as_wire().to_vec();
                rdata.extend_from_slice(apex.as_wire());
                for v in [serial, 3600, 900, 604800, 300] {
                    rdata.extend_from_slice(&v.to_be_bytes());
                }
                records.push(Record {
                    owner: apex.clone(),
                    rtype: Rtype::SOA,
                    ttl: 3600,
                    rdata: rdata.into(),
                });
            }
            (Some(label), Some(ip)) => {
                let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
                records.push(Record {
                    owner: Name::from_text(label, Some(apex)).map_err(|_| bad())?,
                    rtype: Rtype::A,
                    ttl: 300,
                    rdata: ip.octets().into(),
                });
            }
            (None, _) => {}
            _ => return Err(bad()),
        }
    }
    let zone = Zone::build(apex, records).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    Ok((FileContent::Zone(zone), Vec::new()))
}

struct Setup {
    dir: tempfile::TempDir,
    manager: Arc<Manager>,
    zones: Arc<arc_swap::ArcSwap<crate::zone::ZoneSet>>,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("zones")).unwrap();
        let manager = Arc::new(Manager::new(&dir.path().join("state"), clock));
        let zones = manager.zone_set();
        Self {
            dir,
            manager,
            zones,
        }
    }

    /// A new manager on the same state folder, as after a restart (images written
    /// first, as at a clean stop).
    fn restart(&mut self) {
        self.manager.wait_images();
        self.manager = Arc::new(Manager::new(&self.dir.path().join("state"), clock));
        self.zones = self.manager.zone_set();
    }

    fn journal(&self, apex: &str) -> crate::xfr::journal::JournalView {
        self.manager
            .zone(&n(apex))
            .unwrap()
            .published()
            .journal
            .clone()
    }

    fn zones_dir(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    fn settings(&self, zones: BTreeMap<Name, ZoneOptions>) -> Settings {
        Settings {
            zones_dir: self.zones_dir(),
            state_dir: self.dir.path().join("state"),
            zones,
            defaults: ZoneOptions::default(),
            secondaries: Default::default(),
        }
    }

    fn reloader(&self) -> Reloader {
        self.reloader_with(BTreeMap::new())
    }

    fn reloader_with(&self, zones: BTreeMap<Name, ZoneOptions>) -> Reloader {
        Reloader::new(
            self.settings(zones),
            self.manager.clone(),
            Box::new(|p: &Path, a: &Name, _: Option<FileMatch>| tiny_load(p, a).into()),
        )
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.zones_dir().join(file);
        fs::write(&path, text).unwrap();
        path
    }

    fn serial(&self, apex: &str) -> Option<u32> {
        self.zones.load().get(&n(apex)).and_then(|z| z.serial())
    }

    fn address(&self, owner: &str) -> Option<Vec<u8>> {
        let set = self.zones.load();
        let owner = n(owner);
        let zone = set.find(owner.as_wire())?;
        let node = zone.node(owner.as_wire())?;
        node.rrset(Rtype::A)?.rdatas().next().map(<[u8]>::to_vec)
    }
}

/// A watcher's request for these zones.
fn changed(zones: &[&str]) -> Request {
    Request {
        zones: zones.iter().map(|z| n(z)).collect(),
        ..Request::default()
    }
}

/// The request of a watcher that starts: whatever changed by fingerprint.
fn fingerprints() -> Request {
    Request {
        fingerprints: true,
        ..Request::default()
    }
}

#[test]
fn edit_break_fix_delete() {
    let s = Setup::new();
    let a = s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    s.write("b.example.zone", "soa 1\nwww 198.51.100.2\n");
    let mut r = s.reloader();
    let summary = r.reload_all();
    assert_eq!(summary.changed, 2);
    assert_eq!(
        s.serial("a.example."),
        Some(2026112200),
        "date policy by default"
    );
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 1]));

    s.write("a.example.zone", "soa 1\nwww 198.51.100.9\n");
    let summary = r.reload_request(&changed(&["a.example."]));
    assert_eq!(
        (summary.changed, summary.unchanged),
        (1, 0),
        "b is not reloaded"
    );
    assert_eq!(s.serial("a.example."), Some(2026112201));
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 9]));
    let journal = s.journal("a.example.");
    assert_eq!(journal.entries().len(), 1);
    let diff = &journal.entries()[0].diff;
    assert_eq!((diff.old_serial, diff.new_serial), (2026112200, 2026112201));
    assert_eq!((diff.removed.len(), diff.added.len()), (2, 2));

    s.write("a.example.zone", "soa 1\nwww 198.51.100.10\nwww oops\n");
    let summary = r.reload_request(&changed(&["a.example."]));
    assert_eq!(summary.failed, 1);
    assert_eq!(
        s.address("www.a.example."),
        Some(vec![198, 51, 100, 9]),
        "last good version"
    );
    assert_eq!(s.serial("a.example."), Some(2026112201));
    assert_eq!(r.stats().zone("a.example.").reload_errors, 1);

    s.write("a.example.zone", "soa 1\nwww 198.51.100.10\n");
    r.reload_request(&changed(&["a.example."]));
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 10]));
    assert_eq!(s.serial("a.example."), Some(2026112202));

    fs::remove_file(&a).unwrap();
    let summary = r.reload_request(&changed(&["a.example."]));
    assert_eq!(summary.removed, 1);
    assert_eq!(s.address("www.a.example."), None);
    assert_eq!(s.address("www.b.example."), Some(vec![198, 51, 100, 2]));
    let stats = r.stats().zone("a.example.");
    assert_eq!(
        (
            stats.reloads,
            stats.reload_errors,
            stats.changes,
            stats.serial
        ),
        (3, 1, 2, None)
    );
}

#[test]
fn changes_are_found_by_fingerprint_and_renames_move_zones() {
    let s = Setup::new();
    let a = s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    let mut r = s.reloader();
    r.reload_all();
    // Same bytes, new inode (git rewrites files this way): reloaded, found unchanged.
    fs::remove_file(&a).unwrap();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    let summary = r.reload_request(&fingerprints());
    assert_eq!((summary.changed, summary.unchanged), (0, 1));
    assert_eq!(s.serial("a.example."), Some(2026112200));
    assert!(s.journal("a.example.").entries().is_empty());

    let c = s.zones_dir().join("c.example.zone");
    fs::rename(&a, &c).unwrap();
    let summary = r.reload_request(&changed(&["a.example.", "c.example."]));
    assert_eq!((summary.changed, summary.removed), (1, 1));
    assert_eq!(s.address("www.a.example."), None);
    assert_eq!(s.address("www.c.example."), Some(vec![198, 51, 100, 1]));
}

#[test]
fn restarts_keep_serials_and_journals() {
    let mut s = Setup::new();
    s.write("a.example.zone", "soa 5\nwww 198.51.100.1\n");
    let mut r = s.reloader();
    r.reload_all();
    s.write("a.example.zone", "soa 5\nwww 198.51.100.2\n");
    r.reload_all();
    assert_eq!(s.serial("a.example."), Some(2026112201));
    drop(r);

    // Unchanged while stopped: served from the state folder, same serial, journal read
    // back.
    s.restart();
    let mut r = s.reloader();
    let summary = r.reload_all();
    assert_eq!((summary.changed, summary.unchanged), (0, 1));
    assert_eq!(s.serial("a.example."), Some(2026112201));
    assert_eq!(s.journal("a.example.").entries().len(), 1);
    drop(r);

    // A checkout of the older commit while stopped: older content, lower file serial.
    // It is a diff of the restored zone like any other: the journal goes on.
    s.restart();
    s.write("a.example.zone", "soa 4\nwww 198.51.100.1\n");
    let mut r = s.reloader();
    r.reload_all();
    assert_eq!(s.serial("a.example."), Some(2026112202));
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 1]));
    s.write("a.example.zone", "soa 4\nwww 198.51.100.3\n");
    r.reload_all();
    let journal = s.journal("a.example.");
    assert_eq!(journal.entries().len(), 3);
    let changes = journal.changes(2026112200, 2026112203).unwrap();
    assert_eq!(
        changes.added.iter().filter(|r| r.rtype == Rtype::A).count(),
        1
    );

    // A broken file at start: the last good version is served from the state folder.
    drop(r);
    s.restart();
    s.write("a.example.zone", "soa 4\nwww oops\n");
    let mut r = s.reloader();
    assert_eq!(r.reload_all().failed, 1);
    assert_eq!(s.serial("a.example."), Some(2026112203));
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 3]));
}

#[test]
fn keep_policy_refuses_a_serial_that_did_not_go_up() {
    let s = Setup::new();
    s.write("a.example.zone", "soa 7\nwww 198.51.100.1\n");
    let mut options = BTreeMap::new();
    options.insert(
        n("a.example."),
        ZoneOptions {
            serial: SerialPolicy::Keep,
            ..ZoneOptions::default()
        },
    );
    let mut r = s.reloader_with(options);
    r.reload_all();
    assert_eq!(s.serial("a.example."), Some(7));
    s.write("a.example.zone", "soa 7\nwww 198.51.100.2\n");
    assert_eq!(r.reload_request(&changed(&["a.example."])).failed, 1);
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 1]));
    s.write("a.example.zone", "soa 8\nwww 198.51.100.2\n");
    r.reload_request(&changed(&["a.example."]));
    assert_eq!(s.serial("a.example."), Some(8));
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 2]));
}

#[test]
fn many_zones_change_in_one_swap() {
    let s = Setup::new();
    for i in 0..50 {
        s.write(&format!("z{i}.example.zone"), "soa 1\nwww 198.51.100.1\n");
    }
    let mut r = s.reloader();
    r.reload_all();
    let swaps = s.manager.publisher().swaps();
    for i in 0..50 {
        s.write(&format!("z{i}.example.zone"), "soa 1\nwww 198.51.100.2\n");
    }
    let summary = r.reload_request(&fingerprints());
    assert_eq!(summary.changed, 50);
    assert_eq!(
        s.manager.publisher().swaps(),
        swaps + 1,
        "one swap for the burst"
    );
    for i in 0..50 {
        assert_eq!(
            s.address(&format!("www.z{i}.example.")),
            Some(vec![198, 51, 100, 2])
        );
    }
}

/// Polls `check` until it holds; panics after 20 s (a bound, not a timing assertion).
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_watcher_picks_up_edits_new_files_renames_and_deletions() {
    let s = Setup::new();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    let mut r = s.reloader();
    r.reload_all();
    let stats = r.stats();
    let handle = crate::sources::watch(r).unwrap();

    // An editor that writes a temporary file and renames it over the zone file.
    let tmp = s.zones_dir().join(".a.example.zone.swp");
    fs::write(&tmp, "soa 1\nwww 198.51.100.7\n").unwrap();
    fs::rename(&tmp, s.zones_dir().join("a.example.zone")).unwrap();
    wait_for("the edit", || {
        s.address("www.a.example.") == Some(vec![198, 51, 100, 7])
    });
    assert_eq!(s.serial("a.example."), Some(2026112201));

    s.write("b.example.zone", "soa 1\nwww 198.51.100.8\n");
    wait_for("the new file", || {
        s.address("www.b.example.") == Some(vec![198, 51, 100, 8])
    });

    fs::rename(
        s.zones_dir().join("b.example.zone"),
        s.zones_dir().join("c.example.zone"),
    )
    .unwrap();
    wait_for("the rename", || {
        s.address("www.c.example.").is_some() && s.address("www.b.example.").is_none()
    });

    // Files no zone reads reload nothing: under .git/, in a sub-folder, a log file
    // beside the zones. The edit after them is the one reload.
    let reloads = stats.zone("a.example.").reloads;
    fs::create_dir_all(s.zones_dir().join(".git/objects")).unwrap();
    fs::write(s.zones_dir().join(".git/objects/x"), "x").unwrap();
    fs::create_dir_all(s.zones_dir().join("inc")).unwrap();
    fs::write(s.zones_dir().join("inc/hosts"), "x").unwrap();
    fs::write(s.zones_dir().join("dnsd.log"), "a warning\n").unwrap();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.6\n");
    wait_for("the edit after them", || {
        s.address("www.a.example.") == Some(vec![198, 51, 100, 6])
    });
    assert_eq!(stats.zone("a.example.").reloads, reloads + 1);
    assert_eq!(s.serial("a.example."), Some(2026112202));

    fs::remove_file(s.zones_dir().join("a.example.zone")).unwrap();
    wait_for("the deletion", || s.address("www.a.example.").is_none());

    s.write("a.example.zone", "soa 1\nwww 198.51.100.9\n");
    handle.reload_all();
    wait_for("SIGHUP's reload", || {
        s.address("www.a.example.") == Some(vec![198, 51, 100, 9])
    });
    assert_eq!(
        s.serial("a.example."),
        Some(2026112203),
        "the served serial survives removal"
    );
    handle.stop();
}

#[test]
fn master_files_load_and_errors_name_file_and_line() {
    let s = Setup::new();
    let text = |address: &str, extra: &str| {
        format!(
            "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\n\
             ns1 IN A 198.51.100.53\nwww IN A {address}\n{extra}"
        )
    };
    let path = s.write("home.test.zone", &text("198.51.100.1", ""));
    let mut r = Reloader::new(
        s.settings(BTreeMap::new()),
        s.manager.clone(),
        Box::new(load_zone_file),
    );
    r.reload_all();
    assert_eq!(s.address("www.home.test."), Some(vec![198, 51, 100, 1]));
    s.write(
        "home.test.zone",
        &text("198.51.100.2", "mail IN A 300.1.2.3\n"),
    );
    let errors = load_zone_file(&path, &n("home.test."), None)
        .result
        .err()
        .unwrap();
    assert!(
        errors[0].starts_with(&format!("{}:6: ", path.display())),
        "{errors:?}"
    );
    assert_eq!(r.reload_all().failed, 1);
    assert_eq!(s.address("www.home.test."), Some(vec![198, 51, 100, 1]));
}

#[test]
fn an_edit_that_breaks_a_rule_names_the_file_and_line() {
    let s = Setup::new();
    let text = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\n\
                ns1 IN A 198.51.100.53\nwww IN A 198.51.100.1\n";
    let path = s.write("home.test.zone", text);
    let mut r = Reloader::new(
        s.settings(BTreeMap::new()),
        s.manager.clone(),
        Box::new(load_zone_file),
    );
    r.reload_all();
    // Line 6 puts a CNAME beside www's address: the file parses, the change is refused
    // by the transaction's checks, which say where.
    s.write("home.test.zone", &format!("{text}www IN CNAME ns1\n"));
    let handle = s.manager.zone(&n("home.test.")).unwrap();
    let read = load_zone_file(&path, &n("home.test."), handle.file_matcher());
    let (content, _) = read.result.unwrap();
    assert!(matches!(content, FileContent::Matched(_)));
    let error = handle.load_file(content).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:6: CNAME at www.home.test.", path.display())),
        "{error}"
    );
    assert_eq!(r.reload_all().failed, 1);
    assert_eq!(s.address("www.home.test."), Some(vec![198, 51, 100, 1]));
}

#[test]
fn a_serial_that_cannot_be_saved_is_not_served() {
    let s = Setup::new();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    let mut r = s.reloader();
    r.reload_all();
    let state = s.dir.path().join("state");
    fs::rename(&state, s.dir.path().join("state.away")).unwrap();
    fs::write(&state, "not a folder").unwrap();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.2\n");
    assert_eq!(r.reload_request(&changed(&["a.example."])).failed, 1);
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 1]));
    assert_eq!(s.serial("a.example."), Some(2026112200));
    assert_eq!(r.stats().zone("a.example.").reload_errors, 1);
    fs::remove_file(&state).unwrap();
    fs::rename(s.dir.path().join("state.away"), &state).unwrap();
    // Nothing changed in the file since: the zone is unsaved, and asked for again.
    assert_eq!(r.unsaved(), &[n("a.example.")].into());
    assert!(r.stats().zone("a.example.").unsaved);
    let unsaved = Request {
        zones: r.unsaved().clone(),
        ..Request::default()
    };
    assert_eq!(r.reload_request(&unsaved).changed, 1);
    assert!(r.unsaved().is_empty());
    assert!(!r.stats().zone("a.example.").unsaved);
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 2]));
    assert_eq!(s.serial("a.example."), Some(2026112201));
}

#[test]
fn configured_files_outside_the_zones_folder_are_watched() {
    let s = Setup::new();
    let elsewhere = s.dir.path().join(".elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let file = elsewhere.join("out.txt");
    fs::write(&file, "soa 1\nwww 198.51.100.1\n").unwrap();
    let mut options = BTreeMap::new();
    options.insert(
        n("out.example."),
        ZoneOptions {
            file: Some(file.clone()),
            ..ZoneOptions::default()
        },
    );
    let mut r = s.reloader_with(options);
    r.reload_all();
    assert_eq!(s.address("www.out.example."), Some(vec![198, 51, 100, 1]));
    let handle = crate::sources::watch(r).unwrap();
    fs::write(&file, "soa 1\nwww 198.51.100.2\n").unwrap();
    wait_for("the edit", || {
        s.address("www.out.example.") == Some(vec![198, 51, 100, 2])
    });
    handle.stop();
}

#[test]
fn a_panicking_loader_does_not_stop_the_watcher() {
    let s = Setup::new();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.1\n");
    let load = |path: &Path, apex: &Name, _: Option<FileMatch>| {
        let text = fs::read_to_string(path).unwrap_or_default();
        assert!(!text.contains("panic"), "a loader bug");
        FileRead::from(tiny_load(path, apex))
    };
    let mut r = Reloader::new(
        s.settings(BTreeMap::new()),
        s.manager.clone(),
        Box::new(load),
    );
    r.reload_all();
    let stats = r.stats();
    let handle = crate::sources::watch(r).unwrap();
    s.write("a.example.zone", "soa 1\nwww 198.51.100.2\npanic\n");
    wait_for("the panic counted", || stats.zone("").reload_errors >= 1);
    assert_eq!(s.address("www.a.example."), Some(vec![198, 51, 100, 1]));
    s.write("a.example.zone", "soa 1\nwww 198.51.100.3\n");
    wait_for("the next edit", || {
        s.address("www.a.example.") == Some(vec![198, 51, 100, 3])
    });
    handle.stop();
}

#[test]
fn includes_are_watched_and_other_files_are_not() {
    let s = Setup::new();
    fs::create_dir(s.zones_dir().join("inc")).unwrap();
    fs::write(s.zones_dir().join("inc/hosts"), "www IN A 198.51.100.1\n").unwrap();
    s.write(
        "home.test.zone",
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\n\
         ns1 IN A 198.51.100.53\n$INCLUDE inc/hosts\n",
    );
    let mut r = Reloader::new(
        s.settings(BTreeMap::new()),
        s.manager.clone(),
        Box::new(load_zone_file),
    );
    r.reload_all();
    let stats = r.stats();
    let handle = crate::sources::watch(r).unwrap();
    let reloads = stats.zone("home.test.").reloads;
    // Another file in the include's folder: nothing; the include itself: a reload.
    fs::write(s.zones_dir().join("inc/notes.txt"), "x").unwrap();
    fs::write(s.zones_dir().join("inc/hosts"), "www IN A 198.51.100.2\n").unwrap();
    wait_for("the include's edit", || {
        s.address("www.home.test.") == Some(vec![198, 51, 100, 2])
    });
    assert_eq!(stats.zone("home.test.").reloads, reloads + 1);
    handle.stop();
}
