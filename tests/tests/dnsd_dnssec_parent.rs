//! A CSK rollover against a real parent, end to end on loopback: the parent zone
//! `pt.test.` is served and signed by Knot, the child `child.pt.test.` by dnsd, and
//! Unbound validates the child from the parent's trust anchor down (stub zones, no
//! root, nothing beyond loopback). dnsd asks Knot for the new DS (`parent-resolvers`,
//! `ds-check-interval = 1s`) and the rollover:
//!
//! - publishes the new CSK and its CDS while the old key stays;
//! - stalls while Knot does not publish the new DS, saying so in the log at each check;
//! - once a "registrar" puts the CDS into Knot's zone (`knotc zone-set`), notes the
//!   DS seen and withdraws the old key.
//!
//! Unbound must answer `www.child.pt.test. A` and the child's DNSKEY with AD at every
//! poll of every step, and delv (its own validator) at each step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::process::ProcessGuard;
use netfabric_tests::servers::free_port;

const PARENT: &str = "pt.test.";
const CHILD: &str = "child.pt.test.";
/// Bound on each step: a failure guard, never a timing requirement.
const PATIENCE: Duration = Duration::from_secs(60);

/// `kdig +short` of (`name`, `qtype`) at `server`, recursion desired or not, sorted.
fn short(server: SocketAddr, name: &str, qtype: &str, rd: bool) -> Vec<String> {
    let out = Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args(["+short", if rd { "+rec" } else { "+norec" }, name, qtype])
        .output()
        .expect("kdig (knot-dnsutils)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// The key tags of the DNSKEY RRset dnsd serves for the child.
fn child_keys(dnsd: &Dnsd) -> Vec<u16> {
    let out = Command::new("dig")
        .arg(format!("@{}", dnsd.addr.ip()))
        .args(["-p", &dnsd.addr.port().to_string()])
        .args(["+norec", "+multi", "+noall", "+answer", CHILD, "DNSKEY"])
        .output()
        .expect("dig (bind9-dnsutils)");
    let mut tags: Vec<u16> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("key id = ").nth(1)?.trim().parse().ok())
        .collect();
    tags.sort_unstable();
    tags
}

/// The tags of the CDS RRset ("TAG ALG DIGEST-TYPE DIGEST").
fn cds_tags(cds: &[String]) -> Vec<u16> {
    cds.iter()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Unbound's answer to (`name`, `qtype`) is NOERROR, with data, and validated (AD);
/// else what dig printed.
fn validated(resolver: SocketAddr, name: &str, qtype: &str) -> Result<(), String> {
    let out = Command::new("dig")
        .arg(format!("@{}", resolver.ip()))
        .args(["-p", &resolver.port().to_string()])
        .args(["+dnssec", "+noall", "+comments", "+answer", "+tries=2"])
        .args([name, qtype])
        .output()
        .expect("dig (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let noerror = text.contains("status: NOERROR");
    let ad = text
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .is_some_and(|l| l.split(';').nth(2).is_some_and(|f| f.contains(" ad")));
    let data = text
        .lines()
        .any(|l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some(qtype));
    if noerror && ad && data {
        Ok(())
    } else {
        Err(text)
    }
}

/// delv's verdict on (`name`, `qtype`) through Unbound, trusting the parent's key.
fn delv(resolver: SocketAddr, anchor: &Path, name: &str, qtype: &str) -> String {
    let out = Command::new("delv")
        .arg(format!("@{}", resolver.ip()))
        .args(["-p", &resolver.port().to_string(), "-a"])
        .arg(anchor)
        .args([&format!("+root={PARENT}"), name, qtype])
        .output()
        .expect("delv (bind9-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The whole setup: parent (Knot), child (dnsd), validator (Unbound).
struct Setup {
    dir: tempfile::TempDir,
    knot: SocketAddr,
    unbound: SocketAddr,
    anchor: PathBuf,
    // Dropped in this order.
    _unbound: ProcessGuard,
    _knot: ProcessGuard,
    dnsd: Dnsd,
}

impl Setup {
    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- dnsd\n{}\n--- knot\n{}\n--- unbound\n{}",
            self.dnsd.log(),
            read("knot.log"),
            read("unbound.log")
        )
    }

    /// Both validators accept the child now; panics with every log when not.
    fn check_valid(&self, step: &str) {
        for (name, qtype) in [(&format!("www.{CHILD}")[..], "A"), (CHILD, "DNSKEY")] {
            if let Err(text) = validated(self.unbound, name, qtype) {
                panic!(
                    "{step}: Unbound does not validate {name} {qtype}:\n{text}\n{}",
                    self.logs()
                );
            }
        }
        let text = delv(self.unbound, &self.anchor, &format!("www.{CHILD}"), "A");
        assert!(
            text.starts_with("; fully validated"),
            "{step}: delv: {text}\n{}",
            self.logs()
        );
    }

    /// Polls `cond` until it holds (at most [`PATIENCE`]), Unbound validating the
    /// child at every poll.
    fn wait(&self, step: &str, mut cond: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        loop {
            for (name, qtype) in [(&format!("www.{CHILD}")[..], "A"), (CHILD, "DNSKEY")] {
                if let Err(text) = validated(self.unbound, name, qtype) {
                    panic!(
                        "{step}: Unbound does not validate {name} {qtype}:\n{text}\n{}",
                        self.logs()
                    );
                }
            }
            if cond(self) {
                self.check_valid(step);
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{step}: not within {PATIENCE:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The registrar: the parent's DS RRset for the child becomes `ds` (CDS lines),
    /// through Knot's control socket (Knot signs the change).
    fn set_parent_ds(&self, ds: &[String]) {
        let sock = self.dir.path().join("knot.sock");
        let knotc = |args: &[&str]| {
            let out = Command::new("knotc")
                .arg("-s")
                .arg(&sock)
                .args(args)
                .output()
                .expect("knotc (knot)");
            assert!(out.status.success(), "knotc {args:?}: {out:?}");
        };
        knotc(&["zone-begin", PARENT]);
        knotc(&["zone-unset", PARENT, "child", "DS"]);
        for line in ds {
            let mut args = vec!["zone-set", PARENT, "child", "2", "DS"];
            args.extend(line.split_whitespace());
            knotc(&args);
        }
        knotc(&["zone-commit", PARENT]);
    }
}

/// Starts Knot serving and signing `pt.test.` (its DS for the child: `ds`, CDS lines)
/// on `addr`; returns its guard once it answers with the zone signed.
fn start_knot(dir: &Path, addr: SocketAddr, ds: &[String]) -> ProcessGuard {
    let d = dir.display();
    let mut zone = format!(
        "$ORIGIN {PARENT}\n$TTL 2\n@ SOA ns hostmaster 1 3600 900 604800 2\n@ NS ns\n\
         ns A 127.0.0.1\nchild NS ns.child\nns.child A 127.0.0.1\n"
    );
    for line in ds {
        zone.push_str(&format!("child DS {line}\n"));
    }
    std::fs::write(dir.join("pt.test.zone"), zone).unwrap();
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let conf = format!(
        "server:\n  listen: {ip}@{port}\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         background-workers: 1\n  tcp-workers: 1\n  udp-workers: 1\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: info\n\
         policy:\n  - id: parent\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n    \
         dnskey-ttl: 2\n    zone-max-ttl: 2\n    propagation-delay: 0\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: changes\n\
         zone:\n  - domain: \"{PARENT}\"\n    file: \"{d}/pt.test.zone\"\n    \
         dnssec-signing: on\n    dnssec-policy: parent\n",
        ip = addr.ip(),
        port = addr.port(),
    );
    std::fs::write(dir.join("knot.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("knot.log")).unwrap();
    let mut cmd = Command::new("/usr/sbin/knotd");
    cmd.arg("-c")
        .arg(dir.join("knot.conf"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let guard = ProcessGuard::spawn("knotd", &mut cmd);
    let up = netfabric_tests::process::wait_until(PATIENCE, || {
        !short(addr, PARENT, "DNSKEY", false).is_empty()
    });
    assert!(
        up,
        "Knot did not serve {PARENT} signed:\n{}",
        std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default()
    );
    guard
}

/// Starts Unbound on `addr`, validating from the parent's key `anchor_key` (the
/// DNSKEY line), with stub zones for the parent (Knot) and the child (dnsd); its root
/// hints name 127.0.0.1 alone, so that nothing is ever asked beyond loopback.
fn start_unbound(
    dir: &Path,
    addr: SocketAddr,
    knot: SocketAddr,
    child: SocketAddr,
    anchor_key: &str,
) -> ProcessGuard {
    let d = dir.display();
    std::fs::write(
        dir.join("root.hints"),
        ". 3600 NS ns.\nns. 3600 A 127.0.0.1\n",
    )
    .unwrap();
    let stub = |name: &str, at: SocketAddr| {
        format!(
            "stub-zone:\n  name: \"{name}\"\n  stub-addr: {}@{}\n",
            at.ip(),
            at.port()
        )
    };
    let conf = format!(
        "server:\n  interface: {ip}@{port}\n  port: {port}\n  do-daemonize: no\n  \
         username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  \
         use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  num-threads: 1\n  \
         do-ip6: no\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n  \
         root-hints: \"{d}/root.hints\"\n  trust-anchor: \"{anchor_key}\"\n  \
         module-config: \"validator iterator\"\n  val-log-level: 2\n  \
         harden-referral-path: no\n  prefetch: no\n  qname-minimisation: no\n  \
         local-zone: \"test.\" nodefault\n\
         {}{}remote-control:\n  control-enable: no\n",
        stub(PARENT, knot),
        stub(CHILD, child),
        ip = addr.ip(),
        port = addr.port(),
    );
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("unbound.log")).unwrap();
    let mut cmd = Command::new("/usr/sbin/unbound");
    cmd.arg("-d")
        .arg("-c")
        .arg(dir.join("unbound.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let guard = ProcessGuard::spawn("unbound", &mut cmd);
    let up = netfabric_tests::process::wait_until(PATIENCE, || {
        !short(addr, PARENT, "SOA", true).is_empty()
    });
    assert!(
        up,
        "Unbound did not answer: {:?}\n{}",
        validated(addr, PARENT, "SOA"),
        std::fs::read_to_string(dir.join("unbound.log")).unwrap_or_default()
    );
    guard
}

#[test]
fn a_csk_rollover_waits_for_the_ds_at_a_knot_parent_and_validates_throughout() {
    let dir = tempfile::Builder::new()
        .prefix("nf-dsparent-")
        .tempdir()
        .unwrap();
    let knot_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child_zone = format!(
        "$ORIGIN {CHILD}\n$TTL 2\n@ SOA ns hostmaster 1 3600 900 604800 2\n@ NS ns\n\
         ns A 127.0.0.1\nwww A 198.51.100.7\n"
    );
    let dnsd = Dnsd::builder()
        .zone("child.pt.test", &child_zone)
        .config(&format!(
            "[dnssec]\nsign = true\ndnskey-ttl = \"2s\"\npropagation-delay = \"1s\"\n\
             parent-ds-ttl = \"2s\"\nparent-resolvers = [\"{knot_addr}\"]\n\
             ds-check-interval = \"1s\"\n"
        ))
        .start();
    let cds = short(dnsd.addr, CHILD, "CDS", false);
    assert_eq!(cds.len(), 1, "{cds:?}\n{}", dnsd.log());
    let old = cds_tags(&cds)[0];
    assert_eq!(child_keys(&dnsd), [old], "{}", dnsd.log());

    // The parent, delegating with the DS of dnsd's key (`dnsd ds` = the CDS).
    let knot = start_knot(dir.path(), knot_addr, &cds);
    let parent_key = short(knot_addr, PARENT, "DNSKEY", false)
        .into_iter()
        .find(|k| k.starts_with("257 "))
        .expect("Knot's CSK");
    let anchor_key = format!("{PARENT} DNSKEY {parent_key}");
    let anchor = dir.path().join("parent.anchor");
    let f: Vec<&str> = parent_key.split_whitespace().collect();
    std::fs::write(
        &anchor,
        format!(
            "trust-anchors {{ \"{PARENT}\" static-key {} {} {} \"{}\"; }};\n",
            f[0],
            f[1],
            f[2],
            f[3..].concat()
        ),
    )
    .unwrap();
    let unbound_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let unbound = start_unbound(dir.path(), unbound_addr, knot_addr, dnsd.addr, &anchor_key);
    let setup = Setup {
        dir,
        knot: knot_addr,
        unbound: unbound_addr,
        anchor,
        _unbound: unbound,
        _knot: knot,
        dnsd,
    };
    setup.check_valid("signed, DS at the parent");
    // No rollover waits: nothing is asked of the parent.
    assert!(!setup.dnsd.log().contains("DS of key"), "{}", setup.logs());

    // The rollover, asked by hand.
    let config = setup.dnsd.dir().join("dnsd.toml");
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .args(["keys", "retire", "--config"])
        .arg(&config)
        .args(["child.pt.test", &old.to_string()])
        .output()
        .expect("dnsd keys retire");
    assert!(out.status.success(), "{out:?}");
    let mut new = 0;
    setup.wait("the new CSK published beside the old", |s| {
        let keys = child_keys(&s.dnsd);
        new = keys.iter().copied().find(|&k| k != old).unwrap_or(0);
        keys.len() == 2 && keys.contains(&old)
    });
    setup.wait("the new key's CDS", |s| {
        cds_tags(&short(s.dnsd.addr, CHILD, "CDS", false)) == [new]
    });
    let new_cds = short(setup.dnsd.addr, CHILD, "CDS", false);

    // The parent does not publish the new DS: the rollover stalls, each check logged.
    let waiting = format!("the parent does not publish the DS of key {new} yet");
    setup.wait("three checks finding no new DS at the parent", |s| {
        s.dnsd.log().matches(&waiting).count() >= 3
    });
    assert_eq!(
        child_keys(&setup.dnsd),
        [old.min(new), old.max(new)],
        "{}",
        setup.logs()
    );
    let (ok, status) = setup.dnsd.ctl_binary(&["status"]);
    assert!(ok, "{status}");
    assert!(
        status.contains(&format!(
            "key {CHILD} {new} ECDSAP256SHA256 CSK active cds next: its DS at the parent"
        )),
        "{status}"
    );
    assert!(
        !setup.dnsd.log().contains("the parent publishes the DS"),
        "{}",
        setup.logs()
    );

    // The registrar copies the CDS into the parent.
    setup.set_parent_ds(&new_cds);
    assert_eq!(
        short(setup.knot, &format!("child.{PARENT}"), "DS", false),
        new_cds
    );
    setup.wait("dnsd sees the new DS at the parent", |s| {
        s.dnsd
            .log()
            .contains(&format!("the parent publishes the DS of key {new}"))
    });
    setup.wait("the old CSK withdrawn", |s| child_keys(&s.dnsd) == [new]);
    assert_eq!(
        cds_tags(&short(setup.dnsd.addr, CHILD, "CDS", false)),
        [new]
    );
    // A change after the rollover is signed by the new key alone and validates.
    let replies = setup
        .dnsd
        .ctl(&["zone child.pt.test", "add mail 2 A 198.51.100.8", "commit"]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    setup.wait("the change served", |s| {
        validated(s.unbound, &format!("mail.{CHILD}"), "A").is_ok()
    });
}
