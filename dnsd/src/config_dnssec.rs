//! The keys of the configuration about signing: `[dnssec]`, the policy of every zone,
//! and `[zone."NAME".dnssec]`, which starts from it and overrides what it sets
//! (`dnssec::policy`). A policy that cannot work is refused, naming its key.

use serde::Deserialize;
use toml::Spanned;

use super::Problems;
use crate::dnssec::policy::{Denial, KeyScheme, Policy, parse_duration};
use crate::dnssec::{Algorithm, policy::PolicyError};

/// `[dnssec]` or `[zone."NAME".dnssec]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct DnssecSpec {
    sign: Option<Spanned<bool>>,
    algorithm: Option<Spanned<String>>,
    keys: Option<Spanned<String>>,
    denial: Option<Spanned<String>>,
    nsec3_iterations: Option<Spanned<i64>>,
    nsec3_opt_out: Option<Spanned<bool>>,
    signature_validity: Option<Spanned<String>>,
    signature_refresh: Option<Spanned<String>>,
    signature_jitter: Option<Spanned<String>>,
    dnskey_ttl: Option<Spanned<String>>,
    zsk_lifetime: Option<Spanned<String>>,
    ksk_lifetime: Option<Spanned<String>>,
    propagation_delay: Option<Spanned<String>>,
    parent_ds_ttl: Option<Spanned<String>>,
    parent_resolvers: Option<Spanned<Vec<String>>>,
    ds_check_interval: Option<Spanned<String>>,
    cds_cdnskey: Option<Spanned<String>>,
}

/// The keys of `[dnssec]` and `[zone."NAME".dnssec]`.
pub(super) const DNSSEC_KEYS: &[&str] = &[
    "sign",
    "algorithm",
    "keys",
    "denial",
    "nsec3-iterations",
    "nsec3-opt-out",
    "signature-validity",
    "signature-refresh",
    "signature-jitter",
    "dnskey-ttl",
    "zsk-lifetime",
    "ksk-lifetime",
    "propagation-delay",
    "parent-ds-ttl",
    "parent-resolvers",
    "ds-check-interval",
    "cds-cdnskey",
];

/// Whether zones are signed and under which policy, before a zone's own table.
pub(super) type Base = (bool, Policy);

