//! The configuration of the dynamic sources (issue 10): `[containers]` (engines and
//! the networks mapped to zones), `[dynamic-zone."NAME"]` (zones with no file: their
//! SOA and NS), `[update]` (RFC 2136: who may send unsigned updates, and the grants of
//! TSIG keys) and `[api]` (the PowerDNS-compatible HTTP API).
//! Documented key by key in `examples/dnsd.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Problems;
use super::zone_name;
use crate::manager::dynamic_zone::ApexSettings;
use crate::sources::containers::{
    Duplicates, EngineConfig, EngineLoss, NetworkMap, NetworkMatch, RecordSettings, Settings,
};
use crate::wire::name::Name;

/// The keys of each table, for the unknown-key check (`config_keys`).
pub(super) const CONTAINERS_KEYS: &[&str] = &[
    "ttl",
    "duplicates",
    "on-engine-loss",
    "grace-seconds",
    "engine",
    "network",
];
pub(super) const ENGINE_KEYS: &[&str] = &["name", "socket"];
pub(super) const NETWORK_KEYS: &[&str] = &["name", "subnet", "zone"];
pub(super) const DYNAMIC_ZONE_KEYS: &[&str] = &["ns", "hostmaster", "ttl", "serial"];
pub(super) const UPDATE_KEYS: &[&str] = &["allow-unsigned", "key-files", "grant"];
pub(super) const GRANT_KEYS: &[&str] = &["key", "match", "name", "types", "zones"];
pub(super) const API_KEYS: &[&str] = &["listen", "key-file", "server-id"];

/// Default TTL of container records (issue 10: 30 s).
pub const DEFAULT_CONTAINER_TTL: u32 = 30;
/// Default port of the PowerDNS-compatible API (PowerDNS's own default).
pub const DEFAULT_API_SERVER_ID: &str = "localhost";

