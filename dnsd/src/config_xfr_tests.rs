//! Tests of the transfer keys: keys inline and from files, access lists, NOTIFY
//! targets, primaries, limits, and the errors a user sees.

use std::path::Path;

use super::super::{Overrides, parse, validate};
use crate::config::Config;
use crate::tsig::Algorithm;
use crate::wire::name::Name;

const SECRET: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn validated(text: &str, dir: &Path) -> Result<Config, Vec<String>> {
    let path = dir.join("dnsd.toml");
    let spec = parse(text).map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    validate(spec, Some(&path), text, &Overrides::default()).map_err(|e| {
        e.iter()
            .map(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
            .collect()
    })
}

fn name(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

#[test]
fn keys_lists_primaries_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vps.key"),
        format!("key:\n  - id: vps\n    algorithm: hmac-sha512\n    secret: {SECRET}\n"),
    )
    .unwrap();
    let text = format!(
        "[key.\"home-vps\"]\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
         [xfr]\nkey-files = [\"vps.key\"]\n\
         allow-transfer = [{{ from = \"203.0.113.0/24\", key = \"home-vps\" }}, {{ from = \"::1\" }}]\n\
         notify = [{{ address = \"203.0.113.7\", key = \"vps\" }}]\n\
         write-timeout-ms = 5000\nmax-transfers-out = 3\nnotify-ns = true\n\
         [zone.\"example.net\"]\nprimaries = [{{ address = \"198.51.100.1:5300\", key = \"home-vps\" }}]\n\
         allow-notify = [{{ from = \"198.51.100.1\" }}]\n\
         [zone.\"example.org\"]\nallow-transfer = []\n"
    );
    let config = validated(&text, dir.path()).unwrap();
    let xfr = &config.xfr;
    assert_eq!(xfr.keys.len(), 2);
    assert_eq!(
        xfr.keys.get(&name("vps.")).map(|k| k.algorithm()),
        Some(Algorithm::HmacSha512)
    );
    assert_eq!(xfr.defaults.allow_transfer.0.len(), 2);
    assert!(
        xfr.defaults
            .allow_transfer
            .admits("203.0.113.9".parse().unwrap(), Some(&name("home-vps.")))
    );
    assert!(
        !xfr.defaults
            .allow_transfer
            .admits("203.0.113.9".parse().unwrap(), None)
    );
    assert!(
        xfr.defaults
            .allow_transfer
            .admits("::1".parse().unwrap(), None)
    );
    assert_eq!(
        xfr.defaults.notify[0].address,
        "203.0.113.7:53".parse().unwrap()
    );
    assert_eq!(xfr.write_timeout, std::time::Duration::from_secs(5));
    assert_eq!(xfr.max_transfers_out, 3);
    assert!(xfr.notify_ns);
    let net = xfr.zone(&name("example.net."));
    assert!(net.is_secondary());
    assert_eq!(net.primaries[0].key, Some(name("home-vps.")));
    assert_eq!(net.allow_transfer, xfr.defaults.allow_transfer, "inherited");
    assert!(
        xfr.zone(&name("example.org.")).allow_transfer.is_empty(),
        "its own, empty"
    );
    assert!(!xfr.zone(&name("other.")).is_secondary());
    // A secondary zone is not the zone-file reloader's.
    let reload = config.reload_settings();
    assert!(reload.secondaries.contains(&name("example.net.")));
    assert!(!reload.zones.contains_key(&name("example.net.")));
}

#[test]
fn mistakes_name_their_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.key"),
        "key \"k\" {\n algorithm hmac-sha224;\n secret \"AAAA\";\n};\n",
    )
    .unwrap();
    let text = "[key.\"a\"]\nalgorithm = \"hmac-sha256\"\n\
                [xfr]\nkey-files = [\"bad.key\", \"missing.key\"]\n\
                allow-transfer = [{ from = \"not-an-address\" }, { key = \"nokey\" }, {}]\n\
                [zone.\"example.net\"]\nfile = \"x.zone\"\nprimaries = [{ address = \"198.51.100.1\" }, { key = \"a\" }]\n";
    let errors = validated(text, dir.path()).unwrap_err();
    let expected = [
        "dnsd.toml:1: key.a: a key needs `algorithm` and `secret`",
        "dnsd.toml:4: xfr.key-files[0]: bad.key:1: algorithm \"hmac-sha224\" is not supported",
        "dnsd.toml:4: xfr.key-files[1]: missing.key: No such file",
        "dnsd.toml:5: xfr.allow-transfer[0].from: \"not-an-address\" is not an address or prefix",
        "dnsd.toml:5: xfr.allow-transfer[1].key: no key \"nokey\" is defined",
        "dnsd.toml:5: xfr.allow-transfer[2]: an entry needs `from`",
        "dnsd.toml:8: zone.\"example.net\".primaries[1].address: is missing",
        "dnsd.toml:7: zone.\"example.net\".file: a secondary zone (one with primaries) has no file",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{want:?} not in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

#[test]
fn catalogs_produced_and_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[xfr]\ncatalog = \"catalog.invalid\"\n\
                [zone.\"cat.example\"]\ncatalog = true\n\
                primaries = [{ address = \"198.51.100.1\" }]\n";
    let config = validated(text, dir.path()).unwrap();
    assert_eq!(config.xfr.produce_catalog, Some(name("catalog.invalid.")));
    assert_eq!(
        config.xfr.catalogs().cloned().collect::<Vec<_>>(),
        vec![name("cat.example.")]
    );
    let errors = validated("[zone.\"cat.example\"]\ncatalog = true\n", dir.path()).unwrap_err();
    assert!(
        errors[0].contains("zone.\"cat.example\".catalog: a consumed catalog is a secondary zone"),
        "{errors:?}"
    ); // A member's group in the catalog produced (RFC 9432 §4.4.2).
    let text = "[xfr]\ncatalog = \"catalog.invalid\"\n\
                [zone.\"home.test\"]\ncatalog-group = \"signed\"\n";
    let config = validated(text, dir.path()).unwrap();
    assert_eq!(
        config
            .xfr
            .zone(&name("home.test."))
            .catalog_group
            .as_deref(),
        Some("signed")
    );
    let long = "x".repeat(256);
    let errors = validated(
        &format!("[zone.\"home.test\"]\ncatalog-group = \"{long}\"\n"),
        dir.path(),
    )
    .unwrap_err();
    assert!(
        errors[0].contains("zone.\"home.test\".catalog-group: ")
            && errors[0].contains("a group is 1 to 255 octets"),
        "{errors:?}"
    );
}

