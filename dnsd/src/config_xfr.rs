//! The keys of the configuration about zone transfers, NOTIFY and TSIG: `[key."NAME"]`
//! (inline keys), `[xfr]` (key files, the lists every zone gets unless its own table
//! says otherwise, limits, secondary timers' bounds), and each `[zone."NAME"]`'s
//! `allow-transfer`, `allow-notify`, `notify` and `primaries` (a zone with primaries is
//! a secondary: no file). Validated into `xfr::access::XfrSettings`.
//!
//! ```toml
//! [key."home-vps"]
//! algorithm = "hmac-sha256"
//! secret = "BASE64"
//! [xfr]
//! key-files = ["keys/home-vps.key"]           # tsig-keygen / keymgr -t output
//! allow-transfer = [{ from = "203.0.113.7", key = "home-vps" }]
//! notify = [{ address = "203.0.113.7:53", key = "home-vps" }]
//! catalog = "catalog.invalid"                # RFC 9432: publish the zones served
//! [zone."home.example.net"]                    # a zone file's zone, listed in the
//! catalog-group = "signed"                     # catalog with this group (§4.4.2)
//! [zone."example.net"]
//! primaries = [{ address = "198.51.100.1:53", key = "home-vps" }]
//! [zone."example.org"]                         # XoT (RFC 9103), strict TLS
//! primaries = [{ address = "198.51.100.1:853", key = "home-vps", tls = "strict",
//!                tls-ca-file = "ca.pem", tls-name = "ns1.example.org" }]
//! [zone."catalog.invalid"]                     # a catalog from a primary: its
//! primaries = [{ address = "198.51.100.1:53", key = "home-vps" }]
//! catalog = true                               # members become secondary zones
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Problems;
use crate::tsig::{Key, KeyRing, keyfile};
use crate::wire::name::Name;
use crate::xfr::access::{Acl, AclEntry, Remote, TimerBounds, XfrSettings, ZoneXfr};
use crate::xfr::xot::{TlsMode, TlsSpec, XotPeer};

//------------ Spec ----------------------------------------------------------

/// `[xfr]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct XfrSpec {
    key_files: Option<Vec<Spanned<String>>>,
    allow_transfer: Option<Vec<Spanned<AclEntrySpec>>>,
    allow_notify: Option<Vec<Spanned<AclEntrySpec>>>,
    notify: Option<Vec<Spanned<RemoteSpec>>>,
    notify_ns: Option<Spanned<bool>>,
    write_timeout_ms: Option<Spanned<i64>>,
    max_transfers_out: Option<Spanned<i64>>,
    max_transfers_in: Option<Spanned<i64>>,
    refresh_min_seconds: Option<Spanned<i64>>,
    refresh_max_seconds: Option<Spanned<i64>>,
    expire_min_seconds: Option<Spanned<i64>>,
    catalog: Option<Spanned<String>>,
}

/// The keys of `[xfr]`, for the unknown-key check.
pub(super) const XFR_KEYS: &[&str] = &[
    "key-files",
    "allow-transfer",
    "allow-notify",
    "notify",
    "notify-ns",
    "write-timeout-ms",
    "max-transfers-out",
    "max-transfers-in",
    "refresh-min-seconds",
    "refresh-max-seconds",
    "expire-min-seconds",
    "catalog",
];

/// The keys of a `[key."NAME"]` table.
pub(super) const KEY_KEYS: &[&str] = &["algorithm", "secret"];

/// An access list entry as written: `{ from = "PREFIX", key = "NAME" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct AclEntrySpec {
    from: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
}

/// A remote server as written: `{ address = "ADDR[:PORT]", key = "NAME" }`; a
/// primary also `tls = "strict" | "opportunistic"` (XoT, RFC 9103) with `tls-name`,
/// `tls-ca-file` and `tls-pin-sha256` (base64 SHA-256 of the certificate's SPKI).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct RemoteSpec {
    address: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    tls: Option<Spanned<String>>,
    tls_name: Option<Spanned<String>>,
    tls_ca_file: Option<Spanned<String>>,
    tls_pin_sha256: Option<Spanned<String>>,
}

/// A `[key."NAME"]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct KeyTableSpec {
    algorithm: Option<Spanned<String>>,
    secret: Option<Spanned<String>>,
}

