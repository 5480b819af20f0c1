//! The configuration: one TOML file (`dnsd.toml`, documented key by key in
//! `examples/dnsd.toml`), command-line flags that override it, and the embedded default
//! (serve `./zones` on 127.0.0.1:5353) when there is neither.
//!
//! The file is read into a serde [`Spec`] that mirrors it (kebab-case keys, unknown keys
//! refused, every value kept with its span), then [`validate`] turns the spec into the
//! runtime [`Config`], collecting every bad value at once. Each [`ConfigError`] names the
//! file, the line and the key path: `dnsd.toml:14: zone."home.lan".serial: expected one
//! of keep, unixtime, date`. `dnsd check` and `dnsd` run exactly this code.
//!
//! Relative paths in the file are relative to the file's folder, so a configuration kept
//! in git beside its zones works from any working directory; paths given as flags are
//! relative to the working directory, as a shell user expects.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use keys::{key_path_at, line_of, quote_key, unknown_keys};

pub use dynamic::{ApiConfig, DynamicConfig};
pub use internet::{CookieConfig, RrlConfig};

pub use crate::answer::Role;
pub use crate::front::acl::Acl;
pub use crate::manager::{DEFAULT_JOURNAL_MAX_BYTES, DEFAULT_JOURNAL_MAX_ENTRIES, ZoneOptions};
use crate::wire::name::Name;
pub use crate::xfr::access::XfrSettings;
pub use crate::zone::files::LoadOptions;
pub use crate::zone::serial::SerialPolicy;

/// Where the server listens when neither the file nor a flag says (UDP and TCP).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";
/// The zones folder when neither the file nor a flag says.
pub const DEFAULT_ZONES_DIR: &str = "zones";
/// The state folder (journals, served serials) when the file does not say.
pub const DEFAULT_STATE_DIR: &str = ".dnsd-state";
/// Default TCP idle timeout (RFC 7766 §6.2.3 suggests seconds, not minutes).
pub const DEFAULT_TCP_IDLE_TIMEOUT_MS: u64 = 10_000;
/// Default limit of simultaneous TCP connections.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1_000;

//------------ Config --------------------------------------------------------

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// The command-line flags applied over it (a configuration reload applies them again).
    pub overrides: Overrides,
    /// Addresses served over both UDP and TCP: those of `listeners`, in their order.
    pub listen: Vec<SocketAddr>,
    /// Every listener: the `listen` addresses (authoritative, any client), then the
    /// `[[listener]]` tables. A listener's index in this list is its index in the
    /// request context.
    pub listeners: Vec<ListenerConfig>,
    /// Folder of zone files: `NAME.zone` is the zone `NAME`.
    pub zones_dir: PathBuf,
    /// Folder for state that survives restarts (journals, served serials).
    pub state_dir: PathBuf,
    /// Prometheus text endpoint, if any.
    pub metrics: Option<SocketAddr>,
    /// Log filter (tracing-subscriber `EnvFilter` syntax); `RUST_LOG` wins when set.
    pub log_level: String,
    /// TCP listener limits.
    pub tcp: TcpConfig,
    /// UDP workers.
    pub udp: UdpConfig,
    /// Per-zone options, by lowercased apex; zones not named here use `zone_defaults`.
    pub zones: BTreeMap<Name, ZoneOptions>,
    /// Response rate limiting.
    pub rrl: RrlConfig,
    /// DNS cookies.
    pub cookies: CookieConfig,
    /// Our name server identifier (RFC 5001), if any.
    pub nsid: Option<Box<[u8]>>,
    /// The answer to CHAOS id.server and hostname.bind, if any.
    pub identity: Option<Box<[u8]>>,
    /// Largest UDP response, and the EDNS payload size advertised.
    pub udp_max_response_size: u16,
    /// Options of a zone without a `[zone."NAME"]` table (and the values such a table
    /// starts from): the global `serial`.
    pub zone_defaults: ZoneOptions,
    /// How zone files are read (`[include]`): the folders `$INCLUDE` may read (the
    /// zones folder and `dirs`) and each zone's limits.
    pub include: LoadOptions,
    /// The resolver's settings; it runs when a listener's role is resolver or both.
    pub resolver: crate::resolver::Settings,
    /// The dynamic sources: containers, dynamic zones, RFC 2136, the HTTP API.
    pub dynamic: DynamicConfig,
    /// Zone transfers, NOTIFY and TSIG keys (`[xfr]`, `[key]`, each zone's lists);
    /// the secondary zones are those with primaries there.
    pub xfr: XfrSettings,
}

