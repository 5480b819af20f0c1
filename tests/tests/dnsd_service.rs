//! dnsd as a service: its systemd unit (`dnsd/dnsd.service`) and user
//! (`dnsd/dnsd.sysusers`), checked by systemd's own tools, and their settings put to
//! work on the real binary without systemd: the unit's user and capabilities through
//! `setpriv`, its state folder, and a NOTIFY_SOCKET of our own for `Type=notify`.
//!
//! - `systemd-analyze verify` accepts the unit (no unknown key, no bad value) and
//!   `systemd-analyze security --offline` rates its exposure at most 2.0 ("OK");
//!   `systemd-sysusers --root` creates the user from the sysusers file.
//! - As that user, with only the unit's capabilities (ambient, bounding set) and
//!   no_new_privs, dnsd binds 127.0.0.1:53 in a namespace of its own, writes its state
//!   folder, sends READY=1 and then answers over UDP and TCP at once; SIGTERM sends
//!   STOPPING=1 and exits 0.
//! - Without the capability, binding port 53 fails with an error that names
//!   CAP_NET_BIND_SERVICE and the unit.
//! - READY=1, with a 100,000-name zone and metrics, comes only when the zone, the
//!   listener and the metrics endpoint all answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netfabric_tests::bins;
use netfabric_tests::dns::{Query, normalize, tcp_exchange};
use netfabric_tests::dnsd::{Dnsd, PATIENCE};

/// CAP_NET_BIND_SERVICE's bit in /proc/PID/status's capability masks.
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `[Service]` settings of the unit: key -> every value given, in order.
fn service_settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = "";
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    settings
}

fn one<'a>(settings: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match settings.get(key).map(Vec::as_slice) {
        Some([value]) => value,
        other => panic!("{key}= in the unit: {other:?}"),
    }
}

/// A small zone, `svc.test.`.
fn small_zone() -> String {
    "$ORIGIN svc.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
     @ NS ns1\nns1 A 127.0.0.1\nwww A 198.51.100.53\n"
        .to_string()
}

/// Runs `argv`, returning (success, stdout and stderr together).
fn run(argv: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The unit's user as `systemd-sysusers` creates it from dnsd/dnsd.sysusers, in a
/// root of its own (the machine's users are left alone): (uid, gid).
fn sysusers_user(name: &str) -> (u32, u32) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let conf = repository().join("dnsd/dnsd.sysusers");
    let root_arg = format!("--root={}", root.path().display());
    let (ok, text) = run(
        &["systemd-sysusers", &root_arg, &conf.display().to_string()],
        root.path(),
    );
    assert!(ok, "systemd-sysusers: {text}");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let entry: Vec<&str> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|fields| fields[0] == name)
        .unwrap_or_else(|| panic!("no user {name} made from dnsd.sysusers:\n{passwd}"));
    assert_eq!(entry[6], "/usr/sbin/nologin", "{entry:?}");
    (entry[2].parse().unwrap(), entry[3].parse().unwrap())
}

/// The `setpriv` options that give a process what the unit gives dnsd: its ambient
/// capabilities as inheritable and ambient ones, its bounding set, no_new_privs.
fn setpriv_options(settings: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let caps = |key: &str| -> String {
        one(settings, key)
            .split_whitespace()
            .map(|cap| {
                let cap = cap.strip_prefix("CAP_").unwrap_or(cap).to_lowercase();
                format!(",+{cap}")
            })
            .collect()
    };
    let ambient = caps("AmbientCapabilities");
    let mut options = vec![
        format!("--inh-caps=-all{ambient}"),
        format!("--ambient-caps=-all{ambient}"),
        format!("--bounding-set=-all{}", caps("CapabilityBoundingSet")),
    ];
    if one(settings, "NoNewPrivileges") == "yes" {
        options.push("--no-new-privs".into());
    }
    options
}

/// A field of /proc/PID/status.
fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

fn capabilities(pid: u32, field: &str) -> u64 {
    u64::from_str_radix(&status_field(pid, field), 16).unwrap()
}

