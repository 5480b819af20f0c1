//! RFC 2136 UPDATE driven by the real clients the issue names (issue 10, point 4),
//! beyond nsupdate and knsupdate (`dnsd_update`), each against dnsd and BIND with the
//! same key and policy, compared:
//!
//! - certbot's `dns-rfc2136` plugin (Debian's python3-certbot-dns-rfc2136): its own
//!   client code, `_RFC2136Client`, run as certbot runs it for a DNS-01 challenge —
//!   find the zone with TSIG-signed SOA queries over TCP (each guess from the
//!   challenge name up; the response must carry a valid TSIG, or the plugin fails),
//!   add the `_acme-challenge` TXT, delete it.
//! - Kea's DHCP-DDNS server (Debian's kea-dhcp-ddns-server): given the name change
//!   requests a DHCP server sends it (JSON over UDP), it updates the forward and the
//!   reverse zone with RFC 4703's conflict resolution: A + DHCID, PTR + DHCID, then
//!   their removal when the lease goes.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::update::Peer;

const ZONE: &str = "$ORIGIN dyn.test.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n\
    www A 198.51.100.80\n";

const REVERSE: &str = "$ORIGIN 100.51.198.in-addr.arpa.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n";

/// The keys, in BIND's format (dnsd's `key-files`, BIND's `include`).
const KEYS: &str = "key \"acme.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"YWNtZS1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=\";\n};\n\
    key \"dhcp.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"ZGhjcC1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=\";\n};\n";

/// Runs certbot's rfc2136 client: `add` or `del` the TXT `content` at `name`, signed
/// with acme.key; its output (the plugin's error, when it fails) and whether it did.
fn certbot(server: SocketAddr, action: &str, name: &str, content: &str) -> (bool, String) {
    let script = "import sys, dns.tsig\n\
        from certbot_dns_rfc2136._internal.dns_rfc2136 import _RFC2136Client\n\
        server, port, action, name, content = sys.argv[1:6]\n\
        c = _RFC2136Client(server, int(port), 'acme.key', \
        'YWNtZS1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=', dns.tsig.HMAC_SHA256, 5)\n\
        if action == 'add':\n    c.add_txt_record(name, content, 60)\n\
        else:\n    c.del_txt_record(name, content)\n";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, &server.ip().to_string()])
        .args([&server.port().to_string(), action, name, content])
        .output()
        .expect("run python3");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// dnsd serving dyn.test (and its reverse zone) with KEYS, acme.key granted TXT under
/// `_acme-challenge`, dhcp.key every name of both zones.
fn dnsd(dir: &std::path::Path) -> Dnsd {
    let keys = dir.join("keys.conf");
    std::fs::write(&keys, KEYS).expect("keys");
    Dnsd::builder()
        .zone("dyn.test", ZONE)
        .zone("100.51.198.in-addr.arpa", REVERSE)
        .config(&format!(
            "[update]\nkey-files = [\"{}\"]\n\
             [[update.grant]]\nkey = \"acme.key\"\nmatch = \"subdomain\"\nname = \"_acme-challenge.dyn.test\"\ntypes = [\"TXT\"]\nzones = [\"dyn.test\"]\n\
             [[update.grant]]\nkey = \"dhcp.key\"\nmatch = \"zonesub\"\n",
            keys.display()
        ))
        .start()
}

/// BIND with the same keys and policy as [`dnsd`].
fn bind(dir: &std::path::Path) -> Peer {
    let keys = dir.join("bind-keys.conf");
    std::fs::write(&keys, KEYS).expect("keys");
    let peer = netfabric_tests::update::bind_with(
        "dyn.test",
        ZONE,
        "update-policy { grant acme.key subdomain _acme-challenge.dyn.test. TXT; grant dhcp.key zonesub ANY; };",
        &format!(
            "include \"{}\";\nzone \"100.51.198.in-addr.arpa\" {{ type primary; file \"{}\"; update-policy {{ grant dhcp.key zonesub ANY; }}; }};",
            keys.display(),
            reverse_file(dir).display()
        ),
    );
    netfabric_tests::update::wait_serving(
        peer.addr,
        "100.51.198.in-addr.arpa.",
        "named",
        &peer.dir.path().join("log"),
    );
    peer
}

/// BIND's copy of the reverse zone (it writes its journal beside it).
fn reverse_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("reverse.zone");
    if !path.exists() {
        std::fs::write(&path, REVERSE).expect("reverse zone");
    }
    path
}

