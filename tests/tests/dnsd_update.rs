//! RFC 2136 UPDATE (issue 10, point 4), differential: the same `nsupdate` scripts sent
//! to dnsd, Knot and BIND (each serving the same zone on loopback, unsigned updates
//! allowed from 127.0.0.0/8) give the same RCODEs, and the names they touch then
//! answer the same on all three. The scripts cover every prerequisite kind true and
//! false (§2.4), NOTZONE, NOTAUTH, certbot's `dns-rfc2136` flow (add a TXT, delete it),
//! a DHCP server's add/remove of an address with a TXT ownership record (Kea style),
//! the apex NS and SOA protections (§3.4.2) and the CNAME rules.
//!
//! Then what only dnsd does: an RRset the zone file defines is REFUSED (the file
//! wins), an update from outside the allowed prefixes is REFUSED, one signed with an
//! unknown key gets NOTAUTH, and the records survive a restart.
//!
//! TSIG and update policies, differential with BIND: `signed_updates_and_policies_match_bind`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netfabric_tests::dns::short;
use netfabric_tests::dnsd::Dnsd;
use netfabric_tests::process::run_with_input;
use netfabric_tests::update::Peer;

const ZONE: &str = "$ORIGIN dyn.test.\n$TTL 300\n\
    @ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n\
    @ NS ns1.example.net.\n\
    @ NS ns2.example.net.\n\
    www A 198.51.100.80\n";

/// One `send` of nsupdate: its commands (server and zone lines are added).
const SCRIPTS: &[(&str, &str)] = &[
    ("add", "update add a.dyn.test. 300 A 198.51.100.1"),
    (
        "nxdomain false",
        "prereq nxdomain a.dyn.test.\nupdate add a.dyn.test. 300 A 198.51.100.3",
    ),
    (
        "yxdomain true",
        "prereq yxdomain a.dyn.test.\nupdate add a.dyn.test. 300 A 198.51.100.2",
    ),
    (
        "nxrrset false",
        "prereq nxrrset a.dyn.test. A\nupdate add z.dyn.test. 300 A 198.51.100.9",
    ),
    (
        "yxrrset false",
        "prereq yxrrset b.dyn.test. A\nupdate add z.dyn.test. 300 A 198.51.100.9",
    ),
    (
        "yxrrset value false",
        "prereq yxrrset a.dyn.test. A 198.51.100.1\nupdate add z.dyn.test. 300 A 198.51.100.9",
    ),
    (
        "yxrrset value true",
        "prereq yxrrset a.dyn.test. A 198.51.100.1\nprereq yxrrset a.dyn.test. A 198.51.100.2\nupdate add v.dyn.test. 300 A 198.51.100.4",
    ),
    (
        "nxdomain true",
        "prereq nxdomain b.dyn.test.\nupdate add b.dyn.test. 300 AAAA 2001:db8::b",
    ),
    (
        "yxdomain false",
        "prereq yxdomain nothing.dyn.test.\nupdate add z.dyn.test. 300 A 198.51.100.9",
    ),
    ("notzone", "update add x.elsewhere.test. 300 A 198.51.100.9"),
    (
        "certbot add",
        "update add _acme-challenge.dyn.test. 300 TXT \"token-1\"",
    ),
    (
        "certbot add 2",
        "update add _acme-challenge.dyn.test. 300 TXT \"token-2\"",
    ),
    (
        "certbot delete",
        "update delete _acme-challenge.dyn.test. TXT \"token-1\"",
    ),
    (
        "kea add",
        "prereq nxdomain pc1.dyn.test.\nupdate add pc1.dyn.test. 300 A 198.51.100.50\nupdate add pc1.dyn.test. 300 TXT \"kea-owner-1\"",
    ),
    (
        "kea add again",
        "prereq nxdomain pc1.dyn.test.\nupdate add pc1.dyn.test. 300 A 198.51.100.51",
    ),
    (
        "kea remove",
        "prereq yxrrset pc1.dyn.test. TXT \"kea-owner-1\"\nupdate delete pc1.dyn.test. A\nupdate delete pc1.dyn.test. TXT",
    ),
    ("apex ns delete", "update delete dyn.test. NS"),
    (
        "apex ns last",
        "update delete dyn.test. NS ns1.example.net.\nupdate delete dyn.test. NS ns2.example.net.",
    ),
    ("soa delete", "update delete dyn.test. SOA"),
    ("cname", "update add c.dyn.test. 300 CNAME a.dyn.test."),
    (
        "a beside cname",
        "update add c.dyn.test. 300 A 198.51.100.7",
    ),
    (
        "cname beside a",
        "update add a.dyn.test. 300 CNAME v.dyn.test.",
    ),
    ("delete name", "update delete v.dyn.test."),
    ("ttl change", "update add a.dyn.test. 600 A 198.51.100.1"),
];