/// One listener: an address served over UDP and TCP, its role and its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The address and port.
    pub address: SocketAddr,
    /// What it answers: zones, recursion, or both.
    pub role: Role,
    /// The clients it serves (authoritative, resolver) or recurses for (both).
    pub allow: Acl,
    /// Its own largest UDP response (and advertised EDNS size); None: the global
    /// `udp-max-response-size`.
    pub udp_max_response_size: Option<u16>,
    /// DNS over TLS (`transport = "dot"`): its certificate and key; None: UDP+TCP.
    pub tls: Option<crate::front::dot::TlsFiles>,
}

impl ListenerConfig {
    /// An authoritative listener on `address` for every client (a `listen` entry).
    pub fn authoritative(address: SocketAddr) -> Self {
        Self {
            address,
            role: Role::Authoritative,
            allow: Acl::any(),
            udp_max_response_size: None,
            tls: None,
        }
    }
}

/// TCP limits (RFC 7766 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// A connection with no complete query for this long is closed.
    pub idle_timeout: Duration,
    /// Connections beyond this many are closed as soon as they are accepted.
    pub max_connections: usize,
}

/// UDP workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    /// Worker threads, each with its own SO_REUSEPORT socket per address; 0 = one per core.
    pub workers: usize,
}

impl Config {
    /// The options of the zone at `apex` (any case): configured or `zone_defaults`.
    pub fn zone_options(&self, apex: &Name) -> ZoneOptions {
        self.zones
            .get(&apex.to_lowercase())
            .cloned()
            .unwrap_or_else(|| self.zone_defaults.clone())
    }

    /// The keys whose change a configuration reload cannot apply (listeners, limits,
    /// the metrics endpoint, RRL and cookies, the resolver, the folders, the dynamic
    /// sources but `[update]`): a restart is needed for them. Zones, their options,
    /// `[include]`, the transfer settings, secondary zones and catalogs, and
    /// `[update]` apply at once.
    pub fn needs_restart(&self, next: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut differs = |changed: bool, key: &'static str| {
            if changed {
                keys.push(key);
            }
        };
        differs(self.listeners != next.listeners, "listen / [[listener]]");
        differs(self.zones_dir != next.zones_dir, "zones-dir");
        differs(self.state_dir != next.state_dir, "state-dir");
        differs(self.metrics != next.metrics, "metrics");
        differs(self.log_level != next.log_level, "log-level");
        differs(self.tcp != next.tcp, "[tcp]");
        differs(self.udp != next.udp, "[udp]");
        differs(self.rrl != next.rrl, "[rrl]");
        differs(self.cookies != next.cookies, "[cookies]");
        differs(
            self.nsid != next.nsid || self.identity != next.identity,
            "nsid / identity",
        );
        differs(
            self.udp_max_response_size != next.udp_max_response_size,
            "udp-max-response-size",
        );
        differs(self.resolver != next.resolver, "[resolver]");
        // Transfer settings apply at once (`xfr::tasks::reconfigure`), secondary
        // zones and catalogs added or removed too; the limits of concurrent
        // transfers do not.
        // `[update]` applies at once to the update service, which runs when it was
        // on at start: turning it on needs a restart (turned off, it refuses all).
        differs(
            !self.dynamic.update.enabled() && next.dynamic.update.enabled(),
            "[update] (turned on)",
        );
        differs(
            self.dynamic.containers != next.dynamic.containers,
            "[containers]",
        );
        differs(self.dynamic.zones != next.dynamic.zones, "[dynamic-zone]");
        differs(self.dynamic.api != next.dynamic.api, "[api]");
        differs(
            self.xfr.max_transfers_in != next.xfr.max_transfers_in
                || self.xfr.max_transfers_out != next.xfr.max_transfers_out,
            "[xfr] max-transfers-in / max-transfers-out",
        );
        keys
    }

    /// What the reloader needs: folders and per-zone options.
    /// Secondary zones come from their primaries, never from the zones folder.
    pub fn reload_settings(&self) -> crate::sources::Settings {
        let secondaries: std::collections::BTreeSet<Name> = self
            .xfr
            .secondaries()
            .map(|(apex, _)| apex.clone())
            .collect();
        crate::sources::Settings {
            zones_dir: self.zones_dir.clone(),
            state_dir: self.state_dir.clone(),
            zones: self
                .zones
                .iter()
                .filter(|(apex, _)| !secondaries.contains(*apex))
                .map(|(apex, options)| (apex.clone(), options.clone()))
                .collect(),
            defaults: self.zone_defaults.clone(),
            secondaries,
        }
    }
}