/// The dynamic sources, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicConfig {
    /// The container source, when `[containers]` has engines.
    pub containers: Option<Settings>,
    /// Zones with no file, by lowercased apex.
    pub zones: BTreeMap<Name, ApexSettings>,
    /// RFC 2136 updates (served when `allow-unsigned` or a grant is configured).
    pub update: crate::sources::update::Settings,
    /// The PowerDNS-compatible API, when `[api]` is present.
    pub api: Option<ApiConfig>,
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where it listens (HTTP).
    pub listen: SocketAddr,
    /// The file holding the API key (`X-API-Key`), trimmed.
    pub key_file: PathBuf,
    /// The server id in the URL (`/api/v1/servers/ID`).
    pub server_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct ContainersSpec {
    ttl: Option<Spanned<i64>>,
    duplicates: Option<Spanned<String>>,
    on_engine_loss: Option<Spanned<String>>,
    grace_seconds: Option<Spanned<i64>>,
    engine: Vec<Spanned<EngineSpec>>,
    network: Vec<Spanned<NetworkSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct EngineSpec {
    name: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct NetworkSpec {
    name: Option<Spanned<String>>,
    subnet: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct DynamicZoneSpec {
    ns: Option<Spanned<Vec<Spanned<String>>>>,
    hostmaster: Option<Spanned<String>>,
    ttl: Option<Spanned<i64>>,
    serial: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct UpdateSpec {
    allow_unsigned: Option<Spanned<Vec<Spanned<String>>>>,
    key_files: Option<Spanned<Vec<Spanned<String>>>>,
    grant: Vec<Spanned<GrantSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct GrantSpec {
    key: Option<Spanned<String>>,
    #[serde(rename = "match")]
    rule: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    types: Option<Spanned<Vec<Spanned<String>>>>,
    zones: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct ApiSpec {
    listen: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    server_id: Option<Spanned<String>>,
}

/// Validates the dynamic sources' tables.
pub(super) fn dynamic(
    containers: &Option<ContainersSpec>,
    zones: &BTreeMap<String, Spanned<DynamicZoneSpec>>,
    update: &UpdateSpec,
    api: &Option<Spanned<ApiSpec>>,
    in_file: &dyn Fn(&str) -> PathBuf,
    zone_defaults: &crate::manager::ZoneOptions,
    problems: &mut Problems<'_>,
) -> DynamicConfig {
    DynamicConfig {
        containers: containers
            .as_ref()
            .and_then(|c| containers_settings(c, in_file, problems)),
        zones: dynamic_zones(zones, zone_defaults, problems),
        update: update_settings(update, in_file, problems),
        api: api.as_ref().and_then(|a| api_config(a, in_file, problems)),
    }
}

fn containers_settings(
    spec: &ContainersSpec,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> Option<Settings> {
    let ttl = problems.positive(
        &spec.ttl,
        "containers.ttl",
        i64::from(i32::MAX),
        u64::from(DEFAULT_CONTAINER_TTL),
    ) as u32;
    let duplicates = match &spec.duplicates {
        None => Duplicates::RoundRobin,
        Some(v) => match v.get_ref().as_str() {
            "round-robin" => Duplicates::RoundRobin,
            "first-wins" => Duplicates::FirstWins,
            _ => {
                problems.fail(
                    Some(v.span()),
                    "containers.duplicates".into(),
                    "expected one of round-robin, first-wins".into(),
                );
                Duplicates::RoundRobin
            }
        },
    };
    let grace = problems.positive(
        &spec.grace_seconds,
        "containers.grace-seconds",
        86_400 * 30,
        300,
    );
    let loss = match &spec.on_engine_loss {
        None => EngineLoss::Keep,
        Some(v) => match v.get_ref().as_str() {
            "keep" => EngineLoss::Keep,
            "withdraw" => EngineLoss::Withdraw(Duration::from_secs(grace)),
            _ => {
                problems.fail(
                    Some(v.span()),
                    "containers.on-engine-loss".into(),
                    "expected one of keep, withdraw".into(),
                );
                EngineLoss::Keep
            }
        },
    };
    let mut engines: Vec<EngineConfig> = Vec::new();
    for (i, e) in spec.engine.iter().enumerate() {
        let key = format!("containers.engine[{i}]");
        let Some(socket) = &e.get_ref().socket else {
            problems.fail(Some(e.span()), format!("{key}.socket"), "is missing".into());
            continue;
        };
        let name = e
            .get_ref()
            .name
            .as_ref()
            .map_or_else(|| format!("engine{i}"), |n| n.get_ref().clone());
        if engines.iter().any(|x| x.name == name) {
            problems.fail(
                Some(e.span()),
                format!("{key}.name"),
                format!("{name:?} names two engines"),
            );
        }
        let path = socket.get_ref().trim_start_matches("unix://");
        engines.push(EngineConfig {
            name,
            socket: in_file(path),
        });
    }
    let mut networks = Vec::new();
    for (i, n) in spec.network.iter().enumerate() {
        let key = format!("containers.network[{i}]");
        let spec = n.get_ref();
        let matches = match (&spec.name, &spec.subnet) {
            (Some(name), None) => NetworkMatch::Name(name.get_ref().clone()),
            (None, Some(subnet)) => match subnet.get_ref().parse::<ipnet::IpNet>() {
                Ok(net) => NetworkMatch::Subnet(net.trunc()),
                Err(_) => {
                    problems.fail(
                        Some(subnet.span()),
                        format!("{key}.subnet"),
                        format!(
                            "{:?} is not a prefix (e.g. 198.18.0.0/24)",
                            subnet.get_ref()
                        ),
                    );
                    continue;
                }
            },
            _ => {
                problems.fail(
                    Some(n.span()),
                    key,
                    "needs exactly one of name (a network's name) or subnet".into(),
                );
                continue;
            }
        };
        let zone = match &spec.zone {
            Some(z) => match zone_name(z.get_ref()) {
                Ok(z) => z.to_lowercase(),
                Err(m) => {
                    problems.fail(Some(z.span()), format!("{key}.zone"), m);
                    continue;
                }
            },
            None => {
                problems.fail(Some(n.span()), format!("{key}.zone"), "is missing".into());
                continue;
            }
        };
        networks.push(NetworkMap { matches, zone });
    }
    if engines.is_empty() {
        return None;
    }
    Some(Settings {
        engines,
        records: RecordSettings {
            networks,
            ttl,
            duplicates,
        },
        loss,
    })
}

fn dynamic_zones(
    zones: &BTreeMap<String, Spanned<DynamicZoneSpec>>,
    zone_defaults: &crate::manager::ZoneOptions,
    problems: &mut Problems<'_>,
) -> BTreeMap<Name, ApexSettings> {
    let mut out = BTreeMap::new();
    for (text, spec) in zones {
        let key = format!("dynamic-zone.{}", super::quote_key(text));
        let apex = match zone_name(text) {
            Ok(a) => a.to_lowercase(),
            Err(m) => {
                problems.fail(Some(spec.span()), key, m);
                continue;
            }
        };
        let s = spec.get_ref();
        let name = |v: &Spanned<String>, k: &str, problems: &mut Problems<'_>| {
            let text = if v.get_ref().ends_with('.') {
                v.get_ref().clone()
            } else {
                format!("{}.", v.get_ref())
            };
            match Name::from_text(&text, None) {
                Ok(n) => Some(n),
                Err(e) => {
                    problems.fail(
                        Some(v.span()),
                        format!("{key}.{k}"),
                        format!("is not a domain name: {e}"),
                    );
                    None
                }
            }
        };
        let ns: Vec<Name> = match &s.ns {
            Some(list) if !list.get_ref().is_empty() => list
                .get_ref()
                .iter()
                .filter_map(|n| name(n, "ns", problems))
                .collect(),
            _ => {
                problems.fail(
                    Some(spec.span()),
                    format!("{key}.ns"),
                    "needs at least one name server (e.g. ns = [\"ns1.example.net.\"])".into(),
                );
                continue;
            }
        };
        let hostmaster = match &s.hostmaster {
            Some(h) => name(h, "hostmaster", problems),
            None => apex.prepend_label(b"hostmaster").ok(),
        };
        let ttl = problems.positive(&s.ttl, &format!("{key}.ttl"), i64::from(i32::MAX), 300) as u32;
        let mut options = zone_defaults.clone();
        if let Some(serial) = &s.serial {
            match crate::zone::serial::SerialPolicy::from_config(serial.get_ref()) {
                Some(p) => options.serial = p,
                None => problems.fail(
                    Some(serial.span()),
                    format!("{key}.serial"),
                    "expected one of keep, unixtime, date".into(),
                ),
            }
        }
        let Some(hostmaster) = hostmaster else {
            continue;
        };
        out.insert(
            apex,
            ApexSettings {
                ns,
                hostmaster,
                ttl,
                options,
            },
        );
    }
    out
}

fn update_settings(
    spec: &UpdateSpec,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> crate::sources::update::Settings {
    use crate::sources::update::policy::{Grant, Match};
    let mut settings = crate::sources::update::Settings::default();
    if let Some(list) = &spec.allow_unsigned {
        for (i, text) in list.get_ref().iter().enumerate() {
            let key = format!("update.allow-unsigned[{i}]");
            let parsed = text.get_ref().parse::<ipnet::IpNet>().or_else(|_| {
                text.get_ref()
                    .parse::<std::net::IpAddr>()
                    .map(ipnet::IpNet::from)
            });
            match parsed {
                Ok(net) if net.network().is_loopback() && net.broadcast().is_loopback() => {
                    settings.allow_unsigned.push(net.trunc())
                }
                Ok(_) => problems.fail(
                    Some(text.span()),
                    key,
                    "unsigned updates are accepted from loopback prefixes only (127.0.0.0/8, ::1); other clients need a TSIG key".into(),
                ),
                Err(_) => problems.fail(
                    Some(text.span()),
                    key,
                    format!("{:?} is not a prefix or address", text.get_ref()),
                ),
            }
        }
    }
    let absolute = |text: &str| {
        let t = if text.ends_with('.') {
            text.to_string()
        } else {
            format!("{text}.")
        };
        Name::from_text(&t, None).map(|n| n.to_lowercase())
    };
    if let Some(list) = &spec.key_files {
        for (i, path) in list.get_ref().iter().enumerate() {
            let key = format!("update.key-files[{i}]");
            let file = in_file(path.get_ref());
            let read = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| crate::tsig::keyfile::parse(&text).map_err(|e| e.to_string()));
            match read {
                Ok(specs) => {
                    for k in specs {
                        let tsig = crate::tsig::Key::new(&k.name, k.algorithm, &k.secret);
                        if !settings.keys.insert(tsig) {
                            problems.fail(
                                Some(path.span()),
                                key.clone(),
                                format!(
                                    "{}: line {}: key {} is defined twice",
                                    path.get_ref(),
                                    k.line,
                                    k.name
                                ),
                            );
                        }
                    }
                }
                Err(e) => problems.fail(Some(path.span()), key, format!("{}: {e}", path.get_ref())),
            }
        }
    }
    for (i, g) in spec.grant.iter().enumerate() {
        let key = format!("update.grant[{i}]");
        let s = g.get_ref();
        let Some(identity) = s.key.as_ref().and_then(|k| absolute(k.get_ref()).ok()) else {
            problems.fail(
                Some(g.span()),
                format!("{key}.key"),
                "is missing or not a key name".into(),
            );
            continue;
        };
        let name = s.name.as_ref().map(|n| (n, absolute(n.get_ref())));
        let needs_name = |problems: &mut Problems<'_>| {
            problems.fail(
                Some(g.span()),
                format!("{key}.name"),
                "this match needs a name".into(),
            );
        };
        let rule = s.rule.as_ref().map_or("self", |r| r.get_ref().as_str());
        let matches = match (rule, name) {
            ("self", _) => Match::SelfName,
            ("selfsub", _) => Match::SelfSub,
            ("zonesub", _) => Match::ZoneSub,
            ("name" | "subdomain" | "wildcard", Some((_, Ok(n)))) => match rule {
                "name" => Match::Name(n),
                "subdomain" => Match::Subdomain(n),
                _ => Match::Wildcard(n),
            },
            ("name" | "subdomain" | "wildcard", Some((n, Err(e)))) => {
                problems.fail(
                    Some(n.span()),
                    format!("{key}.name"),
                    format!("is not a domain name: {e}"),
                );
                continue;
            }
            ("name" | "subdomain" | "wildcard", None) => {
                needs_name(problems);
                continue;
            }
            _ => {
                problems.fail(
                    s.rule.as_ref().map(|r| r.span()),
                    format!("{key}.match"),
                    "expected one of self, selfsub, name, subdomain, wildcard, zonesub".into(),
                );
                continue;
            }
        };
        let types = s.types.as_ref().map(|list| {
            list.get_ref()
                .iter()
                .filter_map(|t| {
                    let parsed = crate::zone::Rtype::from_text(&t.get_ref().to_ascii_uppercase());
                    if parsed.is_none() {
                        problems.fail(
                            Some(t.span()),
                            format!("{key}.types"),
                            format!("{:?} is not a type", t.get_ref()),
                        );
                    }
                    parsed
                })
                .collect()
        });
        let zones = s.zones.as_ref().map(|list| {
            list.get_ref()
                .iter()
                .filter_map(|z| match absolute(z.get_ref()) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        problems.fail(
                            Some(z.span()),
                            format!("{key}.zones"),
                            format!("is not a domain name: {e}"),
                        );
                        None
                    }
                })
                .collect()
        });
        if settings.keys.get(&identity).is_none() {
            problems.fail(
                s.key.as_ref().map(|k| k.span()),
                format!("{key}.key"),
                format!("no key {identity} is in update.key-files"),
            );
        }
        settings.grants.push(Grant {
            identity,
            matches,
            types,
            zones,
        });
    }
    settings
}

fn api_config(
    spec: &Spanned<ApiSpec>,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> Option<ApiConfig> {
    let s = spec.get_ref();
    let listen = match &s.listen {
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.fail(
                    Some(l.span()),
                    "api.listen".into(),
                    format!(
                        "{:?} is not an ADDR:PORT (e.g. 127.0.0.1:8081)",
                        l.get_ref()
                    ),
                );
                None
            }
        },
        None => {
            problems.fail(Some(spec.span()), "api.listen".into(), "is missing".into());
            None
        }
    };
    let key_file = match &s.key_file {
        Some(k) if !k.get_ref().is_empty() => Some(in_file(k.get_ref())),
        _ => {
            problems.fail(
                Some(spec.span()),
                "api.key-file".into(),
                "is missing: the API needs a key (X-API-Key), kept in a file".into(),
            );
            None
        }
    };
    Some(ApiConfig {
        listen: listen?,
        key_file: key_file?,
        server_id: s.server_id.as_ref().map_or_else(
            || DEFAULT_API_SERVER_ID.to_string(),
            |v| v.get_ref().clone(),
        ),
    })
}

/// Checks the keys of the dynamic sources' tables with `check(table, prefix, known)`.
pub(super) fn unknown_keys(
    table: &toml::de::DeTable<'_>,
    check: &mut dyn FnMut(&toml::de::DeTable<'_>, &str, &[&str]),
) {
    if let Some(c) = sub(table, "containers") {
        check(&c, "containers.", CONTAINERS_KEYS);
        for (i, e) in array(&c, "engine").iter().enumerate() {
            check(e, &format!("containers.engine[{i}]."), ENGINE_KEYS);
        }
        for (i, n) in array(&c, "network").iter().enumerate() {
            check(n, &format!("containers.network[{i}]."), NETWORK_KEYS);
        }
    }
    if let Some(zones) = sub(table, "dynamic-zone") {
        for (name, zone) in zones.iter() {
            if let Some(zone) = zone.get_ref().as_table() {
                check(
                    zone,
                    &format!("dynamic-zone.{}.", super::quote_key(name.get_ref())),
                    DYNAMIC_ZONE_KEYS,
                );
            }
        }
    }
    if let Some(u) = sub(table, "update") {
        check(&u, "update.", UPDATE_KEYS);
        for (i, g) in array(&u, "grant").iter().enumerate() {
            check(g, &format!("update.grant[{i}]."), GRANT_KEYS);
        }
    }
    if let Some(a) = sub(table, "api") {
        check(&a, "api.", API_KEYS);
    }
}

fn sub<'a>(t: &toml::de::DeTable<'a>, name: &str) -> Option<toml::de::DeTable<'a>> {
    t.get(name).and_then(|v| v.get_ref().as_table()).cloned()
}

fn array<'a>(t: &toml::de::DeTable<'a>, name: &str) -> Vec<toml::de::DeTable<'a>> {
    t.get(name)
        .and_then(|v| v.get_ref().as_array())
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get_ref().as_table().cloned())
                .collect()
        })
        .unwrap_or_default()
}