/// certbot's DNS-01 flow, against dnsd and BIND: two challenges of one name (a
/// certificate for `dyn.test` and `*.dyn.test` has two TXT values), each found by its
/// zone, added, seen, deleted one after the other; a challenge outside the key's
/// grant fails on both (REFUSED) and leaves nothing.
#[test]
fn certbot_rfc2136_plugin_flow_matches_bind() {
    let dir = tempfile::tempdir().expect("dir");
    let dnsd = dnsd(dir.path());
    let bind = bind(dir.path());
    let name = "_acme-challenge.dyn.test";
    for (server, who) in [(dnsd.addr, "dnsd"), (bind.addr, "BIND")] {
        for token in ["token-one", "token-two"] {
            let (ok, out) = certbot(server, "add", name, token);
            assert!(ok, "certbot's plugin could not add {token} at {who}: {out}");
        }
        let mut seen = short(server, &format!("{name}."), "TXT");
        seen.sort();
        assert_eq!(
            seen,
            ["\"token-one\"", "\"token-two\""],
            "{who}: the challenges after the adds"
        );
        let (ok, out) = certbot(server, "del", name, "token-one");
        assert!(ok, "certbot's plugin could not delete at {who}: {out}");
        assert_eq!(
            short(server, &format!("{name}."), "TXT"),
            ["\"token-two\""],
            "{who}: one challenge deleted"
        );
        let (ok, out) = certbot(server, "del", name, "token-two");
        assert!(ok, "certbot's plugin could not delete at {who}: {out}");
        assert!(
            short(server, &format!("{name}."), "TXT").is_empty(),
            "{who}: both challenges deleted"
        );
        // Outside the grant: the plugin finds the zone, the update is refused.
        let (ok, out) = certbot(server, "add", "www.dyn.test", "not-a-challenge");
        assert!(
            !ok && out.contains("REFUSED"),
            "{who}: a TXT outside _acme-challenge: {out}"
        );
        assert!(short(server, "www.dyn.test.", "TXT").is_empty(), "{who}");
    }
}

/// Kea's DHCP-DDNS server (D2) updating `server`'s zones with dhcp.key; the NCR port
/// it listens on and its log.
struct D2 {
    _guard: netfabric_tests::process::ProcessGuard,
    ncr: SocketAddr,
    log: std::path::PathBuf,
}

impl D2 {
    fn start(dir: &std::path::Path, who: &str, server: SocketAddr) -> D2 {
        let ncr = SocketAddr::from(([127, 0, 0, 1], netfabric_tests::servers::free_port()));
        let domain = |name: &str| {
            format!(
                "{{\"name\": \"{name}\", \"key-name\": \"dhcp.key\", \"dns-servers\": [{{\"ip-address\": \"{}\", \"port\": {}}}]}}",
                server.ip(),
                server.port()
            )
        };
        let config = format!(
            "{{\"DhcpDdns\": {{\"ip-address\": \"127.0.0.1\", \"port\": {},\
             \"dns-server-timeout\": 2000, \"ncr-protocol\": \"UDP\", \"ncr-format\": \"JSON\",\
             \"tsig-keys\": [{{\"name\": \"dhcp.key\", \"algorithm\": \"HMAC-SHA256\",\
             \"secret\": \"ZGhjcC1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=\"}}],\
             \"forward-ddns\": {{\"ddns-domains\": [{}]}},\
             \"reverse-ddns\": {{\"ddns-domains\": [{}]}},\
             \"loggers\": [{{\"name\": \"kea-dhcp-ddns\", \"severity\": \"DEBUG\", \"debuglevel\": 50,\
             \"output_options\": [{{\"output\": \"stdout\"}}]}}]}}}}",
            ncr.port(),
            domain("dyn.test."),
            domain("100.51.198.in-addr.arpa.")
        );
        let run = dir.join(format!("d2-{who}"));
        std::fs::create_dir_all(&run).expect("D2 folder");
        std::fs::write(run.join("d2.json"), config).expect("D2 config");
        let log = run.join("d2.log");
        let out = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new("/usr/sbin/kea-dhcp-ddns");
        cmd.arg("-c")
            .arg(run.join("d2.json"))
            .env("KEA_PIDFILE_DIR", &run)
            .env("KEA_LOCKFILE_DIR", &run)
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        let guard = netfabric_tests::process::ProcessGuard::spawn("kea-dhcp-ddns", &mut cmd);
        let d2 = D2 {
            _guard: guard,
            ncr,
            log,
        };
        netfabric_tests::engines::wait("kea-dhcp-ddns started", Duration::from_secs(30), || {
            d2.log().contains("DHCP_DDNS_STARTED")
        });
        d2
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The outcomes D2 logged so far (ADD_SUCCEEDED, ADD_FAILED, ...), in order.
    fn outcomes(&self) -> Vec<String> {
        self.log()
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("DHCP_DDNS_"))
            .filter(|w| w.ends_with("_SUCCEEDED") || *w == "ADD_FAILED" || *w == "REMOVE_FAILED")
            .map(String::from)
            .collect()
    }