/// Command-line flags that override the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen ADDR:PORT`, repeatable: replaces the file's `listen`.
    pub listen: Vec<String>,
    /// `--zones DIR`: replaces the file's `zones-dir`.
    pub zones_dir: Option<PathBuf>,
    /// `--state-dir DIR`: replaces the file's `state-dir` (the systemd unit passes its
    /// `StateDirectory=`).
    pub state_dir: Option<PathBuf>,
}

//------------ ConfigError ---------------------------------------------------

/// One problem in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or None for a flag.
    pub file: Option<PathBuf>,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// Key path (`zone."home.lan".serial`) or flag (`--listen`); empty when none applies.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

//------------ Spec ----------------------------------------------------------

/// The file as written: every key of `dnsd.toml`, each value with its span.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Spec {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    zones_dir: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    log_level: Option<Spanned<String>>,
    nsid: Option<Spanned<String>>,
    identity: Option<Spanned<String>>,
    udp_max_response_size: Option<Spanned<i64>>,
    tcp: TcpSpec,
    udp: UdpSpec,
    rrl: internet::RrlSpec,
    cookies: internet::CookieSpec,
    include: zone_files::IncludeSpec,
    serial: Option<Spanned<String>>,
    zone: BTreeMap<String, Spanned<ZoneSpec>>,
    listener: Vec<Spanned<ListenerSpec>>,
    resolver: ResolverSpec,
    containers: Option<dynamic::ContainersSpec>,
    dynamic_zone: BTreeMap<String, Spanned<dynamic::DynamicZoneSpec>>,
    update: dynamic::UpdateSpec,
    api: Option<Spanned<dynamic::ApiSpec>>,
    xfr: transfers::XfrSpec,
    key: BTreeMap<String, Spanned<transfers::KeyTableSpec>>,
    catalog_group: BTreeMap<String, Spanned<transfers::CatalogGroupSpec>>,
    dnssec: dnssec_keys::DnssecSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct ResolverSpec {
    root_hints: Option<Spanned<String>>,
    trust_anchor: Option<Spanned<String>>,
    cache_size_mb: Option<Spanned<i64>>,
    min_ttl: Option<Spanned<i64>>,
    max_ttl: Option<Spanned<i64>>,
    qname_minimisation: Option<Spanned<bool>>,
    max_in_flight: Option<Spanned<i64>>,
    upstream_port: Option<Spanned<i64>>,
    serve_stale_secs: Option<Spanned<i64>>,
    prefetch: Option<Spanned<bool>>,
    insecure_domains: Option<Spanned<Vec<Spanned<String>>>>,
    forward: forward::ForwardSpec,
    forward_tls_ca: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct ListenerSpec {
    address: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    allow: Option<Spanned<Vec<Spanned<String>>>>,
    force_open: Option<Spanned<bool>>,
    udp_max_response_size: Option<Spanned<i64>>,
    transport: Option<Spanned<String>>,
    certificate: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct TcpSpec {
    idle_timeout_ms: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct UdpSpec {
    workers: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
struct ZoneSpec {
    file: Option<Spanned<String>>,
    serial: Option<Spanned<String>>,
    journal_max_entries: Option<Spanned<i64>>,
    journal_max_bytes: Option<Spanned<i64>>,
    allow_transfer: Option<Vec<Spanned<transfers::AclEntrySpec>>>,
    allow_notify: Option<Vec<Spanned<transfers::AclEntrySpec>>>,
    notify: Option<Vec<Spanned<transfers::RemoteSpec>>>,
    primaries: Option<Vec<Spanned<transfers::RemoteSpec>>>,
    catalog: Option<Spanned<bool>>,
    catalog_group: Option<Spanned<String>>,
    dnssec: dnssec_keys::DnssecSpec,
}

//------------ Loading and validating ----------------------------------------

/// Reads the file (if any), applies the flags and validates: the one path by which both
/// `dnsd` and `dnsd check` get their configuration.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Vec<ConfigError>> {
    let Some(path) = file else {
        return validate(Spec::default(), None, "", overrides);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    let spec = parse(&text).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| e.in_file(path))
            .collect::<Vec<_>>()
    })?;
    validate(spec, Some(path), &text, overrides)
}

/// Parses the file's text into a spec: TOML syntax, unknown keys (all of them), then
/// types (serde stops at the first wrong one).
pub fn parse(text: &str) -> Result<Spec, Vec<ConfigError>> {
    let located = |message: String, span: Option<Range<usize>>, key: String| ConfigError {
        file: None,
        line: span.map(|s| line_of(text, s.start)),
        key,
        message,
    };
    let table = DeTable::parse(text)
        .map_err(|e| vec![located(e.message().to_string(), e.span(), String::new())])?;
    let unknown = unknown_keys(table.get_ref());
    if !unknown.is_empty() {
        return Err(unknown
            .into_iter()
            .map(|(span, key, message)| located(message, Some(span), key))
            .collect());
    }
    let deserializer = toml::de::Deserializer::from(table.clone());
    Spec::deserialize(deserializer).map_err(|e| {
        let key = e
            .span()
            .map(|span| key_path_at(table.get_ref(), &span))
            .unwrap_or_default();
        vec![located(e.message().to_string(), e.span(), key)]
    })
}

/// Checks every value of `spec`, applies `overrides`, and returns the runtime config or
/// every problem found. `text` is the file's text (for line numbers), `file` its path.
pub fn validate(
    spec: Spec,
    file: Option<&Path>,
    text: &str,
    overrides: &Overrides,
) -> Result<Config, Vec<ConfigError>> {
    let mut problems = Problems {
        file,
        text,
        errors: Vec::new(),
    };
    let base = file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_file = |p: &str| base.join(p);

    // listen: flags replace the file's list.
    let mut listen = Vec::new();
    if !overrides.listen.is_empty() {
        for text in &overrides.listen {
            match text.parse::<SocketAddr>() {
                Ok(addr) => listen.push(addr),
                Err(_) => problems.errors.push(ConfigError {
                    file: None,
                    line: None,
                    key: "--listen".into(),
                    message: format!("{text:?} is not an ADDR:PORT"),
                }),
            }
        }
    } else if let Some(list) = &spec.listen {
        if list.get_ref().is_empty() && spec.listener.is_empty() {
            problems.fail(
                Some(list.span()),
                "listen".into(),
                "needs at least one ADDR:PORT".into(),
            );
        }
        for (i, item) in list.get_ref().iter().enumerate() {
            match item.get_ref().parse::<SocketAddr>() {
                Ok(addr) if listen.contains(&addr) => problems.fail(
                    Some(item.span()),
                    format!("listen[{i}]"),
                    format!("{addr} is listed twice"),
                ),
                Ok(addr) => listen.push(addr),
                Err(_) => problems.fail(
                    Some(item.span()),
                    format!("listen[{i}]"),
                    format!(
                        "{:?} is not an ADDR:PORT (e.g. 127.0.0.1:53 or [::1]:53)",
                        item.get_ref()
                    ),
                ),
            }
        }
    } else if spec.listener.is_empty()
        && let Ok(addr) = DEFAULT_LISTEN.parse()
    {
        // No `listen` and no `[[listener]]`: the embedded default.
        listen.push(addr);
    }

    let mut listeners: Vec<ListenerConfig> = listen
        .iter()
        .map(|&addr| ListenerConfig::authoritative(addr))
        .collect();
    for (i, item) in spec.listener.iter().enumerate() {
        if let Some(listener) =
            listener_config(item, &format!("listener[{i}]"), &base, &mut problems)
        {
            if listen.contains(&listener.address) {
                problems.fail(
                    Some(item.span()),
                    format!("listener[{i}].address"),
                    format!("{} is listed twice", listener.address),
                );
                continue;
            }
            listen.push(listener.address);
            listeners.push(listener);
        }
    }
    if listen.is_empty() && problems.errors.is_empty() {
        problems.fail(None, "listen".into(), "no address to serve".into());
    }

    let zones_dir = match (&overrides.zones_dir, &spec.zones_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if dir.get_ref().is_empty() => {
            problems.fail(Some(dir.span()), "zones-dir".into(), "is empty".into());
            PathBuf::new()
        }
        (None, Some(dir)) => in_file(dir.get_ref()),
        (None, None) => in_file(DEFAULT_ZONES_DIR),
    };
    let state_dir = match (&overrides.state_dir, &spec.state_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if dir.get_ref().is_empty() => {
            problems.fail(Some(dir.span()), "state-dir".into(), "is empty".into());
            PathBuf::new()
        }
        (None, Some(dir)) => in_file(dir.get_ref()),
        (None, None) => in_file(DEFAULT_STATE_DIR),
    };

    let metrics = spec
        .metrics
        .as_ref()
        .and_then(|m| match m.get_ref().parse::<SocketAddr>() {
            Ok(addr) if listen.contains(&addr) => {
                problems.fail(
                    Some(m.span()),
                    "metrics".into(),
                    format!("{addr} is also a DNS listener"),
                );
                None
            }
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.fail(
                    Some(m.span()),
                    "metrics".into(),
                    format!(
                        "{:?} is not an ADDR:PORT (e.g. 127.0.0.1:9153)",
                        m.get_ref()
                    ),
                );
                None
            }
        });

    let log_level = match &spec.log_level {
        Some(level) => {
            if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(level.get_ref()) {
                problems.fail(
                    Some(level.span()),
                    "log-level".into(),
                    format!(
                        "{:?} is not a level (error, warn, info, debug, trace) or filter: {e}",
                        level.get_ref()
                    ),
                );
            }
            level.get_ref().clone()
        }
        None => "info".into(),
    };

    let tcp = TcpConfig {
        idle_timeout: Duration::from_millis(problems.positive(
            &spec.tcp.idle_timeout_ms,
            "tcp.idle-timeout-ms",
            86_400_000,
            DEFAULT_TCP_IDLE_TIMEOUT_MS,
        )),
        max_connections: problems.positive(
            &spec.tcp.max_connections,
            "tcp.max-connections",
            1_000_000,
            DEFAULT_TCP_MAX_CONNECTIONS as u64,
        ) as usize,
    };
    let udp = UdpConfig {
        workers: match &spec.udp.workers {
            Some(v) if (0..=1024).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                problems.fail(
                    Some(v.span()),
                    "udp.workers".into(),
                    format!(
                        "{} is out of range 0..=1024 (0 = one per core)",
                        v.get_ref()
                    ),
                );
                0
            }
            None => 0,
        },
    };

    let rrl = internet::rrl(&spec.rrl, &mut problems);
    let cookies = internet::cookies(&spec.cookies, &mut problems);
    let nsid = internet::identity_text(&spec.nsid, "nsid", &mut problems);
    let identity = internet::identity_text(&spec.identity, "identity", &mut problems);
    let udp_max_response_size = internet::udp_max(&spec.udp_max_response_size, &mut problems);
    let include = zone_files::include(&spec.include, &zones_dir, &in_file, &mut problems);
    let mut zone_defaults = zone_files::zone_defaults(&spec.serial, &mut problems);
    let dnssec_base = dnssec_keys::policy(
        &spec.dnssec,
        &(false, Default::default()),
        "dnssec",
        &mut problems,
    );
    if dnssec_base.0 && dnssec_keys::check(&spec.dnssec, &dnssec_base.1, "dnssec", &mut problems) {
        zone_defaults.dnssec = Some(dnssec_base.1.clone());
    }
    // (The default policy is what a zone without these values goes insecure with.)
    if !dnssec_base.0 && dnssec_base.1 != crate::dnssec::Policy::default() {
        zone_defaults.unsigned_dnssec = Some(dnssec_base.1.clone());
    }

    let mut xfr = transfers::settings(&spec.xfr, &spec.key, &in_file, &mut problems);
    let mut zones = BTreeMap::new();
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (apex_text, zone) in &spec.zone {
        let key = format!("zone.{}", quote_key(apex_text));
        let apex = match zone_name(apex_text) {
            Ok(apex) => apex.to_lowercase(),
            Err(message) => {
                problems.fail(Some(zone.span()), key, message);
                continue;
            }
        };
        if zones.contains_key(&apex) {
            problems.fail(
                Some(zone.span()),
                key,
                format!("zone {apex} is configured twice"),
            );
            continue;
        }
        let spec = zone.get_ref();
        let mut options = zone_defaults.clone();
        if let Some(file) = &spec.file {
            let name = file.get_ref();
            if name.is_empty() {
                problems.fail(Some(file.span()), format!("{key}.file"), "is empty".into());
            } else {
                let path = PathBuf::from(name);
                if let Some(other) = files.insert(zones_dir.join(&path), key.clone()) {
                    problems.fail(
                        Some(file.span()),
                        format!("{key}.file"),
                        format!("{name:?} is also the file of {other}"),
                    );
                }
                options.file = Some(path);
            }
        }
        if let Some(serial) = &spec.serial {
            match SerialPolicy::from_config(serial.get_ref()) {
                Some(policy) => options.serial = policy,
                None => problems.fail(
                    Some(serial.span()),
                    format!("{key}.serial"),
                    "expected one of keep, unixtime, date".into(),
                ),
            }
        }
        if let Some(n) = &spec.journal_max_entries {
            match usize::try_from(*n.get_ref()) {
                Ok(n) => options.journal_max_entries = n,
                _ => problems.fail(
                    Some(n.span()),
                    format!("{key}.journal-max-entries"),
                    format!("{} is negative (0 = no history kept)", n.get_ref()),
                ),
            }
        }
        if let Some(n) = &spec.journal_max_bytes {
            match usize::try_from(*n.get_ref()) {
                Ok(n) => options.journal_max_bytes = n,
                _ => problems.fail(
                    Some(n.span()),
                    format!("{key}.journal-max-bytes"),
                    format!("{} is negative (0 = no history kept)", n.get_ref()),
                ),
            }
        }
        let lists = transfers::ZoneXfrSpec {
            allow_transfer: &spec.allow_transfer,
            allow_notify: &spec.allow_notify,
            notify: &spec.notify,
            primaries: &spec.primaries,
            catalog: &spec.catalog,
            catalog_group: &spec.catalog_group,
            base: &base,
        };
        let file_span = spec.file.as_ref().map(Spanned::span);
        transfers::zone(&key, &apex, &lists, file_span, &mut xfr, &mut problems);
        let (sign, policy) = dnssec_keys::policy(
            &spec.dnssec,
            &dnssec_base,
            &format!("{key}.dnssec"),
            &mut problems,
        );
        options.unsigned_dnssec =
            (!sign && policy != crate::dnssec::Policy::default()).then(|| policy.clone());
        options.dnssec = (sign
            && dnssec_keys::check(
                &spec.dnssec,
                &policy,
                &format!("{key}.dnssec"),
                &mut problems,
            ))
        .then_some(policy);
        zones.insert(apex, options);
    }
    transfers::catalog_groups(&spec.catalog_group, &base, &mut xfr, &mut problems);

    let resolver = resolver_settings(&spec.resolver, &in_file, &mut problems);
    let dynamic = dynamic::dynamic(
        &spec.containers,
        &spec.dynamic_zone,
        &spec.update,
        &spec.api,
        &in_file,
        &zone_defaults,
        &mut problems,
    );

    // A query signed with an update key (certbot's dns-rfc2136 plugin finds the zone
    // with TSIG-signed SOA queries) is checked and answered signed by the transfer
    // service, which holds the keys of signed requests: the update keys join its
    // ring, where no transfer key has their name. They grant no transfer: the lists
    // name their keys before this.
    for key in dynamic.update.keys.iter() {
        xfr.keys.insert_shared(key.clone());
    }

    if !problems.errors.is_empty() {
        return Err(problems.errors);
    }
    Ok(Config {
        file: file.map(Path::to_path_buf),
        overrides: overrides.clone(),
        listen,
        listeners,
        zones_dir,
        state_dir,
        metrics,
        log_level,
        tcp,
        udp,
        zones,
        rrl,
        cookies,
        nsid,
        identity,
        udp_max_response_size,
        zone_defaults,
        include,
        resolver,
        dynamic,
        xfr,
    })
}