/// A `[catalog-group."NAME"]` table: the transfer settings of the members a consumed
/// catalog puts in group NAME (RFC 9432 §4.4.2), instead of the catalog's own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct CatalogGroupSpec {
    primaries: Option<Vec<Spanned<RemoteSpec>>>,
    allow_transfer: Option<Vec<Spanned<AclEntrySpec>>>,
    allow_notify: Option<Vec<Spanned<AclEntrySpec>>>,
    notify: Option<Vec<Spanned<RemoteSpec>>>,
}

/// The keys of a `[catalog-group."NAME"]` table.
pub(super) const CATALOG_GROUP_KEYS: &[&str] =
    &["primaries", "allow-transfer", "allow-notify", "notify"];

/// A zone's transfer keys as written (fields of `[zone."NAME"]`).
pub(super) struct ZoneXfrSpec<'a> {
    pub allow_transfer: &'a Option<Vec<Spanned<AclEntrySpec>>>,
    pub allow_notify: &'a Option<Vec<Spanned<AclEntrySpec>>>,
    pub notify: &'a Option<Vec<Spanned<RemoteSpec>>>,
    pub primaries: &'a Option<Vec<Spanned<RemoteSpec>>>,
    pub catalog: &'a Option<Spanned<bool>>,
    pub catalog_group: &'a Option<Spanned<String>>,
    /// The configuration file's folder (relative `tls-ca-file` paths).
    pub base: &'a Path,
}

//------------ Validation ----------------------------------------------------

/// Validates `[key]` tables, `[xfr]` and its key files (relative to the configuration
/// file through `in_file`). Zones' own settings are added by [`zone`].
pub(super) fn settings(
    spec: &XfrSpec,
    keys: &BTreeMap<String, Spanned<KeyTableSpec>>,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> XfrSettings {
    let mut ring = KeyRing::new();
    for (name, table) in keys {
        let path = format!("key.{}", super::keys::quote_key(name));
        let t = table.get_ref();
        let (Some(algorithm), Some(secret)) = (&t.algorithm, &t.secret) else {
            problems.fail(
                Some(table.span()),
                path,
                "a key needs `algorithm` and `secret`".into(),
            );
            continue;
        };
        match keyfile::key_spec(name, algorithm.get_ref(), secret.get_ref(), 0) {
            Ok(k) => {
                if !ring.insert(Key::new(&k.name, k.algorithm, &k.secret)) {
                    problems.fail(
                        Some(table.span()),
                        path,
                        format!("key {} is defined twice", k.name),
                    );
                }
            }
            Err(e) => problems.fail(Some(algorithm.span()), path, e.message),
        }
    }
    for (i, file) in spec.key_files.iter().flatten().enumerate() {
        let key = format!("xfr.key-files[{i}]");
        let path = in_file(file.get_ref());
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.fail(Some(file.span()), key, format!("{}: {e}", path.display()));
                continue;
            }
        };
        match keyfile::parse(&text) {
            Ok(specs) => {
                for k in specs {
                    if !ring.insert(Key::new(&k.name, k.algorithm, &k.secret)) {
                        problems.fail(
                            Some(file.span()),
                            key.clone(),
                            format!(
                                "{}:{}: key {} is defined twice",
                                path.display(),
                                k.line,
                                k.name
                            ),
                        );
                    }
                }
            }
            Err(e) => problems.fail(
                Some(file.span()),
                key,
                format!("{}:{}: {}", path.display(), e.line, e.message),
            ),
        }
    }
    let mut settings = XfrSettings {
        keys: ring,
        ..XfrSettings::default()
    };
    let empty = ZoneXfrSpec {
        allow_transfer: &spec.allow_transfer,
        allow_notify: &spec.allow_notify,
        notify: &spec.notify,
        primaries: &None,
        catalog: &None,
        catalog_group: &None,
        base: &in_file(""),
    };
    settings.defaults = zone_lists("xfr", &empty, &settings.keys, &ZoneXfr::default(), problems);
    if let Some(v) = &spec.notify_ns {
        settings.notify_ns = *v.get_ref();
    }
    settings.write_timeout = Duration::from_millis(problems.positive(
        &spec.write_timeout_ms,
        "xfr.write-timeout-ms",
        3_600_000,
        settings.write_timeout.as_millis() as u64,
    ));
    settings.max_transfers_out = problems.positive(
        &spec.max_transfers_out,
        "xfr.max-transfers-out",
        10_000,
        settings.max_transfers_out as u64,
    ) as usize;
    settings.max_transfers_in = problems.positive(
        &spec.max_transfers_in,
        "xfr.max-transfers-in",
        10_000,
        settings.max_transfers_in as u64,
    ) as usize;
    let bounds = TimerBounds::default();
    let secs = |p: &mut Problems<'_>, v: &Option<Spanned<i64>>, key: &str, default: Duration| {
        Duration::from_secs(p.positive(v, key, 365 * 86_400, default.as_secs()))
    };
    settings.timers = TimerBounds {
        min_refresh: secs(
            problems,
            &spec.refresh_min_seconds,
            "xfr.refresh-min-seconds",
            bounds.min_refresh,
        ),
        max_refresh: secs(
            problems,
            &spec.refresh_max_seconds,
            "xfr.refresh-max-seconds",
            bounds.max_refresh,
        ),
        min_expire: secs(
            problems,
            &spec.expire_min_seconds,
            "xfr.expire-min-seconds",
            bounds.min_expire,
        ),
    };
    if let Some(text) = &spec.catalog {
        let t = text.get_ref();
        let absolute = if t.ends_with('.') {
            t.clone()
        } else {
            format!("{t}.")
        };
        match Name::from_text(&absolute, None) {
            Ok(name) if !name.is_root() => settings.produce_catalog = Some(name.to_lowercase()),
            _ => problems.fail(
                Some(text.span()),
                "xfr.catalog".into(),
                format!("{t:?} is not a zone name"),
            ),
        }
    }
    if settings.timers.min_refresh > settings.timers.max_refresh
        && let Some(v) = &spec.refresh_min_seconds
    {
        problems.fail(
            Some(v.span()),
            "xfr.refresh-min-seconds".into(),
            "is above refresh-max-seconds".into(),
        );
    }
    settings
}

