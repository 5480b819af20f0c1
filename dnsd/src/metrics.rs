//! Metrics: counters the front and the reloader keep, rendered in the Prometheus text
//! exposition format (version 0.0.4) on the configured `metrics` address.
//!
//! The query path must not share a cache line between cores: each UDP worker owns a
//! [`QueryCounters`] slot that only it writes (a relaxed load and store, no locked
//! instruction), and a scrape sums the slots. TCP connections share one slot, updated
//! with `fetch_add`: TCP is the slow path. Reloads are counted by the reloader
//! (`sources::stats`), whose series are rendered here too.
//!
//! Series:
//! - `dnsd_queries_total{transport,rcode,qtype}`: answered queries.
//! - `dnsd_queries_dropped_total{transport}`: requests given no answer (not a query,
//!   shorter than a header, QR set, truncated datagram).
//! - `dnsd_responses_truncated_total{transport}`: responses sent with TC.
//! - `dnsd_answer_panics_total{transport}`: panics of the answer path (a bug), each
//!   contained: the batch or connection it hit got no answer, the worker went on.
//! - `dnsd_response_bytes{transport}`: histogram of response sizes.
//! - `dnsd_rrl_limited_total{kind,action}`: UDP responses response rate limiting
//!   dropped (`drop`), replaced by a truncated or BADCOOKIE one (`slip`), or would
//!   have limited in log-only mode (`log-drop`, `log-slip`).
//! - `dnsd_cookie_requests_total{transport,cookie}`: requests with a client cookie
//!   only or a bad server cookie (`client`), and with a good server cookie (`valid`).
//! - `dnsd_tcp_connections`, `dnsd_tcp_connections_refused_total`,
//!   `dnsd_tcp_idle_timeouts_total`, `dnsd_tcp_unanswered_closes_total`.
//! - `dnsd_zones`, `dnsd_zone_records{zone}`.
//! - The reloader's series (`sources::stats`): `dnsd_zone_reloads_total{zone}`,
//!   `dnsd_zone_reload_errors_total{zone}`, `dnsd_zone_changes_total{zone}`,
//!   `dnsd_zone_served_serial{zone}`, ...
//! - Transfers, NOTIFY, TSIG and secondary zones (`xfr::stats`): `dnsd_xfr_out_total`,
//!   `dnsd_xfr_in_total`, `dnsd_notify_in_total`, `dnsd_notify_out_total`, ...
//! - Signed zones' keys (`dnssec::status`): `dnsd_dnssec_key_state{zone,tag,algorithm,
//!   role,state}`, `dnsd_dnssec_key_next_step_timestamp_seconds{zone,tag,step}`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use crate::answer::CookieState;
use crate::rrl::{Decision, Kind};
use crate::sources::stats::ReloadStats;
use crate::zone::{Rtype, ZoneSet};

/// Named RCODEs; others count under "other".
const RCODES: [(u16, &str); 14] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (16, "BADVERS"),
    (23, "BADCOOKIE"),
    (u16::MAX, "other"),
];

/// Query types counted by name (`Rtype`'s mnemonic); the last slot, `None`, counts every
/// other type as "other", so that a flood of random types cannot grow the series
/// without bound.
const QTYPES: [Option<Rtype>; 25] = [
    Some(Rtype::A),
    Some(Rtype::NS),
    Some(Rtype::CNAME),
    Some(Rtype::SOA),
    Some(Rtype::PTR),
    Some(Rtype::MX),
    Some(Rtype::TXT),
    Some(Rtype::AAAA),
    Some(Rtype::SRV),
    Some(Rtype::NAPTR),
    Some(Rtype::DNAME),
    Some(Rtype::DS),
    Some(Rtype::SSHFP),
    Some(Rtype::RRSIG),
    Some(Rtype::NSEC),
    Some(Rtype::DNSKEY),
    Some(Rtype::NSEC3),
    Some(Rtype::TLSA),
    Some(Rtype::SVCB),
    Some(Rtype::HTTPS),
    Some(Rtype::IXFR),
    Some(Rtype::AXFR),
    Some(Rtype::ANY),
    Some(Rtype::CAA),
    None,
];

