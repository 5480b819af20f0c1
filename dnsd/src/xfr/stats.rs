//! Counters of transfers, NOTIFY and TSIG, per zone and peer, for the metrics
//! endpoint. Transfers are not the query path: one mutex, taken a few times per
//! transfer, is cheap enough.
//!
//! Series ([`XfrStats::render`], Prometheus text format 0.0.4):
//! - `dnsd_xfr_out_total{zone,peer,type,result}`: transfers served (type `axfr`,
//!   `ixfr`, `soa`: IXFR answered with our SOA alone; result `ok`, `refused`, `error`);
//! - `dnsd_xfr_out_bytes_total{zone,peer}`, `dnsd_xfr_out_seconds_total{zone,peer}`;
//! - `dnsd_xfr_in_total{zone,peer,type,result}`, `dnsd_xfr_in_bytes_total{zone,peer}`,
//!   `dnsd_xfr_in_seconds_total{zone,peer}`: transfers of our secondary zones;
//! - `dnsd_notify_in_total{zone,peer,result}` (`accepted`, `refused`);
//! - `dnsd_notify_out_total{zone,peer,result}` (`sent`, `acknowledged`, `failed`);
//! - `dnsd_tsig_failures_total{error}` (`formerr`, `badkey`, `badsig`, `badtime`,
//!   `badtrunc`);
//! - `dnsd_secondary_serial{zone}`, `dnsd_secondary_last_refresh_seconds{zone}`,
//!   `dnsd_secondary_last_success_seconds{zone}`, `dnsd_secondary_next_refresh_seconds{zone}`
//!   (Unix times), `dnsd_secondary_expired{zone}` (1 while expired),
//!   `dnsd_secondary_refresh_failures_total{zone}`.
//!
//! Peers are addresses; a series exists once counted, so their number stays that of
//! the configured peers and of the clients that asked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

/// Where a transfer went or came from.
type Key = (String, String, &'static str, &'static str);

/// A secondary zone's state, as the metrics and `status` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecondaryState {
    /// The serial served, if any.
    pub serial: Option<u32>,
    /// Unix time of the last refresh attempt.
    pub last_refresh: Option<u64>,
    /// Unix time of the last successful refresh (a transfer, or the primary's SOA
    /// showing we are current).
    pub last_success: Option<u64>,
    /// Unix time of the next attempt.
    pub next_refresh: Option<u64>,
    /// Whether the zone expired (answered SERVFAIL).
    pub expired: bool,
    /// Refreshes that failed.
    pub failures: u64,
    /// The primary of the last refresh attempt.
    pub primary: Option<String>,
    /// What the last refresh attempt found: `ok`, or why it failed.
    pub last_result: Option<String>,
    /// Unix time the zone expires at unless a refresh succeeds first.
    pub expires_at: Option<u64>,
}

/// Transfers one way (out to secondaries, or in from primaries).
#[derive(Default)]
struct Transfers {
    count: BTreeMap<Key, u64>,
    bytes: BTreeMap<(String, String), u64>,
    ms: BTreeMap<(String, String), u64>,
}

impl Transfers {
    fn record(
        &mut self,
        zone: &str,
        peer: IpAddr,
        kind: &'static str,
        result: &'static str,
        bytes: u64,
        ms: u64,
    ) {
        let peer = peer.to_string();
        *self
            .count
            .entry((zone.to_string(), peer.clone(), kind, result))
            .or_default() += 1;
        if bytes > 0 {
            *self
                .bytes
                .entry((zone.to_string(), peer.clone()))
                .or_default() += bytes;
            *self.ms.entry((zone.to_string(), peer)).or_default() += ms;
        }
    }
}