/// Validates a zone's transfer keys (`key` is its path, `zone."NAME"`) into `settings`:
/// lists it does not set are `[xfr]`'s. `has_file`: the table names a `file`, which a
/// secondary zone cannot have.
pub(super) fn zone(
    key: &str,
    apex: &Name,
    spec: &ZoneXfrSpec<'_>,
    has_file: Option<std::ops::Range<usize>>,
    settings: &mut XfrSettings,
    problems: &mut Problems<'_>,
) {
    let mut zone = zone_lists(key, spec, &settings.keys, &settings.defaults, problems);
    if let Some(catalog) = spec.catalog {
        zone.catalog = *catalog.get_ref();
        if zone.catalog && !zone.is_secondary() {
            problems.fail(
                Some(catalog.span()),
                format!("{key}.catalog"),
                "a consumed catalog is a secondary zone: it needs `primaries`".into(),
            );
        }
    }
    if let Some(group) = spec.catalog_group {
        // RFC 9432 §4.4.2: a TXT string, one to 255 octets.
        let text = group.get_ref();
        if text.is_empty() || text.len() > 255 {
            problems.fail(
                Some(group.span()),
                format!("{key}.catalog-group"),
                format!("{text:?}: a group is 1 to 255 octets (a TXT string)"),
            );
        } else {
            zone.catalog_group = Some(text.clone());
        }
    }
    if settings.produce_catalog.as_ref() == Some(apex) && zone.is_secondary() {
        problems.fail(
            None,
            format!("{key}.primaries"),
            "this zone is xfr.catalog, which dnsd produces: it cannot have primaries".into(),
        );
    }
    if zone.is_secondary()
        && let Some(span) = has_file
    {
        problems.fail(
            Some(span),
            format!("{key}.file"),
            "a secondary zone (one with primaries) has no file: its content comes from them".into(),
        );
    }
    if zone != settings.defaults {
        settings.zones.insert(apex.clone(), zone);
    }
}