/// Upper bounds of the response size buckets, in octets (512: classic UDP; 1232: the
/// DNS flag day EDNS size; 65535: the TCP maximum).
const SIZE_BOUNDS: [usize; 9] = [64, 128, 256, 512, 1232, 2048, 4096, 16384, 65535];

fn rcode_index(rcode: u16) -> usize {
    RCODES
        .iter()
        .position(|&(code, _)| code == rcode)
        .unwrap_or(RCODES.len() - 1)
}

fn qtype_index(qtype: u16) -> usize {
    // A match compiles to a jump table; this runs once per query.
    match qtype {
        1 => 0,
        2 => 1,
        5 => 2,
        6 => 3,
        12 => 4,
        15 => 5,
        16 => 6,
        28 => 7,
        33 => 8,
        35 => 9,
        39 => 10,
        43 => 11,
        44 => 12,
        46 => 13,
        47 => 14,
        48 => 15,
        50 => 16,
        52 => 17,
        64 => 18,
        65 => 19,
        251 => 20,
        252 => 21,
        255 => 22,
        257 => 23,
        _ => QTYPES.len() - 1,
    }
}

//------------ QueryCounters -------------------------------------------------

/// Query counters of one writer (a UDP worker) or of all TCP connections.
pub struct QueryCounters {
    queries: [[AtomicU64; QTYPES.len()]; RCODES.len()],
    size_buckets: [AtomicU64; SIZE_BOUNDS.len()],
    size_sum: AtomicU64,
    responses: AtomicU64,
    truncated: AtomicU64,
    dropped: AtomicU64,
    panics: AtomicU64,
    /// Rate-limited responses by kind and action (drop, slip, log-drop, log-slip).
    rrl: [[AtomicU64; 4]; 6],
    /// Requests with a cookie, by what it proved (client, valid).
    cookies: [AtomicU64; 2],
}

/// Actions of `dnsd_rrl_limited_total`, in the order of `QueryCounters::rrl`.
const RRL_ACTIONS: [&str; 4] = ["drop", "slip", "log-drop", "log-slip"];