/// Where Debian's `dns-root-data` puts the root hints.
pub const DEFAULT_ROOT_HINTS: &str = "/usr/share/dns/root.hints";
/// Where Debian's `dns-root-data` puts the root trust anchor.
pub const DEFAULT_TRUST_ANCHOR: &str = "/usr/share/dns/root.ds";
/// Debian's bundle of the system's CA certificates (`ca-certificates`).
pub const DEFAULT_TLS_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Validates `[resolver]`.
fn resolver_settings(
    spec: &ResolverSpec,
    in_file: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems<'_>,
) -> crate::resolver::Settings {
    let mut path = |value: &Option<Spanned<String>>, key: &str, default: &str| match value {
        Some(v) if v.get_ref().is_empty() => {
            problems.fail(Some(v.span()), format!("resolver.{key}"), "is empty".into());
            PathBuf::new()
        }
        Some(v) => in_file(v.get_ref()),
        None => PathBuf::from(default),
    };
    let root_hints = path(&spec.root_hints, "root-hints", DEFAULT_ROOT_HINTS);
    let trust_anchor = path(&spec.trust_anchor, "trust-anchor", DEFAULT_TRUST_ANCHOR);
    let forward_tls_ca = path(&spec.forward_tls_ca, "forward-tls-ca", DEFAULT_TLS_CA);
    let cache_mb = problems.positive(&spec.cache_size_mb, "resolver.cache-size-mb", 1 << 20, 64);
    let mut ttl = |value: &Option<Spanned<i64>>, key: &str, default: u32| match value {
        Some(v) if (0..=i64::from(u32::MAX >> 1)).contains(v.get_ref()) => *v.get_ref() as u32,
        Some(v) => {
            problems.fail(
                Some(v.span()),
                format!("resolver.{key}"),
                format!("{} is out of range 0..={}", v.get_ref(), u32::MAX >> 1),
            );
            default
        }
        None => default,
    };
    let min_ttl = ttl(&spec.min_ttl, "min-ttl", 0);
    let max_ttl = ttl(&spec.max_ttl, "max-ttl", 86_400);
    let serve_stale_secs = ttl(&spec.serve_stale_secs, "serve-stale-secs", 86_400);
    if min_ttl > max_ttl
        && let Some(v) = &spec.min_ttl
    {
        problems.fail(
            Some(v.span()),
            "resolver.min-ttl".into(),
            format!("{min_ttl} is above max-ttl ({max_ttl})"),
        );
    }
    let mut insecure_domains = Vec::new();
    for domain in spec.insecure_domains.iter().flat_map(|v| v.get_ref()) {
        match hickory_proto::rr::Name::from_ascii(domain.get_ref()) {
            Ok(mut name) if !domain.get_ref().is_empty() => {
                name.set_fqdn(true);
                insecure_domains.push(name);
            }
            _ => problems.fail(
                Some(domain.span()),
                "resolver.insecure-domains".into(),
                format!("{:?} is not a domain name", domain.get_ref()),
            ),
        }
    }
    crate::resolver::Settings {
        insecure_domains,
        root_hints,
        trust_anchor,
        cache_bytes: (cache_mb as usize) << 20,
        min_ttl,
        max_ttl,
        qname_minimisation: spec
            .qname_minimisation
            .as_ref()
            .is_none_or(|v| *v.get_ref()),
        max_in_flight: problems.positive(
            &spec.max_in_flight,
            "resolver.max-in-flight",
            1_000_000,
            1000,
        ) as usize,
        upstream_port: problems.positive(&spec.upstream_port, "resolver.upstream-port", 65535, 53)
            as u16,
        serve_stale_secs,
        prefetch: spec.prefetch.as_ref().is_none_or(|v| *v.get_ref()),
        forward: forward::forward_zones(&spec.forward, problems),
        forward_tls_ca,
    }
}