    /// Sends the name change request a DHCP server sends when a lease of `fqdn` at
    /// `address` for the client `dhcid` is granted (`add`) or goes; waits for D2's
    /// outcome and returns it.
    fn change(&self, add: bool, fqdn: &str, address: &str, dhcid: &str) -> String {
        let before = self.outcomes().len();
        let json = format!(
            "{{\"change-type\": {}, \"forward-change\": true, \"reverse-change\": true,\
             \"fqdn\": \"{fqdn}\", \"ip-address\": \"{address}\", \"dhcid\": \"{dhcid}\",\
             \"lease-expires-on\": \"20261207235959\", \"lease-length\": 3600,\
             \"use-conflict-resolution\": true}}",
            u8::from(!add)
        );
        // The NCR's UDP form: the JSON's length (two octets), then the JSON.
        let mut wire = u16::try_from(json.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        wire.extend_from_slice(json.as_bytes());
        let socket = UdpSocket::bind("127.0.0.1:0").expect("socket");
        socket.send_to(&wire, self.ncr).expect("send the NCR");
        let mut outcome = String::new();
        netfabric_tests::engines::wait("D2's outcome", Duration::from_secs(30), || {
            let all = self.outcomes();
            all.get(before).cloned().map(|o| outcome = o).is_some()
        });
        outcome
    }
}

/// What a DHCP lease leaves in the zones: the forward name's A and DHCID, the
/// reverse name's PTR and DHCID.
fn lease_records(server: SocketAddr, fqdn: &str, reverse: &str) -> Vec<Vec<String>> {
    [
        (fqdn, "A"),
        (fqdn, "DHCID"),
        (reverse, "PTR"),
        (reverse, "DHCID"),
    ]
    .iter()
    .map(|(name, rtype)| short(server, name, rtype))
    .collect()
}

/// Kea's D2, as a DHCP server drives it, against dnsd and BIND: a lease granted (A +
/// DHCID, PTR + DHCID, RFC 4703's NXDOMAIN prerequisite), another client asking for
/// the same name (the DHCID prerequisite fails: refused, the first client's records
/// stay), the lease released (the DHCID prerequisite holds: everything removed). The
/// same outcome for each request, and the same records after each, on both.
#[test]
fn kea_ddns_lease_updates_match_bind() {
    let dir = tempfile::tempdir().expect("dir");
    let dnsd = dnsd(dir.path());
    let bind = bind(dir.path());
    let first = "000101aabbccddeeff00112233445566778899aabbccddeeff0011223344556677";
    let other = "0001017766554433221100ffeeddccbbaa9988776655443322110000ffeeddccba";
    let steps: &[(&str, bool, &str, &str)] = &[
        ("lease granted", true, "198.51.100.60", first),
        ("another client, same name", true, "198.51.100.61", other),
        ("lease released", false, "198.51.100.60", first),
    ];
    let mut seen: Vec<Vec<(String, Vec<Vec<String>>)>> = Vec::new();
    for (who, server) in [("dnsd", dnsd.addr), ("bind", bind.addr)] {
        let d2 = D2::start(dir.path(), who, server);
        let mut results = Vec::new();
        for (step, add, address, dhcid) in steps {
            let outcome = d2.change(*add, "pc2.dyn.test.", address, dhcid);
            let records = lease_records(server, "pc2.dyn.test.", "60.100.51.198.in-addr.arpa.");
            println!("{who}: {step}: {outcome} {records:?}");
            results.push((outcome, records));
        }
        seen.push(results);
    }
    // What a granted lease leaves: A and DHCID forward, PTR and DHCID reverse.
    let granted = &seen[1][0].1;
    assert_eq!(granted[0], ["198.51.100.60"], "BIND's A after the lease");
    assert_eq!(granted[2], ["pc2.dyn.test."], "BIND's PTR after the lease");
    assert!(
        !granted[1].is_empty() && !granted[3].is_empty(),
        "BIND's DHCIDs"
    );
    for (i, (step, ..)) in steps.iter().enumerate() {
        assert_eq!(
            seen[0][i], seen[1][i],
            "{step}: dnsd (left) and BIND (right)"
        );
    }
}