/// Validates the `[catalog-group."NAME"]` tables into `settings.groups`: each a
/// member template with its own primaries; lists it does not set are `[xfr]`'s.
pub(super) fn catalog_groups(
    specs: &BTreeMap<String, Spanned<CatalogGroupSpec>>,
    base: &Path,
    settings: &mut XfrSettings,
    problems: &mut Problems<'_>,
) {
    for (name, table) in specs {
        let key = format!("catalog-group.{}", super::keys::quote_key(name));
        if name.is_empty() || name.len() > 255 {
            problems.fail(
                Some(table.span()),
                key,
                "a group is 1 to 255 octets (RFC 9432 §4.4.2: a TXT string)".into(),
            );
            continue;
        }
        let t = table.get_ref();
        let lists = ZoneXfrSpec {
            allow_transfer: &t.allow_transfer,
            allow_notify: &t.allow_notify,
            notify: &t.notify,
            primaries: &t.primaries,
            catalog: &None,
            catalog_group: &None,
            base,
        };
        let zone = zone_lists(&key, &lists, &settings.keys, &settings.defaults, problems);
        if !zone.is_secondary() {
            problems.fail(
                Some(table.span()),
                format!("{key}.primaries"),
                "the members of a group are secondary zones: it needs `primaries`".into(),
            );
            continue;
        }
        settings.groups.insert(name.clone(), zone);
    }
}

/// The lists of a zone (or of `[xfr]`, with `key` "xfr"), each taken from `defaults`
/// where `spec` does not set it.
fn zone_lists(
    key: &str,
    spec: &ZoneXfrSpec<'_>,
    keys: &KeyRing,
    defaults: &ZoneXfr,
    problems: &mut Problems<'_>,
) -> ZoneXfr {
    let acl = |list: &Option<Vec<Spanned<AclEntrySpec>>>,
               name: &str,
               default: &Acl,
               p: &mut Problems<'_>| match list {
        None => default.clone(),
        Some(items) => Acl(items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| acl_entry(&format!("{key}.{name}[{i}]"), item, keys, p))
            .collect()),
    };
    let remotes = |list: &Option<Vec<Spanned<RemoteSpec>>>,
                   name: &str,
                   default: &[Remote],
                   p: &mut Problems<'_>| match list {
        None => default.to_vec(),
        Some(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = format!("{key}.{name}[{i}]");
                remote(
                    &path,
                    item,
                    keys,
                    (name == "primaries").then_some(spec.base),
                    p,
                )
            })
            .collect(),
    };
    ZoneXfr {
        allow_transfer: acl(
            spec.allow_transfer,
            "allow-transfer",
            &defaults.allow_transfer,
            problems,
        ),
        allow_notify: acl(
            spec.allow_notify,
            "allow-notify",
            &defaults.allow_notify,
            problems,
        ),
        notify: remotes(spec.notify, "notify", &defaults.notify, problems),
        primaries: remotes(spec.primaries, "primaries", &defaults.primaries, problems),
        catalog: false,
        catalog_group: None,
    }
}

/// A key named in an entry: it must be one the configuration defines.
fn key_name(
    path: &str,
    text: &Spanned<String>,
    keys: &KeyRing,
    problems: &mut Problems<'_>,
) -> Option<Name> {
    let name = keyfile::key_spec(text.get_ref(), "hmac-sha256", "AAAA", 0)
        .ok()
        .map(|k| k.name);
    match name {
        Some(name) if keys.get(&name).is_some() => Some(name.to_lowercase()),
        _ => {
            problems.fail(
                Some(text.span()),
                format!("{path}.key"),
                format!(
                    "no key {:?} is defined ([key.\"NAME\"] or a file of xfr.key-files)",
                    text.get_ref()
                ),
            );
            None
        }
    }
}

fn acl_entry(
    path: &str,
    item: &Spanned<AclEntrySpec>,
    keys: &KeyRing,
    problems: &mut Problems<'_>,
) -> Option<AclEntry> {
    let spec = item.get_ref();
    if spec.from.is_none() && spec.key.is_none() {
        problems.fail(
            Some(item.span()),
            path.into(),
            "an entry needs `from` (an address or prefix), `key`, or both".into(),
        );
        return None;
    }
    let mut prefixes = Vec::new();
    if let Some(from) = &spec.from {
        let text = from.get_ref();
        let parsed = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(p) => prefixes.push(p.trunc()),
            Err(_) => {
                problems.fail(
                    Some(from.span()),
                    format!("{path}.from"),
                    format!(
                        "{text:?} is not an address or prefix (e.g. 203.0.113.7, 2001:db8::/32)"
                    ),
                );
                return None;
            }
        }
    }
    let key = match &spec.key {
        Some(k) => Some(key_name(path, k, keys, problems)?),
        None => None,
    };
    Some(AclEntry { prefixes, key })
}