/// Scripts that change an RRset the zone file defines: Knot and BIND apply them, dnsd
/// answers REFUSED (the file wins: `manager::ownership`); Knot and BIND are still
/// compared with each other.
const FILE_OWNED: &[&str] = &["apex ns last"];

/// What the test compares after the scripts: (name, type).
const LOOKS: &[(&str, &str)] = &[
    ("a.dyn.test.", "A"),
    ("a.dyn.test.", "CNAME"),
    ("b.dyn.test.", "AAAA"),
    ("z.dyn.test.", "A"),
    ("v.dyn.test.", "A"),
    ("_acme-challenge.dyn.test.", "TXT"),
    ("pc1.dyn.test.", "A"),
    ("pc1.dyn.test.", "TXT"),
    ("dyn.test.", "NS"),
    ("c.dyn.test.", "CNAME"),
    ("c.dyn.test.", "A"),
    ("www.dyn.test.", "A"),
];

/// Runs one nsupdate `send` of `commands` for `zone` against `server` (30 s in all: a peer
/// busy under a parallel suite once let 5 s pass); the RCODE's
/// name ("NOERROR" on success).
fn nsupdate(server: SocketAddr, zone: &str, commands: &str, extra: &[&str]) -> String {
    let script = format!(
        "server {} {}\nzone {zone}\n{commands}\nsend\n",
        server.ip(),
        server.port()
    );
    let out = run_with_input(
        Command::new("nsupdate").args(["-t", "30"]).args(extra),
        &script,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return "NOERROR".into();
    }
    text.split("update failed: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map_or_else(|| format!("error: {text}"), String::from)
}

fn knot() -> Peer {
    netfabric_tests::update::knot_with("dyn.test", ZONE, "address: 127.0.0.0/8", "")
}

fn bind() -> Peer {
    bind_with("allow-update { 127.0.0.0/8; };", "")
}

/// BIND serving dyn.test with `zone_options` in its zone statement and `top` (keys,
/// includes) before it.
fn bind_with(zone_options: &str, top: &str) -> Peer {
    netfabric_tests::update::bind_with("dyn.test", ZONE, zone_options, top)
}

fn start_dnsd(state: &Path) -> Dnsd {
    Dnsd::builder()
        .zone("dyn.test", ZONE)
        .metrics()
        .config(&format!(
            "state-dir = \"{}\"\n[update]\nallow-unsigned = [\"127.0.0.0/8\"]\n",
            state.display()
        ))
        .start()
}

#[test]
fn updates_give_the_same_rcodes_and_zone_as_knot_and_bind() {
    let state = tempfile::tempdir().expect("state");
    let mut dnsd = start_dnsd(state.path());
    let knot = knot();
    let bind = bind();
    let servers = [
        ("dnsd", dnsd.addr),
        ("knot", knot.addr),
        ("bind", bind.addr),
    ];
    let mut table = Vec::new();
    for (what, commands) in SCRIPTS {
        let rcodes: Vec<String> = servers
            .iter()
            .map(|(_, addr)| nsupdate(*addr, "dyn.test.", commands, &[]))
            .collect();
        table.push(format!("{what}: {rcodes:?}"));
        if FILE_OWNED.contains(what) {
            assert!(
                rcodes[0] == "REFUSED" && rcodes[1] == rcodes[2],
                "{what}: dnsd, knot, bind answered {rcodes:?}\n{}",
                table.join("\n")
            );
            continue;
        }
        assert!(
            rcodes.iter().all(|r| *r == rcodes[0]),
            "{what}: dnsd, knot, bind answered {rcodes:?}\n{}",
            table.join("\n")
        );
    }
    // A zone none of them serves.
    let notauth: Vec<String> = servers
        .iter()
        .map(|(_, addr)| {
            nsupdate(
                *addr,
                "other.test.",
                "update add x.other.test. 300 A 198.51.100.9",
                &[],
            )
        })
        .collect();
    assert!(notauth.iter().all(|r| r == "NOTAUTH"), "{notauth:?}");
    for (name, qtype) in LOOKS {
        let answers: Vec<Vec<String>> = servers
            .iter()
            .map(|(_, addr)| short(*addr, name, qtype))
            .collect();
        if (*name, *qtype) == ("dyn.test.", "NS") {
            // "apex ns last": the file's NS RRset stays whole in dnsd.
            assert_eq!(answers[0], ["ns1.example.net.", "ns2.example.net."]);
            assert_eq!(answers[1], answers[2], "NS: knot, bind: {answers:?}");
            continue;
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{name} {qtype}: dnsd, knot, bind: {answers:?}"
        );
    }
    eprintln!("{}", table.join("\n"));

    // knsupdate (Knot's client) too: a TXT added, then deleted (certbot's flow).
    for (commands, expect) in [
        (
            "update add _acme-challenge.k.dyn.test. 60 TXT \"k-token\"",
            vec!["\"k-token\"".to_string()],
        ),
        (
            "update delete _acme-challenge.k.dyn.test. 0 TXT \"k-token\"",
            vec![],
        ),
    ] {
        let script = format!(
            "server {} {}\nzone dyn.test.\n{commands}\nsend\n",
            dnsd.addr.ip(),
            dnsd.addr.port()
        );
        let out = run_with_input(&mut Command::new("knsupdate"), &script);
        assert!(
            out.status.success(),
            "knsupdate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            short(dnsd.addr, "_acme-challenge.k.dyn.test.", "TXT"),
            expect
        );
    }

    // dnsd only: the zone file's RRset is the file's.
    assert_eq!(
        nsupdate(
            dnsd.addr,
            "dyn.test.",
            "update add www.dyn.test. 300 A 198.51.100.81",
            &[]
        ),
        "REFUSED"
    );
    assert_eq!(short(dnsd.addr, "www.dyn.test.", "A"), ["198.51.100.80"]);
    // A signed update with a key dnsd does not know: NOTAUTH (BADKEY).
    assert_eq!(
        nsupdate(
            dnsd.addr,
            "dyn.test.",
            "key hmac-sha256:k1 c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\nupdate add s.dyn.test. 300 A 198.51.100.82",
            &[]
        ),
        "NOTAUTH(BADKEY)"
    );
    assert!(
        dnsd.metric("dnsd_update_requests_total{key=\"unsigned\",rcode=\"NOERROR\"}")
            .unwrap_or(0)
            > 5
    );
    // The updates survive a restart.
    let before = short(dnsd.addr, "a.dyn.test.", "A");
    dnsd.terminate(Duration::from_secs(30));
    drop(dnsd);
    let dnsd = start_dnsd(state.path());
    assert_eq!(short(dnsd.addr, "a.dyn.test.", "A"), before);
}

/// An update from a client outside `allow-unsigned` is REFUSED: the client sends from
/// 127.0.0.1, which is not in 127.0.0.2/32; from 127.0.0.2 it is accepted.
#[test]
fn unsigned_updates_only_from_the_allowed_prefixes() {
    let dnsd = Dnsd::builder()
        .zone("dyn.test", ZONE)
        .config("[update]\nallow-unsigned = [\"127.0.0.2/32\"]\n")
        .start();
    assert_eq!(
        nsupdate(
            dnsd.addr,
            "dyn.test.",
            "update add a.dyn.test. 300 A 198.51.100.1",
            &[]
        ),
        "REFUSED"
    );
    // The same from 127.0.0.2 (nsupdate's `local`) is accepted.
    let out = nsupdate(
        dnsd.addr,
        "dyn.test.",
        "local 127.0.0.2\nupdate add a.dyn.test. 300 A 198.51.100.1",
        &[],
    );
    assert_eq!(out, "NOERROR");
    assert_eq!(short(dnsd.addr, "a.dyn.test.", "A"), ["198.51.100.1"]);
}

/// `[update]` changed in the configuration applies on SIGHUP, with no restart: a
/// client refused before (127.0.0.1, outside `allow-unsigned`) is accepted once the
/// file allows it, and the reload names nothing that would need a restart.
#[test]
fn update_settings_apply_on_sighup() {
    let mut dnsd = Dnsd::builder()
        .zone("dyn.test", ZONE)
        .config("[update]\nallow-unsigned = [\"127.0.0.2/32\"]\n")
        .start();
    let add = "update add a.dyn.test. 300 A 198.51.100.1";
    assert_eq!(nsupdate(dnsd.addr, "dyn.test.", add, &[]), "REFUSED");
    let file = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&file).expect("read dnsd.toml");
    assert!(text.contains("127.0.0.2/32"), "{text}");
    std::fs::write(&file, text.replace("127.0.0.2/32", "127.0.0.1/32")).expect("write dnsd.toml");
    dnsd.signal(libc::SIGHUP);
    dnsd.wait_for("the SIGHUP applied to [update]", |d| {
        d.log().contains("[update] applied")
    });
    assert_eq!(nsupdate(dnsd.addr, "dyn.test.", add, &[]), "NOERROR");
    assert_eq!(short(dnsd.addr, "a.dyn.test.", "A"), ["198.51.100.1"]);
    assert!(
        !dnsd.log().contains("next restart"),
        "nothing needs a restart:\n{}",
        dnsd.log()
    );
}

