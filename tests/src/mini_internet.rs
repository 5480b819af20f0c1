//! A local mini-Internet for resolver tests (shared/TESTNET.md: never the real one): a
//! signed root with its own trust anchor, two TLDs, and signed, unsigned and broken
//! domains, served by NSD, Knot and BIND on documentation addresses inside one
//! network namespace. Resolvers under test (dnsd, Unbound) run in the same namespace
//! with [`MiniInternet::root_hints`] and [`MiniInternet::trust_anchor`], and test
//! clients reach them from threads that entered it ([`crate::netns::Netns::run_in`]).
//!
//! ```text
//!  .                 NSD  198.51.100.1   signed (NSEC3), KSK = the trust anchor
//!  ├─ example.       Knot 198.51.100.10  signed (NSEC)
//!  │  ├─ secure      BIND 198.51.100.20  signed: A/AAAA/MX/TXT, wildcard, CNAME chains
//!  │  │                                  across zones, DNAME, a big TXT (TC, then TCP)
//!  │  ├─ expired     BIND 198.51.100.20  signatures expired in 2020        -> bogus
//!  │  ├─ nsec3       NSD  198.51.100.21  signed with NSEC3 (0 iterations)
//!  │  ├─ insecure    NSD  198.51.100.21  unsigned, no DS                   -> insecure
//!  │  ├─ wrongds     NSD  198.51.100.21  DS in example. matches no key      -> bogus
//!  │  ├─ nodnskey    NSD  198.51.100.21  DS in example., zone has no DNSKEY -> bogus
//!  │  ├─ iter        NSD  198.51.100.21  NSEC3 with 200 iterations (RFC 9276)
//!  │  ├─ wcproof     NSD  198.51.100.21  signed, NSEC records stripped: wildcard
//!  │  │                                  answers lack their proof (RFC 4035 §5.3.4)
//!  │  ├─ wcproof3    NSD  198.51.100.21  the same with NSEC3 (RFC 5155 §8.8)   -> bogus
//!  │  ├─ ed448       NSD  198.51.100.21  signed with Ed448 (algorithm 16): insecure
//!  │  │                                  for dnsd (ring lacks it, RFC 6840 §5.2)
//!  │  ├─ unknownalg  NSD  198.51.100.21  its DS names algorithm 200        -> insecure
//!  │  ├─ unknowndigest NSD 198.51.100.21 its DS names digest type 200      -> insecure
//!  │  ├─ optout      NSD  198.51.100.21  NSEC3 opt-out, with an unsigned delegation:
//!  │  │  └─ sub      NSD  198.51.100.21  unsigned, covered by opt-out       -> insecure
//!  │  ├─ outofzone   NSD  198.51.100.21  its name server is ns2.plain.lab. (no glue)
//!  │  ├─ lame        NSD  198.51.100.30  which serves no zone (REFUSED)    -> SERVFAIL
//!  │  └─ timeout     --   198.51.100.31  a socket that never answers       -> SERVFAIL
//!  └─ lab.           Knot 198.51.100.10  unsigned
//!     └─ plain       BIND 198.51.100.20  unsigned
//!
//!  corp.example.     NSD  198.51.100.40  unsigned, not delegated from example.: a
//!  └─ dev            NSD  198.51.100.21  private zone, reached by forwarding only
//! ```
//!
//! Keys are made with `ldns-keygen` (ECDSA P-256) and zones signed with `ldns-signzone`
//! at setup, in a temporary folder: nothing of it is kept in the repository.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dns::{Query, normalize, udp_exchange};
use crate::dnsd::Dnsd;
use crate::netns::Netns;
use crate::process::ProcessGuard;

/// The root server's address.
pub const ROOT: &str = "198.51.100.1";
const TLD: &str = "198.51.100.10";
const BIND: &str = "198.51.100.20";
const NSD: &str = "198.51.100.21";
const LAME: &str = "198.51.100.30";
const SILENT: &str = "198.51.100.31";
/// The server of the private zone `corp.example.` (not delegated: reached only by
/// forwarding to it, [`MiniInternet::dead_root_hints`]).
pub const CORP: &str = "198.51.100.40";
/// Addresses of the namespace's loopback the resolvers under test may listen on.
pub const RESOLVER_ADDR: &str = "198.51.100.53";

