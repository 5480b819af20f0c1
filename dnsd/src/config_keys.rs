//! Where things are in the configuration file: key paths (`zone."home.lan".serial`)
//! and lines for the errors of `config`, and the keys each table accepts.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The keys of each table of the file, as `Spec` has them: serde's
/// `deny_unknown_fields` reports only the first unknown key, this every one.
const TOP_KEYS: &[&str] = &[
    "listen",
    "zones-dir",
    "state-dir",
    "metrics",
    "log-level",
    "nsid",
    "identity",
    "udp-max-response-size",
    "tcp",
    "udp",
    "rrl",
    "cookies",
    "include",
    "serial",
    "zone",
    "listener",
    "resolver",
    "containers",
    "dynamic-zone",
    "update",
    "api",
    "xfr",
    "key",
    "catalog-group",
    "dnssec",
];
const TCP_KEYS: &[&str] = &["idle-timeout-ms", "max-connections"];
const UDP_KEYS: &[&str] = &["workers"];
const LISTENER_KEYS: &[&str] = &[
    "address",
    "role",
    "allow",
    "force-open",
    "udp-max-response-size",
    "transport",
    "certificate",
    "key",
];
const RESOLVER_KEYS: &[&str] = &[
    "root-hints",
    "trust-anchor",
    "cache-size-mb",
    "min-ttl",
    "max-ttl",
    "qname-minimisation",
    "max-in-flight",
    "upstream-port",
    "serve-stale-secs",
    "prefetch",
    "insecure-domains",
    "forward",
    "forward-tls-ca",
];
const ZONE_KEYS: &[&str] = &[
    "file",
    "serial",
    "journal-max-entries",
    "journal-max-bytes",
    "allow-transfer",
    "allow-notify",
    "notify",
    "primaries",
    "catalog",
    "catalog-group",
    "dnssec",
];

/// Every key of `table` that the file format does not have: (span, key path, message).
pub(super) fn unknown_keys(table: &DeTable<'_>) -> Vec<(Range<usize>, String, String)> {
    let mut found = Vec::new();
    let mut check = |table: &DeTable<'_>, prefix: &str, known: &[&str]| {
        for key in table.keys() {
            if !known.contains(&key.get_ref().as_ref()) {
                found.push((
                    key.span(),
                    format!("{prefix}{}", quote_key(key.get_ref())),
                    format!("unknown key; expected one of {}", known.join(", ")),
                ));
            }
        }
    };
    check(table, "", TOP_KEYS);
    let sub = |name: &str| table.get(name).and_then(|v| v.get_ref().as_table());
    if let Some(tcp) = sub("tcp") {
        check(tcp, "tcp.", TCP_KEYS);
    }
    if let Some(resolver) = sub("resolver") {
        check(resolver, "resolver.", RESOLVER_KEYS);
    }
    if let Some(udp) = sub("udp") {
        check(udp, "udp.", UDP_KEYS);
    }
    if let Some(rrl) = sub("rrl") {
        check(rrl, "rrl.", super::internet::RRL_KEYS);
    }
    if let Some(cookies) = sub("cookies") {
        check(cookies, "cookies.", super::internet::COOKIE_KEYS);
    }
    if let Some(dnssec) = sub("dnssec") {
        check(dnssec, "dnssec.", super::dnssec_keys::DNSSEC_KEYS);
    }
    if let Some(include) = sub("include") {
        check(include, "include.", super::zone_files::INCLUDE_KEYS);
    }
    super::dynamic::unknown_keys(table, &mut check);
    if let Some(xfr) = sub("xfr") {
        check(xfr, "xfr.", super::transfers::XFR_KEYS);
    }
    if let Some(keys) = sub("key") {
        for (name, key) in keys.iter() {
            if let Some(key) = key.get_ref().as_table() {
                check(
                    key,
                    &format!("key.{}.", quote_key(name.get_ref())),
                    super::transfers::KEY_KEYS,
                );
            }
        }
    }
    if let Some(groups) = sub("catalog-group") {
        for (name, group) in groups.iter() {
            if let Some(group) = group.get_ref().as_table() {
                check(
                    group,
                    &format!("catalog-group.{}.", quote_key(name.get_ref())),
                    super::transfers::CATALOG_GROUP_KEYS,
                );
            }
        }
    }
    if let Some(listeners) = table.get("listener").and_then(|v| v.get_ref().as_array()) {
        for (i, listener) in listeners.iter().enumerate() {
            if let Some(listener) = listener.get_ref().as_table() {
                check(listener, &format!("listener[{i}]."), LISTENER_KEYS);
            }
        }
    }
    if let Some(zones) = sub("zone") {
        for (name, zone) in zones.iter() {
            if let Some(zone) = zone.get_ref().as_table() {
                let prefix = format!("zone.{}.", quote_key(name.get_ref()));
                check(zone, &prefix, ZONE_KEYS);
                if let Some(dnssec) = zone.get("dnssec").and_then(|v| v.get_ref().as_table()) {
                    check(
                        dnssec,
                        &format!("{prefix}dnssec."),
                        super::dnssec_keys::DNSSEC_KEYS,
                    );
                }
            }
        }
    }
    found
}

/// 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML key as written in a path: bare when it can be, quoted otherwise.
pub(super) fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// The dotted path of the innermost key whose key or value span holds `span`: serde's
/// errors carry only a span, and the user needs the key's name.
pub(super) fn key_path_at(table: &DeTable<'_>, span: &Range<usize>) -> String {
    let mut path = Vec::new();
    find_key(table, span, &mut path);
    path.join(".")
}

/// Pushes onto `path` the keys leading to `span`; true when found. Tables are searched
/// whatever their own span, which for `[header]` tables covers only the header.
fn find_key(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    let holds = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end;
    for (key, value) in table.iter() {
        path.push(quote_key(key.get_ref()));
        if holds(key.span()) {
            return true;
        }
        match value.get_ref() {
            DeValue::Table(inner) if find_key(inner, span, path) || holds(value.span()) => {
                return true;
            }
            DeValue::Array(items) if holds(value.span()) => {
                let index = items.iter().position(|item| holds(item.span()));
                if let (Some(i), Some(last)) = (index, path.last_mut()) {
                    last.push_str(&format!("[{i}]"));
                }
                return true;
            }
            _ if holds(value.span()) => return true,
            _ => {}
        }
        path.pop();
    }
    false
}
