//! dnsd signing zones, through the real binary: keys made on first start and kept
//! across restarts, `dnsd ds` against BIND's `dnssec-dsfromkey` on the DNSKEY dig
//! gets, changes over the control socket signed before they are served (their RRSIG
//! and the NSEC chain around them, as dig sees them), and examples/signed.toml run
//! from the repository's root.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netfabric_tests::dns::short as dig;
use netfabric_tests::dnsd::Dnsd;

const ZONE: &str = "$ORIGIN sig.test.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 198.51.100.1\n\
    www A 198.51.100.2\n";

/// `dnsd ARGS` from `cwd`: its standard output lines; panics when it fails.
fn dnsd_command(cwd: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run dnsd");
    assert!(
        out.status.success(),
        "dnsd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// BIND's DS (SHA-256) of the DNSKEY records `dnskeys` (dig +short lines) of `zone`:
/// `dnssec-dsfromkey -2`, upper-case hex, as "ZONE. IN DS TAG ALG 2 HEX".
fn bind_ds(zone: &str, dnskeys: &[String]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    let text: String = dnskeys
        .iter()
        .map(|k| format!("{zone} 3600 IN DNSKEY {k}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    let out = Command::new("dnssec-dsfromkey")
        .args(["-2", "-f"])
        .arg(&file)
        .arg(zone)
        .output()
        .expect("dnssec-dsfromkey (bind9-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

/// kdig's answer section for (`name`, `qtype`) from `addr`, one record a line with
/// single spaces, sorted.
fn kdig_answer(addr: SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let out = Command::new("kdig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .args(["+noall", "+answer", "+norec", name, qtype])
        .output()
        .expect("kdig (knot-dnsutils)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

/// Whether a KSK or CSK (flags 257) is among `dnskeys`.
fn sep_keys(dnskeys: &[String]) -> Vec<String> {
    dnskeys
        .iter()
        .filter(|k| k.starts_with("257 "))
        .cloned()
        .collect()
}

#[test]
fn a_signed_zone_publishes_its_keys_signs_each_change_and_keeps_its_keys() {
    let mut dnsd = Dnsd::builder()
        .zone("sig.test", ZONE)
        .config("[dnssec]\nsign = true\ndnskey-ttl = \"2h\"\n")
        .start();
    let addr = dnsd.addr;
    let dnskeys = dig(addr, "sig.test.", "DNSKEY");
    assert_eq!(dnskeys.len(), 1, "one CSK\n{}", dnsd.log());
    assert!(dnskeys[0].starts_with("257 3 13 "), "{dnskeys:?}");
    // The DS dnsd gives for the registrar is BIND's DS of the key it publishes.
    let config = dnsd.dir().join("dnsd.toml");
    let config = config.to_str().unwrap();
    let mut ds = dnsd_command(dnsd.dir(), &["ds", "--config", config, "sig.test"]);
    ds.sort();
    assert_eq!(ds, bind_ds("sig.test.", &sep_keys(&dnskeys)));
    // CDS and CDNSKEY (RFC 7344 §4) ask the parent for that same DS, with the
    // DNSKEY TTL of the policy, signed by the CSK.
    let cds_of = |ds: &str| ds.split(" DS ").nth(1).unwrap().to_string();
    let cds: Vec<String> = kdig_answer(addr, "sig.test.", "CDS")
        .iter()
        .map(|l| l.to_uppercase())
        .collect();
    assert_eq!(
        cds,
        ds.iter()
            .map(|d| format!("SIG.TEST. 7200 IN CDS {}", cds_of(d)))
            .collect::<Vec<_>>(),
        "{}",
        dnsd.log()
    );
    assert_eq!(
        kdig_answer(addr, "sig.test.", "CDNSKEY"),
        kdig_answer(addr, "sig.test.", "DNSKEY")
            .iter()
            .map(|k| k.replace(" DNSKEY ", " CDNSKEY "))
            .collect::<Vec<_>>()
    );
    let sigs = dig(addr, "sig.test.", "RRSIG");
    for covered in ["CDS", "CDNSKEY"] {
        assert!(
            sigs.iter()
                .any(|s| s.starts_with(&format!("{covered} 13 2 7200 "))),
            "{covered} signed: {sigs:?}"
        );
    }
    let listed = dnsd_command(dnsd.dir(), &["keys", "list", "--config", config]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].contains(" ECDSAP256SHA256 CSK active cds flags=257 "),
        "{listed:?}"
    );
    // Every RRset is signed, the chain links every name.
    let soa_sig = dig(addr, "sig.test.", "RRSIG");
    assert!(
        soa_sig.iter().any(|s| s.starts_with("SOA 13 2 ")),
        "{soa_sig:?}"
    );
    assert_eq!(
        dig(addr, "sig.test.", "NSEC"),
        vec!["ns1.sig.test. NS SOA RRSIG NSEC DNSKEY CDS CDNSKEY"]
    );
    // A transaction is signed before it is served: its RRSIG, and the NSEC before it
    // now names it.
    let replies = dnsd.ctl(&[
        "zone sig.test",
        "add mail.sig.test. 300 A 198.51.100.9",
        "commit",
    ]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    let sigs = dig(addr, "mail.sig.test.", "RRSIG");
    assert!(
        sigs.iter().any(|s| s.starts_with("A 13 3 300 ")),
        "{sigs:?}"
    );
    assert_eq!(
        dig(addr, "sig.test.", "NSEC"),
        vec!["mail.sig.test. NS SOA RRSIG NSEC DNSKEY CDS CDNSKEY"]
    );
    assert_eq!(
        dig(addr, "mail.sig.test.", "NSEC"),
        vec!["ns1.sig.test. A RRSIG NSEC"]
    );
    // A restart keeps the keys (and the zone signed by them).
    dnsd.restart();
    assert_eq!(dig(addr, "sig.test.", "DNSKEY"), dnskeys, "{}", dnsd.log());
    let replies = dnsd.ctl(&["zone sig.test", "del-name mail.sig.test.", "commit"]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    assert_eq!(
        dig(addr, "sig.test.", "NSEC"),
        vec!["ns1.sig.test. NS SOA RRSIG NSEC DNSKEY CDS CDNSKEY"]
    );
    assert!(dig(addr, "mail.sig.test.", "RRSIG").is_empty());
}

#[test]
fn a_policy_that_cannot_work_is_refused_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dnsd.toml"),
        "[dnssec]\nsign = true\nsignature-validity = \"3d\"\n\n[zone.\"a.test\".dnssec]\ndenial = \"nsec3\"\nnsec3-iterations = 10\n",
    )
    .unwrap();
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .args(["check", "--config", "dnsd.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "dnsd.toml:3: dnssec.signature-validity: 3d is not longer than signature-refresh (1w)"
        ),
        "{text}"
    );
    assert!(
        text.contains("zone.\"a.test\".dnssec.signature-validity")
            || text.contains("nsec3-iterations"),
        "{text}"
    );
}

/// examples/signed.toml, run as its header shows (from the repository's root): the
/// zones are served signed, and `dnsd ds` prints the DS of the key served.
#[test]
fn the_signed_example_runs_from_the_repository_root() {
    let addr: SocketAddr = "127.0.0.1:5301".parse().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // In a namespace of its own: 127.0.0.1:5301 is always free there.
    let dnsd = Dnsd::builder()
        .as_is(
            &root,
            &["--config", "examples/signed.toml"],
            addr,
            "home.example.net",
        )
        .start();
    let dnskeys = (0..100)
        .find_map(|_| {
            let keys = dnsd.run_in(|| dig(addr, "home.example.net.", "DNSKEY"));
            if keys.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
            (!keys.is_empty()).then_some(keys)
        })
        .unwrap_or_else(|| {
            panic!(
                "examples/signed.toml serves home.example.net signed on 127.0.0.1:5301:\n{}",
                dnsd.log()
            )
        });
    let mut ds = dnsd_command(
        &root,
        &["ds", "--config", "examples/signed.toml", "home.example.net"],
    );
    ds.sort();
    assert_eq!(ds, bind_ds("home.example.net.", &sep_keys(&dnskeys)));
    let param = dnsd.run_in(|| dig(addr, "100.51.198.in-addr.arpa.", "NSEC3PARAM"));
    assert_eq!(
        param,
        vec!["1 0 0 -"],
        "NSEC3 per RFC 9276 for the reverse zone"
    );
}

/// `dnssec-keygen` in `dir`: the base path of the new key (`K<zone>.+013+<tag>`).
fn bind_keygen(dir: &Path, zone: &str, ksk: bool) -> String {
    let mut cmd = Command::new("dnssec-keygen");
    cmd.args(["-q", "-K"])
        .arg(dir)
        .args(["-a", "ECDSAP256SHA256"]);
    if ksk {
        cmd.args(["-f", "KSK"]);
    }
    let out = cmd
        .args(["-n", "ZONE", zone])
        .output()
        .expect("dnssec-keygen (bind9)");
    assert!(out.status.success(), "{out:?}");
    let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
    dir.join(base).display().to_string()
}

/// A zone moves from BIND without a rollover: keys made by `dnssec-keygen` (a KSK
/// and a ZSK) are imported, dnsd signs the zone with them, and the DS `dnsd ds`
/// prints is `dnssec-dsfromkey`'s of BIND's own KSK file.
#[test]
fn keys_made_by_bind_are_imported_and_sign_the_zone() {
    let mut dnsd = Dnsd::builder()
        .zone("sig.test", ZONE)
        .config("[dnssec]\nsign = true\n\n[zone.\"imp.test\".dnssec]\nkeys = \"ksk-zsk\"\n")
        .start();
    let addr = dnsd.addr;
    let keys = tempfile::tempdir().unwrap();
    let ksk = bind_keygen(keys.path(), "imp.test", true);
    let zsk = bind_keygen(keys.path(), "imp.test", false);
    let config = dnsd.dir().join("dnsd.toml");
    let config = config.to_str().unwrap();
    let imported = dnsd_command(
        dnsd.dir(),
        &[
            "keys",
            "import",
            "--config",
            config,
            "imp.test",
            &format!("{ksk}.key"),
            &format!("{zsk}.private"),
        ],
    );
    assert_eq!(imported.len(), 2, "{imported:?}");
    // Importing the same key twice is refused, naming it.
    let again = Command::new(netfabric_tests::bins::path("dnsd"))
        .args([
            "keys",
            "import",
            "--config",
            config,
            "imp.test",
            &format!("{ksk}.key"),
        ])
        .current_dir(dnsd.dir())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already in the store"),
        "{again:?}"
    );
    std::fs::write(
        dnsd.zones_dir().join("imp.test.zone"),
        ZONE.replace("sig.test.", "imp.test."),
    )
    .unwrap();
    dnsd.restart();
    dnsd.wait_for("imp.test served signed", |d| {
        !dig(d.addr, "imp.test.", "DNSKEY").is_empty()
    });
    let tag_of = |base: &str| -> String {
        base.rsplit('+')
            .next()
            .unwrap()
            .trim_start_matches('0')
            .to_string()
    };
    let (ksk_tag, zsk_tag) = (tag_of(&ksk), tag_of(&zsk));
    let bind_key = |base: &str| -> String {
        let text = std::fs::read_to_string(format!("{base}.key")).unwrap();
        let line = text.lines().find(|l| !l.starts_with(';')).unwrap();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "DNSKEY").unwrap();
        format!(
            "{} {} {} {}",
            fields[at + 1],
            fields[at + 2],
            fields[at + 3],
            fields[at + 4..].concat()
        )
    };
    let served: Vec<String> = dig(addr, "imp.test.", "DNSKEY")
        .iter()
        .map(|k| {
            let f: Vec<&str> = k.split_whitespace().collect();
            format!("{} {} {} {}", f[0], f[1], f[2], f[3..].concat())
        })
        .collect();
    let mut want = vec![bind_key(&ksk), bind_key(&zsk)];
    want.sort();
    assert_eq!(served, want, "BIND's keys, no other\n{}", dnsd.log());
    let sigs = dig(addr, "imp.test.", "RRSIG");
    assert!(
        sigs.iter()
            .any(|s| s.starts_with("SOA ") && s.contains(&format!(" {zsk_tag} imp.test. "))),
        "the ZSK signs the SOA: {sigs:?}"
    );
    assert!(
        sigs.iter()
            .any(|s| s.starts_with("DNSKEY ") && s.contains(&format!(" {ksk_tag} imp.test. "))),
        "the KSK signs the DNSKEY RRset: {sigs:?}"
    );
    // The DS for the registrar is the one BIND would give for its own key file.
    let ds = dnsd_command(dnsd.dir(), &["ds", "--config", config, "imp.test"]);
    let out = Command::new("dnssec-dsfromkey")
        .args(["-2", &format!("{ksk}.key")])
        .output()
        .expect("dnssec-dsfromkey");
    let bind: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(ds, bind);
    let listed = dnsd_command(
        dnsd.dir(),
        &["keys", "list", "--config", config, "imp.test"],
    );
    assert!(
        listed.iter().any(|l| l.contains(&format!(
            " {ksk_tag} ECDSAP256SHA256 KSK active cds ds-seen=always"
        ))),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|l| l.contains(&format!(" {zsk_tag} ECDSAP256SHA256 ZSK active"))),
        "{listed:?}"
    );
}
