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
//!  │  ├─ stripneg    NSD  198.51.100.21  signed (NSEC), reached through a relay on
//!  │  │                                  198.51.100.32 that strips SOA and proofs from
//!  │  │                                  negative answers                   -> bogus
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

mod resolvers;
mod servers;
mod strip;
mod zones;

use servers::{bind, knot, nsd};
use zones::{Signing, file_stem, fqdn, sign, zone_defs};

/// The root server's address.
pub const ROOT: &str = "198.51.100.1";
const TLD: &str = "198.51.100.10";
const BIND: &str = "198.51.100.20";
const NSD: &str = "198.51.100.21";
const LAME: &str = "198.51.100.30";
const SILENT: &str = "198.51.100.31";
/// The relay that strips negative answers of `stripneg.example.` (`strip.rs`).
const STRIP: &str = "198.51.100.32";
/// The server of the private zone `corp.example.` (not delegated: reached only by
/// forwarding to it, [`MiniInternet::dead_root_hints`]).
pub const CORP: &str = "198.51.100.40";
/// Addresses of the namespace's loopback the resolvers under test may listen on.
pub const RESOLVER_ADDR: &str = "198.51.100.53";

/// The running mini-Internet; dropping it stops every server and deletes the namespace.
pub struct MiniInternet {
    /// The namespace everything runs in.
    pub ns: Arc<Netns>,
    dir: tempfile::TempDir,
    servers: Vec<ProcessGuard>,
    _silent: UdpSocket,
    _stripper: strip::Stripper,
}

impl MiniInternet {
    /// Builds, signs and serves the zones; returns once every server answers.
    pub fn start() -> MiniInternet {
        let ns = Arc::new(Netns::new("nf-inet"));
        for addr in [
            ROOT,
            TLD,
            BIND,
            NSD,
            LAME,
            SILENT,
            STRIP,
            CORP,
            RESOLVER_ADDR,
        ] {
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
        // NSD serves the zones behind the stripping relay too; the relay asks it.
        let mut leaves = zones_of(NSD);
        leaves.extend(zones_of(STRIP));
        servers.push(nsd(&ns, work, "leaves", NSD, &leaves));
        servers.push(nsd(&ns, work, "lame", LAME, &[]));
        servers.push(nsd(&ns, work, "corp", CORP, &zones_of(CORP)));
        servers.push(knot(&ns, work, TLD, &zones_of(TLD)));
        servers.push(bind(&ns, work, BIND, &zones_of(BIND)));
        let stripper = strip::Stripper::start(&ns, STRIP, NSD);
        let internet = MiniInternet {
            ns,
            dir,
            servers,
            _silent: silent,
            _stripper: stripper,
        };
        for (name, server) in [
            (".", ROOT),
            ("example.", TLD),
            ("secure.example.", BIND),
            ("nsec3.example.", NSD),
            ("stripneg.example.", STRIP),
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

    /// How many queries for `name` (no final dot) of type `rtype` (e.g. "A") BIND
    /// (serving secure.example., expired.example. and plain.lab.) has received so
    /// far, from its query log.
    pub fn bind_queries(&self, name: &str, rtype: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("bind.log")).unwrap_or_default();
        let needle = format!("query: {name} IN {rtype} ");
        log.lines().filter(|l| l.contains(&needle)).count()
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

/// Sends `query` to `resolver` from inside the namespace; the raw response.
pub fn ask(ns: &Netns, resolver: SocketAddr, query: &Query, timeout: Duration) -> Option<Vec<u8>> {
    let bytes = query.to_bytes();
    ns.run_in(move || udp_exchange(resolver, &bytes, timeout))
}

/// The address `RESOLVER_ADDR:port`.
pub fn resolver_addr(port: u16) -> SocketAddr {
    SocketAddr::new(RESOLVER_ADDR.parse::<IpAddr>().expect("address"), port)
}
