//! The keys a server facing the Internet sets: response rate limiting (`[rrl]`), DNS
//! cookies (`[cookies]`), `nsid`, `identity` and `udp-max-response-size`; their
//! spec, defaults and validation. Kept apart from `config` so that the listeners of
//! the resolver (a `[[listener]]` list) can take over the per-listener ones later.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::Problems;
use crate::cookies::{MAX_SECRETS, Secret};
use crate::rrl;

/// Hours between rotations of a generated cookie secret (Knot's 26 hours).
pub const DEFAULT_SECRET_LIFETIME_HOURS: i64 = 26;

//------------ Runtime -------------------------------------------------------

/// `[rrl]`: response rate limiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlConfig {
    /// `true`: every listener; `false`: none; `None` (default): listeners whose
    /// address is not a loopback one.
    pub enabled: Option<bool>,
    /// Rates, slip, prefixes, exempt clients, log-only, table size.
    pub settings: rrl::Settings,
    /// Whether the transfer peers (primaries, NOTIFY targets, the prefixes of
    /// allow-transfer and allow-notify no wider than a bucket's) are exempt too, as
    /// they change with the transfer settings (`xfr::access::XfrSettings::rrl_peers`).
    pub exempt_transfer_peers: bool,
}

impl RrlConfig {
    /// Whether the listener on `addr` is rate limited.
    pub fn applies_to(&self, addr: &SocketAddr) -> bool {
        self.enabled.unwrap_or(!addr.ip().is_loopback())
    }
}

/// `[cookies]`: DNS cookies (RFC 7873, RFC 9018).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// Whether cookies are answered at all.
    pub enabled: bool,
    /// Configured secrets (the first makes cookies); empty = generated and rotated.
    pub secrets: Vec<Secret>,
    /// How often a generated secret is replaced.
    pub secret_lifetime: Duration,
    /// BADCOOKIE to a UDP request with a client cookie but no good server cookie.
    pub require: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            secrets: Vec::new(),
            secret_lifetime: Duration::from_secs(DEFAULT_SECRET_LIFETIME_HOURS as u64 * 3600),
            require: false,
        }
    }
}

//------------ Spec ----------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct RrlSpec {
    enabled: Option<Spanned<bool>>,
    responses_per_second: Option<Spanned<i64>>,
    nxdomains_per_second: Option<Spanned<i64>>,
    nodata_per_second: Option<Spanned<i64>>,
    referrals_per_second: Option<Spanned<i64>>,
    errors_per_second: Option<Spanned<i64>>,
    burst_seconds: Option<Spanned<i64>>,
    slip: Option<Spanned<i64>>,
    ipv4_prefix_length: Option<Spanned<i64>>,
    ipv6_prefix_length: Option<Spanned<i64>>,
    exempt_clients: Option<Vec<Spanned<String>>>,
    exempt_transfer_peers: Option<Spanned<bool>>,
    log_only: Option<Spanned<bool>>,
    table_size: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(super) struct CookieSpec {
    enabled: Option<Spanned<bool>>,
    secrets: Option<Spanned<Vec<Spanned<String>>>>,
    secret_lifetime_hours: Option<Spanned<i64>>,
    require: Option<Spanned<bool>>,
}

/// The keys of `[rrl]` and `[cookies]`, for the unknown-key check.
pub(super) const RRL_KEYS: &[&str] = &[
    "enabled",
    "responses-per-second",
    "nxdomains-per-second",
    "nodata-per-second",
    "referrals-per-second",
    "errors-per-second",
    "burst-seconds",
    "slip",
    "ipv4-prefix-length",
    "ipv6-prefix-length",
    "exempt-clients",
    "exempt-transfer-peers",
    "log-only",
    "table-size",
];
/// The keys of `[cookies]`.
pub(super) const COOKIE_KEYS: &[&str] = &["enabled", "secrets", "secret-lifetime-hours", "require"];

//------------ Validation ----------------------------------------------------

/// An integer in `range`, or `default` when absent (or bad, after saying so).
fn ranged(
    problems: &mut Problems<'_>,
    value: &Option<Spanned<i64>>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> i64 {
    match value {
        Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            problems.fail(
                Some(v.span()),
                key.into(),
                format!(
                    "{} is out of range {}..={}",
                    v.get_ref(),
                    range.start(),
                    range.end()
                ),
            );
            default
        }
        None => default,
    }
}

