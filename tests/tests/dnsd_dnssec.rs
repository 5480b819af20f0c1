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
        .config("[dnssec]\nsign = true\n")
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
    let listed = dnsd_command(dnsd.dir(), &["keys", "list", "--config", config]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].contains(" ECDSAP256SHA256 CSK flags=257 active "),
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
        vec!["ns1.sig.test. NS SOA RRSIG NSEC DNSKEY"]
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
        vec!["mail.sig.test. NS SOA RRSIG NSEC DNSKEY"]
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
        vec!["ns1.sig.test. NS SOA RRSIG NSEC DNSKEY"]
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
