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
    assert!(line_of(&lines, ksk).contains("(in 364d23h)"), "{lines:?}");
    assert!(line_of(&lines, zsk).contains("(in 29d21h)"), "{lines:?}");

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
