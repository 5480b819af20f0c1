//! The keys of signed zones as operators see them, through the real binary: `dnsd ctl
//! status` lists each key of each signed zone (role, algorithm, tag, state, next step
//! and its time) and the metrics carry the same; a rollover asked with `dnsd keys
//! retire` shows in both. Key tags are checked against dig's own (`+multi` comments).

use std::process::Command;

use netfabric_tests::dnsd::Dnsd;

const ZONE: &str = "$ORIGIN st.test.\n$TTL 300\n\
    @ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 198.51.100.1\n\
    www A 198.51.100.2\n";

/// The DNSKEYs dig sees at `apex`: (role as dig says it, "KSK" or "ZSK", key tag).
fn dig_keys(dnsd: &Dnsd, apex: &str) -> Vec<(String, u16)> {
    let out = Command::new("dig")
        .arg(format!("@{}", dnsd.addr.ip()))
        .args(["-p", &dnsd.addr.port().to_string()])
        .args(["+norec", "+multi", "+noall", "+answer", apex, "DNSKEY"])
        .output()
        .expect("dig (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    // "; KSK; alg = ECDSAP256SHA256 ; key id = 12345"
    let mut keys: Vec<(String, u16)> = text
        .lines()
        .filter_map(|l| {
            let role = l.split(';').nth(1)?.trim().to_string();
            let tag = l.split("key id = ").nth(1)?.trim().parse().ok()?;
            Some((role, tag))
        })
        .collect();
    keys.sort();
    keys
}

/// The `key ZONE ...` lines of `dnsd ctl status` (the binary, as an operator runs it).
fn key_lines(dnsd: &Dnsd, apex: &str) -> Vec<String> {
    let (ok, text) = dnsd.ctl_binary(&["status"]);
    assert!(ok, "{text}");
    let prefix = format!("key {apex} ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// The line of key `tag`.
fn line_of(lines: &[String], tag: u16) -> &str {
    lines
        .iter()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .unwrap_or_else(|| panic!("no status line for key {tag}: {lines:?}"))
}

/// The value of the metric series `dnsd_dnssec_key_next_step_timestamp_seconds` of
/// key `tag` and step `step`.
fn next_step_metric(scrape: &str, tag: u16, step: &str) -> Option<u64> {
    let series = format!(
        "dnsd_dnssec_key_next_step_timestamp_seconds{{zone=\"st.test.\",tag=\"{tag}\",step=\"{step}\"}} "
    );
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn status_and_metrics_show_each_keys_role_algorithm_tag_state_and_next_step() {
    let started = now();
    let dnsd = Dnsd::builder()
        .zone("st.test", ZONE)
        .config(
            "[dnssec]\nsign = true\nkeys = \"ksk-zsk\"\nzsk-lifetime = \"30d\"\n\
             ksk-lifetime = \"365d\"\ndnskey-ttl = \"1h\"\npropagation-delay = \"1h\"\n",
        )
        .metrics()
        .start();
    let keys = dig_keys(&dnsd, "st.test.");
    assert_eq!(keys.len(), 2, "a KSK and a ZSK: {keys:?}\n{}", dnsd.log());
    let ksk = keys.iter().find(|k| k.0 == "KSK").unwrap().1;
    let zsk = keys.iter().find(|k| k.0 == "ZSK").unwrap().1;

    let lines = key_lines(&dnsd, "st.test.");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        line_of(&lines, ksk).starts_with(&format!(
            "{ksk} ECDSAP256SHA256 KSK active cds next: rollover at "
        )),
        "{lines:?}"
    );
    assert!(
        line_of(&lines, zsk).starts_with(&format!(
            "{zsk} ECDSAP256SHA256 ZSK active next: rollover at "
        )),
        "{lines:?}"
    );
    // The ZSK's successor is published Ipub (propagation delay + DNSKEY TTL, 2h)
    // before its 30 days are over; the KSK rolls after 365 days.
    // (A second may have passed since.)
    let ksk_line = line_of(&lines, ksk);
    assert!(
        ksk_line.contains("(in 365d)") || ksk_line.contains("(in 364d23h)"),
        "{lines:?}"
    );
    let zsk_line = line_of(&lines, zsk);
    assert!(
        zsk_line.contains("(in 29d22h)") || zsk_line.contains("(in 29d21h)"),
        "{lines:?}"
    );

    let scrape = dnsd.scrape();
    for (role, tag) in [("KSK", ksk), ("ZSK", zsk)] {
        let series = format!(
            "dnsd_dnssec_key_state{{zone=\"st.test.\",tag=\"{tag}\",algorithm=\"ECDSAP256SHA256\",role=\"{role}\",state=\"active\"}} 1"
        );
        assert!(scrape.lines().any(|l| l == series), "{series}\n{scrape}");
    }
    let done = now();
    let ksk_roll = next_step_metric(&scrape, ksk, "rollover").expect("the KSK's rollover");
    assert!(
        (started + 365 * 86_400..=done + 365 * 86_400).contains(&ksk_roll),
        "{ksk_roll}"
    );
    let zsk_roll = next_step_metric(&scrape, zsk, "rollover").expect("the ZSK's rollover");
    assert!(
        (started + 30 * 86_400 - 7200..=done + 30 * 86_400 - 7200).contains(&zsk_roll),
        "{zsk_roll}"
    );

    // A ZSK rollover asked by hand: once the signer has seen it (at the next commit),
    // the successor is published and signs in 2h, when the old ZSK retires.
    let config = dnsd.dir().join("dnsd.toml");
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .args(["keys", "retire", "--config"])
        .arg(&config)
        .args(["st.test", &zsk.to_string()])
        .output()
        .expect("dnsd keys retire");
    assert!(out.status.success(), "{out:?}");
    let replies = dnsd.ctl(&["zone st.test", "add mail 300 A 198.51.100.9", "commit"]);
    assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    let lines = key_lines(&dnsd, "st.test.");
    assert_eq!(lines.len(), 3, "{lines:?}\n{}", dnsd.log());
    assert!(
        line_of(&lines, zsk).starts_with(&format!(
            "{zsk} ECDSAP256SHA256 ZSK active next: retired at "
        )),
        "{lines:?}"
    );
    let new = dig_keys(&dnsd, "st.test.")
        .into_iter()
        .find(|k| k.0 == "ZSK" && k.1 != zsk)
        .expect("the successor ZSK published")
        .1;
    let successor = line_of(&lines, new);
    assert!(
        successor.starts_with(&format!(
            "{new} ECDSAP256SHA256 ZSK published next: signing at "
        )),
        "{lines:?}"
    );
    assert!(
        successor.contains("(in 1h59m)") || successor.contains("(in 2h)"),
        "{lines:?}"
    );
    let scrape = dnsd.scrape();
    let series = format!(
        "dnsd_dnssec_key_state{{zone=\"st.test.\",tag=\"{new}\",algorithm=\"ECDSAP256SHA256\",role=\"ZSK\",state=\"published\"}} 1"
    );
    assert!(scrape.lines().any(|l| l == series), "{series}\n{scrape}");
    assert_eq!(
        next_step_metric(&scrape, new, "signing"),
        next_step_metric(&scrape, zsk, "retired"),
        "{scrape}"
    );
}

/// kdig's answer data for (`name`, `qtype`), sorted.
fn kdig_short(dnsd: &Dnsd, name: &str, qtype: &str) -> Vec<String> {
    let out = Command::new("kdig")
        .arg(format!("@{}", dnsd.addr.ip()))
        .args(["-p", &dnsd.addr.port().to_string()])
        .args(["+short", "+norec", name, qtype])
        .output()
        .expect("kdig (knot-dnsutils)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

/// delv's first line for (`name`, `qtype`) trusting `anchor` (`+root=wd.test`).
fn delv(dnsd: &Dnsd, anchor: &std::path::Path, name: &str, qtype: &str) -> String {
    let out = Command::new("delv")
        .arg(format!("@{}", dnsd.addr.ip()))
        .args(["-p", &dnsd.addr.port().to_string(), "-a"])
        .arg(anchor)
        .args(["+root=wd.test", "+tcp", name, qtype])
        .output()
        .expect("delv (bind9-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// RFC 8078 §4: signing turned off (SIGHUP with `sign = false`) publishes the delete
/// form in CDS and CDNSKEY, signed, and keeps the zone validly signed; the zone is
/// unsigned only after `dnsd keys ds-gone` and `parent-ds-ttl + propagation-delay`.
#[test]
fn signing_turned_off_asks_the_parent_to_delete_the_ds_before_unsigning() {
    let zone = ZONE.replace("st.test.", "wd.test.");
    let mut dnsd = Dnsd::builder()
        .zone("wd.test", &zone)
        .config("[dnssec]\nsign = true\nparent-ds-ttl = \"3s\"\npropagation-delay = \"1s\"\n")
        .start();
    let dnskeys = kdig_short(&dnsd, "wd.test.", "DNSKEY");
    assert_eq!(dnskeys.len(), 1, "{dnskeys:?}\n{}", dnsd.log());
    let f: Vec<&str> = dnskeys[0].split_whitespace().collect();
    let anchor = dnsd.dir().join("wd.anchor");
    std::fs::write(
        &anchor,
        format!(
            "trust-anchors {{ \"wd.test.\" static-key {} {} {} \"{}\"; }};\n",
            f[0],
            f[1],
            f[2],
            f[3..].concat()
        ),
    )
    .unwrap();
    let cds = kdig_short(&dnsd, "wd.test.", "CDS");
    assert_eq!(cds.len(), 1, "{cds:?}");
    assert_ne!(cds[0], "0 0 0 00");

    // Signing turned off.
    let config = dnsd.dir().join("dnsd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("sign = true"), "{text}");
    std::fs::write(&config, text.replace("sign = true", "sign = false")).unwrap();
    dnsd.signal(libc::SIGHUP);
    dnsd.wait_for("the CDS delete form", |d| {
        kdig_short(d, "wd.test.", "CDS") == ["0 0 0 00"]
    });
    assert_eq!(kdig_short(&dnsd, "wd.test.", "CDNSKEY"), ["0 3 0 AA=="]);
    // Still signed, and valid: the DS may still be in caches.
    assert_eq!(kdig_short(&dnsd, "wd.test.", "DNSKEY"), dnskeys);
    for (name, qtype) in [
        ("wd.test.", "CDS"),
        ("wd.test.", "CDNSKEY"),
        ("www.wd.test.", "A"),
    ] {
        let text = delv(&dnsd, &anchor, name, qtype);
        assert!(
            text.starts_with("; fully validated"),
            "{name} {qtype}: {text}\n{}",
            dnsd.log()
        );
    }
    let lines = key_lines(&dnsd, "wd.test.");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(dnsd.log().contains("signing turned off"), "{}", dnsd.log());
    // A change is still signed while the parent's DS may be there.
    let commit = |d: &Dnsd, n: u32| {
        let add = format!("add h{n} 300 A 198.51.100.{}", n % 200 + 1);
        let replies = d.ctl(&["zone wd.test", &add, "commit"]);
        assert!(replies.iter().all(|r| r.starts_with("ok")), "{replies:?}");
    };
    commit(&dnsd, 1);
    assert!(
        delv(&dnsd, &anchor, "h1.wd.test.", "A").starts_with("; fully validated"),
        "{}",
        dnsd.log()
    );

    // The parent's DS is gone: 3 s + 1 s later, the next version is unsigned.
    let out = Command::new(netfabric_tests::bins::path("dnsd"))
        .args(["keys", "ds-gone", "--config"])
        .arg(&config)
        .arg("wd.test")
        .output()
        .expect("dnsd keys ds-gone");
    assert!(out.status.success(), "{out:?}");
    let mut n = 2;
    dnsd.wait_for("the zone unsigned", |d| {
        n += 1;
        commit(d, n);
        std::thread::sleep(std::time::Duration::from_millis(200));
        kdig_short(d, "wd.test.", "DNSKEY").is_empty()
    });
    for qtype in ["CDS", "CDNSKEY", "NSEC", "RRSIG"] {
        assert!(
            kdig_short(&dnsd, "wd.test.", qtype).is_empty(),
            "{qtype}\n{}",
            dnsd.log()
        );
    }
    assert_eq!(kdig_short(&dnsd, "www.wd.test.", "A"), ["198.51.100.2"]);
    assert!(key_lines(&dnsd, "wd.test.").is_empty());
    // Changes are served unsigned from now on.
    commit(&dnsd, 500);
    assert!(
        kdig_short(&dnsd, "wd.test.", "DNSKEY").is_empty(),
        "{}",
        dnsd.log()
    );
    assert!(kdig_short(&dnsd, "h500.wd.test.", "RRSIG").is_empty());
    assert_eq!(kdig_short(&dnsd, "h500.wd.test.", "A"), ["198.51.100.101"]);
}