/// A remote server; `tls_base`: a primary's, whose relative `tls-ca-file` is in that
/// folder (NOTIFY targets have no TLS keys).
fn remote(
    path: &str,
    item: &Spanned<RemoteSpec>,
    keys: &KeyRing,
    tls_base: Option<&Path>,
    problems: &mut Problems<'_>,
) -> Option<Remote> {
    let spec = item.get_ref();
    let Some(address) = &spec.address else {
        problems.fail(
            Some(item.span()),
            format!("{path}.address"),
            "is missing".into(),
        );
        return None;
    };
    let text = address.get_ref();
    let parsed = text
        .parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
    let Ok(address) = parsed else {
        problems.fail(
            Some(address.span()),
            format!("{path}.address"),
            format!(
                "{text:?} is not an ADDR or ADDR:PORT (e.g. 198.51.100.1:53, [2001:db8::1]:53)"
            ),
        );
        return None;
    };
    let key = match &spec.key {
        Some(k) => Some(key_name(path, k, keys, problems)?),
        None => None,
    };
    let tls = remote_tls(path, spec, address, tls_base, problems)?;
    Some(Remote { address, key, tls })
}

/// A primary's XoT settings (Some(None): plain TCP), or None after saying what is
/// wrong.
fn remote_tls(
    path: &str,
    spec: &RemoteSpec,
    address: SocketAddr,
    base: Option<&Path>,
    problems: &mut Problems<'_>,
) -> Option<Option<XotPeer>> {
    let extras = [
        (&spec.tls_name, "tls-name"),
        (&spec.tls_ca_file, "tls-ca-file"),
        (&spec.tls_pin_sha256, "tls-pin-sha256"),
    ];
    let (Some(mode), Some(base)) = (&spec.tls, base) else {
        let mut ok = true;
        for (value, name) in std::iter::once((&spec.tls, "tls")).chain(extras) {
            if let Some(v) = value {
                let why = if base.is_none() {
                    "NOTIFY goes over UDP: TLS is only for primaries"
                } else {
                    "only with tls = \"strict\" or \"opportunistic\""
                };
                problems.fail(Some(v.span()), format!("{path}.{name}"), why.into());
                ok = false;
            }
        }
        return ok.then_some(None);
    };
    let mode_value = match mode.get_ref().as_str() {
        "strict" => TlsMode::Strict,
        "opportunistic" => TlsMode::Opportunistic,
        _ => {
            problems.fail(
                Some(mode.span()),
                format!("{path}.tls"),
                "expected one of strict, opportunistic".into(),
            );
            return None;
        }
    };
    let mut pin = None;
    if let Some(text) = &spec.tls_pin_sha256 {
        let decoded = data_encoding::BASE64.decode(text.get_ref().as_bytes());
        match decoded.ok().and_then(|d| <[u8; 32]>::try_from(d).ok()) {
            Some(p) => pin = Some(p),
            None => {
                problems.fail(
                    Some(text.span()),
                    format!("{path}.tls-pin-sha256"),
                    "expected the base64 of a SHA-256 (32 octets) of the certificate's SPKI".into(),
                );
                return None;
            }
        }
    }
    let tls = TlsSpec {
        mode: mode_value,
        name: spec.tls_name.as_ref().map(|n| n.get_ref().clone()),
        ca_file: spec.tls_ca_file.as_ref().map(|f| base.join(f.get_ref())),
        pin_sha256: pin,
    };
    if mode_value == TlsMode::Opportunistic {
        for (value, name) in extras {
            if let Some(v) = value {
                problems.fail(
                    Some(v.span()),
                    format!("{path}.{name}"),
                    "opportunistic TLS authenticates nothing: use tls = \"strict\"".into(),
                );
                return None;
            }
        }
    }
    match XotPeer::new(tls, address.ip()) {
        Ok(peer) => Some(Some(peer)),
        Err(e) => {
            problems.fail(Some(mode.span()), format!("{path}.tls"), e);
            None
        }
    }
}

#[cfg(test)]
#[path = "config_xfr_tests.rs"]
mod tests;