/// The TSIG keys of the policy test, in BIND's key-file format (read by dnsd's
/// `update.key-files`, included by named.conf, and usable by `nsupdate -k`).
const KEYS: &str = "key \"upd.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"dXBkYXRlLWtleS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=\";\n};\n\
    key \"acme.key\" {\n\talgorithm hmac-sha256;\n\tsecret \"YWNtZS1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=\";\n};\n";

/// nsupdate's `-y` for a key of [`KEYS`].
const UPD: &str = "hmac-sha256:upd.key:dXBkYXRlLWtleS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=";
const ACME: &str = "hmac-sha256:acme.key:YWNtZS1rZXktc2VjcmV0LTMyLWJ5dGVzLWxvbmctISE=";

/// TSIG-signed updates and an update policy, differential with BIND: the same keys
/// and grants (`upd.key` anywhere in the zone, default types; `acme.key` TXT under
/// `_acme-challenge` only) give the same RCODEs for the right key, a wrong secret, an
/// unknown key, no key, a key outside its grants, policy before prerequisites, and
/// leave the same records. nsupdate checks the TSIG of every response, so a NOERROR
/// also says dnsd signed its answer.
#[test]
fn signed_updates_and_policies_match_bind() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("update.key");
    std::fs::write(&keys, KEYS).expect("keys");
    let mut dnsd = Dnsd::builder()
        .zone("dyn.test", ZONE)
        .metrics()
        .config(&format!(
            "[update]\nkey-files = [\"{}\"]\n\
             [[update.grant]]\nkey = \"upd.key\"\nmatch = \"zonesub\"\n\
             [[update.grant]]\nkey = \"acme.key\"\nmatch = \"subdomain\"\nname = \"_acme-challenge.dyn.test\"\ntypes = [\"TXT\"]\nzones = [\"dyn.test\"]\n",
            keys.display()
        ))
        .start();
    let bind = bind_with(
        "update-policy { grant upd.key zonesub; grant acme.key subdomain _acme-challenge.dyn.test. TXT; };",
        &format!("include \"{}\";", keys.display()),
    );
    let wrong = "hmac-sha256:upd.key:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
    let unknown = "hmac-sha256:nobody.key:dXBkYXRlLWtleS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=";
    // nsupdate -k takes one key from a file: the first of KEYS alone.
    let upd_file = dir.path().join("upd.key");
    std::fs::write(
        &upd_file,
        KEYS.split_inclusive("};\n").next().unwrap_or_default(),
    )
    .expect("key");
    let key_file = upd_file.display().to_string();
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "right key",
            &["-y", UPD],
            "update add h1.dyn.test. 300 A 198.51.100.11",
            "NOERROR",
        ),
        (
            "key file (-k)",
            &["-k", &key_file],
            "update add h2.dyn.test. 300 A 198.51.100.12",
            "NOERROR",
        ),
        (
            "acme in policy",
            &["-y", ACME],
            "update add _acme-challenge.dyn.test. 60 TXT \"tok\"",
            "NOERROR",
        ),
        (
            "acme outside",
            &["-y", ACME],
            "update add h3.dyn.test. 300 A 198.51.100.13",
            "REFUSED",
        ),
        (
            "acme type outside",
            &["-y", ACME],
            "update add _acme-challenge.dyn.test. 60 SRV 0 0 1 x.example.net.",
            "REFUSED",
        ),
        (
            "acme policy first",
            &["-y", ACME],
            "prereq nxdomain h1.dyn.test.\nupdate add h3.dyn.test. 300 A 198.51.100.13",
            "REFUSED",
        ),
        (
            "upd prereq",
            &["-y", UPD],
            "prereq nxdomain h1.dyn.test.\nupdate add h3.dyn.test. 300 A 198.51.100.13",
            "YXDOMAIN",
        ),
        (
            "upd apex NS",
            &["-y", UPD],
            "update add dyn.test. 300 NS ns3.example.net.",
            "REFUSED",
        ),
        (
            "wrong secret",
            &["-y", wrong],
            "update add h4.dyn.test. 300 A 198.51.100.15",
            "NOTAUTH(BADSIG)",
        ),
        (
            "unknown key",
            &["-y", unknown],
            "update add h5.dyn.test. 300 A 198.51.100.16",
            "NOTAUTH(BADKEY)",
        ),
        (
            "no key",
            &[],
            "update add h6.dyn.test. 300 A 198.51.100.17",
            "REFUSED",
        ),
        (
            "acme delete",
            &["-y", ACME],
            "update delete _acme-challenge.dyn.test. TXT \"tok\"",
            "NOERROR",
        ),
    ];
    let mut table = Vec::new();
    for (what, args, commands, expect) in cases {
        let got: Vec<String> = [dnsd.addr, bind.addr]
            .iter()
            .map(|addr| nsupdate(*addr, "dyn.test.", commands, args))
            .collect();
        table.push(format!("{what}: dnsd {}, bind {}", got[0], got[1]));
        assert!(
            got.iter().all(|g| g == expect),
            "{what}: expected {expect}\n{}",
            table.join("\n")
        );
    }
    eprintln!("{}", table.join("\n"));
    for (name, qtype) in [
        ("h1.dyn.test.", "A"),
        ("h2.dyn.test.", "A"),
        ("h3.dyn.test.", "A"),
        ("h4.dyn.test.", "A"),
        ("h5.dyn.test.", "A"),
        ("h6.dyn.test.", "A"),
        ("_acme-challenge.dyn.test.", "TXT"),
        ("_acme-challenge.dyn.test.", "SRV"),
        ("dyn.test.", "NS"),
    ] {
        assert_eq!(
            short(dnsd.addr, name, qtype),
            short(bind.addr, name, qtype),
            "{name} {qtype}"
        );
    }
    assert_eq!(short(dnsd.addr, "h2.dyn.test.", "A"), ["198.51.100.12"]);
    assert_eq!(
        dnsd.metric("dnsd_update_requests_total{key=\"acme.key.\",rcode=\"REFUSED\"}"),
        Some(3)
    );
    // knsupdate (Knot's client) signs with the same key and checks dnsd's signed answer.
    let script = format!(
        "server {} {}\nzone dyn.test.\nupdate add k1.dyn.test. 300 A 198.51.100.21\nsend\n",
        dnsd.addr.ip(),
        dnsd.addr.port()
    );
    let out = run_with_input(Command::new("knsupdate").args(["-y", UPD]), &script);
    assert!(
        out.status.success(),
        "knsupdate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(short(dnsd.addr, "k1.dyn.test.", "A"), ["198.51.100.21"]);
    // Acknowledged means journaled: dnsd killed with SIGKILL keeps what it answered.
    let serial = short(dnsd.addr, "dyn.test.", "SOA");
    dnsd.kill();
    dnsd.restart();
    assert_eq!(short(dnsd.addr, "h1.dyn.test.", "A"), ["198.51.100.11"]);
    assert_eq!(short(dnsd.addr, "h2.dyn.test.", "A"), ["198.51.100.12"]);
    assert_eq!(short(dnsd.addr, "dyn.test.", "SOA"), serial);
}