/// How a zone is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
    Unsigned,
    Nsec,
    Nsec3 {
        iterations: u16,
    },
    /// NSEC3 with opt-out (RFC 5155 §6): unsigned delegations get no NSEC3 record.
    Nsec3OptOut,
    /// Signatures valid from 2019 to 2020 only.
    Expired,
    /// Signed, but the parent's DS names a key that is not there.
    WrongDs,
    /// Signed, served without its DNSKEY RRset.
    NoDnskey,
    /// Signed (NSEC3 when `nsec3`), served without any NSEC/NSEC3 record: wildcard
    /// answers come without the proof that the name itself does not exist.
    NoWildcardProof {
        nsec3: bool,
    },
    /// Signed with Ed448 (algorithm 16), which dnsd's crypto crate (ring) lacks.
    Ed448,
    /// Signed, and the parent's DS names algorithm 200 (`digest: false`) or digest
    /// type 200 (`digest: true`), which no one implements (unassigned, RFC 8624).
    UnknownDs {
        digest: bool,
    },
}

/// A zone of the mini-Internet.
struct ZoneDef {
    name: &'static str,
    /// Records below the SOA and apex NS (origin-relative names allowed).
    body: String,
    signing: Signing,
    /// Address of the server that serves it.
    server: &'static str,
    /// Children: (name, NS name, glue address or None).
    children: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

/// The running mini-Internet; dropping it stops every server and deletes the namespace.
pub struct MiniInternet {
    /// The namespace everything runs in.
    pub ns: Arc<Netns>,
    dir: tempfile::TempDir,
    servers: Vec<ProcessGuard>,
    _silent: UdpSocket,
}

impl MiniInternet {
    /// Builds, signs and serves the zones; returns once every server answers.
    pub fn start() -> MiniInternet {
        let ns = Arc::new(Netns::new("nf-inet"));
        for addr in [ROOT, TLD, BIND, NSD, LAME, SILENT, CORP, RESOLVER_ADDR] {
            ns.exec_ok(&["ip", "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        }
        let dir = tempfile::Builder::new()
            .prefix("nf-inet-")
            .tempdir()
            .expect("temporary folder");
        let work = dir.path();
        let mut files: Vec<(&'static str, &'static str, PathBuf)> = Vec::new();
        let mut ds: std::collections::BTreeMap<&str, String> = Default::default();
        // Children before parents, so that each parent gets its children's DS.
        let zones = zone_defs();
        for zone in zones.iter().rev() {
            let mut text = format!(
                "$ORIGIN {origin}\n$TTL 3600\n@ SOA ns hostmaster 1 3600 900 604800 300\n\
                 @ NS ns\nns A {server}\n{body}\n",
                origin = fqdn(zone.name),
                server = zone.server,
                body = zone.body
            );
            for (child, ns_name, glue) in &zone.children {
                writeln!(text, "{} NS {}", fqdn(child), fqdn(ns_name)).unwrap();
                if let Some(glue) = glue {
                    writeln!(text, "{} A {glue}", fqdn(ns_name)).unwrap();
                }
                if let Some(record) = ds.get(child) {
                    text.push_str(record);
                }
            }
            let path = work.join(format!("{}.zone", file_stem(zone.name)));
            std::fs::write(&path, &text).expect("write zone");
            let served = match zone.signing {
                Signing::Unsigned => path,
                signing => {
                    let (signed, ds_record) = sign(work, zone.name, &path, signing);
                    ds.insert(zone.name, ds_record);
                    signed
                }
            };
            files.push((zone.name, zone.server, served));
        }
        let anchor = ds.get(".").expect("the root is signed").clone();
        std::fs::write(work.join("root.key"), &anchor).expect("write trust anchor");
        std::fs::write(
            work.join("root.hints"),
            format!(". 3600000 NS ns.\nns. 3600000 A {ROOT}\n"),
        )
        .expect("write hints");
        std::fs::write(
            work.join("dead.hints"),
            format!(". 3600000 NS ns.\nns. 3600000 A {SILENT}\n"),
        )
        .expect("write hints");

        let silent = ns.run_in(|| UdpSocket::bind((SILENT, 53)).expect("bind the silent server"));
        let mut servers = Vec::new();
        let zones_of = |server: &str| -> Vec<(&str, PathBuf)> {
            files
                .iter()
                .filter(|(_, s, _)| *s == server)
                .map(|(name, _, path)| (*name, path.clone()))
                .collect()
        };
        servers.push(nsd(&ns, work, "root", ROOT, &zones_of(ROOT)));
        servers.push(nsd(&ns, work, "leaves", NSD, &zones_of(NSD)));
        servers.push(nsd(&ns, work, "lame", LAME, &[]));
        servers.push(nsd(&ns, work, "corp", CORP, &zones_of(CORP)));
        servers.push(knot(&ns, work, TLD, &zones_of(TLD)));
        servers.push(bind(&ns, work, BIND, &zones_of(BIND)));
        let internet = MiniInternet {
            ns,
            dir,
            servers,
            _silent: silent,
        };
        for (name, server) in [
            (".", ROOT),
            ("example.", TLD),
            ("secure.example.", BIND),
            ("nsec3.example.", NSD),
            ("corp.example.", CORP),
        ] {
            internet.wait_for(name, server);
        }
        internet
    }

    /// The folder holding zones, keys, hints and the anchor.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Root hints (zone-file format) naming the local root server only.
    pub fn root_hints(&self) -> PathBuf {
        self.dir.path().join("root.hints")
    }

    /// Root hints naming a server that never answers: a resolver given them reaches
    /// nothing but through its forwarders.
    pub fn dead_root_hints(&self) -> PathBuf {
        self.dir.path().join("dead.hints")
    }

    /// The root's trust anchor: its KSK's DS record, one line of zone-file format.
    pub fn trust_anchor(&self) -> PathBuf {
        self.dir.path().join("root.key")
    }

    /// Waits until `server` answers the SOA of `zone` (60 s at most, then panics with
    /// the servers' logs).
    fn wait_for(&self, zone: &str, server: &str) {
        let addr = SocketAddr::new(server.parse().expect("address"), 53);
        let probe = Query::new(zone, 6).to_bytes();
        let started = Instant::now();
        loop {
            let probe = probe.clone();
            let answered = self.ns.run_in(move || {
                udp_exchange(addr, &probe, Duration::from_millis(200))
                    .and_then(|r| normalize(&r).ok())
                    .is_some_and(|n| n.rcode == 0 && !n.answer.is_empty())
            });
            if answered {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{server} does not serve {zone}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every server's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let _ = writeln!(
                    all,
                    "== {}\n{}",
                    path.display(),
                    std::fs::read_to_string(&path).unwrap_or_default()
                );
            }
        }
        all
    }

    /// Starts Unbound (Debian's), validating with the mini-Internet's anchor, on
    /// `addr` in the namespace; the guard stops it.
    pub fn unbound(&self, addr: SocketAddr) -> ProcessGuard {
        self.unbound_with(addr, "")
    }

    /// [`Self::unbound`] with `extra` lines added to its `server:` clause (each
    /// indented by two spaces, e.g. `"  rrset-cache-size: 1g\n"`).
    pub fn unbound_with(&self, addr: SocketAddr, extra: &str) -> ProcessGuard {
        let dir = self.dir.path().join(format!("unbound-{}", addr.port()));
        std::fs::create_dir_all(&dir).expect("unbound folder");
        let conf = format!(
            "server:\n  interface: {ip}@{port}\n  port: {port}\n  do-daemonize: no\n  \
             username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  \
             use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  num-threads: 1\n  \
             do-ip6: no\n  do-not-query-localhost: no\n  access-control: 0.0.0.0/0 allow_snoop\n  \
             root-hints: \"{hints}\"\n  trust-anchor-file: \"{anchor}\"\n  \
             module-config: \"validator iterator\"\n  qname-minimisation: yes\n  \
             aggressive-nsec: yes\n  ede: yes\n  val-log-level: 2\n  \
             harden-referral-path: no\n  minimal-responses: yes\n  prefetch: no\n\
             {extra}remote-control:\n  control-enable: no\n",
            ip = addr.ip(),
            port = addr.port(),
            d = dir.display(),
            hints = self.root_hints().display(),
            anchor = self.trust_anchor().display(),
        );
        let path = dir.join("unbound.conf");
        std::fs::write(&path, conf).expect("write unbound.conf");
        let log =
            std::fs::File::create(self.dir.path().join(format!("unbound-{}.log", addr.port())))
                .expect("log");
        let mut cmd = self.ns.command(&["/usr/sbin/unbound", "-d", "-c"]);
        cmd.arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let guard = ProcessGuard::spawn("unbound", &mut cmd);
        self.wait_for_resolver(addr);
        guard
    }

    /// Starts dnsd as a resolver on `addr` in the namespace, with `extra` TOML appended
    /// to a configuration that names the hints and the anchor; the guard stops it. Its
    /// metrics are on [`Self::dnsd_metrics`]`(addr)`.
    pub fn dnsd(&self, addr: SocketAddr, extra: &str) -> Dnsd {
        self.dnsd_with_hints(addr, &self.root_hints(), extra)
    }

    /// [`Self::dnsd`] with the root hints file `hints` (e.g.
    /// [`Self::dead_root_hints`]); zone files put in its folder's `zones/` beforehand
    /// ([`Self::dnsd_zones_dir`]) are served.
    pub fn dnsd_with_hints(&self, addr: SocketAddr, hints: &Path, extra: &str) -> Dnsd {
        let dir = self.dir.path().join(format!("dnsd-{}", addr.port()));
        std::fs::create_dir_all(dir.join("zones")).expect("dnsd folder");
        let conf = format!(
            "zones-dir = \"zones\"\nstate-dir = \"state\"\nmetrics = \"{metrics}\"\n\
             [[listener]]\naddress = \"{addr}\"\nrole = \"resolver\"\n\
             allow = [\"198.51.100.0/24\", \"127.0.0.0/8\"]\n\
             [resolver]\nroot-hints = \"{hints}\"\ntrust-anchor = \"{anchor}\"\n{extra}\n",
            hints = hints.display(),
            anchor = self.trust_anchor().display(),
            metrics = Self::dnsd_metrics(addr),
        );
        let path = dir.join("dnsd.toml");
        std::fs::write(&path, conf).expect("write dnsd.toml");
        let config = path.to_str().expect("utf-8 path");
        // Ready once it resolves the root's SOA.
        Dnsd::builder()
            .as_is(&dir, &["--config", config], addr, ".")
            .recursive_probe()
            .in_netns(self.ns.clone())
            .log_filter("warn")
            .start()
    }

    /// The zones folder of the dnsd [`Self::dnsd`] starts on `addr` (made here).
    pub fn dnsd_zones_dir(&self, addr: SocketAddr) -> PathBuf {
        let zones = self
            .dir
            .path()
            .join(format!("dnsd-{}", addr.port()))
            .join("zones");
        std::fs::create_dir_all(&zones).expect("dnsd zones folder");
        zones
    }

    /// Runs `dnsd ctl` with `lines` against the dnsd started by [`Self::dnsd`] on
    /// `addr` (its control socket is a file: no namespace needed); whether it
    /// succeeded, and what it printed.
    pub fn dnsd_ctl(&self, addr: SocketAddr, lines: &[&str]) -> (bool, String) {
        let config = self
            .dir
            .path()
            .join(format!("dnsd-{}", addr.port()))
            .join("dnsd.toml");
        let out = Command::new(crate::bins::path("dnsd"))
            .arg("ctl")
            .arg("--config")
            .arg(&config)
            .args(lines)
            .output()
            .expect("run dnsd ctl");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Where the dnsd started by [`Self::dnsd`] on `addr` serves its metrics.
    pub fn dnsd_metrics(addr: SocketAddr) -> SocketAddr {
        SocketAddr::new(addr.ip(), addr.port().wrapping_add(1000))
    }

    /// The metrics text of the dnsd started on `addr` (scraped from the namespace).
    pub fn scrape_dnsd(&self, addr: SocketAddr) -> String {
        crate::metrics::scrape(Some(&*self.ns), Self::dnsd_metrics(addr))
    }

    /// Waits until the resolver on `addr` answers the root's SOA.
    fn wait_for_resolver(&self, addr: SocketAddr) {
        let mut probe = Query::new(".", 6);
        probe.rd = true;
        let probe = probe.to_bytes();
        let started = Instant::now();
        loop {
            let probe = probe.clone();
            let answered = self.ns.run_in(move || {
                udp_exchange(addr, &probe, Duration::from_millis(500))
                    .and_then(|r| normalize(&r).ok())
                    .is_some_and(|n| n.rcode == 0)
            });
            if answered {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the resolver on {addr} does not answer:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MiniInternet {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.kill();
        }
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn file_stem(name: &str) -> String {
    match name.trim_end_matches('.') {
        "" => "root".to_string(),
        name => name.to_string(),
    }
}

/// The zones, parents first.
fn zone_defs() -> Vec<ZoneDef> {
    let leaf = |name, server, signing, body: &str| ZoneDef {
        name,
        body: body.to_string(),
        signing,
        server,
        children: Vec::new(),
    };
    let big_txt: String = (0..12)
        .map(|i| format!("big TXT \"{i:02} {}\"\n", "x".repeat(200)))
        .collect();
    vec![
        ZoneDef {
            name: ".",
            body: String::new(),
            signing: Signing::Nsec3 { iterations: 0 },
            server: ROOT,
            children: vec![
                ("example.", "ns.example.", Some(TLD)),
                ("lab.", "ns.lab.", Some(TLD)),
            ],
        },
        ZoneDef {
            name: "example.",
            body: String::new(),
            signing: Signing::Nsec,
            server: TLD,
            children: vec![
                ("secure.example.", "ns.secure.example.", Some(BIND)),
                ("expired.example.", "ns.expired.example.", Some(BIND)),
                ("nsec3.example.", "ns.nsec3.example.", Some(NSD)),
                ("insecure.example.", "ns.insecure.example.", Some(NSD)),
                ("wrongds.example.", "ns.wrongds.example.", Some(NSD)),
                ("nodnskey.example.", "ns.nodnskey.example.", Some(NSD)),
                ("iter.example.", "ns.iter.example.", Some(NSD)),
                ("optout.example.", "ns.optout.example.", Some(NSD)),
                ("wcproof.example.", "ns.wcproof.example.", Some(NSD)),
                ("wcproof3.example.", "ns.wcproof3.example.", Some(NSD)),
                ("ed448.example.", "ns.ed448.example.", Some(NSD)),
                ("unknownalg.example.", "ns.unknownalg.example.", Some(NSD)),
                (
                    "unknowndigest.example.",
                    "ns.unknowndigest.example.",
                    Some(NSD),
                ),
                ("outofzone.example.", "ns2.plain.lab.", None),
                ("lame.example.", "ns.lame.example.", Some(LAME)),
                ("timeout.example.", "ns.timeout.example.", Some(SILENT)),
            ],
        },
        ZoneDef {
            name: "lab.",
            body: String::new(),
            signing: Signing::Unsigned,
            server: TLD,
            children: vec![("plain.lab.", "ns.plain.lab.", Some(BIND))],
        },
        leaf(
            "secure.example.",
            BIND,
            Signing::Nsec,
            &format!(
                "www A 198.51.100.80\nwww AAAA 2001:db8::80\n@ MX 10 mail\n\
                 mail A 198.51.100.25\ntxt TXT \"hello\" \"world\"\n*.wild A 198.51.100.81\n\
                 *.wcname CNAME www\n\
                 alias CNAME www.plain.lab.\nchain CNAME www.nsec3.example.\n\
                 loop1 CNAME loop2\nloop2 CNAME loop1\ndn DNAME plain.lab.\n{big_txt}"
            ),
        ),
        leaf(
            "expired.example.",
            BIND,
            Signing::Expired,
            "www A 198.51.100.82\n",
        ),
        leaf(
            "nsec3.example.",
            NSD,
            Signing::Nsec3 { iterations: 0 },
            "www A 198.51.100.83\n*.wild TXT \"wild\"\nback CNAME www.secure.example.\n",
        ),
        leaf(
            "insecure.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.84\n",
        ),
        leaf(
            "wrongds.example.",
            NSD,
            Signing::WrongDs,
            "www A 198.51.100.85\n",
        ),
        leaf(
            "nodnskey.example.",
            NSD,
            Signing::NoDnskey,
            "www A 198.51.100.86\n",
        ),
        leaf(
            "iter.example.",
            NSD,
            Signing::Nsec3 { iterations: 200 },
            "www A 198.51.100.87\n",
        ),
        leaf(
            "wcproof.example.",
            NSD,
            Signing::NoWildcardProof { nsec3: false },
            "www A 198.51.100.92\n*.wild A 198.51.100.93\n",
        ),
        leaf(
            "wcproof3.example.",
            NSD,
            Signing::NoWildcardProof { nsec3: true },
            "www A 198.51.100.94\n*.wild A 198.51.100.95\n",
        ),
        leaf(
            "ed448.example.",
            NSD,
            Signing::Ed448,
            "www A 198.51.100.96\n",
        ),
        leaf(
            "unknownalg.example.",
            NSD,
            Signing::UnknownDs { digest: false },
            "www A 198.51.100.97\n",
        ),
        leaf(
            "unknowndigest.example.",
            NSD,
            Signing::UnknownDs { digest: true },
            "www A 198.51.100.98\n",
        ),
        ZoneDef {
            name: "optout.example.",
            body: "www A 198.51.100.90\n".to_string(),
            signing: Signing::Nsec3OptOut,
            server: NSD,
            children: vec![("sub.optout.example.", "ns.sub.optout.example.", Some(NSD))],
        },
        leaf(
            "sub.optout.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.91\n",
        ),
        leaf(
            "outofzone.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.88\n",
        ),
        ZoneDef {
            name: "corp.example.",
            body: "www A 198.51.100.41\nalias CNAME www.secure.example.\n".to_string(),
            signing: Signing::Unsigned,
            server: CORP,
            children: vec![("dev.corp.example.", "ns.dev.corp.example.", Some(NSD))],
        },
        leaf(
            "dev.corp.example.",
            NSD,
            Signing::Unsigned,
            "www A 198.51.100.42\n",
        ),
        leaf(
            "plain.lab.",
            BIND,
            Signing::Unsigned,
            &format!("www A 198.51.100.89\nsigned CNAME www.secure.example.\nns2 A {NSD}\n"),
        ),
    ]
}

/// Signs `path` for `zone` as `signing` says; returns the signed file and the DS
/// record(s) the parent publishes (zone-file lines).
fn sign(work: &Path, zone: &str, path: &Path, signing: Signing) -> (PathBuf, String) {
    let algorithm = match signing {
        Signing::Ed448 => "ED448",
        _ => "ECDSAP256SHA256",
    };
    let keygen = |ksk: bool| -> String {
        let mut cmd = Command::new("ldns-keygen");
        cmd.current_dir(work).args(["-a", algorithm]);
        if ksk {
            cmd.arg("-k");
        }
        let out = cmd.arg(zone).output().expect("run ldns-keygen");
        assert!(out.status.success(), "ldns-keygen: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ksk = keygen(true);
    let zsk = keygen(false);
    let signed = work.join(format!("{}.signed", file_stem(zone)));
    let mut cmd = Command::new("ldns-signzone");
    cmd.current_dir(work).arg("-f").arg(&signed);
    match signing {
        Signing::NoWildcardProof { nsec3: true } => {
            cmd.args(["-n", "-t", "0"]);
        }
        Signing::Nsec3 { iterations } => {
            cmd.args(["-n", "-t", &iterations.to_string()]);
            if iterations > 0 {
                cmd.args(["-s", "abcd"]);
            }
        }
        Signing::Nsec3OptOut => {
            cmd.args(["-n", "-p", "-t", "0"]);
        }
        Signing::Expired => {
            cmd.args(["-i", "20190101000000", "-e", "20200101000000"]);
        }
        _ => {}
    }
    let out = cmd
        .arg(path)
        .arg(&ksk)
        .arg(&zsk)
        .output()
        .expect("run ldns-signzone");
    assert!(out.status.success(), "ldns-signzone {zone}: {out:?}");
    let mut ds = std::fs::read_to_string(work.join(format!("{ksk}.ds"))).expect("read DS");
    match signing {
        Signing::WrongDs => {
            // Another key's DS: a key tag and digest that match nothing in the zone.
            let other = keygen(true);
            ds = std::fs::read_to_string(work.join(format!("{other}.ds"))).expect("read DS");
        }
        Signing::UnknownDs { digest } => {
            // owner [TTL] class DS key-tag algorithm digest-type digest
            ds = ds
                .lines()
                .map(|line| {
                    let mut fields: Vec<&str> = line.split_whitespace().collect();
                    let at = fields.iter().position(|f| *f == "DS").unwrap_or(0);
                    if let Some(field) = fields.get_mut(at + if digest { 3 } else { 2 }) {
                        *field = "200";
                    }
                    format!("{}\n", fields.join(" "))
                })
                .collect();
        }
        Signing::NoDnskey => strip(&signed, &["DNSKEY"]),
        Signing::NoWildcardProof { .. } => strip(&signed, &["NSEC", "NSEC3"]),
        _ => {}
    }
    (signed, ds)
}

/// Takes the RRsets of `types` and their RRSIGs out of the signed zone file `signed`
/// (ldns-signzone writes one record a line: owner, TTL, class, type, data).
fn strip(signed: &Path, types: &[&str]) {
    let text = std::fs::read_to_string(signed).expect("read signed zone");
    let kept: String = text
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listed = |field: Option<&&str>| field.is_some_and(|f| types.contains(f));
            let its_sig = fields.get(3) == Some(&"RRSIG") && listed(fields.get(4));
            !(listed(fields.get(3)) || its_sig)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(signed, kept).expect("write signed zone");
}

fn nsd(ns: &Netns, work: &Path, name: &str, addr: &str, zones: &[(&str, PathBuf)]) -> ProcessGuard {
    let d = work.join(format!("nsd-{name}"));
    std::fs::create_dir_all(&d).expect("nsd folder");
    let d = d.display();
    let mut conf = format!(
        "server:\n  ip-address: {addr}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
         zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  \
         verbosity: 1\n  server-count: 1\n  rrl-ratelimit: 0\n  zonefiles-check: no\n\
         remote-control:\n  control-enable: no\n"
    );
    for (zone, path) in zones {
        write!(
            conf,
            "zone:\n  name: \"{zone}\"\n  zonefile: \"{}\"\n",
            path.display()
        )
        .unwrap();
    }
    let path = work.join(format!("nsd-{name}.conf"));
    std::fs::write(&path, conf).expect("write nsd.conf");
    spawn(
        ns,
        work,
        &format!("nsd-{name}"),
        &[
            "/usr/sbin/nsd",
            "-d",
            "-c",
            path.to_str().unwrap_or_default(),
        ],
    )
}

fn knot(ns: &Netns, work: &Path, addr: &str, zones: &[(&str, PathBuf)]) -> ProcessGuard {
    let d = work.join("knot");
    std::fs::create_dir_all(&d).expect("knot folder");
    let d = d.display();
    let mut conf = format!(
        "server:\n  listen: {addr}@53\n  rundir: \"{d}\"\n  pidfile: \"{d}/knot.pid\"\n  \
         udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         control:\n  listen: \"{d}/knot.sock\"\ndatabase:\n  storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\nzone:\n"
    );
    for (zone, path) in zones {
        write!(
            conf,
            "  - domain: \"{zone}\"\n    file: \"{}\"\n",
            path.display()
        )
        .unwrap();
    }
    let path = work.join("knot.conf");
    std::fs::write(&path, conf).expect("write knot.conf");
    spawn(
        ns,
        work,
        "knot",
        &["/usr/sbin/knotd", "-c", path.to_str().unwrap_or_default()],
    )
}

fn bind(ns: &Netns, work: &Path, addr: &str, zones: &[(&str, PathBuf)]) -> ProcessGuard {
    let d = work.join("bind");
    std::fs::create_dir_all(&d).expect("bind folder");
    let mut conf = format!(
        "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
         listen-on port 53 {{ {addr}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  \
         dnssec-validation no;\n  minimal-responses yes;\n  notify no;\n}};\n",
        d = d.display()
    );
    for (zone, path) in zones {
        writeln!(
            conf,
            "zone \"{zone}\" {{ type primary; file \"{}\"; }};",
            path.display()
        )
        .unwrap();
    }
    let path = work.join("named.conf");
    std::fs::write(&path, conf).expect("write named.conf");
    spawn(
        ns,
        work,
        "bind",
        &[
            "/usr/sbin/named",
            "-g",
            "-c",
            path.to_str().unwrap_or_default(),
        ],
    )
}

fn spawn(ns: &Netns, work: &Path, name: &str, argv: &[&str]) -> ProcessGuard {
    let log = std::fs::File::create(work.join(format!("{name}.log"))).expect("log");
    let mut cmd = ns.command(argv);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    ProcessGuard::spawn(name, &mut cmd)
}

/// Sends `query` to `resolver` from inside the namespace; the raw response.
pub fn ask(ns: &Netns, resolver: SocketAddr, query: &Query, timeout: Duration) -> Option<Vec<u8>> {
    let bytes = query.to_bytes();
    ns.run_in(move || udp_exchange(resolver, &bytes, timeout))
}

/// The address `RESOLVER_ADDR:port`.
pub fn resolver_addr(port: u16) -> SocketAddr {
    SocketAddr::new(RESOLVER_ADDR.parse::<IpAddr>().expect("address"), port)
}