#[test]
fn systemd_accepts_the_unit_and_its_user() {
    let unit = repository().join("dnsd/dnsd.service");
    let text = std::fs::read_to_string(&unit).expect("dnsd/dnsd.service");
    // The unit names the installed binary; verify checks that it exists: ours.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("dnsd.service");
    let binary = bins::path("dnsd").display().to_string();
    std::fs::write(&copy, text.replace("/usr/local/sbin/dnsd", &binary)).unwrap();
    let (ok, output) = run(&["systemd-analyze", "verify", "./dnsd.service"], dir.path());
    assert!(ok && output.is_empty(), "systemd-analyze verify: {output}");
    let (ok, output) = run(
        &[
            "systemd-analyze",
            "security",
            "--offline=true",
            "--threshold=20",
            "--no-pager",
            "./dnsd.service",
        ],
        dir.path(),
    );
    assert!(ok, "exposure above 2.0:\n{output}");

    let settings = service_settings(&text);
    for (key, value) in [
        ("Type", "notify"),
        ("User", "dnsd"),
        ("StateDirectory", "dnsd"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
    ] {
        assert_eq!(one(&settings, key), value, "{key}=");
    }
    // The state folder that StateDirectory= makes is the one dnsd is told to use.
    assert!(
        one(&settings, "ExecStart").ends_with(" --state-dir /var/lib/dnsd"),
        "{settings:?}"
    );
    sysusers_user("dnsd");
}

/// The binary under the unit's user and capabilities, in a namespace of its own:
/// port 53 bound, READY=1, answers, its state written, STOPPING=1, exit 0.
#[test]
fn as_the_units_user_with_its_capabilities_dnsd_serves_port_53() {
    let text = std::fs::read_to_string(repository().join("dnsd/dnsd.service")).unwrap();
    let settings = service_settings(&text);
    let (uid, gid) = sysusers_user(one(&settings, "User"));
    let options = setpriv_options(&settings);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut dnsd = Dnsd::builder()
        .zone("svc.test", &small_zone())
        .private_netns()
        .listen("127.0.0.1:53".parse().unwrap())
        .user(uid, gid, &options)
        .notify_socket()
        .start();
    let pid = dnsd.pid();
    let uids: Vec<String> = status_field(pid, "Uid")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(uids, vec![uid.to_string(); 4], "real, effective, saved, fs");
    assert_eq!(capabilities(pid, "CapEff"), CAP_NET_BIND_SERVICE);
    assert_eq!(capabilities(pid, "CapBnd"), CAP_NET_BIND_SERVICE);
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    // Answers over TCP too, from inside its namespace.
    let query = Query::new("www.svc.test.", 1).to_bytes();
    let answer = dnsd
        .run_in(|| tcp_exchange(dnsd.addr, &query, PATIENCE).ok())
        .and_then(|r| normalize(&r).ok());
    assert!(
        answer
            .as_ref()
            .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
        "{answer:?}\n{}",
        dnsd.log()
    );
    // Its state went where the unit's StateDirectory= would be.
    let state: Vec<_> = std::fs::read_dir(dnsd.dir().join("state"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(!state.is_empty(), "nothing in the state folder");
    let status = dnsd.terminate(PATIENCE).expect("dnsd exited");
    assert!(status.success(), "{status:?}\n{}", dnsd.log());
    let stopping = dnsd.notification(Duration::from_secs(1));
    assert!(
        stopping
            .as_deref()
            .is_some_and(|n| n.lines().any(|l| l == "STOPPING=1")),
        "{stopping:?}"
    );
}

/// Without CAP_NET_BIND_SERVICE, the error names it and the unit.
#[test]
fn binding_port_53_without_the_capability_names_it() {
    // As nobody with no capability at all, in a namespace of its own (where port 53
    // is free: only the missing capability can refuse it).
    let (status, log) = Dnsd::builder()
        .zone("svc.test", &small_zone())
        .user(65534, 65534, &["--inh-caps=-all", "--bounding-set=-all"])
        .private_netns()
        .listen("127.0.0.1:53".parse().unwrap())
        .run_to_exit();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("dnsd: cannot listen on 127.0.0.1:53"))
        .unwrap_or_else(|| panic!("no bind error:\n{log}"));
    assert!(
        line.contains("Permission denied")
            && line.contains("CAP_NET_BIND_SERVICE")
            && line.contains("dnsd.service"),
        "{line}"
    );
}

/// A zone of `names` names, `big.test.`.
fn big_zone(names: usize) -> String {
    let mut zone = String::from(
        "$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\nns1 A 127.0.0.1\n",
    );
    for i in 0..names {
        zone.push_str(&format!("h{i} A 198.18.{}.{}\n", (i >> 8) & 255, i & 255));
    }
    zone
}

/// READY=1 only once the zones answer: a 100,000-name zone takes a while to load, and
/// the fixture, told to wait for READY=1, then asks its SOA once over UDP (no retry);
/// here, at once, a name at its end over TCP, and the metrics endpoint.
#[test]
fn ready_comes_once_the_zones_are_loaded_and_every_listener_answers() {
    let dnsd = Dnsd::builder()
        .zone("big.test", &big_zone(100_000))
        .metrics()
        .notify_socket()
        .start();
    let query = Query::new("h99999.big.test.", 1).to_bytes();
    let answer = tcp_exchange(dnsd.addr, &query, PATIENCE)
        .ok()
        .and_then(|r| normalize(&r).ok());
    assert!(
        answer
            .as_ref()
            .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty()),
        "{answer:?}\n{}",
        dnsd.log()
    );
    assert!(dnsd.scrape().contains("dnsd_zones 1"));
}