/// Problems found so far, located in the file.
struct Problems<'a> {
    file: Option<&'a Path>,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Problems<'_> {
    fn fail(&mut self, span: Option<Range<usize>>, key: String, message: String) {
        self.errors.push(ConfigError {
            file: self.file.map(Path::to_path_buf),
            line: span.map(|s| line_of(self.text, s.start)),
            key,
            message,
        })
    }

    /// An integer in 1..=max, or `default` when absent (or bad, after saying so).
    fn positive(&mut self, value: &Option<Spanned<i64>>, key: &str, max: i64, default: u64) -> u64 {
        match value {
            Some(v) if (1..=max).contains(v.get_ref()) => *v.get_ref() as u64,
            Some(v) => {
                self.fail(
                    Some(v.span()),
                    key.into(),
                    format!("{} is out of range 1..={max}", v.get_ref()),
                );
                default
            }
            None => default,
        }
    }
}

/// Validates one `[[listener]]` table (`key` is its path): None after saying why when
/// it is not usable.
fn listener_config(
    item: &Spanned<ListenerSpec>,
    key: &str,
    base: &Path,
    problems: &mut Problems<'_>,
) -> Option<ListenerConfig> {
    let spec = item.get_ref();
    let errors_before = problems.errors.len();
    let address = match &spec.address {
        Some(text) => match text.get_ref().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.fail(
                    Some(text.span()),
                    format!("{key}.address"),
                    format!(
                        "{:?} is not an ADDR:PORT (e.g. 127.0.0.1:53 or [::1]:53)",
                        text.get_ref()
                    ),
                );
                None
            }
        },
        None => {
            problems.fail(
                Some(item.span()),
                format!("{key}.address"),
                "is missing".into(),
            );
            None
        }
    };
    let role = match &spec.role {
        None => Role::Authoritative,
        Some(text) => match text.get_ref().as_str() {
            "authoritative" => Role::Authoritative,
            "resolver" => Role::Resolver,
            "both" => Role::Both,
            _ => {
                problems.fail(
                    Some(text.span()),
                    format!("{key}.role"),
                    "expected one of authoritative, resolver, both".into(),
                );
                Role::Authoritative
            }
        },
    };
    let allow = match &spec.allow {
        None if role == Role::Authoritative => Acl::any(),
        None => Acl::loopback(),
        Some(list) => {
            let mut prefixes = Vec::new();
            for (i, text) in list.get_ref().iter().enumerate() {
                let parsed = text.get_ref().parse::<ipnet::IpNet>().or_else(|_| {
                    text.get_ref()
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                });
                match parsed {
                    Ok(prefix) => prefixes.push(prefix.trunc()),
                    Err(_) => problems.fail(
                        Some(text.span()),
                        format!("{key}.allow[{i}]"),
                        format!(
                            "{:?} is not a prefix or address (e.g. 198.51.100.0/24, ::1)",
                            text.get_ref()
                        ),
                    ),
                }
            }
            Acl::prefixes(prefixes)
        }
    };
    let udp_max_response_size =
        internet::listener_udp_max(&spec.udp_max_response_size, key, problems);
    let tls = dot::listener_tls(
        &spec.transport,
        &spec.certificate,
        &spec.key,
        key,
        base,
        problems,
    );
    let forced = spec.force_open.as_ref().is_some_and(|f| *f.get_ref());
    if let Some(addr) = address
        && role != Role::Authoritative
        && crate::front::acl::is_public(addr.ip())
    {
        // DESIGN.md principle 6: recursion never for the world unless forced.
        if spec.allow.is_none() {
            problems.fail(
                spec.address.as_ref().map(Spanned::span),
                format!("{key}.allow"),
                format!(
                    "a {} listener on {addr}, a public address, must say which clients \
                     it serves (allow = [\"PREFIX\", ...])",
                    role.name()
                ),
            );
        } else if allow.is_open() && !forced {
            problems.fail(
                spec.allow.as_ref().map(Spanned::span),
                format!("{key}.allow"),
                format!(
                    "would make {addr} an open resolver for the whole Internet; \
                     set force-open = true if that is really meant"
                ),
            );
        }
    }
    if problems.errors.len() > errors_before {
        return None;
    }
    Some(ListenerConfig {
        address: address?,
        role,
        allow,
        udp_max_response_size,
        tls,
    })
}

/// The zone name of a `[zone."NAME"]` key: absolute whether or not it ends with a dot.
fn zone_name(text: &str) -> Result<Name, String> {
    if text.is_empty() {
        return Err("is not a domain name: empty".into());
    }
    let absolute = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_text(&absolute, None).map_err(|e| format!("is not a domain name: {e}"))
}

impl ConfigError {
    fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }
}

#[path = "config_keys.rs"]
mod keys;

#[path = "config_internet.rs"]
mod internet;

#[path = "config_dnssec.rs"]
mod dnssec_keys;
#[path = "config_dynamic.rs"]
mod dynamic;

#[path = "config_zone_files.rs"]
mod zone_files;

#[path = "config_xfr.rs"]
mod transfers;

#[path = "config_forward.rs"]
mod forward;

#[path = "config_dot.rs"]
mod dot;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