/// The policy `spec` (at configuration key `key`, e.g. `dnssec` or
/// `zone."x".dnssec`) makes of `base`; None when the zone is not signed. Problems are
/// reported, naming the key.
pub(super) fn policy(
    spec: &DnssecSpec,
    base: &Base,
    key: &str,
    problems: &mut Problems<'_>,
) -> Base {
    let (mut sign, mut p) = base.clone();
    if let Some(s) = &spec.sign {
        sign = *s.get_ref();
    }
    if let Some(a) = &spec.algorithm {
        match Algorithm::from_text(a.get_ref()) {
            Some(alg) => p.algorithm = alg,
            None => problems.fail(
                Some(a.span()),
                format!("{key}.algorithm"),
                format!(
                    "{:?}: expected ECDSAP256SHA256, ED25519 or RSASHA256",
                    a.get_ref()
                ),
            ),
        }
    }
    if let Some(k) = &spec.keys {
        match k.get_ref().to_ascii_lowercase().as_str() {
            "csk" => p.scheme = KeyScheme::Csk,
            "ksk-zsk" => p.scheme = KeyScheme::KskZsk,
            other => problems.fail(
                Some(k.span()),
                format!("{key}.keys"),
                format!("{other:?}: expected csk or ksk-zsk"),
            ),
        }
    }
    let (mut iterations, mut opt_out) = match p.denial {
        Denial::Nsec3 {
            iterations,
            opt_out,
        } => (iterations, opt_out),
        Denial::Nsec => (0, false),
    };
    if let Some(i) = &spec.nsec3_iterations {
        match u16::try_from(*i.get_ref()) {
            Ok(n) => iterations = n,
            Err(_) => problems.fail(
                Some(i.span()),
                format!("{key}.nsec3-iterations"),
                format!("{} is out of range 0..=65535", i.get_ref()),
            ),
        }
    }
    if let Some(o) = &spec.nsec3_opt_out {
        opt_out = *o.get_ref();
    }
    let nsec3 = match &spec.denial {
        Some(d) => match d.get_ref().to_ascii_lowercase().as_str() {
            "nsec" => false,
            "nsec3" => true,
            other => {
                problems.fail(
                    Some(d.span()),
                    format!("{key}.denial"),
                    format!("{other:?}: expected nsec or nsec3"),
                );
                false
            }
        },
        None => matches!(p.denial, Denial::Nsec3 { .. }),
    };
    p.denial = if nsec3 {
        Denial::Nsec3 {
            iterations,
            opt_out,
        }
    } else {
        Denial::Nsec
    };
    let mut duration = |value: &Option<Spanned<String>>, name: &str, max: u64| {
        let v = value.as_ref()?;
        match parse_duration(v.get_ref()) {
            Some(d) if d <= max => Some(d),
            _ => {
                problems.fail(
                    Some(v.span()),
                    format!("{key}.{name}"),
                    format!(
                        "{:?}: expected a duration such as 3600, 90m, 12h, 14d or 2w",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    };
    let max = u64::from(u32::MAX);
    if let Some(d) = duration(&spec.signature_validity, "signature-validity", max) {
        p.signature_validity = d as u32;
    }
    if let Some(d) = duration(&spec.signature_refresh, "signature-refresh", max) {
        p.signature_refresh = d as u32;
    }
    if let Some(d) = duration(&spec.signature_jitter, "signature-jitter", max) {
        p.signature_jitter = d as u32;
    }
    if let Some(d) = duration(&spec.dnskey_ttl, "dnskey-ttl", i32::MAX as u64) {
        p.dnskey_ttl = Some(d as u32);
    }
    if let Some(d) = duration(&spec.zsk_lifetime, "zsk-lifetime", 100 * 365 * 86_400) {
        p.zsk_lifetime = d;
    }
    if let Some(d) = duration(&spec.ksk_lifetime, "ksk-lifetime", 100 * 365 * 86_400) {
        p.ksk_lifetime = d;
    }
    if let Some(d) = duration(
        &spec.propagation_delay,
        "propagation-delay",
        i32::MAX as u64,
    ) {
        p.propagation_delay = d as u32;
    }
    if let Some(d) = duration(&spec.parent_ds_ttl, "parent-ds-ttl", i32::MAX as u64) {
        p.parent_ds_ttl = d as u32;
    }
    if let Some(d) = duration(
        &spec.ds_check_interval,
        "ds-check-interval",
        i32::MAX as u64,
    ) {
        p.ds_check_interval = d as u32;
    }
    if let Some(list) = &spec.parent_resolvers {
        let mut addrs = Vec::new();
        for text in list.get_ref() {
            let parsed = text.parse::<std::net::SocketAddr>().or_else(|_| {
                text.parse::<std::net::IpAddr>()
                    .map(|ip| std::net::SocketAddr::new(ip, 53))
            });
            match parsed {
                Ok(a) => addrs.push(a),
                Err(_) => problems.fail(
                    Some(list.span()),
                    format!("{key}.parent-resolvers"),
                    format!("{text:?}: expected an address, with or without a port (53)"),
                ),
            }
        }
        p.parent_resolvers = addrs;
    }
    if let Some(c) = &spec.cds_cdnskey {
        match c.get_ref().to_ascii_lowercase().as_str() {
            "always" => p.publish_cds = true,
            "never" => p.publish_cds = false,
            other => problems.fail(
                Some(c.span()),
                format!("{key}.cds-cdnskey"),
                format!("{other:?}: expected always or never"),
            ),
        }
    }
    (sign, p)
}

/// Checks a zone's final policy, reporting what cannot work at `key`.
pub(super) fn check(
    spec: &DnssecSpec,
    policy: &Policy,
    key: &str,
    problems: &mut Problems<'_>,
) -> bool {
    match policy.check() {
        Ok(()) => true,
        Err(PolicyError {
            key: field,
            message,
        }) => {
            let span = match field {
                "signature-validity" => spec.signature_validity.as_ref().map(Spanned::span),
                "signature-refresh" => spec.signature_refresh.as_ref().map(Spanned::span),
                "signature-jitter" => spec.signature_jitter.as_ref().map(Spanned::span),
                "nsec3-iterations" => spec.nsec3_iterations.as_ref().map(Spanned::span),
                "zsk-lifetime" => spec.zsk_lifetime.as_ref().map(Spanned::span),
                "ksk-lifetime" => spec.ksk_lifetime.as_ref().map(Spanned::span),
                _ => None,
            };
            problems.fail(span, format!("{key}.{field}"), message);
            false
        }
    }
}