#[derive(Default)]
struct Counters {
    xfr_out: Transfers,
    xfr_in: Transfers,
    notify_in: BTreeMap<(String, String, &'static str), u64>,
    notify_out: BTreeMap<(String, String, &'static str), u64>,
    tsig_failures: BTreeMap<&'static str, u64>,
    secondaries: BTreeMap<String, SecondaryState>,
    notify_pending: BTreeMap<(String, String), u32>,
}

/// Every counter of transfers, NOTIFY and TSIG.
#[derive(Default)]
pub struct XfrStats {
    counters: Mutex<Counters>,
}

impl XfrStats {
    fn lock(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A transfer out of `zone` to `peer` ended.
    pub fn transfer_out(
        &self,
        zone: &str,
        peer: IpAddr,
        kind: &'static str,
        result: &'static str,
        bytes: u64,
        ms: u64,
    ) {
        self.lock()
            .xfr_out
            .record(zone, peer, kind, result, bytes, ms);
    }

    /// A transfer of `zone` from `peer` ended.
    pub fn transfer_in(
        &self,
        zone: &str,
        peer: IpAddr,
        kind: &'static str,
        result: &'static str,
        bytes: u64,
        ms: u64,
    ) {
        self.lock()
            .xfr_in
            .record(zone, peer, kind, result, bytes, ms);
    }

    /// A NOTIFY for `zone` came from `peer`.
    pub fn notify_in(&self, zone: &str, peer: IpAddr, result: &'static str) {
        *self
            .lock()
            .notify_in
            .entry((zone.to_string(), peer.to_string(), result))
            .or_default() += 1;
    }

    /// A NOTIFY for `zone` to `peer` was sent, acknowledged, or given up.
    pub fn notify_out(&self, zone: &str, peer: &str, result: &'static str) {
        *self
            .lock()
            .notify_out
            .entry((zone.to_string(), peer.to_string(), result))
            .or_default() += 1;
    }

    /// A request's TSIG was refused.
    pub fn tsig_failure(&self, error: &'static str) {
        *self.lock().tsig_failures.entry(error).or_default() += 1;
    }

    /// Replaces what is known of secondary zone `zone`.
    pub fn set_secondary(&self, zone: &str, state: SecondaryState) {
        self.lock().secondaries.insert(zone.to_string(), state);
    }

    /// NOTIFY of `zone` to `peer`: `serial` waits for its acknowledgement, or
    /// (None) nothing does.
    pub fn set_notify_pending(&self, zone: &str, peer: &str, serial: Option<u32>) {
        let key = (zone.to_string(), peer.to_string());
        match serial {
            Some(serial) => self.lock().notify_pending.insert(key, serial),
            None => self.lock().notify_pending.remove(&key),
        };
    }

    /// What `dnsd ctl status` adds to zone `zone`'s line at Unix time `now`: for a
    /// secondary zone its primary, the last refresh attempt and its result, the next
    /// refresh and the time to expiry; for any zone the NOTIFYs not yet acknowledged
    /// (`notify-pending=PEER@SERIAL,...`). Empty when there is nothing to say.
    pub fn status_fields(&self, zone: &str, now: u64) -> String {
        let c = self.lock();
        let mut out = String::new();
        if let Some(s) = c.secondaries.get(zone) {
            let ago = |t: Option<u64>| {
                t.map_or("never".into(), |t| {
                    format!("{}s-ago", now.saturating_sub(t))
                })
            };
            let _ = write!(
                out,
                " secondary primary={} last-attempt={} last-result={} last-success={} next-refresh-in={} expire-in={}",
                s.primary.as_deref().unwrap_or("-"),
                ago(s.last_refresh),
                s.last_result.as_deref().unwrap_or("-").replace(' ', "_"),
                ago(s.last_success),
                s.next_refresh
                    .map_or("-".into(), |t| format!("{}s", t.saturating_sub(now))),
                match (s.expired, s.expires_at) {
                    (true, _) => "expired".into(),
                    (false, Some(t)) => format!("{}s", t.saturating_sub(now)),
                    (false, None) => "-".into(),
                },
            );
        }
        let pending: Vec<String> = c
            .notify_pending
            .iter()
            .filter(|((z, _), _)| z == zone)
            .map(|((_, peer), serial)| format!("{peer}@{serial}"))
            .collect();
        if !pending.is_empty() {
            let _ = write!(out, " notify-pending={}", pending.join(","));
        }
        out
    }

    /// Forgets secondary zone `zone`.
    pub fn remove_secondary(&self, zone: &str) {
        self.lock().secondaries.remove(zone);
    }

    /// The state of every secondary zone, by name.
    pub fn secondaries(&self) -> BTreeMap<String, SecondaryState> {
        self.lock().secondaries.clone()
    }

    /// Transfers out counted for (`zone`, `kind`, `result`), any peer (for tests).
    pub fn out_count(&self, zone: &str, kind: &str, result: &str) -> u64 {
        self.lock()
            .xfr_out
            .count
            .iter()
            .filter(|((z, _, k, r), _)| z == zone && *k == kind && *r == result)
            .map(|(_, n)| n)
            .sum()
    }

    /// The series, in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let c = self.lock();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            out,
            "dnsd_xfr_out_total",
            "counter",
            "Zone transfers served, by zone, peer, type and result.",
        );
        for ((zone, peer, kind, result), n) in &c.xfr_out.count {
            let _ = writeln!(
                out,
                "dnsd_xfr_out_total{{zone=\"{zone}\",peer=\"{peer}\",type=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        for (name, map, help, scale) in [
            (
                "dnsd_xfr_out_bytes_total",
                &c.xfr_out.bytes,
                "Octets of zone transfers served.",
                1.0,
            ),
            (
                "dnsd_xfr_out_seconds_total",
                &c.xfr_out.ms,
                "Time spent serving zone transfers.",
                1000.0,
            ),
            (
                "dnsd_xfr_in_bytes_total",
                &c.xfr_in.bytes,
                "Octets of zone transfers received.",
                1.0,
            ),
            (
                "dnsd_xfr_in_seconds_total",
                &c.xfr_in.ms,
                "Time spent receiving zone transfers.",
                1000.0,
            ),
        ] {
            head(out, name, "counter", help);
            for ((zone, peer), n) in map {
                let v = *n as f64 / scale;
                let _ = writeln!(out, "{name}{{zone=\"{zone}\",peer=\"{peer}\"}} {v}");
            }
        }
        head(
            out,
            "dnsd_xfr_in_total",
            "counter",
            "Zone transfers of secondary zones, by zone, primary, type and result.",
        );
        for ((zone, peer, kind, result), n) in &c.xfr_in.count {
            let _ = writeln!(
                out,
                "dnsd_xfr_in_total{{zone=\"{zone}\",peer=\"{peer}\",type=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        for (name, map, help) in [
            (
                "dnsd_notify_in_total",
                &c.notify_in,
                "NOTIFY messages received, by zone, peer and result.",
            ),
            (
                "dnsd_notify_out_total",
                &c.notify_out,
                "NOTIFY messages sent, acknowledged or given up, by zone and peer.",
            ),
        ] {
            head(out, name, "counter", help);
            for ((zone, peer, result), n) in map {
                let _ = writeln!(
                    out,
                    "{name}{{zone=\"{zone}\",peer=\"{peer}\",result=\"{result}\"}} {n}"
                );
            }
        }
        head(
            out,
            "dnsd_tsig_failures_total",
            "counter",
            "Requests whose TSIG was refused, by TSIG error.",
        );
        for (error, n) in &c.tsig_failures {
            let _ = writeln!(out, "dnsd_tsig_failures_total{{error=\"{error}\"}} {n}");
        }
        let gauges: [Gauge; 6] = [
            (
                "dnsd_secondary_serial",
                "The serial a secondary zone serves.",
                |s| s.serial.map(u64::from),
            ),
            (
                "dnsd_secondary_last_refresh_seconds",
                "Unix time of a secondary zone's last refresh attempt.",
                |s| s.last_refresh,
            ),
            (
                "dnsd_secondary_last_success_seconds",
                "Unix time of a secondary zone's last successful refresh.",
                |s| s.last_success,
            ),
            (
                "dnsd_secondary_next_refresh_seconds",
                "Unix time of a secondary zone's next refresh.",
                |s| s.next_refresh,
            ),
            (
                "dnsd_secondary_expired",
                "1 while a secondary zone is expired (SERVFAIL).",
                |s| Some(u64::from(s.expired)),
            ),
            (
                "dnsd_secondary_refresh_failures_total",
                "Refreshes of a secondary zone that failed.",
                |s| Some(s.failures),
            ),
        ];
        for (name, help, get) in gauges {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            head(out, name, kind, help);
            for (zone, state) in &c.secondaries {
                if let Some(v) = get(state) {
                    let _ = writeln!(out, "{name}{{zone=\"{zone}\"}} {v}");
                }
            }
        }
    }
}

/// A secondary zone's gauge: its name, help, and how to read it.
type Gauge = (
    &'static str,
    &'static str,
    fn(&SecondaryState) -> Option<u64>,
);