/// Validates `[rrl]`.
pub(super) fn rrl(spec: &RrlSpec, problems: &mut Problems<'_>) -> RrlConfig {
    let mut settings = rrl::Settings::default();
    let rate = |p: &mut Problems<'_>, v: &Option<Spanned<i64>>, key: &str, default: i64| {
        ranged(p, v, &format!("rrl.{key}"), 0..=10_000, default) as u32
    };
    let positive = rate(
        problems,
        &spec.responses_per_second,
        "responses-per-second",
        i64::from(rrl::DEFAULT_RATE),
    );
    let default = i64::from(positive);
    settings.rates[rrl::Kind::Positive as usize] = positive;
    settings.rates[rrl::Kind::Wildcard as usize] = positive;
    settings.rates[rrl::Kind::Nxdomain as usize] = rate(
        problems,
        &spec.nxdomains_per_second,
        "nxdomains-per-second",
        default,
    );
    settings.rates[rrl::Kind::Nodata as usize] = rate(
        problems,
        &spec.nodata_per_second,
        "nodata-per-second",
        default,
    );
    settings.rates[rrl::Kind::Referral as usize] = rate(
        problems,
        &spec.referrals_per_second,
        "referrals-per-second",
        default,
    );
    settings.rates[rrl::Kind::Error as usize] = rate(
        problems,
        &spec.errors_per_second,
        "errors-per-second",
        default,
    );
    settings.burst_seconds = ranged(
        problems,
        &spec.burst_seconds,
        "rrl.burst-seconds",
        1..=60,
        i64::from(rrl::DEFAULT_BURST_SECONDS),
    ) as u32;
    settings.slip = ranged(
        problems,
        &spec.slip,
        "rrl.slip",
        0..=100,
        i64::from(rrl::DEFAULT_SLIP),
    ) as u32;
    settings.ipv4_prefix = ranged(
        problems,
        &spec.ipv4_prefix_length,
        "rrl.ipv4-prefix-length",
        8..=32,
        24,
    ) as u8;
    settings.ipv6_prefix = ranged(
        problems,
        &spec.ipv6_prefix_length,
        "rrl.ipv6-prefix-length",
        16..=128,
        56,
    ) as u8;
    settings.table_size = ranged(
        problems,
        &spec.table_size,
        "rrl.table-size",
        8..=(1 << 26),
        rrl::DEFAULT_TABLE_SIZE as i64,
    ) as usize;
    settings.log_only = spec.log_only.as_ref().is_some_and(|v| *v.get_ref());
    for (i, text) in spec.exempt_clients.iter().flatten().enumerate() {
        let parsed = text
            .get_ref()
            .parse::<IpNet>()
            .or_else(|_| text.get_ref().parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => settings.exempt.push(net.trunc()),
            Err(_) => problems.fail(
                Some(text.span()),
                format!("rrl.exempt-clients[{i}]"),
                format!(
                    "{:?} is not an address or prefix (e.g. 198.51.100.0/24, 2001:db8::/48)",
                    text.get_ref()
                ),
            ),
        }
    }
    RrlConfig {
        enabled: spec.enabled.as_ref().map(|v| *v.get_ref()),
        settings,
        exempt_transfer_peers: spec
            .exempt_transfer_peers
            .as_ref()
            .is_none_or(|v| *v.get_ref()),
    }
}

/// Validates `[cookies]`.
pub(super) fn cookies(spec: &CookieSpec, problems: &mut Problems<'_>) -> CookieConfig {
    let mut config = CookieConfig {
        enabled: spec.enabled.as_ref().is_none_or(|v| *v.get_ref()),
        require: spec.require.as_ref().is_some_and(|v| *v.get_ref()),
        ..CookieConfig::default()
    };
    let hours = ranged(
        problems,
        &spec.secret_lifetime_hours,
        "cookies.secret-lifetime-hours",
        // At least the hour a cookie stays good (RFC 9018 §4.3), at most the 36 days
        // of RFC 7873 §7.1.
        1..=864,
        DEFAULT_SECRET_LIFETIME_HOURS,
    );
    config.secret_lifetime = Duration::from_secs(hours as u64 * 3600);
    if let Some(list) = &spec.secrets {
        if list.get_ref().len() > MAX_SECRETS {
            problems.fail(
                Some(list.span()),
                "cookies.secrets".into(),
                format!("at most {MAX_SECRETS} secrets (the first makes cookies)"),
            );
        }
        for (i, text) in list.get_ref().iter().enumerate() {
            match Secret::from_hex(text.get_ref()) {
                Some(secret) => config.secrets.push(secret),
                None => problems.fail(
                    Some(text.span()),
                    format!("cookies.secrets[{i}]"),
                    "is not a secret of 32 hexadecimal digits (128 bits)".into(),
                ),
            }
        }
    }
    config
}

/// Validates `nsid` or `identity`: text of 1 to 255 octets.
pub(super) fn identity_text(
    value: &Option<Spanned<String>>,
    key: &str,
    problems: &mut Problems<'_>,
) -> Option<Box<[u8]>> {
    let value = value.as_ref()?;
    let bytes = value.get_ref().as_bytes();
    if bytes.is_empty() || bytes.len() > 255 {
        problems.fail(
            Some(value.span()),
            key.into(),
            format!("must be 1 to 255 octets, not {}", bytes.len()),
        );
        return None;
    }
    Some(bytes.into())
}

/// Validates a listener's own `udp-max-response-size` (`key` is the listener's path):
/// None when it sets none.
pub(super) fn listener_udp_max(
    value: &Option<Spanned<i64>>,
    key: &str,
    problems: &mut Problems<'_>,
) -> Option<u16> {
    value.as_ref()?;
    let key = format!("{key}.udp-max-response-size");
    let default = i64::from(crate::answer::EDNS_UDP_SIZE);
    Some(ranged(problems, value, &key, 512..=4096, default) as u16)
}

/// Validates `udp-max-response-size`.
pub(super) fn udp_max(value: &Option<Spanned<i64>>, problems: &mut Problems<'_>) -> u16 {
    ranged(
        problems,
        value,
        "udp-max-response-size",
        512..=4096,
        i64::from(crate::answer::EDNS_UDP_SIZE),
    ) as u16
}