#[test]
fn xot_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[zone.\"a.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls = \"strict\" }]\n\
                [zone.\"b.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls = \"maybe\" }]\n\
                [zone.\"c.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls-name = \"x.test\" }]\n\
                [zone.\"d.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls = \"strict\", tls-ca-file = \"none.pem\" }]\n\
                [zone.\"e.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls = \"strict\", tls-pin-sha256 = \"AAAA\" }]\n\
                [zone.\"f.example\"]\nnotify = [{ address = \"198.51.100.1\", tls = \"strict\" }]\n";
    let errors = validated(text, dir.path()).unwrap_err();
    let expected = [
        "dnsd.toml:2: zone.\"a.example\".primaries[0].tls: strict TLS needs tls-ca-file or tls-pin-sha256",
        "dnsd.toml:4: zone.\"b.example\".primaries[0].tls: expected one of strict, opportunistic",
        "dnsd.toml:6: zone.\"c.example\".primaries[0].tls-name: only with tls",
        "dnsd.toml:8: zone.\"d.example\".primaries[0].tls: tls-ca-file none.pem:",
        "dnsd.toml:10: zone.\"e.example\".primaries[0].tls-pin-sha256: expected the base64",
        "dnsd.toml:12: zone.\"f.example\".notify[0].tls: NOTIFY goes over UDP",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{want:?} not in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    // Opportunistic needs nothing more; the SOA query and transfers go over TLS.
    let config = validated(
        "[zone.\"a.example\"]\nprimaries = [{ address = \"198.51.100.1:853\", tls = \"opportunistic\" }]\n",
        dir.path(),
    )
    .unwrap();
    let zone = config.xfr.zone(&name("a.example."));
    assert!(zone.primaries[0].tls.is_some());
}

#[test]
fn catalog_groups_are_member_templates_with_primaries() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[key.\"k\"]\nalgorithm = \"hmac-sha256\"\n\
                secret = \"wKIwXQlxAHk2BlXWmh/B3AuwvIjmH8dZx23o4HYdESA=\"\n\
                [catalog-group.\"special\"]\n\
                primaries = [{ address = \"198.51.100.2\", key = \"k\" }]\n";
    let config = validated(text, dir.path()).unwrap();
    let group = &config.xfr.groups["special"];
    assert_eq!(group.primaries[0].address.to_string(), "198.51.100.2:53");
    assert_eq!(group.primaries[0].key, Some(name("k.")));
    let errors = validated(
        "[catalog-group.\"special\"]\nnotify = []\nprimary = []\n",
        dir.path(),
    )
    .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("catalog-group.special.primary: unknown key")),
        "{errors:?}"
    );
    let errors = validated("[catalog-group.\"special\"]\nnotify = []\n", dir.path()).unwrap_err();
    assert!(
        errors[0].contains(
            "catalog-group.special.primaries: the members of a group are secondary zones"
        ),
        "{errors:?}"
    );
}