impl Default for QueryCounters {
    fn default() -> Self {
        Self {
            queries: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            size_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            size_sum: AtomicU64::new(0),
            responses: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            rrl: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            cookies: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Adds one to a counter that only the calling thread writes: a plain load and store,
/// no locked read-modify-write.
#[inline]
fn bump_owned(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

#[inline]
fn bump_shared(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Relaxed);
}

impl QueryCounters {
    /// Counts a response; the caller must be this slot's only writer.
    #[inline]
    pub fn count_owned(&self, rcode: u16, qtype: u16, len: usize, truncated: bool) {
        self.count(rcode, qtype, len, truncated, bump_owned);
    }

    /// Counts a response from any thread.
    pub fn count_shared(&self, rcode: u16, qtype: u16, len: usize, truncated: bool) {
        self.count(rcode, qtype, len, truncated, bump_shared);
    }

    /// Counts a request given no answer; the caller must be this slot's only writer.
    #[inline]
    pub fn drop_owned(&self) {
        bump_owned(&self.dropped, 1);
    }

    /// Counts a request given no answer, from any thread.
    pub fn drop_shared(&self) {
        bump_shared(&self.dropped, 1);
    }

    /// Counts a panic of the answer path (a bug), from any thread: the requests it
    /// was answering got no response, the worker or connection went on.
    pub fn panic_shared(&self) {
        bump_shared(&self.panics, 1);
    }

    /// Counts a response rate limiting limited (`log_only`: would have); the caller
    /// must be this slot's only writer.
    #[inline]
    pub fn rrl_owned(&self, kind: Kind, decision: Decision, log_only: bool) {
        let action = match decision {
            Decision::Pass => return,
            Decision::Drop => 0,
            Decision::Slip => 1,
        } + if log_only { 2 } else { 0 };
        bump_owned(&self.rrl[kind as usize][action], 1);
    }

    /// Counts a request by what its cookie proved; the caller must be this slot's
    /// only writer.
    #[inline]
    pub fn cookie_owned(&self, state: CookieState) {
        self.cookie(state, bump_owned);
    }

    /// Counts a request by what its cookie proved, from any thread.
    pub fn cookie_shared(&self, state: CookieState) {
        self.cookie(state, bump_shared);
    }

    #[inline]
    fn cookie(&self, state: CookieState, bump: fn(&AtomicU64, u64)) {
        match state {
            CookieState::None => {}
            CookieState::Client => bump(&self.cookies[0], 1),
            CookieState::Valid => bump(&self.cookies[1], 1),
        }
    }

    /// Panics counted so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Relaxed)
    }

    #[inline]
    fn count(
        &self,
        rcode: u16,
        qtype: u16,
        len: usize,
        truncated: bool,
        bump: fn(&AtomicU64, u64),
    ) {
        bump(&self.queries[rcode_index(rcode)][qtype_index(qtype)], 1);
        let bucket = SIZE_BOUNDS
            .iter()
            .position(|&bound| len <= bound)
            .unwrap_or(SIZE_BOUNDS.len() - 1);
        bump(&self.size_buckets[bucket], 1);
        bump(&self.size_sum, len as u64);
        bump(&self.responses, 1);
        if truncated {
            bump(&self.truncated, 1);
        }
    }
}

//------------ Metrics -------------------------------------------------------

/// Every metric of the daemon.
#[derive(Default)]
pub struct Metrics {
    udp: Mutex<Vec<Arc<QueryCounters>>>,
    tcp: Arc<QueryCounters>,
    tcp_connections: AtomicI64,
    tcp_refused: AtomicU64,
    tcp_idle_timeouts: AtomicU64,
    tcp_unanswered_closes: AtomicU64,
    reload_stats: OnceLock<Arc<ReloadStats>>,
    resolver_stats: OnceLock<Arc<crate::resolver::stats::ResolverStats>>,
    publisher: OnceLock<Arc<crate::manager::Publisher>>,
    xfr_stats: OnceLock<Arc<crate::xfr::stats::XfrStats>>,
    parts: Mutex<Vec<Arc<dyn Render>>>,
}

/// A part of the exposition that a module renders itself (the dynamic sources).
pub trait Render: Send + Sync {
    /// Appends its series (with `# TYPE` lines) to `out`.
    fn render(&self, out: &mut String);
}

impl Metrics {
    /// No metric counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new slot for one UDP worker, which must be its only writer.
    pub fn udp_worker(&self) -> Arc<QueryCounters> {
        let slot = Arc::new(QueryCounters::default());
        if let Ok(mut slots) = self.udp.lock() {
            slots.push(slot.clone());
        }
        slot
    }

    /// The slot every TCP connection shares (`count_shared`).
    pub fn tcp(&self) -> &QueryCounters {
        &self.tcp
    }

    /// A TCP connection was accepted (+1) or closed (-1).
    pub fn tcp_connection(&self, delta: i64) {
        self.tcp_connections.fetch_add(delta, Relaxed);
    }

    /// A TCP connection was closed at once: too many connections.
    pub fn tcp_refused(&self) {
        self.tcp_refused.fetch_add(1, Relaxed);
    }

    /// A TCP connection was closed for idleness.
    pub fn tcp_idle_timeout(&self) {
        self.tcp_idle_timeouts.fetch_add(1, Relaxed);
    }

    /// A TCP connection was closed for frames that got no answer.
    pub fn tcp_unanswered_close(&self) {
        self.tcp_unanswered_closes.fetch_add(1, Relaxed);
    }

    /// Adds the reloader's counters (reloads, errors, changes, served serials) to
    /// what is rendered. Only the first call counts.
    pub fn attach_reload_stats(&self, stats: Arc<ReloadStats>) {
        let _ = self.reload_stats.set(stats);
    }

    /// Adds the swaps of the served zone set (`dnsd_zone_set_swaps_total`).
    pub fn attach_publisher(&self, publisher: Arc<crate::manager::Publisher>) {
        let _ = self.publisher.set(publisher);
    }

    /// Adds the resolver's counters (resolver/stats.rs) to what is rendered.
    pub fn attach_resolver_stats(&self, stats: Arc<crate::resolver::stats::ResolverStats>) {
        let _ = self.resolver_stats.set(stats);
    }

    /// Adds the transfer counters (xfr/stats.rs) to what is rendered.
    pub fn attach_xfr_stats(&self, stats: Arc<crate::xfr::stats::XfrStats>) {
        let _ = self.xfr_stats.set(stats);
    }

    /// Adds a part rendered by its own module (`Render`).
    pub fn attach(&self, part: Arc<dyn Render>) {
        self.parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(part);
    }

    /// Every metric in the Prometheus text format, with the serials of `zones`.
    pub fn render(&self, zones: &ZoneSet) -> String {
        let mut out = String::with_capacity(8192);
        let udp = self.udp.lock().map(|s| s.clone()).unwrap_or_default();
        let transports: [(&str, Vec<&QueryCounters>); 2] = [
            ("udp", udp.iter().map(|s| &**s).collect()),
            ("tcp", vec![&*self.tcp]),
        ];
        let sum = |slots: &[&QueryCounters], get: &dyn Fn(&QueryCounters) -> &AtomicU64| {
            slots.iter().map(|s| get(s).load(Relaxed)).sum::<u64>()
        };

        header(
            &mut out,
            "dnsd_queries_total",
            "counter",
            "Queries answered, by transport, response code and query type.",
        );
        for (transport, slots) in &transports {
            for (r, (_, rcode)) in RCODES.iter().enumerate() {
                for (q, qtype) in QTYPES.iter().enumerate() {
                    let qtype = qtype.map_or_else(|| "other".to_string(), |t| t.to_string());
                    let n = sum(slots, &|s| &s.queries[r][q]);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "dnsd_queries_total{{transport=\"{transport}\",rcode=\"{rcode}\",qtype=\"{qtype}\"}} {n}"
                        );
                    }
                }
            }
        }
        header(
            &mut out,
            "dnsd_queries_dropped_total",
            "counter",
            "Requests given no response (malformed, QR set, too short).",
        );
        for (transport, slots) in &transports {
            let n = sum(slots, &|s| &s.dropped);
            let _ = writeln!(
                out,
                "dnsd_queries_dropped_total{{transport=\"{transport}\"}} {n}"
            );
        }
        header(
            &mut out,
            "dnsd_answer_panics_total",
            "counter",
            "Panics of the answer path (a bug: please report it); the worker went on.",
        );
        for (transport, slots) in &transports {
            let n = sum(slots, &|s| &s.panics);
            let _ = writeln!(
                out,
                "dnsd_answer_panics_total{{transport=\"{transport}\"}} {n}"
            );
        }
        header(
            &mut out,
            "dnsd_responses_truncated_total",
            "counter",
            "Responses sent with TC set.",
        );
        for (transport, slots) in &transports {
            let n = sum(slots, &|s| &s.truncated);
            let _ = writeln!(
                out,
                "dnsd_responses_truncated_total{{transport=\"{transport}\"}} {n}"
            );
        }
        header(
            &mut out,
            "dnsd_response_bytes",
            "histogram",
            "Sizes of the responses sent, in octets.",
        );
        for (transport, slots) in &transports {
            let mut cumulative = 0;
            for (b, bound) in SIZE_BOUNDS.iter().enumerate() {
                cumulative += sum(slots, &|s| &s.size_buckets[b]);
                let _ = writeln!(
                    out,
                    "dnsd_response_bytes_bucket{{transport=\"{transport}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = sum(slots, &|s| &s.responses);
            let _ = writeln!(
                out,
                "dnsd_response_bytes_bucket{{transport=\"{transport}\",le=\"+Inf\"}} {count}"
            );
            let total = sum(slots, &|s| &s.size_sum);
            let _ = writeln!(
                out,
                "dnsd_response_bytes_sum{{transport=\"{transport}\"}} {total}"
            );
            let _ = writeln!(
                out,
                "dnsd_response_bytes_count{{transport=\"{transport}\"}} {count}"
            );
        }

        header(
            &mut out,
            "dnsd_rrl_limited_total",
            "counter",
            "UDP responses limited by response rate limiting, by kind and action.",
        );
        let udp_slots = &transports[0].1;
        for kind in Kind::ALL {
            for (a, action) in RRL_ACTIONS.iter().enumerate() {
                let n = sum(udp_slots, &|s| &s.rrl[kind as usize][a]);
                let _ = writeln!(
                    out,
                    "dnsd_rrl_limited_total{{kind=\"{}\",action=\"{action}\"}} {n}",
                    kind.name()
                );
            }
        }
        header(
            &mut out,
            "dnsd_cookie_requests_total",
            "counter",
            "Requests with a DNS cookie: client cookie only or bad server cookie (client), good server cookie (valid).",
        );
        for (transport, slots) in &transports {
            for (c, cookie) in ["client", "valid"].iter().enumerate() {
                let n = sum(slots, &|s| &s.cookies[c]);
                let _ = writeln!(
                    out,
                    "dnsd_cookie_requests_total{{transport=\"{transport}\",cookie=\"{cookie}\"}} {n}"
                );
            }
        }

        header(
            &mut out,
            "dnsd_tcp_connections",
            "gauge",
            "Open TCP connections.",
        );
        let _ = writeln!(
            out,
            "dnsd_tcp_connections {}",
            self.tcp_connections.load(Relaxed)
        );
        header(
            &mut out,
            "dnsd_tcp_connections_refused_total",
            "counter",
            "TCP connections closed at once: max-connections reached.",
        );
        let _ = writeln!(
            out,
            "dnsd_tcp_connections_refused_total {}",
            self.tcp_refused.load(Relaxed)
        );
        header(
            &mut out,
            "dnsd_tcp_idle_timeouts_total",
            "counter",
            "TCP connections closed after idle-timeout-ms without an answer.",
        );
        let _ = writeln!(
            out,
            "dnsd_tcp_idle_timeouts_total {}",
            self.tcp_idle_timeouts.load(Relaxed)
        );
        header(
            &mut out,
            "dnsd_tcp_unanswered_closes_total",
            "counter",
            "TCP connections closed for frames that got no answer (empty, QR=1, short).",
        );
        let _ = writeln!(
            out,
            "dnsd_tcp_unanswered_closes_total {}",
            self.tcp_unanswered_closes.load(Relaxed)
        );

        let mut served: Vec<_> = zones.zones().collect();
        served.sort_by(|a, b| a.apex().cmp(b.apex()));
        header(&mut out, "dnsd_zones", "gauge", "Zones served.");
        let _ = writeln!(out, "dnsd_zones {}", served.len());
        header(
            &mut out,
            "dnsd_zone_records",
            "gauge",
            "Records served, by zone.",
        );
        for zone in &served {
            let _ = writeln!(
                out,
                "dnsd_zone_records{{zone=\"{}\"}} {}",
                label(&zone.apex().to_string()),
                zone.record_count()
            );
        }

        if let Some(stats) = self.reload_stats.get() {
            stats.render(&mut out);
        }
        if let Some(publisher) = self.publisher.get() {
            header(
                &mut out,
                "dnsd_zone_set_swaps_total",
                "counter",
                "Swaps of the served zone set (a burst of zone changes is one).",
            );
            let _ = writeln!(out, "dnsd_zone_set_swaps_total {}", publisher.swaps());
        }
        if let Some(stats) = self.resolver_stats.get() {
            stats.render(&mut out);
        }
        if let Some(stats) = self.xfr_stats.get() {
            stats.render(&mut out);
        }
        for part in self.parts.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            part.render(&mut out);
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped (exposition format).
pub fn escape_label(value: &str) -> String {
    label(value)
}

/// A label value with `\`, `"` and newlines escaped (exposition format).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_every_worker_are_summed() {
        let metrics = Metrics::new();
        let a = metrics.udp_worker();
        let b = metrics.udp_worker();
        a.count_owned(0, 1, 100, false);
        b.count_owned(0, 1, 600, true);
        b.count_owned(3, 28, 40, false);
        b.count_owned(0, 4242, 40, false);
        a.drop_owned();
        a.rrl_owned(Kind::Nxdomain, Decision::Slip, false);
        b.rrl_owned(Kind::Nxdomain, Decision::Slip, false);
        b.rrl_owned(Kind::Error, Decision::Drop, true);
        a.cookie_owned(CookieState::Valid);
        metrics.tcp().cookie_shared(CookieState::Client);
        metrics.tcp().count_shared(5, 1, 3000, false);
        let text = metrics.render(&ZoneSet::new());
        for line in [
            "dnsd_queries_total{transport=\"udp\",rcode=\"NOERROR\",qtype=\"A\"} 2",
            "dnsd_queries_total{transport=\"udp\",rcode=\"NXDOMAIN\",qtype=\"AAAA\"} 1",
            "dnsd_queries_total{transport=\"udp\",rcode=\"NOERROR\",qtype=\"other\"} 1",
            "dnsd_queries_total{transport=\"tcp\",rcode=\"REFUSED\",qtype=\"A\"} 1",
            "dnsd_queries_dropped_total{transport=\"udp\"} 1",
            "dnsd_responses_truncated_total{transport=\"udp\"} 1",
            "dnsd_response_bytes_bucket{transport=\"udp\",le=\"64\"} 2",
            "dnsd_response_bytes_bucket{transport=\"udp\",le=\"128\"} 3",
            "dnsd_response_bytes_bucket{transport=\"udp\",le=\"1232\"} 4",
            "dnsd_response_bytes_bucket{transport=\"udp\",le=\"+Inf\"} 4",
            "dnsd_response_bytes_sum{transport=\"udp\"} 780",
            "dnsd_response_bytes_bucket{transport=\"tcp\",le=\"2048\"} 0",
            "dnsd_response_bytes_bucket{transport=\"tcp\",le=\"4096\"} 1",
            "dnsd_zones 0",
            "dnsd_rrl_limited_total{kind=\"nxdomain\",action=\"slip\"} 2",
            "dnsd_rrl_limited_total{kind=\"error\",action=\"log-drop\"} 1",
            "dnsd_rrl_limited_total{kind=\"positive\",action=\"drop\"} 0",
            "dnsd_cookie_requests_total{transport=\"udp\",cookie=\"valid\"} 1",
            "dnsd_cookie_requests_total{transport=\"tcp\",cookie=\"client\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn every_named_qtype_and_rcode_has_its_own_series() {
        for (i, qtype) in QTYPES
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, (*t)?)))
        {
            assert_eq!(qtype_index(qtype.0), i, "qtype {qtype}");
        }
        for (i, &(rcode, _)) in RCODES.iter().enumerate() {
            assert_eq!(rcode_index(rcode), i, "rcode {rcode}");
        }
        assert_eq!(qtype_index(99), QTYPES.len() - 1);
        assert_eq!(rcode_index(24), RCODES.len() - 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
