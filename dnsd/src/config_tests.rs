//! Tests of the configuration: every key's accepted values and errors, with the line and
//! key path a user sees.

use super::*;

/// Errors of `text` as the user sees them, as if read from `dnsd.toml`.
fn errors(text: &str) -> Vec<String> {
    errors_with(text, &Overrides::default())
}

fn errors_with(text: &str, overrides: &Overrides) -> Vec<String> {
    let path = Path::new("dnsd.toml");
    let result = parse(text)
        .map_err(|errors| errors.into_iter().map(|e| e.in_file(path)).collect())
        .and_then(|spec| validate(spec, Some(path), text, overrides));
    match result {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn config(text: &str) -> Config {
    config_with(text, &Overrides::default())
}

fn config_with(text: &str, overrides: &Overrides) -> Config {
    let path = Path::new("/etc/dnsd/dnsd.toml");
    let spec = parse(text).unwrap_or_else(|e| panic!("{e:?}"));
    validate(spec, Some(path), text, overrides).unwrap_or_else(|e| panic!("{e:?}"))
}

fn name(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

#[test]
fn no_file_is_the_embedded_default() {
    let config = load(None, &Overrides::default()).unwrap();
    assert_eq!(config.listen, vec!["127.0.0.1:5353".parse().unwrap()]);
    assert_eq!(config.zones_dir, PathBuf::from("zones"));
    assert_eq!(config.state_dir, PathBuf::from(".dnsd-state"));
    assert_eq!(config.metrics, None);
    assert_eq!(config.log_level, "info");
    assert_eq!(config.tcp.idle_timeout, Duration::from_secs(10));
    assert_eq!(config.tcp.max_connections, 1000);
    assert_eq!(config.udp.workers, 0);
    assert!(config.zones.is_empty());
    assert_eq!(config.file, None);
}

#[test]
fn an_empty_file_is_the_default_relative_to_its_folder() {
    let config = config("");
    assert_eq!(config.zones_dir, PathBuf::from("/etc/dnsd/zones"));
    assert_eq!(config.state_dir, PathBuf::from("/etc/dnsd/.dnsd-state"));
}

#[test]
fn every_key_is_read() {
    let config = config(
        r#"
listen = ["127.0.0.1:53", "[::1]:53"]
zones-dir = "/srv/zones"
state-dir = "state"
metrics = "127.0.0.1:9153"
log-level = "debug,dnsd=trace"

[tcp]
idle-timeout-ms = 2500
max-connections = 7

[udp]
workers = 3

[zone."Home.Lan"]
file = "home.txt"
serial = "keep"
journal-max-entries = 5
journal-max-bytes = 65536

[zone."example.org."]
serial = "unixtime"
"#,
    );
    assert_eq!(
        config.listen,
        vec!["127.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
    );
    assert_eq!(config.zones_dir, PathBuf::from("/srv/zones"));
    assert_eq!(config.state_dir, PathBuf::from("/etc/dnsd/state"));
    assert_eq!(config.metrics, Some("127.0.0.1:9153".parse().unwrap()));
    assert_eq!(config.log_level, "debug,dnsd=trace");
    assert_eq!(config.tcp.idle_timeout, Duration::from_millis(2500));
    assert_eq!(config.tcp.max_connections, 7);
    assert_eq!(config.udp.workers, 3);
    let home = config.zone_options(&name("home.lan."));
    assert_eq!(home.file, Some(PathBuf::from("home.txt")));
    assert_eq!(home.serial, SerialPolicy::Keep);
    assert_eq!(home.journal_max_entries, 5);
    assert_eq!(home.journal_max_bytes, 65536);
    let org = config.zone_options(&name("EXAMPLE.org."));
    assert_eq!(org.file, None);
    assert_eq!(org.serial, SerialPolicy::Unixtime);
    assert_eq!(org.journal_max_entries, 100);
    let other = config.zone_options(&name("other.net."));
    assert_eq!(other, ZoneOptions::default());
    assert_eq!(other.serial, SerialPolicy::Date);
}

#[test]
fn a_global_serial_policy_applies_to_every_zone_that_sets_none() {
    let config = config(
        r#"
serial = "keep"

[zone."home.lan"]
journal-max-entries = 5

[zone."example.org"]
serial = "unixtime"
"#,
    );
    assert_eq!(config.zone_defaults.serial, SerialPolicy::Keep);
    // A zone without a [zone] table, one with a table but no serial, one that overrides.
    assert_eq!(
        config.zone_options(&name("other.net.")).serial,
        SerialPolicy::Keep
    );
    assert_eq!(
        config.zone_options(&name("home.lan.")).serial,
        SerialPolicy::Keep
    );
    assert_eq!(
        config.zone_options(&name("example.org.")).serial,
        SerialPolicy::Unixtime
    );
    assert_eq!(
        super::tests::config("").zone_defaults,
        ZoneOptions::default()
    );
    assert_eq!(
        errors("serial = \"weekly\"\n"),
        vec!["dnsd.toml:1: serial: expected one of keep, unixtime, date"]
    );
}

#[test]
fn include_folders_and_limits() {
    let config = config(
        r#"
zones-dir = "/srv/zones"
[include]
dirs = ["shared", "/etc/dnsd/common"]
max-depth = 4
max-files = 50
max-bytes = 1000000
"#,
    );
    assert_eq!(
        config.include.include_dirs,
        [
            PathBuf::from("/srv/zones"),
            PathBuf::from("/etc/dnsd/shared"),
            PathBuf::from("/etc/dnsd/common")
        ]
    );
    assert_eq!(config.include.max_depth, 4);
    assert_eq!(config.include.max_files, 50);
    assert_eq!(config.include.max_bytes, 1_000_000);
    let defaults = super::tests::config("").include;
    assert_eq!(defaults.include_dirs, [PathBuf::from("/etc/dnsd/zones")]);
    assert_eq!(defaults.max_depth, 16);
    assert_eq!(defaults.max_files, 1024);
    assert_eq!(defaults.max_bytes, 1 << 30);
    assert_eq!(
        errors("[include]\ndirs = [\"\"]\nmax-files = 0\nmax-depth = -1\nsize = 3\n"),
        vec![
            "dnsd.toml:5: include.size: unknown key; expected one of dirs, max-depth, max-files, max-bytes"
        ]
    );
    assert_eq!(
        errors("[include]\ndirs = [\"\"]\nmax-files = 0\nmax-depth = -1\n"),
        vec![
            "dnsd.toml:2: include.dirs[0]: is empty",
            "dnsd.toml:4: include.max-depth: -1 is out of range 1..=1000",
            "dnsd.toml:3: include.max-files: 0 is out of range 1..=1000000",
        ]
    );
}

#[test]
fn flags_override_the_file() {
    let overrides = Overrides {
        listen: vec!["127.0.0.2:5300".into(), "[::1]:5300".into()],
        zones_dir: Some("here/zones".into()),
        state_dir: Some("/var/lib/dnsd".into()),
    };
    let config = config_with(
        "listen = [\"127.0.0.1:53\"]\nzones-dir = \"/srv/zones\"\nstate-dir = \"st\"\n",
        &overrides,
    );
    assert_eq!(
        config.listen,
        vec![
            "127.0.0.2:5300".parse().unwrap(),
            "[::1]:5300".parse().unwrap()
        ]
    );
    assert_eq!(config.zones_dir, PathBuf::from("here/zones"));
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/dnsd"));
}

#[test]
fn bad_flags_are_errors_naming_the_flag() {
    let overrides = Overrides {
        listen: vec!["localhost".into()],
        ..Overrides::default()
    };
    assert_eq!(
        errors_with("", &overrides),
        vec!["--listen: \"localhost\" is not an ADDR:PORT"]
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let errors = errors("listen = [\"127.0.0.1:53\"]\n\nzones-dir = \n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("dnsd.toml:3: "), "{errors:?}");
}

#[test]
fn unknown_keys_are_errors_naming_the_key_all_at_once() {
    let text = r#"log-level = "info"
listen-on = ["127.0.0.1:53"]
[tcp]
idle-timeout = 5
[udp]
threads = 2
[zone."home.lan"]
file = "a"
serials = "keep"
[zones]
"#;
    assert_eq!(
        errors(text),
        vec![
            "dnsd.toml:2: listen-on: unknown key; expected one of listen, zones-dir, state-dir, metrics, log-level, nsid, identity, udp-max-response-size, tcp, udp, rrl, cookies, include, serial, zone, listener, resolver, containers, dynamic-zone, update, api, xfr, key, catalog-group, dnssec",
            "dnsd.toml:10: zones: unknown key; expected one of listen, zones-dir, state-dir, metrics, log-level, nsid, identity, udp-max-response-size, tcp, udp, rrl, cookies, include, serial, zone, listener, resolver, containers, dynamic-zone, update, api, xfr, key, catalog-group, dnssec",
            "dnsd.toml:4: tcp.idle-timeout: unknown key; expected one of idle-timeout-ms, max-connections",
            "dnsd.toml:6: udp.threads: unknown key; expected one of workers",
            "dnsd.toml:9: zone.\"home.lan\".serials: unknown key; expected one of file, serial, journal-max-entries, journal-max-bytes, allow-transfer, allow-notify, notify, primaries, catalog, catalog-group, dnssec",
        ]
    );
}

#[test]
fn wrong_types_are_errors_naming_the_key() {
    let wrong = errors("listen = \"127.0.0.1:53\"\n");
    assert!(wrong[0].starts_with("dnsd.toml:1: listen: "), "{wrong:?}");
    let wrong = errors("listen = [\"127.0.0.1:53\", 53]\n");
    assert!(
        wrong[0].starts_with("dnsd.toml:1: listen[1]: "),
        "{wrong:?}"
    );
    let wrong = errors("\n[tcp]\nmax-connections = \"many\"\n");
    assert!(
        wrong[0].starts_with("dnsd.toml:3: tcp.max-connections: "),
        "{wrong:?}"
    );
    let wrong = errors("[zone.\"a.b\"]\njournal-max-entries = 1.5\n");
    assert!(
        wrong[0].starts_with("dnsd.toml:2: zone.\"a.b\".journal-max-entries: "),
        "{wrong:?}"
    );
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let text = r#"listen = ["127.0.0.1:53", "nowhere", "127.0.0.1:53"]
zones-dir = ""
state-dir = ""
metrics = "9153"
log-level = "loud[["

[tcp]
idle-timeout-ms = 0
max-connections = -1

[udp]
workers = 5000

[zone."home..lan"]
file = "x"

[zone."home.lan"]
file = ""
serial = "weekly"
journal-max-entries = -1

[zone."a.lan"]
file = "same.zone"

[zone."b.lan"]
file = "same.zone"
"#;
    assert_eq!(
        errors(text),
        vec![
            "dnsd.toml:1: listen[1]: \"nowhere\" is not an ADDR:PORT (e.g. 127.0.0.1:53 or [::1]:53)",
            "dnsd.toml:1: listen[2]: 127.0.0.1:53 is listed twice",
            "dnsd.toml:2: zones-dir: is empty",
            "dnsd.toml:3: state-dir: is empty",
            "dnsd.toml:4: metrics: \"9153\" is not an ADDR:PORT (e.g. 127.0.0.1:9153)",
            &format!(
                "dnsd.toml:5: log-level: \"loud[[\" is not a level (error, warn, info, debug, trace) or filter: {}",
                tracing_subscriber::EnvFilter::builder()
                    .parse("loud[[")
                    .unwrap_err()
            ),
            "dnsd.toml:8: tcp.idle-timeout-ms: 0 is out of range 1..=86400000",
            "dnsd.toml:9: tcp.max-connections: -1 is out of range 1..=1000000",
            "dnsd.toml:12: udp.workers: 5000 is out of range 0..=1024 (0 = one per core)",
            "dnsd.toml:26: zone.\"b.lan\".file: \"same.zone\" is also the file of zone.\"a.lan\"",
            "dnsd.toml:14: zone.\"home..lan\": is not a domain name: empty label",
            "dnsd.toml:18: zone.\"home.lan\".file: is empty",
            "dnsd.toml:19: zone.\"home.lan\".serial: expected one of keep, unixtime, date",
            "dnsd.toml:20: zone.\"home.lan\".journal-max-entries: -1 is negative (0 = no history kept)",
        ]
    );
}

#[test]
fn listen_needs_an_address() {
    assert_eq!(
        errors("listen = []\n"),
        vec!["dnsd.toml:1: listen: needs at least one ADDR:PORT"]
    );
}

#[test]
fn metrics_must_not_be_a_dns_listener() {
    assert_eq!(
        errors("listen = [\"127.0.0.1:53\"]\nmetrics = \"127.0.0.1:53\"\n"),
        vec!["dnsd.toml:2: metrics: 127.0.0.1:53 is also a DNS listener"]
    );
}

#[test]
fn a_zone_is_configured_once_whatever_its_spelling() {
    assert_eq!(
        errors("[zone.\"home.lan\"]\n[zone.\"HOME.lan.\"]\n"),
        vec!["dnsd.toml:1: zone.\"home.lan\": zone home.lan. is configured twice"]
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let errors = load(
        Some(Path::new("/nonexistent/dnsd.toml")),
        &Overrides::default(),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/dnsd.toml: cannot read: "),
        "{errors:?}"
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dnsd.toml");
    let config = load(Some(&path), &Overrides::default()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.listen, vec!["127.0.0.1:5353".parse().unwrap()]);
}

#[test]
fn internet_keys_are_read() {
    let c = config(
        r#"
nsid = "ns1"
identity = "ns1.example.net"
udp-max-response-size = 1400
listen = ["127.0.0.1:53", "192.0.2.1:53"]

[rrl]
responses-per-second = 15
nxdomains-per-second = 5
errors-per-second = 0
burst-seconds = 4
slip = 3
ipv4-prefix-length = 22
ipv6-prefix-length = 48
exempt-clients = ["198.51.100.0/24", "2001:db8::1"]
log-only = true
table-size = 1024

[cookies]
secrets = ["0x000102030405060708090a0b0c0d0e0f", "e5e973e5a6b2a43f48e7dc849e37bfcf"]
secret-lifetime-hours = 2
require = true
"#,
    );
    assert_eq!(c.nsid.as_deref(), Some(&b"ns1"[..]));
    assert_eq!(c.identity.as_deref(), Some(&b"ns1.example.net"[..]));
    assert_eq!(c.udp_max_response_size, 1400);
    let s = &c.rrl.settings;
    assert_eq!(s.rates, [15, 15, 15, 5, 15, 0]);
    assert_eq!((s.burst_seconds, s.slip), (4, 3));
    assert_eq!((s.ipv4_prefix, s.ipv6_prefix), (22, 48));
    assert_eq!(s.exempt.len(), 2);
    assert!(s.log_only);
    assert_eq!(s.table_size, 1024);
    // Absent `enabled`: listeners that are not on loopback.
    assert!(!c.rrl.applies_to(&"127.0.0.1:53".parse().unwrap()));
    assert!(c.rrl.applies_to(&"192.0.2.1:53".parse().unwrap()));
    assert!(c.rrl.applies_to(&"[::]:53".parse().unwrap()));
    assert_eq!(c.cookies.secrets.len(), 2);
    assert_eq!(c.cookies.secret_lifetime, Duration::from_secs(7200));
    assert!(c.cookies.enabled && c.cookies.require);
}

#[test]
fn internet_keys_have_documented_defaults() {
    let c = config("");
    assert_eq!(c.rrl.enabled, None);
    assert_eq!(c.rrl.settings, crate::rrl::Settings::default());
    assert_eq!(c.rrl.settings.rates, [20; 6]);
    assert!(c.cookies.enabled && c.cookies.secrets.is_empty() && !c.cookies.require);
    assert_eq!(c.cookies.secret_lifetime, Duration::from_secs(26 * 3600));
    assert_eq!((c.nsid, c.identity), (None, None));
    assert_eq!(c.udp_max_response_size, 1232);
    let off = config("[rrl]\nenabled = false\n[cookies]\nenabled = false\n");
    assert!(!off.rrl.applies_to(&"192.0.2.1:53".parse().unwrap()));
    assert!(!off.cookies.enabled);
}

#[test]
fn internet_keys_bad_values_name_key_and_line() {
    let e = errors(
        "nsid = \"\"\nudp-max-response-size = 100\n[rrl]\nslip = 101\n\
         exempt-clients = [\"nope\"]\nresponses-per-second = -1\n\
         [cookies]\nsecrets = [\"abc\"]\nsecret-lifetime-hours = 0\nfrobnicate = 1\n",
    );
    assert_eq!(
        e,
        [
            "dnsd.toml:10: cookies.frobnicate: unknown key; expected one of enabled, secrets, secret-lifetime-hours, require"
        ]
    );
    let e = errors(
        "nsid = \"\"\nudp-max-response-size = 100\n[rrl]\nslip = 101\n\
         exempt-clients = [\"nope\"]\nresponses-per-second = -1\n\
         [cookies]\nsecrets = [\"abc\"]\nsecret-lifetime-hours = 0\n",
    );
    assert_eq!(
        e,
        [
            "dnsd.toml:6: rrl.responses-per-second: -1 is out of range 0..=10000",
            "dnsd.toml:4: rrl.slip: 101 is out of range 0..=100",
            "dnsd.toml:5: rrl.exempt-clients[0]: \"nope\" is not an address or prefix (e.g. 198.51.100.0/24, 2001:db8::/48)",
            "dnsd.toml:9: cookies.secret-lifetime-hours: 0 is out of range 1..=864",
            "dnsd.toml:8: cookies.secrets[0]: is not a secret of 32 hexadecimal digits (128 bits)",
            "dnsd.toml:1: nsid: must be 1 to 255 octets, not 0",
            "dnsd.toml:2: udp-max-response-size: 100 is out of range 512..=4096",
        ]
    );
}

#[test]
fn the_example_resolver_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/resolver.toml");
    let config = load(Some(&path), &Overrides::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let roles: Vec<Role> = config.listeners.iter().map(|l| l.role).collect();
    assert_eq!(roles, vec![Role::Authoritative, Role::Resolver, Role::Both]);
    assert_eq!(
        config.resolver.root_hints,
        PathBuf::from("/usr/share/dns/root.hints")
    );
    assert_eq!(config.resolver.cache_bytes, 64 << 20);
    // Without [resolver], the same defaults.
    assert_eq!(config.resolver, self::config("").resolver);
    // The anchor it names loads, where dns-root-data is installed (test.sh installs
    // it): Debian's root.key (DNSKEY lines) did not.
    let anchor = &config.resolver.trust_anchor;
    if anchor.exists() {
        let records = crate::resolver::hints::load_anchor(anchor)
            .unwrap_or_else(|e| panic!("{}: {e}", anchor.display()));
        assert!(!records.is_empty());
    }
}

#[test]
fn resolver_keys_are_checked() {
    assert_eq!(
        errors(
            "[resolver]\nmin-ttl = 600\nmax-ttl = 60\ncache-size-mb = 0\nqname-minimization = true\n"
        ),
        vec![
            "dnsd.toml:5: resolver.qname-minimization: unknown key; expected one of root-hints, trust-anchor, cache-size-mb, min-ttl, max-ttl, qname-minimisation, max-in-flight, upstream-port, serve-stale-secs, prefetch, insecure-domains, forward, forward-tls-ca"
        ]
    );
    assert_eq!(
        errors("[resolver]\nmin-ttl = 600\nmax-ttl = 60\ncache-size-mb = 0\n"),
        vec![
            "dnsd.toml:4: resolver.cache-size-mb: 0 is out of range 1..=1048576",
            "dnsd.toml:2: resolver.min-ttl: 600 is above max-ttl (60)",
        ]
    );
    assert_eq!(
        errors(
            "[resolver]
serve-stale-secs = -1
insecure-domains = [\"corp.example\", \"\"]\n"
        ),
        vec![
            "dnsd.toml:2: resolver.serve-stale-secs: -1 is out of range 0..=2147483647",
            "dnsd.toml:3: resolver.insecure-domains: \"\" is not a domain name",
        ]
    );
    let resolver = config(
        "[resolver]
serve-stale-secs = 0
insecure-domains = [\"Corp.Example\"]\n",
    )
    .resolver;
    assert_eq!(resolver.serve_stale_secs, 0);
    assert_eq!(resolver.insecure_domains.len(), 1);
    assert_eq!(resolver.insecure_domains[0].to_string(), "Corp.Example.");
}

#[test]
fn listeners_with_roles_and_access_lists() {
    let config = config(
        r#"
listen = ["127.0.0.1:53"]
[[listener]]
address = "127.0.0.1:5300"
role = "resolver"
[[listener]]
address = "[::1]:5300"
role = "both"
allow = ["::1", "fd00::/8", "198.51.100.7"]
[[listener]]
address = "203.0.113.1:53"
role = "resolver"
allow = ["203.0.113.0/24"]
"#,
    );
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        config.listen,
        vec![
            addr("127.0.0.1:53"),
            addr("127.0.0.1:5300"),
            addr("[::1]:5300"),
            addr("203.0.113.1:53")
        ]
    );
    let l = &config.listeners;
    assert_eq!(l[0], ListenerConfig::authoritative(addr("127.0.0.1:53")));
    assert_eq!(l[1].role, Role::Resolver);
    // A resolver listener admits loopback clients unless told otherwise.
    assert_eq!(l[1].allow, Acl::loopback());
    assert_eq!(l[2].role, Role::Both);
    assert!(l[2].allow.allows(ip("198.51.100.7")) && l[2].allow.allows(ip("fd12::1")));
    assert!(!l[2].allow.allows(ip("127.0.0.1")));
    assert!(l[3].allow.allows(ip("203.0.113.9")) && !l[3].allow.allows(ip("198.51.100.1")));
}

#[test]
fn listeners_alone_replace_the_default_listen() {
    let config = config("[[listener]]\naddress = \"127.0.0.1:5300\"\nrole = \"resolver\"\n");
    assert_eq!(config.listen, vec!["127.0.0.1:5300".parse().unwrap()]);
    assert_eq!(config.listeners.len(), 1);
    // Without a file, the default stays authoritative-only.
    let default = load(None, &Overrides::default()).unwrap();
    assert_eq!(default.listeners.len(), 1);
    assert_eq!(default.listeners[0].role, Role::Authoritative);
    assert!(default.listeners[0].allow.is_any());
}

#[test]
fn an_open_resolver_is_refused_unless_forced() {
    assert_eq!(
        errors(
            "[[listener]]\naddress = \"0.0.0.0:53\"\nrole = \"resolver\"\n\
             allow = [\"0.0.0.0/0\"]\n"
        ),
        vec![
            "dnsd.toml:4: listener[0].allow: would make 0.0.0.0:53 an open resolver for \
             the whole Internet; set force-open = true if that is really meant"
        ]
    );
    assert_eq!(
        errors("[[listener]]\naddress = \"203.0.113.1:53\"\nrole = \"both\"\n"),
        vec![
            "dnsd.toml:2: listener[0].allow: a both listener on 203.0.113.1:53, a public \
             address, must say which clients it serves (allow = [\"PREFIX\", ...])"
        ]
    );
    // Forced, or on a private address, or authoritative: accepted.
    config(
        "[[listener]]\naddress = \"0.0.0.0:53\"\nrole = \"resolver\"\n\
         allow = [\"::/0\"]\nforce-open = true\n",
    );
    config(
        "[[listener]]\naddress = \"10.0.0.1:53\"\nrole = \"resolver\"\nallow = [\"0.0.0.0/0\"]\n",
    );
    config("[[listener]]\naddress = \"0.0.0.0:53\"\n");
}

#[test]
fn bad_listeners_name_their_key() {
    assert_eq!(
        errors(
            "listen = [\"127.0.0.1:53\"]\n[[listener]]\naddress = \"127.0.0.1:53\"\n\
             [[listener]]\nrole = \"recursive\"\nallow = [\"300.1.1.0/24\"]\nport = 5\n"
        ),
        vec![
            "dnsd.toml:7: listener[1].port: unknown key; expected one of address, role, allow, force-open, udp-max-response-size, transport, certificate, key"
        ]
    );
    assert_eq!(
        errors(
            "listen = [\"127.0.0.1:53\"]\n[[listener]]\naddress = \"127.0.0.1:53\"\n\
             [[listener]]\nrole = \"recursive\"\nallow = [\"300.1.1.0/24\"]\n"
        ),
        vec![
            "dnsd.toml:2: listener[0].address: 127.0.0.1:53 is listed twice",
            "dnsd.toml:4: listener[1].address: is missing",
            "dnsd.toml:5: listener[1].role: expected one of authoritative, resolver, both",
            "dnsd.toml:6: listener[1].allow[0]: \"300.1.1.0/24\" is not a prefix or address \
             (e.g. 198.51.100.0/24, ::1)",
        ]
    );
}

#[test]
fn a_listener_may_have_its_own_udp_size() {
    let config = config(
        "[[listener]]\naddress = \"127.0.0.1:53\"\n\
         [[listener]]\naddress = \"127.0.0.2:53\"\nudp-max-response-size = 512\n",
    );
    let sizes: Vec<Option<u16>> = config
        .listeners
        .iter()
        .map(|l| l.udp_max_response_size)
        .collect();
    assert_eq!(sizes, vec![None, Some(512)]);
    assert_eq!(
        errors("[[listener]]\naddress = \"127.0.0.1:53\"\nudp-max-response-size = 100\n"),
        vec!["dnsd.toml:3: listener[0].udp-max-response-size: 100 is out of range 512..=4096"]
    );
}

#[test]
fn dot_listeners_need_a_certificate_and_a_key_relative_to_the_file() {
    let config = config(
        "[[listener]]\naddress = \"127.0.0.1:853\"\nrole = \"resolver\"\ntransport = \"dot\"\n\
         certificate = \"tls/dot.crt\"\nkey = \"/etc/ssl/dot.key\"\n",
    );
    assert_eq!(
        config.listeners[0].tls,
        Some(crate::front::dot::TlsFiles {
            certificate: PathBuf::from("/etc/dnsd/tls/dot.crt"),
            key: PathBuf::from("/etc/ssl/dot.key"),
        })
    );
    assert_eq!(
        errors("[[listener]]\naddress = \"127.0.0.1:853\"\ntransport = \"dot\"\nkey = \"k\"\n"),
        vec![
            "dnsd.toml:3: listener[0].certificate: is missing: a DoT listener needs a certificate and a key (PEM files)"
        ]
    );
    assert_eq!(
        errors("[[listener]]\naddress = \"127.0.0.1:853\"\ntransport = \"doh\"\n"),
        vec!["dnsd.toml:3: listener[0].transport: expected one of udp-tcp, dot"]
    );
    assert_eq!(
        errors("[[listener]]\naddress = \"127.0.0.1:53\"\ncertificate = \"c\"\n"),
        vec!["dnsd.toml:3: listener[0].certificate: only for transport = \"dot\""]
    );
}
